// `node --import lavamoat/loader app.mjs`: the logic lives in dist/runtime/ (boot, then
// preload), the bundle `npm run build` makes of dist/.
let config;
try {
  const boot = await import('./dist/runtime/boot.js');
  config = boot.configuration();
  boot.enableCompileCache(config);
  const { start } = await import('./dist/runtime/preload.js');
  await start(config, import.meta.url);
} catch (error) {
  // Nothing of the app may run unprotected: report and stop.
  const missing = error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/dist/runtime/');
  const message = error && error.message ? error.message : String(error);
  process.stderr.write(missing ? `LavaMoat: the runtime is not built (${message}); run \`npm run build\` in ${new URL('.', import.meta.url).pathname}\n` : `${message}\n`);
  process.exit(1);
}

// `node --import lavamoat/loader app.mjs`: the logic lives in dist/runtime/ (boot, then
// preload), the bundle `npm run build` makes of dist/.
let config;
try {
  const boot = await import('./dist/runtime/boot.js');
  config = boot.configuration();
  const restoreLaziness = boot.compileRuntimeEagerly(boot.enableCompileCache(config));
  let start;
  try {
    ({ start } = await import('./dist/runtime/preload.js'));
  } finally {
    restoreLaziness();
  }
  await start(config, import.meta.url);
} catch (error) {
  // Nothing of the app may run unprotected: report and stop.
  const missing = error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/dist/runtime/');
  const message = error && error.message ? error.message : String(error);
  process.stderr.write(missing ? `LavaMoat: the runtime is not built (${message}); run \`npm run build\` in ${new URL('.', import.meta.url).pathname}\n` : `${message}\n`);
  process.exit(1);
}

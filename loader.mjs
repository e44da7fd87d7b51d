// `node --import lavamoat/loader app.mjs`: the logic lives in dist/ (boot, then preload).
let config;
try {
  const boot = await import('./dist/boot.js');
  config = boot.configuration();
  boot.enableCompileCache(config);
  const { start } = await import('./dist/preload.js');
  await start(config);
} catch (error) {
  // Nothing of the app may run unprotected: report and stop.
  process.stderr.write(`${error && error.message ? error.message : String(error)}\n`);
  process.exit(1);
}

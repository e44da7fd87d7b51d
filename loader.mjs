// `node --import lavamoat/loader app.mjs`: everything happens in dist/preload.js.
import { start } from './dist/preload.js';

try {
  await start();
} catch (error) {
  // Nothing of the app may run unprotected: report and stop.
  process.stderr.write(`${error && error.message ? error.message : String(error)}\n`);
  process.exit(1);
}

// `node --import ./count-modules.mjs app.mjs`: records every module file the app loads
// (ES modules through a load hook, CommonJS through require.cache) and writes the list,
// one absolute path a line, to the file named by BENCH_MODULES_FILE when the process exits.
// Used only by plain-node counting runs, never by timed runs.
import fs from 'node:fs';
import { register, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const out = process.env.BENCH_MODULES_FILE;
if (!out) throw new Error('count-modules.mjs: set BENCH_MODULES_FILE');
const esmFile = `${out}.esm`;
fs.writeFileSync(esmFile, '');
register(new URL('./count-modules-hooks.mjs', import.meta.url), { data: { esmFile } });
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const files = new Set(fs.readFileSync(esmFile, 'utf8').split('\n').filter(Boolean));
  for (const key of Object.keys(cache)) files.add(key);
  fs.writeFileSync(out, [...files].sort().join('\n') + '\n');
  fs.rmSync(esmFile, { force: true });
});

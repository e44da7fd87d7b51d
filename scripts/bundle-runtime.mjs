// Second build step (after tsc): bundles what `--import lavamoat/loader` loads into
// dist/runtime/. Start-up was spending most of its fixed cost in Node resolving and
// linking SES's and the compartment mapper's ~200 module files one by one; a few files
// load in a fraction of that time (measured in docs/performance.md).
//
// Entry points are the files loaded by URL at run time: boot and preload (loader.mjs),
// hooks (module.register on Node 20, or imported in-thread), bridge (imported by the
// facades). Code splitting keeps one instance of every module they share, so the
// bridge the facades import is the one the preload filled.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const sesDir = path.dirname(require.resolve('ses/package.json'));

// ses.ts changes SES's override plans before lockdown reads them, which needs the very
// module SES uses: `ses/src/enablements.js` is not in SES's exports map, so it is
// resolved here by path, into the same bundle module as SES's own import of it.
const sesInternals = {
  name: 'ses-internals',
  setup(build) {
    build.onResolve({ filter: /^ses\/src\/[\w-]+\.js$/ }, (args) => ({
      path: path.join(sesDir, args.path.slice('ses/'.length)),
    }));
  },
};

// Chunk names change with their content: no stale chunk may stay next to the new ones.
fs.rmSync(path.join(root, 'dist', 'runtime'), { recursive: true, force: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['dist/boot.js', 'dist/preload.js', 'dist/hooks.js', 'dist/bridge.js'],
  outdir: 'dist/runtime',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Babel (through @endo/module-source) is loaded only when a module is compiled on a
  // cold cache; it stays out of the start-up path.
  external: ['@endo/module-source'],
  plugins: [sesInternals],
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const inputs = Object.keys(result.metafile.inputs);
const babel = inputs.filter((file) => file.includes('node_modules/@babel/'));
if (babel.length > 0) {
  throw new Error(`dist/runtime must not contain Babel, found: ${babel.slice(0, 3).join(', ')}`);
}
if (!inputs.some((file) => file.endsWith('ses/src/enablements.js'))) {
  throw new Error('dist/runtime: SES override plans (ses/src/enablements.js) not bundled');
}

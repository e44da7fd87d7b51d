// The hooks' question for a facade (src/graph/async-graph.ts): does the ES module graph
// of a file await at its top level? Answered from the files, remembered in the module
// cache with the stamps of every file it depends on, and asked again when one changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lexersReady } from '../../dist/graph/module-names.js';
import { ModuleCache } from '../../dist/cache/module-cache.js';

await lexersReady;
let fresh = 0;
// A new instance of the module each time: a new process, as far as its memory goes.
const load = async () => (await import(`../../dist/graph/async-graph.js?instance=${(fresh += 1)}`)).esmGraphAwaits;

function project() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-async-graph-')));
  const write = (file, text) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  };
  write('package.json', '{ "name": "app", "type": "module" }');
  write('node_modules/dep/package.json', '{ "name": "dep", "type": "module", "exports": "./index.js" }');
  write('node_modules/dep/index.js', "import './a.js';\nimport cjs from './c.cjs';\nexport * from './b.js';\n");
  write('node_modules/dep/a.js', "const later = async () => { await 1; };\nexport default later;\n");
  write('node_modules/dep/b.js', "import 'other';\nexport const b = 'await, in a string';\n");
  write('node_modules/dep/c.cjs', 'module.exports = 1;\n');
  write('node_modules/other/package.json', '{ "name": "other", "type": "module", "main": "index.js" }');
  write('node_modules/other/index.js', 'export const o = 1;\n');
  write('node_modules/.package-lock.json', '{}');
  const context = (cache) => ({
    cache,
    root,
    packageDirOf: (file) => {
      const match = /^(.*\/node_modules\/[^/]+)\//.exec(file);
      return match ? match[1] : undefined;
    },
  });
  return { root, write, context, entry: path.join(root, 'node_modules/dep/index.js') };
}

test('an await inside functions or strings is not top-level; one in a module reached through another package is', async () => {
  const { root, write, context, entry } = project();
  try {
    const source = () => fs.readFileSync(entry, 'utf8');
    assert.equal((await load())(entry, source(), context(undefined)), false);
    write('node_modules/other/index.js', 'export const o = await Promise.resolve(1);\n');
    assert.equal((await load())(entry, source(), context(undefined)), true);
    // CommonJS ends a path: its requires are not static imports.
    write('node_modules/other/index.js', 'export const o = 1;\n');
    write('node_modules/dep/c.cjs', 'module.exports = 1;\nrequire("./d.mjs");\n');
    write('node_modules/dep/d.mjs', 'await null;\n');
    assert.equal((await load())(entry, source(), context(undefined)), false);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the answer is remembered with the stamps of its files; a change to any of them asks again', async () => {
  const { root, write, context, entry } = project();
  const cacheDir = path.join(root, 'cache');
  try {
    const source = fs.readFileSync(entry, 'utf8');
    const cache = () => new ModuleCache({ dir: cacheDir, salt: 'test' });
    // Whole seconds: a time set again later must compare equal.
    const other = path.join(root, 'node_modules/other/index.js');
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    fs.utimesSync(other, mtime, mtime);
    const first = cache();
    assert.equal((await load())(entry, source, context(first)), false);
    first.flush();
    // Remembered: a graph that now awaits, but whose files look unchanged, keeps the answer
    // (what a stale answer costs is the runtime's refusal, see async-graph.ts).
    write('node_modules/other/index.js', `${'await 1;'.padEnd(19)}\n`);
    assert.equal(fs.statSync(other).size, 'export const o = 1;\n'.length);
    fs.utimesSync(other, mtime, mtime);
    assert.equal((await load())(entry, source, context(cache())), false);
    // Its modification time changes: walked again.
    const later = new Date(mtime.getTime() + 5000);
    fs.utimesSync(other, later, later);
    assert.equal((await load())(entry, source, context(cache())), true);
    // An install (the package manager's marker) also makes it walk again.
    write('node_modules/other/index.js', 'export const o = 1;\n');
    fs.utimesSync(other, mtime, mtime);
    const second = cache();
    assert.equal((await load())(entry, source, context(second)), false);
    second.flush();
    write('node_modules/other/index.js', `${'await 2;'.padEnd(19)}\n`);
    fs.utimesSync(other, mtime, mtime);
    const { mtime: before } = fs.statSync(path.join(root, 'node_modules/other/index.js'));
    assert.equal(before.getTime(), mtime.getTime());
    write('node_modules/.package-lock.json', '{ "changed": true }');
    assert.equal((await load())(entry, source, context(cache())), true);
  } finally {
    // The cache writes in the background.
    await new Promise((resolve) => setTimeout(resolve, 200));
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 5 });
  }
});

// The boundary hardens some platform globals when their module loads instead of at
// start-up (confine/lazy-globals.ts, confine/load-trap.ts). That is only safe if the
// table names, for this Node, the module that really makes each global, and if the
// observer sees every load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { lazyExportTable, lazyGlobalTable } from '../../dist/confine/lazy-globals.js';
import { loadedEntries, observeBuiltinLoads } from '../../dist/confine/load-trap.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

test("each deferred global is made by its table module: in a fresh process, reading it loads that module, last", async () => {
  const table = lazyGlobalTable();
  const major = process.versions.node.split('.')[0];
  if (!['20', '22', '24'].includes(major)) {
    assert.deepEqual(table, {}, 'a Node major without a checked table defers nothing');
    return;
  }
  assert.ok(Object.keys(table).length >= 10, 'the table for this Node is not empty');
  const checks = Object.entries(table).map(async ([name, module]) => {
    const probe = `
      const list = process.moduleLoadList;
      const before = new Set(list);
      const start = list.length;
      const d = Object.getOwnPropertyDescriptor(globalThis, ${JSON.stringify(name)});
      const value = globalThis[${JSON.stringify(name)}];
      const loaded = list.slice(start).filter((e) => e.startsWith('NativeModule '));
      console.log(JSON.stringify({ present: d !== undefined, type: typeof value, loadedBefore: before.has('NativeModule ${module}'), last: loaded.at(-1) }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe]);
    return [name, module, JSON.parse(stdout)];
  });
  for (const [name, module, seen] of await Promise.all(checks)) {
    assert.ok(seen.present, `${name} is a global of this Node`);
    assert.ok(seen.type === 'function' || seen.type === 'object', `${name} is a class or an object`);
    assert.equal(seen.loadedBefore, false, `${module} is not loaded before ${name} is read`);
    assert.equal(seen.last, `NativeModule ${module}`, `reading ${name} loads ${module} last`);
  }
});

test("the builtins' lazy exports are exactly the table's: each loads its module, last; no other export loads anything when its descriptor is read", async () => {
  const table = lazyExportTable();
  const major = process.versions.node.split('.')[0];
  // In a fresh process: which exports of which builtins load a module when their
  // descriptor is read (what the boundary's hardening reads), and what they load last.
  const probe = `
    const { builtinModules } = require('node:module');
    const found = {};
    for (const name of builtinModules) {
      if (name.startsWith('_') || name === 'sys' || name === 'punycode' || name === 'wasi') continue;
      let m;
      try { m = require(name); } catch { continue; }
      if (m === null || (typeof m !== 'object' && typeof m !== 'function')) continue;
      for (const key of Reflect.ownKeys(m)) {
        if (typeof key !== 'string') continue;
        const list = process.moduleLoadList;
        const start = list.length;
        Reflect.getOwnPropertyDescriptor(m, key);
        const loaded = list.slice(start).filter((e) => e.startsWith('NativeModule '));
        if (loaded.length > 0) (found[name] ??= {})[key] = loaded.at(-1).slice(13);
      }
    }
    console.log(JSON.stringify(found));
  `;
  const { stdout } = await run(process.execPath, ['-e', probe]);
  const candidates = JSON.parse(stdout);
  // Once one export has loaded its module, another that loads the same one (fs.Dir,
  // fs.opendir) loads nothing more in that process: every export of a module where one was
  // found is read again in a process of its own.
  const found = {};
  const exportsOf = async (name) => JSON.parse((await run(process.execPath, ['-e', `console.log(JSON.stringify(Reflect.ownKeys(require(${JSON.stringify(name)})).filter((k) => typeof k === 'string')))`])).stdout);
  for (const name of Object.keys(candidates)) {
    const keys = await exportsOf(name);
    const one = async (key) => {
      const { stdout: out } = await run(process.execPath, ['-e', `
        const m = require(${JSON.stringify(name)});
        const list = process.moduleLoadList;
        const start = list.length;
        Reflect.getOwnPropertyDescriptor(m, ${JSON.stringify(key)});
        const loaded = list.slice(start).filter((e) => e.startsWith('NativeModule '));
        console.log(JSON.stringify(loaded.length > 0 ? loaded.at(-1).slice(13) : null));`]);
      const module = JSON.parse(out);
      if (module !== null) (found[name] ??= {})[key] = module;
    };
    for (let i = 0; i < keys.length; i += 4) await Promise.all(keys.slice(i, i + 4).map(one));
  }
  if (!['20', '22', '24'].includes(major)) {
    assert.deepEqual(table, {}, 'a Node major without a checked table defers no export');
    return;
  }
  assert.deepEqual(found, table, "the table lists exactly this Node's lazy exports and their modules");
});

test('the load observer reports every internal module once, in order, after it has loaded; the list stays complete', async () => {
  const list = process.moduleLoadList;
  const start = list.length;
  const seen = [];
  let nested;
  for (const id of ['zlib', 'readline', 'trace_events']) assert.ok(!list.includes(`NativeModule ${id}`), `${id} is not loaded yet`);
  assert.equal(
    observeBuiltinLoads((id) => {
      seen.push([id, loadedEntries().includes(`NativeModule ${id}`)]);
      // A load the observer itself causes is reported after it returns.
      if (id === 'zlib' && nested === undefined) {
        nested = seen.length;
        require('node:trace_events');
      }
    }),
    true,
  );
  assert.equal(observeBuiltinLoads(() => {}), false, 'once per thread');
  await import('node:zlib');
  await import('node:readline');
  const record = loadedEntries();
  const pushed = record.slice(start).filter((e) => e.startsWith('NativeModule ')).map((e) => e.slice(13));
  assert.deepEqual(seen.map(([id]) => id), pushed, 'every load, in order, once');
  assert.ok(seen.every(([, listed]) => listed), 'each is reported once it is recorded');
  assert.ok(pushed.includes('zlib') && pushed.includes('readline'));
  assert.ok(seen.slice(nested).some(([id]) => id === 'trace_events'), 'a load the observer caused is reported too, after');
  // Node's own list has every entry too (the observer's loads added after the push that cut them off).
  assert.ok(Array.isArray(list));
  assert.deepEqual([...list].sort(), [...record].sort());
  assert.equal(list[list.length], undefined);
  assert.equal(Object.keys(list).length, list.length, 'no holes and no extra elements');
  // Later pushes are still seen.
  await import('node:v8');
  assert.ok(seen.some(([id]) => id === 'v8') || record.includes('NativeModule v8'));
});

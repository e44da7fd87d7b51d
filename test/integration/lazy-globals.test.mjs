// Platform globals Node makes on first use, read by the app before anything else loaded
// their module (confine/lazy-globals.ts, load-trap.ts): the read that loads the module
// is also the one the boundary hardens the class in. On Node 22+ these are V8 lazy data
// properties, which abort the process if read again inside their own getter and left
// as data; the app must see what plain node shows, with the class hardened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runNodeAsync, loaderURL } from '../helpers.mjs';
import { lazyGlobalTable } from '../../dist/confine/lazy-globals.js';

const dir = fixture('basic');
const names = Object.keys(lazyGlobalTable()).filter((name) => name in globalThis);

test('each deferred global, read first by the app, is hardened and otherwise what plain node shows', { skip: names.length === 0 && 'no deferred globals on this Node' }, async () => {
  const runs = names.map(async (name) => {
    const env = { TRIGGER: name, NODE_OPTIONS: '' };
    const [confined, plain] = await Promise.all([
      runNodeAsync(dir, ['--import', loaderURL, 'lazy-global.mjs'], { env }),
      runNodeAsync(dir, ['lazy-global.mjs'], { env }),
    ]);
    return { name, confined, plain };
  });
  for (const { name, confined, plain } of await Promise.all(runs)) {
    assert.equal(confined.status, 0, `${name}: exit ${confined.status} ${confined.signal ?? ''}\n${confined.stderr.slice(0, 2000)}`);
    const seen = JSON.parse(confined.stdout);
    const expected = JSON.parse(plain.stdout);
    assert.equal(seen.protoFrozen, true, `${name}: its prototype is hardened`);
    assert.equal(expected.protoFrozen, false, `${name}: (plain node does not freeze it)`);
    delete seen.protoFrozen;
    delete expected.protoFrozen;
    assert.deepEqual(seen, expected, `${name}: as under plain node`);
  }
});

test('under scuttling, the app first using FormData, TextDecoderStream, CompressionStream gets hardened classes (the holder answers a global read again during its own load)', async () => {
  const run = await runNodeAsync(dir, ['--import', loaderURL, 'scuttled-lazy.mjs'], { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'true' } });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').at(-1)), { FormData: true, TextDecoderStream: true, CompressionStream: true });
});

test('the app sealing the global in the same job as its first use of Response runs on, as under plain node', async () => {
  const [confined, plain] = await Promise.all([
    runNodeAsync(dir, ['--import', loaderURL, 'sealed-lazy.mjs']),
    runNodeAsync(dir, ['sealed-lazy.mjs']),
  ]);
  assert.equal(confined.status, 0, confined.stderr);
  assert.deepEqual(JSON.parse(confined.stdout), { ...JSON.parse(plain.stdout), frozen: true });
});

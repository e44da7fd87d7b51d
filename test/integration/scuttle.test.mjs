// A real node:http service on loopback under scuttling, the scuttler protocol, and
// what code that reaches the real global object finds there afterwards.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';
import { RUNTIME_GLOBALS } from '../../dist/confine/scuttle.js';

const dir = fixture('scuttle-service');

/** The service prints one JSON line of results, then one JSON line from its 'exit' handler. */
function report(run) {
  assert.equal(run.status, 0, run.stderr);
  const [results, exit] = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
  return { results, exit };
}

describe('an HTTP service under scuttling (enabled in package.json)', () => {
  // A fresh cache: modules are compiled after scuttling (the compiler reads globals).
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-scuttle-cache-'));
  const run = runWithLoader(dir, 'server.mjs', { timeout: 30_000, env: { LAVAMOAT_CACHE: cache } });

  test('serves a bounded number of requests, with timers and streams, and exits cleanly on its own', () => {
    const { results, exit } = report(run);
    assert.equal(results.served, 7); // the six below, and the app's own fetch
    assert.deepEqual(results.responses, [
      // fetch (scuttled from the real global) from a package granted it; crypto.randomUUID likewise.
      '200 slow id-length=36',
      '200 slow id-length=36',
      '200 slow id-length=36',
      // node:http client with a streamed body, piped through a confined Transform stream.
      '200 HELLO SCUTTLED WORLD',
      // stream.Readable piped into the response.
      '200 abc',
      '404 not found',
    ]);
    assert.equal(results.ticks, 3, 'setInterval/clearInterval');
    // process.on('unhandledRejection') and process.on('exit') still work; the server closed.
    assert.deepEqual(exit, { exit: 0, events: ['unhandledRejection nobody handles this', 'server closed'] });
    assert.equal(run.signal, null);
  });

  test("the app's own code keeps its globals: process, Buffer, fetch, crypto and timers by name, as unscuttled", () => {
    const { results } = report(run);
    const control = report(runWithLoader(dir, 'server.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'false' }, timeout: 30_000 }));
    assert.deepEqual(results.direct, {
      fetch: '200 abc',
      buffer: 'YXBw',
      pid: 'number',
      uuid: 36,
      globalProcess: true, // globalThis and global are the app's own global object
      timeout: 'fired',
    });
    assert.deepEqual(results.direct, control.results.direct);
    assert.deepEqual(results.appView, control.results.appView);
    assert.equal(results.appView.fetch, 'function');
    assert.equal(results.appView.appDefined, 'string', 'a global the app defines is there for it');
  });

  test('a package that reaches the real global through a sloppy function of the app gets throwing accessors naming the global', () => {
    const { leaked } = report(run).results;
    assert.equal(leaked.isOwnGlobal, false, 'it really is the real global, not its compartment global');
    for (const name of ['fetch', 'crypto', 'process']) {
      assert.equal(
        leaked[name],
        `throws TypeError: LavaMoat: globalThis.${name} is inaccessible under scuttling (scuttleGlobalThis): add "${name}" to scuttleGlobalThis.exceptions to keep it`,
      );
    }
    assert.match(leaked.navigator, typeof navigator === 'undefined' ? /^undefined$/ : /^throws TypeError: .*navigator is inaccessible/);
    assert.equal(leaked.structuredClone, 'function', 'an exception');
    assert.equal(leaked.Array, 'function', 'an intrinsic');
    assert.deepEqual(RUNTIME_GLOBALS, []);
  });

  test('control: without scuttling (LAVAMOAT_SCUTTLE_GLOBAL_THIS wins over package.json) the same leak finds them', () => {
    const control = report(runWithLoader(dir, 'server.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'false' }, timeout: 30_000 }));
    assert.deepEqual(control.results.responses, report(run).results.responses);
    assert.equal(control.results.leaked.fetch, 'function');
    assert.equal(control.results.leaked.crypto, 'object');
    assert.equal(control.results.leaked.process, 'object');
  });

  const [major] = process.versions.node.split('.').map(Number);
  test('a TypeScript app keeps its globals: its .ts module and the .cts module it imports (with a type-only import)', { skip: major < 24 && 'Node 24 strips types by default and hands an imported .cts module to the CommonJS loader' }, () => {
    const plain = runPlain(dir, 'ts-app.ts');
    const scuttled = runWithLoader(dir, 'ts-app.ts', { timeout: 30_000 });
    assert.equal(scuttled.status, 0, scuttled.stderr);
    assert.equal(scuttled.stdout, plain.stdout);
    assert.equal(scuttled.stderr, '', 'no warning of our own');
  });

  test('a CommonJS app keeps its globals too, with its own declarations, this, arguments and return as under plain node', () => {
    const plain = runPlain(dir, 'cjs-app.cjs');
    const scuttled = runWithLoader(dir, 'cjs-app.cjs', { timeout: 30_000 });
    assert.equal(scuttled.status, 0, scuttled.stderr);
    assert.equal(scuttled.stdout, plain.stdout);
    assert.match(plain.stdout, /"shadow":"mine shadowed"/);
  });
});

test("the app's rewritten modules keep plain node's semantics whatever the globals are named, and under require(esm)", () => {
  // A preload defines `scope`, `name`, `value` (names the rewrites once used for their
  // own bindings), `default` (a reserved word), `require` and `__dirname` (the CommonJS
  // wrapper's own) and `$lavamoat`; CommonJS code requires an .mjs module and a .js
  // module Node detects as an ES module (its imports see the hooks only from Node 22).
  const nodeArgs = ['--import', './rewrite-pre.mjs'];
  const plain = spawnSync(process.execPath, [...nodeArgs, 'rewrite-edge.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const scuttled = runWithLoader(dir, 'rewrite-edge.mjs', { nodeArgs, timeout: 30_000 });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(scuttled.status, 0, scuttled.stderr);
  assert.equal(scuttled.stdout, plain.stdout);
  assert.match(plain.stdout, /"require":"string","dirname":true/);
});

describe('scuttlerName', () => {
  const env = { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"scuttlerName":"SCUTTLER"}' };

  test('the host function is called with the real global and scuttle(), before any app code', () => {
    const run = runWithLoader(dir, 'server.mjs', { env, nodeArgs: ['--import', './scuttler.mjs'], timeout: 30_000 });
    const { results } = report(run);
    assert.match(run.stderr, /scuttler called: global=true fetch-before=function\nscuttler done: fetch-after=LavaMoat: globalThis\.fetch is inaccessible under scuttling/);
    assert.equal(results.appView.fetch, 'function', "the app's own fetch");
    assert.match(results.leaked.fetch, /inaccessible under scuttling/);
    // Merged key by key: enabled and exceptions still come from package.json.
    assert.equal(results.appView.structuredClone, 'function');
  });

  test('a scuttler that does not call scuttle(), or one that is missing, stops the process before the app', () => {
    const forgetful = runWithLoader(dir, 'server.mjs', { env, nodeArgs: ['--import', './scuttler-forgetful.mjs'] });
    assert.equal(forgetful.status, 1);
    assert.equal(forgetful.stdout, '');
    assert.match(forgetful.stderr, /^LavaMoat: the scuttler globalThis\.SCUTTLER \(scuttleGlobalThis\.scuttlerName, from LAVAMOAT_SCUTTLE_GLOBAL_THIS\) returned without calling scuttle\(globalThis\)/);
    const missing = runWithLoader(dir, 'server.mjs', { env });
    assert.equal(missing.status, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^LavaMoat: scuttleGlobalThis\.scuttlerName is "SCUTTLER" \(from LAVAMOAT_SCUTTLE_GLOBAL_THIS\), but globalThis\.SCUTTLER is not defined\. Define it before the loader runs/);
  });
});

test('debug mode lists what scuttling removed and kept', () => {
  const run = runWithLoader(dir, 'server.mjs', { env: { LAVAMOAT_DEBUG: '1' }, timeout: 30_000 });
  report(run);
  assert.match(run.stderr, /LavaMoat: debug mode \(debug from LAVAMOAT_DEBUG\).*Not for production\./);
  assert.match(run.stderr, /LavaMoat: scuttled globalThis: removed .*\bfetch\b.*; host globals kept: .*\bsetTimeout\b/);
});

describe("undici's global dispatcher under scuttling (confine/undici-dispatcher.ts)", () => {
  const json = (run) => {
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout.trim().split('\n').at(-1));
  };
  test("the app's fetch and WebSocket go through it; on the real global it is a read-only guard with no prototype", () => {
    const out = json(runWithLoader(dir, 'dispatcher.mjs', { timeout: 30_000 }));
    assert.equal(out.fetch, 'ok');
    if (typeof WebSocket === 'function') assert.equal(out.webSocket, 'open');
    assert.deepEqual(out.slot, { writable: false, proto: true });
    // Control: unscuttled, the guard is there too, writable as undici made it.
    const control = json(runWithLoader(dir, 'dispatcher.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'false' }, timeout: 30_000 }));
    assert.equal(control.fetch, 'ok');
    assert.deepEqual(control.slot, { writable: true, proto: true });
  });

  test('a dispatcher defined on the real global before undici loaded is never used: fetch fails, naming why', () => {
    const out = json(runWithLoader(dir, 'dispatcher.mjs', { args: ['preempt'], timeout: 30_000 }));
    assert.equal(out.evilCalled, undefined);
    assert.deepEqual(out.seen, out.fetch === 'ok' ? ['/fetch'] : []);
    if (out.defined === true) {
      // Node 20: undici loads after scuttling, with the runtime's placeholder in place.
      assert.match(out.fetch, /LavaMoat: undici's global dispatcher was defined on the real global before Node's undici loaded/);
    } else {
      // Node 22+: scuttling reads every global, which loads undici first: the slot is already read-only.
      assert.match(out.defined, /^refused/);
      assert.equal(out.fetch, 'ok');
    }
  });
});

// Builtin modules as packages see them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import { builtinFor, builtinGrants } from '../../dist/confine/builtins.js';

test('grants group by module; node: and bare names are one grant', () => {
  const grants = builtinGrants({ 'fs.readFile': true, 'node:fs.promises.readFile': true, path: true, 'node:os': true, crypto: false });
  assert.deepEqual([...grants.keys()].sort(), ['fs', 'os', 'path']);
  assert.deepEqual(grants.get('fs'), { whole: false, paths: [['readFile'], ['promises', 'readFile']] });
  assert.deepEqual(grants.get('path'), { whole: true });
});

test('a whole grant is the package\'s own copy: changing it never reaches the real module', () => {
  const copy = builtinFor('fs', { whole: true });
  assert.equal(copy.readFileSync, fs.readFileSync);
  copy.readFileSync = () => 'evil';
  copy.promises.readFile = () => 'evil';
  Object.defineProperty(copy, Symbol.for('graceful-fs.queue'), { get: () => [] });
  assert.notEqual(fs.readFileSync(new URL(import.meta.url), 'utf8'), 'evil');
  assert.notEqual(fs.promises.readFile.name, '');
  assert.equal(typeof fs.promises.readFile, 'function');
  assert.notEqual(builtinFor('fs', { whole: true }).readFileSync, copy.readFileSync, 'another package has its own copy');
  assert.throws(() => { 'use strict'; fs.realpathSync.native = () => 'evil'; }, TypeError, 'shared functions are frozen');
});

test('a dotted grant holds only the granted members', () => {
  const narrowed = builtinFor('fs', { whole: false, paths: [['readFileSync'], ['promises', 'readFile']] });
  assert.deepEqual(Object.keys(narrowed).sort(), ['promises', 'readFileSync']);
  assert.deepEqual(Object.keys(narrowed.promises), ['readFile']);
  assert.equal(narrowed.writeFileSync, undefined);
  narrowed.readFileSync = () => 'local';
  assert.equal(narrowed.readFileSync(), 'local', 'assignments stay in the view');
  assert.notEqual(fs.readFileSync.name, 'local');
});

test('modules that are classes stay classes, and cannot be changed', () => {
  const events = builtinFor('events', { whole: true });
  class Sub extends events {}
  assert.ok(new Sub() instanceof EventEmitter);
  assert.ok(new events() instanceof EventEmitter);
  assert.equal(events.EventEmitter, events, 'events.EventEmitter === events still holds');
  assert.throws(() => { 'use strict'; events.once = () => 'evil'; }, TypeError);
  assert.throws(() => { 'use strict'; events.prototype.emit = () => 'evil'; }, TypeError);
  assert.ok(Object.isFrozen(events) && !Object.isExtensible(events.prototype), 'hardened for everyone (confine/host-hardening.ts)');
  assert.equal(Object.getOwnPropertyDescriptor(events.prototype, 'emit').configurable, false);
  // Node validates this knob (a number); it stays settable, by the app too (docs/design.md).
  assert.throws(() => { events.defaultMaxListeners = () => 'evil'; }, TypeError);
  assert.equal(EventEmitter.defaultMaxListeners, 10);
  const narrowed = builtinFor('events', { whole: false, paths: [['EventEmitter']] });
  class Mine extends narrowed.EventEmitter {}
  assert.ok(new Mine() instanceof EventEmitter);
});

test('functions given to narrowed builtin members are passed as they are (util.inherits)', async () => {
  const util = await import('node:util');
  const narrowed = builtinFor('util', { whole: false, paths: [['inherits']] });
  function Child() {}
  narrowed.inherits(Child, EventEmitter);
  assert.equal(typeof new Child().on, 'function');
  assert.equal(Object.getPrototypeOf(Child.prototype), EventEmitter.prototype);
  void util;
});

test('a subclass of a builtin class module can have statics of its own (pg: Client.Query = Query)', () => {
  const events = builtinFor('events', { whole: true });
  class Client extends events.EventEmitter {}
  Client.Query = 'query';
  assert.equal(Client.Query, 'query');
  assert.equal(EventEmitter.Query, undefined, 'the host class is unchanged');
});

test("a package's copy leaves the module's lazy exports unread until it reads them (http.WebSocket would load undici), then gives the real value", async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  // In a fresh process: whether undici, WebCrypto and timers/promises are loaded after
  // the copies are made, and after the package reads the lazy exports.
  const probe = `
    const { builtinFor } = await import(${JSON.stringify(new URL('../../dist/confine/builtins.js', import.meta.url).href)});
    const { adaptBuiltin } = await import(${JSON.stringify(new URL('../../dist/confine/builtin-adapters.js', import.meta.url).href)});
    const loaded = (id) => process.moduleLoadList.includes('NativeModule ' + id);
    const ctx = { packageName: 'p', mayRun: () => false, timers: () => ({}), native: false, namesMember: () => false };
    // Not imported (an ES module import of a builtin reads all its exports).
    const real = Object.fromEntries(['http', 'crypto', 'timers'].map((n) => [n, { default: process.getBuiltinModule(n) }]));
    const before = ['internal/deps/undici/undici', 'internal/crypto/webcrypto', 'timers/promises'].map(loaded);
    const http = builtinFor('http', { whole: true }, adaptBuiltin('http', real.http.default, ctx));
    const crypto = builtinFor('crypto', { whole: true }, adaptBuiltin('crypto', real.crypto.default, ctx));
    const timers = builtinFor('timers', { whole: true }, adaptBuiltin('timers', real.timers.default, ctx));
    const afterCopy = [loaded('internal/deps/undici/undici'), loaded('internal/crypto/webcrypto'), loaded('timers/promises')];
    const keys = ['WebSocket', 'webcrypto', 'promises'].map((k, i) => k in [http, crypto, timers][i]);
    const same = [
      'WebSocket' in real.http.default ? http.WebSocket === real.http.default.WebSocket : true,
      crypto.webcrypto === real.crypto.default.webcrypto,
      timers.promises === undefined || typeof timers.promises === 'object',
    ];
    timers.promises = 'mine';
    console.log(JSON.stringify({ before, afterCopy, keys, same, assigned: timers.promises, realKept: typeof real.timers.default.promises }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe]);
  const seen = JSON.parse(stdout);
  assert.equal(seen.before[0], false, 'undici is not loaded at first');
  assert.deepEqual(seen.afterCopy, seen.before, 'making the copies loads none of them');
  assert.deepEqual(seen.keys, [seen.keys[0], true, true], 'the lazy exports are in the copies');
  assert.deepEqual(seen.same, [true, true, true], 'read, they are the real values');
  assert.equal(seen.assigned, 'mine', "the copy's property is the package's to change");
  assert.equal(seen.realKept, 'object', 'the real module is unchanged');
});

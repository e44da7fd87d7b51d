// Builtin modules as packages see them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import { builtinFor, builtinGrants } from '../../dist/builtins.js';

test('grants group by module; node: and bare names are one grant', () => {
  const grants = builtinGrants({ 'fs.readFile': true, 'node:fs.promises.readFile': true, path: true, 'node:os': true, crypto: false });
  assert.deepEqual([...grants.keys()].sort(), ['fs', 'os', 'path']);
  assert.deepEqual(grants.get('fs'), { whole: false, paths: [['readFile'], ['promises', 'readFile']] });
  assert.deepEqual(grants.get('path'), { whole: true });
});

test('a whole grant is a frozen copy: the real module cannot be changed through it', () => {
  const copy = builtinFor('fs', { whole: true });
  assert.equal(copy.readFileSync, fs.readFileSync);
  assert.ok(Object.isFrozen(copy));
  assert.ok(Object.isFrozen(copy.promises), 'plain sub-objects are copied and frozen too');
  assert.throws(() => { 'use strict'; copy.readFileSync = () => 'evil'; }, TypeError);
  assert.notEqual(fs.readFileSync.name, 'evil');
});

test('a dotted grant holds only the granted members', () => {
  const narrowed = builtinFor('fs', { whole: false, paths: [['readFileSync'], ['promises', 'readFile']] });
  assert.deepEqual(Object.keys(narrowed).sort(), ['promises', 'readFileSync']);
  assert.deepEqual(Object.keys(narrowed.promises), ['readFile']);
  assert.equal(narrowed.writeFileSync, undefined);
  assert.ok(Object.isFrozen(narrowed) && Object.isFrozen(narrowed.promises));
});

test('modules that are classes stay classes, and cannot be changed', () => {
  const events = builtinFor('events', { whole: true });
  class Sub extends events {}
  assert.ok(new Sub() instanceof EventEmitter);
  assert.ok(new events() instanceof EventEmitter);
  assert.equal(events.EventEmitter, events, 'events.EventEmitter === events still holds');
  assert.throws(() => { 'use strict'; events.defaultMaxListeners = 0; }, TypeError);
  assert.throws(() => { 'use strict'; events.once = () => 'evil'; }, TypeError);
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

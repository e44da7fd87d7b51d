// Globals a compartment receives from a `globals` policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import 'ses';
import { makeEndowments, universalEndowments } from '../../dist/confine/endowments.js';

lockdown({ errorTaming: 'unsafe', overrideTaming: 'moderate', consoleTaming: 'unsafe', errorTrapping: 'none' });

const makeHost = () => {
  const emitter = { listeners: [], on(name, fn) { this.listeners.push([name, fn]); return this; } };
  return {
    Date, Math, Intl,
    fetch: () => 'fetched',
    counter: 1,
    process: Object.assign(emitter, { env: { HOME: '/home/x' }, exitCode: 0, exit: () => 'exit!', versions: { node: '20' } }),
    Buffer: { from: (s) => `buf:${s}`, alloc: () => 'alloc' },
  };
};
const globalFrom = (policy, host = makeHost()) =>
  Object.defineProperties(Object.defineProperties({}, universalEndowments(host)), makeEndowments(policy, host, (name) => name === 'Date' || name === 'Math'));

test('unlisted globals do not exist; Date and Math always do', () => {
  const g = globalFrom({});
  assert.equal('fetch' in g, false);
  assert.equal(g.Date, Date);
  assert.equal(g.Math, Math);
});

test("read grants copy the host's property onto the package global; writes and redefinitions stay there", () => {
  const host = makeHost();
  const g = globalFrom({ fetch: true, counter: 'read' }, host);
  assert.equal(g.fetch(), 'fetched');
  assert.equal(g.counter, 1);
  g.counter = 99;
  assert.equal(g.counter, 99);
  assert.equal(host.counter, 1, 'the host never sees a write under a read grant');
  Object.defineProperty(g, 'fetch', { value: 1 });
  assert.equal(g.fetch, 1, 'LavaMoat lets a package redefine a read-granted global on its own global');
  assert.equal(typeof host.fetch, 'function');
});

test('"write" is shared with the host; "redefine" may be redefined', () => {
  const host = makeHost();
  const g = globalFrom({ counter: 'write', fetch: 'redefine' }, host);
  g.counter = 5;
  assert.equal(host.counter, 5);
  Object.defineProperty(g, 'fetch', { value: 'mine' });
  assert.equal(g.fetch, 'mine');
  assert.equal(typeof host.fetch, 'function');
});

test('dotted paths give an object holding only those paths', () => {
  const host = makeHost();
  const g = globalFrom({ 'process.env': true, 'process.exitCode': 'write', 'Buffer.from': true, 'process.versions.node': true }, host);
  assert.deepEqual(Object.keys(g.process).sort(), ['env', 'exitCode', 'versions']);
  assert.equal(g.process.env.HOME, '/home/x');
  assert.equal(g.process.exit, undefined);
  assert.equal(g.process.versions.node, '20');
  g.process.exitCode = 3;
  assert.equal(host.process.exitCode, 3, '"write" on a dotted path writes the host');
  assert.equal(g.Buffer.from('a'), 'buf:a');
  assert.equal(g.Buffer.alloc, undefined);
});

test('methods reached through a narrowed object run on the real parent', () => {
  const host = makeHost();
  const g = globalFrom({ 'process.on': true }, host);
  let seenThis;
  const fn = function () { seenThis = this; };
  assert.equal(g.process.on('exit', fn), g.process, 'chaining returns the view, never the real object');
  assert.equal(host.process.listeners.length, 1);
  const [[event, registered]] = host.process.listeners;
  assert.equal(event, 'exit');
  registered.call(host.process);
  assert.equal(seenThis, g.process, 'a listener called by the real emitter sees the view as this');
  assert.equal(g.process.on, g.process.on, 'the wrapper is stable');
  assert.throws(() => { g.process.on.injected = 1; }, TypeError, 'the host function cannot be modified through it');
  assert.equal(host.process.on.injected, undefined);
});

test('false and unknown values grant nothing', () => {
  const g = globalFrom({ fetch: false, counter: 'nope' });
  assert.equal('fetch' in g, false);
  assert.equal('counter' in g, false);
});

test('shared host objects cannot be changed through a grant', () => {
  const host = { console: { log: () => 'real log' }, queueMicrotask: () => 'q', URL: class URL {}, setTimeout, clearTimeout, Date, Math };
  const g = globalFrom({ console: true, queueMicrotask: true, URL: true, setTimeout: true, clearTimeout: true }, host);
  assert.throws(() => { g.console.log = () => 'evil'; }, TypeError);
  assert.equal(host.console.log(), 'real log');
  assert.throws(() => { g.queueMicrotask.injected = 1; }, TypeError);
  assert.throws(() => { g.URL.prototype.evil = 1; }, TypeError);
  const handle = g.setTimeout(() => {}, 1000);
  assert.equal('_idleNext' in handle, false, 'timer handles are opaque');
  assert.equal(typeof +handle, 'number');
  assert.equal(handle.unref(), handle);
  g.clearTimeout(handle);
});

// The confined V8 stack API each compartment gets (what depd needs, nothing more).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import 'ses';
import { makeCompartmentError } from '../../dist/confine/stack-traces.js';

lockdown({ errorTaming: 'unsafe', overrideTaming: 'moderate', consoleTaming: 'unsafe', errorTrapping: 'none' });
const compartment = new Compartment();
const CompartmentError = makeCompartmentError(Error, compartment.globalThis.Error);
compartment.globalThis.Error = CompartmentError;

test('engine errors are still instances of the compartment Error', () => {
  assert.equal(compartment.evaluate('(() => { try { null.x } catch (e) { return e instanceof Error } })()'), true);
  assert.equal(compartment.evaluate('new Error("m") instanceof Error'), true);
  assert.equal(compartment.evaluate('class E extends Error {}; new E("m") instanceof Error'), true);
});

test('depd-style call-site capture gives locations, not functions or receivers', () => {
  const sites = compartment.evaluate(`(function callerOfDepd() {
    const prep = Error.prepareStackTrace;
    Error.prepareStackTrace = (_, stack) => stack;
    const obj = {};
    Error.captureStackTrace(obj);
    const stack = obj.stack;
    Error.prepareStackTrace = prep;
    return stack;
  })()\n//# sourceURL=file:///probe.js`);
  assert.ok(Array.isArray(sites) && sites.length > 0);
  const [top] = sites;
  assert.equal(top.getFileName(), 'file:///probe.js');
  assert.equal(typeof top.getLineNumber(), 'number');
  assert.equal(top.getFunctionName(), 'callerOfDepd');
  assert.equal(top.getThis(), undefined);
  assert.equal(top.getFunction(), undefined);
  assert.ok(Object.isFrozen(top));
});

test('a compartment prepareStackTrace affects only its own captures', () => {
  compartment.evaluate('Error.prepareStackTrace = () => "hijacked"');
  assert.notEqual(new Error('outside').stack, 'hijacked');
  assert.equal(compartment.evaluate('const o = {}; Error.captureStackTrace(o); o.stack'), 'hijacked');
  compartment.evaluate('Error.prepareStackTrace = undefined');
  assert.match(compartment.evaluate('const o = { message: "m", name: "N" }; Error.captureStackTrace(o); o.stack'), /^N: m\n\s+at /);
});

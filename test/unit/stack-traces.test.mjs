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

test("a compartment's stackTraceLimit bounds the stacks of the errors it makes, never above the host's", () => {
  const frames = (source) => compartment.evaluate(source).split('\n').length - 1;
  const deep = 'function deep(n, f) { return n === 0 ? f() : deep(n - 1, f); }';
  try {
    assert.equal(frames(`${deep} deep(20, () => new Error('m').stack)`), 10);
    // zod's way of skipping the capture on a failed parse.
    compartment.evaluate('Error.stackTraceLimit = 0');
    assert.equal(frames('new Error("m").stack'), 0);
    assert.equal(frames('class E extends Error {}; new E("m").stack'), 0);
    assert.equal(frames('Error("m").stack'), 0);
    compartment.evaluate('Error.stackTraceLimit = 3');
    assert.equal(frames(`${deep} deep(20, () => new Error('m').stack)`), 3);
    // Not above the host's limit, which is unchanged after each error.
    compartment.evaluate('Error.stackTraceLimit = 1000');
    assert.equal(frames(`${deep} deep(40, () => new Error('m').stack)`), 10);
    assert.equal(Error.stackTraceLimit, 10);
    assert.equal(new Error('outside').stack.split('\n').length - 1 > 0, true);
  } finally {
    compartment.evaluate('Error.stackTraceLimit = 10');
  }
});

test("V8's own prepareStackTrace: only the trusted file sets it, whatever a script claims with sourceURL", async () => {
  // In a child: the guard goes on the real Error of a fresh process.
  const { spawnSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-feral-'));
  const trusted = path.join(dir, 'trusted.mjs');
  fs.writeFileSync(trusted, 'export const set = (value) => { Error.prepareStackTrace = value; };\n');
  const probe = path.join(dir, 'probe.mjs');
  const guard = new URL('../../dist/confine/stack-traces.js', import.meta.url).href;
  fs.writeFileSync(
    probe,
    `import { guardFeralError } from ${JSON.stringify(guard)};
import { set } from ${JSON.stringify(new URL(`file://${trusted}`).href)};
guardFeralError(Error, (file) => file === ${JSON.stringify(trusted)} || file === ${JSON.stringify(`file://${trusted}`)});
const out = {};
const attempt = (name, fn) => { try { fn(); out[name] = Error.prepareStackTrace === undefined ? 'refused' : 'SET'; } catch { out[name] = 'refused'; } set(undefined); };
const claim = ${JSON.stringify(`//# sourceURL=${trusted}`)};
const claimUrl = ${JSON.stringify(`//# sourceURL=file://${trusted}`)};
attempt('indirect eval claiming the trusted file', () => (0, eval)('Error.prepareStackTrace = () => 1\\n' + claim));
attempt('Function claiming the trusted file', () => new Function('Error.prepareStackTrace = () => 1\\n' + claimUrl)());
attempt('a file of its own', () => { Error.prepareStackTrace = () => 1; });
try { set(() => 1); out.trusted = typeof Error.prepareStackTrace === 'function' ? 'set' : 'not set'; } catch (e) { out.trusted = 'threw ' + e.message; }
console.log(JSON.stringify(out));
`,
  );
  const run = spawnSync(process.execPath, [probe], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    'indirect eval claiming the trusted file': 'refused',
    'Function claiming the trusted file': 'refused',
    'a file of its own': 'refused',
    trusted: 'set',
  });
});

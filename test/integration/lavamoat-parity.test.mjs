// LavaMoat's policy vocabulary on a fixture app: `$root$` as a resource key (in the
// policy and in the override), read-granted globals a package redefines on its own
// global (what @hono/node-server does), and a pool package granted `$root$` that runs
// the app's own modules as app code (what piscina, tinypool and workerpool do).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoaderAsync } from '../helpers.mjs';

const dir = fixture('lavamoat-parity');
const noGrant = {
  LAVAMOAT_POLICY: 'lavamoat/no-root-grant/policy.json',
  LAVAMOAT_POLICY_OVERRIDE: 'lavamoat/no-root-grant/policy-override.json',
};
const [granted, refused] = await Promise.all([
  runWithLoaderAsync(dir, 'app.mjs', { timeout: 30_000 }),
  runWithLoaderAsync(dir, 'app.mjs', { env: noGrant, timeout: 30_000 }),
]);
const plain = JSON.parse(runPlain(dir, 'app.mjs').stdout);
const parse = (run) => {
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
};

test('a policy and an override with resources["$root$"] load (the trusted app ignores it, as LavaMoat does)', () => {
  assert.equal(granted.status, 0, granted.stderr);
  assert.doesNotMatch(granted.stderr, /canonical/);
});

test('read-granted globals: the package may redefine or assign them on its own global, and only it sees the change', () => {
  const { redefine, redefineCjs } = parse(granted);
  assert.deepEqual(redefine, {
    before: 'function',
    after: true, // Object.defineProperty(globalThis, 'Request', ...) took effect for the package
    params: 'mine', // and so did a plain assignment to URLSearchParams
    seenElsewhere: true, // another module of the same package sees it: the package's own global
    appRequest: 'Request', // the app does not
    appParams: 'function',
  });
  assert.deepEqual(redefineCjs, { encoder: 'Mine', buffer: 'my buffer', appEncoder: 'TextEncoder', appBuffer: 'function' });
  // Under plain node the global is shared, so the app sees the package's change: the
  // package's own view is the same either way.
  assert.equal(plain.redefine.after, true);
  assert.equal(plain.redefine.seenElsewhere, true);
  assert.equal(plain.redefineCjs.encoder, 'Mine');
});

test('a pool granted "$root$" runs the app\'s modules as app code: import(), require(), its own worker, a worker on the app file', () => {
  const result = parse(granted);
  for (const key of ['inline', 'inlineCjs', 'required', 'worker', 'appWorker']) {
    assert.deepEqual(result[key], plain[key], key);
    assert.equal(result[key].appCode, true, `${key}: the task used fs, which the pool is not granted`);
  }
});

test('without the grant every one of those is refused, and the denial names the override entry', () => {
  const result = parse(refused);
  assert.deepEqual(
    { inline: result.inline, inlineCjs: result.inlineCjs, required: result.required, worker: result.worker, appWorker: result.appWorker },
    { inline: 'error: LAVAMOAT_DENIED', inlineCjs: 'error: LAVAMOAT_DENIED', required: 'error: LAVAMOAT_DENIED', worker: 'error: LAVAMOAT_DENIED', appWorker: 'error: LAVAMOAT_WORKER_REFUSED' },
  );
});

test('the denial message says which package, which module, and the "$root$" entry that allows it', async () => {
  const run = await runWithLoaderAsync(dir, 'deny.mjs', { env: noGrant, timeout: 30_000 });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /package "pool" is not allowed the app's own modules \("\$root\$"\) \(the app's module .*tasks\/square\.mjs/);
  assert.match(run.stderr, /\{"resources":\{"pool":\{"packages":\{"\$root\$":true\}\}\}\}/);
});

// LavaMoat's scuttle scenarios: a host global read from the real global object by a
// package works when it is an exception, and fails with the scuttling message otherwise.
describe("LavaMoat's scuttle scenarios", () => {
  const base = ['WebAssembly', 'process', 'console', 'Math', 'Date', 'getTrueGlobalThisForTestsOnly'];
  const scuttled = (exceptions) =>
    runWithLoaderAsync(dir, 'scuttle-app.mjs', {
      nodeArgs: ['--import', './context.mjs'],
      env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: JSON.stringify({ enabled: true, exceptions }) },
      timeout: 30_000,
    });

  test('host env global object is scuttled to work', async () => {
    const run = await scuttled([...base, 'AAA']);
    assert.deepEqual(parse(run), { value: '111', app: '111' });
  });

  test('host env global object is too scuttled to work', async () => {
    const run = await scuttled(base);
    assert.notEqual(run.status, 0);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /TypeError: LavaMoat: globalThis\.AAA is inaccessible under scuttling \(scuttleGlobalThis\): add "AAA" to scuttleGlobalThis\.exceptions to keep it/);
  });
});

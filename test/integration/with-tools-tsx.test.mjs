// tsx (and any preloaded tool built like it) with the loader, in both orders, on a cold
// and a warm cache (test/fixtures/tsx-app).
//
// The hang this guards against: tsx's transforms call esbuild's transformSync, which
// starts a worker of esbuild's own and blocks the thread in Atomics.wait until it
// answers. The loader used to start that worker confined, where it refused esbuild's
// file (in no package of the project): the worker died, its message waited for the
// blocked thread to relay it, and the process hung with no output. On Node 20 that
// happened on the main thread when the loader required its compiler (meriyah, which tsx
// compiles to CommonJS) for a cold cache; on Node 22.15+/24, where tsx's hooks run
// in-thread, at the first TypeScript file tsx had not cached yet. "Cold" is therefore
// a fresh compiled-module cache *and* a fresh tsx cache (TMPDIR).
//
// Every run is killed after RUN_TIMEOUT: a hang fails the test instead of stalling CI.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, loaderURL, runNodeAsync } from '../helpers.mjs';

const dir = fixture('tsx-app');
const RUN_TIMEOUT = 60_000;
const TEST_TIMEOUT = 4 * RUN_TIMEOUT;

const ORDERS = {
  'tool first': (tool) => ['--import', tool, '--import', loaderURL],
  'loader first': (tool) => ['--import', loaderURL, '--import', tool],
};

/** Runs `node ...args` in the fixture; a run that outlives RUN_TIMEOUT is killed. */
const run = (args, env = {}) => runNodeAsync(dir, args, { env, timeout: RUN_TIMEOUT });

function assertRan(result, what) {
  assert.equal(result.signal, null, `${what} was killed after ${RUN_TIMEOUT} ms (a hang); stderr: ${result.stderr}`);
  assert.equal(result.status, 0, `${what}: ${result.stderr}`);
}

function tempDir(t, prefix) {
  const made = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(made, { recursive: true, force: true }));
  return made;
}

describe('tsx', () => {
  // Plain tsx, dependencies unconfined: what the app prints, but for the one access the
  // policy does not grant, which the loader denies.
  const plain = run(['--import', 'tsx', 'app.ts']);

  for (const [order, args] of Object.entries(ORDERS)) {
    test(`${order}: a cold then a warm cache print what plain tsx prints`, { timeout: TEST_TIMEOUT }, async (t) => {
      const env = {
        LAVAMOAT_CACHE: path.join(tempDir(t, 'lavamoat-tsx-cache-'), 'cache'),
        TMPDIR: tempDir(t, 'lavamoat-tsx-tmp-'),
        SHOW_DENIAL: '1',
      };
      const expected = await plain;
      assertRan(expected, 'node --import tsx app.ts');
      assert.match(expected.stdout, /^nosy: read \d+ bytes$/m);
      const confined = expected.stdout.replace(/^nosy: .*$/m, 'nosy: denied');

      const cold = await run([...args('tsx'), 'app.ts'], env);
      assertRan(cold, `${order}, cold cache`);
      assert.equal(cold.stdout, confined);
      // The dependency is still denied what its policy does not grant, with tsx present.
      assert.match(cold.stderr, /LavaMoat: package "tsx-nosy-dep" is not allowed the builtin module "fs"/);
      assert.ok(fs.readdirSync(env.LAVAMOAT_CACHE).some((name) => name.endsWith('.json')), 'the cold run filled the cache');

      const warm = await run([...args('tsx'), 'app.ts'], env);
      assertRan(warm, `${order}, warm cache`);
      assert.equal(warm.stdout, confined);
      assert.match(warm.stderr, /LavaMoat: package "tsx-nosy-dep" is not allowed the builtin module "fs"/);
    });
  }

  test('with tsx in the package map (LAVAMOAT_DEV=1), a cold cache prints what plain tsx prints', { timeout: TEST_TIMEOUT }, async (t) => {
    // esbuild, whose code starts the worker, is then a confined package's (tsx>esbuild):
    // still a preload's code, since no package's code runs natively.
    const expected = await plain;
    const result = await run([...ORDERS['tool first']('tsx'), 'app.ts'], {
      LAVAMOAT_DEV: '1',
      LAVAMOAT_CACHE: path.join(tempDir(t, 'lavamoat-tsx-cache-'), 'cache'),
      TMPDIR: tempDir(t, 'lavamoat-tsx-tmp-'),
    });
    assertRan(result, 'tool first, LAVAMOAT_DEV=1');
    assert.equal(result.stdout, expected.stdout.replace(/^nosy: .*$/m, 'nosy: denied'));
  });

  test('preloaded after the loader, tsx is trusted as a preload only: the app importing it is not', { timeout: TEST_TIMEOUT }, async () => {
    const args = [...ORDERS['loader first']('tsx'), 'import-preload.mjs'];
    // tsx is a devDependency: outside the package map, refused as without the preload.
    const refused = await run(args, { LAVAMOAT_CACHE: '0' });
    assertRan(refused, 'import-preload.mjs');
    assert.equal(refused.stdout, 'tsx: LAVAMOAT_UNKNOWN_PACKAGE\ntsx/esm/api: LAVAMOAT_UNKNOWN_PACKAGE\n');
    // In the map, the app gets tsx confined by its (empty) policy, not the preload.
    const confined = await run(args, { LAVAMOAT_CACHE: '0', LAVAMOAT_DEV: '1' });
    assertRan(confined, 'import-preload.mjs, LAVAMOAT_DEV=1');
    assert.match(confined.stdout, /^tsx: .*LavaMoat: package "tsx" is not allowed the builtin module "worker_threads"/m);
    assert.match(confined.stdout, /^tsx\/esm\/api: .*LavaMoat: package "tsx" is not allowed the builtin module/m);
  });
});

describe('a preloaded tool with hooks of its own and a worker it waits for synchronously', () => {
  const plain = run(['--import', 'sync-tool/register', 'tool-app.mjs']);

  for (const [order, args] of Object.entries(ORDERS)) {
    test(`${order}: prints what plain node prints, on a cold cache`, { timeout: TEST_TIMEOUT }, async (t) => {
      const expected = await plain;
      assertRan(expected, 'node --import sync-tool/register tool-app.mjs');
      const result = await run([...args('sync-tool/register'), 'tool-app.mjs'], {
        LAVAMOAT_CACHE: path.join(tempDir(t, 'lavamoat-tool-cache-'), 'cache'),
      });
      assertRan(result, order);
      assert.equal(result.stdout, expected.stdout);
    });
  }
});

test("the app's worker on a file the loader would refuse in the worker is refused at new Worker()", { timeout: TEST_TIMEOUT }, async () => {
  const result = await run(['--import', loaderURL, 'outside-worker.mjs'], { LAVAMOAT_CACHE: '0' });
  assertRan(result, 'outside-worker.mjs');
  assert.match(
    result.stdout,
    /^worker: LavaMoat: the app may not start a Worker on \S+worker\.cjs: that file belongs to no package of the project/,
  );
});

test("a package's worker cannot preload a file of the package through its env's NODE_OPTIONS", { timeout: TEST_TIMEOUT }, async () => {
  // Node runs a worker's NODE_OPTIONS preloads before the loader, unconfined; after the
  // loader, the loader would take them for the user's. Refused either way.
  const result = await run(['--import', loaderURL, 'worker-env.mjs'], { LAVAMOAT_CACHE: '0', LAVAMOAT_TEST_LOADER_URL: loaderURL });
  assertRan(result, 'worker-env.mjs');
  for (const order of ['before', 'after']) {
    assert.match(result.stdout, new RegExp(`^${order}: REFUSED LavaMoat: a Worker's env\\.NODE_OPTIONS may not add --import \\S+escape\\.mjs`, 'm'));
  }
  assert.doesNotMatch(result.stderr, /ESCAPED/);
});

describe('pieces', () => {
  test('the --import modules after the loader, NODE_OPTIONS first, as Node runs them', async () => {
    const { importsAfterLoader } = await import('../../dist/loader/preloads.js');
    assert.deepEqual(importsAfterLoader(loaderURL, '', ['--import', 'tsx', '--import', loaderURL]), []);
    assert.deepEqual(importsAfterLoader(loaderURL, '', ['--import', 'lavamoat/loader', '--import=tsx', '--import', './x.mjs']), ['tsx', './x.mjs']);
    assert.deepEqual(importsAfterLoader(loaderURL, `--import=${loaderURL}`, ['--import', 'tsx']), ['tsx']);
    assert.deepEqual(importsAfterLoader(loaderURL, '--import tsx', ['--import', loaderURL]), []);
    assert.deepEqual(importsAfterLoader(loaderURL, '', ['--import', 'tsx']), [], 'no loader, nothing after it');
  });

  test('whether a tool is preloaded before the loader (it may patch builtins when they first load)', async () => {
    const { preloadsBeforeLoader } = await import('../../dist/loader/preloads.js');
    assert.equal(preloadsBeforeLoader(loaderURL, '', ['--import', './otel-register.mjs', '--import', loaderURL]), true);
    assert.equal(preloadsBeforeLoader(loaderURL, '--import ./otel-register.mjs', ['--import', loaderURL]), true);
    assert.equal(preloadsBeforeLoader(loaderURL, '', ['-r', 'dd-trace/init', '--import', loaderURL]), true, 'every --require runs first');
    assert.equal(preloadsBeforeLoader(loaderURL, '--require=newrelic', ['--import', loaderURL]), true);
    assert.equal(preloadsBeforeLoader(loaderURL, '', ['--import', loaderURL, '--import', 'tsx']), false, 'after it');
    assert.equal(preloadsBeforeLoader(loaderURL, `--import=${loaderURL}`, ['--import', 'tsx']), false);
    assert.equal(preloadsBeforeLoader(loaderURL, '', ['--import', loaderURL]), false);
  });

  test("a preload's worker: this loader taken out of what Node would pass on, nothing else", async () => {
    const { preloadWorkerOptions } = await import('../../dist/confine/workers.js');
    const { withoutLoaderInNodeOptions } = await import('../../dist/confine/child-processes.js');
    assert.equal(withoutLoaderInNodeOptions(`--import tsx --import=${loaderURL} --max-old-space-size=64`, loaderURL), '--import tsx --max-old-space-size=64');
    assert.equal(withoutLoaderInNodeOptions(`--import ${loaderURL}`, loaderURL), undefined);
    const env = { NODE_OPTIONS: `--import=${loaderURL}`, LAVAMOAT_CONFINED_PARENT: '1', HOME: '/h' };
    const inherited = ['--import', 'tsx', '--import', loaderURL];
    assert.deepEqual(preloadWorkerOptions(undefined, loaderURL, inherited, env), {
      execArgv: ['--import', 'tsx'],
      env: { LAVAMOAT_CONFINED_PARENT: '1', HOME: '/h' },
    });
    // The caller's own execArgv and env are kept, but for the loader in its NODE_OPTIONS.
    assert.deepEqual(preloadWorkerOptions({ execArgv: [], env: { NODE_OPTIONS: `--import ${loaderURL} -r x`, A: '1' }, workerData: 1 }, loaderURL, inherited, env), {
      execArgv: [],
      env: { NODE_OPTIONS: '-r x', A: '1' },
      workerData: 1,
    });
    // SHARE_ENV: the worker would read this process's NODE_OPTIONS, loader included.
    assert.equal(preloadWorkerOptions({ env: Symbol('SHARE_ENV') }, loaderURL, inherited, env), undefined);
  });

  test("a worker's env.NODE_OPTIONS adds nothing this process does not have", async () => {
    const { checkWorkerEnv } = await import('../../dist/confine/workers.js');
    const own = `--import tsx --import=${loaderURL} --inspect`;
    assert.doesNotThrow(() => checkWorkerEnv({ NODE_OPTIONS: own, A: '1' }, [], own), 'a copy of process.env');
    assert.doesNotThrow(() => checkWorkerEnv({ NODE_OPTIONS: '--max-old-space-size=64' }, [], ''));
    assert.doesNotThrow(() => checkWorkerEnv({}, [], ''));
    assert.doesNotThrow(() => checkWorkerEnv(Symbol('SHARE_ENV'), [], ''), "SHARE_ENV: this process's own");
    assert.throws(() => checkWorkerEnv({ NODE_OPTIONS: `${own} --import ./x.mjs` }, [], own), /env\.NODE_OPTIONS may not add --import \.\/x\.mjs/);
    assert.throws(() => checkWorkerEnv({ NODE_OPTIONS: '-r ./x.cjs' }, [], ''), /may not add -r \.\/x\.cjs/);
    assert.throws(() => checkWorkerEnv({ NODE_OPTIONS: '--inspect-brk' }, [], own), /may not contain --inspect-brk/);
  });

  test("the app's Worker starts a worker unconfined only for a preload's code, on a preload's file", async () => {
    const { makeWorkerClass } = await import('../../dist/confine/workers.js');
    const started = [];
    class HostWorker {
      constructor(filename, options) {
        started.push([filename, options]);
      }
    }
    const self = new URL(import.meta.url).pathname;
    const make = (isPreloadCode) =>
      makeWorkerClass(
        {
          HostWorker,
          loaderURL,
          inheritedExecArgv: ['--import', loaderURL],
          handedOver: {},
          setEnvironmentData() {},
          origins: { inProject: () => true, isPreloadCode, hostError: Error, env: { NODE_OPTIONS: `--import=${loaderURL}` } },
        },
        'the app',
      );
    const toolFile = '/tools/node_modules/tool/worker.js';
    const preload = (file) => file === self || file === toolFile;
    // Called from this file, which the predicate takes for a preload's: started as Node would.
    new (make(preload))(toolFile);
    assert.deepEqual(started.at(-1), [toolFile, { execArgv: [], env: {} }]);
    // The same call from the app's code: confined.
    new (make((file) => file === toolFile))(toolFile);
    assert.deepEqual(started.at(-1)[1].execArgv, ['--import', loaderURL]);
    // A preload's worker on an app file: confined.
    new (make(preload))('/app/worker.js');
    assert.deepEqual(started.at(-1), ['/app/worker.js', { execArgv: ['--import', loaderURL] }]);
    // Code run through eval names no file, whatever it claims: confined, so eval workers are refused.
    const Worker = make(() => true);
    assert.throws(() => eval(`new Worker('x', { eval: true }) //# sourceURL=${self}`), /eval: true/);
    // A preload's eval worker is its own business.
    new Worker('code', { eval: true });
    assert.deepEqual(started.at(-1), ['code', { eval: true, execArgv: [], env: {} }]);
  });
});

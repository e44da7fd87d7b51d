// Popular npm packages (ESM-only, CommonJS-only and dual; installed as this project's
// devDependencies) used from an ESM app under the loader with a reviewed policy must
// give exactly the output they give under plain node; and yoga-layout, whose entry
// module awaits at its top level, under the policy `lavamoat generate` writes for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, projectDir, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('real-app');
const env = { FORCE_COLOR: '1', DEBUG: '' };

// The policy is `lavamoat generate` in strict mode: as LavaMoat's, plus "write" where
// moment-timezone extends moment and dotenv writes process.env (the same as true without
// strict mode).
for (const strict of [false, true]) {
  test(`real packages give the same output under the loader as under plain node${strict ? ' (strict mode)' : ''}`, () => {
    const plain = runPlain(dir, 'app.mjs', { env });
    assert.equal(plain.status, 0, plain.stderr);
    const confined = runWithLoader(dir, 'app.mjs', { env: { ...env, LAVAMOAT_STRICT: strict ? '1' : '0' } });
    assert.equal(confined.stderr, '');
    assert.equal(confined.status, 0);
    assert.equal(confined.stdout, plain.stdout);
    // Every package printed its line.
    for (const name of ['lodash', 'semver', 'semver-cjs', 'chalk', 'nanoid', 'uuid', 'dotenv', 'dotenv-env', 'zod', 'dayjs',
      'commander', 'js-yaml', 'p-limit', 'minimist', 'debug', 'moment-timezone', 'express-get', 'express-post', 'express-404',
      'fs-extra', 'yargs', 'axios', 'ws']) {
      assert.match(confined.stdout, new RegExp(`^${name}: `, 'm'), name);
    }
  });
}


/** `lavamoat generate app.mjs` in `dir`, the policy written in `temp` (no cache); asserts it succeeded. */
function generatePolicy(dir, temp) {
  const policy = path.join(temp, 'policy.json');
  const generated = spawnSync(process.execPath, [path.join(projectDir, 'bin', 'lavamoat.mjs'), 'generate', 'app.mjs', '--policy', policy, '--no-cache'], {
    cwd: dir,
    env: { ...process.env, NODE_OPTIONS: '' },
    encoding: 'utf8',
  });
  assert.equal(generated.status, 0, generated.stderr);
  return { policy, generated };
}

test('a grant taken away from a real package is denied with the entry that would allow it', () => {
  const confined = runWithLoader(dir, 'app.mjs', {
    env: { ...env, LAVAMOAT_POLICY_OVERRIDE: 'lavamoat/node/deny-crypto-override.json' },
  });
  assert.notEqual(confined.status, 0);
  assert.match(confined.stderr, /package "nanoid" is not allowed the builtin module "crypto"/);
  assert.match(confined.stderr, /\{"resources":\{"nanoid":\{"builtin":\{"crypto":true\}\}\}\}/);
});

test('yoga-layout 3, which awaits its WebAssembly at its top level, lays out the same boxes under a generated policy', (t) => {
  if (!fs.existsSync(path.join(projectDir, 'node_modules', 'yoga-layout'))) {
    t.skip('the devDependency yoga-layout is not installed');
    return;
  }
  const yogaDir = fixture('yoga-app');
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-yoga-'));
  try {
    const { policy, generated } = generatePolicy(yogaDir, temp);
    assert.match(generated.stderr, /0 warnings/);
    // The awaiting entry module and the modules it imports are all analysed.
    const grants = JSON.parse(fs.readFileSync(policy, 'utf8')).resources['yoga-layout'].globals;
    assert.equal(grants['WebAssembly.instantiate'], true);
    const env = { LAVAMOAT_POLICY: policy, LAVAMOAT_POLICY_OVERRIDE: path.join(temp, 'none.json') };
    const plain = runPlain(yogaDir, 'app.mjs', { env });
    assert.equal(plain.status, 0, plain.stderr);
    for (const strict of ['0', '1']) {
      const confined = runWithLoader(yogaDir, 'app.mjs', { env: { ...env, LAVAMOAT_STRICT: strict } });
      assert.equal(confined.stderr, '', `strict ${strict}`);
      assert.equal(confined.status, 0);
      assert.equal(confined.stdout, plain.stdout);
      assert.match(confined.stdout, /^c: left 394 top 126 width 96 height 48$/m);
    }
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
});

// Patterns of popular packages that behaved differently under the loader, each mimicked by
// a package of test/fixtures/package-idioms, under the policy `lavamoat generate` writes:
// node-fetch 3's util.promisify(stream.pipeline) (and the app's promisify(setTimeout)),
// @hapi/hoek's URL.prototype, engine.io-client's global object exported by one of its
// modules and read through the import in another, protobufjs's kept on a property,
// @inquirer/core's terminal readline on process.stdin, thread-stream's `'X' in globalThis`
// for a global the host does not have, jose's `crypto.subtle` (a dotted grant) and the
// `CryptoKey` it makes, tRPC's `AbortSignal.any` and Apollo Server's `AbortSignal.timeout`
// (dotted grants of a platform class's statics) and the signals they return, Vite 8's
// (rolldown's) `(() => createRequire(import.meta.url))()` require, jose 4's CommonJS
// `import.js` (whose path ends the evaluated text, Node 24), hookable's (Nuxt's, unhead's)
// `console.createTask(name).run(fn)`, protobufjs's optional modules through
// `@protobufjs/inquire` 1.1.0 (`eval("quire".replace(/^/,"re"))(name)`, granted to the
// helper from its callers' literal names), and the frames of anonymous functions in a
// package's stacks (`at file:line:col`, `Object.<anonymous>`, `new <anonymous>`), and
// @sinonjs/fake-timers' subclass of Date with assigned statics (`ClockDate.now = ...`).
test('package idioms give the same output under a generated policy as under plain node', () => {
  const idiomsDir = fixture('package-idioms');
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-idioms-'));
  try {
    const { policy } = generatePolicy(idiomsDir, temp);
    const resources = JSON.parse(fs.readFileSync(policy, 'utf8')).resources;
    assert.equal(resources['type-protos'].globals['URL.prototype'], true);
    assert.deepEqual(resources['global-shim'].globals, { clearTimeout: true, setTimeout: true });
    assert.equal(resources['global-holder'].globals.Buffer, true);
    assert.equal(resources['tty-prompt'].globals['process.stdin'], true);
    const env = { LAVAMOAT_POLICY: policy, LAVAMOAT_POLICY_OVERRIDE: path.join(temp, 'none.json'), LAVAMOAT_CACHE: '0' };
    const plain = runPlain(idiomsDir, 'app.mjs', { env });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /"sameAgain":true,"promisifiedTwice":true/);
    assert.match(plain.stdout, /"ttyPrompt":"string"/);
    assert.match(plain.stdout, /"absent":\[false,"undefined",null\],"later":\[false,"undefined"\]/);
    assert.equal(resources['presence-probe'].globals.__bundlerPathsOverrides, true);
    assert.equal(resources['webcrypto-user'].globals['crypto.subtle'], true);
    assert.match(plain.stdout, /"webcrypto":\["secret","sign\+verify",true,32,true\]/);
    for (const name of ['AbortSignal.timeout', 'AbortSignal.any', 'Response.json', 'URL.parse']) assert.equal(resources['signal-statics'].globals[name], true, name);
    assert.equal(resources['iife-require'].builtin['stream.Writable'], true);
    assert.equal(resources['iife-require'].builtin['zlib.gzipSync'], true);
    assert.match(plain.stdout, /"importNamed":\["import\.js","dynamic-import\.js"\]/);
    assert.match(plain.stdout, /"iifeRequire":\["function","zipped"\]/);
    assert.deepEqual(resources['hook-tasks'].globals, { 'console.createTask': true });
    assert.deepEqual(resources['inquire-user>@protobufjs/inquire'], { builtin: { buffer: true }, packages: { 'inquire-user>inquire-long': true } });
    assert.match(plain.stdout, /"hookTasks":\["object","function",21,40\]/);
    assert.match(plain.stdout, /"inquire":\["function","Long",null\]/);
    assert.match(plain.stdout, /"dateSubclass":\[1000,1000,949363200000,946684800000,true\]/);
    assert.match(plain.stdout, / at Object\.<anonymous> \(<dir>\/index\.js:6:18\)","    at <dir>\/index\.js:11:22"/);
    assert.match(plain.stdout, /"statics":\["function",true,"stopped",false,201,\{"ok":1\},"application\/json","example.test:8443","1"\]/);
    for (const strict of ['0', '1']) {
      const confined = runWithLoader(idiomsDir, 'app.mjs', { env: { ...env, LAVAMOAT_STRICT: strict } });
      assert.equal(confined.stderr, '', `strict ${strict}`);
      assert.equal(confined.status, 0);
      assert.equal(confined.stdout, plain.stdout);
    }
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
});

// Loads no analysis can follow, mimicked by the packages of test/fixtures/computed-loads
// (and two of this project's devDependencies), under the policy `lavamoat generate`
// writes: an addon loader (bindings, node-gyp-build) is granted the package that calls
// it, and a package its installed platform packages (optional dependencies that name an
// `os` or `cpu`: msgpackr-extract's addon, esbuild's binary), `native` if they hold an
// addon; a CommonJS module's call sites name its path, as Node's do (bindings compares
// them with `__filename`), and `new Error().stack` goes through a package's
// `prepareStackTrace` (callsites); `eval('require')` reads the module's require (threads);
// a worker on `import.meta.url + '/../worker.js'` (tinypool) is analysed.
test('computed loads give the same output under a generated policy as under plain node', (t) => {
  const dir = fixture('computed-loads');
  const platform = `@esbuild/${process.platform}-${process.arch}`;
  if (!fs.existsSync(path.join(projectDir, 'node_modules', platform))) {
    t.skip(`esbuild's ${platform} is not installed`);
    return;
  }
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-computed-'));
  try {
    const { policy } = generatePolicy(dir, temp);
    const resources = JSON.parse(fs.readFileSync(policy, 'utf8')).resources;
    assert.deepEqual(resources['has-addon>bindings'].packages, { 'has-addon': true });
    assert.equal(resources['has-addon'].native, true);
    assert.equal(resources.esbuild.packages[`esbuild>${platform}`], true);
    assert.equal(resources['eval-require'].builtin['worker_threads.Worker'], true);
    assert.equal(resources['concat-worker'].builtin['url.pathToFileURL'], true);
    const extract = 'msgpackr>msgpackr-extract';
    const extractPlatform = `${extract}>@msgpackr-extract/msgpackr-extract-${process.platform}-${process.arch}`;
    if (resources[extractPlatform]) {
      assert.equal(resources[extractPlatform].native, true);
      assert.equal(resources[`${extract}>node-gyp-build-optional-packages`].packages[extract], true);
      assert.equal(resources[`${extract}>node-gyp-build-optional-packages`].packages[extractPlatform], true);
    }
    const env = { LAVAMOAT_POLICY: policy, LAVAMOAT_POLICY_OVERRIDE: path.join(temp, 'none.json'), LAVAMOAT_CACHE: '0' };
    const plain = runPlain(dir, 'app.mjs', { env });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^addon: hello from has-addon's build$/m);
    assert.match(plain.stdout, /^eval\('require'\): function index\.js \[true,true,true,true\]$/m);
    assert.match(plain.stdout, /^callsites: app\.mjs$/m);
    const confined = runWithLoader(dir, 'app.mjs', { env });
    assert.equal(confined.stderr, '');
    assert.equal(confined.status, 0);
    assert.equal(confined.stdout, plain.stdout);
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
});

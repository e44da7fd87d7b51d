// OpenTelemetry preloaded before the loader (`node --import ./otel-register.mjs --import
// lavamoat/loader app.mjs`, as its documentation says for ES module apps) instruments the
// confined packages as under plain node: the span names of one request to an express
// service are the same with and without the loader, whichever code loads express (the
// app's import, through import-in-the-middle; a dependency's require, through
// require-in-the-middle; a CommonJS app's require), and however import-in-the-middle's
// hooks are registered, and under scuttling. In the same run a dependency is still denied what its policy does
// not grant, and the instrumentation's wrappers lead it nowhere. Loaded after the loader,
// the instrumentation is refused with a message saying where it belongs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, loaderURL, projectDir } from '../helpers.mjs';

const dir = fixture('otel-app');
const installed = fs.existsSync(path.join(projectDir, 'node_modules', '@opentelemetry', 'instrumentation-express'));
const [major, minor, patch] = process.versions.node.split('.').map(Number);

/** Runs `args` (an entry and its arguments) with the given preloads, in the fixture. */
function run(imports, args, env = {}) {
  const result = spawnSync(process.execPath, [...imports.flatMap((url) => ['--import', url]), ...args], {
    cwd: dir,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

const line = (stdout, name) => stdout.split('\n').find((text) => text.startsWith(`${name}: `))?.slice(name.length + 2);
const spans = (stdout) => JSON.parse(line(stdout, 'spans') ?? 'null');

function sameSpansAsPlainNode(args, env = {}) {
  const plain = run(['./otel-register.mjs'], args, env);
  assert.equal(plain.status, 0, plain.stderr);
  const confined = run(['./otel-register.mjs', loaderURL], args, env);
  assert.equal(confined.status, 0, confined.stderr);
  // The one thing on stderr: nosy's denial of fs, which it catches, shown once.
  assert.match(confined.stderr, /^LavaMoat: package "nosy" was not allowed the builtin module "fs" \(the error was caught; shown once\)[^\n]*\n$/);
  assert.equal(line(confined.stdout, 'response'), '200 hello otel');
  // The router's and the request handler's spans, and the route on the server span.
  assert.deepEqual(spans(plain.stdout), ['middleware - query', 'middleware - expressInit', 'middleware - nosyMiddleware',
    'GET /hello/:name', 'request handler - /hello/:name', 'GET']);
  assert.deepEqual(spans(confined.stdout), spans(plain.stdout));
  // nosy (a middleware) sees the instrumented express under both, and is confined only under the loader.
  assert.deepEqual(JSON.parse(line(plain.stdout, 'nosy')), ['express patched: true', 'fs: function', 'wrapper constructor: object']);
  const [patched, fsFinding, constructorFinding] = JSON.parse(line(confined.stdout, 'nosy'));
  assert.equal(patched, 'express patched: true');
  assert.match(fsFinding, /^fs: denied \(LavaMoat: package "nosy" is not allowed the builtin module/);
  assert.match(constructorFinding, /^wrapper constructor: denied/);
}

test('the app imports express (import-in-the-middle): the same spans as under plain node', { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  sameSpansAsPlainNode(['app.mjs']);
});

test('only a dependency requires express (require-in-the-middle in a compartment): the same spans', { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  sameSpansAsPlainNode(['app.mjs', 'dep']);
});

test('a CommonJS app requires express: the same spans', { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  sameSpansAsPlainNode(['app.cjs']);
});

test('import-in-the-middle wrapping only the modules instrumentations hook (createAddHookMessageChannel): the same spans', { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  sameSpansAsPlainNode(['app.mjs'], { OTEL_HOOKS: 'include' });
});

const syncHooks = major >= 25 || (major === 24 && (minor > 11 || (minor === 11 && patch >= 1))) || (major === 22 && (minor > 22 || (minor === 22 && patch >= 3)));
test('import-in-the-middle registered in-thread (module.registerHooks): the same spans', { skip: (!installed && 'the OpenTelemetry devDependencies are not installed') || (!syncHooks && `import-in-the-middle's synchronous hooks need Node 22.22.3+ or 24.11.1+ (this is ${process.version})`) }, () => {
  sameSpansAsPlainNode(['app.mjs'], { OTEL_HOOKS: 'sync' });
});

test("the loader's hooks off the main thread on Node 22+: the same spans", { skip: (!installed && 'the OpenTelemetry devDependencies are not installed') || (major < 22 && 'Node 20 has them off-thread anyway') }, () => {
  sameSpansAsPlainNode(['app.mjs'], { LAVAMOAT_OFF_THREAD_HOOKS: '1' });
});

test("a package's file that a wrapper imports (an export * collision) in a directory calling itself import-in-the-middle stays confined", { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  for (const env of [{}, ...(syncHooks ? [{ OTEL_HOOKS: 'sync' }] : [])]) {
    const plain = run(['./otel-register.mjs'], ['attack-iitm.mjs'], env);
    assert.match(line(plain.stdout, 'impostor') ?? '', /^iitm-impostor native/, plain.stderr);
    const confined = run(['./otel-register.mjs', loaderURL], ['attack-iitm.mjs'], env);
    assert.equal(confined.status, 0, confined.stderr);
    assert.equal(line(confined.stdout, 'impostor'), 'iitm-impostor confined');
  }
});

test('under scuttling, with the global the preload reads kept (process): the same spans', { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  sameSpansAsPlainNode(['app.mjs'], { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enabled":true,"exceptions":["process"]}' });
});

test('instrumentation loaded after the loader is refused with the order that works', { skip: !installed && 'the OpenTelemetry devDependencies are not installed' }, () => {
  const late = run([loaderURL, './otel-register.mjs'], ['app.mjs']);
  assert.notEqual(late.status, 0);
  assert.equal(line(late.stdout, 'response'), undefined);
  assert.match(late.stderr, /LavaMoat: the app's .*otel-register\.mjs loads (import-in-the-middle|@opentelemetry\/instrumentation) .*which instruments modules by hooking Node's module loading/);
  assert.match(late.stderr, /node --import \.\/otel-register\.mjs --import lavamoat\/loader app\.mjs/);
});

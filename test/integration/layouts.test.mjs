// App shapes beyond a single ESM package: a CommonJS app, a confined app package
// (root.usePolicy, with top-level await), a pnpm store with symlinks, npm workspaces,
// and what cannot run in a compartment failing clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

test('a CommonJS app requires its dependencies from their compartments', () => {
  const { status, stdout, stderr } = runWithLoader(fixture('cjs-root'), 'app.cjs');
  assert.equal(status, 0, stderr);
  assert.equal(stdout, 'CJS ROOT 42 LAVAMOAT_DENIED\nimport() from cjs root: true\n');
});

test('root.usePolicy confines the app package itself', () => {
  const { status, stdout, stderr } = runWithLoader(fixture('use-policy'), 'sync-app.mjs');
  assert.equal(status, 0, stderr);
  // console granted, process not; node:fs not granted to the app package.
  assert.equal(stdout, 'root lib 5 undefined function\nLAVAMOAT_DENIED\n');
});

test('root.usePolicy: the confined app package may await at its top level', () => {
  const { status, stdout, stderr } = runWithLoader(fixture('use-policy'), 'app.mjs');
  assert.equal(status, 0, stderr);
  assert.equal(stdout, 'root lib 5 undefined function\nLAVAMOAT_DENIED\n');
});

test('pnpm layout: symlinked store packages get their canonical names and run confined', () => {
  const dir = fixture('pnpm');
  const plain = runPlain(dir, 'app.mjs');
  const confined = runWithLoader(dir, 'app.mjs');
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.equal(confined.stdout, 'alpha uses beta from the store\n');
});

test('workspaces: linked workspace packages are packages like any other', () => {
  const dir = fixture('workspaces');
  const plain = runPlain(dir, 'app.mjs');
  const confined = runWithLoader(dir, 'app.mjs');
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
});

test('a workspace package without the grant is denied', () => {
  const { status, stderr } = runWithLoader(fixture('workspaces'), 'app.mjs', {
    env: { LAVAMOAT_POLICY_OVERRIDE: 'lavamoat/node/deny-override.json' },
  });
  assert.equal(status, 1);
  assert.match(stderr, /package "@ws\/lib-a" is not allowed the package "@ws\/lib-a>@ws\/lib-b"/);
});

test('a dependency that awaits at its top level runs (more in top-level-await.test.mjs)', () => {
  const { status, stdout, stderr } = runWithLoader(fixture('basic'), 'tla.mjs');
  assert.equal(status, 0, stderr);
  assert.equal(stdout, '1\n');
});

test('a package no package.json declares is not loaded, and the error says why on every Node', () => {
  const { status, stdout, stderr } = runWithLoader(fixture('basic'), 'undeclared.mjs');
  assert.equal(status, 1);
  assert.doesNotMatch(stdout, /UNDECLARED RAN/);
  // On Node 20 the error comes from the hooks thread; its message must survive the trip.
  assert.match(stderr, /'undeclared-dep' resolves to .*undeclared-dep[\\/]index\.js, which belongs to no package in the app's dependency tree/);
});

test('sloppy-mode-only code in a dependency fails saying why', () => {
  const { status, stderr } = runWithLoader(fixture('basic'), 'sloppy.mjs');
  assert.equal(status, 1);
  assert.match(stderr, /sloppy-dep\/index\.js \(package "sloppy-dep"\) needs sloppy mode/);
});

test("a dependency's bin as the entry point runs confined, as require.main, under the app's policy", () => {
  const { status, stdout, stderr } = runWithLoader(fixture('bin-entry'), 'node_modules/tool/bin/cli.js', { args: ['--flag', 'x'] });
  assert.equal(status, 0, stderr);
  assert.equal(stdout, 'tool main ran with --flag x\nLAVAMOAT_DENIED\n');
});

test('a dependency reached from a data: module the app made is still confined', () => {
  const { status, stdout, stderr } = runWithLoader(fixture('basic'), 'data-url.mjs');
  assert.equal(status, 0, stderr);
  assert.match(stdout, /^LavaMoat: package "evil" is not allowed the builtin module "fs"/);
});

test("a require the app roots inside a dependency (createRequire(depFile)) still loads it confined", () => {
  const { status, stdout, stderr } = runWithLoader(fixture('basic'), 'rooted-require.mjs');
  assert.equal(status, 0, stderr);
  assert.match(stdout, /^LavaMoat: package "evil" is not allowed the builtin module "fs"/);
});

test('a policy with "resolutions" (not supported) stops the process before the app runs', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-resolutions-'));
  fs.mkdirSync(path.join(dir, 'lavamoat', 'node'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "r", "type": "module" }');
  fs.writeFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), '{ "resources": {}, "resolutions": { "a": { "x": "./y.js" } } }');
  fs.writeFileSync(path.join(dir, 'app.mjs'), "console.log('app ran');");
  const { status, stdout, stderr } = runWithLoader(dir, 'app.mjs');
  assert.equal(status, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /"resolutions" \(module substitutions, deprecated in LavaMoat\) are not supported/);
});

// Top-level await in dependencies, against plain node: each fixture app runs under plain
// node (its dependencies unconfined) and under the loader, and must print the same
// lines in the same order. The fixture's modules log when they start, resume after
// their awaits and finish; they wait for event-loop turns (setImmediate), not for
// milliseconds, so that the order is the same however long loading takes.
//
// What each app covers (test/fixtures/tla):
// - value.mjs: a dependency awaiting before it exports (the spec's ExecuteAsyncModule);
// - reexport.mjs: awaiting modules reached through `export *` and `export ... from`;
// - diamond*.mjs: two importers of one awaiting module, across the app's facades and
//   inside the compartments ([[PendingAsyncDependencies]], [[AsyncParentModules]], each
//   module evaluated once, ancestors in [[AsyncEvaluationOrder]]);
// - siblings.mjs: a synchronous sibling runs while an awaiting one waits; completions
//   in the same tick gather their ancestors in order (GatherAvailableAncestors);
// - cycles.mjs: cycles through awaiting modules (DFS indexes, [[CycleRoot]]);
// - reject*.mjs: a rejected await fails every importer with the same error, every time
//   (AsyncModuleExecutionRejected, [[EvaluationError]]);
// - dynamic.mjs: import() of an awaiting module from the app, from an ES module
//   dependency and from a CommonJS one (the spec's Evaluate() promise);
// - require.cjs: require() of a graph with top-level await (Node's
//   ERR_REQUIRE_ASYNC_MODULE, worded as the running Node words it);
// - shapes.mjs: `for await` at the top level, and an awaiting module compiled by Babel;
// - thenable.mjs: an awaiting module that exports `then`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, runPlain, runWithLoader, runWithLoaderAsync } from '../helpers.mjs';

const dir = fixture('tla');

async function same(entry, { status = 0, env = {} } = {}) {
  // Both at once: the loader's run goes on while plain node's blocks this thread.
  const pending = runWithLoaderAsync(dir, entry, { env });
  const plain = runPlain(dir, entry);
  const confined = await pending;
  assert.equal(plain.status, status, `plain node: ${plain.stderr}`);
  assert.equal(confined.status, status, `under the loader: ${confined.stderr}`);
  assert.equal(confined.stdout, plain.stdout);
  return { plain, confined };
}

test('(a) a dependency that awaits at its top level', async () => {
  const { confined } = await same('value.mjs');
  assert.equal(confined.stdout, 'tla-value: start\ntla-value: after await\napp: value 42 set after the await\n');
});

test('(a) awaiting modules reached only through export * and export ... from', async () => {
  await same('reexport.mjs');
});

test('(b) a diamond over an awaiting module, through the facades and inside the compartments', async () => {
  await same('diamond.mjs');
  const { confined } = await same('diamond-inner.mjs');
  assert.match(confined.stdout, /^dia-c: start\ndia-c: end\ndia-a: runs, c = c\ndia-b: runs, c = c\ndia-top: runs a b\n/);
});

test('(c) sibling order: synchronous siblings run while an awaiting one waits', async () => {
  const { confined } = await same('siblings.mjs');
  assert.match(confined.stdout, /^sib-x: start\nsib-y: runs\n/);
});

test('(d) import cycles through modules that await', async () => {
  await same('cycles.mjs');
});

test('(e) a rejected await fails each importer with the same error, on every import', async () => {
  const { confined } = await same('reject.mjs');
  assert.match(confined.stdout, /app: second import, same error: true\napp: an importer fails with the same error: true\n/);
  assert.match(confined.stdout, /reject-prober: second import, same error: true\nreject-prober: importer fails with the same error: true\n/);
});

test('(e) a static import of a module that rejects stops the app with that error', async () => {
  const { confined } = await same('reject-static.mjs', { status: 1 });
  assert.match(confined.stderr, /Error: tla-reject failed after its await/);
  assert.doesNotMatch(confined.stdout, /never runs/);
});

test('(f) import() of an awaiting module from the app, an ES module and a CommonJS dependency', async () => {
  await same('dynamic.mjs');
});

test('(g) require() of a graph with top-level await fails as Node fails it, also after import()', async () => {
  const { confined } = await same('require.cjs');
  // Refused before any of the graph ran.
  assert.match(confined.stdout, /^app require tla-value: \["ERR_REQUIRE_ASYNC_MODULE"/);
});

test('top-level await in shapes compiled differently (for await, the Babel fallback)', async () => {
  await same('shapes.mjs');
});

test('a module that awaits and exports `then`: bindings for a static import, a thenable for import()', async () => {
  const { confined } = await same('thenable.mjs');
  assert.match(confined.stdout, /app: static import y function\n/);
});

test('Node 22+ with the off-thread hooks (module.register) gives the same facades', async () => {
  await same('diamond.mjs', { env: { LAVAMOAT_OFF_THREAD_HOOKS: '1' } });
  await same('siblings.mjs', { env: { LAVAMOAT_OFF_THREAD_HOOKS: '1' } });
});

test("a stale answer of the hooks (a file changed, its size and time kept) fails once, saying so, then heals", () => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-tla-stale-')));
  try {
    fs.cpSync(fixture('tla'), dir, { recursive: true, filter: (file) => !file.includes(`${path.sep}.cache`) });
    const pkg = path.join(dir, 'node_modules', 'stale');
    fs.mkdirSync(pkg);
    fs.writeFileSync(path.join(pkg, 'package.json'), '{ "name": "stale", "version": "1.0.0", "type": "module", "main": "index.js" }');
    fs.writeFileSync(path.join(pkg, 'index.js'), "export { late } from './late.js';\n");
    const late = path.join(pkg, 'late.js');
    const sync = 'export const late = 1; // .........\n';
    const awaiting = `${'export const late = await 1;'.padEnd(sync.length - 1)}\n`;
    assert.equal(sync.length, awaiting.length);
    fs.writeFileSync(late, sync);
    const when = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    fs.utimesSync(late, when, when);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    manifest.dependencies.stale = '1.0.0';
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest));
    const policyFile = path.join(dir, 'lavamoat', 'node', 'policy.json');
    const policy = JSON.parse(fs.readFileSync(policyFile, 'utf8'));
    policy.resources.stale = {};
    fs.writeFileSync(policyFile, JSON.stringify(policy));
    fs.writeFileSync(path.join(dir, 'stale.mjs'), "import { late } from 'stale';\nconsole.log('late', late);\n");
    assert.equal(runWithLoader(dir, 'stale.mjs').stdout, 'late 1\n');
    fs.writeFileSync(late, awaiting);
    fs.utimesSync(late, when, when);
    const refused = runWithLoader(dir, 'stale.mjs');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /imports a module with top-level await that the loader's hooks did not see .*The next run will\./);
    const healed = runWithLoader(dir, 'stale.mjs');
    assert.equal(healed.status, 0, healed.stderr);
    assert.equal(healed.stdout, 'late 1\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

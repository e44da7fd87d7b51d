// `lavamoat explain`'s parts: what the override did to each grant (src/report/explain.ts),
// the `[resource]` argument (src/report/grants.ts), and the dependency paths that reach a
// package (src/graph/dependency-paths.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evidenceFromDebug, explainGrants } from '../../dist/report/explain.js';
import { matchesQuery, parseGrantQuery } from '../../dist/report/grants.js';
import { buildDependencyGraph, dependentsOf, pathsTo } from '../../dist/graph/dependency-paths.js';
import { buildPackageMap } from '../../dist/graph/package-map.js';
import { mergePolicy } from '../../dist/policy/index.js';

function explain(policyResource, overrideResource, debugInfo = {}, query) {
  const base = mergePolicy({ resources: { p: policyResource } }).resources.p;
  const merged = mergePolicy({ resources: { p: policyResource } }, { resources: { p: overrideResource } }).resources.p;
  return explainGrants({
    base,
    merged,
    override: overrideResource,
    evidence: evidenceFromDebug(debugInfo),
    ...(query ? { query: parseGrantQuery(query) } : {}),
  });
}

const effects = (result) => result.override.map((e) => [e.effect, e.field, e.key, e.removes?.map((r) => r.key), e.narrowedTo, e.replaces, e.coveredBy, e.before]);

describe('explainGrants: what the override did', () => {
  test('removed, with the code that uses what it took away', () => {
    const result = explain(
      { builtin: { 'fs.readFileSync': true }, globals: { 'process.env': true, 'process.nextTick': true } },
      { builtin: { 'fs.readFileSync': false }, globals: { process: false } },
      { builtin: { 'fs.readFileSync': ['index.js:3:1'] }, globals: { 'process.env': ['index.js:4:1'], 'process.nextTick': ['index.js:5:1'] } },
    );
    assert.deepEqual(result.grants, []);
    assert.deepEqual(effects(result), [
      // `process` (a process-strong key) ranks first.
      ['removed', 'globals', 'process', ['process.env', 'process.nextTick'], undefined, undefined, undefined, undefined],
      ['removed', 'builtin', 'fs.readFileSync', ['fs.readFileSync'], undefined, undefined, undefined, undefined],
    ]);
    assert.deepEqual(result.override[1].removes[0].evidence, ['index.js:3:1']);
  });

  test('narrowed: a denial with narrower grants under it is one effect', () => {
    const result = explain({ builtin: { fs: true } }, { builtin: { fs: false, 'fs.readFileSync': true } }, { builtin: { fs: ['a.js:1:1'] } });
    assert.deepEqual(effects(result), [['narrowed', 'builtin', 'fs', ['fs'], ['fs.readFileSync'], undefined, undefined, undefined]]);
    assert.deepEqual(
      result.grants.map((g) => [g.key, g.origin, g.level, g.evidence]),
      [['fs.readFileSync', 'override', 'other', undefined]],
    );
  });

  test('added (replacing narrower grants), changed, restated, and no effect', () => {
    const result = explain(
      { builtin: { 'fs.statSync': true, 'path.join': true }, globals: { counter: 'write', setTimeout: true } },
      {
        builtin: { fs: true, 'path.join': true, 'os.EOL': false },
        globals: { counter: true },
        packages: { other: true },
        native: true,
      },
      { builtin: { 'fs.statSync': ['a.js:1:1'], 'path.join': ['a.js:2:1'] } },
    );
    assert.deepEqual(effects(result), [
      ['added', 'native', 'native', undefined, undefined, undefined, undefined, undefined],
      ['added', 'builtin', 'fs', undefined, undefined, ['fs.statSync'], undefined, undefined],
      ['no-effect', 'builtin', 'os.EOL', undefined, undefined, undefined, undefined, undefined],
      ['restated', 'builtin', 'path.join', undefined, undefined, undefined, undefined, undefined],
      ['changed', 'globals', 'counter', undefined, undefined, undefined, undefined, 'write'],
      ['added', 'packages', 'other', undefined, undefined, undefined, undefined, undefined],
    ]);
    assert.deepEqual(
      result.grants.map((g) => [g.field, g.key, g.origin, g.level]),
      [
        ['native', 'native', 'override', 'process'],
        ['builtin', 'fs', 'override', 'fs-write'],
        ['builtin', 'path.join', 'policy', 'other'],
        ['globals', 'counter', 'override', 'other'],
        ['globals', 'setTimeout', 'policy', 'other'],
        ['packages', 'other', 'override', 'other'],
      ],
    );
    assert.deepEqual(result.grants.find((g) => g.key === 'path.join').evidence, ['a.js:2:1']);
  });

  test('a grant the policy already gives through a wider one has no effect', () => {
    const result = explain({ builtin: { fs: true } }, { builtin: { 'fs.readFile': true } });
    assert.deepEqual(effects(result), [['no-effect', 'builtin', 'fs.readFile', undefined, undefined, undefined, 'fs', undefined]]);
  });

  test('[resource] narrows grants and override entries', () => {
    const policy = { builtin: { 'fs.readFileSync': true, 'path.join': true }, globals: { 'process.env': true }, packages: { 'a>debug': true } };
    const override = { globals: { 'process.env': false } };
    assert.deepEqual(explain(policy, override, {}, 'fs').grants.map((g) => g.key), ['fs.readFileSync']);
    assert.deepEqual(explain(policy, override, {}, 'fs.readFileSync').grants.map((g) => g.key), ['fs.readFileSync']);
    assert.deepEqual(explain(policy, override, {}, 'debug').grants.map((g) => g.key), ['a>debug']);
    const env = explain(policy, override, {}, 'process.env.HOME');
    assert.deepEqual([env.grants.length, env.override.map((e) => e.key)], [0, ['process.env']]);
    assert.deepEqual(explain(policy, override, {}, 'native').grants, []);
  });
});

describe('grant queries', () => {
  test('parse: prefixes pick the field, node: means a builtin', () => {
    assert.deepEqual(parseGrantQuery('native'), { field: 'native', key: 'native', text: 'native' });
    assert.deepEqual(parseGrantQuery('node:fs'), { field: 'builtin', key: 'fs', text: 'node:fs' });
    assert.deepEqual(parseGrantQuery('builtin:node:fs'), { field: 'builtin', key: 'fs', text: 'builtin:node:fs' });
    assert.deepEqual(parseGrantQuery('globals:fetch'), { field: 'globals', key: 'fetch', text: 'globals:fetch' });
    assert.deepEqual(parseGrantQuery('process.env'), { key: 'process.env', text: 'process.env' });
  });

  test('match: the key, keys below it, the key above it; packages by their last part', () => {
    const q = parseGrantQuery('fs.readFile');
    assert.ok(matchesQuery(q, 'builtin', 'fs'));
    assert.ok(matchesQuery(q, 'builtin', 'fs.readFile'));
    assert.ok(!matchesQuery(q, 'builtin', 'fs.readFileSync'));
    assert.ok(matchesQuery(parseGrantQuery('fs'), 'builtin', 'fs.promises.readFile'));
    assert.ok(!matchesQuery(parseGrantQuery('globals:fs'), 'builtin', 'fs'));
    assert.ok(matchesQuery(parseGrantQuery('ms'), 'packages', 'express>debug>ms'));
    assert.ok(!matchesQuery(parseGrantQuery('s'), 'packages', 'express>debug>ms'));
  });
});

function makeTree(spec) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-paths-'));
  for (const [dir, manifest] of Object.entries(spec)) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.writeFileSync(path.join(root, dir, 'package.json'), JSON.stringify(manifest));
  }
  return fs.realpathSync(root);
}

describe('dependency paths', () => {
  test('every path to a package, shortest first, the first one its canonical name; who declares it', (t) => {
    const root = makeTree({
      '.': { name: 'app', dependencies: { web: '1', log: '1' }, devDependencies: { test: '1' } },
      'node_modules/web': { name: 'web', dependencies: { util: '1', mid: '1' } },
      'node_modules/log': { name: 'log', dependencies: { util: '1' } },
      'node_modules/mid': { name: 'mid', dependencies: { util: '1' } },
      'node_modules/util': { name: 'util', dependencies: { web: '1' } },
      'node_modules/test': { name: 'test', dependencies: { util: '1' } },
    });
    t.after(() => fs.rmSync(root, { recursive: true, force: true }));
    const map = buildPackageMap(root);
    const util = map.packages.find((p) => p.packageName === 'util');
    assert.equal(util.name, 'log>util');
    const graph = buildDependencyGraph(root);
    const { paths } = pathsTo(graph, util.dir);
    // Same length: `log` before `web` (shorter name); then the longer path. The cycle util>web>util is not followed.
    assert.deepEqual(paths, [['log', 'util'], ['web', 'util'], ['web', 'mid', 'util']]);
    assert.deepEqual(pathsTo(graph, util.dir, { limit: 1 }).paths, [['log', 'util']]);
    assert.deepEqual(
      dependentsOf(graph, util.dir).map((d) => path.relative(root, d.dir)).sort(),
      ['node_modules/log', 'node_modules/mid', 'node_modules/web'],
    );
    // devDependencies of the root only when asked.
    const withDev = pathsTo(buildDependencyGraph(root, { includeDev: true }), util.dir).paths;
    assert.deepEqual(withDev.slice(0, 3), [['log', 'util'], ['web', 'util'], ['test', 'util']]);
    // Unreachable: no path.
    assert.deepEqual(pathsTo(graph, path.join(root, 'node_modules', 'test')).paths, []);
  });
});

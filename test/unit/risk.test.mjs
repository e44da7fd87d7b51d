// The risk ranking of grants (src/report/risk.ts) and the power diff between two effective
// policies that `lavamoat diff` ranks with it (src/report/policy-diff.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { atOrAbove, classifyGrant, parseRiskLevel, RISK_LEVELS } from '../../dist/report/risk.js';
import { addedAtOrAbove, comparePolicies, diffResource } from '../../dist/report/policy-diff.js';
import { mergePolicy } from '../../dist/policy/index.js';

const level = (field, key, value) => classifyGrant(field, key, value).level;

describe('classifyGrant', () => {
  test('process-strong: modules that run code or programs, the whole process, native addons', () => {
    for (const key of [
      'child_process',
      'child_process.exec',
      'node:child_process.spawn',
      'vm',
      'vm.runInThisContext',
      'worker_threads.Worker',
      'cluster',
      'module.createRequire',
      'inspector',
      'inspector/promises.Session',
      'v8.setFlagsFromString',
      'wasi.WASI',
      'process',
      'process.binding',
    ]) {
      assert.equal(level('builtin', key), 'process', key);
    }
    for (const key of ['process', 'process.binding', 'process.dlopen', 'process.mainModule', 'process.kill', 'process.setuid', 'process._linkedBinding']) {
      assert.equal(level('globals', key, true), 'process', key);
    }
    assert.equal(level('native', 'native', true), 'process');
  });

  test('fs writes: the whole module, and members that write, create, remove or open', () => {
    for (const key of [
      'fs',
      'fs/promises',
      'fs.promises',
      'fs.writeFile',
      'fs.writeFileSync',
      'fs.appendFile',
      'fs.mkdirSync',
      'fs.rm',
      'fs.unlinkSync',
      'fs.renameSync',
      'fs.createWriteStream',
      'fs.openSync',
      'fs.promises.writeFile',
      'fs/promises.rm',
      'fs.symlink',
      'fs.chmodSync',
      'fs.SyncWriteStream',
    ]) {
      assert.equal(level('builtin', key), 'fs-write', key);
    }
    for (const key of ['fs.readFileSync', 'fs.statSync', 'fs.promises.readFile', 'fs/promises.readdir', 'fs.existsSync', 'fs.createReadStream', 'fs.constants']) {
      assert.equal(level('builtin', key), 'other', key);
    }
  });

  test('network: the network modules and globals, but not their pure helpers', () => {
    for (const key of ['net', 'net.connect', 'http', 'http.createServer', 'https.request', 'http2.connect', 'dgram.createSocket', 'dns.lookup', 'dns.promises.resolve', 'tls.connect']) {
      assert.equal(level('builtin', key), 'network', key);
    }
    for (const key of ['fetch', 'WebSocket', 'EventSource']) assert.equal(level('globals', key, true), 'network', key);
    for (const key of ['net.isIP', 'net.isIPv6', 'http.STATUS_CODES', 'http.METHODS', 'tls.rootCertificates']) {
      assert.equal(level('builtin', key), 'other', key);
    }
  });

  test('the rest is other, with a reason where one helps', () => {
    assert.equal(level('builtin', 'path.join'), 'other');
    assert.equal(level('builtin', 'crypto.createHash'), 'other');
    assert.equal(level('globals', 'setTimeout', true), 'other');
    assert.equal(level('packages', 'a>b', true), 'other');
    const env = classifyGrant('globals', 'process.env', true);
    assert.deepEqual(env, { level: 'other', reason: 'reads the environment (secrets)' });
    assert.match(classifyGrant('globals', 'myGlobal', 'write').reason, /writable/);
    // A read grant of the report has no writer (case 261); the writer by name, or "write", does.
    assert.equal(level('globals', 'process.report', true), 'other');
    assert.equal(level('globals', 'process.report.writeReport', true), 'fs-write');
    assert.equal(level('builtin', 'process.report.writeReport'), 'fs-write');
    assert.equal(level('globals', 'process.report', 'write'), 'fs-write');
  });

  test('levels: order, --fail-on spellings, at-or-above', () => {
    assert.deepEqual(RISK_LEVELS, ['process', 'fs-write', 'network', 'other']);
    assert.equal(parseRiskLevel('any'), 'other');
    assert.equal(parseRiskLevel('FS-WRITE'), 'fs-write');
    assert.equal(parseRiskLevel('high'), undefined);
    assert.ok(atOrAbove('process', 'network'));
    assert.ok(atOrAbove('network', 'network'));
    assert.ok(!atOrAbove('other', 'network'));
    assert.ok(atOrAbove('other', 'other'));
  });
});

const grants = (list) => list.map(([field, key, value = true]) => ({ field, key, value }));

describe('diffResource: changes in power, not in text', () => {
  test('a wider grant replaces narrower ones: one added power', () => {
    const { added, removed } = diffResource(grants([['builtin', 'fs.readFileSync'], ['builtin', 'fs.statSync']]), grants([['builtin', 'fs']]));
    assert.equal(removed.length, 0);
    assert.deepEqual(
      added.map((c) => [c.key, c.level, c.replaces]),
      [['fs', 'fs-write', ['fs.readFileSync', 'fs.statSync']]],
    );
  });

  test('a narrowed grant: one removed power, with what stays', () => {
    const { added, removed } = diffResource(grants([['globals', 'process']]), grants([['globals', 'process.env']]));
    assert.equal(added.length, 0);
    assert.deepEqual(
      removed.map((c) => [c.key, c.level, c.narrowedTo]),
      [['process', 'process', ['process.env']]],
    );
  });

  test('a global made writable is an added power; made read-only, a removed one; true and "redefine" are the same', () => {
    let diff = diffResource(grants([['globals', 'x', true]]), grants([['globals', 'x', 'write']]));
    assert.deepEqual(diff.added.map((c) => [c.key, c.value, c.before]), [['x', 'write', true]]);
    diff = diffResource(grants([['globals', 'x', 'write']]), grants([['globals', 'x', true]]));
    assert.deepEqual([diff.added.length, diff.removed.map((c) => [c.key, c.value, c.before])], [0, [['x', 'write', true]]]);
    diff = diffResource(grants([['globals', 'x', true]]), grants([['globals', 'x', 'redefine']]));
    assert.deepEqual([diff.added.length, diff.removed.length], [0, 0]);
  });

  test("strict mode's \"write\" on a package is an added power; back to true, a removed one", () => {
    let diff = diffResource(grants([['packages', 'moment', true]]), grants([['packages', 'moment', 'write']]));
    assert.deepEqual(diff.added.map((c) => [c.key, c.value, c.before, c.reason]), [['moment', 'write', true, 'may change its exports for everyone (strict mode\'s "write")']]);
    diff = diffResource(grants([['packages', 'moment', 'write']]), grants([['packages', 'moment', true]]));
    assert.deepEqual([diff.added.length, diff.removed.map((c) => [c.key, c.value])], [0, [['moment', 'write']]]);
  });

  test('within a package, riskiest first', () => {
    const { added } = diffResource(
      [],
      grants([['globals', 'setTimeout'], ['builtin', 'http.request'], ['builtin', 'fs.writeFile'], ['builtin', 'child_process.fork'], ['packages', 'a']]),
    );
    assert.deepEqual(added.map((c) => c.level), ['process', 'fs-write', 'network', 'other', 'other']);
  });
});

describe('comparePolicies', () => {
  const before = mergePolicy({
    resources: {
      quiet: { globals: { setTimeout: true } },
      net: { builtin: { 'http.request': true } },
      gone: { builtin: { child_process: true } },
      'a>dep': { globals: { fetch: true } },
    },
  });
  const after = mergePolicy({
    resources: {
      quiet: { globals: { setTimeout: true, clearTimeout: true } },
      net: { builtin: { 'http.request': true, 'fs.writeFileSync': true } },
      fresh: { builtin: { 'child_process.exec': true } },
      dep: { globals: { fetch: true } },
    },
  });

  test('packages ranked by their riskiest added power, removals-only last; new and removed packages', () => {
    const diff = comparePolicies(before, after);
    assert.deepEqual(
      diff.packages.map((p) => [p.name, p.status, p.highest]),
      [
        ['fresh', 'added', 'process'],
        ['net', 'changed', 'fs-write'],
        ['dep', 'added', 'network'],
        ['quiet', 'changed', 'other'],
        ['gone', 'removed', 'process'],
        ['a>dep', 'removed', 'network'],
      ],
    );
  });

  test('summary counts by level, the highest added level, and a hint when a canonical name only changed', () => {
    const diff = comparePolicies(before, after);
    assert.deepEqual(diff.summary.added, { process: 1, 'fs-write': 1, network: 1, other: 1 });
    assert.deepEqual(diff.summary.removed, { process: 1, 'fs-write': 0, network: 1, other: 0 });
    assert.deepEqual([diff.summary.addedPackages, diff.summary.removedPackages], [['dep', 'fresh'], ['a>dep', 'gone']]);
    assert.equal(diff.summary.highestAdded, 'process');
    assert.equal(diff.packages.find((p) => p.name === 'dep').maybeRenamedFrom, 'a>dep');
    assert.equal(addedAtOrAbove(diff, 'process'), 1);
    assert.equal(addedAtOrAbove(diff, 'network'), 3);
    assert.equal(addedAtOrAbove(diff, 'other'), 4);
  });

  test('no change: nothing listed; root.usePolicy dropped means the app is unconfined (a process-level addition)', () => {
    assert.deepEqual(comparePolicies(before, before).packages, []);
    const confined = { ...before, root: { usePolicy: 'app' } };
    const diff = comparePolicies(confined, before);
    assert.deepEqual(diff.root, { before: 'app', change: 'added', level: 'process' });
    assert.equal(diff.summary.highestAdded, 'process');
    assert.equal(addedAtOrAbove(diff, 'process'), 1);
    assert.equal(comparePolicies(before, confined).root.change, 'removed');
  });

  test('`false` entries (override denials kept by the merge) grant nothing', () => {
    const old = mergePolicy({ resources: { p: { builtin: { fs: true } } } });
    const denied = mergePolicy({ resources: { p: { builtin: { fs: true } } } }, { resources: { p: { builtin: { fs: false } } } });
    const diff = comparePolicies(old, denied);
    assert.deepEqual(diff.packages[0].removed.map((c) => [c.key, c.level]), [['fs', 'fs-write']]);
  });
});

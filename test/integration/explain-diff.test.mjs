// `lavamoat explain` and `lavamoat diff` end to end, through the CLI.
//
// explain: on a temporary copy of gen-esm-app, with the policy and policy-debug.json that
// `lavamoat generate --debug` writes and an override that removes, adds, widens and
// changes grants; then without policy-debug.json (the analysis runs, writing nothing).
//
// diff: on test/fixtures/policy-diff (old/ is a policy with an override next to it that
// narrows config-loader's `fs` to `fs.readFileSync`; new/ grants the same in policy.json
// itself, widens logger's `fs.appendFile` to `fs`, gives http-client
// `child_process.spawn` and `fetch`, parser a writable global, drops legacy-util and adds
// native-thing and logger>ws; invalid/ misspells `builtin`), and on a temporary git
// repository whose project is in a subdirectory, by revision.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyFixtureToTemp, fixture, runCli } from '../helpers.mjs';

const temps = [];
after(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
};

function cli(cwd, args) {
  const result = runCli(cwd, args);
  return result;
}

function json(cwd, args) {
  const result = cli(cwd, [...args, '--json']);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe('lavamoat explain', () => {
  let dir;
  const nodeDir = () => path.join(dir, 'lavamoat', 'node');
  before(() => {
    dir = copyFixtureToTemp('gen-esm-app', temps);
    const generated = cli(dir, ['generate', 'app.mjs', '--debug', '--no-cache']);
    assert.equal(generated.status, 0, generated.stderr);
    writeJson(path.join(nodeDir(), 'policy-override.json'), {
      resources: {
        'cjs-lib': { builtin: { fs: true }, globals: { 'process.env': false, genFixtureCounter: true } },
        'esm-lib': { globals: { fetch: false } },
      },
    });
  });

  test('text: the evidence, the dependency paths and what the override did', () => {
    const result = cli(dir, ['explain', 'cjs-lib']);
    assert.equal(result.status, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, /^cjs-lib \(cjs-lib@1\.0\.0, node_modules\/cjs-lib\)$/m);
    assert.match(out, /^ {2}policy: {3}lavamoat\/node\/policy\.json \+ lavamoat\/node\/policy-override\.json$/m);
    assert.match(out, /^ {2}evidence: lavamoat\/node\/policy-debug\.json$/m);
    assert.match(out, /^ {2}cjs-lib {2}<- canonical name$/m);
    assert.match(out, /declared by: the app \(dependencies\)/);
    // Riskiest first; the override's `fs` shows the evidence of the `fs.statSync` it replaces.
    assert.match(out, /^ {2}fs-write {2}builtin fs +\[override\] +the whole file system module.*\n {6}node_modules\/cjs-lib\/index\.js:7:30$/m);
    assert.match(out, /^ {2}other {5}packages dual-lib +\[policy\.json\]\n {6}node_modules\/cjs-lib\/index\.js:5:18 require 'dual-lib'$/m);
    assert.match(out, /^ {2}other {5}globals genFixtureCounter +\[override\]/m);
    assert.match(out, /^ {2}added {5}builtin fs: true {2}adds it, replacing policy\.json's fs\.statSync$/m);
    assert.match(out, /^ {2}removed {3}globals process\.env: false {2}takes away process\.env\n.*denied at run time.*\n {14}node_modules\/cjs-lib\/index\.js:8:29 process\.env\.HOME \(typeof\)$/m);
    assert.match(out, /^ {2}changed {3}globals genFixtureCounter: true {2}changes policy\.json's "write"$/m);
    assert.doesNotMatch(out, /^ {2}\S+ +globals process\.env /m, 'process.env is no longer granted');
  });

  test('a package reached by two paths: the canonical one first, who declares it, who may load it', () => {
    const e = json(dir, ['explain', 'dual-lib']);
    assert.deepEqual(e.paths, {
      canonical: ['dual-lib'],
      others: [['cjs-lib', 'dual-lib']],
      more: false,
      declaredBy: [
        { package: '$root$', name: 'dual-lib', field: 'dependencies' },
        { package: 'cjs-lib', name: 'dual-lib', field: 'dependencies' },
      ],
    });
    assert.deepEqual(e.grantedTo, ['cjs-lib']);
    assert.deepEqual(
      e.grants.map((g) => [g.field, g.key, g.origin, g.level, g.evidence]),
      [
        ['builtin', 'crypto.createHash', 'policy', 'other', ['node_modules/dual-lib/esm/index.mjs:2:35']],
        ['builtin', 'util.inspect', 'policy', 'other', ['node_modules/dual-lib/cjs/index.cjs:2:30']],
      ],
    );
  });

  test('[resource] narrows to one grant; a package is found by its last name part', () => {
    const env = json(dir, ['explain', 'cjs-lib', 'process.env']);
    assert.equal(env.resource, 'process.env');
    assert.deepEqual(env.grants, []);
    assert.deepEqual(
      env.override.map((o) => [o.effect, o.key, o.removes]),
      [['removed', 'process.env', [{ key: 'process.env', evidence: ['node_modules/cjs-lib/index.js:8:29 process.env.HOME (typeof)'] }]]],
    );
    const fsRead = json(dir, ['explain', 'cjs-lib', 'fs.statSync']);
    assert.deepEqual(fsRead.grants.map((g) => [g.key, g.origin]), [['fs', 'override']]);
    const nested = json(dir, ['explain', 'esm-lib', 'nested']);
    assert.deepEqual(nested.grants.map((g) => [g.field, g.key, g.evidence]), [['packages', 'esm-lib>nested', ["node_modules/esm-lib/index.js:3:1 import 'nested'"]]]);
    const byName = json(dir, ['explain', 'esm-lib>nested', 'setImmediate']);
    assert.equal(byName.package, 'esm-lib>nested');
    assert.deepEqual(byName.paths.canonical, ['esm-lib', 'nested']);
    const none = cli(dir, ['explain', 'esm-lib', 'child_process']);
    assert.equal(none.status, 0, none.stderr);
    assert.match(none.stdout, /Grants in effect about child_process \(0\), riskiest first:\n {2}\(none: esm-lib is not granted child_process\)/);
  });

  test('without policy-debug.json: the analysis of the package, or of the app from --entry; nothing is written', () => {
    const copy = copyFixtureToTemp('gen-esm-app', temps);
    fs.cpSync(nodeDir(), path.join(copy, 'lavamoat', 'node'), { recursive: true });
    fs.rmSync(path.join(copy, 'lavamoat', 'node', 'policy-debug.json'));
    const before = fs.readdirSync(path.join(copy, 'lavamoat', 'node')).sort();

    const alone = json(copy, ['explain', 'esm-lib', '--no-cache']);
    assert.deepEqual(alone.evidenceSource, { kind: 'analysis', scope: 'package', modules: ['node_modules/esm-lib/config.json', 'node_modules/esm-lib/index.js'] });
    assert.deepEqual(
      alone.grants.map((g) => [g.key, g.evidence]),
      [
        ['os.platform', ['node_modules/esm-lib/index.js:7:37']],
        ['path.join', ['node_modules/esm-lib/index.js:6:23']],
        ['setTimeout', ['node_modules/esm-lib/index.js:8:53']],
        ['esm-lib>nested', ["node_modules/esm-lib/index.js:3:1 import 'nested'"]],
      ],
    );
    assert.deepEqual(alone.override.map((o) => [o.effect, o.key, o.removes]), [['removed', 'fetch', [{ key: 'fetch', evidence: ['node_modules/esm-lib/index.js:10:27 (typeof)'] }]]]);

    const walked = json(copy, ['explain', 'dyn-lib', '--entry', 'app.mjs']);
    assert.equal(walked.evidenceSource.scope, 'app');
    assert.deepEqual(walked.grants.map((g) => [g.key, g.evidence]), [['queueMicrotask', ['node_modules/dyn-lib/lazy.mjs:1:42 (typeof)']]]);

    assert.deepEqual(fs.readdirSync(path.join(copy, 'lavamoat', 'node')).sort(), before, 'no file written');
    assert.ok(!fs.existsSync(path.join(copy, 'node_modules', '.cache')), 'no cache written');
  });

  test('evidence older than policy.json, grants nobody recorded, and the code using what neither file grants', () => {
    const copy = copyFixtureToTemp('gen-esm-app', temps);
    fs.cpSync(nodeDir(), path.join(copy, 'lavamoat', 'node'), { recursive: true });
    const policyFile = path.join(copy, 'lavamoat', 'node', 'policy.json');
    const policy = readJson(policyFile);
    policy.resources['esm-lib'].globals.crypto = true; // by hand
    delete policy.resources['esm-lib'].builtin['os.platform']; // the code still uses it
    writeJson(policyFile, policy);
    const e = json(copy, ['explain', 'esm-lib']);
    assert.equal(e.evidenceSource.stale, true);
    assert.deepEqual(e.grants.find((g) => g.key === 'crypto').evidence, undefined);
    assert.deepEqual(e.ungranted, [{ field: 'builtin', key: 'os.platform', evidence: ['node_modules/esm-lib/index.js:7:37'] }]);
    const text = cli(copy, ['explain', 'esm-lib']).stdout;
    assert.match(text, /written for another version of this package's policy/);
    assert.match(text, /globals crypto +\[policy\.json\]\n {6}\(no place recorded: added to policy\.json by hand, or the evidence is older\)/);
    assert.match(text, /Used by the code but granted by neither file.*\n {2}builtin os\.platform\n {6}node_modules\/esm-lib\/index\.js:7:37/);
  });

  test('errors: an unknown or ambiguous package is a usage error (2), an invalid policy a failure (1)', () => {
    const unknown = cli(dir, ['explain', 'left-pad']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no package 'left-pad' in lavamoat\/node\/policy\.json or in the dependency tree/);

    const copy = copyFixtureToTemp('gen-esm-app', temps);
    fs.cpSync(nodeDir(), path.join(copy, 'lavamoat', 'node'), { recursive: true });
    const policyFile = path.join(copy, 'lavamoat', 'node', 'policy.json');
    const policy = readJson(policyFile);
    policy.resources['esm-lib>util'] = { globals: { a: true } };
    policy.resources['cjs-lib>util'] = { globals: { b: true } };
    writeJson(policyFile, policy);
    const ambiguous = cli(copy, ['explain', 'util']);
    assert.equal(ambiguous.status, 2);
    assert.match(ambiguous.stderr, /'util' names 2 packages; give the canonical name of one: cjs-lib>util, esm-lib>util/);
    const notInstalled = cli(copy, ['explain', 'cjs-lib>util']);
    assert.equal(notInstalled.status, 0, notInstalled.stderr);
    assert.match(notInstalled.stdout, /Not installed: no package of the dependency tree has this canonical name/);

    policy.resources['esm-lib'].globals.fetch = 'maybe';
    writeJson(policyFile, policy);
    const invalid = cli(copy, ['explain', 'esm-lib']);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /policy\.json: resources\["esm-lib"\]\.globals\["fetch"\] must be/);
    assert.equal(cli(dir, ['explain']).status, 2);
  });
});

const diffFixture = (...parts) => fixture('policy-diff', ...parts);

describe('lavamoat diff: policy files', () => {
  const cwd = fixture('policy-diff');
  const args = ['diff', 'old/policy.json', 'new/policy.json'];

  test('text: per package, riskiest first; a file is merged with the override next to it', () => {
    const result = cli(cwd, args);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        'LavaMoat policy diff',
        '  old: old/policy.json + old/policy-override.json',
        '  new: new/policy.json',
        '',
        'http-client',
        '  + process   builtin child_process.spawn   runs programs',
        '  + network   globals fetch                 network access',
        'new package native-thing',
        '  + process   globals process               the whole process object (env, exit, bindings, dlopen, ...)',
        '  + process   native                        loads native addons',
        'logger',
        '  + fs-write  builtin fs                    replaces fs.appendFile; the whole file system module: reads and writes files',
        'new package logger>ws',
        '  + network   globals WebSocket             network access',
        'parser',
        '  + other     globals parserCache: "write"  writable: assignments reach every package granted it',
        'removed package legacy-util',
        '  - other     builtin util.inherits',
        '',
        'Added: 7 powers (3 process, 1 fs-write, 2 network, 1 other) in 5 packages; new packages: logger>ws, native-thing',
        'Removed: 1 power (1 other) in 1 package; removed packages: legacy-util',
        '',
      ].join('\n'),
    );
    // config-loader: fs narrowed by the old override, and by the new policy itself: no change in power.
    assert.doesNotMatch(result.stdout, /config-loader/);
  });

  test('--fail-on: exit 1 when a power at or above the level is added, 0 otherwise', () => {
    for (const [level, status, count] of [
      ['process', 1, 3],
      ['fs-write', 1, 4],
      ['network', 1, 6],
      ['any', 1, 7],
    ]) {
      const result = cli(cwd, [...args, '--fail-on', level]);
      assert.equal(result.status, status, `${level}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`${count} added powers at or above`));
    }
    // The other way round only legacy-util's util.inherits is added.
    const back = cli(cwd, ['diff', 'new/policy.json', 'old/policy.json', '--fail-on', 'network']);
    assert.equal(back.status, 0, back.stderr);
    assert.match(back.stdout, /Passes --fail-on network: nothing added at or above network\./);
    assert.equal(cli(cwd, ['diff', 'new/policy.json', 'old/policy.json', '--fail-on', 'any']).status, 1);
  });

  test('markdown for a pull-request comment, and JSON', () => {
    const md = cli(cwd, [...args, '--format', 'markdown']);
    assert.equal(md.status, 0, md.stderr);
    assert.match(md.stdout, /^### LavaMoat policy changes\n\n`old\/policy\.json` → `new\/policy\.json`: \*\*7 powers added\*\* \(3 process, 1 fs-write, 2 network, 1 other\); 1 removed; new packages: `logger>ws`, `native-thing`; removed packages: `legacy-util`\.$/m);
    const rows = md.stdout.split('\n').filter((line) => line.startsWith('| **') || line.startsWith('| other'));
    assert.deepEqual(rows.slice(0, 4), [
      '| **process** | `http-client` | builtin `child_process.spawn` | runs programs |',
      '| **process** | `native-thing` (new) | globals `process` | the whole process object (env, exit, bindings, dlopen, ...) |',
      '| **process** | `native-thing` (new) | `native` | loads native addons |',
      '| **fs-write** | `logger` | builtin `fs` | replaces fs.appendFile; the whole file system module: reads and writes files |',
    ]);
    assert.match(md.stdout, /<details><summary>Removed \(1\)<\/summary>/);

    const j = JSON.parse(cli(cwd, [...args, '--json']).stdout);
    assert.deepEqual(j.old, { label: 'old/policy.json', files: ['old/policy.json', 'old/policy-override.json'] });
    assert.deepEqual(j.packages.map((p) => [p.name, p.status, p.highest]), [
      ['http-client', 'changed', 'process'],
      ['native-thing', 'added', 'process'],
      ['logger', 'changed', 'fs-write'],
      ['logger>ws', 'added', 'network'],
      ['parser', 'changed', 'other'],
      ['legacy-util', 'removed', 'other'],
    ]);
    assert.deepEqual(j.packages[2].added[0], {
      change: 'added',
      field: 'builtin',
      key: 'fs',
      value: true,
      level: 'fs-write',
      reason: 'the whole file system module: reads and writes files',
      replaces: ['fs.appendFile'],
    });
    assert.equal(j.summary.highestAdded, 'process');
  });

  test('input errors exit 2: an invalid policy, neither a file nor a revision, bad options', () => {
    const invalid = cli(cwd, ['diff', 'old/policy.json', 'invalid/policy.json']);
    assert.equal(invalid.status, 2);
    assert.match(invalid.stderr, /invalid\/policy\.json: resources\["logger"\] has unknown key "builtins"/);
    const neither = cli(os.tmpdir(), ['diff', diffFixture('old', 'policy.json'), 'no-such-thing', '--root', cwd]);
    assert.equal(neither.status, 2);
    assert.match(neither.stderr, /no-such-thing is neither a file nor a git revision/);
    assert.equal(cli(cwd, [...args, '--fail-on', 'high']).status, 2);
    assert.equal(cli(cwd, [...args, '--format', 'html']).status, 2);
    assert.equal(cli(cwd, ['diff']).status, 2);
    assert.equal(cli(cwd, ['diff', 'a', 'b', 'c']).status, 2);
  });
});

describe('lavamoat diff: git revisions', () => {
  let repo;
  let app;
  const git = (...args) =>
    execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'commit.gpgsign=false', ...args], {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_GLOBAL: os.devNull, GIT_CONFIG_NOSYSTEM: '1' },
    });
  const policyDir = () => path.join(app, 'lavamoat', 'node');

  before(() => {
    repo = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-diff-git-')));
    temps.push(repo);
    // The project is a subdirectory of the repository: paths are relative to its root.
    app = path.join(repo, 'app');
    writeJson(path.join(app, 'package.json'), { name: 'app', version: '1.0.0' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'no policy yet');
    fs.cpSync(diffFixture('old'), policyDir(), { recursive: true });
    git('add', '.');
    git('commit', '-q', '-m', 'policy');
    fs.copyFileSync(diffFixture('new', 'policy.json'), path.join(policyDir(), 'policy.json'));
    fs.rmSync(path.join(policyDir(), 'policy-override.json'));
    git('add', '-A');
    git('commit', '-q', '-m', 'new policy');
  });

  test('two revisions: the policy merged with its override at each', () => {
    const j = json(app, ['diff', 'HEAD~1', 'HEAD']);
    assert.equal(j.old.label, 'HEAD~1');
    assert.match(j.old.commit, /^[0-9a-f]{40}$/);
    assert.deepEqual(j.old.files, ['HEAD~1:app/lavamoat/node/policy.json', 'HEAD~1:app/lavamoat/node/policy-override.json']);
    assert.deepEqual(j.new.files, ['HEAD:app/lavamoat/node/policy.json']);
    // The same as the files: config-loader's narrowing came from the override, now from the policy.
    const files = JSON.parse(cli(fixture('policy-diff'), ['diff', 'old/policy.json', 'new/policy.json', '--json']).stdout);
    assert.deepEqual(j.packages, files.packages);
    assert.deepEqual(j.summary, files.summary);
    assert.equal(cli(app, ['diff', 'HEAD~1', 'HEAD', '--fail-on', 'process']).status, 1);
  });

  test('a revision without the policy counts as empty; one argument compares with the working tree', () => {
    const first = cli(app, ['diff', 'HEAD~2', 'HEAD~1']);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^ {2}old: HEAD~2 \([0-9a-f]{12}\): no policy \(counted as empty\)$/m);
    assert.match(first.stdout, /^new package config-loader$/m);

    // Uncommitted: an override that takes http-client's child_process away again.
    writeJson(path.join(policyDir(), 'policy-override.json'), { resources: { 'http-client': { builtin: { 'child_process.spawn': false } } } });
    try {
      const worktree = cli(app, ['diff', 'HEAD']);
      assert.equal(worktree.status, 0, worktree.stderr);
      assert.match(worktree.stdout, /^ {2}new: working tree: lavamoat\/node\/policy\.json \+ lavamoat\/node\/policy-override\.json$/m);
      assert.match(worktree.stdout, /^http-client\n {2}- process {3}builtin child_process\.spawn {2}runs programs$/m);
      assert.equal(cli(app, ['diff', 'HEAD', '--fail-on', 'any']).status, 0);
      // A file of the project is merged with the project's override, as the loader merges them.
      assert.deepEqual(json(app, ['diff', 'HEAD', 'lavamoat/node/policy.json']).packages, json(app, ['diff', 'HEAD']).packages);
    } finally {
      fs.rmSync(path.join(policyDir(), 'policy-override.json'));
    }
  });

  test('an invalid policy at a revision, and an unknown revision, exit 2', () => {
    fs.copyFileSync(diffFixture('invalid', 'policy.json'), path.join(policyDir(), 'policy.json'));
    git('commit', '-q', '-am', 'broken policy');
    const invalid = cli(app, ['diff', 'HEAD~1', 'HEAD']);
    assert.equal(invalid.status, 2);
    assert.match(invalid.stderr, /^HEAD:app\/lavamoat\/node\/policy\.json: resources\["logger"\] has unknown key "builtins"/m);
    fs.writeFileSync(path.join(policyDir(), 'policy.json'), '{ "resources": ');
    git('commit', '-q', '-am', 'not JSON');
    const notJson = cli(app, ['diff', 'HEAD~2', 'HEAD']);
    assert.equal(notJson.status, 2);
    assert.match(notJson.stderr, /HEAD:app\/lavamoat\/node\/policy\.json: invalid JSON, unexpected end of file/);
    const unknown = cli(app, ['diff', 'v9.9.9']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /v9\.9\.9 is neither a file nor a git revision/);
  });
});

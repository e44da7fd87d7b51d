// `lavamoat generate` and `lavamoat run` end to end, on temporary copies of the fixture
// apps (the repository stays clean): the generated policy runs the app under the loader
// with the same output as plain node, and says why each grant is there.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, projectDir, runPlain, runWithLoader } from '../helpers.mjs';

const cli = path.join(projectDir, 'bin', 'lavamoat.mjs');
const temps = [];
after(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

/** A private copy of a fixture app in the system's temporary directory. */
function copyFixture(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lavamoat-${name}-`));
  temps.push(dir);
  fs.cpSync(fixture(name), dir, { recursive: true, verbatimSymlinks: true });
  return fs.realpathSync(dir);
}

function lavamoat(cwd, args, { env = {} } = {}) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const policyOf = (dir) => readJson(path.join(dir, 'lavamoat', 'node', 'policy.json'));

function generate(dir, args) {
  const result = lavamoat(dir, ['generate', ...args]);
  assert.equal(result.status, 0, result.stderr);
  return result;
}

/** Generates, then runs the app under the loader and under plain node: same output, no denial. */
function roundTrip(dir, entry) {
  const generated = generate(dir, [entry]);
  const plain = runPlain(dir, entry);
  assert.equal(plain.status, 0, plain.stderr);
  const confined = runWithLoader(dir, entry);
  assert.doesNotMatch(confined.stderr, /LavaMoat/, 'no denial');
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  return { generated, plain, confined };
}

describe('round trip: generate, then run under the loader', () => {
  test('ESM app with CommonJS and ESM dependencies, a dual package, JSON and import()', () => {
    const dir = copyFixture('gen-esm-app');
    const { generated, confined } = roundTrip(dir, 'app.mjs');
    assert.match(confined.stdout, /^dual-lib import esm:/m);
    assert.match(confined.stdout, /^shared global 2$/m);
    assert.match(generated.stderr, /wrote lavamoat\/node\/policy\.json: 7 packages, 14 modules, 17 grants, 0 warnings/);
    assert.deepEqual(policyOf(dir), {
      resources: {
        'cjs-lib': {
          builtin: { 'fs.statSync': true, 'path.join': true },
          globals: { 'Buffer.from': true, genFixtureCounter: 'write', 'process.env': true },
          packages: { 'dual-lib': true },
        },
        // Both conditions of the dual package are loaded: `import` from the app, `require` from cjs-lib.
        'dual-lib': { builtin: { 'crypto.createHash': true, 'util.inspect': true } },
        'dyn-lib': { globals: { queueMicrotask: true } },
        'esm-dyn': { builtin: { 'path.sep': true }, globals: { structuredClone: true } },
        'esm-lib': {
          builtin: { 'os.platform': true, 'path.join': true },
          globals: { fetch: true, setTimeout: true },
          packages: { 'esm-lib>nested': true },
        },
        'esm-lib>nested': { globals: { setImmediate: true } },
      },
    });
  });

  test('lavamoat run gives the app its arguments and the same output', () => {
    const dir = copyFixture('gen-esm-app');
    generate(dir, ['app.mjs']);
    const plain = runPlain(dir, 'app.mjs');
    const run = lavamoat(dir, ['run', 'app.mjs']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, plain.stdout);
  });

  test('CommonJS app', () => {
    const dir = copyFixture('gen-cjs-app');
    const { confined } = roundTrip(dir, 'app.js');
    assert.match(confined.stdout, /^cjs-b tick nested cjs-c 2 6162 true$/m);
    assert.deepEqual(policyOf(dir).resources['cjs-b'], {
      builtin: { 'events.EventEmitter': true },
      globals: { 'Buffer.from': true, 'Buffer.isBuffer': true, 'process.nextTick': true, setTimeout: true },
      packages: { 'cjs-b>cjs-c': true },
    });
  });

  test('CommonJS app with global aliases, namespaces and module.require', () => {
    const dir = copyFixture('gen-cjs-edge');
    roundTrip(dir, 'app.js');
    const { resources } = policyOf(dir);
    assert.deepEqual(resources['edge-alias'], { globals: { clearInterval: true, setInterval: true } });
    assert.deepEqual(resources['edge-module'], { builtin: { 'os.EOL': true, events: true } });
  });

  test('import() inside a dependency, of a module that imports a builtin', () => {
    const dir = copyFixture('gen-esm-app');
    const { confined } = roundTrip(dir, 'app-esm-dynamic.mjs');
    assert.equal(confined.stdout, `separator ${path.sep}\n`);
    assert.deepEqual(policyOf(dir).resources['esm-dyn'], { builtin: { 'path.sep': true }, globals: { structuredClone: true } });
  });

  test('the real-package app (express, lodash, zod, ...) into a policy file outside the repository', (t) => {
    if (!fs.existsSync(path.join(projectDir, 'node_modules', 'express'))) {
      t.skip('the devDependencies with the real packages are not installed');
      return;
    }
    const dir = fixture('real-app');
    const policy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-real-')), 'policy.json');
    temps.push(path.dirname(policy));
    const result = lavamoat(dir, ['generate', 'app.mjs', '--policy', policy, '--no-cache']);
    assert.equal(result.status, 0, result.stderr);
    const env = { FORCE_COLOR: '1', DEBUG: '', LAVAMOAT_POLICY: policy, LAVAMOAT_POLICY_OVERRIDE: path.join(path.dirname(policy), 'none.json') };
    const plain = runPlain(dir, 'app.mjs', { env });
    const confined = runWithLoader(dir, 'app.mjs', { env });
    assert.equal(confined.status, 0, confined.stderr);
    assert.equal(confined.stdout, plain.stdout);
    assert.equal(confined.stderr, plain.stderr);
  });
});

describe('top-level await', () => {
  test('modules that await at their top level are analysed like any other: the generated policy runs each app as plain node does', () => {
    const dir = copyFixture('tla');
    for (const entry of ['diamond-inner.mjs', 'siblings.mjs', 'cycles.mjs', 'reject.mjs', 'shapes.mjs', 'dynamic.mjs']) {
      fs.rmSync(path.join(dir, 'lavamoat'), { recursive: true, force: true });
      const { generated } = roundTrip(dir, entry);
      assert.match(generated.stderr, / 0 warnings/, entry);
    }
    // The last one (dynamic.mjs): import() inside packages, an awaiting module's own grants.
    const { resources } = policyOf(dir);
    assert.deepEqual(resources['dyn-esm'].packages, { 'tla-value': true });
    assert.deepEqual(resources['dyn-cjs'].packages, { 'sib-x': true });
    assert.equal(resources['tla-value'].globals.setImmediate, true);
  });
});

describe('worker threads', () => {
  test('the policy is the same bytes with parsing on worker threads', (t) => {
    if (!fs.existsSync(path.join(projectDir, 'node_modules', 'express'))) {
      t.skip('the devDependencies with the real packages are not installed');
      return;
    }
    const dir = fixture('real-app');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-jobs-'));
    temps.push(out);
    const policies = [0, 2].map((jobs) => {
      const file = path.join(out, `policy-${jobs}.json`);
      const debug = path.join(out, `debug-${jobs}.json`);
      const result = lavamoat(dir, ['generate', 'app.mjs', '--no-cache', '--jobs', String(jobs), '--policy', file, '--debug', '--policy-debug', debug]);
      assert.equal(result.status, 0, result.stderr);
      return [fs.readFileSync(file, 'utf8'), fs.readFileSync(debug, 'utf8')];
    });
    assert.deepEqual(policies[1], policies[0]);
  });
});

describe('a dependency that changes', () => {
  test('starting to use child_process: the next run is denied, and regeneration adds exactly that grant', () => {
    const dir = copyFixture('gen-esm-app');
    generate(dir, ['app.mjs']);
    const before = policyOf(dir);
    assert.equal(runWithLoader(dir, 'app.mjs').status, 0);

    const file = path.join(dir, 'node_modules', 'cjs-lib', 'index.js');
    fs.appendFileSync(file, "\nexports.spawnable = typeof require('node:child_process').execFileSync;\n");
    const denied = runWithLoader(dir, 'app.mjs');
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /package "cjs-lib" is not allowed the builtin module "child_process"/);

    const regenerated = generate(dir, ['app.mjs']);
    const after = policyOf(dir);
    assert.deepEqual(after.resources['cjs-lib'].builtin, { 'child_process.execFileSync': true, 'fs.statSync': true, 'path.join': true });
    delete after.resources['cjs-lib'].builtin['child_process.execFileSync'];
    assert.deepEqual(after, before, 'nothing else changed');
    // The command says what changed.
    assert.match(regenerated.stderr, /changes from the previous lavamoat\/node\/policy\.json:\n {2}\+ cjs-lib builtin child_process\.execFileSync: true\nLavaMoat: wrote/);
    assert.equal(runWithLoader(dir, 'app.mjs').status, 0);
  });
});

describe('bins: lavamoat run --bin and generate --bin', () => {
  test('a CommonJS bin of a dependency runs confined, with its arguments and exit code', () => {
    const dir = copyFixture('gen-bin-app');
    const generated = generate(dir, ['--bin', 'gen-tool']);
    assert.match(generated.stderr, /bin 'gen-tool' is node_modules\/gen-tool\/cli\.js/);
    assert.deepEqual(policyOf(dir).resources['gen-tool'], {
      builtin: { 'fs.readFileSync': true, 'path.join': true },
      globals: { 'console.log': true, 'process.argv': true, 'process.cwd': true, 'process.exitCode': 'write' },
      packages: { 'gen-tool>tool-helper': true },
    });
    const run = lavamoat(dir, ['run', '--bin', 'gen-tool', '--', 'build', '--watch']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'GEN-TOOL BUILD,--WATCH IN GEN-BIN-APP\n');
    const failing = lavamoat(dir, ['run', '--bin', 'gen-tool', '--', '--fail']);
    assert.equal(failing.status, 3);
  });

  test('the bin is confined: a grant taken away is denied', () => {
    const dir = copyFixture('gen-bin-app');
    generate(dir, ['--bin', 'gen-tool']);
    const file = path.join(dir, 'lavamoat', 'node', 'policy.json');
    const policy = readJson(file);
    delete policy.resources['gen-tool'].builtin;
    fs.writeFileSync(file, JSON.stringify(policy));
    const run = lavamoat(dir, ['run', '--bin', 'gen-tool']);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /package "gen-tool" is not allowed the builtin module "fs"/);
  });

  test('an unknown bin names the ones that exist', () => {
    const dir = copyFixture('gen-bin-app');
    const result = lavamoat(dir, ['run', '--bin', 'webpack']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /no dependency .* has a bin named 'webpack'\. Bins of the root's dependencies: gen-tool\./);
  });
});

describe('output files', () => {
  test('deterministic: the same bytes with and without the cache, run after run', () => {
    const dir = copyFixture('gen-esm-app');
    const file = path.join(dir, 'lavamoat', 'node', 'policy.json');
    const debugFile = path.join(dir, 'lavamoat', 'node', 'policy-debug.json');
    generate(dir, ['app.mjs', '--debug', '--no-cache']);
    const first = [fs.readFileSync(file, 'utf8'), fs.readFileSync(debugFile, 'utf8')];
    generate(dir, ['app.mjs', '--debug']);
    const warm = generate(dir, ['app.mjs', '--debug']);
    assert.match(warm.stderr, /, 12 from cache\)/);
    assert.deepEqual([fs.readFileSync(file, 'utf8'), fs.readFileSync(debugFile, 'utf8')], first);
    assert.ok(first[0].endsWith('}\n'));
    assert.match(first[0], /^\{\n {2}"resources": \{\n {4}"cjs-lib": \{\n {6}"builtin"/);
  });

  test('policy-debug.json: for every grant, the file:line:column that caused it', () => {
    const dir = copyFixture('gen-esm-app');
    generate(dir, ['app.mjs', '--debug']);
    const policy = policyOf(dir);
    const debug = readJson(path.join(dir, 'lavamoat', 'node', 'policy-debug.json'));
    assert.deepEqual(debug.resources, policy.resources);
    for (const [name, resource] of Object.entries(policy.resources)) {
      for (const field of ['globals', 'builtin', 'packages']) {
        for (const key of Object.keys(resource[field] ?? {})) {
          const evidence = debug.debugInfo[name][field][key];
          assert.ok(evidence.length > 0, `${name} ${field} ${key}`);
          for (const item of evidence) {
            const [, file, line, column] = /^(.+?):(\d+):(\d+)/.exec(item);
            const text = fs.readFileSync(path.join(dir, file), 'utf8').split('\n')[Number(line) - 1];
            assert.ok(text !== undefined && Number(column) <= text.length + 1, item);
          }
        }
      }
    }
    assert.deepEqual(debug.debugInfo['cjs-lib'].globals['process.env'], ['node_modules/cjs-lib/index.js:8:29 process.env.HOME (typeof)']);
    assert.deepEqual(debug.debugInfo['cjs-lib'].packages['dual-lib'], ["node_modules/cjs-lib/index.js:5:18 require 'dual-lib'"]);
    assert.ok(debug.debugInfo['cjs-lib'].modules.includes('node_modules/cjs-lib/data.json'));
  });

  test('policy-override.json is read, never written; root.usePolicy confines the root', () => {
    const dir = copyFixture('gen-esm-app');
    const override = path.join(dir, 'lavamoat', 'node', 'policy-override.json');
    fs.mkdirSync(path.dirname(override), { recursive: true });
    const text = '{ "root": { "usePolicy": "app-root" }, "resources": { "app-root": { "globals": { "console": true } } } }\n';
    fs.writeFileSync(override, text);
    generate(dir, ['app.mjs']);
    assert.equal(fs.readFileSync(override, 'utf8'), text);
    const { resources } = policyOf(dir);
    assert.deepEqual(resources['app-root'], {
      globals: { URL: true, 'console.log': true, genFixtureCounter: true },
      packages: { 'cjs-lib': true, 'dual-lib': true, 'dyn-lib': true, 'esm-dyn': true, 'esm-lib': true, nested: true },
    });
  });

  test('--no-write prints the policy and writes nothing', () => {
    const dir = copyFixture('gen-cjs-app');
    const result = generate(dir, ['app.js', '--no-write']);
    assert.ok(!fs.existsSync(path.join(dir, 'lavamoat')));
    assert.deepEqual(Object.keys(JSON.parse(result.stdout).resources), ['cjs-a', 'cjs-b', 'cjs-c', 'cjs-d', 'cjs-e']);
  });

  test('a corrupt cache is ignored', () => {
    const dir = copyFixture('gen-cjs-app');
    generate(dir, ['app.js']);
    const expected = fs.readFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), 'utf8');
    const cacheDir = path.join(dir, 'node_modules', '.cache', 'lavamoat', 'generate');
    const [cacheFile] = fs.readdirSync(cacheDir);
    fs.writeFileSync(path.join(cacheDir, cacheFile), '{"salt": "truncat');
    const result = generate(dir, ['app.js']);
    assert.match(result.stderr, /0 from cache/);
    assert.equal(fs.readFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), 'utf8'), expected);
  });
});

describe('warnings, native addons, --dev', () => {
  test('code that cannot be analysed is named with file:line; addons and addon loaders are native', () => {
    const dir = copyFixture('gen-warn-app');
    const result = generate(dir, ['app.js', '--debug']);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    assert.deepEqual(
      lines.map((l) => /^warning: (\S+) \[[^\]]+\] ([^:]+):/.exec(l)?.slice(1, 3).join(' ')),
      [
        'node_modules/bindings/bindings.js:3:28 require() with a computed argument',
        'node_modules/dynamic-req/index.js:2:22 require() with a computed argument',
        'node_modules/dynamic-req/index.js:3:23 import() with a computed specifier',
        'node_modules/dynamic-req/index.js:4:25 eval()',
      ],
    );
    // A require in a try block that finds nothing is an optional dependency: summed up, listed with --verbose.
    assert.match(result.stderr, /^ {2}optional-user: 1 optional module not installed \('not-installed-optional'\)$/m);
    assert.match(result.stderr, /5 packages, 7 modules, 7 grants, 4 warnings in /);
    const verbose = generate(dir, ['app.js', '--verbose']);
    assert.match(verbose.stderr, /optional-user\/index\.js:3:11 \[optional-user\] optional module 'not-installed-optional' is not installed/);
    const { resources } = policyOf(dir);
    assert.equal(resources['has-addon'].native, true);
    assert.equal(resources['uses-bindings'].native, true);
    // The addon loader requires its caller's addon by a path it computes: it is granted the caller.
    assert.deepEqual(resources['uses-bindings>bindings'].packages, { 'uses-bindings': true });
    const debug = readJson(path.join(dir, 'lavamoat', 'node', 'policy-debug.json'));
    assert.equal(debug.warnings.length, 5);
    assert.equal(debug.warnings.filter((w) => w.level === 'info').length, 1);
    assert.deepEqual(debug.debugInfo['has-addon'].native, ['node_modules/has-addon/build/Release/addon.node (addon)']);
    assert.match(debug.debugInfo['uses-bindings>bindings'].packages['uses-bindings'][0], /\(loads the addon of uses-bindings\)$/);
  });

  test('ranked by what they cost: denials with the override entry, then failures, then one line per package', () => {
    const dir = copyFixture('gen-rank-app');
    const result = generate(dir, ['app.js']);
    const lines = result.stderr.split('\n');
    const at = (pattern) => lines.findIndex((l) => pattern.test(l));
    const denied = at(/^LavaMoat: 2 warnings where a package will be denied what the analysis could not see; each is followed by what to add to lavamoat\/node\/policy-override\.json:$/);
    const fails = at(/^LavaMoat: 2 warnings where code fails under the loader whatever the policy grants:$/);
    const other = at(/^LavaMoat: 3 other warnings, by package \(--verbose lists each\):$/);
    assert.ok(denied === 0 && denied < fails && fails < other, result.stderr);
    const short = (l) => (l.startsWith('warning: ') ? l.replace(/(\] .*?): .*/, '$1') : l);
    assert.deepEqual(lines.slice(denied + 1, fails).map(short), [
      'warning: node_modules/global-peek/index.js:1:25 [global-peek] computed member access on the global object',
      '  grant the globals it reaches: {"resources":{"global-peek":{"globals":{"<global>":true}}}}',
      'warning: node_modules/plugin-host/index.js:2:26 [plugin-host] require() with a computed argument',
      '  grant what it loads: {"resources":{"plugin-host":{"packages":{"<package>":true},"builtin":{"<builtin module>":true}}}}',
      '  have generation analyse what it loads: "include": ["<package>"] or [{"name":"plugin-host","modules":["<path of its own module>"]}]',
    ]);
    // The entries are JSON that the override takes.
    for (const line of lines.slice(denied + 1, fails).filter((l) => l.startsWith('  grant'))) {
      assert.ok(JSON.parse(line.slice(line.indexOf('{'))).resources);
    }
    assert.deepEqual(lines.slice(fails + 1, other).map(short), [
      'warning: node_modules/old-style/index.js:2:8 [old-style] sloppy-mode code (Strict mode code may not include a with statement)',
      'warning: node_modules/polyfill/index.js:1:1 [polyfill] assignment to Array.prototype.last',
    ]);
    assert.deepEqual(lines.slice(other + 1, other + 4), [
      '  the app: 1 dynamic use of the global object',
      "  plugin-host: 1 specifier that resolves to nothing ('peer-not-installed')",
      "  quiet-opt: 1 optional module not installed ('quiet-opt-native')",
    ]);
    assert.match(lines[other + 4], /^LavaMoat: wrote lavamoat\/node\/policy\.json: 5 packages, 6 modules, 1 grants, 6 warnings in /);

    // --verbose: every warning on its own line, the rest after the two ranked sections.
    const verbose = generate(dir, ['app.js', '--verbose']);
    const all = verbose.stderr.split('\n').filter((l) => /^(warning|note): /.test(l));
    assert.equal(all.length, 7);
    assert.deepEqual(all.slice(4).map((l) => l.split(' ')[1]), ['app.js:8:28', 'node_modules/plugin-host/index.js:3:22', 'node_modules/quiet-opt/index.js:3:10']);
    assert.doesNotMatch(verbose.stderr, /by package/);

    // A confined app (root.usePolicy): its own dynamic global use is a denial too, under its resource name.
    fs.writeFileSync(path.join(dir, 'lavamoat', 'node', 'policy-override.json'), '{ "root": { "usePolicy": "rank-root" } }\n');
    const confined = generate(dir, ['app.js']);
    assert.match(confined.stderr, /^LavaMoat: 3 warnings where a package will be denied/m);
    assert.match(confined.stderr, /^warning: app\.js:8:28 computed member access on the global object.*\n {2}grant the globals it reaches: \{"resources":\{"rank-root":/m);
  });

  test('include: a module only a computed require reaches is analysed when the policy names it', () => {
    const dir = copyFixture('gen-warn-app');
    fs.mkdirSync(path.join(dir, 'node_modules', 'dynamic-req', 'plugins'));
    fs.writeFileSync(path.join(dir, 'node_modules', 'dynamic-req', 'plugins', 'net.js'), "module.exports = require('net').connect;\n");
    fs.mkdirSync(path.join(dir, 'lavamoat', 'node'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'lavamoat', 'node', 'policy-override.json'),
      JSON.stringify({ include: [{ name: 'dynamic-req', modules: ['plugins/net.js'] }] }),
    );
    generate(dir, ['app.js']);
    assert.deepEqual(policyOf(dir).resources['dynamic-req'].builtin, { 'net.connect': true });
  });

  test('devDependencies are in the package map only with --dev', () => {
    const dir = copyFixture('gen-esm-app');
    fs.writeFileSync(path.join(dir, 'dev.mjs'), "import dev from 'json-lib';\nconsole.log(dev.dev);\n");
    const without = lavamoat(dir, ['generate', 'dev.mjs', '--no-write']);
    assert.equal(without.status, 0, without.stderr);
    assert.match(without.stderr, /dev\.mjs:1:1 'json-lib' resolves to node_modules\/json-lib\/index\.js, which belongs to no package in the dependency tree/);
    assert.deepEqual(JSON.parse(without.stdout).resources, {});
    const withDev = lavamoat(dir, ['generate', 'dev.mjs', '--no-write', '--dev']);
    assert.equal(withDev.status, 0, withDev.stderr);
    assert.deepEqual(JSON.parse(withDev.stdout).resources, { 'json-lib': { globals: { 'process.cwd': true } } });
  });
});

describe('command line', () => {
  test('--help, --version and usage errors', () => {
    const help = lavamoat(projectDir, ['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /lavamoat generate <entry>/);
    assert.match(lavamoat(projectDir, ['help', 'generate']).stdout, /--policy-debug <file>/);
    const version = lavamoat(projectDir, ['--version']);
    assert.equal(version.stdout.trim(), readJson(path.join(projectDir, 'package.json')).version);
    const bad = lavamoat(projectDir, ['generate', '--frobnicate', 'x.js']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /Unknown option '--frobnicate'/);
    const missing = lavamoat(projectDir, ['generate', 'no-such-entry.mjs']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /entry module no-such-entry\.mjs not found/);
  });

  test('validate checks the policy merged with its override', () => {
    const dir = copyFixture('gen-cjs-app');
    generate(dir, ['app.js']);
    const ok = lavamoat(dir, ['validate']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /lavamoat\/node\/policy\.json: valid/);
    fs.writeFileSync(path.join(dir, 'lavamoat', 'node', 'policy-override.json'), '{ "resources": { "cjs-a": { "builtins": {} } } }');
    const bad = lavamoat(dir, ['validate']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /builtins/);
  });

  test('run: the exit code and the ending signal are the app\'s', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-run-'));
    temps.push(dir);
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "run-app", "version": "1.0.0", "type": "module" }');
    fs.writeFileSync(path.join(dir, 'exit.mjs'), 'console.log(process.argv.slice(2).join(" ")); process.exitCode = 7;');
    fs.writeFileSync(path.join(dir, 'signal.mjs'), "process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000);");
    generate(dir, ['exit.mjs']);
    const exited = lavamoat(dir, ['run', 'exit.mjs', 'a', '--', '--b', '-c']);
    assert.equal(exited.status, 7, exited.stderr);
    assert.equal(exited.stdout, 'a --b -c\n');
    const signalled = lavamoat(dir, ['signal.mjs']);
    assert.equal(signalled.signal, 'SIGTERM');
  });

  test('--root and --policy: paths relative to the project root', () => {
    const dir = copyFixture('gen-cjs-app');
    const result = lavamoat(os.tmpdir(), ['generate', path.join(dir, 'app.js'), '--root', dir, '--policy', 'custom/p.json']);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'custom', 'p.json')));
    const run = lavamoat(os.tmpdir(), ['run', path.join(dir, 'app.js'), '--root', dir, '--policy', 'custom/p.json']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^cjs-e /m);
  });
});

// From what packages use to policy: collapsing, presence tests, writes, order; and the CLI's arguments.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildResources, PackageUsage, sortKeys, stringifyPolicy } from '../../dist/generate/policy.js';
import { parseCli } from '../../dist/cli/args.js';
import { resolveBin } from '../../dist/cli/bin.js';
import { diffPolicies } from '../../dist/cli/output.js';
import { fixture } from '../helpers.mjs';

function usage(build) {
  const u = new PackageUsage();
  build(u);
  return u;
}

const build = (entries, usePolicy) => buildResources(new Map(entries), '$root$', usePolicy);

describe('buildResources', () => {
  test('strict mode: "write" where the code changes an object global or another package\'s exports; without it, as LavaMoat', () => {
    const entries = () => [
      [
        'pkg',
        usage((u) => {
          u.addGlobal('process.env', 'read', 'a.js:1:1 process.env.HOME');
          u.addGlobalChange('process.env', 'changes', 'process.env', 'a.js:2:1 process.env (changed)');
          u.addGlobal('process.argv', 'read', 'a.js:3:1');
          // A string or a function handed to a function cannot be changed there.
          u.addGlobalChange('process.argv', 'passed', 'process.argv.length', 'a.js:3:1');
          u.addGlobal('performance.now', 'read', 'a.js:4:1');
          u.addGlobalChange('performance.now', 'passed', 'performance.now', 'a.js:4:1');
          u.addPackage('moment', 'a.js:5:1');
          u.addPackageChange('moment', 'a.js:5:1 (changes its exports)');
          u.addPackage('lodash', 'a.js:6:1');
        }),
      ],
    ];
    const strict = buildResources(new Map(entries()), '$root$', undefined, true);
    assert.deepEqual(strict.resources.pkg, {
      globals: { 'performance.now': true, 'process.argv': true, 'process.env': 'write' },
      packages: { lodash: true, moment: 'write' },
    });
    assert.deepEqual(strict.debug.pkg.packages.moment, ['a.js:5:1', 'a.js:5:1 (changes its exports)']);
    const plain = buildResources(new Map(entries()), '$root$', undefined, false);
    assert.deepEqual(plain.resources.pkg, {
      globals: { 'performance.now': true, 'process.argv': true, 'process.env': true },
      packages: { lodash: true, moment: true },
    });
  });

  test('never both "a" and "a.b": the longer path folds into the shorter, with its evidence', () => {
    const { resources, debug } = build([
      [
        'pkg',
        usage((u) => {
          u.addGlobal('process', 'read', 'a.js:1:1');
          u.addGlobal('process.env', 'read', 'a.js:2:1 process.env.HOME');
          u.addBuiltin('fs', 'a.js:3:1');
          u.addBuiltin('fs.readFile', 'a.js:4:1');
          u.addBuiltin('fs.promises.readFile', 'a.js:5:1');
          u.addBuiltin('path.join', 'a.js:6:1');
        }),
      ],
    ]);
    assert.deepEqual(resources.pkg, { builtin: { fs: true, 'path.join': true }, globals: { process: true } });
    assert.deepEqual(debug.pkg.globals.process, ['a.js:1:1', 'a.js:2:1 process.env.HOME']);
    assert.deepEqual(debug.pkg.builtin.fs, ['a.js:3:1', 'a.js:4:1', 'a.js:5:1']);
  });

  test('a redefinition makes the grant "redefine", above "write" and reads', () => {
    const { resources } = build([
      [
        'pkg',
        usage((u) => {
          u.addGlobal('Request', 'read', 'a.js:1:1');
          u.addGlobal('Request', 'redefine', 'a.js:2:1');
          u.addGlobal('Response', 'write', 'a.js:3:1');
          u.addGlobal('Response', 'redefine', 'a.js:4:1');
        }),
      ],
    ]);
    assert.deepEqual(resources.pkg.globals, { Request: 'redefine', Response: 'redefine' });
  });

  test('a write anywhere makes the grant "write"', () => {
    const { resources } = build([
      [
        'pkg',
        usage((u) => {
          u.addGlobal('counter', 'read', 'a.js:1:1');
          u.addGlobal('counter', 'write', 'b.js:1:1');
          u.addGlobal('process.exitCode', 'write', 'b.js:2:1');
        }),
      ],
    ]);
    assert.deepEqual(resources.pkg.globals, { counter: 'write', 'process.exitCode': 'write' });
  });

  test('presence tests: satisfied by a grant at, above or below the path; granted only when alone', () => {
    const { resources, debug } = build([
      [
        'pkg',
        usage((u) => {
          u.addGlobal('process', 'presence', 'a.js:1:1');
          u.addGlobal('process.env', 'read', 'a.js:2:1');
          u.addGlobal('document', 'presence', 'a.js:3:1');
          u.addGlobal('navigator', 'presence', 'a.js:4:1');
          u.addGlobal('navigator.userAgent', 'read', 'a.js:5:1');
        }),
      ],
    ]);
    assert.deepEqual(resources.pkg.globals, { document: true, 'navigator.userAgent': true, 'process.env': true });
    assert.deepEqual(debug.pkg.globals['process.env'], ['a.js:1:1 (typeof)', 'a.js:2:1']);
  });

  test('presence of a function global needs the function itself (a narrowed view is an object)', () => {
    const { resources } = build([
      [
        'pkg',
        usage((u) => {
          u.addGlobal('Buffer', 'presence', 'a.js:1:1');
          u.addGlobal('Buffer.from', 'read', 'a.js:2:1');
        }),
      ],
    ]);
    assert.deepEqual(resources.pkg.globals, { Buffer: true });
  });

  test('packages and native; empty resources are left out; keys sorted', () => {
    const { resources, grants } = build([
      ['z', usage((u) => u.addPackage('y', 'z.js:1:1 require y'))],
      ['empty', usage((u) => u.modules.add('empty/index.js'))],
      ['a>b', usage((u) => u.native.add('a/b/x.node (addon)'))],
    ]);
    assert.deepEqual(Object.keys(resources), ['a>b', 'z']);
    assert.deepEqual(resources['a>b'], { native: true });
    assert.deepEqual(resources.z, { packages: { y: true } });
    assert.equal(grants, 2);
  });

  test('the root gets no resource, unless root.usePolicy names one', () => {
    const root = () => usage((u) => u.addBuiltin('fs', 'app.js:1:1'));
    assert.deepEqual(build([['$root$', root()]]).resources, {});
    assert.deepEqual(build([['$root$', root()]], 'app-root').resources, { 'app-root': { builtin: { fs: true } } });
  });

  test('stringifyPolicy: sorted keys at every level, 2 spaces, final newline', () => {
    const text = stringifyPolicy({ resources: { b: { packages: { z: true, a: true } }, a: { globals: { y: true } } } });
    assert.equal(text, '{\n  "resources": {\n    "a": {\n      "globals": {\n        "y": true\n      }\n    },\n    "b": {\n      "packages": {\n        "a": true,\n        "z": true\n      }\n    }\n  }\n}\n');
    assert.deepEqual(Object.keys(sortKeys({ b: 1, a: 2, B: 3 })), ['B', 'a', 'b']);
  });
});

describe('lavamoat command line', () => {
  test('commands, aliases and the default command', () => {
    assert.equal(parseCli(['generate', 'app.mjs']).command, 'generate');
    assert.equal(parseCli(['gen', 'app.mjs']).target, 'app.mjs');
    assert.equal(parseCli(['app.mjs']).command, 'run');
    assert.equal(parseCli([]).command, 'help');
    assert.equal(parseCli(['--version']).command, 'version');
    assert.deepEqual([parseCli(['generate', '--help']).command, parseCli(['generate', '--help']).helpFor], ['help', 'generate']);
  });

  test('run: arguments after the entry and after -- go to the app', () => {
    const args = parseCli(['run', 'app.mjs', 'a', '--', '--port', '80', '--policy', 'x']);
    assert.equal(args.target, 'app.mjs');
    assert.deepEqual(args.appArgs, ['a', '--port', '80', '--policy', 'x']);
    assert.equal(args.policy, undefined);
  });

  test('--bin as a flag, or --bin=<name>', () => {
    assert.deepEqual([parseCli(['run', '--bin', 'webpack', '--', 'build']).bin, parseCli(['run', '--bin', 'webpack']).target], [true, 'webpack']);
    assert.equal(parseCli(['generate', '--bin=webpack']).target, 'webpack');
    assert.equal(parseCli(['run', '-b', 'tool']).bin, true);
  });

  test('path and behaviour options, LavaMoat spellings', () => {
    const args = parseCli(['generate', 'a.js', '-p', 'p.json', '-o', 'o.json', '--policy-debug', 'd.json', '--root', 'r', '--dev', '--debug', '--no-write', '--no-cache']);
    assert.deepEqual(
      [args.policy, args.policyOverride, args.policyDebug, args.root, args.dev, args.debug, args.write, args.cache],
      ['p.json', 'o.json', 'd.json', 'r', true, true, false, false],
    );
  });

  test('usage errors: unknown options, options of another command, missing entry, contradictions', () => {
    assert.throws(() => parseCli(['generate', 'a.js', '--nope']), /Unknown option '--nope'/);
    assert.throws(() => parseCli(['run', 'a.js', '--debug']), /--debug does not apply to 'run'/);
    assert.throws(() => parseCli(['generate']), /needs an entry module/);
    assert.throws(() => parseCli(['run', '--bin']), /needs the name of a bin/);
    assert.throws(() => parseCli(['generate', 'a.js', '--write', '--no-write']), /contradict/);
    assert.throws(() => parseCli(['generate', 'a.js', 'b.js']), /takes one entry/);
  });

  test('resolveBin: a dependency bin by name, with the bins on offer when it is missing', () => {
    const dir = fixture('gen-bin-app');
    const bin = resolveBin('gen-tool', dir);
    assert.match(bin.file, /node_modules\/gen-tool\/cli\.js$/);
    assert.throws(() => resolveBin('webpack', dir), /no dependency .* has a bin named 'webpack'\. Bins of the root's dependencies: gen-tool/);
  });

  test('diffPolicies lists added, removed and changed grants', () => {
    const before = { resources: { a: { globals: { x: true } }, b: { builtin: { fs: true } } } };
    const after = { resources: { a: { globals: { x: 'write' } }, c: { native: true } } };
    assert.deepEqual(diffPolicies(before, after), ['~ a globals x: true -> "write"', '- b builtin fs: true', '+ c native: true']);
  });
});

describe('parse cache', async () => {
  const { AnalysisCache, cacheKey } = await import('../../dist/generate/cache.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const analysis = { imports: [], globals: [{ path: 'fetch', access: 'read', line: 1, column: 1 }], warnings: [] };

  test('keyed by content and format; survives a save and a load; private directory', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-cache-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const bytes = Buffer.from('fetch(x)');
    assert.notEqual(cacheKey(bytes, 'module'), cacheKey(bytes, 'commonjs'));
    assert.notEqual(cacheKey(bytes, 'module'), cacheKey(Buffer.from('fetch(y)'), 'module'));
    const cache = new AnalysisCache(path.join(dir, 'c'));
    cache.set(cacheKey(bytes, 'module'), analysis);
    cache.save();
    assert.equal(fs.statSync(path.join(dir, 'c')).mode & 0o077, 0);
    const again = new AnalysisCache(path.join(dir, 'c'));
    again.load();
    assert.deepEqual(again.get(cacheKey(bytes, 'module')), analysis);
    assert.equal(again.get(cacheKey(bytes, 'commonjs')), undefined);
  });

  test('a file of another analyser, a corrupt file or a malformed entry is ignored', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-cache-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cache = new AnalysisCache(dir);
    const key = cacheKey(Buffer.from('x'), 'module');
    fs.writeFileSync(cache.file, JSON.stringify({ salt: 'other', entries: { [key]: analysis } }));
    cache.load();
    assert.equal(cache.get(key), undefined);
    fs.writeFileSync(cache.file, '{ not json');
    const corrupt = new AnalysisCache(dir);
    corrupt.load();
    assert.equal(corrupt.get(key), undefined);
    corrupt.set(key, analysis);
    corrupt.save();
    const text = fs.readFileSync(cache.file, 'utf8');
    const salt = JSON.parse(text).salt;
    fs.writeFileSync(cache.file, JSON.stringify({ salt, entries: { [key]: { imports: 'nope' } } }));
    const malformed = new AnalysisCache(dir);
    malformed.load();
    assert.equal(malformed.get(key), undefined);
  });

  test('resolutions are kept only for the same dependency tree', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-cache-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const first = new AnalysisCache(dir);
    first.useTree('tree-a');
    first.setResolution('require\0/x\0fs', { b: 'fs' });
    first.setResolution('import\0/x\0./y.js', { f: '/x/y.js' });
    first.save();
    const same = new AnalysisCache(dir);
    same.load();
    same.useTree('tree-a');
    assert.deepEqual(same.getResolution('import\0/x\0./y.js'), { f: '/x/y.js' });
    const changed = new AnalysisCache(dir);
    changed.load();
    changed.useTree('tree-b');
    assert.equal(changed.getResolution('require\0/x\0fs'), undefined);
    const unset = new AnalysisCache(dir);
    unset.load();
    assert.equal(unset.getResolution('require\0/x\0fs'), undefined, 'no tree, no resolutions');
  });

  test('concurrent writers: the file is always one complete version', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-cache-test-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const writers = Array.from({ length: 8 }, (_, i) => {
      const c = new AnalysisCache(dir);
      c.set(cacheKey(Buffer.from(String(i)), 'module'), analysis);
      return c;
    });
    for (const w of writers) w.save();
    const reader = new AnalysisCache(dir);
    reader.load();
    assert.ok(reader.get(cacheKey(Buffer.from('7'), 'module')));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });
});

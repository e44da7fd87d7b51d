// `module.createRequire` rooted in another package than the caller's: how optional native
// accelerators are loaded (msgpackr -> msgpackr-extract -> node-gyp-build-optional-packages).
// A require rooted in a package the caller may load resolves from there and loads only
// what the caller may load; each module runs as its own package's (docs/design.md).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, projectDir, runPlain, runWithLoader } from '../helpers.mjs';

const temps = [];
after(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});
const tempDir = (name) => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `lavamoat-${name}-`)));
  temps.push(dir);
  return dir;
};

const headers = ['/usr/include/node', path.join(path.dirname(process.execPath), '..', 'include', 'node')].find((dir) =>
  fs.existsSync(path.join(dir, 'node_api.h')),
);

/** The fixture in a temporary copy, with the accelerator's binary built into its prebuilt package. */
function acceleratorApp() {
  const dir = tempDir('create-require');
  fs.cpSync(fixture('create-require'), dir, { recursive: true, verbatimSymlinks: true });
  const prebuilt = path.join(dir, 'node_modules', '@fastpack-extract', 'fastpack-extract-prebuilt');
  execFileSync('cc', ['-shared', '-fPIC', `-I${headers}`, path.join(dir, 'addon.c'), '-o', path.join(prebuilt, 'extract.node')]);
  return dir;
}

const policyFile = (name) => `lavamoat/node/${name}`;

describe('an accelerator loaded through a require rooted in its package', { skip: headers ? false : 'no node_api.h to build the addon' }, () => {
  const dir = headers ? acceleratorApp() : '';
  const run = (override) =>
    runWithLoader(dir, 'app.mjs', { env: override ? { LAVAMOAT_POLICY_OVERRIDE: policyFile(override) } : {} });

  test('loads, as under plain node, with its native code', () => {
    const plain = runPlain(dir, 'app.mjs');
    assert.equal(plain.status, 0, plain.stderr);
    assert.deepEqual(JSON.parse(plain.stdout), { nativeEnabled: true, extract: 'native', loadError: null });
    const confined = run();
    assert.equal(confined.status, 0, confined.stderr);
    assert.equal(confined.stderr, '');
    assert.equal(confined.stdout, plain.stdout);
  });

  test('the binary needs native for the package it belongs to, and the denial names that entry', () => {
    const confined = run('no-native-override.json');
    assert.equal(confined.status, 0, confined.stderr);
    const out = JSON.parse(confined.stdout);
    assert.equal(out.nativeEnabled, false);
    assert.match(out.loadError, /package "fastpack>fastpack-extract>@fastpack-extract\/fastpack-extract-prebuilt" is not allowed the native addon .*extract\.node/);
    assert.ok(out.loadError.includes('{"resources":{"fastpack>fastpack-extract>@fastpack-extract/fastpack-extract-prebuilt":{"native":true}}}'));
  });

  test('what the rooted require resolves must be a package the caller may load: the denial names the entry', () => {
    const confined = run('no-prebuilt-override.json');
    assert.equal(confined.status, 0, confined.stderr);
    const out = JSON.parse(confined.stdout);
    assert.equal(out.nativeEnabled, false);
    // Resolved from fastpack-extract's directory, checked against gyp-loader's policy.
    assert.match(
      out.loadError,
      /package "fastpack>fastpack-extract>gyp-loader" is not allowed the package "fastpack>fastpack-extract>@fastpack-extract\/fastpack-extract-prebuilt" \('@fastpack-extract\/fastpack-extract-prebuilt' from .*fastpack-extract\/package\.json\)/,
    );
    assert.ok(
      out.loadError.includes(
        '{"resources":{"fastpack>fastpack-extract>gyp-loader":{"packages":{"fastpack>fastpack-extract>@fastpack-extract/fastpack-extract-prebuilt":true}}}}',
      ),
    );
    assert.doesNotMatch(out.loadError, /no policy entry can allow/);
  });
});

describe('where a package may root a require, and what it gets', () => {
  const dir = fixture('create-require');
  const plain = runPlain(dir, 'probe.mjs');
  const confined = runWithLoader(dir, 'probe.mjs');
  const granted = runWithLoader(dir, 'probe.mjs', { env: { LAVAMOAT_POLICY_OVERRIDE: policyFile('grant-extract-override.json') } });
  const results = (run) => {
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout);
  };
  const benign = ['path', 'fileUrlString', 'url', 'urlLike', 'directory', 'missingFile', 'load', 'relative'];

  test('rooted in a granted package by path, file URL, URL, URL-like or directory: as plain node', () => {
    const expected = results(plain);
    const got = results(confined);
    for (const key of benign) assert.deepEqual(got[key], expected[key], key);
    assert.equal(got.path.value, path.join(dir, 'node_modules', 'fastpack', 'index.js'));
    assert.match(got.relative.error, /must be a file URL object, file URL string, or absolute path string/);
  });

  test('rooted in a package the caller is not granted: refused, with the entry that would allow it', () => {
    const { error } = results(confined).ungrantedPackage;
    assert.match(error, /^LavaMoat: package "prober" is not allowed the package "fastpack>fastpack-extract" \(module\.createRequire\(.*fastpack-extract\/package\.json\)\)/);
    assert.ok(error.includes('{"resources":{"prober":{"packages":{"fastpack>fastpack-extract":true}}}}'));
    assert.doesNotMatch(error, /no policy entry can allow/);
    // With that entry, it works as under plain node.
    assert.deepEqual(results(granted).ungrantedPackage, results(plain).ungrantedPackage);
  });

  test('rooted in the app: refused, with the "$root$" entry that allows it; then as plain node (config 5)', () => {
    const got = results(confined);
    for (const key of ['appFile', 'appDirectory']) {
      assert.equal(got[key].ok, false, key);
      assert.match(got[key].error, /^LavaMoat: package "prober" is not allowed the app's own modules \("\$root\$"\) \(module\.createRequire\(/, key);
      assert.ok(got[key].error.includes('{"resources":{"prober":{"packages":{"$root$":true}}}}'), key);
    }
    // config 5 roots one in process.cwd(), the app's directory (Node roots it in the one above).
    const rootGranted = results(runWithLoader(dir, 'probe.mjs', { env: { LAVAMOAT_POLICY_OVERRIDE: policyFile('grant-root-override.json') } }));
    const expected = results(plain);
    for (const key of ['appFile', 'appDirectory']) assert.deepEqual(rootGranted[key], expected[key], key);
    assert.equal(rootGranted.appDirectory.ok, true);
  });

  test('rooted outside every package: refused, saying no entry can allow it, "$root$" or not', () => {
    const rootGranted = results(runWithLoader(dir, 'probe.mjs', { env: { LAVAMOAT_POLICY_OVERRIDE: policyFile('grant-root-override.json') } }));
    for (const got of [results(confined), rootGranted]) {
      for (const key of ['outside', 'outsideFile']) {
        assert.equal(got[key].ok, false, key);
        assert.match(got[key].error, /^LavaMoat: package "prober" is not allowed to create a require for /, key);
        assert.match(got[key].error, /in no package of the dependency tree/, key);
        assert.match(got[key].error, /no policy entry can allow this/, key);
      }
    }
  });

  test('the rooted require has the confined require\'s resolve.paths, cache and main', () => {
    assert.deepEqual(results(confined).shape.value, { paths: null, cache: 'object', main: 'undefined' });
  });
});

// msgpackr (a devDependency of this project) turns on its native string extractor when
// msgpackr-extract loads; node-gyp-build-optional-packages finds the binary through a
// require rooted in msgpackr-extract, in its platform package. The generated policy
// grants the addon loader both (as an addon loader's caller and its platform package),
// with no override.
describe('msgpackr with its native extension', () => {
  const dir = fixture('native-accel');
  const plain = runPlain(dir, 'app.mjs');
  const hasBinary = /native acceleration: true/.test(plain.stdout);

  test('uses its native extension under the loader, as under plain node', { skip: hasBinary ? false : 'msgpackr-extract has no binary for this platform' }, () => {
    const out = tempDir('native-accel-policy');
    const policy = path.join(out, 'policy.json');
    execFileSync(process.execPath, [path.join(projectDir, 'bin', 'lavamoat.mjs'), 'generate', 'app.mjs', '-p', policy], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: '' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.ok(fs.existsSync(policy));
    const confined = runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_POLICY: policy } });
    assert.equal(confined.status, 0, confined.stderr);
    assert.equal(confined.stderr, '');
    assert.equal(confined.stdout, plain.stdout);
    assert.match(confined.stdout, /^native acceleration: true$/m);
  });
});

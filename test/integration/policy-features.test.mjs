// Every policy feature, granted and denied, tried by a CommonJS and an ESM package:
// globals (dotted, whole, false, "write", read-only, "redefine"), builtins (dotted,
// whole, `node:` and bare alike), packages (require, import(), require.resolve,
// import.meta.resolve) and native addons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, runWithLoader } from '../helpers.mjs';

const headers = ['/usr/include/node', path.join(path.dirname(process.execPath), '..', 'include', 'node')].find((dir) =>
  fs.existsSync(path.join(dir, 'node_api.h')),
);

function prepare() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-policy-features-'));
  fs.cpSync(fixture('policy-features'), dir, { recursive: true });
  let native = false;
  if (headers) {
    for (const pkg of ['cjs-probe', 'esm-probe']) {
      const out = path.join(dir, 'node_modules', pkg, 'build');
      fs.mkdirSync(out, { recursive: true });
      execFileSync('cc', ['-shared', '-fPIC', `-I${headers}`, path.join(dir, 'addon.c'), '-o', path.join(out, 'addon.node')]);
    }
    native = true;
  }
  return { dir, native };
}

const { dir, native } = prepare();
const run = runWithLoader(dir, 'app.mjs');
const result = run.status === 0 ? JSON.parse(run.stdout) : undefined;

test('the probe app runs', () => {
  assert.equal(run.status, 0, run.stderr);
});

for (const kind of ['cjs', 'esm']) {
  test(`${kind}: globals`, () => {
    const r = result[kind];
    assert.equal(r['globals.process.env'], 'string', 'process.env granted');
    assert.equal(r['globals.process.exit'], 'undefined', 'process.exit not granted');
    assert.equal(r['globals.Buffer.from'], '6869', 'Buffer.from granted');
    assert.equal(r['globals.Buffer.alloc'], 'undefined', 'Buffer.alloc not granted');
    assert.equal(r['globals.setTimeout'], 'function');
    assert.equal(r['globals.fetch'], 'undefined', 'fetch not listed');
    assert.equal(r['globals.performance.false'], 'undefined', 'performance: false');
    // LavaMoat's read grant: the package may assign the name on its own global; the app
    // still sees its own value (checked below, result.app).
    assert.equal(r['globals.read-only'], `changed by ${kind}-probe`, 'a read grant is assignable on the package global');
    assert.equal(r['globals.redefine'], 'redefined');
  });
  test(`${kind}: builtins`, () => {
    const r = result[kind];
    assert.equal(r['builtin.fs.readFileSync'], 'function', 'fs.readFileSync granted');
    assert.equal(r['builtin.fs.writeFileSync'], 'undefined', 'fs.writeFileSync not granted');
    assert.equal(r['builtin.path'], 'b.txt', 'path granted (bare in one policy, node: in the other)');
    assert.equal(r['builtin.os'], 'error:LAVAMOAT_DENIED');
  });
  test(`${kind}: packages`, () => {
    const r = result[kind];
    assert.equal(r['packages.helper-pkg'], 'helper');
    assert.equal(r['packages.other-pkg'], 'error:LAVAMOAT_DENIED');
    assert.equal(r['packages.other-pkg.resolve'], 'error:LAVAMOAT_DENIED');
  });
}

test('cjs: import() from CommonJS follows the same policy', () => {
  assert.equal(result.cjs['packages.helper-pkg.import'], 'helper');
  assert.equal(result.cjs['packages.other-pkg.import'], 'error:LAVAMOAT_DENIED');
});

test('a narrowed global tells what it is as the real one does (setimmediate checks `[object process]`)', () => {
  assert.equal(result.cjs['globals.process.tag'], '[object process]');
});

test('"write" globals are shared with the app and other packages; read grants are not written through', () => {
  assert.equal(result.cjs['globals.write'], 1);
  assert.equal(result.esm['globals.write'], 2);
  assert.equal(result.cjs['globals.write.delete'], 'undefined', 'a package may delete a global it was granted to write');
  assert.deepEqual(result.app, { sharedCounter: 2, appConfig: 'set by app', redefinable: 'original' });
});

test('native addons load only where "native": true', { skip: !native && 'no C compiler or Node headers' }, () => {
  assert.equal(result.cjs.native, 'native hello');
  assert.equal(result.esm.native, 'error:LAVAMOAT_DENIED');
});

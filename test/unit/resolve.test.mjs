// Node's resolution, for code Node's loader never sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { builtinName, formatOf, resolveSpecifier } from '../../dist/graph/resolve.js';
import { fixture } from '../helpers.mjs';

const app = fixture('graph', 'app.mjs');
const rel = (r) => path.relative(fixture('graph'), r.path);

test('builtins, with and without node:', () => {
  assert.equal(builtinName('fs'), 'fs');
  assert.equal(builtinName('node:fs'), 'fs');
  assert.equal(builtinName('node:test'), 'test');
  assert.equal(builtinName('test'), undefined);
  assert.deepEqual(resolveSpecifier('node:path', app, 'import'), { kind: 'builtin', name: 'path' });
  assert.throws(() => resolveSpecifier('node:nope', app, 'import'), { code: 'ERR_UNKNOWN_BUILTIN_MODULE' });
});

test('exports conditions follow the kind of load', () => {
  assert.equal(rel(resolveSpecifier('dual', app, 'import')), 'node_modules/dual/esm.mjs');
  assert.equal(rel(resolveSpecifier('dual', app, 'require')), 'node_modules/dual/cjs.cjs');
  assert.equal(rel(resolveSpecifier('patterns/features/a.js', app, 'import')), 'node_modules/patterns/src/features/a.js');
  assert.throws(() => resolveSpecifier('patterns/internal/x.js', app, 'import'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  assert.throws(() => resolveSpecifier('dual/cjs.cjs', app, 'import'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
});

test('imports maps, self-reference and legacy main', () => {
  assert.equal(rel(resolveSpecifier('#local', app, 'import')), 'local.mjs');
  const selfRef = fixture('graph', 'node_modules/self-ref/main.js');
  assert.equal(rel(resolveSpecifier('self-ref/helper', selfRef, 'import')), 'node_modules/self-ref/helper.js');
  assert.equal(rel(resolveSpecifier('module-field', app, 'import')), 'node_modules/module-field/index.js');
});

test('ESM does no extension search; require does', () => {
  const parent = fixture('graph', 'node_modules/cycle/a.js');
  assert.throws(() => resolveSpecifier('./b', parent, 'import'), { code: 'ERR_MODULE_NOT_FOUND' });
  assert.equal(rel(resolveSpecifier('./b', parent, 'require')), 'node_modules/cycle/b.js');
});

test('require resolution is Node\'s own', () => {
  const parent = fixture('graph', 'node_modules/cjs-user/index.js');
  const expected = createRequire(parent).resolve('dual');
  assert.equal(resolveSpecifier('dual', parent, 'require').path, expected);
});

test('URL schemes other than file: and node: are refused', () => {
  assert.throws(() => resolveSpecifier('data:text/javascript,1', app, 'import'), { code: 'ERR_UNSUPPORTED_ESM_URL_SCHEME' });
  assert.throws(() => resolveSpecifier('https://example.com/x.js', app, 'import'), { code: 'ERR_UNSUPPORTED_ESM_URL_SCHEME' });
});

test('formats by extension and nearest package.json type', () => {
  assert.equal(formatOf(fixture('graph', 'node_modules/sub-type/dist/esm/index.js')), 'module');
  assert.equal(formatOf(fixture('graph', 'node_modules/sub-type/dist/cjs/index.js')), 'commonjs');
  assert.equal(formatOf(fixture('graph', 'node_modules/module-field/index.js')), 'commonjs');
  assert.equal(formatOf('/x/y.json'), 'json');
  assert.equal(formatOf('/x/y.node'), 'addon');
  // TypeScript as Node decides it: .mts and .cts by extension, .ts by "type".
  assert.equal(formatOf(fixture('graph', 'node_modules/sub-type/dist/cjs/index.mts')), 'module');
  assert.equal(formatOf(fixture('graph', 'node_modules/sub-type/dist/esm/index.cts')), 'commonjs');
  assert.equal(formatOf(fixture('graph', 'node_modules/sub-type/dist/esm/index.ts')), 'module');
  assert.equal(formatOf(fixture('graph', 'node_modules/sub-type/dist/cjs/index.ts')), 'commonjs');
});

test('exports targets as Node takes them: the first valid one of a list, module-sync where require(esm) is on (attack case 90)', () => {
  const parent = fixture('attacks', 'lib/loading/plain.mjs');
  const probe = fixture('attacks', 'node_modules/exports-trick/native-probe.js');
  const nodeRequire = createRequire(parent);
  for (const specifier of ['exports-trick', 'exports-trick/sync', 'exports-trick/outside']) {
    // Node 20.19+, 22 and 24 take native-probe.js for every one, for both kinds of load.
    assert.equal(nodeRequire.resolve(specifier), probe, specifier);
    assert.equal(resolveSpecifier(specifier, parent, 'require').path, probe, specifier);
    assert.equal(resolveSpecifier(specifier, parent, 'import').path, probe, specifier);
  }
});

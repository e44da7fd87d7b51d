// The module graph Node would load: exports/imports maps with conditions, per-call
// conditions (import vs require), self-reference, JSON modules, nested package.json
// `type`, bundler `module` fields ignored, require cycles, import() from ESM and
// CommonJS, source-map tails, and texts that SES would otherwise reject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('graph');

test('the confined app prints exactly what plain node prints', () => {
  const plain = runPlain(dir, 'app.mjs');
  assert.equal(plain.status, 0, plain.stderr);
  const confined = runWithLoader(dir, 'app.mjs');
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
});

test('each feature gives the Node answer', () => {
  const { stdout, stderr, status } = runWithLoader(dir, 'app.mjs');
  assert.equal(status, 0, stderr);
  const got = Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), JSON.parse(l.slice(l.indexOf(':') + 1))]));
  assert.deepEqual(got.dual, ['import', 'import', 'require'], 'import and require take their own branch');
  assert.deepEqual(got['cjs-user'], ['require', 'import', 'cjs.cjs', true, true]);
  assert.deepEqual(got['esm-user'], ['import', 'require'], 'createRequire inside a package is confined and Node-accurate');
  assert.equal(got['module-field'], 'commonjs', 'a bundler "module" field is ignored, as by Node');
  assert.equal(got['self-ref'], 'helped');
  assert.deepEqual(got.cycle, [true, true, false, true, true], 'require cycles see what Node shows');
  assert.equal(got['tail-map'], 'tail ok', 'a final sourceMappingURL comment without newline');
  assert.deepEqual(got['getter-exports'], [1, 0], 'named exports never run getters the lexer does not name');
  assert.deepEqual(got['data-pkg'], [42, 2, 42]);
  assert.equal(got.dyn, 'part one', 'computed import() inside a package');
  assert.deepEqual(got['tricky-text'], ['<!-- not a comment -->', `import('x') and import("y")`, 'true', 'method', '0']);
  assert.deepEqual(got['tricky-regexps'], ['tsx', './hook.mjs', false, true, true, false, 'import(1) <!-- -->'], 'regular expressions and String.raw keep their meaning');
  assert.deepEqual(got['tricky-esm'], ['tsx', '7', true, 'eval(x) import(y) <!--', 'import(|) eval(1', '<!-- html -->']);
  assert.equal(got.patterns, 'feature a');
  assert.equal(got['patterns-null'], 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  assert.deepEqual(got['sub-type'], ['esm by nested type', 'cjs'], 'a nested package.json "type" decides the format');
  assert.equal(got['imports-map'], 'imports map');
  assert.deepEqual(
    got['old-idioms'],
    ['function', 'object', true, 'function', 2, 'function', true, 'esm part'],
    "Function('return this')(), (0, eval)('this'), require.extensions, eval(), promise.catch = ..., new Function('m', 'return import(m)')",
  );
  assert.deepEqual(got['syntax-detection'], ['esm by syntax', 'esm by syntax'], 'a .js without "type" but with ESM syntax is ESM');
});

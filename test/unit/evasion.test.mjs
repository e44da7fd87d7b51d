// Texts SES would reject, rewritten without changing what the program means.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { evadeSesRejections, needsEvasion } from '../../dist/evasion.js';

const sesRejects = (src) => /(^|[^.]|\.\.\.)\bimport(\s*(?:\(|\/[/*]))/.test(src) || /<!--|-->/.test(src);
const run = (src) => JSON.parse(JSON.stringify(vm.runInNewContext(src, { __import__: (s) => `dynamic:${s}` })));

test('plain sources are returned as they are', () => {
  const src = 'const a = 1; exports.b = a + 2;';
  assert.equal(needsEvasion(src), false);
  assert.equal(evadeSesRejections(src), src);
});

test('strings, templates and regexps keep their values', () => {
  const src = "[ '<!-- x -->', `import('y')`, /import\\(/.source, 'a-->b' ]";
  const out = evadeSesRejections(src);
  assert.equal(sesRejects(out), false, out);
  assert.deepEqual(run(out), run(src));
});

test('comments are broken up; code is unchanged', () => {
  const src = "/** @type {import('x')} <!-- */\nlet n = 3; while (n --> 0); n";
  const out = evadeSesRejections(src);
  assert.equal(sesRejects(out), false, out);
  assert.equal(run(out), -1);
});

test('a real import() call becomes __import__(); a method named import keeps its name', () => {
  const src = "const o = { import(a) { return a; } }; [import('./x.js'), o.import('m'), o['import']('k')]";
  const out = evadeSesRejections(src);
  assert.equal(sesRejects(out), false, out);
  assert.deepEqual(run(out), ['dynamic:./x.js', 'm', 'k']);
});

// Texts SES would reject, rewritten without changing what the program means.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { evadeSesRejections, needsEvasion, rejectPhaseImports } from '../../dist/formats/evasion.js';

// SES's own checks (the direct-eval one applies to ES modules and code built at run time).
const ses = await import(new URL('../../node_modules/ses/src/transforms.js', import.meta.url));
const sesRejects = (src, checks = [ses.rejectHtmlComments, ses.rejectImportExpressions]) => {
  try {
    for (const check of checks) check(src);
    return false;
  } catch {
    return true;
  }
};
const sesRejectsAny = (src) => sesRejects(src, [ses.rejectHtmlComments, ses.rejectImportExpressions, ses.rejectSomeDirectEvalExpressions]);
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

test("what looks like a direct eval to SES: methods named eval keep their name, calls and texts keep their meaning", () => {
  // SES's own test for ES modules and code built at run time.
  const sesRejectsEval = (src) => sesRejects(src, [ses.rejectSomeDirectEvalExpressions]);
  const src = [
    "const micro = { eval(fiber) { return 'method ' + fiber; }, async eval2() {} };",
    "class Op { static eval(x) { return x * 2; } get eval() { return 1; } }",
    "const text = 'eval(1) and eval(eval(2))'; const tpl = `eval(${1})`;",
    "// calls eval(x) here",
    "const re = /eval(\\d)/.exec('eval7')[1];",
    "const page = { $eval(sel) { return 'found ' + sel; }, a$eval: (x) => x }; const viaMember = page.$eval ('#x') + page.a$eval('!');",
    "[micro.eval('f'), micro?.eval('g'), Op.eval(3), text, tpl, re, eval('1 + 1'), [...'ab'].map((c) => eval(`'${c}'`)), viaMember]",
  ].join('\n');
  assert.ok(sesRejectsEval(src), 'the case is one SES rejects');
  const out = evadeSesRejections(src);
  assert.equal(sesRejectsEval(out), false, out);
  assert.deepEqual(run(out), run(src));
});

test('a comment ending in "import" before another comment (SES reads `import //` across the lines)', () => {
  const src = "// that import\n// was the leak\nconst x = 1; /* an import */ // tail import\n/* next */ x";
  assert.ok(sesRejects(src), 'the case is one SES rejects');
  const out = evadeSesRejections(src);
  assert.equal(sesRejects(out), false, out);
  assert.equal(run(out), 1);
});

test("regular expressions keep their meaning: a group after `import`, a lookbehind `(?<!--)`, ranges around `-->`", () => {
  // tsx's pattern for `--import=x` in execArgv: escaping the `(` made it `Unmatched ')'`.
  const src = [
    "const tsx = /--import(?:=|\\s+)(\\S+)/;",
    "const lookbehind = /(?<!--)x/u, range = /[-->]/, subtract = /[a-->]/v, cls = /[<!--]/, call = /eval\\(x\\)|eval(x)/;",
    "[tsx.exec('node --import=tsx a.mjs')[1], tsx.exec('--import  x')[1], tsx.source.length > 0,",
    " lookbehind.test('--x'), lookbehind.test('-x'), range.test('.'), range.test('!'), subtract.test('a'),",
    " cls.test('#'), cls.test('<'), cls.test('.'), call.exec('evalx')[1]]",
  ].join('\n');
  assert.ok(sesRejectsAny(src), 'the case is one SES rejects');
  const out = evadeSesRejections(src);
  assert.equal(sesRejectsAny(out), false, out);
  assert.deepEqual(run(out), run(src));
  assert.deepEqual(run(out), ['tsx', 'x', true, false, true, true, false, true, true, true, false, 'x']);
  // A regular expression without flags, followed straight by a comment: `import//*` to SES.
  const tail = "[/import/ /* a */, /import//* b */].map(String)";
  assert.equal(sesRejects(evadeSesRejections(tail)), false);
  assert.deepEqual(run(evadeSesRejections(tail)), ['/import/', '/impor\\u0074/']);
});

test('String.raw returns what it did; any other tag sees the same cooked strings and values, and raw strings with the escape', () => {
  const src = "const tag = (s, ...v) => [s.length, ...s, ...v, ...s.raw]; [String.raw`import(${1}) <!-- -->\\n`, String . raw`eval(x)`, tag`import(${2}`]";
  const out = evadeSesRejections(src);
  assert.equal(sesRejectsAny(out), false, out);
  assert.deepEqual(run(out), ['import(1) <!-- -->\\n', 'eval(x)', [2, 'import(', '', 2, 'impor\\u0074(', '']]);
  assert.deepEqual(run(src)[2], [2, 'import(', '', 2, 'import(', ''], 'the raw strings are the one difference');
});

test('names SES misreads keep their meaning; import.meta and member calls after a dot are left as they are', () => {
  const src = [
    "class K { #import(a) { return a; } run() { return this.#import(1); } }",
    "const o = { $import(a) { return a; }, eval(a) { return a; }, import: (a) => a };",
    "const n = { v: 4 }; let m = 3;",
    "[new K().run(), o.$import(2), o.\n  eval(3), o. import(4), o.import(5), m-->>0, m--\n>=1]",
  ].join('\n');
  assert.ok(sesRejectsAny(src), 'the case is one SES rejects');
  const out = evadeSesRejections(src);
  assert.equal(sesRejectsAny(out), false, out);
  assert.deepEqual(run(out), [1, 2, 3, 4, 5, 3, true]);
  assert.match(out, /o\.import\(5\)/);
  const meta = 'const url = import.meta.url; // then import(url)\n';
  assert.equal(evadeSesRejections(meta), 'const url = import.meta.url; // then __import__(url)\n');
});

test('a line comment ending in "eval" before a parenthesis (SES reads `eval(` across the lines)', () => {
  const src = "const f = (x) => x; // then eval\n(f)(7)";
  assert.ok(sesRejectsAny(src), 'the case is one SES rejects');
  const out = evadeSesRejections(src);
  assert.equal(sesRejectsAny(out), false, out);
  assert.equal(run(out), 7);
});

test('HTML comment look-alikes between operators are spaced out as a module reads them', () => {
  // In a module (not in a script, where `<!--` starts a comment): `a < !(--b)`, `(c--) > 0`.
  const src = 'let a = 1, b = 3, c = 2; [a<!--b, c-->0, c-->>1, c-->=0]';
  const out = evadeSesRejections(src);
  assert.equal(out, 'let a = 1, b = 3, c = 2; [a< !--b, c-- >0, c-- >>1, c-- >=0]');
  assert.equal(sesRejects(out), false, out);
  assert.deepEqual(run(out), [false, true, 0, true]);
});

test('a phase import (import.source) in code becomes __import__.source; import. in literals keeps its value; rejectPhaseImports refuses the rest', () => {
  const phaseRejects = (src) => {
    try {
      rejectPhaseImports(src);
      return false;
    } catch {
      return true;
    }
  };
  const src = [
    "const calls = [import.source('./a.wasm'), import\n  .source('./b.wasm'), import . /* c */ source('./c.wasm')];",
    "const o = { import: { source: (x) => 'member ' + x } }; const m = [o.import.source('m'), o. import.source('n')];",
    "const $import = { x: 'dollar' }; const texts = ['import.source(', `import .defer(${1})`, /import.source/.test('import.source'), $import.x];",
    '// see import.source( and import.meta here',
    'const meta = "import.meta.url";',
    '[calls, m, texts, meta]',
  ].join('\n');
  assert.ok(phaseRejects(src), 'the case is one the runtime rejects');
  const out = evadeSesRejections(src);
  assert.equal(phaseRejects(out) || sesRejects(out), false, out);
  const value = JSON.parse(JSON.stringify(vm.runInNewContext(out, { __import__: Object.assign((s) => `dynamic:${s}`, { source: (s) => `source:${s}` }) })));
  assert.deepEqual(value, [
    ['source:./a.wasm', 'source:./b.wasm', 'source:./c.wasm'],
    ['member m', 'member n'],
    ['import.source(', 'import .defer(1)', true, 'dollar'],
    'import.meta.url',
  ]);
  // Text that skipped the evasion (a look-alike of a compiled module) is refused.
  assert.ok(phaseRejects("(function (exports, require, module, __filename, __dirname, __import__) {return import.source('x')})"));
  assert.ok(phaseRejects('...import\u2028.source(x)'.replace('\\u2028', '\u2028')));
  assert.equal(phaseRejects('x.import.source; import.meta.url; $h\u034f_import.source'), false);
});

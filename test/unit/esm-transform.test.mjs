// The light ESM compiler (src/formats/esm-transform.ts) against @endo/module-source, the
// compiler it stands in for: the same imports, exports and export maps on every module
// shape it accepts, a fallback (undefined) on the shapes it leaves to Babel, and lines
// kept where they were. What the compiled modules do is checked end to end by the
// graph fixture (test/integration/module-graph.test.mjs), against plain node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { transformModule, PROGRAM_HEAD, ASYNC_PROGRAM_HEAD, awaitsAtTopLevel } from '../../dist/formats/esm-transform.js';
import { hasTopLevelAwait } from '../../dist/formats/esm-scopes.js';

const require = createRequire(import.meta.url);
const { ModuleSource } = require('@endo/module-source');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What SES links by: module order, export names, where each export comes from. */
const shape = (record) => ({
  imports: record.imports,
  exports: [...record.exports].sort(),
  reexports: [...new Set(record.reexports)].sort(),
  // Where each export is bound: a re-exported import is a live export in Babel's records
  // and an `export ... from` in the light compiler's (see esm-transform.ts).
  bound: [
    ...new Set([
      ...Object.keys(record.__fixedExportMap__),
      ...Object.keys(record.__liveExportMap__),
      ...Object.values(record.__reexportMap__).flatMap((pairs) => pairs.map(([, exported]) => exported)),
    ]),
  ].sort(),
  needsImport: Boolean(record.__needsImport__),
  needsImportMeta: Boolean(record.__needsImportMeta__),
});

const SHAPES = {
  'imports of every kind': `import d, { a as b, c } from 'x';\nimport * as ns from 'y';\nimport 'z';\nimport { 'str' as s } from 'w';\nconsole.log(d, b, c, ns, s);`,
  'declarations': `export const a = 1, [b, { c = 2, ...rest }] = [1, {}];\nexport let d;\nexport function f() {}\nexport async function* g() {}\nexport class K {}`,
  'export lists': `import { x } from 'm';\nconst a = 1; let b = 2; function c() {}\nclass D {}\nexport { a, b as bee, c, D as default, x, x as y };`,
  'exports from': `export * from 'a';\nexport * as ns from 'b';\nexport { p, q as r, default as dflt } from 'c';\nexport * from 'a';`,
  'order of module requests': `export * from 'first';\nimport 'second';\nexport { x } from 'third';\nimport y from 'first';`,
  'default expression': `export default /* c */ (1 + 2);`,
  'default anonymous function': `export default function () { return 1; }`,
  'default anonymous class': `export default class {}`,
  'default named function': `export default function named() {}\nnamed();`,
  'default named class': `export default class Named {}\nnew Named();`,
  'default without semicolon': `export default 42\nconst after = 1;`,
  'import.meta and import()': `export const u = import.meta.url;\nexport const load = () => import('./x.js');`,
  'exported vars (bundler output)': `var a = 1, { b } = { b: 2 };\nexport var c = 3;\nexport { a, b as bee };\nfunction use() { return a + b + c; }`,
  'written exports (live bindings)': `export var E; (function (E) { E.A = 1; })(E || (E = {}));\nexport let n = 0, m = 0;\nexport function inc() { n++; ++m; n += 1; return n = n * 1; }\nexport function f() {} f = function g() {};\nlet z = 1; z = 2; export { z as zed };\nexport let w = 1\nw = w++ + 1`,
  'writes to other bindings of the same name': `export let n = 0;\nfunction shadow(n) { n = 2; }\ntry {} catch (n) { n = 1; }\n{ let n; n = 3; }\nconst f = (n) => n++;\nfor (let n of []) n = 1;`,
  'string export names': `const v = 1;\nexport { v as 'module.exports' };`,
  'top-level this and await-free code': `export const t = typeof this;`,
};

for (const [name, source] of Object.entries(SHAPES)) {
  test(`same record as @endo/module-source: ${name}`, () => {
    const mine = transformModule(source, 'file:///m.js');
    assert.ok(mine, 'handled by the light compiler');
    assert.ok(mine.__syncModuleProgram__.startsWith(PROGRAM_HEAD));
    const babel = new ModuleSource(source, { sourceUrl: 'file:///m.js' });
    const expected = shape(babel);
    // @endo/module-source names an export with a string name "undefined".
    if (name === 'string export names') {
      expected.exports = ['module.exports'];
      expected.bound = ['module.exports'];
    }
    assert.deepEqual(shape(mine), expected);
    // The program is one function expression V8 accepts.
    assert.doesNotThrow(() => new Function(`return ${mine.__syncModuleProgram__}`));
  });
}

test('shapes that need live bindings are left to @endo/module-source', () => {
  const cases = [
    'export var v = 1; if (v) { var v = 3; }',
    'var w = 1; var w = 2; export { w };',
    'export const c = 1; c = 2;',
    'export class K {} ({ K } = {});',
    'export let x; for (x of [1]);',
    'if (true) { var hoisted = 1; } export { hoisted };',
    'export { notDeclared };',
  ];
  for (const source of cases) assert.equal(transformModule(source, 'file:///m.js'), undefined, source);
  assert.equal(transformModule('export const = ;', 'file:///m.js'), undefined, 'a syntax error is left to the fallback to report');
});

test('top-level await makes an async program; await inside functions does not', () => {
  const parse = require('meriyah').parseModule;
  const awaiting = ['await 1;', 'export const x = await import("y");', 'for await (const x of []) {}', 'if (a) { await b; }', 'try { x = await y; } catch {}', 'label: { await z; }'];
  for (const source of awaiting) {
    const record = transformModule(source, 'file:///m.js');
    assert.ok(record, source);
    assert.equal(record.__hasTopLevelAwait__, true, source);
    assert.ok(record.__syncModuleProgram__.startsWith(ASYNC_PROGRAM_HEAD), source);
    // An async function V8 accepts, and the same answer from the hooks' check.
    assert.doesNotThrow(() => new Function(`return ${record.__syncModuleProgram__}`), source);
    assert.equal(awaitsAtTopLevel(source), true, source);
    assert.equal(hasTopLevelAwait(parse(source, { next: true })), true, source);
  }
  const notAwaiting = [
    'async function f() { await 1; }',
    'const g = async () => { for await (const x of []) {} };',
    'class K { async m() { await 1; } }',
    'const o = { async m() { await 1; } };',
    'const s = "await";',
    'export const h = async function () { await 1; };',
  ];
  for (const source of notAwaiting) {
    const record = transformModule(source, 'file:///m.js');
    assert.ok(record, source);
    assert.equal(record.__hasTopLevelAwait__, false, source);
    assert.ok(record.__syncModuleProgram__.startsWith(PROGRAM_HEAD), source);
    assert.equal(awaitsAtTopLevel(source), false, source);
  }
  assert.equal(awaitsAtTopLevel('await x; export const = ;'), undefined, 'meriyah cannot parse it: no answer');
});

test('every line of the module stays on its line', () => {
  const source = [
    `import a from 'a'; // 1`,
    `import {`,
    `  b,`,
    `} from 'b'; // 4`,
    `export const c = 1; // 5`,
    `export default (`,
    `  function () {} // 7`,
    `);`,
    `export { c as d }; // 9`,
    `export * from 'e'; const f = import.meta.url; // 10`,
  ].join('\n');
  const program = transformModule(source, 'file:///m.js').__syncModuleProgram__.split('\n');
  for (const marker of [1, 4, 5, 7, 9, 10]) {
    assert.match(program[marker - 1], new RegExp(`// ${marker}$`), `line ${marker}`);
  }
});

test('same records as @endo/module-source on the ES modules of real packages', () => {
  const packages = ['zod/v4/core', 'uuid/dist-node', 'nanoid', 'chalk/source', 'p-limit', 'js-yaml/dist'];
  let compared = 0;
  for (const dir of packages) {
    for (const entry of fs.readdirSync(path.join(root, 'node_modules', dir), { recursive: true })) {
      const file = path.join(root, 'node_modules', dir, String(entry));
      if (!/\.m?js$/.test(file) || !fs.statSync(file).isFile()) continue;
      const source = fs.readFileSync(file, 'utf8');
      if (!/^\s*(import|export)\b/m.test(source)) continue;
      const mine = transformModule(source, `file://${file}`);
      if (!mine) continue;
      assert.deepEqual(shape(mine), shape(new ModuleSource(source, { sourceUrl: `file://${file}` })), file);
      compared += 1;
    }
  }
  assert.ok(compared >= 50, `compared ${compared} modules`);
});

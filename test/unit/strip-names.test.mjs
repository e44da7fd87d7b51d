// The build removes the `__name` calls of esbuild's keepNames that change nothing, and
// names the anonymous functions of renamed bindings by a property key instead
// (scripts/strip-names.mjs): every function keeps the name it had with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { stripNoOpNames } from '../../scripts/strip-names.mjs';

const HELPER = 'var __defProp = Object.defineProperty; var __name = (target, value) => __defProp(target, "name", { value, configurable: true });\n';

const SOURCE = `
function kept(a) { return a; }
__name(kept, "kept");
function Error4() {}
__name(Error4, "Error");
var arrow = /* @__PURE__ */ __name(() => 1, "arrow");
var renamed2 = /* @__PURE__ */ __name(() => 2, "renamed");
var anonymousFn = /* @__PURE__ */ __name(function () {}, "anonymousFn");
var namedFn = /* @__PURE__ */ __name(function namedFn() {}, "namedFn");
var otherNamed = /* @__PURE__ */ __name(function inner2() {}, "inner");
let assigned;
assigned = /* @__PURE__ */ __name(() => 3, "assigned");
const object = { method: /* @__PURE__ */ __name(() => 4, "method"), other: /* @__PURE__ */ __name(() => 5, "different") };
class Klass { static { __name(this, "Klass"); } }
class Klass2 { static { __name(this, "Klass"); } }
class WithName { static name = "custom"; static { __name(this, "WithName"); } }
var Anon = /* @__PURE__ */ __name(class {}, "Anon");
var Anon2 = /* @__PURE__ */ __name(class {}, "Anon");
var Computed2 = /* @__PURE__ */ __name(class { static [Symbol.for("x")] = 1; }, "Computed");
var odd2 = /* @__PURE__ */ __name(() => 8, "odd name");
var nested = /* @__PURE__ */ __name(() => { const deep = /* @__PURE__ */ __name(() => 6, "deep"); return deep; }, "nested");
const passed = [/* @__PURE__ */ __name(() => 7, "passed")][0];
globalThis.result = { kept, Error4, arrow, renamed2, anonymousFn, namedFn, otherNamed, assigned, method: object.method, other: object.other, Klass, Klass2, WithName, Anon, Anon2, Computed2, odd2, deep: nested(), passed };
`;

const names = (code) => {
  const context = vm.createContext({});
  vm.runInContext(HELPER + code, context);
  const result = vm.runInContext('globalThis.result', context);
  return Object.fromEntries(Object.entries(result).map(([key, fn]) => [key, fn.name]));
};

test('every function has the same name with and without the removed calls', () => {
  const { code, removed } = stripNoOpNames(SOURCE);
  assert.deepEqual(names(code), names(SOURCE));
  assert.equal(names(SOURCE).Error4, 'Error', 'a renamed binding keeps its wrapper');
  assert.equal(names(SOURCE).renamed2, 'renamed');
  assert.equal(names(SOURCE).passed, 'passed', 'a name the language would not give is kept');
  assert.ok(removed >= 9, `removed ${removed}`);
  // An anonymous function of a renamed binding is named by a key: no `name` redefined.
  assert.ok(code.includes('({ "renamed": () => 2 })["renamed"]'), code);
  assert.ok(code.includes('({ "passed": () => 7 })["passed"]'), code);
  assert.equal(names(SOURCE).odd2, 'odd name');
  for (const left of ['__name(Error4, "Error")', '"inner")', '__name(this, "Klass")', '__name(this, "WithName")', '"Computed")']) {
    assert.ok(code.includes(left), `kept: ${left}`);
  }
  for (const gone of ['__name(kept, "kept")', '"different")', '"renamed")', '"passed")', '"arrow")', '"anonymousFn")', '"namedFn")', '"assigned")', '"method")', '"Anon")', '"deep")', '"nested")']) {
    assert.ok(!code.includes(gone), `removed: ${gone}`);
  }
});

test('the built runtime bundle went through it', async () => {
  const fs = await import('node:fs');
  const dir = new URL('../../dist/runtime/', import.meta.url);
  let left = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const code = fs.readFileSync(new URL(file, dir), 'utf8');
    // No statement that only restores a declaration's own name is left.
    assert.doesNotMatch(code, /^\s*__name\((\w+), "\1"\);$/m, file);
    left += (code.match(/__name\(/g) ?? []).length;
  }
  assert.ok(left > 0 && left < 300, `${left} wrappers left (the renamed ones)`);
});

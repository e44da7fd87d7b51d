// The module analysis behind `lavamoat generate`: every rule, positive and negative.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { analyseModule } from '../../dist/generate/analyse/index.js';
import { COMPARTMENT_GLOBALS } from '../../dist/generate/intrinsics.js';
import { BUILTIN_LIVE_OBJECTS, BUILTIN_NAMESPACES, builtinKey } from '../../dist/generate/builtin-members.js';
import module, { builtinModules, createRequire } from 'node:module';
import { projectDir } from '../helpers.mjs';

const cjs = (source) => analyseModule(source, 'commonjs');
const esm = (source) => analyseModule(source, 'module');

/** `path=access` strings, sorted and deduplicated. */
const globals = (result) => [...new Set(result.globals.map((g) => `${g.path}=${g.access}`))].sort();
const globalPaths = (result) => [...new Set(result.globals.map((g) => g.path))].sort();
/** `specifier kind members`, members joined by `,` (`*` for the whole module). */
const imports = (result) =>
  result.imports.map((i) => {
    const members = i.uses ? ` ${[...new Set(i.uses.map((u) => u.path.join('.') || '*'))].sort().join(',')}` : '';
    return `${i.specifier} ${i.kind}${members}`;
  });
const warnings = (result) => result.warnings.map((w) => w.message);

describe('globals: free variables with scope analysis', () => {
  test('a free variable is a global; a declared one is not', () => {
    assert.deepEqual(globals(cjs('setTimeout(f, 1); let x = 1; x++;')), ['f=read', 'setTimeout=read']);
  });

  test('shadowing by parameters, let/const, var, functions, classes, catch and imports', () => {
    const source = `
      function a(fetch) { return fetch(); }
      { let process = 1; process.env; }
      const setTimeout = () => {};
      setTimeout();
      class Buffer {}
      new Buffer();
      try {} catch (console) { console.log(); }
      (function queueMicrotask() { queueMicrotask; });
      for (const URL of []) URL;
      ({ fetch2 }) => fetch2;
    `;
    assert.deepEqual(globals(cjs(source)), []);
    assert.deepEqual(globals(esm("import crypto from 'node:crypto'; crypto.randomUUID();")), []);
  });

  test('a block-scoped declaration does not hide the global outside its block', () => {
    assert.deepEqual(globals(cjs('{ let process = 1; } process.exit();')), ['process.exit=read']);
  });

  test('hoisting: var and function declarations bind uses that come before them', () => {
    assert.deepEqual(globals(cjs('fetch(); var fetch = 1; later(); function later() {}')), []);
  });

  test('member paths: the global and one member, the rest collapsed', () => {
    const result = cjs('process.env.HOME; console.log("x"); process.stdout.write("x");');
    assert.deepEqual(globals(result), ['console.log=read', 'process.env=read', 'process.stdout=read']);
    const env = result.globals.find((g) => g.path === 'process.env');
    assert.equal(env.full, 'process.env.HOME');
  });

  test('computed members stop the path; string-literal keys do not', () => {
    assert.deepEqual(globalPaths(cjs('let key; process[key]; process["env"].X;')), ['process', 'process.env']);
  });

  test('keys that cannot be a policy path part end the path: __proto__, dotted, empty', () => {
    assert.deepEqual(globalPaths(cjs('globalThis.__proto__; window["a.b"]; process[""]; process.__proto__.x;')), ['process']);
    assert.deepEqual(imports(cjs("const fs = require('fs'); fs['read.File'];")), ['fs require *']);
  });

  test('optional chaining is a member path too', () => {
    assert.deepEqual(globalPaths(cjs('process?.env?.HOME; navigator?.userAgent;')), ['navigator.userAgent', 'process.env']);
  });

  test('.call/.apply/.bind on a global function are uses of the function', () => {
    assert.deepEqual(globalPaths(cjs('setTimeout.call(null, f); clearTimeout.bind(null);')), ['clearTimeout', 'f', 'setTimeout']);
  });

  test('globalThis, global, self and window are stripped', () => {
    assert.deepEqual(globalPaths(cjs('globalThis.fetch(u); global.process.env.X; self.crypto.subtle; window.location.href;')), [
      'crypto.subtle',
      'fetch',
      'location.href',
      'process.env',
      'u',
    ]);
  });

  test('the global object alone (a presence test) is no grant', () => {
    assert.deepEqual(globals(cjs('if (typeof window !== "undefined") {} var g = typeof globalThis;')), []);
  });

  test('destructuring takes the members it names', () => {
    assert.deepEqual(globalPaths(cjs('const { env, argv: [first] } = process; const { a: { b: { c } } } = deep;')), [
      'deep.a',
      'process.argv',
      'process.env',
    ]);
    assert.deepEqual(globalPaths(cjs('const { ...all } = process;')), ['process']);
  });

  test('typeof is a presence test', () => {
    assert.deepEqual(globals(cjs('typeof fetch === "function"; typeof process.versions;')), [
      'fetch=presence',
      'process.versions=presence',
    ]);
    assert.deepEqual(globals(cjs('let fetch; typeof fetch;')), []);
  });

  test('writes: assignment to a global or to one of its members', () => {
    assert.deepEqual(globals(cjs('counter = 1;')), ['counter=write']);
    assert.deepEqual(globals(cjs('window.appState = {};')), ['appState=write']);
    assert.deepEqual(globals(cjs('process.exitCode = 1;')), ['process.exitCode=write']);
    assert.deepEqual(globals(cjs('hits++; total += 1; delete globalThis.tmp;')), ['hits=write', 'tmp=write', 'total=write']);
    assert.deepEqual(globals(cjs('({ a: found } = obj); [first] = list; for (key in obj);')), [
      'first=write',
      'found=write',
      'key=write',
      'list=read',
      'obj=read',
    ]);
  });

  test('assigning below a granted member only needs to read it', () => {
    assert.deepEqual(globals(cjs('process.env.FOO = "1";')), ['process.env=read']);
  });

  test('JavaScript intrinsics that SES puts in every compartment are not listed', () => {
    const source = `Object.keys(o); Array.isArray(a); Promise.resolve(); Math.max(); Date.now(); JSON.parse(s);
      Reflect.ownKeys(o); Symbol.iterator; new Map(); new Uint8Array(1); parseInt(s);
      new TextEncoder(); globalThis.Error; undefined; NaN; Infinity; hasOwnProperty.call(o, k);`;
    assert.deepEqual(globalPaths(cjs(source)), ['a', 'k', 'o', 's']);
  });

  test('Intl is a host object the runtime does not give every package: it is listed', () => {
    assert.deepEqual(globalPaths(cjs('new Intl.NumberFormat("en").format(1);')), ['Intl.NumberFormat']);
  });

  test('intrinsics SES leaves out of compartments are listed', () => {
    assert.deepEqual(globalPaths(cjs('new Float32Array(1); new WeakRef(o); new SharedArrayBuffer(1); Atomics; WebAssembly;')), [
      'Atomics',
      'Float32Array',
      'SharedArrayBuffer',
      'WeakRef',
      'WebAssembly',
      'o',
    ]);
  });

  test('module, exports, require, __filename, __dirname, arguments are never globals', () => {
    const source = 'module.exports = exports; __filename; __dirname; (function () { return arguments; });';
    assert.deepEqual(globals(cjs(source)), []);
    assert.deepEqual(globals(esm('typeof module !== "undefined" && module.exports; typeof require;')), []);
  });

  test('the global object through a variable (lodash, UMD bundles)', () => {
    const source = `
      var freeGlobal = typeof global == 'object' && global && global.Object === Object && global;
      var freeSelf = typeof self == 'object' && self && self.Object === Object && self;
      var root = freeGlobal || freeSelf || Function('return this')();
      root.setTimeout(f); root.Buffer.isBuffer(b);`;
    const result = cjs(source);
    assert.deepEqual(globalPaths(result), ['Buffer.isBuffer', 'b', 'f', 'setTimeout']);
    assert.deepEqual(warnings(result), []);
    assert.deepEqual(globalPaths(cjs('var _a; (_a = globalThis).__cfg ?? (_a.__cfg = {});')), ['__cfg']);
    assert.deepEqual(globals(cjs('var _a; (_a = globalThis).__cfg ?? (_a.__cfg = {});')), ['__cfg=read', '__cfg=write']);
  });

  test('the global object returned by a function (getGlobal(), an IIFE)', () => {
    const iife = `const _global = (() => { if (typeof globalThis !== 'undefined') return globalThis;
      return typeof self !== 'undefined' ? self : global; })(); _global.postMessage(1);`;
    assert.deepEqual(globalPaths(cjs(iife)), ['postMessage']);
    assert.deepEqual(warnings(cjs(iife)), []);
    const named = 'function getGlobal() { return typeof globalThis !== "undefined" ? globalThis : global; } const g = getGlobal(); g.fetch();';
    assert.deepEqual(globalPaths(cjs(named)), ['fetch']);
    const arrow = 'const getG = () => globalThis; const g = getG(); g.crypto.randomUUID(); const other = compute(); other.x;';
    assert.deepEqual(globalPaths(cjs(arrow)), ['compute', 'crypto.randomUUID']);
  });

  test('a variable assigned the global object after functions that use it', () => {
    const source = `var root;
      function getFetch() { return root.fetch; }
      root = typeof globalThis !== 'undefined' ? globalThis : global;`;
    assert.deepEqual(globalPaths(cjs(source)), ['fetch']);
  });

  test('a variable that is not the global object is not an alias', () => {
    assert.deepEqual(globalPaths(cjs('var root = {}; root.setTimeout(); var g = global.process;')), ['process']);
  });

  test('positions are 1-based lines and columns', () => {
    const [use] = cjs('\n  fetch(x)').globals.filter((g) => g.path === 'fetch');
    assert.equal(use.line, 2);
    assert.equal(use.column, 3);
    const [crlf] = cjs('a;\r\nb;\r\n  fetch()').globals.filter((g) => g.path === 'fetch');
    assert.deepEqual([crlf.line, crlf.column], [3, 3]);
  });
});

describe('builtins: modules and the members used', () => {
  test('named imports give dotted members; node: is kept in the specifier', () => {
    assert.deepEqual(imports(esm("import { readFile, promises as p } from 'node:fs'; readFile(); p.stat();")), [
      'node:fs import promises.stat,readFile',
    ]);
  });

  test('default and namespace imports: the members used', () => {
    assert.deepEqual(imports(esm("import fs from 'fs'; import * as path from 'path'; fs.readFileSync(); path.join();")), [
      'fs import readFileSync',
      'path import join',
    ]);
  });

  test('a namespace that escapes is the whole module', () => {
    assert.deepEqual(imports(esm("import fs from 'fs'; use(fs); fs.x;")), ['fs import *,x']);
    assert.deepEqual(imports(cjs("const os = require('os'); module.exports = { ...os };")), ['os require *']);
    assert.deepEqual(imports(cjs("const u = require('util'); u[name]();")), ['util require *']);
  });

  test('an unused named import still needs its member; a bare import the whole module', () => {
    assert.deepEqual(imports(esm("import { readFile } from 'fs'; import 'os';")), ['fs import readFile', 'os import *']);
  });

  test('require: member chains, destructuring, bindings', () => {
    const source = `
      const fs = require('fs'); fs.readFileSync(f);
      const { join, posix: { sep } } = require('path');
      const inherits = require('util').inherits;
      require('crypto').createHash('sha1');
      const { readFile } = require('fs').promises;`;
    assert.deepEqual(imports(cjs(source)), [
      'fs require readFileSync',
      'path require join,posix.sep',
      'util require inherits',
      'crypto require createHash',
      'fs require promises.readFile',
    ]);
  });

  test('a builtin required but never used is the whole module', () => {
    assert.deepEqual(imports(cjs("require('net');")), ['net require *']);
  });

  test('re-exports of builtins', () => {
    assert.deepEqual(imports(esm("export { readFile, default as fs } from 'fs'; export * from 'os';")), [
      'fs import *,readFile',
      'os import *',
    ]);
  });

  test('await import() of a builtin: the members used', () => {
    assert.deepEqual(imports(esm("const { cpus } = await import('node:os'); const m = await import('fs'); m.statSync();")), [
      'node:os import cpus',
      'fs import statSync',
    ]);
  });

  test('member paths stop at the first value that is not a namespace object', () => {
    assert.equal(builtinKey('fs', ['promises', 'readFile']), 'fs.promises.readFile');
    assert.equal(builtinKey('fs', ['readFile', 'bind']), 'fs.readFile');
    assert.equal(builtinKey('stream', ['Readable', 'from']), 'stream.Readable');
    assert.equal(builtinKey('events', ['EventEmitter', 'prototype', 'on']), 'events.EventEmitter');
    assert.equal(builtinKey('process', ['env', 'HOME']), 'process.env');
    assert.equal(builtinKey('fs', []), 'fs');
  });
});

describe('builtin namespaces', () => {
  const require = createRequire(import.meta.url);
  const isPlain = (v) => v !== null && typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v));
  const skip = new Set(['wasi', 'sqlite', 'sea', 'test', 'test/reporters', 'trace_events', 'inspector', 'inspector/promises', 'sys', 'process']);
  const lookup = (dotted) => {
    const [name, ...members] = dotted.split('.');
    let value = require(`node:${name}`);
    for (const m of members) value = value?.[m];
    return value;
  };

  test('every listed namespace is a plain object where it exists', () => {
    for (const dotted of BUILTIN_NAMESPACES) {
      if (skip.has(dotted.split('.')[0])) continue;
      const value = lookup(dotted);
      if (value !== undefined) assert.ok(isPlain(value), dotted);
    }
  });

  test('no plain-object member of a builtin is missing from the lists (Node 20, which the lists describe)', (t) => {
    if (process.versions.node.split('.')[0] !== '20') {
      t.skip('newer Node versions may add namespaces: a missing one only makes a grant one level shallower');
      return;
    }
    const missing = [];
    const walk = (value, prefix, depth) => {
      for (const key of Object.keys(value)) {
        let child;
        try {
          child = value[key];
        } catch {
          continue;
        }
        const dotted = `${prefix}.${key}`;
        if (!isPlain(child) || BUILTIN_LIVE_OBJECTS.has(dotted)) continue;
        if (!BUILTIN_NAMESPACES.has(dotted)) {
          // path.posix.win32 and the like are the same objects again.
          if (!/^path(\/posix|\/win32)?\.(posix|win32)\.(posix|win32)/.test(dotted)) missing.push(dotted);
          continue;
        }
        if (depth < 2) walk(child, dotted, depth + 1);
      }
    };
    for (const name of builtinModules) {
      if (name.startsWith('_') || skip.has(name)) continue;
      const value = require(`node:${name}`);
      if (value && (typeof value === 'object' || typeof value === 'function')) walk(value, name, 0);
    }
    assert.deepEqual(missing, []);
  });
});

describe('imports: the module graph edges', () => {
  test('every kind of static and literal dynamic import', () => {
    const source = `
      import a from 'a'; import { b } from './b.js'; export { c } from 'c'; export * from 'd';
      import j from './x.json' with { type: 'json' };
      const e = await import('e'); import(\`f\`);`;
    assert.deepEqual(imports(esm(source)), [
      'a import',
      // The package's own modules: what is used of their exports (an export may be the
      // global object).
      './b.js import b',
      'c import',
      'd import',
      './x.json import default',
      'e import',
      'f import',
    ]);
  });

  test('require, require.resolve, module.require and import() from CommonJS', () => {
    const source = `require('a'); require.resolve('b'); module.require('c'); import('d');
      var freeModule = typeof module == 'object' && module; freeModule.require('e');`;
    assert.deepEqual(imports(cjs(source)).sort(), ['a require', 'b resolve', 'c require', 'd import', 'e require']);
  });

  test('import.meta.resolve', () => {
    assert.deepEqual(imports(esm("import.meta.resolve('pkg/sub'); import.meta.resolve('node:fs');")), [
      'pkg/sub import-resolve',
      'node:fs import-resolve *',
    ]);
    assert.match(warnings(esm('import.meta.resolve(name);'))[0] ?? '', /import\.meta\.resolve\(\) with a computed specifier/);
  });

  test('createRequire in an ES module', () => {
    const source = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); require('pkg');";
    assert.deepEqual(imports(esm(source)), ['node:module import createRequire', 'pkg require']);
  });

  test('a require made by createRequire and called at once', () => {
    const source = `import { createRequire } from 'node:module'; import * as m from 'module'; import { createRequire as cr } from 'module';
      const a = createRequire(import.meta.url)('pkg-a'); m.createRequire(import.meta.url)('pkg-b'); cr(import.meta.url)('pkg-c');`;
    assert.deepEqual(imports(esm(source)).filter((i) => i.startsWith('pkg')).sort(), ['pkg-a require', 'pkg-b require', 'pkg-c require']);
    // Not createRequire: a local function of that name, or another function of module.
    const local = "function createRequire() { return (x) => x; } createRequire(import.meta.url)('not-a');";
    assert.deepEqual(imports(esm(local)), []);
    const other = "import { isBuiltin } from 'node:module'; isBuiltin('fs')('not-b');";
    assert.deepEqual(imports(esm(other)).filter((i) => i.startsWith('not')), []);
  });

  test("rolldown's __require: createRequire called in a function called at once (Vite 8)", () => {
    const source = `import { createRequire } from 'node:module';
      var __require = /* #__PURE__ */ (() => createRequire(import.meta.url))();
      var __require2 = (function () { return createRequire(import.meta.url); })();
      var Writable = __require("stream").Writable; const { gzipSync } = __require2("zlib");`;
    assert.deepEqual(imports(esm(source)).filter((i) => !i.startsWith('node:module')).sort(), ['stream require Writable', 'zlib require gzipSync']);
    // A parameter may shadow createRequire, and an argument may change what is made.
    const shadowed = `import { createRequire } from 'node:module';
      var r = ((createRequire) => createRequire(import.meta.url))((x) => (y) => y); r('not-a');
      var s = (() => other(import.meta.url))(); s('not-b');`;
    assert.deepEqual(imports(esm(shadowed)).filter((i) => i.startsWith('not')), []);
  });

  test('a require in a try block is marked optional', () => {
    const [inTry, inCatch, outside] = cjs("try { require('a'); } catch { require('b'); }\nrequire('c');").imports;
    assert.deepEqual([inTry.optional, inCatch.optional, outside.optional], [true, undefined, undefined]);
    assert.equal(esm("try { await import('x'); } catch {}").imports[0].optional, true);
  });

  test('a require chosen by an expression (webpack guards, comma)', () => {
    const source = `var url = ("undefined" !== typeof __webpack_require__ ? __non_webpack_require__ : require)("url");
      (0, require)('a'); (typeof x === 'function' && x || require)('b');`;
    assert.deepEqual(imports(cjs(source)).sort(), ['a require', 'b require', 'url require *']);
    assert.deepEqual(imports(cjs("function f(require) { (c ? other : require)('x'); }")), [], 'a parameter named require is not the module require');
  });

  test("esbuild's __require shim over a createRequire require (prettier)", () => {
    const source = `import { createRequire as cr } from "module";
      const require = cr(import.meta.url);
      var __require = /* @__PURE__ */ ((x) => typeof require !== "undefined" ? require : typeof Proxy !== "undefined" ? new Proxy(x, {
        get: (a, b) => (typeof require !== "undefined" ? require : a)[b]
      }) : x)(function(x) { throw Error('Dynamic require of "' + x + '" is not supported'); });
      var os = __require("os"); os.platform();`;
    assert.deepEqual(imports(esm(source)), ['module import createRequire', 'os require platform']);
    const notRequire = `var __require = ((x) => typeof other !== "undefined" ? other : x)(f); __require("os");`;
    assert.deepEqual(imports(esm(notRequire)), [], 'a shim around something else is not a require');
  });

  test("eval('require') in CommonJS is the module's require (threads), not code built at run time", () => {
    const source = `const W = eval("require")('worker_threads').Worker; const p = eval('require').resolve('./x.js'); eval('__dirname'); eval('code');`;
    const analysis = cjs(source);
    assert.deepEqual(imports(analysis), ['worker_threads require Worker', './x.js resolve']);
    assert.deepEqual(analysis.warnings.map((w) => `${w.kind} ${w.line}:${w.column}`), ['runtime-code 1:117']);
    assert.deepEqual(imports(esm(`eval('require')('fs');`)), [], 'an ES module has no require for eval to read');
  });

  test('scripts of the package named by path (worker threads, child processes) are analysed too', () => {
    const source = `const { join, resolve } = require('path');
      new Worker(join(__dirname, 'lib', 'worker.js'));
      const p = (0, node_path_1.resolve)(__dirname, 'worker.cjs');
      path.join(__dirname, 'templates', 'page.html'); join(__dirname, name); join(other, 'x.js');`;
    assert.deepEqual(
      cjs(source).imports.filter((i) => i.kind === 'file').map((i) => i.specifier),
      ['./lib/worker.js', './worker.cjs'],
    );
    const fromEsm = esm("new Worker(new URL('./w.mjs', import.meta.url)); join(import.meta.dirname, 'x.js'); new URL('https://h/a.js', import.meta.url);");
    assert.deepEqual(fromEsm.imports.filter((i) => i.kind === 'file').map((i) => i.specifier), ['./w.mjs', './x.js']);
    // Concatenated paths: tinypool's bundled `import.meta.url + "/../entry/worker.js"`,
    // `__dirname + '/worker.js'`; not a URL without the `/../`, not another base.
    const concatenated = esm(`new Worker(fileURLToPath(import.meta.url + "/../entry/worker.js"));
      fork(import.meta.dirname + '/child.mjs'); new URL(import.meta.url + '/x.js'); other + '/y.js';`);
    assert.deepEqual(concatenated.imports.filter((i) => i.kind === 'file').map((i) => i.specifier), ['./entry/worker.js', './child.mjs']);
    assert.deepEqual(cjs("new Worker(__dirname + '/lib/worker.js'); __dirname + 'x.js';").imports.filter((i) => i.kind === 'file').map((i) => i.specifier), ['./lib/worker.js']);
  });

  test('Object.defineProperty on the global object redefines that global (@hono/node-server)', () => {
    const source = `if (global.Request !== R) { Object.defineProperty(global, "Request", { value: R }); }
      Reflect.defineProperty(globalThis, 'fetch', { value: f });
      Object.defineProperties(globalThis, { Response: { value: S }, 'Headers': { value: H } });
      Object.defineProperty(local, 'x', {}); const g = {}; Object.defineProperty(g, 'y', {});`;
    const result = cjs(source);
    assert.deepEqual(
      globals(result).filter((g) => g.endsWith('=redefine')),
      ['Headers=redefine', 'Request=redefine', 'Response=redefine', 'fetch=redefine'],
    );
  });

  test("constant strings joined with + are a static specifier (bunyan's require('mv' + ''))", () => {
    assert.deepEqual(imports(cjs("require('mv' + ''); require('a' + '/' + `b`); require('x' + name);")).sort(), ['a/b require', 'mv require']);
  });

  test('a require that is not the module require is not an import', () => {
    assert.deepEqual(imports(cjs("function f(require) { require('x'); }")), []);
    assert.deepEqual(imports(esm("require('x');")), []);
    assert.deepEqual(imports(cjs("other.require('x');")), []);
  });
});

describe('warnings: code that cannot be analysed', () => {
  test('computed require and import()', () => {
    const result = cjs('require(name);\nimport(`./${x}`);');
    assert.equal(result.warnings.length, 2);
    assert.match(result.warnings[0].message, /require\(\) with a computed argument/);
    assert.equal(result.warnings[0].line, 1);
    assert.match(result.warnings[1].message, /import\(\) with a computed specifier/);
    assert.equal(result.warnings[1].line, 2);
  });

  test('eval and the Function constructor; not the return-this idiom', () => {
    assert.deepEqual(warnings(cjs('eval(code);')).length, 1);
    assert.match(warnings(cjs('new Function("a", body);'))[0], /Function constructor/);
    assert.deepEqual(warnings(cjs('var g = Function("return this")();')), []);
    assert.deepEqual(warnings(esm('const run = (evaluate) => evaluate(x);')), []);
  });

  test('parse errors name the line; the module gives nothing else', () => {
    const result = esm('import a from "a";\nconst = 1;');
    assert.equal(result.imports.length, 0);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0].message, /cannot parse as an ES module/);
    assert.equal(result.warnings[0].line, 2);
  });

  test('sloppy-mode CommonJS is analysed, with a warning (compartments run strict code)', () => {
    const result = cjs('with (obj) { x; }\nrequire("a");');
    assert.deepEqual(imports(result), ['a require']);
    assert.match(warnings(result)[0], /sloppy-mode code.*with statement/);
  });

  test('require as a value and the global object passed on', () => {
    assert.match(warnings(cjs('var r = require;'))[0] ?? '', /require is used as a value/);
    assert.deepEqual(warnings(cjs('typeof require === "function" && require.cache;')), []);
    assert.match(warnings(cjs('Object.keys(globalThis);'))[0] ?? '', /global object is passed on/);
    assert.match(warnings(cjs('globalThis[name];'))[0] ?? '', /computed member access on the global object/);
  });

  test('writes to frozen intrinsics, but not to the stack-trace accessors SES keeps', () => {
    assert.match(warnings(cjs('Array.prototype.last = 1;'))[0] ?? '', /intrinsics are frozen/);
    assert.deepEqual(warnings(cjs('Error.stackTraceLimit = 50; Error.prepareStackTrace = f;')), []);
  });

  test('ES module syntax in a CommonJS-typed file is analysed as ES module, as Node does', () => {
    const result = cjs("import fs from 'fs';\nfs.readFileSync(f);");
    assert.deepEqual(imports(result), ['fs import readFileSync']);
    assert.match(warnings(result)[0], /Node detects the syntax and runs it as an ES module/);
    // A top-level await alone is module syntax too, for Node's detection.
    const awaited = cjs('const n = await fetch(u);');
    assert.deepEqual(globalPaths(awaited), ['fetch', 'u']);
    assert.equal(awaited.warnings[0].kind, 'esm-detected');
  });

  test('hashbang and BOM', () => {
    assert.deepEqual(imports(cjs('\ufeff#!/usr/bin/env node\nrequire("x");')), ['x require']);
  });
});

test('COMPARTMENT_GLOBALS is what a SES compartment really holds', () => {
  const script = `import 'ses'; lockdown(); const c = new Compartment();
    console.log(JSON.stringify(Reflect.ownKeys(c.globalThis).filter((k) => typeof k === 'string').sort()));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: projectDir, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const actual = JSON.parse(result.stdout);
  // Newer Node versions may add intrinsics (Iterator, ...): listing those is only redundant.
  for (const name of COMPARTMENT_GLOBALS) assert.ok(actual.includes(name), `${name} is not in a compartment`);
});

describe('warning kinds: what each warning is about, for ranking', () => {
  test('each warning has its kind; a module that does not parse is failed', () => {
    const kinds = (result) => result.warnings.map((w) => w.kind);
    assert.deepEqual(kinds(cjs('require(name);\nimport(x);\nvar r = require;')), ['dynamic-load', 'dynamic-load', 'dynamic-load']);
    assert.deepEqual(kinds(cjs('globalThis[k];\nObject.keys(globalThis);')), ['dynamic-global', 'dynamic-global']);
    assert.deepEqual(kinds(cjs('eval(a);\nnew Function(b);')), ['runtime-code', 'runtime-code']);
    assert.deepEqual(kinds(cjs('Array.prototype.x = 1;')), ['frozen-intrinsic']);
    assert.deepEqual(kinds(cjs('with (o) {}')), ['sloppy']);
    assert.deepEqual(kinds(cjs("import 'fs';")), ['esm-detected']);
    assert.equal(cjs("import 'fs';").failed, undefined);
    const broken = esm('const = 1;');
    assert.deepEqual(kinds(broken), ['unparsed']);
    assert.equal(broken.failed, true);
  });
});

const canStrip = typeof module.stripTypeScriptTypes === 'function';
const ts = (source, format = 'module') => analyseModule(source, format, true);

describe('TypeScript: analysed with its types stripped, as Node runs it', { skip: !canStrip && `Node ${process.version} has no module.stripTypeScriptTypes` }, () => {
  test('types go, positions stay; type-only imports are no imports', () => {
    const result = ts(
      "import type { Stats } from 'node:fs';\nimport { readFileSync, type PathLike } from 'node:fs';\n" +
        'interface A { env: string }\nconst size = (p: PathLike): number => readFileSync(p).length;\nexport const home: string = process.env.HOME as string;\n',
    );
    assert.deepEqual(imports(result), ['node:fs import readFileSync']);
    assert.deepEqual(globals(result), ['process.env=read']);
    assert.deepEqual(result.globals.map((g) => [g.line, g.column]), [[5, 29]]);
    assert.deepEqual(result.warnings, []);
  });

  test('CommonJS TypeScript, and ES module syntax detected in a typeless .ts as in .js', () => {
    assert.deepEqual(imports(ts("const os = require('node:os') as typeof import('node:os');\nos.EOL;", 'commonjs')), ['node:os require EOL']);
    const detected = ts("import os from 'node:os';\nconst n: number = os.cpus().length;", 'commonjs');
    assert.deepEqual(imports(detected), ['node:os import cpus']);
    assert.equal(detected.warnings[0].kind, 'esm-detected');
  });

  test('syntax only --experimental-transform-types runs is analysed transformed, with a warning', () => {
    const result = ts('enum Color { Red }\nqueueMicrotask(() => Color.Red);');
    assert.deepEqual(globals(result), ['queueMicrotask=read']);
    assert.equal(result.warnings[0].kind, 'typescript-transform');
    assert.match(result.warnings[0].message, /enum is not supported in strip-only mode.*--experimental-transform-types/);
  });

  test('a TypeScript syntax error is failed, with its line and column', () => {
    const result = ts('let a = 1;\nconst x: = 1;');
    assert.equal(result.failed, true);
    assert.deepEqual(result.warnings.map((w) => [w.kind, w.line, w.column]), [['unparsed', 2, 10]]);
    assert.match(result.warnings[0].message, /^cannot parse as TypeScript: Unexpected token `=`/);
  });

  test('Node\'s ExperimentalWarning about the stripper is not printed', () => {
    const script =
      `import { analyseModule } from ${JSON.stringify(new URL('../../dist/generate/analyse/index.js', import.meta.url).href)};\n` +
      "analyseModule('const a: number = 1;', 'module', true);\nprocess.emitWarning('kept', 'ExperimentalWarning');\n";
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /stripTypeScriptTypes/);
    assert.match(result.stderr, /ExperimentalWarning: kept/);
  });
});

describe('TypeScript where Node cannot strip types', { skip: canStrip && `Node ${process.version} strips types` }, () => {
  test('a failure that says which Node reads TypeScript', () => {
    const result = ts('const a: number = 1;');
    assert.equal(result.failed, true);
    assert.match(result.warnings[0].message, /cannot strip TypeScript types: .*Node 22\.13\+ and 23\.2\+/);
  });
});

describe('changes (strict mode\'s "write"): object globals and other modules\' values the code changes', () => {
  const changes = (result) => [...new Set((result.globalChanges ?? []).map((c) => `${c.path} ${c.kind}`))].sort();
  const mutated = (result) => result.imports.filter((i) => i.mutates).map((i) => i.specifier);

  test('process.env changed directly, through aliases, destructuring, defaults and Object.assign', () => {
    assert.deepEqual(changes(cjs("process.env.X = '1'; delete process.env.Y; process.env.Z++;")), ['process.env changes']);
    assert.deepEqual(changes(cjs('const env = process.env; env.X = 1;')), ['process.env changes']);
    assert.deepEqual(changes(cjs('const { env } = process; env[key] = value;')), ['process.env changes']);
    assert.deepEqual(changes(cjs('function f(e = process.env) { e.A = 1; }')), ['process.env changes']);
    assert.deepEqual(changes(cjs('function f(options) { let r; r = options.env || process.env; r.A = 1; }')), ['process.env changes']);
    assert.deepEqual(changes(cjs('Object.assign(process.env, parsed); Object.defineProperty(globalThis.process.env, "A", {});')), ['process.env changes']);
  });

  test('process.env handed to a function may be changed there (dotenv); what only reads does not count', () => {
    assert.deepEqual(changes(cjs('let r = process.env; populate(r, parsed);')), ['process.env passed']);
    assert.deepEqual(changes(cjs('populate(process.env, parsed)')), ['process.env passed']);
    assert.deepEqual(
      changes(cjs('Object.keys(process.env); JSON.stringify(process.env); Object.prototype.hasOwnProperty.call(process.env, k); Object.assign({}, process.env);')),
      [],
    );
    assert.deepEqual(changes(cjs("spawn('x', [], { env: process.env }); const copy = { ...process.env }; if (process.env.X) f(process.env.X);")), [
      'process.env passed',
    ]);
  });

  test('reading is no change; a function\'s own arguments are no global', () => {
    assert.deepEqual(changes(cjs('const env = process.env; if (env.X) console.log(env.Y); for (const k in env) k;')), []);
    assert.deepEqual(changes(cjs('function f() { const a = arguments[0]; a.x = 1; }')), []);
    assert.deepEqual(globalPaths(cjs('function f() { const a = arguments[1]; a.x = 1; }')), []);
  });

  test("another package's exports changed: assignments, aliases, array methods, ES imports", () => {
    assert.deepEqual(mutated(cjs("const a = require('lib-a'); a.tz = 1;")), ['lib-a']);
    assert.deepEqual(mutated(cjs("require('lib-a').tz = 1")), ['lib-a']);
    assert.deepEqual(mutated(cjs("var m = require('moment'); var fn = m.fn; fn.tz = 1;")), ['moment']);
    assert.deepEqual(mutated(cjs("var m = require('moment'); var list = m.momentProperties; list.push('_z');")), ['moment']);
    assert.deepEqual(mutated(cjs("var q = require('queue'); q.push(job); require('queue').push(job);")), []);
    assert.deepEqual(mutated(cjs("const { fn } = require('moment'); Object.defineProperty(fn, 'tz', {});")), ['moment']);
    assert.deepEqual(mutated(esm("import moment from 'moment'; moment.fn.tz = 1;")), ['moment']);
    assert.deepEqual(mutated(esm("import * as ns from 'x'; delete ns.y.z;")), ['x']);
  });

  test('followed into immediately called functions and UMD factories (moment-timezone)', () => {
    assert.deepEqual(mutated(cjs("(function (m) { m.x = 1; })(require('lib-a'));")), ['lib-a']);
    const umd = `
      (function (root, factory) {
        if (typeof module === 'object' && module.exports) module.exports = factory(require('moment'));
        else factory(root.moment);
      })(this, function (moment) {
        var fn = moment.fn;
        moment.tz = function () {};
        fn.zoneName = function () {};
        return moment;
      });`;
    assert.deepEqual(mutated(cjs(umd)), ['moment']);
  });

  test("using another package's exports is no change: calls, reads, instances of its classes, results", () => {
    assert.deepEqual(
      mutated(cjs("const a = require('a'); a.greet(1); a.config.x; const v = new a.Validator(); v.rules.push(1); v.x = 1; const r = a.make(); r.y = 2; a.list.map(f);")),
      [],
    );
    assert.deepEqual(mutated(esm("import moment from 'moment'; const m = moment(); m.locale('fr'); m._x = 1;")), []);
  });
});

describe('the global object exported by a module of the package (engine.io-client)', () => {
  test('exports whose value is the global object are listed', () => {
    assert.deepEqual(esm('export const globalThisShim = global;').globalExports, ['globalThisShim']);
    assert.deepEqual(esm('const g = typeof self !== "undefined" ? self : globalThis; export { g as root }; export default g;').globalExports, ['root', 'default']);
    assert.deepEqual(esm('export default globalThis;').globalExports, ['default']);
    assert.equal(esm('export const x = {}; const globalThis = {}; export { globalThis };').globalExports, undefined);
  });

  test("what a module uses of its own relative imports is recorded, from the namespace's names", () => {
    const result = esm(
      "import { globalThisShim as globalThis } from './globals.node.js'; import root from './root.js'; import * as ns from './ns.js';" +
        'globalThis.setTimeout.bind(globalThis); root.clearTimeout(1); ns.g.fetch;',
    );
    assert.deepEqual(imports(result), [
      './globals.node.js import globalThisShim,globalThisShim.setTimeout.bind',
      './root.js import default.clearTimeout',
      './ns.js import g.fetch',
    ]);
    assert.deepEqual(globals(result), []);
    // Other packages' modules: no uses recorded (their exports' changes are, mutations).
    assert.deepEqual(imports(esm("import x from 'pkg'; x.y;")), ['pkg import']);
  });
});

describe('the global object kept on a property (protobufjs)', () => {
  test("what is read through the property is globals; another property's is not", () => {
    const result = cjs(
      'var util = exports; util.global = util.isNode && global || typeof self !== "undefined" && self || this;' +
        'var B = util.global.Buffer; util.L = util.global.dcodeIO && util.global.dcodeIO.Long; util.other = {}; util.other.fetch;',
    );
    assert.deepEqual(globalPaths(result), ['Buffer', 'dcodeIO', 'dcodeIO.Long']);
    assert.deepEqual(globalPaths(cjs('var o = {}; o.g = {}; o.g.Buffer;')), []);
  });
});

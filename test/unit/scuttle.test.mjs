// Scuttling on stand-in global objects (never on the test runner's own global), the
// holder of the host's globals, the scuttler protocol, and the lists of what is kept.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  exceptionProblem,
  INTRINSIC_GLOBALS,
  makeHostGlobals,
  NODE_GLOBALS,
  parseException,
  performScuttle,
  RUNTIME_GLOBALS,
  ScuttleError,
  scuttleGlobalThis,
  SES_GLOBALS,
} from '../../dist/confine/scuttle.js';
import { analyseModule } from '../../dist/generate/index.js';

const distDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');

/** A stand-in for a global object: an object whose prototype is a plain object, like Node's. */
function fakeGlobal() {
  const proto = Object.create(Object.prototype);
  const realm = Object.create(proto);
  realm.Array = Array; // an intrinsic
  realm.setTimeout = () => 'timer'; // kept for Node
  realm.fetch = () => 'fetched';
  realm.secretThing = { token: 1 };
  realm.onload = 1;
  realm.onerror = 2;
  realm.keepMe = 3;
  Object.defineProperty(realm, 'pinned', { value: { p: 1 }, writable: true, configurable: false });
  Object.defineProperty(realm, 'constant', { value: { c: 1 }, writable: false, configurable: false });
  let lazyValue;
  let lazyReads = 0;
  // Like Node's lazy globals: the first read loads the value and defines it on the
  // global itself (which throws on a scuttled global); later reads return it.
  Object.defineProperty(realm, 'lazy', {
    configurable: true,
    get() {
      lazyReads += 1;
      if (lazyValue === undefined) {
        lazyValue = { loaded: true };
        Object.defineProperty(realm, 'lazy', { value: lazyValue, writable: true, configurable: true });
      }
      return lazyValue;
    },
  });
  let otherReads = 0;
  Object.defineProperty(realm, 'otherLazy', {
    configurable: true,
    get() {
      otherReads += 1;
      return 'other';
    },
  });
  return { realm, proto, reads: () => ({ lazyReads, otherReads }) };
}

describe('performScuttle', () => {
  test('makes throwing accessors of what it can, throwing values of what it cannot reconfigure, freezes the rest, keeps exceptions', () => {
    const { realm, proto } = fakeGlobal();
    const result = performScuttle(realm, ['keepMe', '/^on(load)?$/']);
    assert.deepEqual(result.removed.sort(), ['fetch', 'lazy', 'onerror', 'otherLazy', 'secretThing'].sort());
    assert.deepEqual(result.replaced, ['pinned']);
    assert.deepEqual(result.frozen, ['constant']);
    assert.deepEqual(result.kept.sort(), ['Array', 'keepMe', 'onload', 'setTimeout'].sort());
    for (const name of result.removed) {
      const message = `LavaMoat: globalThis.${name} is inaccessible under scuttling (scuttleGlobalThis): add "${name}" to scuttleGlobalThis.exceptions to keep it`;
      assert.throws(() => realm[name], { name: 'TypeError', message });
      assert.throws(() => { realm[name] = 1; }, { name: 'TypeError', message });
      const descriptor = Object.getOwnPropertyDescriptor(realm, name);
      assert.equal(descriptor.configurable, false, `${name} cannot be put back`);
      assert.throws(() => Object.defineProperty(realm, name, { value: 1 }), TypeError);
      assert.equal(Reflect.deleteProperty(realm, name), false);
    }
    assert.equal(realm.keepMe, 3);
    assert.equal(realm.onload, 1);
    assert.throws(() => realm.onerror, /onerror is inaccessible/, 'the regex is anchored: /^on(load)?$/ does not match onerror');
    assert.throws(() => realm.pinned.p, /globalThis\.pinned is inaccessible under scuttling/);
    assert.throws(() => realm.pinned(), /inaccessible under scuttling/);
    assert.equal(Object.getOwnPropertyDescriptor(realm, 'pinned').writable, false);
    assert.ok(Object.isFrozen(realm.constant));
    // A removed name cannot be planted back on the prototype the global scope looks through.
    assert.ok(Object.isFrozen(proto));
  });

  test('never removes intrinsics or what Node and the runtime need, whatever the exceptions', () => {
    const realm = {};
    for (const name of [...INTRINSIC_GLOBALS, ...SES_GLOBALS, ...NODE_GLOBALS, ...RUNTIME_GLOBALS, 'fetch']) realm[name] = name;
    const result = performScuttle(realm, []);
    assert.deepEqual(result.removed, ['fetch']);
  });

  test('with a holder: every scuttled value is kept; accessors run only when first read', () => {
    const { realm, reads } = fakeGlobal();
    const holder = makeHostGlobals(realm);
    performScuttle(realm, [], { holder });
    assert.deepEqual(reads(), { lazyReads: 0, otherReads: 0 }, 'nothing is loaded at start-up');
    assert.deepEqual(holder.globals.lazy, { loaded: true }, "a lazy global that cannot redefine itself any more is read again");
    assert.equal(holder.globals.fetch(), 'fetched');
    assert.deepEqual(holder.globals.secretThing, { token: 1 });
    assert.equal(holder.globals.otherLazy, 'other');
    assert.equal(holder.globals.otherLazy, 'other');
    assert.deepEqual(reads(), { lazyReads: 2, otherReads: 1 });
    assert.throws(() => realm.lazy, /inaccessible under scuttling/, 'and the real global still throws');
  });
});

describe('the holder of the host globals', () => {
  test('reads and writes through to the real global until scuttling, then keeps the removed values', () => {
    const { realm } = fakeGlobal();
    const holder = makeHostGlobals(realm);
    const host = holder.globals;
    assert.equal(host.fetch(), 'fetched');
    realm.addedLater = 'late';
    assert.equal(host.addedLater, 'late', 'a global the app sets up later is seen');
    host.writtenByPackage = 1;
    assert.equal(realm.writtenByPackage, 1, 'a "write" grant writes the real global while it is there');
    const written = [];
    holder.onWrite((name, value) => written.push([name, typeof value]));
    performScuttle(realm, ['keepMe'], { holder });
    assert.throws(() => realm.fetch, /inaccessible under scuttling/);
    assert.equal(host.fetch(), 'fetched');
    host.fetch = () => 'replaced';
    assert.equal(host.fetch(), 'replaced', 'writes to a removed global stay in the holder');
    assert.throws(() => realm.fetch, /inaccessible/, 'and never reach the real global');
    assert.deepEqual(written, [['fetch', 'function']], 'listeners (the app\'s bindings) hear of the write');
    host.keepMe = 4;
    assert.equal(realm.keepMe, 4, 'kept globals are still shared with the app');
    assert.equal('fetch' in host, true);
    assert.equal('neverExisted' in host, false);
    assert.ok(Reflect.ownKeys(host).includes('fetch'));
    assert.equal(Object.getOwnPropertyDescriptor(host, 'fetch').configurable, true);
    assert.equal(Reflect.defineProperty(host, 'x', { value: 1 }), false);
    assert.equal(Reflect.deleteProperty(host, 'keepMe'), false);
  });

  test('accessors read through with the real global as receiver', () => {
    const realm = {
      get self() {
        return this;
      },
    };
    assert.equal(makeHostGlobals(realm).globals.self, realm);
  });
});

describe('scuttleGlobalThis (options and scuttler)', () => {
  test('off by default: nothing happens', () => {
    const { realm } = fakeGlobal();
    assert.equal(scuttleGlobalThis(realm, { enabled: false, exceptions: [] }), undefined);
    assert.equal(typeof realm.fetch, 'function');
  });

  test('the scuttler is called with the global and the scuttle function', () => {
    const { realm } = fakeGlobal();
    const calls = [];
    realm.SCUTTLER = (g, scuttle) => {
      calls.push(g === realm, typeof scuttle, Object.isFrozen(scuttle));
      const other = { fetch: 1, Array };
      scuttle(other); // another realm, scuttled with the same exceptions
      calls.push(Object.getOwnPropertyDescriptor(other, 'fetch').get !== undefined, other.Array === Array);
      scuttle(g);
      scuttle(g); // idempotent
    };
    const result = scuttleGlobalThis(realm, { enabled: true, exceptions: [], scuttlerName: 'SCUTTLER' });
    assert.deepEqual(calls, [true, 'function', true, true, true]);
    assert.ok(result.removed.includes('fetch'));
    assert.ok(result.removed.includes('SCUTTLER'), 'the scuttler itself is scuttled unless excepted');
  });

  test('a missing scuttler, or one that never scuttles, is an error', () => {
    const { realm } = fakeGlobal();
    assert.throws(
      () => scuttleGlobalThis(realm, { enabled: true, exceptions: [], scuttlerName: 'NOPE' }, { source: 'package.json#lavamoat.scuttleGlobalThis' }),
      (error) =>
        error instanceof ScuttleError &&
        /scuttlerName is "NOPE" \(from package\.json#lavamoat\.scuttleGlobalThis\), but globalThis\.NOPE is not defined/.test(error.message),
    );
    realm.NOT_FN = 3;
    assert.throws(() => scuttleGlobalThis(realm, { enabled: true, exceptions: [], scuttlerName: 'NOT_FN' }), /is not a function \(number\)/);
    realm.LAZY = () => {};
    assert.throws(
      () => scuttleGlobalThis(realm, { enabled: true, exceptions: [], scuttlerName: 'LAZY' }),
      /returned without calling scuttle\(globalThis\)/,
    );
    assert.equal(typeof realm.fetch, 'function');
  });
});

describe('exceptions', () => {
  test('names and /pattern/flags strings', () => {
    assert.equal(parseException('fetch'), 'fetch');
    assert.deepEqual(parseException('/^on/i'), /^on/i);
    assert.deepEqual(parseException('/a/b/'), /a\/b/);
    assert.equal(exceptionProblem('fetch'), undefined);
    assert.equal(exceptionProblem('/^on/'), undefined);
    assert.equal(exceptionProblem('/^on/iu'), undefined);
    assert.match(exceptionProblem(''), /empty string/);
    assert.match(exceptionProblem('/'), /not a "\/pattern\/flags"/);
    assert.match(exceptionProblem('//'), /not a "\/pattern\/flags"/);
    assert.match(exceptionProblem('/x/z'), /not a valid regular expression/);
    assert.match(exceptionProblem('/x/gi'), /stateful/);
    assert.match(exceptionProblem('/(/'), /not a valid regular expression/);
    assert.match(exceptionProblem(null), /null is not allowed/);
  });
});

/** Free globals of JavaScript sources (the project's own analyser), by name → where. */
function freeGlobals(sources) {
  const found = new Map();
  for (const [id, source] of sources) {
    let analysis;
    try {
      analysis = analyseModule(source, 'commonjs');
    } catch {
      try {
        analysis = analyseModule(source, 'module');
      } catch {
        continue;
      }
    }
    for (const use of analysis.globals) {
      const name = use.path.split('.')[0];
      if (!found.has(name)) found.set(name, new Set());
      found.get(name).add(id);
    }
  }
  return found;
}

test("NODE_GLOBALS covers what the code bundled in this Node reads from the global object", (t) => {
  let natives;
  try {
    natives = process.binding('natives');
  } catch {
    t.skip('process.binding("natives") is not available on this Node');
    return;
  }
  // internal/deps/v8/tools is `node --prof-process` (scripts written for V8's d8 shell),
  // not code that runs in an app's process.
  const bundled = Object.entries(natives).filter(([id]) => id.startsWith('internal/deps/') && !id.startsWith('internal/deps/v8/tools/'));
  const kept = new Set([...INTRINSIC_GLOBALS, ...SES_GLOBALS, ...NODE_GLOBALS]);
  // Not globals at run time: wrapper parameters of Node's internal modules, UMD
  // detection in bundles that Node loads as CommonJS, and names guarded by typeof.
  const notNeeded = new Set(['process', 'primordials', 'internalBinding', 'require', 'module', 'exports', 'acorn', 'define', '__UNDICI_IS_NODE__', 'syntaxError', 'arguments', 'atob', 'TextEncoder', 'TextDecoder']);
  const missing = [];
  for (const [name, ids] of freeGlobals(bundled)) {
    if (!kept.has(name) && !notNeeded.has(name)) missing.push(`${name} (${[...ids].join(', ')})`);
  }
  // Member reads through the global object's own names (undici reads global.FinalizationRegistry).
  for (const [id, source] of bundled) {
    for (const match of source.matchAll(/(?<![.\w$])(global|globalThis)(?=\s*[.[])/g)) {
      if (!kept.has(match[1])) missing.push(`${match[1]} (${id})`);
    }
  }
  assert.deepEqual(missing, [], `Node ${process.version} reads globals that scuttling would remove`);
});

test("RUNTIME_GLOBALS covers what this runtime's own modules read by name after start-up", (t) => {
  // Modules that run on the main thread after scuttling (not the CLI or the generator;
  // the hooks run in-thread where Node has module.registerHooks). dist/runtime/ is the
  // bundle of these same modules with SES and the other libraries.
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!['cli', 'generate', 'runtime'].includes(entry.name)) walk(file);
      } else if (entry.name.endsWith('.js')) {
        files.push(file);
      }
    }
  };
  walk(distDir);
  const sources = files.map((file) => [path.relative(distDir, file), fs.readFileSync(file, 'utf8')]);
  const free = new Map();
  for (const [file, source] of sources) {
    for (const use of analyseModule(source, 'module').globals) {
      const name = use.path.split('.')[0];
      if (!free.has(name)) free.set(name, new Set());
      free.get(name).add(file);
    }
  }
  const kept = new Set([...INTRINSIC_GLOBALS, ...SES_GLOBALS, ...NODE_GLOBALS, ...RUNTIME_GLOBALS]);
  const missing = [...free].filter(([name]) => !kept.has(name)).map(([name, where]) => `${name} (${[...where].join(', ')})`);
  assert.deepEqual(missing, [], 'the runtime reads globals that scuttling would remove: import them from their module');
  for (const name of RUNTIME_GLOBALS) {
    if (!free.has(name)) {
      t.diagnostic(`no runtime module reads the global ${name} any more: remove it from RUNTIME_GLOBALS in src/confine/scuttle.ts`);
    } else {
      t.diagnostic(`scuttling keeps the global ${name} because of: ${[...free.get(name)].join(', ')}`);
    }
  }
});

describe("the source rewrites of the app's modules (formats/app-scope.ts)", async () => {
  const { appGlobalsModuleSource, bindableNames, bindCjsAppGlobals, bindEsmAppGlobals } = await import('../../dist/formats/app-scope.js');

  test('reserved words and literals are never bound (a preload could name a global so)', () => {
    const names = ['default', 'this', 'in', 'new', 'null', 'true', 'class', 'import', 'fetch', 'process'];
    assert.deepEqual(bindableNames(names), ['fetch', 'process', 'globalThis', 'global']);
  });

  test("ES modules: declarations shadow, and `export { name }` stays the module's own (a SyntaxError under plain node)", () => {
    const names = ['process', 'fetch', 'Buffer', 'require'];
    const line = (source) => bindEsmAppGlobals(source, names).split('\n')[0];
    assert.equal(line('{ let process = 1; }\nprocess;'), 'import { process } from "lavamoat-app-globals?process";{ let process = 1; }');
    assert.equal(line('import * as process from "node:process";\nprocess;'), 'import * as process from "node:process";');
    assert.equal(line('fetch();\nexport { process };'), 'import { fetch } from "lavamoat-app-globals?fetch";fetch();');
    assert.equal(line('export { process as p } from "./x.js";\nBuffer;'), 'import { process, Buffer } from "lavamoat-app-globals?process,Buffer";export { process as p } from "./x.js";');
    assert.equal(bindEsmAppGlobals('#!/usr/bin/env node\nfetch();', names), '#!/usr/bin/env node\nimport { fetch } from "lavamoat-app-globals?fetch";fetch();');
    assert.equal(line('require("x");'), 'import { require } from "lavamoat-app-globals?require";require("x");');
  });

  test("CommonJS: the wrapper's own names are never bound, and no global name shadows the rewrite's own", () => {
    const source = 'require("./x"); __dirname; module; fetch; $lavamoat; name; value;';
    const wrapped = bindCjsAppGlobals(source, ['require', '__dirname', 'module', 'fetch', '$lavamoat', 'name', 'value']);
    assert.match(wrapped, /^var \$lavamoat\$ = require\("lavamoat-app-globals:"\); return \(function \(fetch, \$lavamoat, name, value\) \{/);
    assert.match(wrapped, /\$lavamoat\$\.subscribe\(function \(\) \{ switch \(arguments\[0\]\) \{ case "fetch": fetch = arguments\[1\]; break;/);
  });

  test('the module of bindings has locals of its own only, whatever the global names', () => {
    const source = appGlobalsModuleSource(['scope', 'name', 'value', '$0'], 'file:///bridge.js');
    assert.match(source, /export \{ \$lavamoat\$0 as scope, \$lavamoat\$1 as name, \$lavamoat\$2 as value, \$lavamoat\$3 as \$0 \};/);
    assert.doesNotMatch(source, /(let|const) \[?\s*(scope|name|value|\$0)\b/);
  });
});

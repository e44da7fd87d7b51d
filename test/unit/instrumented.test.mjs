// The hooks run natively only the wrapper import-in-the-middle makes around a dependency
// module the app imports (loader/hooks/instrumented.ts): anything else the load hooks
// below hand back for the marked URL (the module's own source, a module that does not
// import the wrapped module and import-in-the-middle's runtime, one that imports a
// bindings module or imports dynamically) is refused, and the app gets the plain facade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { lexersReady } from '../../dist/graph/module-names.js';
import { hasIitmMark, isIitmModule, isIitmRuntime, noteRuntimeImport, wrappedURL, wrapperSource } from '../../dist/loader/hooks/instrumented.js';

await lexersReady;

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-iitm-'));
const write = (relative, text) => {
  const file = path.join(temp, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return pathToFileURL(file).href;
};
const runtimeURL = write('node_modules/import-in-the-middle/lib/register.js', 'exports.register = () => {};\n');
write('node_modules/import-in-the-middle/package.json', '{"name":"import-in-the-middle","version":"3.0.0"}');
const impostorURL = write('node_modules/not-iitm/lib/register.js', 'exports.register = () => {};\n');
write('node_modules/not-iitm/package.json', '{"name":"not-iitm","version":"1.0.0"}');
const ownSource = "'use strict';\nmodule.exports = function dep() {};\n";
const realURL = write('node_modules/dep/index.js', ownSource);
const originURL = write('node_modules/dep/lib/a.mjs', 'export const a = 1;\n');

const wrapper = (extra = '', runtime = runtimeURL) =>
  `import { register, ModuleBinder } from ${JSON.stringify(runtime)}\nimport * as namespace from ${JSON.stringify(realURL)}\n${extra}\n` +
  `const __binder = new ModuleBinder(namespace)\nregister(${JSON.stringify(realURL)}, __binder, "dep", "commonjs")\n`;

test.after(() => fs.rmSync(temp, { recursive: true, force: true }));

test('marks and the wrapped URL, as import-in-the-middle writes and removes them', () => {
  assert.equal(hasIitmMark(`${realURL}?iitm=true`), true);
  assert.equal(hasIitmMark('lavamoat-instrumented:file:///x/y.js?iitm=true'), true);
  assert.equal(hasIitmMark('node:http?iitm=true'), true);
  assert.equal(hasIitmMark(realURL), false);
  assert.equal(hasIitmMark('file:///x/iitm.js?a=iitm'), false);
  assert.equal(hasIitmMark(undefined), false);
  assert.equal(wrappedURL(`${realURL}?iitm=true`), realURL);
  assert.equal(wrappedURL('file:///x/y.js?v=1&iitm=true'), 'file:///x/y.js?v=1');
});

test("a module of import-in-the-middle's package is its runtime; a look-alike path is not", () => {
  assert.equal(isIitmModule(runtimeURL), true);
  assert.equal(isIitmModule(impostorURL), false);
  assert.equal(isIitmModule('node:module'), false);
});

test("import-in-the-middle's wrapper is used, also with the defining modules of export * collisions", () => {
  assert.deepEqual(wrapperSource({ format: 'module', source: wrapper() }, realURL), { source: wrapper() });
  const withOrigin = wrapper(`import * as __ns0 from ${JSON.stringify(originURL)}`);
  assert.deepEqual(wrapperSource({ format: 'module', source: new TextEncoder().encode(withOrigin) }, realURL), { source: withOrigin });
});

test('anything else that comes back is refused', () => {
  const refused = (result) => assert.ok('refused' in wrapperSource(result, realURL), JSON.stringify(result));
  // import-in-the-middle could not wrap the module and handed back its own source.
  refused({ format: 'commonjs', source: ownSource });
  refused({ format: 'module', source: ownSource });
  refused({ format: 'module', source: null });
  // Not importing the wrapped module, or not import-in-the-middle's runtime.
  refused({ format: 'module', source: `import { register } from ${JSON.stringify(runtimeURL)}\n` });
  refused({ format: 'module', source: wrapper('', impostorURL) });
  // A bindings module, something that is not a file, a dynamic import.
  refused({ format: 'module', source: wrapper(`import ${JSON.stringify(`${realURL}?iitm=bindings`)}`) });
  refused({ format: 'module', source: wrapper("import 'node:child_process'") });
  refused({ format: 'module', source: wrapper("import('node:fs')") });
  refused({ format: 'module', source: 'export {' });
});

test("only the module a wrapper imports as import-in-the-middle's runtime loads natively, not a look-alike package's file", () => {
  // A directory of the wrapped package whose package.json calls itself import-in-the-middle.
  write('node_modules/dep/lib/runtime/package.json', '{"name":"import-in-the-middle","version":"0.0.0"}');
  const lookAlike = write('node_modules/dep/lib/runtime/probe.mjs', 'export const probe = 1;\n');
  assert.equal(isIitmModule(lookAlike), true); // by its package.json: not a reason to trust it
  const withLookAlike = wrapper(`import * as __ns0 from ${JSON.stringify(lookAlike)}`);
  assert.deepEqual(wrapperSource({ format: 'module', source: withLookAlike }, realURL), { source: withLookAlike });
  assert.equal(isIitmRuntime(runtimeURL), true);
  assert.equal(isIitmRuntime(lookAlike), false);
  // The runtime import must be the wrapper's first, with import-in-the-middle's bindings.
  const otherRuntime = write('node_modules/other/node_modules/import-in-the-middle/lib/register.js', 'exports.register = () => {};\n');
  write('node_modules/other/node_modules/import-in-the-middle/package.json', '{"name":"import-in-the-middle","version":"3.0.0"}');
  noteRuntimeImport({ format: 'module', source: `import * as namespace from ${JSON.stringify(realURL)}\nimport { register, ModuleBinder } from ${JSON.stringify(otherRuntime)}\n` });
  noteRuntimeImport({ format: 'module', source: `import * as x from ${JSON.stringify(otherRuntime)}\n` });
  assert.equal(isIitmRuntime(otherRuntime), false);
  assert.ok('refused' in wrapperSource({ format: 'module', source: `import * as namespace from ${JSON.stringify(realURL)}\nimport { register, ModuleBinder } from ${JSON.stringify(runtimeURL)}\n` }, realURL));
  noteRuntimeImport({ format: 'module', source: `import { register, ModuleBinder } from ${JSON.stringify(otherRuntime)}\nimport * as namespace from "node:fs"\n` });
  assert.equal(isIitmRuntime(otherRuntime), true);
});

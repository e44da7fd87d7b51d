// A facade's format and export names are kept with the stamps of what they depend on:
// a warm start reads nothing, a changed file is read again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModuleCache } from '../../dist/cache/module-cache.js';
import { facadeFacts } from '../../dist/loader/hooks/facade-facts.js';

function project() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-facade-')));
  const pkg = path.join(root, 'node_modules', 'pkg');
  fs.mkdirSync(path.join(pkg, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(root, 'package.json'), '{"name":"app"}');
  fs.writeFileSync(path.join(pkg, 'package.json'), '{"name":"pkg","main":"index.js"}');
  fs.writeFileSync(path.join(pkg, 'index.js'), "module.exports = require('./lib/impl.js');\n");
  fs.writeFileSync(path.join(pkg, 'lib', 'impl.js'), 'exports.a = 1;\nexports.b = 2;\n');
  const context = { root, packageDirOf: (file) => (file.startsWith(pkg + path.sep) ? pkg : undefined) };
    // Each call gets a fresh cache object, as a new process would (what the last one
  // stored is written out first).
  let last;
  const cache = () => {
    last?.flush();
    return (last = new ModuleCache({ dir: path.join(root, 'cache'), salt: 's' }));
  };
  return { root, pkg, context, cache };
}

const sorted = (names) => [...names].filter((n) => n !== 'module.exports').sort();

test('a facade is made once, then answered from its stamps without reading the module', () => {
  const { pkg, context, cache } = project();
  const first = facadeFacts(path.join(pkg, 'index.js'), cache(), context);
  assert.equal(first.format, 'commonjs');
  assert.deepEqual(sorted(first.names), ['a', 'b', 'default']);
  assert.equal(typeof first.source, 'string', 'read the first time');
  const again = facadeFacts(path.join(pkg, 'index.js'), cache(), context);
  assert.deepEqual(sorted(again.names), ['a', 'b', 'default']);
  assert.equal(again.source, undefined, 'answered from the cache, nothing read');
});

test('a change to a re-exported file, a package.json or an install makes it again', () => {
  const { root, pkg, context, cache } = project();
  facadeFacts(path.join(pkg, 'index.js'), cache(), context);
  fs.writeFileSync(path.join(pkg, 'lib', 'impl.js'), 'exports.a = 1;\nexports.b = 2;\nexports.c = 3;\n');
  const changed = facadeFacts(path.join(pkg, 'index.js'), cache(), context);
  assert.deepEqual(sorted(changed.names), ['a', 'b', 'c', 'default'], 'the file a re-export leads to');
  assert.equal(typeof changed.source, 'string');

  fs.writeFileSync(path.join(pkg, 'package.json'), '{"name":"pkg","main":"index.js","type":"commonjs"}');
  assert.equal(typeof facadeFacts(path.join(pkg, 'index.js'), cache(), context).source, 'string', 'package.json');

  fs.writeFileSync(path.join(root, 'node_modules', '.package-lock.json'), '{}');
  assert.equal(typeof facadeFacts(path.join(pkg, 'index.js'), cache(), context).source, 'string', 'an install');
  assert.equal(facadeFacts(path.join(pkg, 'index.js'), cache(), context).source, undefined, 'then kept again');
});

test("another Node's answer is not used (Node 23+ adds a 'module.exports' name)", () => {
  const { pkg, context, cache } = project();
  facadeFacts(path.join(pkg, 'index.js'), cache(), context, 'v22.0.0');
  assert.equal(facadeFacts(path.join(pkg, 'index.js'), cache(), context, 'v22.0.0').source, undefined);
  assert.equal(typeof facadeFacts(path.join(pkg, 'index.js'), cache(), context, 'v24.0.0').source, 'string', 'made again for this Node');
});

test('a kept record of another shape is not used: the facade is made again', async () => {
  const { pathToFileURL } = await import('node:url');
  for (const bad of [
    { stamps: [], format: 'commonjs', names: ['a', 1] },
    { stamps: [], format: 'script', names: ['a'] },
    { stamps: 'none', format: 'commonjs', names: ['a'] },
    { stamps: [[42, 1, 1]], format: 'commonjs', names: ['a'] },
  ]) {
    // A project of its own each time: the record below is the only one its cache holds.
    const { pkg, context, cache } = project();
    cache().set('facade', pathToFileURL(path.join(pkg, 'index.js')).href, 'v1', bad);
    const facts = facadeFacts(path.join(pkg, 'index.js'), cache(), context, 'v1');
    assert.equal(typeof facts.source, 'string', JSON.stringify(bad));
    assert.deepEqual(sorted(facts.names), ['a', 'b', 'default']);
  }
});

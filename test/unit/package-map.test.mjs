// LavaMoat's canonical names: shortest path, ties broken by shorter then alphabetically
// smaller names, part by part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPackageMap, compareLogicalPaths, comparePreferredName, PackageMap } from '../../dist/graph/package-map.js';

function makeTree(spec) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-pm-'));
  for (const [dir, manifest] of Object.entries(spec)) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.writeFileSync(path.join(root, dir, 'package.json'), JSON.stringify(manifest));
  }
  return fs.realpathSync(root);
}

test('name preference: shorter first, then alphabetical', () => {
  assert.ok(comparePreferredName('ab', 'abc') < 0);
  assert.ok(comparePreferredName('abd', 'abc') > 0);
  assert.equal(comparePreferredName('x', 'x'), 0);
  assert.ok(compareLogicalPaths(['a', 'b'], ['a', 'b', 'c']) < 0);
  assert.ok(compareLogicalPaths(['zz', 'b'], ['a', 'bbb']) > 0);
});

test('canonical names are the best path through the tree', () => {
  const root = makeTree({
    '.': { name: 'app', dependencies: { long: '1', b: '1' }, devDependencies: { devonly: '1' } },
    'node_modules/long': { name: 'long', dependencies: { shared: '1' } },
    'node_modules/b': { name: 'b', dependencies: { shared: '1', c: '1' } },
    'node_modules/shared': { name: 'shared' },
    'node_modules/c': { name: 'c', version: '2.0.0' },
    'node_modules/b/node_modules/c': { name: 'c', version: '1.0.0' },
    'node_modules/devonly': { name: 'devonly' },
  });
  const names = Object.fromEntries(buildPackageMap(root).packages.map((p) => [path.relative(root, p.dir) || '.', p.name]));
  assert.deepEqual(names, {
    '.': '$root$',
    'node_modules/long': 'long',
    'node_modules/b': 'b',
    // Reachable as long>shared and b>shared: "b" is the shorter name.
    'node_modules/shared': 'b>shared',
    'node_modules/b/node_modules/c': 'b>c',
  });
  const withDev = buildPackageMap(root, { includeDev: true }).packages.map((p) => p.name);
  assert.ok(withDev.includes('devonly'));
});

test('files belong to the deepest package; undeclared packages belong to none', () => {
  const root = makeTree({
    '.': { name: 'app', dependencies: { a: '1' } },
    'node_modules/a': { name: 'a' },
    'node_modules/phantom': { name: 'phantom' },
  });
  const map = new PackageMap(buildPackageMap(root));
  assert.equal(map.packageForPath(path.join(root, 'src/x.js')).name, '$root$');
  assert.equal(map.packageForPath(path.join(root, 'node_modules/a/lib/y.js')).name, 'a');
  assert.equal(map.packageForPath(path.join(root, 'node_modules/phantom/index.js')), undefined);
  assert.equal(map.packageForPath('/somewhere/else.js'), undefined);
});

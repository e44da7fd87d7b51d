// LavaMoat's canonical names: shortest path, ties broken by shorter then alphabetically
// smaller names, part by part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPackageMap, compareLogicalPaths, comparePreferredName, hasNodeModulesSegment, PackageMap } from '../../dist/graph/package-map.js';

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

test('dependency names npm could not install are skipped: no path segments, no ">"', () => {
  const root = makeTree({
    '.': { name: 'app', dependencies: { evil: '1', x: '1' } },
    lib: { type: 'module' },
    'node_modules/evil': {
      name: 'evil',
      // "../../../lib" is the app's lib/ from evil's node_modules; "x>y" a folder of evil's
      // named as its dependency's dependency; "@s/../x" and "a/b" paths again.
      optionalDependencies: { '../../../lib': '*', 'x>y': '*', '@s/../../x': '*', 'a/b': '*', '..': '*', '@scope/ok': '*', Legacy_Name: '*' },
    },
    'node_modules/evil/node_modules/x>y': { name: 'fake' },
    'node_modules/evil/node_modules/@scope/ok': { name: '@scope/ok' },
    'node_modules/evil/node_modules/Legacy_Name': { name: 'Legacy_Name' },
    'node_modules/x': { name: 'x', dependencies: { y: '1' } },
    'node_modules/x/node_modules/y': { name: 'y' },
  });
  const names = Object.fromEntries(buildPackageMap(root).packages.map((p) => [path.relative(root, p.dir) || '.', p.name]));
  assert.deepEqual(names, {
    '.': '$root$',
    'node_modules/evil': 'evil',
    'node_modules/evil/node_modules/@scope/ok': 'evil>@scope/ok',
    'node_modules/evil/node_modules/Legacy_Name': 'evil>Legacy_Name',
    'node_modules/x': 'x',
    'node_modules/x/node_modules/y': 'x>y',
  });
  const map = new PackageMap(buildPackageMap(root));
  assert.equal(map.packageForPath(path.join(root, 'lib', 'secret.mjs'))?.name, '$root$');
});

test('a node_modules segment in any case (and folding ſ to s) means a package, as on macOS (attack case 141)', () => {
  for (const file of ['/app/node_modules/x/a.js', '/app/NODE_MODULES/x/a.js', '/app/Node_Modules/x', '/app/node_moduleſ/x/a.js', 'node_modules']) {
    assert.equal(hasNodeModulesSegment(file), true, file);
  }
  for (const file of ['/app/lib/a.js', '/app/my_node_modules/a.js', '/app/node_modules.js', '/app/node_modulesx/a.js']) {
    assert.equal(hasNodeModulesSegment(file), false, file);
  }
  // On a case-sensitive file system a path through NODE_MODULES is no file of the app's
  // package: no owner (the hooks refuse it), never the app.
  const root = makeTree({ '.': { name: 'app', dependencies: { x: '1' } }, 'node_modules/x': { name: 'x' } });
  const map = new PackageMap(buildPackageMap(root));
  assert.equal(map.packageForPath(path.join(root, 'NODE_MODULES', 'x', 'a.js')), undefined);
  const x = map.packageForPath(path.join(root, 'node_modules', 'x', 'a.js'));
  assert.equal(x?.name, 'x');
  // A file of a package spelled from its directory (as its compartment names it).
  assert.equal(map.pathIn(x, path.join(root, 'NODE_MODULES', 'X', 'lib', 'a.js')), path.join(root, 'node_modules', 'x', 'lib', 'a.js'));
  assert.equal(map.pathIn(x, path.join(root, 'node_modules', 'x', 'a.js')), path.join(root, 'node_modules', 'x', 'a.js'));
});

test("a dependency installed under node_modules names only directories right inside a node_modules folder (attack case 183)", () => {
  const root = makeTree({
    '.': { name: 'app', dependencies: { evil: '1', ws: 'file:packages/ws' } },
    'lib/linked': { name: 'linked', type: 'module' },
    'packages/ws': { name: 'ws', dependencies: { 'ws-dep': 'file:../ws-dep', reg: '1' } },
    'packages/ws-dep': { name: 'ws-dep' },
    'node_modules/evil': { name: 'evil', dependencies: { applib: 'file:../../lib/linked', ws: '*', vdist: 'file:../reg/dist' } },
    'node_modules/reg': { name: 'reg' },
    'node_modules/reg/dist': { type: 'commonjs' },
    'node_modules/.pnpm/pn@1.0.0/node_modules/pn': { name: 'pn' },
  });
  // What npm makes of those `file:` dependencies: links.
  fs.mkdirSync(path.join(root, 'node_modules/evil/node_modules'), { recursive: true });
  fs.symlinkSync('../../../lib/linked', path.join(root, 'node_modules/evil/node_modules/applib'));
  fs.symlinkSync('../../reg/dist', path.join(root, 'node_modules/evil/node_modules/vdist'));
  // pnpm's layout: a link to the store's `node_modules/<name>` is installable.
  fs.writeFileSync(path.join(root, 'node_modules/evil/package.json'), JSON.stringify({ name: 'evil', dependencies: { applib: 'file:../../lib/linked', ws: '*', vdist: 'file:../reg/dist', pn: '1' } }));
  fs.symlinkSync('../../.pnpm/pn@1.0.0/node_modules/pn', path.join(root, 'node_modules/evil/node_modules/pn'));
  fs.symlinkSync('../packages/ws', path.join(root, 'node_modules/ws'));
  fs.mkdirSync(path.join(root, 'packages/ws/node_modules'), { recursive: true });
  fs.symlinkSync('../../ws-dep', path.join(root, 'packages/ws/node_modules/ws-dep'));
  const data = buildPackageMap(root);
  const names = Object.fromEntries(data.packages.map((p) => [path.relative(root, p.dir) || '.', p.name]));
  assert.deepEqual(names, {
    '.': '$root$',
    'node_modules/evil': 'evil',
    // The app's workspace and the workspace's own: declared outside node_modules.
    'packages/ws': 'ws',
    'packages/ws-dep': 'ws>ws-dep',
    'node_modules/reg': 'ws>reg',
    'node_modules/.pnpm/pn@1.0.0/node_modules/pn': 'evil>pn',
  });
  // The linked directories stay the app's and reg's.
  const map = new PackageMap(data);
  assert.equal(map.packageForPath(path.join(root, 'lib/linked/x.mjs'))?.name, '$root$');
  assert.equal(map.packageForPath(path.join(root, 'node_modules/reg/dist/x.js'))?.name, 'ws>reg');
});

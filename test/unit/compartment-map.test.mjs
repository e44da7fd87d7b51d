// The converter from LavaMoat's policy format to compartment-mapper's, case by case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCompartmentMap, convertResourcePolicy, ENTRY_LOCATION, ENTRY_SPECIFIER, resourceFor } from '../../dist/confine/compartment-map.js';
import { PackageMap } from '../../dist/graph/package-map.js';

test('an absent resource allows nothing', () => {
  assert.deepEqual(convertResourcePolicy(undefined), {
    packages: {}, builtins: {}, globals: {}, noGlobalFreeze: true, options: { native: false },
  });
});

test('packages keep their canonical names; false entries are dropped', () => {
  const p = convertResourcePolicy({ packages: { 'a>b': true, c: false } });
  assert.deepEqual(p.packages, { 'a>b': true });
});

test('"builtin" becomes "builtins", module-level, under both spellings', () => {
  const p = convertResourcePolicy({ builtin: { 'fs.readFile': true, 'node:path': true, os: false, 'fs.promises.readFile': true } });
  assert.deepEqual(p.builtins, { fs: true, 'node:fs': true, path: true, 'node:path': true });
});

test('globals are not handed to compartment-mapper (endowments narrow them)', () => {
  const p = convertResourcePolicy({ globals: { 'process.env': true, fetch: true } });
  assert.deepEqual(p.globals, {});
});

test('native is carried as an option', () => {
  assert.equal(convertResourcePolicy({ native: true }).options.native, true);
  assert.equal(convertResourcePolicy({ native: false }).options.native, false);
});

const data = {
  root: '/app',
  packages: [
    { name: '$root$', dir: '/app', location: 'file:///app/', packageName: 'app', version: '1.0.0', type: 'module' },
    { name: 'dep', dir: '/app/node_modules/dep', location: 'file:///app/node_modules/dep/', packageName: 'dep', version: '2.0.0', type: 'commonjs' },
  ],
};

test('the compartment map has a compartment per package plus an empty entry compartment', () => {
  const map = buildCompartmentMap(new PackageMap(data), { resources: { dep: { packages: {} } } });
  assert.deepEqual(map.entry, { compartment: ENTRY_LOCATION, module: ENTRY_SPECIFIER });
  assert.deepEqual(Object.keys(map.compartments).sort(), [ENTRY_LOCATION, 'file:///app/', 'file:///app/node_modules/dep/'].sort());
  assert.equal(map.compartments['file:///app/'].label, '$root$');
  assert.equal(map.compartments['file:///app/'].policy, undefined, 'the root is trusted');
  assert.equal(map.compartments['file:///app/node_modules/dep/'].label, 'dep');
  assert.deepEqual(map.compartments['file:///app/node_modules/dep/'].policy.packages, {});
  assert.equal(map.compartments[ENTRY_LOCATION].policy, undefined);
});

test('a package missing from the policy gets an empty policy (denies everything)', () => {
  const map = buildCompartmentMap(new PackageMap(data), { resources: {} });
  assert.deepEqual(map.compartments['file:///app/node_modules/dep/'].policy.builtins, {});
});

test('root.usePolicy confines the root with that resource', () => {
  const policy = { root: { usePolicy: 'app-policy' }, resources: { 'app-policy': { builtin: { fs: true } } } };
  const pm = new PackageMap(data);
  assert.deepEqual(resourceFor(pm.root, policy), { builtin: { fs: true } });
  const map = buildCompartmentMap(pm, policy);
  assert.deepEqual(map.compartments['file:///app/'].policy.builtins, { fs: true, 'node:fs': true });
});

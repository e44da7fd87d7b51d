// Unit tests of the policy module (load, validate, merge).
// Run after building: npx tsc -p tsconfig.json && node --test test/unit/policy.test.mjs
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import {
  PolicyError,
  assertValidPolicy,
  formatIssues,
  isCanonicalName,
  loadPolicy,
  mergePolicy,
  validateMergeResult,
  validatePolicy,
} from '../../dist/policy/index.js';

const schema = JSON.parse(readFileSync(new URL('../../schema/policy.schema.json', import.meta.url), 'utf8'));
const schemaValidator = new Ajv({ allErrors: true, strict: true }).compile(schema);

const tmpRoot = mkdtempSync(join(tmpdir(), 'lavamoat-policy-test-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));

let dirCount = 0;
/** A fresh directory holding the given files (objects are written as JSON, strings as is). */
function policyDir(files) {
  const dir = join(tmpRoot, `case-${dirCount++}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return { dir, policyPath: join(dir, 'policy.json'), overridePath: join(dir, 'policy-override.json') };
}

function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Issues as formatted for users, without the file prefix. */
function messages(issues) {
  if (issues.length === 0) return [];
  return formatIssues('F', issues, Infinity).split('\n').map((line) => line.slice('F: '.length));
}

// ---------------------------------------------------------------------------

describe('valid policies', () => {
  const everything = {
    $schema: '../../node_modules/lavamoat/schema/policy.schema.json',
    resources: {
      'some-package': {
        globals: {
          console: true,
          setTimeout: 'read',
          'process.exitCode': 'write',
          globalThis: 'redefine',
          'Buffer.from': true,
          'process.env.NODE_ENV': true,
          fetch: false,
          toString: true,
        },
        builtin: { fs: true, 'fs.readFile': true, 'node:path': true, 'fs/promises.readFile': true, net: false },
        packages: { 'some-package>entropoetry': true, '@scope/pkg': 'write', 'legacy>JSONStream': false },
        native: true,
        meta: { reason: 'test', links: ['https://example.com'] },
      },
      'some-package>entropoetry': {},
      'some-package>entropoetry>bn.js': { native: false },
      '@scope/pkg': { globals: {} },
      constructor: { globals: { Date: true } },
    },
    root: { usePolicy: 'some-package' },
    include: ['dynamic-dep', { name: '@scope/pkg', modules: ['./lib/a.js'] }, { location: './packages/x' }],
    resolutions: { 'some-package': { 'old-module': './shim.js', other: '../up.js' } },
  };

  const cases = {
    'all value kinds, $schema, dotted keys, include, resolutions, meta, root': everything,
    'empty resources': { resources: {} },
    'resource with only native': { resources: { a: { native: true } } },
    'deny at top level with a re-granted member': {
      resources: { a: { globals: { document: false, 'document.createElement': true } } },
    },
    'redundant grant (collapsed on merge, not an error)': { resources: { a: { globals: { a: true, 'a.b': true } } } },
  };

  for (const [name, policy] of Object.entries(cases)) {
    test(name, () => {
      assert.deepEqual(validatePolicy(policy, 'policy'), []);
      assert.deepEqual(validatePolicy(policy, 'merged'), []);
      assert.equal(schemaValidator(policy), true, JSON.stringify(schemaValidator.errors));
    });
  }

  test('an override may leave resources out', () => {
    const override = { root: { usePolicy: 'only-in-policy' } };
    assert.deepEqual(validatePolicy(override, 'override'), []);
    assert.equal(schemaValidator(override), true);
    assert.match(messages(validatePolicy(override, 'policy')).join('\n'), /^resources is required/);
  });

  test('LavaMoat\'s "$root$": a resource key, a packages key and root.usePolicy', () => {
    const policy = {
      resources: { $root$: { packages: { a: true } }, a: { packages: { $root$: true } } },
      root: { usePolicy: '$root$' },
    };
    assert.deepEqual(validatePolicy(policy, 'policy'), []);
    assert.deepEqual(validatePolicy(policy, 'merged'), []);
    assert.equal(schemaValidator(policy), true);
    const override = { resources: { $root$: { globals: { x: true } } } };
    assert.deepEqual(validatePolicy(override, 'override'), []);
    // Other $-names are still not package names.
    assert.match(messages(validatePolicy({ resources: { $other$: {} } }, 'policy')).join('\n'), /not a canonical package name/);
    assert.equal(schemaValidator({ resources: { $other$: {} } }), false);
  });

  test('canonical names', () => {
    for (const name of ['a', 'a>b', '@s/a>b.js', 'JSONStream', 'a-b>c_d~e', "x>(y)!'*"]) {
      assert.equal(isCanonicalName(name), true, name);
    }
    for (const name of ['', 'a>', '>a', 'a>>b', 'a b', '_private', '.hidden', '__proto__', '@s', '@s/', 'a/b', '<unknown:./x>']) {
      assert.equal(isCanonicalName(name), false, name);
    }
  });
});

// ---------------------------------------------------------------------------

describe('malformed policies', () => {
  // [case, value, kind, expected lines (each must appear), rejected by the JSON schema too]
  const cases = [
    ['top level is an array', [], 'policy', ['the policy must be a JSON object (got an array)'], true],
    ['top level is null', null, 'policy', ['the policy must be a JSON object (got null)'], true],
    ['top level is a string', 'x', 'override', ['the policy must be a JSON object (got "x")'], true],
    ['missing resources', {}, 'policy', ['resources is required'], false],
    ['unknown top-level key', { resources: {}, resource: {} }, 'policy',
      ['the policy has unknown key "resource" (allowed: "resources", "root", "include", "resolutions" or "$schema"); did you mean "resources"?'], true],
    ['debugInfo', { resources: {}, debugInfo: {} }, 'policy', ['unknown key "debugInfo"', 'policy-debug.json'], true],
    ['$schema not a string', { resources: {}, $schema: 1 }, 'policy', ['$schema must be a string (got 1)'], true],
    ['resources is an array', { resources: [] }, 'policy',
      ['resources must be an object mapping canonical package names to policies (got an array)'], true],
    ['resource is not an object', { resources: { a: true } }, 'policy', ['resources["a"] must be an object'], true],
    ['resource is null', { resources: { a: null } }, 'policy', ['resources["a"] must be an object', '(got null)'], true],
    ['bad resource name', { resources: { 'a >b': {} } }, 'policy', ['resources["a >b"] is not a canonical package name'], true],
    ['unknown resource key (old spelling builtins)', { resources: { a: { builtins: { fs: true } } } }, 'policy',
      ['resources["a"] has unknown key "builtins"', 'did you mean "builtin"?'], true],
    ['env other than "unfrozen"', { resources: { a: { env: 'frozen' } } }, 'policy', ['resources["a"].env must be "unfrozen"'], true],
    ['unknown resource key', { resources: { a: { environment: 'unfrozen' } } }, 'policy', ['resources["a"] has unknown key "environment"'], true],
    ['globals not an object', { resources: { a: { globals: ['fetch'] } } }, 'policy',
      ['resources["a"].globals must be an object mapping global names to access (got an array)'], true],
    ['global value is a number', { resources: { foo: { globals: { fetch: 3 } } } }, 'policy',
      ['resources["foo"].globals["fetch"] must be true, "read", "write", "redefine" or false (got 3)'], true],
    ['global value is an unknown string', { resources: { a: { globals: { fetch: 'readwrite' } } } }, 'policy',
      ['resources["a"].globals["fetch"] must be true, "read", "write", "redefine" or false (got "readwrite")'], true],
    ['global value is null', { resources: { a: { globals: { fetch: null } } } }, 'policy', ['(got null)'], true],
    ['global key with an empty part', { resources: { a: { globals: { 'process..env': true } } } }, 'policy',
      ['resources["a"].globals["process..env"] is not a valid global path'], true],
    ['global key with __proto__', { resources: { a: { globals: { 'Object.__proto__': true } } } }, 'policy',
      ['resources["a"].globals["Object.__proto__"] must not contain "__proto__"'], true],
    ['builtin value is a string', { resources: { a: { builtin: { fs: 'yes' } } } }, 'policy',
      ['resources["a"].builtin["fs"] must be true or false (got "yes")'], true],
    ['builtin value "write"', { resources: { a: { builtin: { fs: 'write' } } } }, 'policy',
      ['resources["a"].builtin["fs"] must be true or false (got "write")'], true],
    ['builtin not an object', { resources: { a: { builtin: 'fs' } } }, 'policy', ['resources["a"].builtin must be an object'], true],
    ['packages value is a number', { resources: { a: { packages: { b: 1 } } } }, 'policy',
      ['resources["a"].packages["b"] must be true, "write" or false (got 1)'], true],
    ['packages value "read"', { resources: { a: { packages: { b: 'read' } } } }, 'policy',
      ['resources["a"].packages["b"] must be true, "write" or false (got "read")'], true],
    ['packages key is not a canonical name', { resources: { a: { packages: { 'b c': true } } } }, 'policy',
      ['resources["a"].packages["b c"] is not a canonical package name'], true],
    ['packages is an array', { resources: { a: { packages: ['b'] } } }, 'policy', ['resources["a"].packages must be an object'], true],
    ['native is a string', { resources: { a: { native: 'true' } } }, 'policy',
      ['resources["a"].native must be true or false (got "true")'], true],
    ['meta value is a number', { resources: { a: { meta: { n: 1 } } } }, 'policy',
      ['resources["a"].meta["n"] must be a string or an array of strings (got 1)'], true],
    ['root is a string', { resources: {}, root: 'a' }, 'policy', ['root must be an object'], true],
    ['unknown root key', { resources: { a: {} }, root: { usepolicy: 'a' } }, 'policy',
      ['root has unknown key "usepolicy"', 'did you mean "usePolicy"?'], true],
    ['root.usePolicy not a string', { resources: {}, root: { usePolicy: true } }, 'policy',
      ['root.usePolicy must be a canonical package name string (got true)'], true],
    ['root.usePolicy not a canonical name', { resources: {}, root: { usePolicy: 'a b' } }, 'policy',
      ['root.usePolicy is not a canonical package name'], true],
    ['include not an array', { resources: {}, include: 'a' }, 'policy', ['include must be an array (got "a")'], true],
    ['include entry is a number', { resources: {}, include: [1] }, 'policy', ['include[0] must be a canonical name'], true],
    ['include entry with name and location', { resources: {}, include: [{ name: 'a', location: './a' }] }, 'policy',
      ['include[0] must have exactly one of "name" and "location"'], true],
    ['include entry with neither', { resources: {}, include: [{ modules: ['x'] }] }, 'policy',
      ['include[0] must have exactly one of "name" and "location"'], true],
    ['include entry with unknown key', { resources: {}, include: [{ name: 'a', module: 'x' }] }, 'policy',
      ['include[0] has unknown key "module"'], true],
    ['include location above the root', { resources: {}, include: [{ location: '../outside' }] }, 'policy',
      ['include[0].location must be a relative POSIX path inside the project root'], true],
    ['include location absolute', { resources: {}, include: [{ location: '/etc' }] }, 'policy',
      ['include[0].location must be a relative POSIX path inside the project root'], true],
    ['include modules not strings', { resources: {}, include: [{ name: 'a', modules: [1] }] }, 'policy',
      ['include[0].modules must be an array of non-empty module paths'], true],
    ['resolutions target not relative', { resources: {}, resolutions: { a: { b: '/abs.js' } } }, 'policy',
      ['resolutions["a"]["b"] must be a path relative to the package root starting with "./" or "../" (got "/abs.js")'], true],
    ['resolutions entry not an object', { resources: {}, resolutions: { a: './x.js' } }, 'policy',
      ['resolutions["a"] must be an object mapping module specifiers to relative paths (got "./x.js")'], true],
    // Rules JSON Schema cannot express: checked by the validator only.
    ['include location that climbs out midway', { resources: {}, include: [{ location: 'a/../../b' }] }, 'policy',
      ['include[0].location must be a relative POSIX path inside the project root'], false],
    ['grant "a", deny "a.b" (globals)', { resources: { a: { globals: { process: true, 'process.env': false } } } }, 'policy',
      ['resources["a"].globals["process.env"] denies a member of "process", which is granted: LavaMoat policies are allow-lists'], false],
    ['grant "a", deny "a.b.c" (builtin)', { resources: { a: { builtin: { fs: true, 'fs.promises.rm': false } } } }, 'override',
      ['resources["a"].builtin["fs.promises.rm"] denies a member of "fs"'], false],
    ['root.usePolicy not in merged resources', { resources: { a: {} }, root: { usePolicy: 'b' } }, 'merged',
      ['root.usePolicy names "b", which is not a key of resources'], false],
    ['root.usePolicy "constructor" is not inherited from Object.prototype', { resources: {}, root: { usePolicy: 'constructor' } },
      'merged', ['root.usePolicy names "constructor", which is not a key of resources'], false],
  ];

  for (const [name, value, kind, expected, schemaRejects] of cases) {
    test(name, () => {
      const found = messages(validatePolicy(value, kind)).join('\n');
      for (const text of expected) assert.ok(found.includes(text), `expected ${JSON.stringify(text)} in:\n${found}`);
      if (schemaRejects) assert.equal(schemaValidator(value), false, 'the JSON schema should reject it too');
    });
  }

  test('every problem is reported, not just the first', () => {
    const issues = validatePolicy({ resources: { a: { globals: { x: 1, y: 2 }, bogus: true } }, extra: 1 }, 'policy');
    assert.equal(issues.length, 4);
  });

  test('formatIssues names the file, the JSON path and what was expected', () => {
    const issues = validatePolicy({ resources: { foo: { globals: { fetch: 3 } } } }, 'policy');
    assert.equal(
      formatIssues('lavamoat/node/policy.json', issues),
      'lavamoat/node/policy.json: resources["foo"].globals["fetch"] must be true, "read", "write", "redefine" or false (got 3)',
    );
    const many = validatePolicy({ resources: { a: { globals: Object.fromEntries([...Array(30)].map((_, i) => [`g${i}`, i])) } } }, 'policy');
    const text = formatIssues('p.json', many);
    assert.equal(text.split('\n').length, 21);
    assert.match(text, /p\.json: \.\.\. and 10 more problems$/);
  });

  test('assertValidPolicy throws a PolicyError', () => {
    assert.throws(() => assertValidPolicy({ resources: { a: { native: 1 } } }, 'policy', 'x/policy.json'), (error) => {
      assert.ok(error instanceof PolicyError);
      assert.equal(error.code, 'LAVAMOAT_POLICY_INVALID');
      assert.equal(error.file, 'x/policy.json');
      assert.equal(error.issues.length, 1);
      return true;
    });
    assert.doesNotThrow(() => assertValidPolicy({ resources: {} }, 'policy', 'x/policy.json'));
  });

  test('PolicyError prints as PolicyError, with code and file but not the issue list', () => {
    const error = new PolicyError('LAVAMOAT_POLICY_INVALID', 'p.json', 'p.json: bad', { issues: [{ path: 'x', message: 'y' }] });
    assert.equal(error.name, 'PolicyError');
    assert.match(error.stack, /^PolicyError: p\.json: bad/);
    assert.deepEqual(Object.keys(error), ['code', 'file']);
    assert.equal(error.issues.length, 1);
  });
});

// ---------------------------------------------------------------------------

describe('mergePolicy', () => {
  const merge = (policy, override) => mergePolicy(deepFreeze(policy), override && deepFreeze(override));

  test('no override: copies and collapses redundant dotted grants', () => {
    const policy = { resources: { a: { globals: { process: true, 'process.env': true, 'process.env.X': 'write' } } } };
    const merged = merge(policy);
    assert.deepEqual(merged, { resources: { a: { globals: { process: true } } } });
    assert.notEqual(merged.resources, policy.resources);
  });

  test('$schema is not carried into the result', () => {
    assert.deepEqual(merge({ $schema: 'x', resources: {} }, { $schema: 'y' }), { resources: {} });
  });

  test('an override adds grants', () => {
    const merged = merge(
      { resources: { a: { globals: { console: true }, builtin: { fs: true } } } },
      { resources: { a: { globals: { fetch: true }, builtin: { 'http.request': true }, packages: { b: true } }, c: { native: true } } },
    );
    assert.deepEqual(merged, {
      resources: {
        a: { globals: { console: true, fetch: true }, builtin: { fs: true, 'http.request': true }, packages: { b: true } },
        c: { native: true },
      },
    });
  });

  test('false in the override denies a generated grant', () => {
    const merged = merge(
      { resources: { a: { globals: { fetch: true, console: true }, builtin: { fs: true, path: true } } } },
      { resources: { a: { globals: { fetch: false }, builtin: { fs: false } } } },
    );
    assert.deepEqual(merged.resources.a, { globals: { fetch: false, console: true }, builtin: { fs: false, path: true } });
  });

  test('builtin: "node:fs" and "fs" are one key, so a denial in either spelling takes back the other (attack case 140)', () => {
    const merged = merge(
      { resources: { a: { builtin: { 'node:child_process': true, 'node:fs.writeFileSync': true, 'node:fs.readFileSync': true, 'node:os': true } } } },
      { resources: { a: { builtin: { child_process: false, 'fs.writeFileSync': false } } } },
    );
    assert.deepEqual(merged.resources.a.builtin, { child_process: false, 'fs.writeFileSync': false, 'fs.readFileSync': true, os: true });
    const back = merge({ resources: { a: { builtin: { fs: true, path: true } } } }, { resources: { a: { builtin: { 'node:fs': false } } } });
    assert.deepEqual(back.resources.a.builtin, { fs: false, path: true });
    // No override: the prefix is dropped too; both spellings in one file, the denial wins.
    assert.deepEqual(merge({ resources: { a: { builtin: { 'node:fs': true, 'node:path.join': true } } } }).resources.a.builtin, { fs: true, 'path.join': true });
    assert.deepEqual(merge({ resources: { a: { builtin: { 'node:net': true, net: false } } } }).resources.a.builtin, { net: false });
    // A denial under a grant spelled the other way is rejected as any other.
    assert.match(
      validatePolicy({ resources: { a: { builtin: { 'node:fs': true, 'fs.writeFileSync': false } } } }, 'policy').map((i) => i.message).join('\n'),
      /denies a member of "node:fs"/,
    );
  });

  test('denying a top-level key removes its generated sub-keys', () => {
    const merged = merge(
      { resources: { a: { globals: { 'process.env': true, 'process.argv': true, console: true }, builtin: { 'fs.readFile': true, 'fs.promises.rm': true } } } },
      { resources: { a: { globals: { process: false }, builtin: { fs: false } } } },
    );
    assert.deepEqual(merged.resources.a, { globals: { console: true, process: false }, builtin: { fs: false } });
  });

  test('denying a dotted key removes the keys beneath it only', () => {
    const merged = merge(
      { resources: { a: { globals: { 'q.w.e': true, 'q.x': true } } } },
      { resources: { a: { globals: { 'q.w': false } } } },
    );
    assert.deepEqual(merged.resources.a.globals, { 'q.x': true, 'q.w': false });
  });

  test('sub-keys granted explicitly in the override are added back', () => {
    // LavaMoat's own "real use case": narrow document and window to single members.
    const merged = merge(
      { resources: { a: { globals: { document: true, window: true, 'document.body': true } } } },
      { resources: { a: { globals: { document: false, 'document.createElement': true, window: false, 'window.location.hash': true } } } },
    );
    assert.deepEqual(merged.resources.a.globals, {
      document: false,
      window: false,
      'document.createElement': true,
      'window.location.hash': true,
    });
  });

  test('re-granting deeper than a removed generated key', () => {
    const merged = merge(
      { resources: { a: { globals: { 'a.b': true } } } },
      { resources: { a: { globals: { a: false, 'a.b.c': true } } } },
    );
    assert.deepEqual(merged.resources.a.globals, { a: false, 'a.b.c': true });
  });

  test('a deny and a grant beneath it in the same file both stay', () => {
    const policy = { resources: { a: { globals: { a: false, 'a.b': true } } } };
    assert.deepEqual(merge(policy).resources.a.globals, { a: false, 'a.b': true });
    assert.deepEqual(merge(policy, { resources: { a: { globals: { c: true } } } }).resources.a.globals, { a: false, 'a.b': true, c: true });
  });

  test('a grant in the override under a deny from the policy stays', () => {
    const merged = merge({ resources: { a: { globals: { a: false } } } }, { resources: { a: { globals: { 'a.b': true } } } });
    assert.deepEqual(merged.resources.a.globals, { a: false, 'a.b': true });
  });

  test('redundant grants collapse to the shorter key', () => {
    const merged = merge(
      { resources: { a: { globals: { 'Buffer.from': true, 'Buffer.alloc': true }, builtin: { 'fs.readFile': true } } } },
      { resources: { a: { globals: { Buffer: true }, builtin: { fs: true, 'fs.writeFile': true } } } },
    );
    assert.deepEqual(merged.resources.a, { globals: { Buffer: true }, builtin: { fs: true } });
    assert.deepEqual(validatePolicy(merged, 'merged'), []);
  });

  test('the result never holds "a" and "a.b" both granted', () => {
    const merged = merge({ resources: { a: { globals: { abc: true, qwe: 'write' } } } }, { resources: { a: { globals: { 'abc.z': true, 'qwe.z': 'read' } } } });
    assert.deepEqual(merged.resources.a.globals, { abc: true, qwe: 'write' });
  });

  test('redundant denials beneath a denial are dropped', () => {
    const merged = merge({ resources: { a: { globals: { x: false } } } }, { resources: { a: { globals: { 'x.y': false } } } });
    assert.deepEqual(merged.resources.a.globals, { x: false });
  });

  test('a denial beneath a grant is kept so validation rejects it', () => {
    const merged = merge({ resources: { a: { globals: { process: true } } } }, { resources: { a: { globals: { 'process.env': false } } } });
    assert.deepEqual(merged.resources.a.globals, { process: true, 'process.env': false });
    assert.match(messages(validatePolicy(merged, 'merged'))[0], /^resources\["a"\]\.globals\["process\.env"\] denies a member of "process"/);
  });

  test('packages: false in the override takes a package away', () => {
    const merged = merge({ resources: { a: { packages: { b: true, c: true } } } }, { resources: { a: { packages: { b: false, d: true } } } });
    assert.deepEqual(merged.resources.a.packages, { b: false, c: true, d: true });
  });

  test('native: the override wins, including false', () => {
    assert.equal(merge({ resources: { a: { native: true } } }, { resources: { a: { native: false } } }).resources.a.native, false);
    assert.equal(merge({ resources: { a: { native: true } } }, { resources: { a: {} } }).resources.a.native, true);
    assert.equal(merge({ resources: { a: {} } }, { resources: { a: { native: true } } }).resources.a.native, true);
  });

  test('root.usePolicy: the override sets or replaces it', () => {
    assert.deepEqual(merge({ resources: { a: {}, b: {} } }, { root: { usePolicy: 'a' } }).root, { usePolicy: 'a' });
    assert.deepEqual(merge({ resources: { a: {}, b: {} }, root: { usePolicy: 'a' } }, { root: { usePolicy: 'b' } }).root, { usePolicy: 'b' });
    assert.deepEqual(merge({ resources: {}, root: { usePolicy: 'a' } }, { resources: {} }).root, { usePolicy: 'a' });
    assert.equal('root' in merge({ resources: {} }, { resources: {} }), false);
  });

  test('include is concatenated without duplicates; resolutions merge per package', () => {
    const merged = merge(
      { resources: {}, include: ['a', { name: 'b', modules: ['x', 'y'] }], resolutions: { p: { m: './m.js', n: './n.js' } } },
      { include: ['a', { name: 'b', modules: ['y', 'x'] }, { name: 'a' }, { location: './l' }], resolutions: { p: { n: './n2.js' }, q: { o: './o.js' } } },
    );
    assert.deepEqual(merged.include, ['a', { name: 'b', modules: ['x', 'y'] }, { name: 'a' }, { location: './l' }]);
    assert.deepEqual(merged.resolutions, { p: { m: './m.js', n: './n2.js' }, q: { o: './o.js' } });
  });

  test('meta merges key by key', () => {
    const merged = merge({ resources: { a: { meta: { x: '1', y: ['2'] } } } }, { resources: { a: { meta: { y: '3' } } } });
    assert.deepEqual(merged.resources.a.meta, { x: '1', y: '3' });
  });

  test('inputs are not modified; the result shares only resources the merge left as they were', () => {
    const policy = {
      resources: {
        a: { globals: { document: true, 'document.body': true }, builtin: { fs: true }, packages: { b: true }, meta: { l: ['x'] } },
        untouched: { globals: { console: true }, packages: { b: true } },
      },
      root: { usePolicy: 'a' },
      include: [{ name: 'a', modules: ['m'] }],
      resolutions: { a: { x: './y.js' } },
    };
    const override = { resources: { a: { globals: { document: false, 'document.title': true } }, z: { native: true } }, include: ['z'] };
    const before = structuredClone([policy, override]);
    // Frozen inputs make any write throw in strict mode.
    const merged = mergePolicy(deepFreeze(policy), deepFreeze(override));
    assert.deepEqual([policy, override], before);

    const inputs = new Set();
    const collect = (value) => {
      if (value && typeof value === 'object') {
        inputs.add(value);
        Object.values(value).forEach(collect);
      }
    };
    collect(policy);
    collect(override);
    const shared = [];
    const walk = (value, path) => {
      if (value && typeof value === 'object') {
        if (inputs.has(value)) shared.push(path);
        for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
      }
    };
    walk(merged, '$');
    assert.deepEqual(shared.filter((path) => !path.startsWith('$.resources.untouched')), []);
  });

  test('names that exist on Object.prototype are plain keys', () => {
    const merged = merge({ resources: { constructor: { globals: { toString: true } } } }, { resources: { hasOwnProperty: { native: true } } });
    assert.deepEqual(Object.keys(merged.resources), ['constructor', 'hasOwnProperty']);
    assert.deepEqual(merged.resources.constructor.globals, { toString: true });
    assert.equal(Object.getPrototypeOf(merged.resources), Object.prototype);
  });

  test('validateMergeResult finds what a full validation of the merge finds', () => {
    const pairs = [
      [{ resources: { a: { globals: { process: true } }, b: {} } }, { resources: { a: { globals: { 'process.env': false } } } }],
      [{ resources: { a: { builtin: { fs: true } } } }, { resources: { c: { builtin: { fs: true, 'fs.rm': false } } } }],
      [{ resources: { a: {} } }, { root: { usePolicy: 'missing' } }],
      [{ resources: { a: {} }, root: { usePolicy: 'gone' } }, undefined],
      [{ resources: { a: { globals: { x: true } } } }, { resources: { a: { globals: { y: true } } }, root: { usePolicy: 'a' } }],
    ];
    for (const [policy, override] of pairs) {
      const merged = merge(policy, override);
      const sort = (issues) => messages(issues).sort();
      assert.deepEqual(sort(validateMergeResult(merged, override)), sort(validatePolicy(merged, 'merged')));
    }
    assert.equal(validateMergeResult(merge(...pairs[0]), pairs[0][1]).length, 1);
    assert.equal(validateMergeResult(merge(...pairs[4]), pairs[4][1]).length, 0);
  });

  test('merges LavaMoat\'s own "overrides to disallow" case, except the unsupported carve-out', () => {
    const merged = merge(
      { resources: { babel: { globals: { abc: true, xyz: false, 'a.b': true, 'q.w.e': true }, builtin: { derp: true, qwerty: false } } } },
      { resources: { babel: { globals: { abc: false, 'q.w': false }, builtin: { derp: false } } } },
    );
    assert.deepEqual(merged, {
      resources: { babel: { globals: { abc: false, xyz: false, 'a.b': true, 'q.w': false }, builtin: { derp: false, qwerty: false } } },
    });
  });
});

// ---------------------------------------------------------------------------

describe('loadPolicy', () => {
  const policy = { resources: { a: { globals: { fetch: true, 'process.env': true } }, b: {} } };

  test('policy alone', () => {
    const { policyPath, overridePath } = policyDir({ 'policy.json': policy });
    const loaded = loadPolicy({ policyPath, overridePath });
    assert.deepEqual(loaded.policy, policy);
    assert.deepEqual(loaded.files, [policyPath]);
  });

  test('overridePath may be omitted', () => {
    const { policyPath } = policyDir({ 'policy.json': policy });
    assert.deepEqual(loadPolicy({ policyPath }).files, [policyPath]);
  });

  test('policy and override are merged', () => {
    const { policyPath, overridePath } = policyDir({
      'policy.json': policy,
      'policy-override.json': { resources: { a: { globals: { process: false, 'process.env.HOME': true } } }, root: { usePolicy: 'b' } },
    });
    const loaded = loadPolicy({ policyPath, overridePath });
    assert.deepEqual(loaded.policy, {
      resources: { a: { globals: { fetch: true, process: false, 'process.env.HOME': true } }, b: {} },
      root: { usePolicy: 'b' },
    });
    assert.deepEqual(loaded.files, [policyPath, overridePath]);
  });

  test('a byte-order mark is accepted', () => {
    const { policyPath } = policyDir({ 'policy.json': `\ufeff${JSON.stringify(policy)}` });
    assert.deepEqual(loadPolicy({ policyPath }).policy, policy);
  });

  test('missing policy: tells the user how to create it', () => {
    const { policyPath, overridePath } = policyDir({});
    assert.throws(() => loadPolicy({ policyPath, overridePath }), (error) => {
      assert.ok(error instanceof PolicyError);
      assert.equal(error.code, 'LAVAMOAT_POLICY_MISSING');
      assert.equal(error.file, policyPath);
      assert.match(error.message, /policy\.json: no LavaMoat policy found/);
      assert.match(error.message, /npx lavamoat generate <entry>/);
      return true;
    });
  });

  test('override without a policy is still a missing policy, and says why', () => {
    const { policyPath, overridePath } = policyDir({ 'policy-override.json': { resources: {} } });
    assert.throws(() => loadPolicy({ policyPath, overridePath }), (error) => {
      assert.equal(error.code, 'LAVAMOAT_POLICY_MISSING');
      assert.match(error.message, /policy-override\.json exists, but an override only adjusts policy\.json/);
      assert.match(error.message, /npx lavamoat generate/);
      return true;
    });
  });

  test('invalid JSON in the policy: file, line and column', () => {
    const { policyPath } = policyDir({ 'policy.json': '{\n  "resources": {\n    "a": { "native": tru }\n  }\n}\n' });
    assert.throws(() => loadPolicy({ policyPath }), (error) => {
      assert.equal(error.code, 'LAVAMOAT_POLICY_PARSE');
      assert.equal(error.file, policyPath);
      assert.match(error.message, /policy\.json: invalid JSON, unexpected "t" at line 3, column 22$/);
      assert.ok(error.cause instanceof SyntaxError);
      return true;
    });
  });

  test('invalid JSON in the override: trailing comma, truncated file, empty file', () => {
    const texts = {
      '{"resources": {},\n}': /unexpected "}" at line 2, column 1$/,
      '{"resources": {': /unexpected end of file at line 1, column 16$/,
      '': /unexpected end of file at line 1, column 1$/,
      '{"resources": {}} x': /unexpected "x" at line 1, column 19$/,
      '{"a": "tab\there"}': /unexpected "\\t" at line 1, column 11$/,
    };
    for (const [text, expected] of Object.entries(texts)) {
      const { policyPath, overridePath } = policyDir({ 'policy.json': policy, 'policy-override.json': text });
      assert.throws(() => loadPolicy({ policyPath, overridePath }), (error) => {
        assert.equal(error.code, 'LAVAMOAT_POLICY_PARSE');
        assert.equal(error.file, overridePath);
        assert.match(error.message, /policy-override\.json: invalid JSON, /);
        assert.match(error.message, expected);
        return true;
      });
    }
  });

  test('invalid policy: names the file and every problem', () => {
    const { policyPath } = policyDir({ 'policy.json': { resources: { foo: { globals: { fetch: 3 } } }, bogus: 1 } });
    assert.throws(() => loadPolicy({ policyPath }), (error) => {
      assert.equal(error.code, 'LAVAMOAT_POLICY_INVALID');
      assert.equal(error.file, policyPath);
      const lines = error.message.split('\n');
      assert.equal(lines.length, 2);
      assert.ok(lines.every((line) => /policy\.json: /.test(line)));
      assert.ok(lines.some((line) => line.endsWith('resources["foo"].globals["fetch"] must be true, "read", "write", "redefine" or false (got 3)')));
      return true;
    });
  });

  test('invalid override: names the override', () => {
    const { policyPath, overridePath } = policyDir({ 'policy.json': policy, 'policy-override.json': { resources: { a: { builtins: {} } } } });
    assert.throws(() => loadPolicy({ policyPath, overridePath }), (error) => {
      assert.equal(error.code, 'LAVAMOAT_POLICY_INVALID');
      assert.equal(error.file, overridePath);
      assert.match(error.message, /policy-override\.json: resources\["a"\] has unknown key "builtins"/);
      return true;
    });
  });

  test('a policy.json that lacks resources is invalid', () => {
    const { policyPath } = policyDir({ 'policy.json': { root: {} } });
    assert.throws(() => loadPolicy({ policyPath }), /policy\.json: resources is required/);
  });

  test('merged result granting "a" and denying "a.b" is rejected with both files named', () => {
    const { policyPath, overridePath } = policyDir({
      'policy.json': policy,
      'policy-override.json': { resources: { a: { globals: { fetch: true, 'fetch.call': false } } } },
    });
    // Each file alone: the override is itself contradictory, caught before merging.
    assert.throws(() => loadPolicy({ policyPath, overridePath }), /policy-override\.json: resources\["a"\]\.globals\["fetch\.call"\] denies a member of "fetch"/);

    const second = policyDir({ 'policy.json': policy, 'policy-override.json': { resources: { a: { globals: { 'fetch.call': false } } } } });
    assert.throws(() => loadPolicy(second), (error) => {
      assert.equal(error.code, 'LAVAMOAT_POLICY_INVALID');
      assert.equal(error.file, second.overridePath);
      assert.match(error.message, /policy\.json merged with .*policy-override\.json: resources\["a"\]\.globals\["fetch\.call"\] denies a member of "fetch", which is granted: LavaMoat policies are allow-lists/);
      return true;
    });
  });

  test('root.usePolicy must name a resource of the merged policy', () => {
    const ok = policyDir({ 'policy.json': policy, 'policy-override.json': { root: { usePolicy: 'b' } } });
    assert.deepEqual(loadPolicy(ok).policy.root, { usePolicy: 'b' });
    const bad = policyDir({ 'policy.json': policy, 'policy-override.json': { root: { usePolicy: 'app' } } });
    assert.throws(() => loadPolicy(bad), /root\.usePolicy names "app", which is not a key of resources/);
    const badAlone = policyDir({ 'policy.json': { ...policy, root: { usePolicy: 'app' } } });
    assert.throws(() => loadPolicy(badAlone), /policy\.json: root\.usePolicy names "app"/);
  });

  test('an unreadable override is an error, not silently skipped', () => {
    const { dir, policyPath } = policyDir({ 'policy.json': policy });
    mkdirSync(join(dir, 'policy-override.json'));
    assert.throws(() => loadPolicy({ policyPath, overridePath: join(dir, 'policy-override.json') }), (error) => {
      assert.equal(error.code, 'LAVAMOAT_POLICY_UNREADABLE');
      assert.match(error.message, /policy-override\.json: cannot read the policy file/);
      return true;
    });
  });

  test('validating a 300-resource policy stays cheap (guards against an accidental quadratic walk)', () => {
    const resources = {};
    for (let i = 0; i < 300; i++) {
      resources[`pkg-${i}>dep-${i}`] = {
        globals: { console: true, 'process.env': true, 'Buffer.from': true, setTimeout: true, [`g${i}.x.y`]: 'write' },
        builtin: { fs: true, 'path.join': true, 'node:crypto': true },
        packages: { [`pkg-${(i + 1) % 300}>dep-${(i + 1) % 300}`]: true, [`other-${i}`]: true },
      };
    }
    const big = { resources };
    for (let i = 0; i < 20; i++) validatePolicy(big, 'policy'); // warm up
    const runs = 50;
    const start = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) assert.equal(validatePolicy(big, 'policy').length, 0);
    const perRun = Number(process.hrtime.bigint() - start) / 1e6 / runs;
    // Generous bound: catches an accidental quadratic walk, not machine noise.
    assert.ok(perRun < 20, `validation took ${perRun.toFixed(3)} ms`);
  });
});

test('LavaMoat\'s "env": "unfrozen" is accepted (compartment globals are never frozen here)', () => {
  assert.deepEqual(validatePolicy({ resources: { a: { env: 'unfrozen', globals: { setTimeout: true } } } }, 'policy'), []);
});

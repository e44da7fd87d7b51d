// The pieces of recording and trimming: builtin names from import statements, joining
// recordings, which grants trim keeps, the observers on grants, printable text.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { init, parse } from 'es-module-lexer';
import { builtinImportNames } from '../../dist/confine/usage.js';
import { checkRecording, mergeRecordings } from '../../dist/report/recording.js';
import { trimPolicy } from '../../dist/policy/trim.js';
import { makeEndowments } from '../../dist/confine/endowments.js';
import { caughtDenialLine, printable } from '../../dist/report/caught-denials.js';

await init;

const builtin = (specifier) => {
  const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  return ['fs', 'path', 'os', 'fs/promises'].includes(bare) ? bare : undefined;
};
const names = (source) =>
  Object.fromEntries([...builtinImportNames(source, parse(source)[0], builtin)].map(([module, set]) => [module, [...set].sort()]));

describe('builtin names an ES module imports', () => {
  test('named imports, renamed, with a default, string names', () => {
    assert.deepEqual(
      names(`import fs, { readFile, writeFile as w } from 'node:fs';\nimport { "join" as j, default as p } from 'path';\nimport './x.js';`),
      { fs: ['readFile', 'writeFile'], path: ['join'] },
    );
  });
  test('namespace imports, export * and import() count as every member; a bare import or default as none', () => {
    assert.deepEqual(
      names(`import * as os from 'os';\nexport * from 'fs';\nconst p = import('node:path');\nimport 'fs/promises';`),
      { os: ['*'], fs: ['*'], path: ['*'], 'fs/promises': [] },
    );
    assert.deepEqual(names(`export { readFile, stat as s } from 'fs';\nexport * as ns from 'path';`), { fs: ['readFile', 'stat'], path: ['*'] });
  });
  test('multi-line clauses and comments', () => {
    assert.deepEqual(names(`import {\n  readFile,\n  // stat,\n  mkdir,\n} from 'fs';`), { fs: ['mkdir', 'readFile'] });
    assert.deepEqual(names(`import { /* a, */ readFile /* b */, from } from 'fs';`), { fs: ['from', 'readFile'] });
  });
});

const recording = (resources, extra = {}) => checkRecording({ lavamoatRecording: 1, runs: [], denials: [], resources, ...extra }, 'test');

describe('joining recordings', () => {
  test('sets are joined, booleans or-ed, denials listed once', () => {
    const denial = { package: 'a', kind: 'builtin', resource: 'fs' };
    const merged = mergeRecordings(
      recording({ a: { loaded: true, globals: ['x'], builtin: { fs: ['readFile'] } } }, { denials: [denial] }),
      recording({ a: { globals: ['y'], builtin: { fs: ['stat'], os: [] }, native: true }, b: { loaded: true } }, { denials: [denial] }),
    );
    assert.deepEqual(merged.resources, {
      a: { loaded: true, globals: ['x', 'y'], builtin: { fs: ['readFile', 'stat'], os: [] }, native: true },
      b: { loaded: true },
    });
    assert.deepEqual(merged.denials, [denial]);
  });
  test('what is not a recording is refused, saying what is wrong', () => {
    assert.throws(() => checkRecording({ lavamoatRecording: 2 }, 'r.json'), /r\.json is not a LavaMoat recording: "lavamoatRecording" is 2, expected 1/);
    assert.throws(() => recording({ a: { globals: 'x' } }), /resources\["a"\]\.globals must be an array of strings/);
  });
});

describe('which grants trim keeps', () => {
  const policy = {
    resources: {
      a: {
        globals: { 'process.env': true, 'process.argv': true, fetch: 'write', URL: true, Nope: false },
        builtin: { 'node:fs.readFile': true, 'fs.stat': true, 'path.join': true, 'path.resolve': true, os: true, http: true },
        packages: { b: true, c: true, d: false },
        native: true,
      },
      b: { globals: { setTimeout: true } },
      never: { builtin: { fs: true } },
      empty: {},
    },
    root: { usePolicy: 'a' },
  };
  const used = recording({
    a: {
      loaded: true,
      globals: ['process', 'process.env', 'fetch'],
      builtin: { fs: ['readFile'], path: [], os: [] },
      packages: ['b'],
      native: true,
    },
    b: { loaded: true, globals: ['setTimeout'] },
  });

  test('used grants stay, values that grant nothing stay, the rest go', () => {
    const result = trimPolicy(policy, [used]);
    assert.deepEqual(result.policy.resources.a, {
      globals: { 'process.env': true, fetch: 'write', Nope: false },
      // path was linked with neither member read: both stay, or the link would fail.
      builtin: { 'node:fs.readFile': true, 'path.join': true, 'path.resolve': true, os: true },
      packages: { b: true, d: false },
      native: true,
    });
    assert.deepEqual(result.policy.resources.b, { globals: { setTimeout: true } });
    assert.equal(result.policy.resources.never, undefined);
    assert.deepEqual(result.policy.resources.empty, {});
    assert.deepEqual(result.policy.root, { usePolicy: 'a' });
    assert.deepEqual(result.notLoaded, ['never']);
    assert.deepEqual(
      result.removed.map((r) => `${r.resource} ${r.field} ${r.key} ${r.reason}`).sort(),
      [
        'a builtin fs.stat unused',
        'a builtin http unused',
        'a globals URL unused',
        'a globals process.argv unused',
        'a packages c unused',
        'never builtin fs not-loaded',
      ],
    );
  });

  test('--keep-unloaded leaves packages that never ran as they were', () => {
    const result = trimPolicy(policy, [used], { keepUnloaded: true });
    assert.deepEqual(result.policy.resources.never, { builtin: { fs: true } });
    assert.deepEqual(result.notLoaded, ['never']);
  });

  test('an object read without its dotted grants keeps them; `*` keeps every member; unobservable grants stay', () => {
    const result = trimPolicy(
      { resources: { a: { globals: { 'process.env': true, 'Object.keys': true }, builtin: { 'fs.readFile': true, 'fs.stat': true, 'os.arch': true } } } },
      [recording({ a: { loaded: true, globals: ['process'], unobserved: ['Object.keys'], builtin: { fs: ['*'], os: ['arch'] } } })],
    );
    assert.deepEqual(result.policy.resources.a, {
      globals: { 'process.env': true, 'Object.keys': true },
      builtin: { 'fs.readFile': true, 'fs.stat': true, 'os.arch': true },
    });
  });

  test('unused grants of the override are reported, not changed', () => {
    const result = trimPolicy({ resources: { b: {} } }, [used], { override: { resources: { b: { globals: { setTimeout: true, setInterval: true } } } } });
    assert.deepEqual(result.unusedInOverride.map((r) => `${r.resource} ${r.field} ${r.key}`), ['b globals setInterval']);
  });
});

describe('observers exist only when recording', () => {
  const host = { process: { env: { A: '1' }, argv: [] }, counter: 7 };
  test('without an observer, the descriptors are those of an unrecorded run', () => {
    const plain = makeEndowments({ 'process.env': true, counter: true }, host);
    assert.ok('value' in plain.process, 'a dotted grant\'s object is a data property');
    assert.equal(typeof plain.counter.get, 'function');
  });
  test('with one, each grant is told once, the object of a dotted grant when read', () => {
    const seen = [];
    const observed = makeEndowments({ 'process.env': true, counter: true, 'Object.keys': true }, host, (name) => name === 'Object', {
      use: (key) => seen.push(key),
      unobserved: (key) => seen.push(`unobserved ${key}`),
    });
    const global = Object.defineProperties({}, observed);
    assert.equal(global.process.env.A, '1');
    assert.equal(global.process.env.A, '1');
    assert.equal(global.counter, 7);
    assert.equal(global.counter, 7);
    assert.deepEqual(seen, ['unobserved Object.keys', 'process', 'process.env', 'counter']);
  });
});

test('printable: control, bidirectional and invisible characters escaped; long text cut', () => {
  assert.equal(printable('a\u001b[31mb\u202e\u200bc\r\n'), 'a\\u001b[31mb\\u202e\\u200bc\\u000d\\u000a');
  assert.equal(printable('x'.repeat(400)).length, 300);
  const line = caughtDenialLine({ packageName: 'p\u001b', kind: 'native', resource: '/x/\u009b.node', entry: '{"resources":{"p\\u001b":{"native":true}}}' }, {
    policy: '/p.json',
    override: '/o.json',
  });
  assert.equal(
    line,
    'LavaMoat: package "p\\u001b" was not allowed the native addon /x/\\u009b.node (the error was caught; shown once). to allow it, add to /o.json: {"resources":{"p\\u001b":{"native":true}}}',
  );
});

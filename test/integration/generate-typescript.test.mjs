// `lavamoat generate` reads what Node runs: TypeScript entries and app modules with their
// types stripped (Node 22.6+ runs them; generation needs module.stripTypeScriptTypes,
// 22.13+), and the loader runs them. And a module of the app that cannot be analysed
// stops generation, leaving the existing policy as it was.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { copyFixtureToTemp, runCli, runPlain, runWithLoader } from '../helpers.mjs';

const temps = [];
after(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

const policyFile = (dir) => path.join(dir, 'lavamoat', 'node', 'policy.json');

const canStrip = typeof module.stripTypeScriptTypes === 'function';
// Node runs .ts files without a flag from 22.18 and 23.6 (process.features.typescript).
const runsTypeScript = Boolean(process.features.typescript);
const noTypeScript = !canStrip || !runsTypeScript
  ? `Node ${process.version} ${!canStrip ? 'has no module.stripTypeScriptTypes (22.13+, 23.2+)' : 'does not run TypeScript without a flag (22.18+, 23.6+)'}`
  : false;

const EXPECTED = {
  'ts-cjs-dep': { builtin: { 'util.format': true } },
  'ts-esm-dep': { builtin: { 'path.basename': true }, globals: { structuredClone: true } },
};

describe('TypeScript entries and app modules', { skip: noTypeScript }, () => {
  test('an ESM .ts entry importing .ts and .cts modules: the policy, and the same output under the loader', () => {
    const dir = copyFixtureToTemp('gen-ts-app', temps);
    const generated = runCli(dir, ['generate', 'app.ts']);
    assert.equal(generated.status, 0, generated.stderr);
    assert.doesNotMatch(generated.stderr, /ExperimentalWarning|^warning:/m);
    assert.match(generated.stderr, /wrote lavamoat\/node\/policy\.json: 2 packages, 5 modules, 3 grants, 0 warnings/);
    assert.deepEqual(JSON.parse(fs.readFileSync(policyFile(dir), 'utf8')), { resources: EXPECTED });
    const plain = runPlain(dir, 'app.ts');
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(plain.stdout, 'gen-ts-app:report.txt:function true 42 CTS!\n');
    const confined = runWithLoader(dir, 'app.ts');
    assert.equal(confined.status, 0, confined.stderr);
    assert.equal(confined.stdout, plain.stdout);
    assert.doesNotMatch(confined.stderr, /LavaMoat/);
  });

  test('a CommonJS .cts entry runs under the loader with both kinds of hooks', () => {
    const dir = copyFixtureToTemp('gen-ts-app', temps);
    const generated = runCli(dir, ['generate', 'main.cts']);
    assert.equal(generated.status, 0, generated.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(policyFile(dir), 'utf8')), { resources: { 'ts-cjs-dep': EXPECTED['ts-cjs-dep'] } });
    const plain = runPlain(dir, 'main.cts');
    assert.equal(plain.stdout, 'MAIN! DIRECT\n', plain.stderr);
    // Node 22 compiles a CommonJS TypeScript entry with the ESM loader's require, which
    // cannot load a facade: the hooks hand it to the CommonJS loader.
    for (const env of [{}, { LAVAMOAT_OFF_THREAD_HOOKS: '1' }]) {
      const confined = runWithLoader(dir, 'main.cts', { env });
      assert.equal(confined.status, 0, `${JSON.stringify(env)}: ${confined.stderr}`);
      assert.equal(confined.stdout, plain.stdout);
    }
    // Still confined: without its grant the dependency is denied.
    fs.writeFileSync(policyFile(dir), '{ "resources": {} }\n');
    const denied = runWithLoader(dir, 'main.cts');
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /package "ts-cjs-dep" is not allowed the builtin module "util"/);
  });

  test('a type error in an app module stops generation and names it; the policy is untouched', () => {
    const dir = copyFixtureToTemp('gen-ts-app', temps);
    assert.equal(runCli(dir, ['generate', 'app.ts']).status, 0);
    const before = fs.readFileSync(policyFile(dir));
    fs.writeFileSync(path.join(dir, 'lib', 'scale.ts'), 'export type Scaled = { value: number };\n\nexport const scale = (n: ) => n;\n');
    const result = runCli(dir, ['generate', 'app.ts']);
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /cannot analyse the app's own code, so no policy was generated:\n {2}lib\/scale\.ts:3:26 cannot parse as TypeScript: /);
    assert.match(result.stderr, /lavamoat\/node\/policy\.json is unchanged\./);
    assert.deepEqual(fs.readFileSync(policyFile(dir)), before);
  });

  test('TypeScript that only --experimental-transform-types runs: analysed, with a warning', () => {
    const dir = copyFixtureToTemp('gen-ts-app', temps);
    fs.writeFileSync(
      path.join(dir, 'lib', 'scale.ts'),
      "import { label } from 'ts-esm-dep';\nenum Unit { One = 1 }\nexport type Scaled = { value: number };\nexport const scale = (n: number): Scaled => ({ value: n * Unit.One + label('x').length });\n",
    );
    const result = runCli(dir, ['generate', 'app.ts', '--verbose']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /lib\/scale\.ts:1:1 TypeScript that strip-only mode refuses \(TypeScript enum is not supported in strip-only mode\): Node runs it only with --experimental-transform-types/);
    assert.deepEqual(JSON.parse(fs.readFileSync(policyFile(dir), 'utf8')).resources, EXPECTED);
  });
});

describe('TypeScript on a Node that cannot strip types', { skip: canStrip && `Node ${process.version} strips types` }, () => {
  test('generation stops and says which Node it needs; the policy is untouched', () => {
    const dir = copyFixtureToTemp('gen-ts-app', temps);
    fs.mkdirSync(path.dirname(policyFile(dir)), { recursive: true });
    const text = '{ "resources": { "ts-esm-dep": { "globals": { "structuredClone": true } } } }\n';
    fs.writeFileSync(policyFile(dir), text);
    const result = runCli(dir, ['generate', 'app.ts']);
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /^ {2}app\.ts:1:1 this Node \(v[\d.]+\) cannot strip TypeScript types: .*Node 22\.13\+/m);
    assert.equal(fs.readFileSync(policyFile(dir), 'utf8'), text);
  });
});

describe('the app\'s own modules must be analysed', () => {
  test('a syntax error in an app module: exit 1, the file named, the policy byte for byte as it was', () => {
    const dir = copyFixtureToTemp('gen-broken-app', temps);
    const before = fs.readFileSync(policyFile(dir));
    const result = runCli(dir, ['generate', 'app.mjs', '--debug']);
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      "LavaMoat: cannot analyse the app's own code, so no policy was generated:\n" +
        "  lib/helper.mjs:3:20 cannot parse as an ES module: Unexpected token: ';'\n" +
        'lavamoat/node/policy.json is unchanged.\n',
    );
    assert.deepEqual(fs.readFileSync(policyFile(dir)), before);
    assert.ok(!fs.existsSync(path.join(dir, 'lavamoat', 'node', 'policy-debug.json')));
    const printed = runCli(dir, ['generate', 'app.mjs', '--no-write']);
    assert.equal(printed.status, 1);
    assert.equal(printed.stdout, '');
    assert.match(printed.stderr, /Nothing was printed\./);
  });

  test('an entry that does not parse stops generation too', () => {
    const dir = copyFixtureToTemp('gen-broken-app', temps);
    fs.writeFileSync(path.join(dir, 'app.mjs'), 'import { ok } from "fine-dep"\nconsole.log(ok(;\n');
    const result = runCli(dir, ['generate', 'app.mjs']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^ {2}app\.mjs:2:\d+ cannot parse as an ES module/m);
  });

  test('a dependency that does not parse is a warning that its grants are missing, ranked first', () => {
    const dir = copyFixtureToTemp('gen-broken-app', temps);
    fs.writeFileSync(path.join(dir, 'lib', 'helper.mjs'), "export function helper() {\n  return 'helper';\n}\n");
    const result = runCli(dir, ['generate', 'app.mjs']);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stderr.split('\n');
    assert.match(lines[0], /^LavaMoat: 1 warning where a package will be denied what the analysis could not see/);
    assert.match(lines[1], /^warning: node_modules\/broken-dep\/index\.js:3:\d+ \[broken-dep\] cannot parse as CommonJS/);
    assert.match(lines[2], /^ {2}nothing this module uses is in the policy; grant it: \{"resources":\{"broken-dep":/);
    assert.deepEqual(JSON.parse(fs.readFileSync(policyFile(dir), 'utf8')).resources, { 'fine-dep': { globals: { setTimeout: true } } });
  });
});

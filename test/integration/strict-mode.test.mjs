// Strict mode (config `strict`: package.json "lavamoat": { "strict": true }, or
// LAVAMOAT_STRICT=1): packages cannot change what other packages export, nor what a read
// grant of an object global gives the app and the other packages. Every attack has a
// benign twin (test/fixtures/strict-mode/app.mjs); `lavamoat generate` in strict mode
// writes the "write" grants real packages need (moment-timezone, dotenv), and the real
// packages fixture gives plain node's output under it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('strict-mode');
const MARKER = 'STRICT_RESULTS ';

function results(run) {
  const line = run.stdout.split('\n').find((l) => l.startsWith(MARKER));
  assert.ok(line, `no results (exit ${run.status}):\n${run.stderr.slice(0, 4000)}`);
  return JSON.parse(line.slice(MARKER.length));
}

/**
 * What strict mode does not stop (docs/attacks.md, "Strict mode"): an instance a
 * package's own function makes (a factory's) is the caller's, with the real prototype
 * chain; and the exporting package's own code, handed its own exports, changes them.
 */
const RESIDUAL = [
  'residual: factory instance -> getPrototypeOf(instance).label',
  "residual: the exporting package's own merge(options, ...)",
];

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-strict-'));
after(() => fs.rmSync(temp, { recursive: true, force: true }));

describe('strict mode, switched on by package.json', () => {
  const run = runWithLoader(dir, 'app.mjs');
  const { attack, twins } = results(run);

  it('blocks every way of changing another package\'s exports, process.env or a global object granted read', () => {
    const failed = Object.entries(attack).filter(
      ([variant, outcome]) => !RESIDUAL.includes(variant) && !outcome.startsWith('blocked') && !outcome.startsWith('tried'),
    );
    assert.deepEqual(failed, []);
    // The attempts the app judges were made, and judged.
    assert.ok(Object.keys(attack).filter((v) => v.startsWith('app: ')).length >= 15);
    assert.ok(Object.keys(attack).filter((v) => v.startsWith('ESM: ')).length >= 10);
  });

  it('the residual risks behave as documented', () => {
    for (const variant of RESIDUAL) assert.match(attack[variant], /^ESCAPED/, variant);
  });

  it('benign twins: using exports as meant, extending with "write", reading process.env and globals, writing with "write"', () => {
    for (const [name, { ok, detail }] of Object.entries(twins)) assert.equal(ok, true, `${name}: ${detail}`);
    assert.equal(Object.keys(twins).length, 5);
    assert.ok(twins['consumer uses victim-lib and victim-esm as they are meant to be used'].detail.length >= 25);
  });

  it('a refusal names the package, what it tried, and the policy entry that would allow it', () => {
    assert.match(attack['assign exports.greet'], /package "attacker" may not assign "greet" on what package "victim-lib" exports/);
    assert.match(attack['process.env.SM_SET = "1"'], /package "env-reader" may not set process\.env\.SM_SET: its policy grants process\.env read/);
    assert.match(attack['global object: SM_APP_CONFIG.mode = "dev"'], /may not assign "mode" on the global "SM_APP_CONFIG"/);
    assert.equal(run.status, 0, run.stderr);
  });
});

describe('strict mode off (LAVAMOAT_STRICT=0 over package.json)', () => {
  it("LavaMoat's semantics: the same attacks change what the app sees", () => {
    const run = runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_STRICT: '0' } });
    const { attack } = results(run);
    const seenByApp = Object.entries(attack).filter(([variant]) => variant.startsWith('app: '));
    assert.ok(seenByApp.length >= 15);
    for (const [variant, outcome] of seenByApp) assert.match(outcome, /^ESCAPED/, variant);
  });
});

describe('a denial stops a package that changes another\'s exports without "write"', () => {
  it('names the entry to add', () => {
    const override = path.join(temp, 'no-write.json');
    fs.writeFileSync(override, JSON.stringify({ resources: { extender: { packages: { 'victim-lib': true } } } }));
    const run = runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_POLICY_OVERRIDE: override } });
    const { twins } = results(run);
    const extender = twins['extender ("write") extends victim-lib, and the app and other packages see it'];
    assert.equal(extender.ok, false);
    assert.match(extender.detail, /package "extender" may not assign "tz" on what package "victim-lib" exports/);
    assert.match(extender.detail, /\{"resources":\{"extender":\{"packages":\{"victim-lib":"write"\}\}\}\}/);
  });
});

describe('lavamoat generate in strict mode', () => {
  function generate(cwd, env, policy) {
    const result = spawnSync(process.execPath, [cliPath, 'generate', 'app.mjs', '--policy', policy, '--no-cache'], {
      cwd,
      env: { ...process.env, NODE_OPTIONS: '', ...env },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(fs.readFileSync(policy, 'utf8')).resources;
  }

  it('grants "write" where the code changes another package\'s exports or process.env, and nothing else changes', () => {
    const strict = generate(dir, {}, path.join(temp, 'fixture-strict.json'));
    const plain = generate(dir, { LAVAMOAT_STRICT: '0' }, path.join(temp, 'fixture-plain.json'));
    assert.equal(strict.extender.packages['victim-lib'], 'write');
    assert.equal(strict['env-writer'].globals['process.env'], 'write');
    assert.equal(strict['env-reader'].globals['process.env'], 'write', 'env-reader writes too (its attacks): review the policy');
    assert.equal(strict.attacker.packages['victim-lib'], 'write', 'the attacker assigns onto victim-lib: review the policy');
    // An assignment through the library's own setter (`lib.logger.level = 'debug'`) looks
    // like a change to the analysis, which cannot tell a setter from a property.
    assert.equal(strict.consumer.packages['victim-lib'], 'write');
    assert.equal(strict.consumer.packages['victim-esm'], true);
    // A policy generated without strict mode is LavaMoat's: no "write" on packages.
    assert.equal(plain.extender.packages['victim-lib'], true);
    assert.equal(plain['env-reader'].globals['process.env'], true);
    const strip = (resources) => JSON.stringify(resources).replaceAll('"write"', 'true');
    assert.equal(strip(strict), strip(plain));
  });

  it('moment-timezone and dotenv work under the generated policy, and the real packages give plain node\'s output', () => {
    const realApp = fixture('real-app');
    const policy = path.join(temp, 'real-app-strict.json');
    const resources = generate(realApp, { LAVAMOAT_STRICT: '1' }, policy);
    assert.equal(resources['moment-timezone'].packages.moment, 'write');
    assert.equal(resources.dotenv.globals['process.env'], 'write');
    const env = { FORCE_COLOR: '1', DEBUG: '' };
    const plain = runPlain(realApp, 'app.mjs', { env });
    assert.equal(plain.status, 0, plain.stderr);
    const confined = runWithLoader(realApp, 'app.mjs', {
      env: { ...env, LAVAMOAT_STRICT: '1', LAVAMOAT_POLICY: policy, LAVAMOAT_POLICY_OVERRIDE: path.join(temp, 'none.json') },
    });
    assert.equal(confined.stderr, '');
    assert.equal(confined.status, 0);
    assert.equal(confined.stdout, plain.stdout);
    assert.match(confined.stdout, /^moment-timezone: 2020-06-01T16:00:00Z$/m);
    assert.match(confined.stdout, /^dotenv-env: from-dotenv$/m);
  });
});

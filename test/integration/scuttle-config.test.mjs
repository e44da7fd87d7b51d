// The configuration reaching a real process: every bad value stops it before any app
// code runs, with a message saying where the value came from; lockdown options apply.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, runWithLoader } from '../helpers.mjs';

const dir = fixture('scuttle-config');
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-config-it-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

let copies = 0;
/** A copy of the fixture whose package.json has this `lavamoat` value. */
function withPackageJson(lavamoat) {
  const copy = path.join(tmpRoot, `app${(copies += 1)}`);
  fs.cpSync(dir, copy, { recursive: true });
  const file = path.join(copy, 'package.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), lavamoat }, null, 2));
  return copy;
}

const appOutput = (run) => {
  assert.equal(run.status, 0, run.stderr);
  const [first, json] = run.stdout.trim().split('\n');
  assert.equal(first, 'APP RAN');
  return JSON.parse(json);
};

/** The process stopped with exit code 1, printed only the message, and ran no app code. */
function stoppedBeforeApp(run, pattern) {
  assert.equal(run.status, 1, `${run.stdout}\n${run.stderr}`);
  assert.equal(run.stdout, '', 'no app code ran');
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'a message, not a stack trace');
}

describe('bad values stop the process before the app, saying where they came from', () => {
  test('LAVAMOAT_SCUTTLE_GLOBAL_THIS with a bad exception', () => {
    stoppedBeforeApp(
      runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enabled":true,"exceptions":["fetch","crypto","/[/"]}' } }),
      /^LavaMoat: invalid configuration: LAVAMOAT_SCUTTLE_GLOBAL_THIS at exceptions\[2\]: "\/\[\/" is not a valid regular expression/,
    );
  });

  test('LAVAMOAT_SCUTTLE_GLOBAL_THIS that is not JSON', () => {
    stoppedBeforeApp(
      runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'yes' } }),
      /^LavaMoat: invalid configuration: LAVAMOAT_SCUTTLE_GLOBAL_THIS: not valid JSON .*expected a JSON object such as/,
    );
  });

  test('LAVAMOAT_LOCKDOWN with a value SES does not have', () => {
    stoppedBeforeApp(
      runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_LOCKDOWN: '{"overrideTaming":"extreme"}' } }),
      /^LavaMoat: invalid configuration: LAVAMOAT_LOCKDOWN at overrideTaming: "extreme" is not allowed; expected one of "moderate", "min", "severe"/,
    );
  });

  test('LAVAMOAT_DEBUG, LAVAMOAT_PROJECT_ROOT, and a misspelt variable', () => {
    stoppedBeforeApp(runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_DEBUG: 'on' } }), /^LavaMoat: invalid configuration: LAVAMOAT_DEBUG: "on" is not allowed; expected 1, true, 0 or false/);
    stoppedBeforeApp(runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_PROJECT_ROOT: os.tmpdir() } }), /^LavaMoat: invalid configuration: LAVAMOAT_PROJECT_ROOT: .*no package\.json/);
    stoppedBeforeApp(runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_LOCKDOWNS: '{}' } }), /^LavaMoat: invalid configuration: LAVAMOAT_LOCKDOWNS: unknown variable; did you mean LAVAMOAT_LOCKDOWN\?/);
  });

  test('package.json: a misspelt key (fail closed, did-you-mean) and a bad nested value', () => {
    stoppedBeforeApp(
      runWithLoader(withPackageJson({ scutleGlobalThis: { enabled: true } }), 'app.mjs'),
      /^LavaMoat: invalid configuration: package\.json#lavamoat\.scutleGlobalThis \(in .*package\.json\): unknown option; did you mean "scuttleGlobalThis"\?/,
    );
    stoppedBeforeApp(
      runWithLoader(withPackageJson({ scuttleGlobalThis: { enabled: true, exceptions: ['a', 'b', 42] } }), 'app.mjs'),
      /^LavaMoat: invalid configuration: package\.json#lavamoat\.scuttleGlobalThis\.exceptions\[2\] \(in .*package\.json\): 42 is not allowed; expected a property name or a "\/pattern\/flags" string/,
    );
    stoppedBeforeApp(
      runWithLoader(withPackageJson({ lockdown: { __hardenTaming__: 'unsafe' } }), 'app.mjs'),
      /package\.json#lavamoat\.lockdown\.__hardenTaming__ .*cannot be set/,
    );
  });

  test('keys of other LavaMoat tools in the same object are not errors', () => {
    appOutput(runWithLoader(withPackageJson({ allowScripts: { keccak: true }, allowBins: {} }), 'app.mjs'));
  });
});

describe('lockdown options reach lockdown()', () => {
  test('defaults: host locale methods, override by assignment enabled', () => {
    assert.deepEqual(appOutput(runWithLoader(dir, 'app.mjs')), {
      locale: '1,234.5',
      override: 'assigned',
      frozen: true,
      appFetch: 'function',
      fetch: 'function',
    });
  });

  test('package.json, then LAVAMOAT_LOCKDOWN over it, key by key', () => {
    const app = withPackageJson({ lockdown: { localeTaming: 'safe', overrideTaming: 'min' } });
    const fromPackage = appOutput(runWithLoader(app, 'app.mjs'));
    assert.equal(fromPackage.locale, '1234.5');
    assert.equal(fromPackage.override, 'TypeError');
    const fromEnv = appOutput(runWithLoader(app, 'app.mjs', { env: { LAVAMOAT_LOCKDOWN: '{"localeTaming":"unsafe"}' } }));
    assert.equal(fromEnv.locale, '1,234.5');
    assert.equal(fromEnv.override, 'TypeError', 'overrideTaming still from package.json');
  });

  test('scuttling from package.json, turned off by the environment', () => {
    const app = withPackageJson({ scuttleGlobalThis: { enabled: true } });
    const scuttled = appOutput(runWithLoader(app, 'app.mjs'));
    assert.equal(scuttled.fetch, 'scuttled');
    assert.equal(scuttled.appFetch, 'function', "the app's own code keeps fetch");
    assert.equal(appOutput(runWithLoader(app, 'app.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enabled":false}' } })).fetch, 'function');
  });

  test('debug mode says once that it is not for production; SES LOCKDOWN_* variables get a warning', () => {
    const debug = runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_DEBUG: '1' } });
    appOutput(debug);
    assert.equal(debug.stderr.split('Not for production').length - 1, 1, debug.stderr);
    const ses = runWithLoader(dir, 'app.mjs', { env: { LOCKDOWN_LOCALE_TAMING: 'safe' } });
    assert.equal(appOutput(ses).locale, '1,234.5');
    assert.match(ses.stderr, /LOCKDOWN_LOCALE_TAMING is ignored.*LAVAMOAT_LOCKDOWN/);
  });
});

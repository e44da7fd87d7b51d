// The configuration module: every option, every precedence rule, bad values.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, configToEnv, didYouMean, loadConfig, readConfig } from '../../dist/config/index.js';
import { DEBUG_LOCKDOWN, DEFAULT_LOCKDOWN } from '../../dist/confine/lockdown-options.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-config-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

let counter = 0;
/** A project directory with this package.json `lavamoat` value (omitted when undefined). */
function project(lavamoat, extra = {}) {
  const dir = path.join(tmpRoot, `p${(counter += 1)}`);
  fs.mkdirSync(path.join(dir, 'src', 'nested'), { recursive: true });
  const pkg = { name: `p${counter}`, version: '1.0.0', ...extra };
  if (lavamoat !== undefined) pkg.lavamoat = lavamoat;
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg));
  fs.writeFileSync(path.join(dir, 'src', 'nested', 'app.mjs'), '');
  return fs.realpathSync(dir);
}

const load = (dir, env = {}, more = {}) => loadConfig({ env, cwd: dir, entry: undefined, ...more });

/** Asserts that loading throws a ConfigError whose message matches every pattern. */
function rejects(fn, ...patterns) {
  let error;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
  assert.equal(error.code, 'LAVAMOAT_CONFIG_INVALID');
  for (const pattern of patterns) assert.match(error.message, pattern);
  return error;
}

describe('defaults', () => {
  test('no "lavamoat" key, no variables', () => {
    const dir = project(undefined);
    const config = load(dir);
    assert.equal(config.projectRoot, dir);
    assert.equal(config.packageJsonPath, path.join(dir, 'package.json'));
    assert.equal(config.policyPath, path.join(dir, 'lavamoat/node/policy.json'));
    assert.equal(config.overridePath, path.join(dir, 'lavamoat/node/policy-override.json'));
    assert.equal(config.debug, false);
    assert.equal(config.cacheDir, path.join(dir, 'node_modules/.cache/lavamoat'));
    assert.deepEqual(config.scuttleGlobalThis, { enabled: false, exceptions: [], scuttlerName: undefined });
    assert.deepEqual(config.lockdown, { ...DEFAULT_LOCKDOWN });
    assert.deepEqual(config.warnings, []);
    assert.equal(config.reportCaughtDenials, true);
    assert.equal(config.record, undefined);
    for (const [key, source] of Object.entries(config.sources)) assert.equal(source, 'default', key);
  });

  test('the service lockdown defaults are the ones the runtime has always used', () => {
    assert.deepEqual(
      { ...DEFAULT_LOCKDOWN },
      {
        errorTaming: 'unsafe',
        errorTrapping: 'none',
        reporting: 'platform',
        unhandledRejectionTrapping: 'none',
        regExpTaming: 'safe',
        localeTaming: 'unsafe',
        consoleTaming: 'unsafe',
        overrideTaming: 'severe',
        overrideDebug: [],
        stackFiltering: 'verbose',
        domainTaming: 'unsafe',
        evalTaming: 'safe-eval',
        legacyRegeneratorRuntimeTaming: 'safe',
      },
    );
  });

  test('readConfig(env, entry) keeps its signature and finds the root above the entry', () => {
    const dir = project(undefined);
    const config = readConfig({}, path.join(dir, 'src', 'nested', 'app.mjs'));
    assert.equal(config.projectRoot, dir);
  });

  test('ConfigError is an Error with a name', () => {
    const error = new ConfigError('x');
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ConfigError');
  });
});

describe('project root', () => {
  test('from the entry, else from the working directory', () => {
    const dir = project(undefined);
    assert.equal(loadConfig({ env: {}, entry: path.join(dir, 'src/nested/app.mjs'), cwd: '/' }).projectRoot, dir);
    assert.equal(loadConfig({ env: {}, entry: undefined, cwd: path.join(dir, 'src', 'nested') }).projectRoot, dir);
  });

  test('LAVAMOAT_PROJECT_ROOT (relative to the working directory) wins over the entry', () => {
    const a = project(undefined);
    const b = project(undefined);
    const config = loadConfig({ env: { LAVAMOAT_PROJECT_ROOT: path.relative(a, b) }, entry: path.join(a, 'src/nested/app.mjs'), cwd: a });
    assert.equal(config.projectRoot, b);
    assert.equal(config.sources.projectRoot, 'LAVAMOAT_PROJECT_ROOT');
  });

  test('an override wins over LAVAMOAT_PROJECT_ROOT', () => {
    const a = project(undefined);
    const b = project(undefined);
    const config = loadConfig({ env: { LAVAMOAT_PROJECT_ROOT: a }, cwd: '/', overrides: { projectRoot: b } });
    assert.equal(config.projectRoot, b);
    assert.equal(config.sources.projectRoot, '--project-root');
  });

  test('a root without package.json is an error naming where it came from', () => {
    const dir = project(undefined);
    rejects(() => load(dir, { LAVAMOAT_PROJECT_ROOT: path.join(dir, 'src') }), /LAVAMOAT_PROJECT_ROOT: .*no package\.json in .*src/);
    rejects(() => load(dir, {}, { overrides: { projectRoot: '/' } }), /--project-root: "\/": no package\.json/);
  });

  test('projectRoot in package.json is refused with a pointer to the variable', () => {
    const dir = project({ projectRoot: '..' });
    rejects(() => load(dir), /package\.json#lavamoat\.projectRoot \(in .*package\.json\): .*set LAVAMOAT_PROJECT_ROOT/);
  });
});

describe('package.json "lavamoat" options', () => {
  test('every option', () => {
    const dir = project({
      policy: 'policies/p.json',
      policyOverride: 'policies/o.json',
      debug: true,
      cache: '.lavamoat-cache',
      scuttleGlobalThis: { enabled: true, exceptions: ['fetch', '/^on/i'], scuttlerName: 'SCUTTLER' },
      lockdown: { errorTaming: 'safe', overrideTaming: 'moderate', overrideDebug: ['constructor'] },
      allowScripts: { keccak: true },
      allowBins: { tsc: 'node_modules/typescript/bin/tsc' },
    });
    const config = load(dir);
    assert.equal(config.policyPath, path.join(dir, 'policies/p.json'));
    assert.equal(config.overridePath, path.join(dir, 'policies/o.json'));
    assert.equal(config.debug, true);
    assert.equal(config.cacheDir, path.join(dir, '.lavamoat-cache'));
    assert.deepEqual(config.scuttleGlobalThis, { enabled: true, exceptions: ['fetch', '/^on/i'], scuttlerName: 'SCUTTLER' });
    // Debug mode wins over package.json for the error options.
    assert.equal(config.lockdown.errorTaming, 'unsafe-debug');
    assert.equal(config.lockdown.overrideTaming, 'moderate');
    assert.deepEqual(config.lockdown.overrideDebug, ['constructor']);
    assert.equal(config.sources.policy, 'package.json#lavamoat.policy');
    assert.equal(config.sources['scuttleGlobalThis.exceptions'], 'package.json#lavamoat.scuttleGlobalThis');
    assert.equal(config.sources['lockdown.overrideTaming'], 'package.json#lavamoat.lockdown');
    assert.equal(config.sources['lockdown.errorTaming'], 'package.json#lavamoat.debug (debug mode)');
  });

  test('scuttleGlobalThis: true is LavaMoat\'s shorthand for { enabled: true }', () => {
    assert.deepEqual(load(project({ scuttleGlobalThis: true })).scuttleGlobalThis, { enabled: true, exceptions: [], scuttlerName: undefined });
    assert.equal(load(project({ scuttleGlobalThis: false })).scuttleGlobalThis.enabled, false);
  });

  test('scuttleGlobalThis without "enabled" stays off, as in LavaMoat', () => {
    assert.equal(load(project({ scuttleGlobalThis: { exceptions: ['fetch'] } })).scuttleGlobalThis.enabled, false);
  });

  test('cache: false disables it, true is the default directory', () => {
    assert.equal(load(project({ cache: false })).cacheDir, undefined);
    const dir = project({ cache: true });
    assert.equal(load(dir).cacheDir, path.join(dir, 'node_modules/.cache/lavamoat'));
  });

  test('unknown keys are errors, with a did-you-mean', () => {
    rejects(() => load(project({ scutleGlobalThis: { enabled: true } })), /package\.json#lavamoat\.scutleGlobalThis \(in .*\): unknown option; did you mean "scuttleGlobalThis"\?/);
    rejects(() => load(project({ debugMode: true })), /did you mean "debug"\?/);
    rejects(() => load(project({ lockdown: { errorTamming: 'safe' } })), /package\.json#lavamoat\.lockdown\.errorTamming .*unknown lockdown option; did you mean "errorTaming"\?/);
    rejects(() => load(project({ scuttleGlobalThis: { exception: ['x'] } })), /scuttleGlobalThis\.exception .*did you mean "exceptions"\?/);
    rejects(() => load(project({ somethingElse: 1 })), /unknown option\. Allowed: policy, policyOverride, scuttleGlobalThis, lockdown, debug, cache/);
  });

  test('bad values name the exact key and what is allowed', () => {
    rejects(() => load(project('yes')), /package\.json#lavamoat \(in .*\): "yes" is not allowed; expected an object/);
    rejects(() => load(project({ debug: 'yes' })), /package\.json#lavamoat\.debug \(in .*\): "yes" is not allowed; expected true or false/);
    rejects(() => load(project({ policy: '' })), /package\.json#lavamoat\.policy .*expected a non-empty path/);
    rejects(() => load(project({ cache: 3 })), /package\.json#lavamoat\.cache .*expected a directory path, or false/);
    rejects(
      () => load(project({ scuttleGlobalThis: { enabled: true, exceptions: ['fetch', 'crypto', '/[/'] } })),
      /package\.json#lavamoat\.scuttleGlobalThis\.exceptions\[2\] \(in .*package\.json\): "\/\[\/" is not a valid regular expression/,
    );
    rejects(() => load(project({ scuttleGlobalThis: { exceptions: [1] } })), /exceptions\[0\] .*expected a property name or a "\/pattern\/flags" string/);
    rejects(() => load(project({ scuttleGlobalThis: { exceptions: 'fetch' } })), /scuttleGlobalThis\.exceptions .*expected an array/);
    rejects(() => load(project({ scuttleGlobalThis: { enabled: 'true' } })), /scuttleGlobalThis\.enabled .*expected true or false/);
    rejects(() => load(project({ scuttleGlobalThis: { scuttlerName: 7 } })), /scuttleGlobalThis\.scuttlerName .*expected the name of a global function/);
    rejects(() => load(project({ scuttleGlobalThis: 'on' })), /scuttleGlobalThis .*expected a JSON object such as/);
    rejects(() => load(project({ lockdown: { errorTaming: 'unsafer' } })), /lockdown\.errorTaming .*"unsafer" is not allowed; expected one of "safe", "unsafe", "unsafe-debug"/);
    rejects(() => load(project({ lockdown: [] })), /package\.json#lavamoat\.lockdown .*expected a JSON object of SES lockdown options/);
  });

  test('a package.json that is not JSON is an error naming the file', () => {
    const dir = project(undefined);
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": ');
    rejects(() => load(dir), new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/package\\.json is not valid JSON`));
  });
});

describe('environment variables', () => {
  test('every variable', () => {
    const dir = project(undefined);
    const config = load(dir, {
      LAVAMOAT_POLICY: 'a/policy.json',
      LAVAMOAT_POLICY_OVERRIDE: '/abs/override.json',
      LAVAMOAT_DEBUG: 'true',
      LAVAMOAT_CACHE: 'cache-dir',
      LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enabled":true,"exceptions":["x"],"scuttlerName":"S"}',
      LAVAMOAT_LOCKDOWN: '{"stackFiltering":"concise","consoleTaming":"safe"}',
    });
    assert.equal(config.policyPath, path.join(dir, 'a/policy.json'));
    assert.equal(config.overridePath, '/abs/override.json');
    assert.equal(config.debug, true);
    assert.equal(config.cacheDir, path.join(dir, 'cache-dir'));
    assert.deepEqual(config.scuttleGlobalThis, { enabled: true, exceptions: ['x'], scuttlerName: 'S' });
    assert.equal(config.lockdown.stackFiltering, 'concise', 'an explicit variable wins over debug mode');
    assert.equal(config.lockdown.errorTaming, 'unsafe-debug');
    assert.equal(config.lockdown.consoleTaming, 'safe');
    assert.equal(config.sources['lockdown.stackFiltering'], 'LAVAMOAT_LOCKDOWN');
    assert.equal(config.sources['lockdown.errorTaming'], 'LAVAMOAT_DEBUG (debug mode)');
    assert.equal(config.sources.cache, 'LAVAMOAT_CACHE');
  });

  test('LAVAMOAT_DEBUG accepts 1/true/0/false; LAVAMOAT_CACHE 0/false disables, 1/true is the default', () => {
    const dir = project(undefined);
    assert.equal(load(dir, { LAVAMOAT_DEBUG: '1' }).debug, true);
    assert.equal(load(dir, { LAVAMOAT_DEBUG: '0' }).debug, false);
    assert.equal(load(dir, { LAVAMOAT_DEBUG: 'false' }).debug, false);
    assert.equal(load(dir, { LAVAMOAT_CACHE: '0' }).cacheDir, undefined);
    assert.equal(load(dir, { LAVAMOAT_CACHE: 'false' }).cacheDir, undefined);
    assert.equal(load(dir, { LAVAMOAT_CACHE: '1' }).cacheDir, path.join(dir, 'node_modules/.cache/lavamoat'));
    assert.equal(load(dir, { LAVAMOAT_CACHE: '/abs/cache' }).cacheDir, '/abs/cache');
    assert.deepEqual(load(dir, { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'true' }).scuttleGlobalThis.enabled, true);
  });

  test('an empty variable counts as unset', () => {
    const dir = project({ debug: true, policy: 'p.json' });
    const config = load(dir, { LAVAMOAT_DEBUG: '', LAVAMOAT_POLICY: '', LAVAMOAT_SCUTTLE_GLOBAL_THIS: '', LAVAMOAT_LOCKDOWN: '' });
    assert.equal(config.debug, true);
    assert.equal(config.policyPath, path.join(dir, 'p.json'));
  });

  test('bad values name the variable (and the JSON path) and what is allowed', () => {
    const dir = project(undefined);
    rejects(() => load(dir, { LAVAMOAT_DEBUG: 'yes' }), /LAVAMOAT_DEBUG: "yes" is not allowed; expected 1, true, 0 or false/);
    rejects(() => load(dir, { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{enabled:true}' }), /LAVAMOAT_SCUTTLE_GLOBAL_THIS: not valid JSON \(.*\); expected a JSON object such as \{"enabled":true/);
    rejects(() => load(dir, { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '1' }), /LAVAMOAT_SCUTTLE_GLOBAL_THIS: 1 is not allowed; expected .*or true\/false/);
    rejects(
      () => load(dir, { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enabled":true,"exceptions":["a","b","/x/g"]}' }),
      /LAVAMOAT_SCUTTLE_GLOBAL_THIS at exceptions\[2\]: "\/x\/g": the flags "g" and "y" make a regular expression stateful/,
    );
    rejects(() => load(dir, { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"exceptions":["/"]}' }), /at exceptions\[0\]: "\/" starts with "\/" but is not a "\/pattern\/flags"/);
    rejects(() => load(dir, { LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enable":true}' }), /LAVAMOAT_SCUTTLE_GLOBAL_THIS at enable: unknown scuttleGlobalThis option; did you mean "enabled"\?/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: 'safe' }), /LAVAMOAT_LOCKDOWN: not valid JSON/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: '"safe"' }), /LAVAMOAT_LOCKDOWN: "safe" is not allowed; expected a JSON object/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: '{"stackFiltering":"short"}' }), /LAVAMOAT_LOCKDOWN at stackFiltering: "short" is not allowed; expected one of "concise", "omit-frames", "shorten-paths", "verbose"/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: '{"__hardenTaming__":"unsafe"}' }), /LAVAMOAT_LOCKDOWN at __hardenTaming__: __hardenTaming__ cannot be set: it turns harden\(\) into a no-op/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: '{"dateTaming":"unsafe"}' }), /dateTaming cannot be set: SES deprecated it/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: '{"evalTaming":"noEval"}' }), /SES's deprecated spelling: write "no-eval"/);
    rejects(() => load(dir, { LAVAMOAT_LOCKDOWN: '{"overrideDebug":"constructor"}' }), /at overrideDebug: expected an array of property names/);
    rejects(() => load(dir, { LAVAMOAT_POLICY: 'a\0b' }), /LAVAMOAT_POLICY: a path cannot contain a NUL character/);
  });

  test('a near miss of a variable name is an error; other LAVAMOAT_* names are left alone', () => {
    const dir = project(undefined);
    rejects(() => load(dir, { LAVAMOAT_SCUTTLE_GLOBALTHIS: 'true' }), /LAVAMOAT_SCUTTLE_GLOBALTHIS: unknown variable; did you mean LAVAMOAT_SCUTTLE_GLOBAL_THIS\?/);
    rejects(() => load(dir, { LAVAMOAT_POLCY: 'x' }), /did you mean LAVAMOAT_POLICY\?/);
    assert.doesNotThrow(() => load(dir, { LAVAMOAT_DEV: '1', LAVAMOAT_CONFINED_PARENT: '12', LAVAMOAT_REAL_APP: 'x', LAVAMOAT_MY_APP_SETTING: 'y' }));
  });

  test("SES's own LOCKDOWN_* variables give a warning: every option is passed explicitly", () => {
    const config = load(project(undefined), { LOCKDOWN_ERROR_TAMING: 'safe' });
    assert.equal(config.lockdown.errorTaming, 'unsafe');
    assert.equal(config.warnings.length, 1);
    assert.match(config.warnings[0], /LOCKDOWN_ERROR_TAMING is ignored.*LAVAMOAT_LOCKDOWN/);
  });
});

describe('precedence: overrides > environment > package.json > defaults', () => {
  const pkg = {
    policy: 'pkg-policy.json',
    policyOverride: 'pkg-override.json',
    debug: false,
    cache: 'pkg-cache',
    scuttleGlobalThis: { enabled: false, exceptions: ['fromPkg'], scuttlerName: 'PKG' },
    lockdown: { errorTaming: 'safe', localeTaming: 'safe', regExpTaming: 'unsafe' },
  };
  const env = {
    LAVAMOAT_POLICY: 'env-policy.json',
    LAVAMOAT_POLICY_OVERRIDE: 'env-override.json',
    LAVAMOAT_DEBUG: '1',
    LAVAMOAT_CACHE: 'env-cache',
    LAVAMOAT_SCUTTLE_GLOBAL_THIS: '{"enabled":true}',
    LAVAMOAT_LOCKDOWN: '{"localeTaming":"unsafe"}',
  };

  test('environment over package.json, key by key for the objects', () => {
    const dir = project(pkg);
    const config = load(dir, env);
    assert.equal(config.policyPath, path.join(dir, 'env-policy.json'));
    assert.equal(config.overridePath, path.join(dir, 'env-override.json'));
    assert.equal(config.debug, true);
    assert.equal(config.cacheDir, path.join(dir, 'env-cache'));
    // enabled from the environment, the rest from package.json.
    assert.deepEqual(config.scuttleGlobalThis, { enabled: true, exceptions: ['fromPkg'], scuttlerName: 'PKG' });
    assert.equal(config.sources['scuttleGlobalThis.enabled'], 'LAVAMOAT_SCUTTLE_GLOBAL_THIS');
    assert.equal(config.sources['scuttleGlobalThis.exceptions'], 'package.json#lavamoat.scuttleGlobalThis');
    assert.equal(config.lockdown.localeTaming, 'unsafe'); // env over package.json
    assert.equal(config.lockdown.regExpTaming, 'unsafe'); // package.json over default
    assert.equal(config.lockdown.errorTaming, 'unsafe-debug'); // debug mode over package.json
    assert.equal(config.sources.debug, 'LAVAMOAT_DEBUG');
  });

  test('package.json over defaults', () => {
    const dir = project(pkg);
    const config = load(dir);
    assert.equal(config.policyPath, path.join(dir, 'pkg-policy.json'));
    assert.equal(config.debug, false);
    assert.equal(config.lockdown.errorTaming, 'safe');
    assert.equal(config.lockdown.localeTaming, 'safe');
    assert.equal(config.lockdown.stackFiltering, DEFAULT_LOCKDOWN.stackFiltering);
    assert.equal(config.sources['lockdown.stackFiltering'], 'default');
  });

  test('overrides (the CLI\'s flags) over the environment', () => {
    const dir = project(pkg);
    const config = load(dir, env, {
      overrides: {
        policy: 'flag-policy.json',
        policyOverride: 'flag-override.json',
        debug: false,
        cache: false,
        scuttleGlobalThis: '{"exceptions":["fromFlag"]}',
        lockdown: { localeTaming: 'safe' },
      },
    });
    assert.equal(config.policyPath, path.join(dir, 'flag-policy.json'));
    assert.equal(config.overridePath, path.join(dir, 'flag-override.json'));
    assert.equal(config.debug, false);
    assert.equal(config.cacheDir, undefined);
    assert.deepEqual(config.scuttleGlobalThis, { enabled: true, exceptions: ['fromFlag'], scuttlerName: 'PKG' });
    assert.equal(config.lockdown.localeTaming, 'safe');
    assert.equal(config.lockdown.errorTaming, 'safe', 'debug is off: package.json applies');
    assert.equal(config.sources.policy, '--policy');
    assert.equal(config.sources['scuttleGlobalThis.exceptions'], '--scuttle-global-this');
  });

  test('overrides are validated and named by the caller\'s label', () => {
    const dir = project(undefined);
    rejects(
      () => load(dir, {}, { overrides: { lockdown: { errorTaming: 'x' } }, overrideLabel: (option) => `flag ${option}` }),
      /flag lockdown at errorTaming: "x" is not allowed/,
    );
    rejects(() => load(dir, {}, { overrides: { debug: 'yes' } }), /--debug: "yes" is not allowed; expected true or false/);
    rejects(() => load(dir, {}, { overrides: { scuttleGlobalThis: '{' } }), /--scuttle-global-this: not valid JSON/);
  });

  test('debug mode: an explicit LAVAMOAT_LOCKDOWN errorTaming wins, package.json does not', () => {
    const dir = project({ lockdown: { errorTaming: 'safe' } });
    assert.equal(load(dir, { LAVAMOAT_DEBUG: '1' }).lockdown.errorTaming, DEBUG_LOCKDOWN.errorTaming);
    assert.equal(load(dir, { LAVAMOAT_DEBUG: '1', LAVAMOAT_LOCKDOWN: '{"errorTaming":"unsafe"}' }).lockdown.errorTaming, 'unsafe');
  });
});

describe('caught denials and recording', () => {
  test('reportCaughtDenials: package.json key, variable, override; in that order of precedence', () => {
    const dir = project({ reportCaughtDenials: false });
    assert.equal(load(dir).reportCaughtDenials, false);
    assert.equal(load(dir).sources.reportCaughtDenials, 'package.json#lavamoat.reportCaughtDenials');
    assert.equal(load(dir, { LAVAMOAT_REPORT_CAUGHT_DENIALS: '1' }).reportCaughtDenials, true);
    assert.equal(load(dir, { LAVAMOAT_REPORT_CAUGHT_DENIALS: '1' }, { overrides: { reportCaughtDenials: false } }).reportCaughtDenials, false);
    rejects(() => load(project({ reportCaughtDenials: 'no' })), /reportCaughtDenials \(in .*\): "no" is not allowed; expected true or false/);
    rejects(() => load(project({ caughtDenials: false })), /unknown option; did you mean "reportCaughtDenials"\?/);
    rejects(() => load(dir, { LAVAMOAT_REPORT_CAUGHT_DENIAL: '0' }), /did you mean LAVAMOAT_REPORT_CAUGHT_DENIALS\?/);
  });

  test('record: a variable or the CLI, relative to the project root; not a package.json setting', () => {
    const dir = project(undefined);
    assert.equal(load(dir, { LAVAMOAT_RECORD: 'out/rec.json' }).record, path.join(dir, 'out/rec.json'));
    assert.equal(load(dir, { LAVAMOAT_RECORD: 'a.json' }, { overrides: { record: '/tmp/b.json' } }).record, '/tmp/b.json');
    assert.equal(load(dir, { LAVAMOAT_RECORD: '' }).record, undefined);
    rejects(() => load(project({ record: 'rec.json' })), /recording is not a project setting.*LAVAMOAT_RECORD=<file>/);
  });
});

test('configToEnv reproduces a configuration in another process', () => {
  const dir = project({
    scuttleGlobalThis: { enabled: true, exceptions: ['a', '/^b/'], scuttlerName: 'S' },
    lockdown: { errorTaming: 'safe' },
    cache: false,
    strict: true,
  });
  const config = load(dir, { LAVAMOAT_DEBUG: '1', LAVAMOAT_POLICY: 'x.json' });
  // From anywhere: the pinned root, not a package.json found from the other process's entry.
  const other = project({ policy: 'elsewhere.json', debug: false });
  const again = loadConfig({ env: configToEnv(config), cwd: other, entry: path.join(other, 'src/nested/app.mjs') });
  for (const key of ['projectRoot', 'policyPath', 'overridePath', 'debug', 'cacheDir', 'scuttleGlobalThis', 'lockdown', 'reportCaughtDenials', 'record', 'strict']) {
    assert.deepEqual(again[key], config[key], key);
  }
  const recorded = load(dir, { LAVAMOAT_RECORD: 'rec.json', LAVAMOAT_REPORT_CAUGHT_DENIALS: '0' });
  const inherited = loadConfig({ env: configToEnv(recorded), cwd: other, entry: path.join(other, 'src/nested/app.mjs') });
  assert.equal(inherited.record, path.join(dir, 'rec.json'));
  assert.equal(inherited.reportCaughtDenials, false);
});

describe('strict mode', () => {
  test('off by default; package.json "strict", LAVAMOAT_STRICT and the caller switch it, in that order', () => {
    assert.equal(load(project(undefined)).strict, false);
    const on = project({ strict: true });
    assert.equal(load(on).strict, true);
    assert.equal(load(on).sources.strict, 'package.json#lavamoat.strict');
    assert.equal(load(on, { LAVAMOAT_STRICT: '0' }).strict, false);
    assert.equal(load(on, { LAVAMOAT_STRICT: '0' }).sources.strict, 'LAVAMOAT_STRICT');
    assert.equal(load(project({ strict: false }), { LAVAMOAT_STRICT: 'true' }).strict, true);
    assert.equal(load(on, { LAVAMOAT_STRICT: '0' }, { overrides: { strict: true } }).strict, true);
    assert.equal(load(project(undefined), { LAVAMOAT_STRICT: '' }).strict, false);
  });

  test('bad values stop, saying where they came from', () => {
    rejects(() => load(project({ strict: 'yes' })), /package\.json#lavamoat\.strict \(in .*\): "yes" is not allowed; expected true or false/);
    rejects(() => load(project(undefined), { LAVAMOAT_STRICT: 'on' }), /LAVAMOAT_STRICT: "on" is not allowed; expected 1, true, 0 or false/);
    rejects(() => load(project({ strictMode: true })), /unknown option; did you mean "strict"\?/);
    rejects(() => load(project(undefined), { LAVAMOAT_STRCT: '1' }), /LAVAMOAT_STRCT: unknown variable; did you mean LAVAMOAT_STRICT\?/);
  });

  test('children and workers get it (configToEnv)', () => {
    assert.equal(configToEnv(load(project({ strict: true }))).LAVAMOAT_STRICT, '1');
    assert.equal(configToEnv(load(project(undefined))).LAVAMOAT_STRICT, '0');
  });
});

test('did-you-mean suggests close names only', () => {
  assert.equal(didYouMean('polcy', ['policy', 'debug']), 'policy');
  assert.equal(didYouMean('DEBUG', ['policy', 'debug']), 'debug');
  assert.equal(didYouMean('somethingElse', ['policy', 'debug']), undefined);
});

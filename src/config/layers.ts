/**
 * The levels configuration is read from, each validated on its own: environment
 * variables, the app's package.json `"lavamoat"` key, and the caller's overrides (the
 * CLI's flags). index.ts merges them in order of precedence.
 */
import {
  ConfigError,
  ENV_VARS,
  FOREIGN_PACKAGE_JSON_KEYS,
  OTHER_KNOWN_ENV_VARS,
  PACKAGE_JSON_KEYS,
  type ConfigOverrides,
  type LockdownOptions,
  type ScuttleGlobalThisConfig,
} from './types.js';
import {
  booleanValue,
  cacheValue,
  didYouMean,
  distance,
  envFlag,
  fail,
  isPlainObject,
  LOCKDOWN_EXPECTED,
  lockdownValue,
  parseJson,
  pathValue,
  SCUTTLE_EXPECTED,
  scuttleValue,
  show,
  unknownKey,
  type CacheSetting,
  type Origin,
} from './values.js';


/** One level of configuration, validated. */
export interface Layer {
  origin: (option: string) => Origin;
  policy?: string;
  policyOverride?: string;
  debug?: boolean;
  cache?: CacheSetting;
  strict?: boolean;
  scuttleGlobalThis?: Partial<ScuttleGlobalThisConfig>;
  lockdown?: Partial<LockdownOptions>;
  reportCaughtDenials?: boolean;
  record?: string;
}

const ENV_FOR: Record<string, string> = {
  projectRoot: 'LAVAMOAT_PROJECT_ROOT',
  policy: 'LAVAMOAT_POLICY',
  policyOverride: 'LAVAMOAT_POLICY_OVERRIDE',
  scuttleGlobalThis: 'LAVAMOAT_SCUTTLE_GLOBAL_THIS',
  lockdown: 'LAVAMOAT_LOCKDOWN',
  debug: 'LAVAMOAT_DEBUG',
  cache: 'LAVAMOAT_CACHE',
  reportCaughtDenials: 'LAVAMOAT_REPORT_CAUGHT_DENIALS',
  record: 'LAVAMOAT_RECORD',
  strict: 'LAVAMOAT_STRICT',
};

/** An empty variable counts as unset (`LAVAMOAT_DEBUG= node ...` clears it). */
export const envValue = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
};

export function envLayer(env: NodeJS.ProcessEnv): Layer {
  const origin = (option: string): Origin => ({ kind: 'env', label: ENV_FOR[option]! });
  const layer: Layer = { origin };
  const policy = envValue(env, 'LAVAMOAT_POLICY');
  if (policy !== undefined) layer.policy = pathValue(origin('policy'), policy);
  const override = envValue(env, 'LAVAMOAT_POLICY_OVERRIDE');
  if (override !== undefined) layer.policyOverride = pathValue(origin('policyOverride'), override);
  const debug = envValue(env, 'LAVAMOAT_DEBUG');
  if (debug !== undefined) layer.debug = envFlag(origin('debug'), debug);
  const strict = envValue(env, 'LAVAMOAT_STRICT');
  if (strict !== undefined) layer.strict = envFlag(origin('strict'), strict);
  const cache = envValue(env, 'LAVAMOAT_CACHE');
  if (cache !== undefined) {
    layer.cache = cache === '0' || cache === 'false' ? false : cache === '1' || cache === 'true' ? true : pathValue(origin('cache'), cache);
  }
  const report = envValue(env, 'LAVAMOAT_REPORT_CAUGHT_DENIALS');
  if (report !== undefined) layer.reportCaughtDenials = envFlag(origin('reportCaughtDenials'), report);
  const record = envValue(env, 'LAVAMOAT_RECORD');
  if (record !== undefined) layer.record = pathValue(origin('record'), record);
  const scuttle = envValue(env, 'LAVAMOAT_SCUTTLE_GLOBAL_THIS');
  if (scuttle !== undefined) {
    const o = origin('scuttleGlobalThis');
    layer.scuttleGlobalThis = scuttleValue(o, parseJson(o, scuttle, SCUTTLE_EXPECTED));
  }
  const lockdown = envValue(env, 'LAVAMOAT_LOCKDOWN');
  if (lockdown !== undefined) {
    const o = origin('lockdown');
    layer.lockdown = lockdownValue(o, parseJson(o, lockdown, LOCKDOWN_EXPECTED));
  }
  return layer;
}

/** Near misses of known variable names are errors: `LAVAMOAT_SCUTTLE=...` must not be silently ignored. */
export function checkEnvNames(env: NodeJS.ProcessEnv): void {
  const known: readonly string[] = [...ENV_VARS, ...OTHER_KNOWN_ENV_VARS];
  for (const name of Object.keys(env)) {
    if (!/^LAVAMOAT/i.test(name) || known.includes(name)) continue;
    const guess = didYouMean(name, ENV_VARS);
    if (guess !== undefined && distance(name.toUpperCase(), guess) <= 3) {
      throw new ConfigError(
        `LavaMoat: invalid configuration: ${name}: unknown variable; did you mean ${guess}? ` +
          `Known variables: ${ENV_VARS.join(', ')}`,
      );
    }
  }
}

/** SES reads these itself for options nobody passed; this runtime passes every option, so they have no effect. */
export function sesVariableWarnings(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((name) => /^LOCKDOWN_[A-Z_]+$/.test(name) && env[name] !== '')
    .map(
      (name) =>
        `LavaMoat: ${name} is ignored: the runtime passes every lockdown option explicitly; ` +
        `set LAVAMOAT_LOCKDOWN (JSON) or package.json#lavamoat.lockdown instead`,
    );
}

const PACKAGE_JSON_ALIASES: Record<string, string> = {
  debugMode: 'debug',
  policyPath: 'policy',
  policyOverridePath: 'policyOverride',
  policyOverrides: 'policyOverride',
  scuttle: 'scuttleGlobalThis',
  lockdownOptions: 'lockdown',
  printCaughtDenials: 'reportCaughtDenials',
  caughtDenials: 'reportCaughtDenials',
  strictMode: 'strict',
};

export function packageJsonLayer(file: string, lavamoat: unknown): Layer {
  const origin = (option: string): Origin => ({ kind: 'package.json', label: `package.json#lavamoat.${option}`, file });
  const layer: Layer = { origin };
  if (lavamoat === undefined) return layer;
  const base: Origin = { kind: 'package.json', label: 'package.json#lavamoat', file };
  if (!isPlainObject(lavamoat)) fail(base, [], `${show(lavamoat)} is not allowed; expected an object of LavaMoat options`);
  for (const [key, value] of Object.entries(lavamoat)) {
    if (Object.prototype.hasOwnProperty.call(FOREIGN_PACKAGE_JSON_KEYS, key)) continue;
    switch (key) {
      case 'policy':
        layer.policy = pathValue(origin(key), value);
        break;
      case 'policyOverride':
        layer.policyOverride = pathValue(origin(key), value);
        break;
      case 'debug':
        layer.debug = booleanValue(origin(key), value);
        break;
      case 'cache':
        layer.cache = cacheValue(origin(key), value);
        break;
      case 'reportCaughtDenials':
        layer.reportCaughtDenials = booleanValue(origin(key), value);
        break;
      case 'record':
        fail(
          base,
          [key],
          'recording is not a project setting (every run would write it); ' +
            'set LAVAMOAT_RECORD=<file> for the runs to record, or use lavamoat run --record <file>',
        );
      case 'strict':
        layer.strict = booleanValue(origin(key), value);
        break;
      case 'scuttleGlobalThis':
        layer.scuttleGlobalThis = scuttleValue(origin(key), value);
        break;
      case 'lockdown':
        layer.lockdown = lockdownValue(origin(key), value);
        break;
      case 'projectRoot':
        fail(
          base,
          [key],
          'the project root cannot be set in package.json (it is the directory of the package.json being read); ' +
            'set LAVAMOAT_PROJECT_ROOT instead',
        );
      default: {
        const alias = PACKAGE_JSON_ALIASES[key];
        if (alias) fail(base, [key], `unknown option; did you mean "${alias}"? Allowed: ${PACKAGE_JSON_KEYS.join(', ')}`);
        unknownKey(base, [], key, [...PACKAGE_JSON_KEYS, ...Object.keys(FOREIGN_PACKAGE_JSON_KEYS)], 'option');
      }
    }
  }
  return layer;
}

export function overrideLayer(overrides: ConfigOverrides, label: (option: keyof ConfigOverrides) => string): Layer {
  const origin = (option: string): Origin => ({ kind: 'override', label: label(option as keyof ConfigOverrides) });
  const layer: Layer = { origin };
  if (overrides.policy !== undefined) layer.policy = pathValue(origin('policy'), overrides.policy);
  if (overrides.policyOverride !== undefined) layer.policyOverride = pathValue(origin('policyOverride'), overrides.policyOverride);
  if (overrides.debug !== undefined) layer.debug = booleanValue(origin('debug'), overrides.debug);
  if (overrides.cache !== undefined) layer.cache = cacheValue(origin('cache'), overrides.cache);
  if (overrides.reportCaughtDenials !== undefined) {
    layer.reportCaughtDenials = booleanValue(origin('reportCaughtDenials'), overrides.reportCaughtDenials);
  }
  if (overrides.record !== undefined) layer.record = pathValue(origin('record'), overrides.record);
  if (overrides.strict !== undefined) layer.strict = booleanValue(origin('strict'), overrides.strict);
  if (overrides.scuttleGlobalThis !== undefined) {
    const o = origin('scuttleGlobalThis');
    const raw = overrides.scuttleGlobalThis;
    layer.scuttleGlobalThis = scuttleValue(o, typeof raw === 'string' ? parseJson(o, raw, SCUTTLE_EXPECTED) : raw);
  }
  if (overrides.lockdown !== undefined) {
    const o = origin('lockdown');
    const raw = overrides.lockdown;
    layer.lockdown = lockdownValue(o, typeof raw === 'string' ? parseJson(o, raw, LOCKDOWN_EXPECTED) : raw);
  }
  return layer;
}


/**
 * The one configuration surface of the runtime (and of the CLI, which reuses it).
 *
 * Precedence, highest first:
 *   1. overrides passed by the caller (the CLI's flags),
 *   2. environment variables (`LAVAMOAT_*`: a `NODE_OPTIONS="--import lavamoat/loader"`
 *      deployment has no other way to reach the preload),
 *   3. the `"lavamoat"` key of the app's package.json (LavaMoat's option names),
 *   4. defaults.
 * `scuttleGlobalThis` and `lockdown` are objects: they merge key by key across the
 * levels (a key set at a higher level replaces the same key below it; arrays are
 * replaced, not concatenated).
 *
 * Every value is validated where it is read. A bad one throws a {@link ConfigError}
 * whose message says where the value came from (the variable, or
 * `package.json#lavamoat.scuttleGlobalThis.exceptions[2]` and the file) and what is
 * allowed; the preload lets it stop the process before any app code runs. Unknown keys
 * under `"lavamoat"` are errors too (fail closed: a misspelt `scuttleGlobalThis` must
 * not silently leave scuttling off), with a did-you-mean; so is a `LAVAMOAT_*`
 * variable whose name is a near miss of a known one.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import {
  LOCKDOWN_OPTION_NAMES,
  lockdownValueProblem,
  refusedLockdownOption,
  resolveLockdown,
  type LockdownOptionName,
  type LockdownOptions,
} from '../confine/lockdown-options.js';
import { exceptionProblem } from '../confine/scuttle.js';

export type { LockdownOptions } from '../confine/lockdown-options.js';

export interface ScuttleGlobalThisConfig {
  /** Default false, as in LavaMoat. */
  enabled: boolean;
  /** Property names, and `"/pattern/flags"` strings, of globals to keep. */
  exceptions: string[];
  /** Name of a global function called as `scuttler(globalThis, scuttle)`; undefined when not set. */
  scuttlerName: string | undefined;
}

export interface Config {
  projectRoot: string;
  policyPath: string;
  overridePath: string;
  debug: boolean;
  /**
   * Include the root's devDependencies in the package map (`LAVAMOAT_DEV`, set by
   * `lavamoat run --dev`), so that a devDependency's bin runs confined.
   */
  dev: boolean;
  /** Directory of the compiled-module cache, or undefined when caching is off. */
  cacheDir: string | undefined;
  scuttleGlobalThis: ScuttleGlobalThisConfig;
  /** The options to pass to SES `lockdown()`: defaults, the user's settings and debug mode applied. */
  lockdown: LockdownOptions;
  /** The package.json whose `"lavamoat"` key was read. */
  packageJsonPath: string;
  /**
   * Where each setting came from: `default`, a variable name, `package.json#lavamoat.<key>`,
   * or an override's label (`--policy`). Keys: `projectRoot`, `policy`, `policyOverride`,
   * `debug`, `cache`, `scuttleGlobalThis.<key>`, `lockdown.<option>`.
   */
  sources: Record<string, string>;
  /** Things worth telling the user that do not stop the process. */
  warnings: string[];
}

export class ConfigError extends Error {
  readonly code = 'LAVAMOAT_CONFIG_INVALID';
}
Object.defineProperty(ConfigError.prototype, 'name', { value: 'ConfigError', writable: true, configurable: true });

/** The environment variables this module reads. */
export const ENV_VARS = [
  'LAVAMOAT_PROJECT_ROOT',
  'LAVAMOAT_POLICY',
  'LAVAMOAT_POLICY_OVERRIDE',
  'LAVAMOAT_SCUTTLE_GLOBAL_THIS',
  'LAVAMOAT_LOCKDOWN',
  'LAVAMOAT_DEBUG',
  'LAVAMOAT_CACHE',
] as const;

/**
 * `LAVAMOAT_*` variables that are not configuration but are known (so that the
 * near-miss check leaves them alone): set by the CLI (`LAVAMOAT_DEV`), by the runtime
 * itself in processes it starts (see src/workers.ts), or read by the hook installer
 * (`LAVAMOAT_OFF_THREAD_HOOKS=1` forces module.register on Node 22+).
 */
export const OTHER_KNOWN_ENV_VARS = ['LAVAMOAT_DEV', 'LAVAMOAT_CONFINED_PARENT', 'LAVAMOAT_OFF_THREAD_HOOKS'] as const;

/** Keys of the package.json `"lavamoat"` object that configure this runtime. */
export const PACKAGE_JSON_KEYS = ['policy', 'policyOverride', 'scuttleGlobalThis', 'lockdown', 'debug', 'cache'] as const;

/** Keys that belong to other LavaMoat tools sharing the `"lavamoat"` object; ignored here. */
export const FOREIGN_PACKAGE_JSON_KEYS: Readonly<Record<string, string>> = {
  allowScripts: '@lavamoat/allow-scripts',
  allowBins: '@lavamoat/allow-scripts',
};

const SCUTTLE_KEYS = ['enabled', 'exceptions', 'scuttlerName'] as const;

export const DEFAULT_POLICY = 'lavamoat/node/policy.json';
export const DEFAULT_POLICY_OVERRIDE = 'lavamoat/node/policy-override.json';
export const defaultCacheDir = (projectRoot: string): string => path.join(projectRoot, 'node_modules', '.cache', 'lavamoat');

/** What the caller (the CLI) sets; wins over everything else. `undefined` means not set. */
export interface ConfigOverrides {
  /** Relative to the current directory. */
  projectRoot?: string;
  /** Relative to the project root. */
  policy?: string;
  policyOverride?: string;
  debug?: boolean;
  /** A directory (relative to the project root), `false` to disable, `true` for the default. */
  cache?: string | boolean;
  /** As in package.json; a JSON string is parsed first. */
  scuttleGlobalThis?: boolean | Partial<ScuttleGlobalThisConfig> | string;
  /** As in package.json; a JSON string is parsed first. */
  lockdown?: Partial<LockdownOptions> | string;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** The entry module; the project root is the nearest package.json above it. */
  entry?: string | undefined;
  cwd?: string;
  overrides?: ConfigOverrides;
  /** How an override is named in messages and in `sources`; default `--kebab-case` of the option. */
  overrideLabel?: (option: keyof ConfigOverrides) => string;
}

// ---------------------------------------------------------------------------------
// Where a value came from

interface Origin {
  kind: 'env' | 'package.json' | 'override';
  /** `LAVAMOAT_LOCKDOWN`, `package.json#lavamoat.lockdown`, `--lockdown`. */
  label: string;
  file?: string;
}

type PathPart = string | number;

function describe(origin: Origin, at: readonly PathPart[] = []): string {
  if (origin.kind === 'package.json') {
    const suffix = at.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`)).join('');
    return `${origin.label}${suffix} (in ${origin.file})`;
  }
  if (at.length === 0) return origin.label;
  const inner = at.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
  return `${origin.label} at ${inner}`;
}

function fail(origin: Origin, at: readonly PathPart[], problem: string): never {
  throw new ConfigError(`LavaMoat: invalid configuration: ${describe(origin, at)}: ${problem}`);
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const show = (value: unknown): string => {
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
};

// ---------------------------------------------------------------------------------
// Did you mean

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest of `names` to `input`, if it is close enough to be a likely typo. */
export function didYouMean(input: string, names: readonly string[]): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = distance(lower, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(best.length / 3));
  if (bestDistance <= limit) return best;
  // `debugMode` for `debug`, `policyPath` for `policy`.
  const prefixed = names.find((name) => lower.startsWith(name.toLowerCase()) || name.toLowerCase().startsWith(lower));
  return prefixed;
}

function unknownKey(origin: Origin, at: readonly PathPart[], key: string, allowed: readonly string[], what: string): never {
  const guess = didYouMean(key, allowed);
  fail(
    origin,
    [...at, key],
    `unknown ${what}${guess ? `; did you mean "${guess}"?` : '.'} Allowed: ${allowed.join(', ')}`,
  );
}

// ---------------------------------------------------------------------------------
// Values

function parseJson(origin: Origin, text: string, expected: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    fail(origin, [], `not valid JSON (${(error as Error).message}); expected ${expected}`);
  }
}

const SCUTTLE_EXPECTED = 'a JSON object such as {"enabled":true,"exceptions":["fetch","/^on/"],"scuttlerName":"SCUTTLER"}, or true/false';
const LOCKDOWN_EXPECTED = 'a JSON object of SES lockdown options such as {"errorTaming":"safe","stackFiltering":"concise"}';

function envFlag(origin: Origin, value: string): boolean {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  fail(origin, [], `${show(value)} is not allowed; expected 1, true, 0 or false`);
}

function pathValue(origin: Origin, value: unknown, at: readonly PathPart[] = []): string {
  if (typeof value !== 'string' || value === '') fail(origin, at, `${show(value)} is not allowed; expected a non-empty path`);
  if (value.includes('\0')) fail(origin, at, 'a path cannot contain a NUL character');
  return value;
}

function booleanValue(origin: Origin, value: unknown, at: readonly PathPart[] = []): boolean {
  if (typeof value !== 'boolean') fail(origin, at, `${show(value)} is not allowed; expected true or false`);
  return value;
}

/** `false` = off, `true` = default directory, a string = that directory. */
type CacheSetting = string | boolean;

function cacheValue(origin: Origin, value: unknown): CacheSetting {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && value !== '') return pathValue(origin, value);
  fail(origin, [], `${show(value)} is not allowed; expected a directory path, or false to disable the cache (true: the default directory)`);
}

function scuttleValue(origin: Origin, value: unknown): Partial<ScuttleGlobalThisConfig> {
  if (typeof value === 'boolean') return { enabled: value };
  if (!isPlainObject(value)) fail(origin, [], `${show(value)} is not allowed; expected ${SCUTTLE_EXPECTED}`);
  const result: Partial<ScuttleGlobalThisConfig> = {};
  for (const [key, item] of Object.entries(value)) {
    switch (key) {
      case 'enabled':
        result.enabled = booleanValue(origin, item, [key]);
        break;
      case 'exceptions': {
        if (!Array.isArray(item)) {
          fail(origin, [key], `${show(item)} is not allowed; expected an array of property names and "/pattern/flags" strings`);
        }
        item.forEach((exception, i) => {
          const problem = exceptionProblem(exception);
          if (problem) fail(origin, [key, i], problem);
        });
        result.exceptions = [...(item as string[])];
        break;
      }
      case 'scuttlerName':
        if (typeof item !== 'string') {
          fail(origin, [key], `${show(item)} is not allowed; expected the name of a global function (a string)`);
        }
        result.scuttlerName = item === '' ? undefined : item;
        break;
      default:
        unknownKey(origin, [], key, SCUTTLE_KEYS, 'scuttleGlobalThis option');
    }
  }
  return result;
}

function lockdownValue(origin: Origin, value: unknown): Partial<LockdownOptions> {
  if (!isPlainObject(value)) fail(origin, [], `${show(value)} is not allowed; expected ${LOCKDOWN_EXPECTED}`);
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const refused = refusedLockdownOption(key);
    if (refused) fail(origin, [key], refused);
    if (!(LOCKDOWN_OPTION_NAMES as readonly string[]).includes(key)) {
      unknownKey(origin, [], key, LOCKDOWN_OPTION_NAMES, 'lockdown option');
    }
    const problem = lockdownValueProblem(key as LockdownOptionName, item);
    if (problem) fail(origin, [key], problem);
    result[key] = Array.isArray(item) ? [...item] : item;
  }
  return result as Partial<LockdownOptions>;
}

// ---------------------------------------------------------------------------------
// Layers

/** One level of configuration, validated. */
interface Layer {
  origin: (option: string) => Origin;
  policy?: string;
  policyOverride?: string;
  debug?: boolean;
  cache?: CacheSetting;
  scuttleGlobalThis?: Partial<ScuttleGlobalThisConfig>;
  lockdown?: Partial<LockdownOptions>;
}

const ENV_FOR: Record<string, string> = {
  projectRoot: 'LAVAMOAT_PROJECT_ROOT',
  policy: 'LAVAMOAT_POLICY',
  policyOverride: 'LAVAMOAT_POLICY_OVERRIDE',
  scuttleGlobalThis: 'LAVAMOAT_SCUTTLE_GLOBAL_THIS',
  lockdown: 'LAVAMOAT_LOCKDOWN',
  debug: 'LAVAMOAT_DEBUG',
  cache: 'LAVAMOAT_CACHE',
};

/** An empty variable counts as unset (`LAVAMOAT_DEBUG= node ...` clears it). */
const envValue = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
};

function envLayer(env: NodeJS.ProcessEnv): Layer {
  const origin = (option: string): Origin => ({ kind: 'env', label: ENV_FOR[option]! });
  const layer: Layer = { origin };
  const policy = envValue(env, 'LAVAMOAT_POLICY');
  if (policy !== undefined) layer.policy = pathValue(origin('policy'), policy);
  const override = envValue(env, 'LAVAMOAT_POLICY_OVERRIDE');
  if (override !== undefined) layer.policyOverride = pathValue(origin('policyOverride'), override);
  const debug = envValue(env, 'LAVAMOAT_DEBUG');
  if (debug !== undefined) layer.debug = envFlag(origin('debug'), debug);
  const cache = envValue(env, 'LAVAMOAT_CACHE');
  if (cache !== undefined) {
    layer.cache = cache === '0' || cache === 'false' ? false : cache === '1' || cache === 'true' ? true : pathValue(origin('cache'), cache);
  }
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
function checkEnvNames(env: NodeJS.ProcessEnv): void {
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
function sesVariableWarnings(env: NodeJS.ProcessEnv): string[] {
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
};

function packageJsonLayer(file: string, lavamoat: unknown): Layer {
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

function overrideLayer(overrides: ConfigOverrides, label: (option: keyof ConfigOverrides) => string): Layer {
  const origin = (option: string): Origin => ({ kind: 'override', label: label(option as keyof ConfigOverrides) });
  const layer: Layer = { origin };
  if (overrides.policy !== undefined) layer.policy = pathValue(origin('policy'), overrides.policy);
  if (overrides.policyOverride !== undefined) layer.policyOverride = pathValue(origin('policyOverride'), overrides.policyOverride);
  if (overrides.debug !== undefined) layer.debug = booleanValue(origin('debug'), overrides.debug);
  if (overrides.cache !== undefined) layer.cache = cacheValue(origin('cache'), overrides.cache);
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

// ---------------------------------------------------------------------------------
// Project root

/** Nearest directory at or above `start` with a package.json. */
/**
 * Where to look for the app's package.json: next to the entry script, or, for an entry
 * inside `node_modules` (a dependency's bin, run directly or through `.bin`), in the
 * project that holds that `node_modules`.
 */
function entryStart(entry: string | undefined, cwd: string): string {
  if (!entry || !fs.existsSync(entry)) return cwd;
  const absolute = path.resolve(cwd, entry);
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = absolute.indexOf(marker);
  if (at !== -1 && fs.existsSync(path.join(absolute.slice(0, at), 'package.json'))) return absolute.slice(0, at);
  return path.dirname(fs.realpathSync(entry));
}

export function findProjectRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new ConfigError(`LavaMoat: no package.json found at or above ${start}; set LAVAMOAT_PROJECT_ROOT`);
    }
    dir = parent;
  }
}

function projectRootFrom(origin: Origin, value: string, cwd: string): string {
  const root = path.resolve(cwd, value);
  if (!fs.existsSync(path.join(root, 'package.json'))) {
    fail(origin, [], `${show(value)}: no package.json in ${root}; expected the directory of the app's package.json`);
  }
  return root;
}

function readPackageJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`LavaMoat: cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`LavaMoat: ${file} is not valid JSON (${(error as Error).message}), so its "lavamoat" options cannot be read`);
  }
  return isPlainObject(json) ? json.lavamoat : undefined;
}

// ---------------------------------------------------------------------------------

/** Reads and validates the whole configuration. Throws {@link ConfigError}. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const overrides = options.overrides ?? {};
  const label = options.overrideLabel ?? ((option: string) => `--${kebab(option)}`);
  const sources: Record<string, string> = {};

  checkEnvNames(env);

  let projectRoot: string;
  const envRoot = envValue(env, 'LAVAMOAT_PROJECT_ROOT');
  if (overrides.projectRoot !== undefined) {
    const origin: Origin = { kind: 'override', label: label('projectRoot') };
    projectRoot = projectRootFrom(origin, pathValue(origin, overrides.projectRoot), cwd);
    sources.projectRoot = origin.label;
  } else if (envRoot !== undefined) {
    const origin: Origin = { kind: 'env', label: 'LAVAMOAT_PROJECT_ROOT' };
    projectRoot = projectRootFrom(origin, pathValue(origin, envRoot), cwd);
    sources.projectRoot = origin.label;
  } else {
    projectRoot = findProjectRoot(entryStart(options.entry, cwd));
    sources.projectRoot = 'default';
  }

  const packageJsonPath = path.join(projectRoot, 'package.json');
  // Lowest precedence first.
  const layers = [
    packageJsonLayer(packageJsonPath, readPackageJson(packageJsonPath)),
    envLayer(env),
    overrideLayer(overrides, label),
  ];

  const pick = <K extends 'policy' | 'policyOverride' | 'debug' | 'cache'>(key: K, fallback: NonNullable<Layer[K]>) => {
    let value = fallback;
    sources[key] = 'default';
    for (const layer of layers) {
      const v = layer[key];
      if (v !== undefined) {
        value = v as NonNullable<Layer[K]>;
        sources[key] = layer.origin(key).label;
      }
    }
    return value;
  };

  const policy = pick('policy', DEFAULT_POLICY);
  const policyOverride = pick('policyOverride', DEFAULT_POLICY_OVERRIDE);
  const debug = pick('debug', false);
  const cache = pick('cache', true);

  const scuttleGlobalThis: ScuttleGlobalThisConfig = { enabled: false, exceptions: [], scuttlerName: undefined };
  for (const key of SCUTTLE_KEYS) sources[`scuttleGlobalThis.${key}`] = 'default';
  for (const layer of layers) {
    const partial = layer.scuttleGlobalThis;
    if (!partial) continue;
    for (const key of SCUTTLE_KEYS) {
      if (!(key in partial)) continue;
      (scuttleGlobalThis as unknown as Record<string, unknown>)[key] = partial[key];
      sources[`scuttleGlobalThis.${key}`] = layer.origin('scuttleGlobalThis').label;
    }
  }

  // package.json < debug mode < environment < overrides.
  const [pkgLayer, envLayerValue, overridesLayer] = layers as [Layer, Layer, Layer];
  const lockdown = resolveLockdown(
    pkgLayer.lockdown ? [pkgLayer.lockdown] : [],
    debug,
    [envLayerValue.lockdown ?? {}, overridesLayer.lockdown ?? {}],
  );
  for (const name of LOCKDOWN_OPTION_NAMES) {
    let source = 'default';
    if (pkgLayer.lockdown?.[name] !== undefined) source = pkgLayer.origin('lockdown').label;
    if (debug && (name === 'errorTaming' || name === 'stackFiltering')) source = `${sources.debug} (debug mode)`;
    if (envLayerValue.lockdown?.[name] !== undefined) source = envLayerValue.origin('lockdown').label;
    if (overridesLayer.lockdown?.[name] !== undefined) source = overridesLayer.origin('lockdown').label;
    sources[`lockdown.${name}`] = source;
  }

  const devValue = envValue(env, 'LAVAMOAT_DEV');
  const dev = devValue === undefined ? false : envFlag({ kind: 'env', label: 'LAVAMOAT_DEV' } as Origin, devValue);
  return {
    projectRoot,
    policyPath: path.resolve(projectRoot, policy),
    overridePath: path.resolve(projectRoot, policyOverride),
    debug,
    dev,
    cacheDir: cache === false ? undefined : cache === true ? defaultCacheDir(projectRoot) : path.resolve(projectRoot, cache),
    scuttleGlobalThis,
    lockdown,
    packageJsonPath,
    sources,
    warnings: sesVariableWarnings(env),
  };
}

/** The configuration of this process: environment, package.json, defaults. Throws {@link ConfigError}. */
export function readConfig(env: NodeJS.ProcessEnv = process.env, entry: string | undefined = process.argv[1]): Config {
  return loadConfig({ env, entry });
}

/**
 * Environment variables that reproduce `config` exactly in another process (a child
 * `node` or a worker): absolute paths, and the resolved scuttling and lockdown options,
 * so that the other process neither searches for its own project root nor reads
 * anything that could differ.
 */
export function configToEnv(config: Config): Record<string, string> {
  const scuttle: Record<string, unknown> = {
    enabled: config.scuttleGlobalThis.enabled,
    exceptions: config.scuttleGlobalThis.exceptions,
  };
  if (config.scuttleGlobalThis.scuttlerName !== undefined) scuttle.scuttlerName = config.scuttleGlobalThis.scuttlerName;
  return {
    LAVAMOAT_PROJECT_ROOT: config.projectRoot,
    LAVAMOAT_POLICY: config.policyPath,
    LAVAMOAT_POLICY_OVERRIDE: config.overridePath,
    LAVAMOAT_SCUTTLE_GLOBAL_THIS: JSON.stringify(scuttle),
    LAVAMOAT_LOCKDOWN: JSON.stringify(config.lockdown),
    LAVAMOAT_DEBUG: config.debug ? '1' : '0',
    LAVAMOAT_DEV: config.dev ? '1' : '0',
    LAVAMOAT_CACHE: config.cacheDir ?? '0',
  };
}

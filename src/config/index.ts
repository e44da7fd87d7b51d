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
import path from 'node:path';
import process from 'node:process';
import { LOCKDOWN_OPTION_NAMES, resolveLockdown } from '../confine/lockdown-options.js';
import {
  defaultCacheDir,
  DEFAULT_POLICY,
  DEFAULT_POLICY_OVERRIDE,
  SCUTTLE_KEYS,
  type Config,
  type LoadConfigOptions,
  type ScuttleGlobalThisConfig,
} from './types.js';
import { envFlag, kebab, pathValue, type Origin } from './values.js';
import { envLayer, envValue, checkEnvNames, overrideLayer, packageJsonLayer, sesVariableWarnings, type Layer } from './layers.js';
import { entryStart, findProjectRoot, projectRootFrom, readPackageJson } from './project-root.js';

export * from './types.js';
export { didYouMean } from './values.js';
export { findProjectRoot } from './project-root.js';

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

  const pick = <K extends 'policy' | 'policyOverride' | 'debug' | 'cache' | 'reportCaughtDenials' | 'record' | 'strict'>(key: K, fallback: NonNullable<Layer[K]>) => {
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
  const reportCaughtDenials = pick('reportCaughtDenials', true);
  // Not a package.json setting: only a variable or the CLI's --record names a file.
  const record = pick('record', '');
  const strict = pick('strict', false);

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
    reportCaughtDenials,
    record: record === '' ? undefined : path.resolve(projectRoot, record),
    strict,
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
    LAVAMOAT_REPORT_CAUGHT_DENIALS: config.reportCaughtDenials ? '1' : '0',
    // Empty when not recording: an empty variable counts as unset.
    LAVAMOAT_RECORD: config.record ?? '',
    LAVAMOAT_STRICT: config.strict ? '1' : '0',
  };
}

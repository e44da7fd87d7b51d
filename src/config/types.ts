/**
 * The shapes of the configuration, the names it is read from (variables, package.json
 * keys) and its defaults: shared by the reader (index.ts), the layers and the value
 * checks.
 */
import path from 'node:path';
import type { LockdownOptions } from '../confine/lockdown-options.js';

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
  /**
   * Print a denial that the package (or the app) caught, once per distinct denial
   * (report/caught-denials.ts). Default true.
   */
  reportCaughtDenials: boolean;
  /**
   * The recording file (absolute): what each package used and every denial, written at
   * exit (report/recording.ts); undefined when not recording. Environment or CLI only.
   */
  record: string | undefined;
  /**
   * Strict mode (off by default): packages cannot change what other packages and the
   * app see. A read grant of an object global is read-only, and what a package gets of
   * another package's exports is a read-only view, unless its policy grants
   * `"packages": { "<name>": "write" }` (src/confine/export-views.ts).
   */
  strict: boolean;
  /** The package.json whose `"lavamoat"` key was read. */
  packageJsonPath: string;
  /**
   * Where each setting came from: `default`, a variable name, `package.json#lavamoat.<key>`,
   * or an override's label (`--policy`). Keys: `projectRoot`, `policy`, `policyOverride`,
   * `debug`, `cache`, `reportCaughtDenials`, `record`, `strict`, `scuttleGlobalThis.<key>`,
   * `lockdown.<option>`.
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
  'LAVAMOAT_REPORT_CAUGHT_DENIALS',
  'LAVAMOAT_RECORD',
  'LAVAMOAT_STRICT',
] as const;

/**
 * `LAVAMOAT_*` variables that are not configuration but are known (so that the
 * near-miss check leaves them alone): set by the CLI (`LAVAMOAT_DEV`), by the runtime
 * itself in processes it starts (see src/confine/child-processes.ts), or read by the hook installer
 * (`LAVAMOAT_OFF_THREAD_HOOKS=1` forces module.register on Node 22+).
 */
export const OTHER_KNOWN_ENV_VARS = ['LAVAMOAT_DEV', 'LAVAMOAT_CONFINED_PARENT', 'LAVAMOAT_OFF_THREAD_HOOKS'] as const;

/** Keys of the package.json `"lavamoat"` object that configure this runtime. */
export const PACKAGE_JSON_KEYS = ['policy', 'policyOverride', 'scuttleGlobalThis', 'lockdown', 'debug', 'cache', 'reportCaughtDenials', 'strict'] as const;

/** Keys that belong to other LavaMoat tools sharing the `"lavamoat"` object; ignored here. */
export const FOREIGN_PACKAGE_JSON_KEYS: Readonly<Record<string, string>> = {
  allowScripts: '@lavamoat/allow-scripts',
  allowBins: '@lavamoat/allow-scripts',
};


export const SCUTTLE_KEYS = ['enabled', 'exceptions', 'scuttlerName'] as const;

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
  strict?: boolean;
  /** As in package.json; a JSON string is parsed first. */
  scuttleGlobalThis?: boolean | Partial<ScuttleGlobalThisConfig> | string;
  /** As in package.json; a JSON string is parsed first. */
  lockdown?: Partial<LockdownOptions> | string;
  reportCaughtDenials?: boolean;
  /** The recording file, relative to the project root. */
  record?: string;
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

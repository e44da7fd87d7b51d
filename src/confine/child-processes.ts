/**
 * Child processes (`child_process`: spawn, exec, execFile, fork and their sync forms):
 * - the preload puts `--import <this loader>` (an absolute file URL, so it resolves from
 *   any working directory) into `process.env.NODE_OPTIONS`, with the resolved
 *   configuration pinned in `LAVAMOAT_*` variables and a marker
 *   (`LAVAMOAT_CONFINED_PARENT=<pid>`). Every `node` started with this environment, the
 *   default for every child_process function (and for `{ ...process.env, ... }`), runs
 *   under the same policy, whatever binary path or shell started it: `fork()`,
 *   `spawn(process.execPath, [file])`, `exec('node file.js')`, `npx`, scripts;
 * - such a child refuses to start when it has no entry file to confine (`node -e`,
 *   `-p`, standard input, a REPL): that code belongs to no package, and running it as
 *   the trusted app would hand a package that can spawn processes an unconfined one;
 * - not propagated: when the caller passes an `env` without `NODE_OPTIONS` (or with
 *   its own), or `fork()` with an `execArgv`/env that drops it: a package granted
 *   `child_process` can run any program (`sh`, `curl`) anyway, so that grant is as
 *   strong as the process's own authority and is not a confinement boundary. The
 *   propagation protects against `node` children started in the ordinary way.
 * - what the runtime put there is the runtime's: packages cannot change those variables
 *   in `process.env` (boundary.ts refuses `NODE_*`, `LAVAMOAT_*` and the like), and at
 *   the moment any child is spawned (the two native entry points every `child_process`
 *   function ends in), a child that inherits the environment, or whose environment was
 *   copied from it (it carries the marker), gets this loader in `NODE_OPTIONS` and the
 *   runtime's own configuration, whatever `process.env` says by then (a package granted
 *   `"process.env": "write"` could replace the whole object). `process.execArgv`, which
 *   `fork()` passes on, is frozen.
 */
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Config } from '../config/index.js';
import { configToEnv } from '../config/index.js';
import { PARENT_MARKER } from './entry-checks.js';
import { nativeBinding } from './native-handles.js';

/** Splits NODE_OPTIONS as Node does: on whitespace, with double quotes and backslash escapes. */
export function splitNodeOptions(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < text.length) current += text[++i];
      else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') {
      quoted = true;
      inToken = true;
    } else if (/\s/.test(c)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(current);
  return tokens;
}

const quoteOption = (token: string): string => (/[\s"\\]/.test(token) ? `"${token.replace(/["\\]/g, '\\$&')}"` : token);

/** Whether `specifier` (an `--import` value) names this loader. */
export function isThisLoader(specifier: string, loaderURL: string): boolean {
  if (specifier === loaderURL || specifier === 'lavamoat/loader') return true;
  try {
    return path.resolve(specifier) === fileURLToPath(loaderURL);
  } catch {
    return false;
  }
}

/** Preload options and whether their value is a module URL (`--import`, loaders) or a path (`--require`). */
const PRELOAD_OPTIONS: Readonly<Record<string, 'url' | 'path'>> = {
  '--import': 'url',
  '--loader': 'url',
  '--experimental-loader': 'url',
  '--require': 'path',
  '-r': 'path',
};

/**
 * `args` (an execArgv) with this loader named by its absolute URL and every other
 * preload given by a relative path (`./`, `../`) made absolute. Such a specifier, like the
 * documented bare `--import lavamoat/loader`, is resolved against the current working
 * directory by each thread or process that reads it: after a `process.chdir` (the app's,
 * or a package's granted `process.chdir`), a worker that inherits `process.execArgv` (or
 * a child `fork()` passes it to, with another `cwd`) imported the `loader.mjs`, the
 * `lavamoat` package or the preload of that directory instead, natively, and this loader
 * not at all (attack case 205); so did a relative preload in NODE_OPTIONS, which a worker's
 * env copies (propagateToChildren pins those). Resolved once, against the directory this
 * process started in. Other bare preloads (`--import tsx`) are left as given.
 */
export function pinPreloads(args: readonly string[], loaderURL: string): string[] {
  const out: string[] = [];
  const pin = (kind: 'url' | 'path', value: string): string => {
    if (kind === 'url' && isThisLoader(value, loaderURL)) return loaderURL;
    if (!/^\.\.?[\\/]/.test(value)) return value;
    return kind === 'url' ? pathToFileURL(path.resolve(value)).href : path.resolve(value);
  };
  for (let i = 0; i < args.length; i += 1) {
    const arg = String(args[i]);
    const eq = arg.indexOf('=');
    const name = (eq === -1 ? arg : arg.slice(0, eq)).replace(/^--(.*)$/, (_, rest: string) => `--${rest.replaceAll('_', '-')}`);
    const kind = PRELOAD_OPTIONS[name];
    if (kind === undefined) {
      out.push(arg);
    } else if (eq !== -1) {
      out.push(`${arg.slice(0, eq)}=${pin(kind, arg.slice(eq + 1))}`);
    } else if (i + 1 < args.length) {
      out.push(arg, pin(kind, String(args[i + 1])));
      i += 1;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * NODE_OPTIONS with this loader imported by absolute URL: an existing
 * `--import lavamoat/loader` is replaced in place (so imports placed before it, such as
 * a scuttler's module, still run first), otherwise it is added at the end.
 */
export function withLoaderInNodeOptions(nodeOptions: string | undefined, loaderURL: string): string {
  const tokens = splitNodeOptions(nodeOptions ?? '');
  const out: string[] = [];
  let found = false;
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    let value: string | undefined;
    let width = 1;
    if (token === '--import' && i + 1 < tokens.length) {
      value = tokens[i + 1];
      width = 2;
    } else if (token.startsWith('--import=')) {
      value = token.slice('--import='.length);
    }
    if (value !== undefined && isThisLoader(value, loaderURL)) {
      if (!found) out.push(`--import=${loaderURL}`);
      found = true;
      i += width - 1;
      continue;
    }
    out.push(token);
  }
  if (!found) out.push(`--import=${loaderURL}`);
  return out.map(quoteOption).join(' ');
}

/**
 * NODE_OPTIONS without this loader's `--import` (undefined when nothing is left), for
 * the workers a preload starts on its own files (workers.ts), which Node would start
 * without it.
 */
export function withoutLoaderInNodeOptions(nodeOptions: string | undefined, loaderURL: string): string | undefined {
  const tokens = splitNodeOptions(nodeOptions ?? '');
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    if (token === '--import' && i + 1 < tokens.length && isThisLoader(tokens[i + 1]!, loaderURL)) {
      i += 1;
      continue;
    }
    if (token.startsWith('--import=') && isThisLoader(token.slice('--import='.length), loaderURL)) continue;
    out.push(token);
  }
  return out.length === 0 ? undefined : out.map(quoteOption).join(' ');
}

/**
 * Makes every `node` child that inherits this process's environment run under the
 * same loader and configuration (see the module comment for exactly when).
 */
export function propagateToChildren(config: Config, loaderURL: string, env: NodeJS.ProcessEnv = process.env): void {
  Object.assign(env, configToEnv(config));
  // Its relative preloads made absolute, as process.execArgv's are (pinPreloads): a worker
  // (whose env copies this one) or a child with another working directory would resolve
  // them there, before the loader.
  const pinned = env.NODE_OPTIONS === undefined ? undefined : pinPreloads(splitNodeOptions(env.NODE_OPTIONS), loaderURL).map(quoteOption).join(' ');
  env.NODE_OPTIONS = withLoaderInNodeOptions(pinned, loaderURL);
  env[PARENT_MARKER] = String(process.pid);
}

/**
 * The environment pairs a child is spawned with, with this runtime's loader and
 * configuration put back when the child inherits this process's environment or a copy
 * of it: the marker came along (only the app can remove it, boundary.ts protects it, and
 * `process.env` itself cannot be replaced). Undefined when nothing is to change (an
 * environment of the caller's own making). Exported for tests.
 */
export function confinedEnvPairs(pairs: unknown, pinned: Readonly<Record<string, string>>, loaderURL: string): string[] | undefined {
  if (!Array.isArray(pairs)) return undefined;
  if (!pairs.some((pair) => typeof pair === 'string' && pair.startsWith(`${PARENT_MARKER}=`))) return undefined;
  const out: string[] = [];
  let nodeOptions: string | undefined;
  for (const pair of pairs) {
    const text = String(pair);
    const name = text.slice(0, text.indexOf('='));
    if (name === 'NODE_OPTIONS') nodeOptions = text.slice(name.length + 1);
    else if (!Object.prototype.hasOwnProperty.call(pinned, name)) out.push(text);
  }
  for (const [name, value] of Object.entries(pinned)) out.push(`${name}=${value}`);
  out.push(`NODE_OPTIONS=${withLoaderInNodeOptions(nodeOptions, loaderURL)}`);
  return out;
}

let spawnsConfined = false;

/**
 * Wraps the two native calls every `child_process` function ends in (the process
 * handle's `spawn`, for the asynchronous ones: `spawn(options)` up to Node 22,
 * `spawn(file, args, cwd, envPairs, ...)` on 24; `spawn_sync.spawn(options)` for the
 * synchronous ones) so that {@link confinedEnvPairs} decides the child's environment.
 * Before native-handles.ts hardens those prototypes.
 */
export function confineSpawns(config: Config, loaderURL: string): void {
  if (spawnsConfined) return;
  spawnsConfined = true;
  const pinned = Object.freeze({ ...configToEnv(config), [PARENT_MARKER]: String(process.pid) });
  const rewriteOptions = (options: unknown): void => {
    if (typeof options !== 'object' || options === null) return;
    const pairs = confinedEnvPairs((options as { envPairs?: unknown }).envPairs, pinned, loaderURL);
    if (pairs) (options as { envPairs?: unknown }).envPairs = pairs;
  };
  const processWrap = nativeBinding('process_wrap') as { Process?: { prototype: Record<string, Function> } } | undefined;
  const asyncSpawn = processWrap?.Process?.prototype.spawn;
  if (typeof asyncSpawn === 'function') {
    processWrap!.Process!.prototype.spawn = function spawn(this: unknown, ...args: unknown[]) {
      if (args.length === 1) rewriteOptions(args[0]);
      else args[3] = confinedEnvPairs(args[3], pinned, loaderURL) ?? args[3];
      return Reflect.apply(asyncSpawn, this, args);
    };
  }
  const spawnSync = nativeBinding('spawn_sync') as Record<string, Function> | undefined;
  const syncSpawn = spawnSync?.spawn;
  if (spawnSync && typeof syncSpawn === 'function') {
    spawnSync.spawn = function spawn(this: unknown, ...args: unknown[]) {
      rewriteOptions(args[0]);
      return Reflect.apply(syncSpawn, this, args);
    };
  }
}

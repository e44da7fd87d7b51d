/**
 * The first steps of the preload, kept small so that they run before the rest of the
 * runtime is loaded: read the configuration, then (Node 22.1+) turn on Node's compile
 * cache, in the private cache directory, so that the runtime's own code (SES, the
 * compartment mapper, this project) is not compiled from source on every start.
 */
import module from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { loadConfig, type Config } from '../config/index.js';
import { inheritedWorkerEnv, isMainThread } from '../confine/entry-checks.js';
import { fileURLToPath } from 'node:url';
import { ensurePrivateDirectory } from '../cache/private-dir.js';
import { cacheMode } from '../cache/trust.js';

// The package directory of this runtime (dist/runtime/ is two levels below it).
const runtimeDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The configuration of this process; a worker uses the one its parent handed over. */
export function configuration(): Config {
  const inherited = inheritedWorkerEnv();
  return loadConfig({ env: inherited ? { ...process.env, ...inherited } : process.env, entry: process.argv[1] });
}

/** The directories holding the code the compiled-module cache caches: the app's packages (and workspace packages in the project). */
export function packageCodeDirs(config: Config): string[] {
  return [config.projectRoot, path.join(config.projectRoot, 'node_modules')];
}

/**
 * V8's code cache runs what it holds without checking it against the source beyond a
 * hash, and Node applies it to every module it compiles after this (the runtime's own,
 * and the app's): it lives only in the user's private cache directory, never in a shared
 * temporary one, and only where the code it caches is no less writable than it
 * (cache/trust.ts); with the cache disabled, it is off too.
 *
 * Returns whether this process's own cache, read-write, was turned on (the condition of
 * {@link compileRuntimeEagerly}).
 */
export function enableCompileCache(config: Config): boolean {
  const enable = (module as unknown as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (typeof enable !== 'function' || config.cacheDir === undefined) return false;
  // A worker compiles the runtime lazily (compileRuntimeEagerly): V8 rejects a code cache
  // made under other flags and Node writes the one it made instead, so a directory of its
  // own keeps the main thread's from being replaced at every worker's exit.
  const dir = path.join(config.cacheDir, isMainThread() ? 'v8' : 'v8-worker');
  // Node compiles the runtime's own modules and the app's with it.
  const { mode } = cacheMode(dir, [...packageCodeDirs(config), runtimeDir]);
  if (mode === 'off') return false;
  try {
    if (mode === 'read-write') ensurePrivateDirectory(config.cacheDir);
    const result = enable(dir) as { status?: unknown } | undefined;
    const enabled = (module as unknown as { constants?: { compileCacheStatus?: { ENABLED?: unknown } } }).constants?.compileCacheStatus?.ENABLED;
    return mode === 'read-write' && enabled !== undefined && result?.status === enabled;
  } catch {
    // A cache that cannot be used only costs time.
    return false;
  }
}

/**
 * The builtins the runtime's bundle loads as it is evaluated (bundle-runtime.mjs turns its
 * imports of builtins into `process.getBuiltinModule` calls), each loaded anyway at every
 * start. Loaded before V8's flags change (below): Node's code cache of its own builtins
 * holds V8's flags too, and one loaded while they differ would be compiled from source
 * (about 50 M instructions more for these on Node 24). One missing here costs only that.
 */
const BUNDLE_BUILTINS = ['node:buffer', 'node:crypto', 'node:fs', 'node:module', 'node:path', 'node:timers', 'node:url', 'node:util'];

/** A V8 flag of laziness (`--lazy`, `--no-lazy`, `--lazy-feedback-allocation`, ...) on the command line. */
const NAMES_LAZINESS = /(?:^|\s)--(?:no-?)?lazy/;

/**
 * Node's compile cache holds what V8 compiled when it first compiled a module: its top
 * level, not the functions compiled when first called, which are most of the runtime's
 * code that a start runs (SES, the boundary, the module pipeline). So every start parsed
 * and compiled them again: about 50 M instructions of the tiny app's ~185 M of the
 * runtime's own on Node 24 (docs/performance.md, session 15). Compiled eagerly (V8's
 * `--no-lazy`) while the bundle is imported, the whole of it goes into the cache, and a
 * warm start reads it back instead.
 *
 * Only where this process's own cache is on and writable (a read-only one made lazily
 * would be rejected at every start), on the main thread (V8's flags are the process's;
 * a worker's runtime stays lazy, in a cache directory of its own), and where the command
 * line says nothing of V8's laziness. The flag is restored before anything else runs;
 * eager and lazy compilation differ in nothing a program can observe. Returns the
 * restoring function (a no-op where nothing was changed).
 */
export function compileRuntimeEagerly(cacheEnabled: boolean): () => void {
  if (!cacheEnabled || !isMainThread()) return () => {};
  if ([...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => NAMES_LAZINESS.test(arg))) return () => {};
  for (const id of BUNDLE_BUILTINS) process.getBuiltinModule(id);
  const v8 = process.getBuiltinModule('node:v8') as typeof import('node:v8');
  try {
    v8.setFlagsFromString('--no-lazy');
  } catch {
    return () => {};
  }
  return () => v8.setFlagsFromString('--lazy');
}

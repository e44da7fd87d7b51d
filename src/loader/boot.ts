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
import { inheritedWorkerEnv } from '../confine/entry-checks.js';
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
 */
export function enableCompileCache(config: Config): void {
  const enable = (module as unknown as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (typeof enable !== 'function' || config.cacheDir === undefined) return;
  const dir = path.join(config.cacheDir, 'v8');
  // Node compiles the runtime's own modules and the app's with it.
  const { mode } = cacheMode(dir, [...packageCodeDirs(config), runtimeDir]);
  if (mode === 'off') return;
  try {
    if (mode === 'read-write') ensurePrivateDirectory(config.cacheDir);
    enable(dir);
  } catch {
    // A cache that cannot be used only costs time.
  }
}

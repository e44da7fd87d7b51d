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
import { ensurePrivateDirectory } from '../cache/private-dir.js';

/** The configuration of this process; a worker uses the one its parent handed over. */
export function configuration(): Config {
  const inherited = inheritedWorkerEnv();
  return loadConfig({ env: inherited ? { ...process.env, ...inherited } : process.env, entry: process.argv[1] });
}

/**
 * V8's code cache runs what it holds without checking it against the source beyond a
 * hash, so it lives only in the user's private cache directory, never in a shared
 * temporary one; with the cache disabled, it is off too.
 */
export function enableCompileCache(config: Config): void {
  const enable = (module as unknown as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (typeof enable !== 'function' || config.cacheDir === undefined) return;
  try {
    ensurePrivateDirectory(config.cacheDir);
    enable(path.join(config.cacheDir, 'v8'));
  } catch {
    // A cache that cannot be used only costs time.
  }
}

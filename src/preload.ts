/**
 * Main thread, before any app code: read the configuration and the policy (stopping
 * the process on any problem), map the packages, lock down the intrinsics, link the
 * compartments, and register the hooks that send the app's imports of dependencies to
 * them.
 */
import 'ses';
import path from 'node:path';
import { register } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readConfig } from './config.js';
import { loadPolicy } from './policy/index.js';
import { buildPackageMap, PackageMap } from './package-map.js';
import { Runtime } from './runtime.js';
import { setRuntime } from './bridge.js';
import { installRequireHook } from './require-hook.js';
import { installErrorPrinting } from './error-printing.js';
import type { HooksData } from './hooks.js';
import { ModuleCache } from './cache.js';
import { createRequire } from 'node:module';

declare function lockdown(options?: Record<string, unknown>): void;

// This project's compiled code, which always runs natively.
const selfDir = path.dirname(fileURLToPath(import.meta.url));

export async function start(): Promise<void> {
  const config = readConfig();
  const { policy } = loadPolicy({ policyPath: config.policyPath, overridePath: config.overridePath });
  const packageMap = new PackageMap(buildPackageMap(config.projectRoot));
  // The host's globals, as endowments will hand them out, taken before anything can
  // change them.
  const host = globalThis as unknown as Record<PropertyKey, unknown>;
  lockdown({
    errorTaming: 'unsafe',
    stackFiltering: 'verbose',
    overrideTaming: 'severe',
    consoleTaming: 'unsafe',
    localeTaming: 'unsafe',
    domainTaming: 'unsafe',
    errorTrapping: 'none',
    unhandledRejectionTrapping: 'none',
  });
  const runtime = new Runtime({
    packageMap,
    cache: config.cacheDir === undefined ? undefined : new ModuleCache({ dir: config.cacheDir, salt: cacheSalt() }),
    policy,
    files: { policy: config.policyPath, override: config.overridePath },
    host,
  });
  installErrorPrinting((error) => runtime.explainError(error));
  await runtime.start();
  setRuntime(runtime);
  installRequireHook(runtime, packageMap, selfDir, runtime.rootConfined);
  const data: HooksData = {
    packageMap: packageMap.data,
    bridgeURL: new URL('./bridge.js', import.meta.url).href,
    selfURL: pathToFileURL(selfDir + path.sep).href,
    rootConfined: runtime.rootConfined,
  };
  register(new URL('./hooks.js', import.meta.url), { data });
}

/** Versions of everything that shapes a compiled module. */
function cacheSalt(): string {
  const require = createRequire(import.meta.url);
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  return ['lavamoat', 'ses', '@endo/module-source'].map((name) => `${name}@${version(name)}`).join(' ');
}

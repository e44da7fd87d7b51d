/**
 * Run-time configuration, from the environment (for `NODE_OPTIONS` deployments, where
 * no flag reaches `--import`), then defaults.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Config {
  projectRoot: string;
  policyPath: string;
  overridePath: string;
  debug: boolean;
  /** Directory of the compiled-module cache, or undefined when caching is off. */
  cacheDir: string | undefined;
}

export class ConfigError extends Error {
  readonly code = 'LAVAMOAT_CONFIG_INVALID';
}

/** Nearest directory at or above `start` with a package.json. */
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

export function readConfig(env: NodeJS.ProcessEnv = process.env, entry: string | undefined = process.argv[1]): Config {
  let projectRoot: string;
  if (env.LAVAMOAT_PROJECT_ROOT) {
    projectRoot = path.resolve(env.LAVAMOAT_PROJECT_ROOT);
    if (!fs.existsSync(path.join(projectRoot, 'package.json'))) {
      throw new ConfigError(`LavaMoat: LAVAMOAT_PROJECT_ROOT=${env.LAVAMOAT_PROJECT_ROOT}: no package.json in ${projectRoot}`);
    }
  } else {
    const start = entry && fs.existsSync(entry) ? path.dirname(fs.realpathSync(entry)) : process.cwd();
    projectRoot = findProjectRoot(start);
  }
  const debug = env.LAVAMOAT_DEBUG;
  if (debug !== undefined && !['', '0', '1', 'true', 'false'].includes(debug)) {
    throw new ConfigError(`LavaMoat: LAVAMOAT_DEBUG=${debug}: expected 1, true, 0 or false`);
  }
  const cache = env.LAVAMOAT_CACHE;
  let cacheDir: string | undefined = path.join(projectRoot, 'node_modules', '.cache', 'lavamoat');
  if (cache === '0' || cache === 'false') cacheDir = undefined;
  else if (cache) cacheDir = path.resolve(projectRoot, cache);
  return {
    projectRoot,
    cacheDir,
    policyPath: path.resolve(projectRoot, env.LAVAMOAT_POLICY || 'lavamoat/node/policy.json'),
    overridePath: path.resolve(projectRoot, env.LAVAMOAT_POLICY_OVERRIDE || 'lavamoat/node/policy-override.json'),
    debug: debug === '1' || debug === 'true',
  };
}

/**
 * Where things are for a CLI invocation: the entry module, the project root and the
 * policy files. The CLI uses the loader's own configuration (src/config/index.ts) with its
 * flags as the highest-precedence layer, so `lavamoat run` and a plain
 * `node --import lavamoat/loader` of the same app agree: flags, then `LAVAMOAT_*`
 * variables, then the `"lavamoat"` key of the app's package.json, then defaults.
 * Relative policy paths are relative to the project root (as in @lavamoat/node's CLI
 * and as LAVAMOAT_POLICY is).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config, type ConfigOverrides } from '../config/index.js';
import { resolveBin } from './bin.js';
import { UsageError, type CliArgs } from './args.js';

export interface Paths {
  entry: string;
  root: string;
  policy: string;
  override: string;
  debug: string;
  /** Set when the entry is a bin. */
  bin?: string;
  /** The whole configuration, for `run` to hand to the loader. */
  config: Config;
}

function existingFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

const LABELS: Partial<Record<keyof ConfigOverrides, string>> = { projectRoot: '--root' };

/** The configuration with the CLI's `--root`, `--policy` and `--policy-override` on top. */
export function configFor(args: CliArgs, env: NodeJS.ProcessEnv, cwd: string, entry: string | undefined): Config {
  const overrides: ConfigOverrides = {};
  if (args.root !== undefined) overrides.projectRoot = args.root;
  if (args.policy !== undefined) overrides.policy = args.policy;
  if (args.policyOverride !== undefined) overrides.policyOverride = args.policyOverride;
  if (args.record !== undefined) overrides.record = args.record;
  return loadConfig({
    env,
    cwd,
    entry,
    overrides,
    overrideLabel: (option) => LABELS[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  });
}

export function resolvePaths(args: CliArgs, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Paths {
  const target = args.target!;
  const explicitRoot = args.root !== undefined ? path.resolve(cwd, args.root) : undefined;
  if (explicitRoot !== undefined && !existingFile(path.join(explicitRoot, 'package.json'))) {
    throw new UsageError(`--root ${args.root}: no package.json in ${explicitRoot}`);
  }

  let entry: string;
  let config: Config;
  let bin: string | undefined;
  if (args.bin) {
    // The bin lives in a dependency: the root comes from the flag, the environment or
    // the working directory, never from the bin's own package.json.
    config = configFor(args, env, cwd, undefined);
    entry = resolveBin(target, config.projectRoot).file;
    bin = target;
  } else {
    const candidates = [path.resolve(cwd, target), ...(explicitRoot ? [path.resolve(explicitRoot, target)] : [])];
    const found = candidates.find(existingFile);
    if (!found) throw new UsageError(`entry module ${target} not found${explicitRoot ? ` (looked in ${cwd} and ${explicitRoot})` : ''}`);
    entry = fs.realpathSync(found);
    config = configFor(args, env, cwd, entry);
  }
  const root = fs.realpathSync(config.projectRoot);
  const policy = config.policyPath;
  const override = config.overridePath;
  if (args.policyOverride !== undefined && !existingFile(override)) {
    throw new UsageError(`--policy-override ${args.policyOverride}: cannot read ${override}`);
  }
  const debug =
    args.policyDebug !== undefined ? path.resolve(root, args.policyDebug) : path.join(path.dirname(policy), 'policy-debug.json');
  return { entry, root, policy, override, debug, config, ...(bin !== undefined ? { bin } : {}) };
}

/**
 * Where things are for a CLI invocation: the entry module, the project root and the
 * policy files, from flags first, then the same configuration the loader reads
 * (LAVAMOAT_* variables), then defaults. Relative policy paths are relative to the
 * project root, as in @lavamoat/node's CLI and as LAVAMOAT_POLICY is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { findProjectRoot, readConfig } from '../config.js';
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
}

function existingFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function resolvePaths(args: CliArgs, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Paths {
  const target = args.target!;
  const explicitRoot = args.root !== undefined ? path.resolve(cwd, args.root) : undefined;
  if (explicitRoot !== undefined && !existingFile(path.join(explicitRoot, 'package.json'))) {
    throw new UsageError(`--root ${args.root}: no package.json in ${explicitRoot}`);
  }

  let entry: string;
  let root: string;
  let bin: string | undefined;
  if (args.bin) {
    root = explicitRoot ?? (env.LAVAMOAT_PROJECT_ROOT ? path.resolve(cwd, env.LAVAMOAT_PROJECT_ROOT) : findProjectRoot(cwd));
    entry = resolveBin(target, root).file;
    bin = target;
  } else {
    const candidates = [path.resolve(cwd, target), ...(explicitRoot ? [path.resolve(explicitRoot, target)] : [])];
    const found = candidates.find(existingFile);
    if (!found) throw new UsageError(`entry module ${target} not found${explicitRoot ? ` (looked in ${cwd} and ${explicitRoot})` : ''}`);
    entry = fs.realpathSync(found);
    if (explicitRoot !== undefined) root = explicitRoot;
    else root = readConfig(env, entry).projectRoot;
  }
  root = fs.realpathSync(root);

  // The loader's own configuration rules for whatever the flags leave unset.
  const config = readConfig({ ...env, LAVAMOAT_PROJECT_ROOT: root }, entry);
  const policy = args.policy !== undefined ? path.resolve(root, args.policy) : config.policyPath;
  let override = config.overridePath;
  if (args.policyOverride !== undefined) {
    override = path.resolve(root, args.policyOverride);
    if (!existingFile(override)) throw new UsageError(`--policy-override ${args.policyOverride}: cannot read ${override}`);
  }
  const debug =
    args.policyDebug !== undefined ? path.resolve(root, args.policyDebug) : path.join(path.dirname(policy), 'policy-debug.json');
  return { entry, root, policy, override, debug, ...(bin !== undefined ? { bin } : {}) };
}

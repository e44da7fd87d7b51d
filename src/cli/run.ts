/**
 * `lavamoat run`: `node --import <this package's loader> <entry> args`, with the same
 * Node binary and the configuration passed the only way that reaches a preload: the
 * LAVAMOAT_* environment variables. The app's exit code, or the signal that ended it,
 * becomes lavamoat's own.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { configToEnv } from '../config/index.js';
import type { CliArgs } from './args.js';
import type { Paths } from './paths.js';

/** loader.mjs of this package (dist/cli/run.js → ../../loader.mjs). */
export const LOADER_URL = pathToFileURL(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'loader.mjs'),
).href;

/**
 * The loader's whole configuration as resolved here (flags included), in the variables
 * the preload reads; `LAVAMOAT_DEV=1` for `--dev`.
 */
export function runEnvironment(paths: Paths, args: CliArgs, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    ...configToEnv(paths.config),
    ...(args.dev ? { LAVAMOAT_DEV: '1' } : {}),
  };
}

export function runCommand(args: CliArgs, paths: Paths): Promise<number> {
  const child = spawn(process.execPath, ['--import', LOADER_URL, paths.entry, ...args.appArgs], {
    stdio: 'inherit',
    env: runEnvironment(paths, args),
  });
  // Ctrl-C reaches the whole foreground process group, the app included: let the app
  // decide what it means. Signals sent to lavamoat alone are passed on.
  const forward = (signal: NodeJS.Signals) => () => {
    child.kill(signal);
  };
  const onInt = (): void => {};
  const onTerm = forward('SIGTERM');
  const onHup = forward('SIGHUP');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onHup);
      if (signal) {
        // End the same way, so that shells and supervisors see what happened.
        process.kill(process.pid, signal);
        // If the signal is ignored or handled, fall back to the shell convention.
        resolve(128 + (osSignalNumber(signal) ?? 1));
        return;
      }
      resolve(code ?? 1);
    });
  });
}

function osSignalNumber(signal: NodeJS.Signals): number | undefined {
  return os.constants.signals[signal];
}

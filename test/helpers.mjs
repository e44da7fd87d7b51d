// Shared helpers for tests that run fixture apps under the loader.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const projectDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const loaderURL = pathToFileURL(path.join(projectDir, 'loader.mjs')).href;
export const fixturesDir = path.join(projectDir, 'test', 'fixtures');
export const fixture = (...parts) => path.join(fixturesDir, ...parts);

/**
 * Runs `entry` (relative to `cwd`) with `node --import <loader>`, in a child process
 * of the Node version running the tests. Returns { status, stdout, stderr }.
 */
export function runWithLoader(cwd, entry, { env = {}, args = [], nodeArgs = [], timeout = 60_000 } = {}) {
  const result = spawnSync(process.execPath, [...nodeArgs, '--import', loaderURL, entry, ...args], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `entry` with plain node, for comparing outputs. */
export function runPlain(cwd, entry, { env = {}, args = [], timeout = 60_000 } = {}) {
  const result = spawnSync(process.execPath, [entry, ...args], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

// Shared helpers for tests that run fixture apps under the loader.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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

/**
 * Runs `node ...args` in `cwd` without blocking (no loader unless `args` has it): resolves to
 * { status, signal, stdout, stderr }; a run that outlives `timeout` is killed.
 */
export function runNodeAsync(cwd, args, options = {}) {
  return runCommandAsync(cwd, process.execPath, args, options);
}

/** As {@link runNodeAsync}, for any command (a wrapper such as `unshare` that runs node). */
export function runCommandAsync(cwd, command, args, { env = {}, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, NODE_OPTIONS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/**
 * Like {@link runWithLoader}, without blocking: resolves to { status, signal, stdout, stderr }.
 * Lets a test file run several fixture entries at once.
 */
export function runWithLoaderAsync(cwd, entry, { env = {}, args = [], nodeArgs = [], timeout = 60_000 } = {}) {
  return runNodeAsync(cwd, [...nodeArgs, '--import', loaderURL, entry, ...args], { env, timeout });
}

/**
 * Why user `uid` cannot run this Node and read `file` (false if it can): where either
 * lives in a directory only root may enter, a test that drops to `nobody` is skipped
 * with the reason. CI makes its Node directories readable, so there these tests run.
 */
export function cannotRunAs(uid, file) {
  const probe = spawnSync(process.execPath, ['-e', 'require("fs").accessSync(process.argv[1])', file], { encoding: 'utf8', uid, gid: uid });
  return probe.status === 0 ? false : `user ${uid} cannot run ${process.execPath} or read ${file} (${probe.error?.code ?? probe.stderr.trim().split('\n')[0]})`;
}

export const cliPath = path.join(projectDir, 'bin', 'lavamoat.mjs');

/** Runs the `lavamoat` command in `cwd` with the Node running the tests. */
export function runCli(cwd, args, { env = {}, timeout = 120_000 } = {}) {
  const result = spawnSync(process.execPath, [cliPath, ...args], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/**
 * A private copy of a fixture app in the system's temporary directory (the repository
 * stays clean); its directory is pushed on `temps` for the caller to remove.
 */
export function copyFixtureToTemp(name, temps) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lavamoat-${name}-`));
  temps.push(dir);
  fs.cpSync(fixture(name), dir, { recursive: true, verbatimSymlinks: true });
  return fs.realpathSync(dir);
}

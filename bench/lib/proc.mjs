// Child processes for the benchmarks: timed, bounded, measured, and never left behind.
//
// Each child runs in its own process group (so a timeout kills it and anything it
// started), is registered until it exits, and is killed if the harness exits or is
// interrupted. Peak RSS and CPU time come from GNU time (`/usr/bin/time -f ...`), which
// reads the child's rusage without touching the process; without it, from a small
// `--import` reporter (usage-reporter.mjs) that writes process.resourceUsage() at exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const libDir = path.dirname(fileURLToPath(import.meta.url));
const REPORTER = path.join(libDir, 'usage-reporter.mjs');
const GNU_TIME = '/usr/bin/time';

/** How peak RSS and CPU time are read: 'gnu-time' or 'reporter' (BENCH_RSS=reporter forces it). */
export const usageMethod = (() => {
  if (process.env.BENCH_RSS === 'reporter') return 'reporter';
  try {
    fs.accessSync(GNU_TIME, fs.constants.X_OK);
    return 'gnu-time';
  } catch {
    return 'reporter';
  }
})();

const live = new Set();

function killGroup(child, signal = 'SIGKILL') {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

export function killAll() {
  for (const child of live) killGroup(child);
  live.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.stderr.write(`\nbench: interrupted (${signal}); child processes killed\n`);
    process.exit(130);
  });
}

let sequence = 0;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-bench-usage-'));
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));

export class RunError extends Error {
  constructor(message, result) {
    super(message);
    this.result = result;
  }
}

/**
 * Starts `<node> [nodeArgs] args` in `cwd` (`node`: the binary, default this process's) and returns a handle:
 *   { child, ready: Promise<{ line, ms }>, done: Promise<result>, stdin }
 * `result` = { code, signal, stdout, stderr, wallMs, readyMs, readyLine, usage: { maxRssKb, userMs, sysMs } }.
 * `ready` resolves at the first stdout line matching `readyPattern` (default /^ready\b/).
 * `done` rejects with a RunError (stdout/stderr attached) on a non-zero exit, a signal or
 * a timeout, so a failed run is never counted.
 */
export function start({ label, cwd, node = process.execPath, nodeArgs = [], args, env, timeoutMs, readyPattern = /^ready\b/, keepStdinOpen = false }) {
  const id = ++sequence;
  const usageFile = path.join(scratch, `usage-${id}.txt`);
  const childEnv = { ...env };
  let command;
  let commandArgs;
  if (usageMethod === 'gnu-time') {
    command = GNU_TIME;
    commandArgs = ['-f', '%M %e %U %S', '-o', usageFile, node, ...nodeArgs, ...args];
  } else {
    command = node;
    // First, so that it sees the real process object before any loader runs.
    commandArgs = ['--import', REPORTER, ...nodeArgs, ...args];
    childEnv.BENCH_USAGE_FILE = usageFile;
  }
  const startedAt = process.hrtime.bigint();
  const child = spawn(command, commandArgs, {
    cwd,
    env: childEnv,
    detached: true, // own process group: a timeout kills the whole tree
    stdio: [keepStdinOpen ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const elapsed = () => Number(process.hrtime.bigint() - startedAt) / 1e6;

  let stdout = '';
  let stderr = '';
  let pending = '';
  let readyMs;
  let readyLine;
  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {}); // observed through `done` as well
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
    if (readyMs !== undefined) return;
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (readyMs === undefined && readyPattern.test(line)) {
        readyMs = elapsed();
        readyLine = line;
        resolveReady({ line, ms: readyMs });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);

  const done = new Promise((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new RunError(`${label}: could not start ${command}: ${error.message}`, { stdout, stderr }));
    });
    child.on('close', (code, signal) => {
      const wallMs = elapsed();
      clearTimeout(timer);
      live.delete(child);
      // Anything it started and left behind goes with it.
      killGroup(child);
      const usage = readUsage(usageFile);
      const result = { code, signal, stdout, stderr, wallMs, readyMs, readyLine, usage };
      const failure = timedOut
        ? `timed out after ${timeoutMs} ms`
        : code !== 0 || signal
          ? `exited with ${signal ? `signal ${signal}` : `code ${code}`}`
          : usage === undefined
            ? 'left no resource usage report'
            : undefined;
      if (failure) {
        const message = `${label}: ${failure}\n  cwd: ${cwd}\n  command: node ${[...nodeArgs, ...args].join(' ')}\n${tail('stdout', stdout)}${tail('stderr', stderr)}`;
        rejectReady(new RunError(message, result));
        reject(new RunError(message, result));
      } else {
        if (readyMs === undefined) rejectReady(new RunError(`${label}: exited without printing a ready line`, result));
        resolve(result);
      }
    });
  });
  done.catch(() => {});
  return { child, ready, done, stdin: child.stdin };
}

/** Runs to completion; resolves with the result (see start). */
export function run(options) {
  return start(options).done;
}

function tail(name, text) {
  const lines = text.trimEnd().split('\n').slice(-25);
  return text.trim() ? `  --- ${name} (last ${lines.length} lines) ---\n${lines.map((l) => `  | ${l}`).join('\n')}\n` : '';
}

function readUsage(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  } finally {
    fs.rmSync(file, { force: true });
  }
  if (usageMethod === 'gnu-time') {
    // GNU time may put "Command exited with non-zero status N" first: the numbers are last.
    const last = text.trim().split('\n').pop() ?? '';
    const [rss, , user, sys] = last.trim().split(/\s+/).map(Number);
    if (!Number.isFinite(rss)) return undefined;
    return { maxRssKb: rss, userMs: user * 1000, sysMs: sys * 1000 };
  }
  try {
    const usage = JSON.parse(text);
    return { maxRssKb: usage.maxRSS, userMs: usage.userCPUTime / 1000, sysMs: usage.systemCPUTime / 1000 };
  } catch {
    return undefined;
  }
}

/**
 * Workers and child processes: a confined process must not start an unconfined one.
 *
 * Worker threads (`node:worker_threads`), for the app and for every package (a package
 * needs `worker_threads` granted to reach `Worker` at all):
 * - every `new Worker(file)` runs this loader first, with this process's configuration:
 *   the Worker class is replaced by one that puts `--import <this loader>` in the
 *   worker's `execArgv` (unless the inherited `execArgv` already has it) and hands the
 *   resolved configuration to the worker (through `setEnvironmentData`, which the
 *   caller cannot change; not through the worker's `env`, which it can). The worker's
 *   entry module is then treated as the main entry is: a file of the app package runs
 *   natively (trusted), a file of a dependency runs in that package's compartment
 *   under its policy;
 * - refused, with an error: `eval: true` workers (Node runs no `--import` module in
 *   them, so nothing could confine them), entry URLs that are not `file:` (a `data:`
 *   module has no package, and the worker would refuse to start anyway), and an
 *   `execArgv` that adds a preload or loader (`--import`, `--require`, `--loader`),
 *   an inspector (`--inspect*`) or V8 internals (`--expose-internals`,
 *   `--allow-natives-syntax`) not already in this process's own `execArgv`.
 *
 * Child processes (`child_process`: spawn, exec, execFile, fork and their sync forms):
 * - the preload puts `--import <this loader>` (an absolute file URL, so it resolves from
 *   any working directory) into `process.env.NODE_OPTIONS`, with the resolved
 *   configuration pinned in `LAVAMOAT_*` variables and a marker
 *   (`LAVAMOAT_CONFINED_PARENT=<pid>`). Every `node` started with this environment, the
 *   default for every child_process function (and for `{ ...process.env, ... }`), runs
 *   under the same policy, whatever binary path or shell started it: `fork()`,
 *   `spawn(process.execPath, [file])`, `exec('node file.js')`, `npx`, scripts;
 * - such a child refuses to start when it has no entry file to confine (`node -e`,
 *   `-p`, standard input, a REPL): that code belongs to no package, and running it as
 *   the trusted app would hand a package that can spawn processes an unconfined one;
 * - not propagated: when the caller passes an `env` without `NODE_OPTIONS` (or with
 *   its own), or `fork()` with an `execArgv`/env that drops it: a package granted
 *   `child_process` can run any program (`sh`, `curl`) anyway, so that grant is as
 *   strong as the process's own authority and is not a confinement boundary. The
 *   propagation protects against `node` children started in the ordinary way.
 * - a package that can write `process.env` (a `"process.env": "write"` grant, or the
 *   live `process.env` object given by a `"process.env"` grant) can change what
 *   children inherit: treat such grants as affecting children.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import { configToEnv } from '../config/index.js';

const require = createRequire(import.meta.url);

/** Key under which a worker receives its parent's configuration (worker_threads environment data). */
export const WORKER_CONFIG_KEY = 'lavamoat:config';

/** Set in the environment of every process this runtime propagates itself to. */
export const PARENT_MARKER = 'LAVAMOAT_CONFINED_PARENT';

export class WorkerConfinementError extends Error {
  readonly code = 'LAVAMOAT_WORKER_REFUSED';
}

export class UnconfinableEntryError extends Error {
  readonly code = 'LAVAMOAT_UNCONFINABLE_ENTRY';
}

type WorkerThreads = typeof import('node:worker_threads');

const workerThreads = (): WorkerThreads => require('node:worker_threads') as WorkerThreads;

// ---------------------------------------------------------------------------------
// In a worker or a child: where the configuration comes from, and what may not start

/**
 * The configuration variables a worker's parent handed over, or undefined on the main
 * thread (and in workers not started by this runtime).
 */
export function inheritedWorkerEnv(): Record<string, string> | undefined {
  const threads = workerThreads();
  if (threads.isMainThread) return undefined;
  const data = threads.getEnvironmentData(WORKER_CONFIG_KEY) as unknown;
  if (data === null || typeof data !== 'object') return undefined;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (typeof value === 'string') env[key] = value;
  }
  return env;
}

/**
 * Stops a process that has no entry file to confine when it was started by a confined
 * process (a propagated child running `-e`, `-p`, stdin or a REPL), and a worker whose
 * entry is not a file.
 */
export function assertConfinableEntry(
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv,
  evalSource: unknown = (process as unknown as { _eval?: unknown })._eval,
): void {
  const entry = argv[1];
  const noEntry = entry === undefined || entry === '-' || typeof evalSource === 'string';
  if (!noEntry) return;
  if (!workerThreads().isMainThread) {
    throw new UnconfinableEntryError(
      'LavaMoat: this worker has no entry file (a data: URL or eval code), so its code belongs to no package ' +
        'and cannot run under the policy: start the Worker from a file of the app or of a package',
    );
  }
  const parent = env[PARENT_MARKER];
  if (parent !== undefined && parent !== '') {
    throw new UnconfinableEntryError(
      `LavaMoat: this node process was started by a confined process (pid ${parent}) with code from ` +
        '--eval, --print, standard input or a REPL. That code belongs to no package, so it cannot run under the ' +
        "policy, and it is not run. Put the code in a file of the package that starts it; or, from the app's own " +
        'code, start the child with an environment without NODE_OPTIONS to run it unconfined on purpose.',
    );
  }
}

/**
 * In a worker, or in a child started by a confined process: the entry file must belong
 * to a package of the project (the app or a dependency in its package map), since that
 * is what decides how it is confined. A script written somewhere else (by a package
 * that can write files) would otherwise run as trusted app code.
 */
export function assertEntryInProject(
  packageForPath: (file: string) => unknown,
  projectRoot: string,
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv,
): void {
  const entry = argv[1];
  if (entry === undefined || entry === '-') return; // assertConfinableEntry's business
  const propagated = env[PARENT_MARKER] !== undefined && env[PARENT_MARKER] !== '';
  if (workerThreads().isMainThread && !propagated) return;
  let file = path.resolve(entry);
  try {
    file = fs.realpathSync(file);
  } catch {
    return; // Node reports the missing file
  }
  if (packageForPath(file) !== undefined) return;
  throw new UnconfinableEntryError(
    `LavaMoat: this ${workerThreads().isMainThread ? 'node process, started by a confined process,' : 'worker'} would run ` +
      `${file}, which belongs to no package of the project at ${projectRoot}: nothing says how to confine it, so it ` +
      'is not run. Start workers and child processes from files of the app or of its packages.',
  );
}

// ---------------------------------------------------------------------------------
// NODE_OPTIONS

/** Splits NODE_OPTIONS as Node does: on whitespace, with double quotes and backslash escapes. */
export function splitNodeOptions(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < text.length) current += text[++i];
      else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') {
      quoted = true;
      inToken = true;
    } else if (/\s/.test(c)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(current);
  return tokens;
}

const quoteOption = (token: string): string => (/[\s"\\]/.test(token) ? `"${token.replace(/["\\]/g, '\\$&')}"` : token);

/** Whether `specifier` (an `--import` value) names this loader. */
function isThisLoader(specifier: string, loaderURL: string): boolean {
  if (specifier === loaderURL || specifier === 'lavamoat/loader') return true;
  try {
    return path.resolve(specifier) === fileURLToPath(loaderURL);
  } catch {
    return false;
  }
}

/**
 * NODE_OPTIONS with this loader imported by absolute URL: an existing
 * `--import lavamoat/loader` is replaced in place (so imports placed before it, such as
 * a scuttler's module, still run first), otherwise it is added at the end.
 */
export function withLoaderInNodeOptions(nodeOptions: string | undefined, loaderURL: string): string {
  const tokens = splitNodeOptions(nodeOptions ?? '');
  const out: string[] = [];
  let found = false;
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    let value: string | undefined;
    let width = 1;
    if (token === '--import' && i + 1 < tokens.length) {
      value = tokens[i + 1];
      width = 2;
    } else if (token.startsWith('--import=')) {
      value = token.slice('--import='.length);
    }
    if (value !== undefined && isThisLoader(value, loaderURL)) {
      if (!found) out.push(`--import=${loaderURL}`);
      found = true;
      i += width - 1;
      continue;
    }
    out.push(token);
  }
  if (!found) out.push(`--import=${loaderURL}`);
  return out.map(quoteOption).join(' ');
}

/**
 * Makes every `node` child that inherits this process's environment run under the
 * same loader and configuration (see the module comment for exactly when).
 */
export function propagateToChildren(config: Config, loaderURL: string, env: NodeJS.ProcessEnv = process.env): void {
  Object.assign(env, configToEnv(config));
  env.NODE_OPTIONS = withLoaderInNodeOptions(env.NODE_OPTIONS, loaderURL);
  env[PARENT_MARKER] = String(process.pid);
}

// ---------------------------------------------------------------------------------
// Worker

const PRELOAD_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const REFUSED_FLAG = /^(--inspect(-brk|-port|-publish-uid|-wait)?|--debug(-brk|-port)?|--expose[-_]internals|--allow[-_]natives[-_]syntax)(=|$)/;

interface Flag {
  name: string;
  value?: string;
}

function flagsOf(execArgv: readonly string[]): Flag[] {
  const flags: Flag[] = [];
  for (let i = 0; i < execArgv.length; i += 1) {
    const arg = String(execArgv[i]);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (PRELOAD_FLAGS.has(name)) {
      flags.push({ name, value: eq === -1 ? execArgv[++i] : arg.slice(eq + 1) });
    } else {
      flags.push({ name: arg });
    }
  }
  return flags;
}

/** Throws if a caller-supplied worker `execArgv` adds a preload, a loader or an inspector. */
export function checkWorkerExecArgv(execArgv: readonly string[], inherited: readonly string[] = process.execArgv): void {
  const trusted = new Set(flagsOf(inherited).map((flag) => `${flag.name}=${flag.value ?? ''}`));
  for (const flag of flagsOf(execArgv)) {
    if (PRELOAD_FLAGS.has(flag.name) && !trusted.has(`${flag.name}=${flag.value ?? ''}`)) {
      throw new WorkerConfinementError(
        `LavaMoat: a Worker's execArgv may not add ${flag.name} ${flag.value ?? ''}: code loaded that way would run ` +
          'before the loader, unconfined. Import the module from the worker instead.',
      );
    }
    if (REFUSED_FLAG.test(flag.name)) {
      throw new WorkerConfinementError(`LavaMoat: a Worker's execArgv may not contain ${flag.name}: it gives unconfined access to the worker.`);
    }
  }
}

function hasLoader(execArgv: readonly string[], loaderURL: string): boolean {
  return flagsOf(execArgv).some((flag) => flag.name === '--import' && flag.value !== undefined && isThisLoader(flag.value, loaderURL));
}

function checkWorkerEntry(filename: unknown): void {
  let href: string | undefined;
  if (filename instanceof URL) href = filename.href;
  else if (typeof filename === 'object' && filename !== null && typeof (filename as { href?: unknown }).href === 'string') {
    href = (filename as { href: string }).href;
  } else if (typeof filename === 'string' && /^[a-z][a-z0-9+.-]+:/i.test(filename)) href = filename;
  if (href !== undefined && !href.startsWith('file:')) {
    throw new WorkerConfinementError(
      `LavaMoat: new Worker(${JSON.stringify(href.length > 60 ? `${href.slice(0, 57)}...` : href)}) cannot be confined: ` +
        'code from a non-file URL belongs to no package. Start the Worker from a file of the app or of a package.',
    );
  }
}

interface WorkerOptionsLike {
  eval?: boolean;
  execArgv?: string[];
  [key: string]: unknown;
}

/** The options a confined Worker is started with (exported for tests). */
export function confinedWorkerOptions(
  filename: unknown,
  options: WorkerOptionsLike | undefined,
  loaderURL: string,
  inheritedExecArgv: readonly string[] = process.execArgv,
): WorkerOptionsLike {
  if (options?.eval) {
    throw new WorkerConfinementError(
      'LavaMoat: new Worker(code, { eval: true }) cannot be confined: Node runs no --import module in eval workers, ' +
        'so the code would run with no policy. Put the worker code in a file of the app or of a package and start ' +
        'the Worker from that file.',
    );
  }
  checkWorkerEntry(filename);
  if (options?.execArgv !== undefined) {
    if (!Array.isArray(options.execArgv)) return { ...options }; // Node reports the type error.
    checkWorkerExecArgv(options.execArgv, inheritedExecArgv);
  }
  let execArgv: string[];
  if (options?.execArgv === undefined) {
    execArgv = [...inheritedExecArgv];
    if (!hasLoader(execArgv, loaderURL)) execArgv.unshift('--import', loaderURL);
  } else if (hasLoader(options.execArgv, loaderURL)) {
    execArgv = [...options.execArgv];
  } else {
    // The process's own preloads (a scuttler's module, say) first, in their order, then
    // this loader if it came through NODE_OPTIONS, then the caller's options.
    const preloads = flagsOf(inheritedExecArgv).filter((flag) => PRELOAD_FLAGS.has(flag.name));
    execArgv = preloads.flatMap((flag) => (flag.value === undefined ? [flag.name] : [flag.name, flag.value]));
    if (!hasLoader(execArgv, loaderURL)) execArgv.push('--import', loaderURL);
    execArgv.push(...options.execArgv);
  }
  return { ...options, execArgv };
}

let workersConfined = false;

/**
 * Replaces `worker_threads.Worker` (for the app, and for every package, which gets
 * its builtin modules from the same module object) with a class that starts confined
 * workers.
 */
export function confineWorkers(config: Config, loaderURL: string): void {
  if (workersConfined) return;
  workersConfined = true;
  const threads = workerThreads();
  const HostWorker = threads.Worker;
  const inheritedExecArgv = [...process.execArgv];
  const handedOver = Object.freeze(configToEnv(config));
  const { setEnvironmentData } = threads;
  class Worker extends HostWorker {
    constructor(filename: string | URL, options?: WorkerOptionsLike) {
      const confined = confinedWorkerOptions(filename, options, loaderURL, inheritedExecArgv);
      // Set right before the worker copies it: a package cannot replace it in between.
      setEnvironmentData(WORKER_CONFIG_KEY, handedOver as unknown as Record<string, string>);
      super(filename, confined as never);
    }
  }
  Object.defineProperty(Worker, 'name', { value: 'Worker' });
  (threads as unknown as Record<string, unknown>).Worker = Worker;
  syncBuiltinESMExports();
}

/**
 * The `worker_threads` module as one confined package should see it: its `Worker`
 * starts workers only on files that the package could load itself (`mayRun`, e.g. its
 * own files and those of the packages its policy lists), so that a package granted
 * `worker_threads` cannot run another package's script with that package's authority,
 * nor an app file with the app's. For the runtime to apply when it builds a package's
 * builtin modules (this module cannot tell which package calls a shared `Worker`).
 */
export function workerThreadsForPackage(
  view: Readonly<Record<string, unknown>>,
  packageName: string,
  mayRun: (file: string) => boolean,
): Readonly<Record<string, unknown>> {
  const SharedWorker = view.Worker;
  if (typeof SharedWorker !== 'function') return view;
  const Base = SharedWorker as new (filename: string | URL, options?: unknown) => object;
  class Worker extends Base {
    constructor(filename: string | URL, options?: unknown) {
      let file: string | undefined;
      // eval code is not a file: the process-wide Worker refuses it.
      const isEval = typeof options === 'object' && options !== null && (options as WorkerOptionsLike).eval === true;
      if (isEval) file = undefined;
      else if (filename instanceof URL) file = filename.protocol === 'file:' ? fileURLToPath(filename) : undefined;
      else if (typeof filename === 'string') file = path.resolve(filename);
      if (file !== undefined) {
        let real = file;
        try {
          real = fs.realpathSync(file);
        } catch {
          // Node reports the missing file.
        }
        if (!mayRun(real)) {
          throw new WorkerConfinementError(
            `LavaMoat: package "${packageName}" may not start a Worker on ${real}: its policy does not let it load ` +
              'that file (only its own files and those of the packages listed in its "packages" policy).',
          );
        }
      }
      super(filename, options);
    }
  }
  Object.defineProperty(Worker, 'name', { value: 'Worker' });
  return Object.freeze({ ...view, Worker });
}

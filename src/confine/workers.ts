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
 * Child processes: child-processes.ts; what a started worker or child checks first:
 * entry-checks.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import { configToEnv } from '../config/index.js';
import { isThisLoader } from './child-processes.js';
import { WORKER_CONFIG_KEY } from './entry-checks.js';

const require = createRequire(import.meta.url);

export class WorkerConfinementError extends Error {
  readonly code = 'LAVAMOAT_WORKER_REFUSED';
}


type WorkerThreads = typeof import('node:worker_threads');

const workerThreads = (): WorkerThreads => require('node:worker_threads') as WorkerThreads;
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

/**
 * In a worker or a child process that this runtime started: where its configuration
 * comes from, and which entry points may not start at all (code that belongs to no
 * package: `-e`, `-p`, standard input, a REPL, a `data:` worker, a script outside the
 * project). See workers.ts and child-processes.ts for how they are started.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { createRequire } from 'node:module';
import { hasLoaded } from './load-trap.js';

const require = createRequire(import.meta.url);

/** Key under which a worker receives its parent's configuration (worker_threads environment data). */
export const WORKER_CONFIG_KEY = 'lavamoat:config';

/** Set in the environment of every process this runtime propagates itself to. */
export const PARENT_MARKER = 'LAVAMOAT_CONFINED_PARENT';

export class UnconfinableEntryError extends Error {
  readonly code = 'LAVAMOAT_UNCONFINABLE_ENTRY';
}

type WorkerThreads = typeof import('node:worker_threads');

const workerThreads = (): WorkerThreads => require('node:worker_threads') as WorkerThreads;

/**
 * Whether this is the main thread, without loading worker_threads there (it loads
 * internal/worker and the streams): in a worker, Node has loaded it before any code of
 * the worker's runs, preloads included (test/integration/workers.test.mjs checks it).
 */
export const isMainThread = (): boolean => !hasLoaded('worker_threads') || workerThreads().isMainThread;

/**
 * The configuration variables a worker's parent handed over, or undefined on the main
 * thread (and in workers not started by this runtime).
 */
export function inheritedWorkerEnv(): Record<string, string> | undefined {
  if (isMainThread()) return undefined;
  const data = workerThreads().getEnvironmentData(WORKER_CONFIG_KEY) as unknown;
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
  if (!isMainThread()) {
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
 * Whether V8 parses its natives syntax (`%Name(...)`) in code compiled from now on: on
 * with `--allow-natives-syntax` on the command line, or set by `v8.setFlagsFromString` in
 * a preload before this one. Asked of the parser itself, however the flag was set.
 */
export function nativesSyntaxOn(compile: (body: string) => unknown = (body) => new Function(body)): boolean {
  try {
    compile('return %GetOptimizationStatus(function () {})');
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a process whose engine lets any code call V8's internal functions: every
 * compartment's `Function` and `eval` compile with the same parser, and
 * `%DynamicImportCall` is Node's own `import()` of any builtin, past the policy (case
 * 260 showed it for a flag a package set; the same holds for the app's own command line).
 */
export function assertEngineConfinable(on: boolean = nativesSyntaxOn()): void {
  if (!on) return;
  throw new UnconfinableEntryError(
    "LavaMoat: V8's natives syntax is on (--allow-natives-syntax, or v8.setFlagsFromString before the loader): every " +
      "package could call V8's internal functions, which import any builtin past the policy. Nothing is run; start the " +
      'app without that flag.',
  );
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
  if (isMainThread() && !propagated) return;
  let file = path.resolve(entry);
  try {
    file = fs.realpathSync(file);
  } catch {
    return; // Node reports the missing file
  }
  if (packageForPath(file) !== undefined) return;
  throw new UnconfinableEntryError(
    `LavaMoat: this ${isMainThread() ? 'node process, started by a confined process,' : 'worker'} would run ` +
      `${file}, which belongs to no package of the project at ${projectRoot}: nothing says how to confine it, so it ` +
      'is not run. Start workers and child processes from files of the app or of its packages.',
  );
}

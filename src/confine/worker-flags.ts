/**
 * What a worker may be started with, flag by flag: the `execArgv` and the `env` (its
 * `NODE_OPTIONS`, and the variables Node acts on before the loader) a caller gives a
 * `Worker` are read as Node's option parser reads them, and refused where they would run
 * code before the loader, open an inspector, or make the worker write files no grant
 * covers, unless this process has the same flag itself (workers.ts has the rest of the
 * rule).
 */
import process from 'node:process';
import { isThisLoader, splitNodeOptions } from './child-processes.js';

export class WorkerConfinementError extends Error {
  readonly code = 'LAVAMOAT_WORKER_REFUSED';
}

const PRELOAD_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
/**
 * Options that name a file or directory the worker's thread writes (or, for the env
 * files, reads into the worker): Node takes them in a worker's `execArgv` and its env's
 * NODE_OPTIONS. `--redirect-warnings` appends every warning of the thread, whose text a
 * package chooses (an event's name in the listener-limit warning), to any file; the
 * profile and diagnostic directories are made, with their files, wherever they point
 * (`--cpu-prof-name` with `../` out of its directory); `--localstorage-file` makes or
 * opens a SQLite database (attack case 203). Like a preload, one passes only as this
 * process's own execArgv has it, value included.
 */
const OUTPUT_FLAGS = new Set([
  '--redirect-warnings', '--cpu-prof-dir', '--cpu-prof-name', '--heap-prof-dir', '--heap-prof-name', '--diagnostic-dir',
  '--localstorage-file', '--tls-keylog', '--report-dir', '--report-directory', '--report-filename',
  '--trace-event-file-pattern', '--test-reporter-destination', '--experimental-config-file', '--env-file',
  '--env-file-if-exists',
]);
/** Options whose value may be the next argument (`--import x`), as Node's parser reads them. */
const VALUE_FLAGS = new Set([...PRELOAD_FLAGS, ...OUTPUT_FLAGS]);
const REFUSED_FLAG = /^(--inspect(-brk|-brk-node|-port|-publish-uid|-wait)?|--debug(-brk|-port)?|--expose-internals|--allow-natives-syntax)(=|$)/;

interface Flag {
  name: string;
  value?: string;
}

/**
 * An argument as Node's option parser reads it: in a `--` option's name (before any
 * `=`), `_` stands for `-` (`--experimental_loader` is `--experimental-loader`, whose
 * module runs natively on the worker's hooks thread), so the checks below see the
 * name Node acts on.
 */
export function normalizeFlag(arg: string): string {
  if (!arg.startsWith('--')) return arg;
  const eq = arg.indexOf('=');
  const name = eq === -1 ? arg : arg.slice(0, eq);
  return name.replaceAll('_', '-') + (eq === -1 ? '' : arg.slice(eq));
}

function flagsOf(execArgv: readonly string[]): Flag[] {
  const flags: Flag[] = [];
  for (let i = 0; i < execArgv.length; i += 1) {
    const arg = normalizeFlag(String(execArgv[i]));
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (VALUE_FLAGS.has(name)) {
      flags.push({ name, value: eq === -1 ? execArgv[++i] : arg.slice(eq + 1) });
    } else {
      flags.push({ name: arg });
    }
  }
  return flags;
}

/** Throws if a caller-supplied worker `execArgv` adds a preload, a loader or an inspector. */
export function checkWorkerExecArgv(execArgv: readonly string[], inherited: readonly string[] = process.execArgv): void {
  checkFlags(flagsOf(execArgv), flagsOf(inherited), "a Worker's execArgv", new Set());
}

/**
 * Throws if the `env` given to a worker has a `NODE_OPTIONS` that adds a preload, a
 * loader or an inspector this process does not have itself (in its execArgv or its own
 * NODE_OPTIONS): Node reads a worker's NODE_OPTIONS from that `env` and runs its
 * preloads in the worker before the loader, unconfined (and the loader trusts a preload
 * written after it: loader/preloads.ts). A copy of `process.env` passes.
 */
export function checkWorkerEnv(
  env: unknown,
  inherited: readonly string[] = process.execArgv,
  ownNodeOptions: string | undefined = process.env.NODE_OPTIONS,
  ownEnv: Readonly<Record<string, string | undefined>> = process.env,
): void {
  if (typeof env !== 'object' || env === null) return;
  for (const name of PINNED_WORKER_ENV) {
    if (!Object.prototype.hasOwnProperty.call(env, name)) continue;
    const given = String((env as Record<string, unknown>)[name]);
    if (given !== ownEnv[name]) {
      throw new WorkerConfinementError(
        `LavaMoat: a Worker's env may not set ${name} (this process's own value only): Node reads it when the worker ` +
          'starts, before the loader, and would run the code a cache there holds in place of the loader\'s own.',
      );
    }
  }
  const value = (env as Record<string, unknown>).NODE_OPTIONS;
  if (value === undefined || value === null) return;
  const own = flagsOf(splitNodeOptions(ownNodeOptions ?? ''));
  checkFlags(
    flagsOf(splitNodeOptions(String(value))),
    [...flagsOf(inherited), ...own],
    "a Worker's env.NODE_OPTIONS",
    new Set(own.map((flag) => flag.name)),
  );
}

/**
 * Variables of a worker's `env` that Node acts on when the worker starts, before the
 * loader, other than NODE_OPTIONS (checked flag by flag): `NODE_COMPILE_CACHE` (Node 22+)
 * turns on V8's compile cache in the worker's thread, in the directory it names, for every
 * module Node compiles there, the loader first. V8 checks a cached entry against the
 * source's length and Node against the hash the entry itself records, so an entry a
 * package wrote (or shipped) for the loader's file ran its code in place of the loader's,
 * natively, and the worker's entry unconfined after it (attack case 202). Only this
 * process's own value passes (the user's choice, which a copy of `process.env` carries).
 */
const PINNED_WORKER_ENV = ['NODE_COMPILE_CACHE'] as const;

function checkFlags(flags: readonly Flag[], inherited: readonly Flag[], where: string, ownFlags: ReadonlySet<string>): void {
  const trusted = new Set(inherited.map((flag) => `${flag.name}=${flag.value ?? ''}`));
  for (const flag of flags) {
    if (OUTPUT_FLAGS.has(flag.name) && !trusted.has(`${flag.name}=${flag.value ?? ''}`)) {
      throw new WorkerConfinementError(
        `LavaMoat: ${where} may not add ${flag.name} ${flag.value ?? ''}: the worker would write (or read) the file or ` +
          'directory it names, which no policy grant covers. Only this process\'s own value passes.',
      );
    }
    if (PRELOAD_FLAGS.has(flag.name) && !trusted.has(`${flag.name}=${flag.value ?? ''}`)) {
      throw new WorkerConfinementError(
        `LavaMoat: ${where} may not add ${flag.name} ${flag.value ?? ''}: code loaded that way would run ` +
          'before the loader, unconfined. Import the module from the worker instead.',
      );
    }
    if (REFUSED_FLAG.test(flag.name) && !ownFlags.has(flag.name)) {
      throw new WorkerConfinementError(`LavaMoat: ${where} may not contain ${flag.name}: it gives unconfined access to the worker.`);
    }
  }
}

export function hasLoader(execArgv: readonly string[], loaderURL: string): boolean {
  return flagsOf(execArgv).some((flag) => flag.name === '--import' && flag.value !== undefined && isThisLoader(flag.value, loaderURL));
}

/** The preloads of `execArgv` (`--import x`, `--require y`, ...), in their order, as arguments. */
export function preloadArgs(execArgv: readonly string[]): string[] {
  return flagsOf(execArgv)
    .filter((flag) => PRELOAD_FLAGS.has(flag.name))
    .flatMap((flag) => (flag.value === undefined ? [flag.name] : [flag.name, flag.value]));
}

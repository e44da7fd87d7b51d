/**
 * Worker threads (`node:worker_threads`): a confined process must not start an unconfined
 * thread, by any path.
 *
 * One factory makes every `Worker` anyone can reach: the app's (which replaces
 * `worker_threads.Worker` on the real module) and each package's own (in its copy of the
 * module, which also only starts files the package could load itself). None of them
 * has Node's class in its prototype chain (they are functions whose `prototype` is
 * Node's, constructing through `Reflect.construct`), and Node's prototype names a
 * function that throws as its `constructor`, so a worker instance (the `'worker'` event
 * of `process` hands the app's out) leads to no raw class either. The native handle
 * class behind each worker is neutralised at the first worker (native-handles.ts).
 *
 * What Node will read is read once: the filename (a URL-like object is turned into a
 * real `URL` after Node's own `isURL` test on a snapshot of its fields) and every option
 * Node reads (so a getter cannot answer the check one thing and Node another); the
 * snapshot is what Node receives. Then:
 * - the loader runs first in the worker, with this process's configuration: `--import
 *   <this loader>` goes into the worker's `execArgv` (unless the inherited `execArgv` has
 *   it), and the configuration is handed over with `setEnvironmentData` right before
 *   the worker is created (not through its `env`, which the caller controls). The
 *   worker's entry module is then confined as the main entry is: an app file runs
 *   natively, a dependency's file in that package's compartment;
 * - refused: `eval: true` (Node runs no `--import` module in eval workers), entry URLs
 *   that are not `file:` (a `data:` module belongs to no package), and an `execArgv` that
 *   adds a preload or loader, an inspector or V8 internals not already in this process's
 *   own `execArgv`, nor an `env` whose `NODE_OPTIONS` does (Node reads the worker's
 *   NODE_OPTIONS from it);
 * - refused at `new Worker()` already: an entry file that belongs to no package of the
 *   project, which the loader in the worker would refuse when the worker starts. There
 *   the refusal would reach nobody if the caller waits for the worker synchronously
 *   (esbuild's `transformSync` blocks in `Atomics.wait` for its worker's answer): a
 *   worker's stderr is relayed by the thread that started it, so that thread would hang
 *   with no output. Here the caller gets the error (the worker still checks).
 *
 * Preloads: a tool preloaded with `--import`/`--require` (tsx, an APM agent) is trusted
 * like the app, by the user's choice to preload it, and it shares `worker_threads` with
 * the app. A worker it starts on a file of its own (esbuild's service worker, which tsx
 * starts on the main thread for every synchronous transform) is the tool's, not the
 * app's: loading the loader there would refuse the tool's file (it is in no package of
 * the project, or in a confined one) and leave the tool waiting forever. So the app's
 * `Worker` starts a worker as Node would, without this loader, when the code calling
 * `new Worker()` is a preload's (a frame V8 names as a file outside the app and this
 * runtime: no package's code has one, see {@link callerFileOf}) and so is its entry (or
 * it is an eval or non-file worker, which only that trusted code asked for). A worker on
 * an app file stays confined whoever starts it, and a package's own `Worker` never
 * takes this path.
 *
 * The flags and environment a worker may be given: worker-flags.ts. Child processes:
 * child-processes.ts; what a started worker or child checks first: entry-checks.ts.
 *
 * Why one file of about 560 lines: one factory makes every `Worker` anyone can reach,
 * and what it checks (the entry file, the options Node reads, the environment data, the
 * observing methods) must hold for that one class; messaging lives apart
 * (worker-messaging.ts), as do the flags a worker may start with (worker-flags.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import { configToEnv } from '../config/index.js';
import { isThisLoader, pinPreloads, splitNodeOptions, withoutLoaderInNodeOptions } from './child-processes.js';
import { WORKER_CONFIG_KEY } from './entry-checks.js';
import { handleOf, neutralizePrototype } from './native-handles.js';
import { hardenPrototypesWithin } from './host-hardening.js';
import { callerFileOf, callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { WorkerConfinementError, checkWorkerEnv, checkWorkerExecArgv, hasLoader, preloadArgs } from './worker-flags.js';
import { threadsOf } from './worker-messaging.js';
import { callerChecked } from './frameless-calls.js';

export { WorkerConfinementError, checkWorkerEnv, checkWorkerExecArgv } from './worker-flags.js';

let sampled = false;

const require = createRequire(import.meta.url);


type WorkerThreads = typeof import('node:worker_threads');

const workerThreads = (): WorkerThreads => require('node:worker_threads') as WorkerThreads;
const WORKER_OPTIONS = [
  'argv', 'env', 'eval', 'execArgv', 'stdin', 'stdout', 'stderr', 'workerData', 'trackUnmanagedFds',
  'transferList', 'resourceLimits', 'name',
] as const;

export interface WorkerOptionsLike {
  eval?: boolean;
  execArgv?: string[];
  [key: string]: unknown;
}

/** Node's own test for a URL (`internal/url` `isURL`), on fields read once. */
function urlOf(value: object): URL | undefined {
  if (value instanceof URL) return new URL(value.href);
  const fields = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown };
  const href = fields.href;
  if (!href || !fields.protocol || fields.auth !== undefined || fields.path !== undefined) return undefined;
  try {
    return new URL(String(href));
  } catch {
    throw new WorkerConfinementError(`LavaMoat: new Worker() was given a URL-like object whose href is not a URL: ${String(href)}`);
  }
}

/** A value as Node will stringify it (a symbol is left for Node to refuse). */
export function once(value: unknown): unknown {
  return typeof value === 'symbol' ? value : `${value as string}`;
}

function copyArray(value: unknown): unknown {
  return Array.isArray(value) ? [...(value as unknown[])] : value;
}

/**
 * The filename and options exactly as Node will use them, each read once; `file` is
 * the entry's absolute path, when it has one. An eval or non-file worker, which cannot
 * be confined, is refused; with `unconfinable` (for a preload's own worker) the refusal
 * is returned as `refused` instead, for the caller to throw if the worker is to be
 * confined after all.
 */
export function normalizeWorkerArguments(
  filename: unknown,
  options: unknown,
  unconfinable = false,
): { filename: unknown; options: WorkerOptionsLike | undefined; file: string | undefined; refused?: WorkerConfinementError } {
  let snapshot: WorkerOptionsLike | undefined;
  if (typeof options === 'object' && options !== null) {
    const read: Record<string, unknown> = {};
    for (const name of WORKER_OPTIONS) {
      const value = (options as Record<string, unknown>)[name];
      if (value !== undefined) read[name] = value;
    }
    for (const name of ['argv', 'execArgv', 'transferList'] as const) {
      if (name in read) read[name] = copyArray(read[name]);
    }
    // Node turns each `execArgv` entry and `env` value into a string itself, later: an
    // object whose `toString` answered the check one thing would tell Node another
    // (`--experimental-loader=data:...`). They are turned into strings once, here.
    if (Array.isArray(read.execArgv)) read.execArgv = (read.execArgv as unknown[]).map(once);
    snapshot = read as WorkerOptionsLike;
    const env = snapshot.env;
    if (typeof env === 'object' && env !== null) {
      snapshot.env = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, once(value)]));
    }
    const limits = snapshot.resourceLimits;
    if (typeof limits === 'object' && limits !== null) snapshot.resourceLimits = { ...limits };
  } else if (options !== undefined && options !== null) {
    snapshot = {};
  }
  if (snapshot?.eval) {
    const refused = new WorkerConfinementError(
      'LavaMoat: new Worker(code, { eval: true }) cannot be confined: Node runs no --import module in eval workers, ' +
        'so the code would run with no policy. Put the worker code in a file of the app or of a package and start ' +
        'the Worker from that file.',
    );
    if (unconfinable) return { filename, options: snapshot, file: undefined, refused };
    throw refused;
  }
  let name = filename;
  let file: string | undefined;
  if (typeof filename === 'object' && filename !== null) {
    const url = urlOf(filename);
    if (url) {
      name = url;
      if (url.protocol !== 'file:') {
        const refused = nonFileRefusal(url.href);
        if (unconfinable) return { filename: name, options: snapshot, file: undefined, refused };
        throw refused;
      }
      file = fileURLToPath(url);
    }
  } else if (typeof filename === 'string') {
    // Node takes only absolute and ./ paths as strings; it reports anything else.
    if (path.isAbsolute(filename) || /^\.\.?[\\/]/.test(filename)) file = path.resolve(filename);
  }
  return { filename: name, options: snapshot, file };
}

function nonFileRefusal(href: string): WorkerConfinementError {
  return new WorkerConfinementError(
    `LavaMoat: new Worker(${JSON.stringify(href.length > 60 ? `${href.slice(0, 57)}...` : href)}) cannot be confined: ` +
      'code from a non-file URL belongs to no package. Start the Worker from a file of the app or of a package.',
  );
}

/** The options a confined Worker is started with (exported for tests); `options` is a snapshot. */
export function confinedWorkerOptions(
  options: WorkerOptionsLike | undefined,
  loaderURL: string,
  inheritedExecArgv: readonly string[] = process.execArgv,
): WorkerOptionsLike {
  // This loader by its absolute URL, relative preloads made absolute (child-processes.ts
  // pinPreloads), before the check, which trusts them in that form.
  inheritedExecArgv = pinPreloads(inheritedExecArgv, loaderURL);
  if (options?.execArgv !== undefined) {
    if (!Array.isArray(options.execArgv)) return { ...options }; // Node reports the type error.
    options = { ...options, execArgv: pinPreloads(options.execArgv, loaderURL) };
    checkWorkerExecArgv(options.execArgv!, inheritedExecArgv);
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
    execArgv = preloadArgs(inheritedExecArgv);
    if (!hasLoader(execArgv, loaderURL)) execArgv.push('--import', loaderURL);
    execArgv.push(...options.execArgv);
  }
  return { ...options, execArgv };
}

/** Who is who among the files a worker is started from and on (see the module comment). */
export interface WorkerOrigins {
  /** Whether a real file path belongs to a package of the project (the app or a dependency in its map). */
  inProject: (file: string) => boolean;
  /** Whether a real file path is code loaded natively outside the app and this runtime: a preload's. */
  isPreloadCode: (file: string) => boolean;
  /** The start compartment's `Error`, whose stack API names the caller of `new Worker()`. */
  hostError: Function;
  /** The environment a worker copies when it is given none (process.env). */
  env: Record<string, string | undefined>;
}

interface Confinement {
  HostWorker: new (...args: unknown[]) => object;
  loaderURL: string;
  inheritedExecArgv: readonly string[];
  handedOver: Readonly<Record<string, string>>;
  setEnvironmentData: (key: unknown, value: unknown) => void;
  /** Node's own getter (unit tests of the class may leave it out: nothing is withheld). */
  getEnvironmentData?: (key: unknown) => unknown;
  /** Absent in unit tests of the class: no early refusal, no preload's workers. */
  origins?: WorkerOrigins;
}

/** Whether the code calling `Worker` (the frame right above it) is a preload's. */
function calledByPreload(origins: WorkerOrigins, Worker: Function): boolean {
  const caller = pathOfScript(callerFileOf(origins.hostError as never, Worker));
  return caller !== undefined && origins.isPreloadCode(realPath(caller));
}

/** A path for a file name V8 gives (a path, or a file URL for an ES module), else undefined. */
function pathOfScript(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  if (name.startsWith('file:')) {
    try {
      return fileURLToPath(name);
    } catch {
      return undefined;
    }
  }
  return path.isAbsolute(name) ? name : undefined;
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file; // Node reports the missing file.
  }
}

/** `args` (an execArgv) without this loader's `--import`. */
export function withoutLoader(args: readonly string[], loaderURL: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = String(args[i]);
    if (arg === '--import' && i + 1 < args.length && isThisLoader(String(args[i + 1]), loaderURL)) {
      i += 1;
      continue;
    }
    if (arg.startsWith('--import=') && isThisLoader(arg.slice('--import='.length), loaderURL)) continue;
    out.push(arg);
  }
  return out;
}

/**
 * The options a preload's own worker is started with (exported for tests): the
 * caller's, without this loader where Node would pass it on by itself (the inherited
 * `execArgv`, and `NODE_OPTIONS` in the environment the worker copies, where the
 * runtime put it for children). Undefined for `env: SHARE_ENV`: the worker would read
 * this process's own `NODE_OPTIONS`, loader included, so it cannot start unconfined.
 */
export function preloadWorkerOptions(
  options: WorkerOptionsLike | undefined,
  loaderURL: string,
  inheritedExecArgv: readonly string[],
  env: Record<string, string | undefined>,
): WorkerOptionsLike | undefined {
  const given = options?.env;
  if (given !== undefined && given !== null && typeof given !== 'object') return undefined;
  const copy: Record<string, string | undefined> = { ...((given as Record<string, string | undefined> | undefined | null) ?? env) };
  const nodeOptions = withoutLoaderInNodeOptions(copy.NODE_OPTIONS, loaderURL);
  if (nodeOptions === undefined) delete copy.NODE_OPTIONS;
  else copy.NODE_OPTIONS = nodeOptions;
  const execArgv = options?.execArgv === undefined ? withoutLoader(inheritedExecArgv, loaderURL) : options.execArgv;
  return { ...options, execArgv, env: copy };
}

let confinement: Confinement | undefined;

/**
 * Environment data (`setEnvironmentData`): every worker Node starts gets a copy of this
 * thread's, whoever set it. A package's worker is its own thread, whose heap it reads
 * (`worker.getHeapSnapshot()`, of the class it is granted): the app's keys and values
 * (a worker pool's configuration, its credentials) were the package's there, with no
 * `getEnvironmentData` grant (attack case 201). So the keys set in this thread are
 * known, with who set them (undefined: the app, a preload, Node, or the parent thread
 * for a worker's inherited ones, handed over under {@link ENVIRONMENT_KEYS_KEY}); a
 * package's worker starts without those its package did not set, unless its policy
 * grants it `getEnvironmentData` (it could read them by name anyway).
 */
export const ENVIRONMENT_KEYS_KEY = 'lavamoat:environment-keys';
const environmentDataOwners = new Map<unknown, string | undefined>();

function noteEnvironmentData(key: unknown, value: unknown, owner: string | undefined): void {
  if (key === WORKER_CONFIG_KEY || key === ENVIRONMENT_KEYS_KEY) return;
  if (value === undefined) environmentDataOwners.delete(key);
  else environmentDataOwners.set(key, owner);
}

/**
 * A `Worker` for `label` (the app, or a package): `mayRun` decides which entry files it
 * may start (the real path is checked), the rest is the same for all (see the module
 * comment). Exported for tests; the runtime uses {@link workerClassFor}.
 */
export function makeWorkerClass(
  setup: Confinement,
  label: string,
  mayRun?: (file: string) => boolean,
  withheld?: (key: unknown) => boolean,
  /** Told each worker this class started (a package's: its thread id, for {@link threadPosterFor}). */
  started?: (worker: object) => void,
): Function {
  const { HostWorker, loaderURL, inheritedExecArgv, handedOver, setEnvironmentData, getEnvironmentData, origins } = setup;
  const Worker = function Worker(this: unknown, filename: unknown, options?: unknown): object {
    if (new.target === undefined) throw new TypeError("Class constructor Worker cannot be invoked without 'new'");
    // Decided before anything of the arguments is read, and only in the app's class
    // (shared with the preloads): a package's own class never starts a preload's worker.
    const byPreload = !mayRun && origins !== undefined && calledByPreload(origins, Worker);
    const normalized = normalizeWorkerArguments(filename, options, byPreload);
    if (byPreload && (normalized.file === undefined || origins!.isPreloadCode(realPath(normalized.file)))) {
      const unconfined = preloadWorkerOptions(normalized.options, loaderURL, inheritedExecArgv, origins!.env);
      if (unconfined) return construct(normalized.filename, unconfined, new.target);
    }
    // Confined, whoever asked.
    if (normalized.refused) throw normalized.refused;
    if (mayRun && normalized.file !== undefined) {
      let real = normalized.file;
      try {
        real = fs.realpathSync(real);
      } catch {
        // Node reports the missing file.
      }
      if (!mayRun(real)) {
        throw new WorkerConfinementError(
          `LavaMoat: ${label} may not start a Worker on ${real}: its policy does not let it load ` +
            'that file (only its own files and those of the packages listed in its "packages" policy).',
        );
      }
    }
    if (origins && normalized.file !== undefined) {
      const real = realPath(normalized.file);
      if (!origins.inProject(real)) {
        throw new WorkerConfinementError(
          `LavaMoat: ${label} may not start a Worker on ${real}: that file belongs to no package of the project, ` +
            'so the loader in the worker would refuse to run it. Start workers from files of the app or of its packages.',
        );
      }
    }
    checkWorkerEnv(normalized.options?.env, inheritedExecArgv);
    const confined = confinedWorkerOptions(normalized.options, loaderURL, inheritedExecArgv);
    return construct(normalized.filename, confined, new.target);
  };
  const construct = (filename: unknown, options: WorkerOptionsLike, newTarget: Function): object => {
    // Set right before the worker copies it: nothing can replace it in between.
    setEnvironmentData(WORKER_CONFIG_KEY, handedOver);
    setEnvironmentData(ENVIRONMENT_KEYS_KEY, [...environmentDataOwners.keys()]);
    // Node copies this thread's environment data into the worker inside its constructor:
    // what the package may not read is taken out for that moment (see environmentDataSetterFor).
    const away: [unknown, unknown][] = [];
    if (withheld && getEnvironmentData) {
      for (const key of environmentDataOwners.keys()) {
        if (!withheld(key)) continue;
        away.push([key, getEnvironmentData(key)]);
        setEnvironmentData(key, undefined);
      }
    }
    let worker: object;
    try {
      worker = Reflect.construct(HostWorker, [filename, options], newTarget) as object;
    } finally {
      for (const [key, value] of away) setEnvironmentData(key, value);
    }
    if (mayRun) packageWorkers.add(worker);
    started?.(worker);
    if (!sampled) {
      // The first worker shows the classes behind every worker: its native handle, its
      // stdio streams and ports. Done once it has succeeded: cut short (out of stack: a
      // package starting its first worker from deep recursion), the next worker does it.
      const handle = handleOf(worker);
      if (handle) neutralizePrototype(Object.getPrototypeOf(handle));
      hardenPrototypesWithin(worker);
      sampled = true;
    }
    return worker;
  };
  Object.defineProperty(Worker, 'prototype', { value: HostWorker.prototype, writable: false });
  Object.defineProperty(Worker, 'length', { value: 1 });
  Object.setPrototypeOf(Worker, Object.getPrototypeOf(HostWorker));
  return Object.freeze(Worker);
}

/** The workers a package's own `Worker` started (its threads, not the app's). */
const packageWorkers = new WeakSet<object>();

/**
 * The methods of a worker that read its thread from outside: its whole heap
 * (`getHeapSnapshot`), the code it runs and what it allocates (Node 22+'s
 * `startCpuProfile`, Node 24's `startHeapProfile`). A worker is an object like any other:
 * the app hands its workers to a pool or router package, `process.on('worker')` gives each
 * one to every listener; a package holding one of the app's workers read that thread's
 * memory, the app's secrets in it, with no grant at all (attack case 204). On a worker
 * the app started (or a preload), they run only when the app's own code calls them
 * directly (a file, not `node:`, not the runtime's: a package's frame names none, and a
 * Node frame that calls what it is given, `AsyncLocalStorage#run`, is not the app's);
 * on a package's own worker, for anyone. The runtime's own wrappers in between are
 * passed over (one that forwards a package's call leaves the package's frame below it).
 * One stack capture per call.
 */
const OBSERVING_METHODS = ['getHeapSnapshot', 'startCpuProfile', 'startHeapProfile'] as const;

function guardObservingMethods(prototype: object): void {
  for (const name of OBSERVING_METHODS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(prototype, name);
    if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable) continue;
    const real = descriptor.value as Function;
    const guarded = {
      [name](this: unknown, ...args: unknown[]): unknown {
        const own = typeof this === 'object' && this !== null && packageWorkers.has(this);
        // Past the runtime's own wrappers (samples.ts hardens the first snapshot's stream).
        const caller = callerSitesOf(globalThis.Error as never, guarded, 4).find((site) => !isRuntimeFile(site.file));
        if (!own && !isTheAppsFile(caller?.file)) {
          throw new WorkerConfinementError(
            `LavaMoat: Worker.prototype.${name} reads the thread of a worker the app started: only the app's own code may call it`,
          );
        }
        return Reflect.apply(real, this, args);
      },
    }[name]!;
    Object.defineProperty(guarded, 'length', { value: real.length });
    Object.defineProperty(prototype, name, { ...descriptor, value: callerChecked(guarded) });
  }
}

/**
 * Replaces `worker_threads.Worker` on the real module (the app's, and Node's own
 * `import { Worker }`) with a confined one, and makes Node's class unreachable from its
 * instances.
 */
export function confineWorkers(config: Config, loaderURL: string, origins?: WorkerOrigins): void {
  if (confinement) return;
  const threads = workerThreads();
  const HostWorker = threads.Worker as unknown as Confinement['HostWorker'];
  const realSetter = threads.setEnvironmentData as Confinement['setEnvironmentData'];
  confinement = {
    HostWorker,
    loaderURL,
    inheritedExecArgv: Object.freeze([...process.execArgv]),
    handedOver: Object.freeze(configToEnv(config)),
    setEnvironmentData: realSetter,
    getEnvironmentData: threads.getEnvironmentData as (key: unknown) => unknown,
    origins,
  };
  // In a worker: the keys its parent's thread had set, none of them a package's here.
  const inherited = threads.getEnvironmentData(ENVIRONMENT_KEYS_KEY) as unknown;
  if (Array.isArray(inherited)) for (const key of inherited) environmentDataOwners.set(key, undefined);
  (threads as unknown as Record<string, unknown>).setEnvironmentData = Object.freeze(
    function setEnvironmentData(key: unknown, value?: unknown): void {
      Reflect.apply(realSetter, undefined, [key, value]);
      noteEnvironmentData(key, value, undefined);
    },
  );
  const inert = function Worker(): never {
    throw new WorkerConfinementError("LavaMoat: construct workers through worker_threads' Worker, not a worker's constructor");
  };
  Object.defineProperty(HostWorker.prototype, 'constructor', { value: Object.freeze(inert), writable: false, enumerable: false, configurable: false });
  guardObservingMethods(HostWorker.prototype);
  (threads as unknown as Record<string, unknown>).Worker = makeWorkerClass(confinement, 'the app');
  syncBuiltinESMExports();
}

/**
 * A package's `setEnvironmentData`: the runtime's own key, under which a worker gets the
 * loader's configuration (project root, policy, override), is refused. The runtime sets
 * it right before Node copies the environment data, but Node runs code of the caller's
 * inside its constructor before that copy (getters of `workerData` while it serialises
 * it, `toString` of `argv` entries): a package that could set the key there would start
 * its worker with this package's directory as the project root, its files the app's.
 * Nor may it change or delete a key someone else set (the app's worker pool reads its
 * configuration there): only its own.
 */
export function environmentDataSetterFor(real: (key: unknown, value: unknown) => void, packageName: string): Function {
  const setEnvironmentData = function setEnvironmentData(key: unknown, value?: unknown): void {
    if (key === WORKER_CONFIG_KEY || key === ENVIRONMENT_KEYS_KEY) {
      throw new WorkerConfinementError(
        `LavaMoat: package "${packageName}" may not set the environment data '${String(key)}': it is the configuration ` +
          "the runtime hands its workers",
      );
    }
    // The data is one map for the thread, copied into every worker: a key the app (or
    // another package, or the parent thread) set is theirs to change (attack case 206).
    if (environmentDataOwners.has(key) && environmentDataOwners.get(key) !== packageName) {
      throw new WorkerConfinementError(
        `LavaMoat: package "${packageName}" may not change the environment data '${String(key)}': the app or another package set it`,
      );
    }
    const data = value === undefined ? undefined : plainData(value, packageName, key);
    Reflect.apply(real, undefined, [key, data]);
    noteEnvironmentData(key, data, packageName);
  };
  return Object.freeze(setEnvironmentData);
}

type V8Copy = { serialize(value: unknown): Uint8Array; deserialize(bytes: Uint8Array): unknown };
let v8Copy: V8Copy | undefined;

/**
 * A package's environment data as plain data: its copy through V8's serializer, which
 * copies what the engine knows (objects, arrays, maps, sets, dates, errors, buffers) and
 * refuses Node's platform objects. Every worker started later receives a clone of the
 * data, made as it starts, before the runtime runs in it: a certificate a package set
 * arrived there of Node's class of cloned certificates with its prototype unhardened,
 * and the package, loaded by the app's worker code, changed it for every certificate
 * cloned into that thread after (docs/attacks.md, case 342; case 79's hooks come too
 * late there). The copy is also what Node clones (no getter of the package's read twice).
 */
function plainData(value: unknown, packageName: string, key: unknown): unknown {
  if ((typeof value !== 'object' || value === null) && typeof value !== 'function') return value;
  v8Copy ??= require('node:v8') as V8Copy;
  try {
    return v8Copy.deserialize(v8Copy.serialize(value));
  } catch (error) {
    throw new WorkerConfinementError(
      `LavaMoat: package "${packageName}" may set the environment data '${String(key)}' to plain data only (what V8 copies: objects, arrays, maps, sets, buffers), not Node's objects (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
    );
  }
}

/**
 * The `Worker` of one confined package: it starts workers only on files the package
 * could load itself (`mayRun`: its own files and those of the packages its policy
 * lists), so that a package granted `worker_threads` cannot run another package's
 * script with that package's authority, nor an app file with the app's.
 */
export function workerClassFor(packageName: string, mayRun: (file: string) => boolean, readsEnvironmentData = false): Function {
  if (!confinement) throw new Error('LavaMoat: workers are not confined yet');
  const withheld = readsEnvironmentData ? undefined : (key: unknown): boolean => environmentDataOwners.get(key) !== packageName;
  return makeWorkerClass(confinement, `package "${packageName}"`, mayRun, withheld, (worker) => {
    const id: unknown = (worker as { threadId?: unknown }).threadId;
    if (typeof id === 'number') threadsOf(packageName).add(id);
  });
}

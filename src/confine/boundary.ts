/**
 * The host boundary: the one rule every host value a package can obtain goes through.
 *
 * A grant hands a package a value, and with it everything reachable from that value:
 * properties, prototypes, constructors, what its calls return, the `this` and arguments
 * Node passes to its callbacks. So the question is never "is this grant safe" but "what
 * is reachable from what this grant hands out". The answer, by kind of host value
 * (docs/design.md has the reasoning for each):
 *
 * | host value | what a package gets |
 * |---|---|
 * | primitives, frozen data | the value |
 * | Node's and the platform's functions and classes | the value, after the class graph (statics, prototypes, parent classes) is hardened for everyone (host-hardening.ts) |
 * | instances (streams, sockets, responses) | the value, after its prototype chain is hardened; it is the package's own or was handed to it |
 * | builtin module objects | the package's own copy (builtins.ts); `http`/`https` with an agent of its own; `worker_threads` with a `Worker` of its own; `diagnostics_channel`/`async_hooks` as views (observation.ts); `module` confined (module-builtin.ts) |
 * | `process` members by dotted grant | a view: methods called on the real process, which never leaks back (endowments.ts); `process.env` a view that refuses Node's and the runtime's variables; other objects a read-only view or a frozen copy (views.ts) |
 * | timers | opaque handles, callbacks called with the handle as `this` (shared-globals.ts) |
 * | what Node passes to listeners on host emitters (`process.on`) | primitives as they are; errors, plain data, buffers, dates and regular expressions as copies, a promise as a promise of its delivered value; anything else (another party's function, a worker, a socket) an opaque token (deliver.ts) |
 * | the real `process`, `globalThis`, `Function`, Node's module loader, native handle classes, Node's `Worker` | never: constructors of native handles and of Node's `Worker` are unreachable (native-handles.ts, workers.ts) |
 *
 * What starts code outside the compartments is confined at its source, for everyone, so
 * that no path to it matters: workers (workers.ts), child processes (child-processes.ts),
 * native handles (native-handles.ts).
 *
 * Why one file of about 570 lines: it is the rule (what each kind of host value becomes)
 * and the places that apply it at the boundary itself (a builtin's first hardening, the
 * load observer, the lazy exports of `fs`); the per-kind mechanisms are in the modules it
 * names, and splitting the rule would put its cases out of one reader's sight.
 */
import process from 'node:process';
import { builtinModules, createRequire, isBuiltin } from 'node:module';
import {
  finishDeferred,
  hardenHostValue,
  hardenPrototypeChain,
  isObject,
  isPlainData,
} from './host-hardening.js';
import { hardenSingleton, lockInstance } from './instance-locks.js';
import { isStackOverflow } from './stack-overflow.js';
import { INTRINSIC_GLOBALS, SES_GLOBALS } from './scuttle.js';
import { hardenFirstLock, hostGlobals, sample, sampleErrnoException, sampleIterators } from './samples.js';
import { restrictAsyncLocalStorage } from './observation.js';
import { sampleHttp2Eagerly } from './net-samples.js';
import { disarmGlobalClass, disarmModule } from './capability-classes.js';
import { loadedEntries, loadedSet, observeBuiltinLoads, runLoadActions, whenLoaded } from './load-trap.js';
export { whenLoaded } from './load-trap.js';
import { deferGlobal, hasDeferredGlobals, isDeferredModule, keepAccessorsUntilJobEnds, lazyExportModule, lazyGlobalModule, takeLoadedGlobals } from './lazy-globals.js';

export { opaque } from './opaque.js';
export { deliver } from './deliver.js';
export { envFor, isProtectedEnvName, ProtectedEnvironmentError, readOnlyEnvFor } from './env-views.js';

const hostRequire = createRequire(import.meta.url);



// ---------------------------------------------------------------------------------
// Hardening what packages can reach

/**
 * Module objects whose class graphs are not hardened: `process` is the live process
 * (its methods are the process's, frozen they would still act on it), and `module`'s
 * statics are Node's module loader's live state (`Module._cache`, `_extensions`).
 * Neither is reachable by a package without a grant of it (module-builtin.ts confines
 * `module`).
 */
const NOT_HARDENED = new Set(['process', 'module', 'sys']);

const hardenedModules = new Set<string>();

/**
 * Builtins whose classes a module's objects are instances of, beyond its own exports:
 * an `http` request's socket is a `net.Socket`, a TLS socket extends it, a child
 * process's stdio are `net.Socket`s, a file handle's stream is an `fs` stream. Every
 * module also brings `events` and `stream` (the base classes) and `timers`. The reachability walk
 * (test/integration/boundary.test.mjs) checks this from the grants it holds.
 */
const RELATED: Readonly<Record<string, readonly string[]>> = {
  http: ['net'],
  https: ['http', 'tls', 'net'],
  http2: ['net', 'tls'],
  tls: ['net', 'crypto'],
  net: ['dns'],
  child_process: ['net'],
  'fs/promises': ['fs'],
  fs: ['fs/promises'],
  perf_hooks: [],
  // Its stores are async_hooks' AsyncLocalStorage (observation.ts locks them).
  diagnostics_channel: ['async_hooks'],
};
// Sockets, streams and emitters hold Node's `Timeout`s (`socket[kTimeout]`), a stream
// with an encoding a `StringDecoder`.
const BASE_MODULES = ['events', 'stream', 'string_decoder', 'timers'];

/**
 * Hardens the class graphs of builtin `name`'s exports (not the module object, which is
 * the app's): functions and classes, and the prototype chains of instances it exports.
 * Lazy properties (`fs.Dir`, `AsyncLocalStorage` on Node 22+) are not triggered: what
 * they return is hardened when first read ({@link hardenWhenRead}).
 */
export function hardenBuiltin(name: string): void {
  if (hardenedModules.has(name)) return;
  hardenedModules.add(name);
  try {
    hardenBuiltinNow(name);
  } catch (error) {
    // Not hardened (out of stack, a package recursing deep before its first use of a
    // grant): the use fails, and the module is hardened again at the next.
    hardenedModules.delete(name);
    throw error;
  }
}

function hardenBuiltinNow(name: string): void {
  sample(name);
  if (NOT_HARDENED.has(name) || !isPublicBuiltin(name)) return;
  let real: unknown;
  try {
    real = hostRequire(`node:${name}`);
  } catch (error) {
    if (isStackOverflow(error)) throw error;
    return;
  }
  // Its capability classes, found from the module rather than from Node's load list, which
  // a load cut short at the stack's end leaves without it (capability-classes.ts).
  disarmModule(name);
  if (typeof real === 'function') {
    hardenHostValue(real);
    return;
  }
  if (!isObject(real)) return;
  for (const key of Reflect.ownKeys(real)) {
    // Not read: reading it (even its descriptor) would load it.
    const lazy = lazyExportModule(name, key);
    if (lazy !== undefined) {
      whenLoaded(lazy, () => hardenLazyExport(real as object, key as string, lazy));
      continue;
    }
    const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
    if (!descriptor) continue;
    if ('value' in descriptor) hardenExport(descriptor.value, key);
    else if (descriptor.configurable) hardenWhenRead(real, key, descriptor);
    // An accessor of a frozen module (fs; not the deprecated ones, which warn when
    // read): its value, unless it loads its module when read (fs's streams and promises:
    // what they hold is hardened when that module loads, prepareHost).
    else if (Object.isFrozen(real) && descriptor.get && descriptor.enumerable && !(name === 'fs' && typeof key === 'string' && FS_LAZY.has(key))) {
      hardenExport(Reflect.apply(descriptor.get, real, []), key);
    }
  }
}

/** Node's modules, including those only `node:` names (`node:sqlite`), by their id in Node's load list. */
const isPublicBuiltin = (id: string): boolean =>
  builtinModules.includes(id) || (!id.startsWith('internal/') && !isBuiltin(id) && isBuiltin(`node:${id}`));

/**
 * A builtin's export or a host global: its class graph, or an instance's prototype chain;
 * of a plain object of functions (`fs.promises`, `dns.promises`), the classes and
 * generator functions it holds (whose prototypes their instances lead to: `dns.promises`'
 * `Resolver`, Node 20's `fs.promises.watch`), not the object, which is the app's.
 */
export function hardenExport(value: unknown, key?: PropertyKey, nested = false): void {
  if (nested && typeof value === 'function' && !hasInstancePrototype(value)) return;
  // An instance a module or the global object exports is one object for the process
  // (timers/promises' `scheduler`, `performance`, `crypto.webcrypto` and `subtle`, Node
  // 24's `worker_threads.locks`): locked, or a package defines an own `wait`, `now`,
  // `getRandomValues` the app then calls (docs/attacks.md, case 130).
  // A singleton's class may need a method wrapped before anything freezes it (Node 24's
  // lock manager: hardenFirstLock).
  if (!nested && isObject(value) && typeof value !== 'function' && !isPlainData(value)) hardenIfSingleton(value);
  if (!nested && isObject(value) && typeof value !== 'function' && !isPlainData(value) && !LIVE_INSTANCES.has(key as string)) lockInstance(value);
  if (typeof value === 'function') {
    disarmGlobalClass(key, value);
    hardenHostValue(value);
    // Their iterators' class is exported by nothing: from an instance of ours.
    if (typeof key === 'string' && ITERABLE_CLASSES.has(key)) {
      try {
        sampleIterators(Reflect.construct(value, []));
      } catch (error) {
        // Out of stack: not done, and the caller's failure brings it again.
        if (isStackOverflow(error)) throw error;
        // Not constructible so in this Node.
      }
    }
  } else if (isObject(value) && !isPlainData(value)) {
    // First: a singleton's class may need a method wrapped before it is frozen.
    hardenIfSingleton(value);
    // A worker's port to its parent, one for the thread (docs/attacks.md, case 123); nor
    // can it be transferred: moved into a package's hands (`structuredClone(parentPort,
    // { transfer: [parentPort] })`, a channel's `postMessage`), it took every job the
    // parent sent, and the app's worker posted its results into a detached port (case 293).
    if (key === 'parentPort' && !nested) {
      hardenSingleton(value);
      (hostRequire('node:worker_threads') as typeof import('node:worker_threads')).markAsUntransferable(value);
    }
    hardenPrototypeChain(value);
  } else if (isObject(value) && !nested && !Array.isArray(value)) {
    for (const inner of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, inner);
      if (descriptor && 'value' in descriptor) hardenExport(descriptor.value, inner, true);
    }
  }
}

const ITERABLE_CLASSES = new Set(['URLSearchParams', 'Headers', 'FormData', 'ReadableStream']);

/**
 * Exported instances that are live state Node and the app write (`http.globalAgent`'s
 * pools and limits, which packages never receive: builtin-adapters.ts gives them agents
 * of their own; the `console` module's streams; a worker's `parentPort`, a cluster
 * worker; Node's Web Storage, whose named properties are its items and which refuses to
 * be made non-extensible: packages get keys of their own, web-storage.ts): left as they are. Every other exported instance is locked ({@link lockInstance}).
 */
const LIVE_INSTANCES = new Set(['globalAgent', '_stdout', '_stderr', 'parentPort', 'worker', 'workers', 'localStorage', 'sessionStorage']);

/**
 * The platform's objects that are one per process, by their class (whose constructor
 * Node's code alone calls: `new Performance()` is an illegal constructor), with the
 * accessors of theirs that return more of them (read here: what they return exists
 * already). The app and every package share them, whichever way a package reaches one (a
 * global, `perf_hooks.performance`, `crypto.webcrypto`, `crypto.subtle`): they are made
 * non-extensible (instance-locks.ts `hardenSingleton`).
 */
const SINGLETONS: Readonly<Record<string, readonly string[]>> = {
  Performance: ['nodeTiming'],
  PerformanceNodeTiming: [],
  Navigator: [],
  LockManager: [],
  Crypto: ['subtle'],
  SubtleCrypto: [],
  // timers/promises' `scheduler` (`wait`, `yield`).
  Scheduler: [],
};

/** Prototypes already judged not to be a singleton class's (handOutValue runs for every value handed out). */
const notSingletons = new WeakSet<object>();

function hardenIfSingleton(value: object): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (!isObject(proto) || notSingletons.has(proto) || !Object.isExtensible(value)) return;
  const constructor: unknown = Reflect.get(proto, 'constructor');
  const name = typeof constructor === 'function' ? constructor.name : undefined;
  if (name === undefined || !Object.hasOwn(SINGLETONS, name)) {
    notSingletons.add(proto);
    return;
  }
  if (name === 'LockManager') hardenFirstLock(value);
  // What it holds first: once it is locked, the check above skips it for good, so an
  // inner one cut short (out of stack) would never be done.
  for (const held of SINGLETONS[name]!) {
    let inner: unknown;
    try {
      inner = Reflect.get(value, held);
    } catch (error) {
      if (isStackOverflow(error)) throw error;
      // Not on this Node.
    }
    if (isObject(inner)) hardenIfSingleton(inner);
  }
  hardenSingleton(value);
  // Node 24's Web Locks: `navigator.locks` makes its manager when first read (loading
  // internal/locks); hardened the moment that module has loaded, before the getter
  // returns it (read again from inside that getter, which finds the module loaded).
  if (name === 'Navigator' && 'locks' in value) {
    whenLoaded('internal/locks', () => {
      const locks: unknown = Reflect.get(value, 'locks');
      if (isObject(locks)) hardenIfSingleton(locks);
    });
  }
}

/** A class with methods or a generator function: not a plain function's `{ constructor }`. */
export function hasInstancePrototype(fn: Function): boolean {
  const prototype: unknown = (fn as { prototype?: unknown }).prototype;
  return isObject(prototype) && (Object.getPrototypeOf(prototype) !== Object.prototype || Reflect.ownKeys(prototype).length > 1);
}

/**
 * A lazy export or global (`async_hooks.AsyncLocalStorage` on Node 22+, `Headers` on Node
 * 20): an accessor that loads its module when first read. Its getter now hardens what it
 * returns before anyone, the app included, has it; reading it here would load modules
 * nobody may use.
 */
function hardenWhenRead(holder: object, key: PropertyKey, descriptor: PropertyDescriptor): void {
  const get = descriptor.get;
  if (get === undefined || !descriptor.configurable) return;
  // The getter of `process` and `Buffer` on the global object: read at every
  // `process.hrtime()` of a package granted it (twice: the member, then its parent to
  // call it on). What it returned last was hardened then, and hardening is for good.
  let lastRaw: unknown = hardenWhenRead;
  let lastValue: unknown;
  Object.defineProperty(holder, key, {
    get(this: unknown): unknown {
      const raw: unknown = Reflect.apply(get, this, []);
      if (raw === lastRaw) return lastValue;
      let value = raw;
      // Node 22+'s AsyncLocalStorage: the restricted class (observation.ts), for the app
      // too, whose storages are then locked as they are made (it may hand one to a
      // package). Made before the class is hardened (its prototype names it), perhaps
      // first here, inside the load its module's sample waits for (samples.ts).
      if (key === 'AsyncLocalStorage' && holder === hostRequire('node:async_hooks') && typeof value === 'function') value = restrictAsyncLocalStorage(value as never);
      hardenExport(value, key);
      lastRaw = raw;
      lastValue = value;
      return value;
    },
    set: descriptor.set,
    enumerable: descriptor.enumerable,
    configurable: true,
  });
}

/**
 * A builtin's export that is a V8 lazy data property (lazy-globals.ts), once its module
 * has loaded: perhaps inside its own getter, so it is left an accessor until the job
 * ends (as the lazy globals are). On a frozen module object (`fs`) it cannot be, and is
 * not read: the samples made for its module harden its class (`fs.Dir` from a `Dir`).
 */
function hardenLazyExport(holder: object, key: string, id: string): void {
  sample(id);
  if (Object.isFrozen(holder)) return;
  hardenExport(Reflect.get(holder, key), key);
  keepAccessorsUntilJobEnds(holder, [key]);
}

/**
 * Host globals whose classes packages reach (through grants, or instances Node returns).
 * The JavaScript intrinsics and SES's own globals are lockdown's business (the host's
 * `Error` keeps a settable stack API that confine/stack-traces.ts uses).
 */
function hardenGlobals(): void {
  const intrinsic = new Set<PropertyKey>([...INTRINSIC_GLOBALS, ...SES_GLOBALS]);
  const globals = hostGlobals();
  const loaded = loadedSet();
  for (const key of Reflect.ownKeys(globals)) {
    if (intrinsic.has(key)) continue;
    // Not read (on Node 22+ that loads it): hardened when its module loads, below if it has.
    const module = lazyGlobalModule(key);
    if (module !== undefined) {
      deferGlobal(key as string, module);
      continue;
    }
    const descriptor = Reflect.getOwnPropertyDescriptor(globals, key);
    if (!descriptor) continue;
    if ('value' in descriptor) {
      if (typeof descriptor.value === 'function') hardenExport(descriptor.value, key);
      continue;
    }
    // The holder reads through to the real global object, which owns the accessor.
    const real = Reflect.getOwnPropertyDescriptor(globalThis, key);
    if (real && real.get === descriptor.get) hardenWhenRead(globalThis, key, real);
  }
  // Where loads are not observed, every one of them, now.
  hardenLoadedGlobals(observingLoads ? loaded : 'all');
}

/**
 * Before a package receives builtin `name`: its classes are hardened, and those of the
 * modules whose objects it hands out (RELATED), for everyone (a module loaded since
 * start-up by the grant itself; what was loaded before is hardened already).
 */
export function hardenForPackage(name: string): void {
  finishDeferredLoads();
  sweepLoaded();
  hardenBuiltin(name);
  // Where loads are observed, a related module not loaded yet has no instances yet: it
  // is hardened the moment it loads (onBuiltinLoaded), not loaded now to be hardened.
  for (const module of [...(RELATED[name] ?? []), ...BASE_MODULES]) {
    if (!hardenOnLoad || loadedBuiltins.has(module)) hardenBuiltin(module);
  }
}

/**
 * A builtin the app's `require` returned (`filename` as Node resolves it: `fs`,
 * `node:sqlite`): hardened as if granted, whether or not Node's load list shows it (see
 * the require hook). Once per module: a set's lookup after.
 */
export function hardenRequiredBuiltin(filename: string): void {
  // Not where a tool preloaded before the loader patches builtins after their load
  // (require-in-the-middle, from a require this one returns to): they are hardened at the
  // next package module start instead, as what loads then (hardenOnLoad).
  if (!hardenOnLoad) return;
  const name = filename.startsWith('node:') ? filename.slice(5) : filename;
  if (hardenedModules.has(name) || !isPublicBuiltin(name)) return;
  hardenForPackage(name);
}

/** The builtin modules Node has finished loading, as far as sweepLoaded has looked. */
const loadedBuiltins = new Set<string>();

const loadList = loadedEntries;
let swept = -1;

/**
 * At the end of start-up, before any package code: the classes of every builtin loaded
 * so far (the runtime's own, and with them those any object the app may hand a package
 * inherits from or holds: an `fs` stream, a stream's `StringDecoder`, an
 * `AsyncLocalStorage`) and the platform's global classes. From here on,
 * {@link sweepLoaded} hardens what loads later.
 */
export function hardenAtStart({ leavePatchingTime = false }: { leavePatchingTime?: boolean } = {}): void {
  observeLoads();
  hardenOnLoad = observingLoads && !leavePatchingTime;
  // Hardened later than they load, HTTP/2's classes cannot wait for the next session.
  if (!hardenOnLoad) sampleHttp2Eagerly();
  swept = 0;
  for (const module of BASE_MODULES) hardenBuiltin(module);
  sampleErrnoException();
  sweepLoaded();
  hardenForGlobal('');
}

/**
 * Before a package's module runs (and before a builtin reaches one): every builtin
 * loaded since the last sweep (by the app, or by Node for it) is hardened as if granted,
 * so that the app's requests, responses, sockets and streams it hands to a package
 * without the grant have hardened classes too. A check of a length when nothing loaded.
 */
export function sweepLoaded(): void {
  const list = loadList();
  if (swept < 0 || list.length === swept) return;
  runLoadActions();
  const end = list.length;
  const loaded: string[] = [];
  for (let index = swept; index < end; index++) {
    const entry = list[index]!;
    if (entry.startsWith('NativeModule ') && isPublicBuiltin(entry.slice(13))) loaded.push(entry.slice(13));
  }
  swept = end;
  for (const name of loaded) loadedBuiltins.add(name);
  for (const name of loaded) hardenForPackage(name);
  if (hasDeferredGlobals()) hardenLoadedGlobals(loadedSet());
}

/** Whether load-trap.ts reports Node's module loads (set at start-up). */
let observingLoads = false;
let observerInstalled = false;

export function observeLoads(): void {
  if (observerInstalled) return;
  observerInstalled = true;
  observingLoads = observeBuiltinLoads(onBuiltinLoaded);
}

/**
 * Whether a builtin is hardened as it finishes loading. Not where a tool preloaded before
 * the loader may patch it when it first loads (OpenTelemetry's http instrumentation wraps
 * `Server.prototype.emit` from require-in-the-middle's hook, after the load): then at the
 * next package module start, as where loads are not observed.
 */
let hardenOnLoad = false;

/**
 * An internal module has finished loading (load-trap.ts), before it returns to whoever
 * loaded it: the global classes it makes are hardened now, before the app or Node can
 * hand out an instance (the app's first `fetch` response, a port's `MessageEvent`).
 */
function onBuiltinLoaded(id: string): void {
  const deferred = isDeferredModule(id);
  if (!deferred && !(hardenOnLoad && isPublicBuiltin(id))) return;
  inLoad = true;
  try {
    if (deferred) hardenLoadedGlobals(loadedSet());
    // A builtin the app loads late (an `import()` after its packages started), hardened
    // before the app has it: what it then hands a package has hardened classes.
    sweepLoaded();
  } finally {
    inLoad = false;
  }
}

/** Inside a load onBuiltinLoaded reports: perhaps inside the getter of a global it makes. */
let inLoad = false;

/**
 * The deferred globals whose module is in `loaded` (Node's load list): prepared, then
 * hardened.
 */
function hardenLoadedGlobals(loaded: ReadonlySet<string> | 'all'): void {
  const ready = takeLoadedGlobals(loaded);
  if (ready.length === 0) return;
  try {
    finishDeferredLoads();
    const globals = hostGlobals();
    const values = new Map<string, unknown>();
    for (const name of ready) {
      const descriptor = Reflect.getOwnPropertyDescriptor(globals, name);
      const value: unknown = descriptor && ('value' in descriptor ? descriptor.value : descriptor.get && Reflect.apply(descriptor.get, globals, []));
      // A class that does not read as one yet is tried again at the next load or sweep.
      if (isObject(value)) values.set(name, value);
      else if (descriptor) deferGlobal(name, lazyGlobalModule(name)!);
    }
    // Samples and restrictions before anything is frozen (perf_hooks' observer; the web
    // streams' readers and controllers, made from the classes just read; a WebSocket's
    // constructor, capability-classes.ts).
    for (const [name, value] of values) disarmGlobalClass(name, value);
    for (const name of values.keys()) if (Object.hasOwn(GLOBAL_MODULES, name)) hardenForPackage(GLOBAL_MODULES[name]!);
    for (const name of values.keys()) sample(lazyGlobalModule(name)!);
    for (const [name, value] of values) hardenExport(value, name);
  } catch (error) {
    // Not done: in a sweep, the next tries again; at a load, the observer ends the process
    // (load-trap.ts: Node would hand the module's objects out before any retry).
    for (const name of ready) deferGlobal(name, lazyGlobalModule(name)!);
    throw error;
  } finally {
    if (inLoad) keepAccessorsUntilJobEnds(globalThis, ready);
  }
}

let globalsHardened = false;

/**
 * Before a package receives a host global: the platform's global classes (`URL`,
 * `AbortController` and the `AbortSignal` it makes, `Blob`, `EventTarget`, fetch's
 * classes...) are hardened, once, with the modules behind them prepared first
 * (`PerformanceObserver` is perf_hooks'), and `name`'s own module if it has one.
 */
export function hardenForGlobal(name: string): void {
  finishDeferredLoads();
  // Own keys only: a grant of `constructor` or `toString` is a global's name like any other.
  if (Object.hasOwn(GLOBAL_MODULES, name)) hardenForPackage(GLOBAL_MODULES[name]!);
  if (globalsHardened) return;
  globalsHardened = true;
  // A deferred one is prepared with its class (hardenLoadedGlobals).
  if ('PerformanceObserver' in hostGlobals() && lazyGlobalModule('PerformanceObserver') === undefined) sample('perf_hooks');
  hardenGlobals();
}

/** Globals that are a builtin module's, or that hand out its objects. */
const GLOBAL_MODULES: Readonly<Record<string, string>> = {
  performance: 'perf_hooks',
  Performance: 'perf_hooks',
  PerformanceEntry: 'perf_hooks',
  PerformanceMark: 'perf_hooks',
  PerformanceMeasure: 'perf_hooks',
  PerformanceObserver: 'perf_hooks',
  PerformanceObserverEntryList: 'perf_hooks',
  PerformanceResourceTiming: 'perf_hooks',
  fetch: 'fetch',
  Response: 'fetch',
  Request: 'fetch',
  Headers: 'fetch',
  FormData: 'fetch',
  WebSocket: 'fetch',
  EventSource: 'fetch',
  crypto: 'crypto',
  Buffer: 'buffer',
};

let deferredLoads = -1;

/** Native prototypes Node decorates when a module loads are closed once it has (host-hardening.ts). */
function finishDeferredLoads(): void {
  const list = loadList();
  if (list.length === deferredLoads) return;
  deferredLoads = list.length;
  finishDeferred(loadedSet());
}

/** What a package receives for a host value it reaches through a grant (see the table above). */
export function handOutValue<T>(value: T): T {
  if (!isObject(value)) return value;
  if (typeof value === 'function') hardenHostValue(value);
  else if (!isPlainData(value)) {
    hardenIfSingleton(value);
    hardenPrototypeChain(value);
  }
  return value;
}

/** fs's accessors that load their module on first read and never replace themselves. */
export const FS_LAZY: ReadonlySet<string> = new Set(['ReadStream', 'WriteStream', 'FileReadStream', 'FileWriteStream', 'promises', 'Utf8Stream']);

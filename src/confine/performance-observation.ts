/**
 * `perf_hooks` as packages see it (observation.ts has the rule): a package's
 * `PerformanceObserver` does not observe the app's I/O, the entries Node buffers for the
 * process (`performance.getEntries*`, an observer's list, `takeRecords()`) show a caller
 * other than the app only what packages made, and the app's marks and measures can be
 * neither read nor cleared by them. Who calls is told by the calling frame's script: the
 * app's files are the app's (`isTheAppsFile`), the runtime's own code forwards.
 */
import { callerScriptOf } from './stack-traces.js';
import { callerChecked } from './frameless-calls.js';

type ErrorConstructorLike = Parameters<typeof callerScriptOf>[0];

/**
 * Entry types that are the app's: its I/O (its HTTP requests and their headers,
 * connections, lookups; `resource`, every `fetch` of the app by its URL, which undici
 * marks per response) and `function`, whose entries carry the arguments of every
 * timerified call as they were passed (the app's live objects: `performance.timerify`
 * of a handler gives each request it handles) (docs/attacks.md, case 121).
 */
const IO_ENTRY_TYPES = new Set(['http', 'http2', 'net', 'dns', 'resource', 'function']);
/**
 * `observe()`'s options as Node takes them (its own enumerable properties, spread),
 * read once into a plain object of data: `entryTypes` a fresh array of the values read.
 * Node accepts an entry type only as the very string (`includes`), so the values are
 * passed as read, not converted.
 */
function pinObserveOptions(options: object): { type?: unknown; entryTypes?: unknown; buffered?: unknown } {
  const read = { ...options } as { type?: unknown; entryTypes?: unknown; buffered?: unknown };
  const pinned: { type?: unknown; entryTypes?: unknown; buffered?: unknown } = {};
  if (read.type !== undefined) pinned.type = read.type;
  if (read.entryTypes !== undefined) pinned.entryTypes = Array.isArray(read.entryTypes) ? Array.from(read.entryTypes as unknown[]) : read.entryTypes;
  if (read.buffered !== undefined) pinned.buffered = read.buffered;
  return pinned;
}

/** Observers made by packages: `observe()` refuses I/O entry types for them. */
const packageObservers = new WeakSet<object>();
/** The entry lists Node handed a package observer's callback. */
const packageLists = new WeakSet<object>();
let restrictedObserver: Function | undefined;
let madeObserver: Function | undefined;

/**
 * Wrappers this module placed, and what each wraps: a pass cut short (out of stack: a
 * package recursing deep before its first use of a grant) is finished by the next, which
 * neither wraps a wrapper again nor takes one for Node's function.
 */
const wrapped = new WeakMap<Function, Function>();
const nodeOf = (fn: unknown): unknown => (typeof fn === 'function' ? (wrapped.get(fn) ?? fn) : fn);

/** `proto[name]`, a method, replaced by `make(it)` (once), with its descriptor otherwise kept unless `fixed` says. */
function placeWrapper(
  proto: Record<string, unknown>,
  name: string,
  make: (real: Function) => Function,
  fixed: { writable?: boolean; configurable?: boolean } = {},
): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, name);
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || wrapped.has(real) || !descriptor!.configurable) return;
  const wrapper = make(real);
  Object.defineProperty(wrapper, 'length', { value: real.length });
  Object.defineProperty(wrapper, 'name', { value: name });
  wrapped.set(wrapper, real);
  Object.defineProperty(proto, name, { ...descriptor, ...fixed, value: callerChecked(wrapper) });
}

/**
 * The `PerformanceObserver` of every package (one function): Node's own class, with
 * `observe` refusing the app's I/O entry types for the observers it makes. Node's
 * prototype names it as `constructor`, so an observer leads to no unrestricted class.
 * Made when perf_hooks is first hardened (boundary.ts), before its prototype is frozen.
 */
export function restrictPerformanceObserver(Real: new (...args: unknown[]) => object): Function {
  if (restrictedObserver) return restrictedObserver;
  const proto = Real.prototype as Record<string, unknown>;
  // Each piece made once and placed where it is not yet: a pass cut short (out of stack: a
  // package recursing deep before its first use of the grant) is finished by the next,
  // where redefining what it made non-configurable would throw for good.
  const PerformanceObserver = (madeObserver ??= function PerformanceObserver(this: unknown, callback: unknown): object {
    if (new.target === undefined) throw new TypeError("Class constructor PerformanceObserver cannot be invoked without 'new'");
    // The lists Node hands its callback hold the package's own user timing only (below).
    const given =
      typeof callback === 'function'
        ? function (this: unknown, list: unknown, ...rest: unknown[]): unknown {
            if (typeof list === 'object' && list !== null) packageLists.add(list);
            return Reflect.apply(callback, this, [list, ...rest]);
          }
        : callback;
    const observer = Reflect.construct(Real, [given], new.target) as object;
    packageObservers.add(observer);
    return observer;
  });
  Object.defineProperty(PerformanceObserver, 'prototype', { value: proto, writable: false });
  for (const key of Reflect.ownKeys(Real)) {
    if (key === 'prototype' || key === 'length' || key === 'name') continue;
    Object.defineProperty(PerformanceObserver, key, Reflect.getOwnPropertyDescriptor(Real, key)!);
  }
  placeWrapper(proto, 'observe', (observe) =>
    function observe_(this: object, options?: unknown) {
      if (packageObservers.has(this) && typeof options === 'object' && options !== null && !Array.isArray(options)) {
        // Read once, and Node gets what was checked: Node reads the options again (a
        // spread, then each entry type), where a getter, a proxy or a proxied array
        // answered the check 'mark' and Node 'http' (docs/attacks.md, case 78).
        const pinned = pinObserveOptions(options);
        const asked = [pinned.type, ...(Array.isArray(pinned.entryTypes) ? pinned.entryTypes : [])];
        const io = asked.find((name) => typeof name === 'string' && IO_ENTRY_TYPES.has(name));
        if (io) throw new TypeError(`LavaMoat: packages may not observe "${io}" performance entries: they are the app's I/O and objects`);
        return Reflect.apply(observe, this, [pinned]);
      }
      return Reflect.apply(observe, this, [options]);
    },
    { writable: false, configurable: false },
  );
  // What an observer has buffered and not yet delivered: as its callback's list would hold it.
  placeWrapper(proto, 'takeRecords', (takeRecords) =>
    ({
      takeRecords(this: object): unknown {
        const entries: unknown = Reflect.apply(takeRecords, this, []);
        return packageObservers.has(this) && Array.isArray(entries) ? packagesShare(entries) : entries;
      },
    }).takeRecords,
    { writable: false, configurable: false },
  );
  if (proto.constructor !== PerformanceObserver) Object.defineProperty(proto, 'constructor', { value: PerformanceObserver, writable: false, enumerable: false, configurable: false });
  restrictedObserver = Object.freeze(PerformanceObserver);
  return restrictedObserver;
}

let hostError: ErrorConstructorLike | undefined;
let runtimeCode: readonly string[] = [];

/** The start compartment's `Error` (its stack API names a caller's script) and the runtime's own code, before any package runs. */
export function initPerformanceEntries(error: ErrorConstructorLike, runtime: readonly string[]): void {
  hostError = error;
  runtimeCode = runtime;
}

const ENTRY_GETTERS = ['getEntries', 'getEntriesByType', 'getEntriesByName'] as const;
const restrictedPerformances = new WeakSet<object>();

/** The user timing Node buffers for the whole process. */
const USER_TIMING = new Set(['mark', 'measure']);
/** Marks and measures a caller other than the app's own code made (`performance.mark`, `measure`). */
const packageEntries = new WeakSet<object>();

/** What a caller other than the app may see of `entries`: no I/O, and user timing of packages only. */
function packagesShare(entries: unknown[]): unknown[] {
  return entries.filter((entry) => {
    const type = String((entry as { entryType?: unknown }).entryType);
    if (IO_ENTRY_TYPES.has(type)) return false;
    return !USER_TIMING.has(type) || packageEntries.has(entry as object);
  });
}

/**
 * The buffered entries of `performance` (one object for the process): its
 * `getEntries`, `getEntriesByType` and `getEntriesByName` leave out the app's I/O entries
 * (`resource`: every `fetch` of the app, by URL) unless called by the app's own code,
 * a script that is a file (not `node:`, not the runtime's): a package's code is
 * evaluated, so its frame names no file, and a builtin or Node frame (an
 * `AsyncLocalStorage#run` of a bound `getEntries`, which returns what it returns) is
 * not the app's either. Replaced on the prototype, before it is frozen:
 * a package that has the real object (an event's `target`) or the prototype's method
 * meets the same check (docs/attacks.md, case 122). Registered with the hardening
 * (boundary.ts), which calls it for `Performance.prototype` before freezing it.
 */
export function restrictPerformanceEntries(prototype: object): void {
  const proto = prototype as Record<string, unknown>;
  if (restrictedPerformances.has(proto)) return;
  // Node's own, not a wrapper of a pass cut short: the clear methods read the whole buffer.
  const getEntriesByType = nodeOf(proto.getEntriesByType);
  for (const name of ENTRY_GETTERS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, name);
    const real: unknown = descriptor?.value;
    if (typeof real !== 'function' || wrapped.has(real)) continue;
    if (!descriptor!.configurable) throw new TypeError(`LavaMoat: performance.${name} was frozen before the app's I/O entries could be kept from packages`);
    placeWrapper(proto, name, (real) => {
      const wrapper = {
        [name](this: unknown, ...args: unknown[]): unknown {
          const entries: unknown = Reflect.apply(real, this, args);
          if (!Array.isArray(entries) || byTheApp(wrapper)) return entries;
          return packagesShare(entries);
        },
      }[name]!;
      return wrapper;
    });
  }
  if (typeof getEntriesByType === 'function') restrictUserTiming(proto, getEntriesByType);
  // Marked once all is in place.
  restrictedPerformances.add(proto);
}

/**
 * The user timing of `performance` (one buffer for the process): marks and measures,
 * with the `detail` object each holds (a clone of the caller's, the same object at every
 * read). A package read the app's (`getEntriesByType('mark')`: what the app measured,
 * and the details it attached), changed their details in place for the app's next read,
 * and cleared them (`clearMarks()`: the app's `measure('x', 'app-start')` then threw).
 * So an entry a package makes is known as one (`mark` and `measure` note who called,
 * as the getters do), a package's getters and its observers' lists hold no other user
 * timing, and its `clearMarks`/`clearMeasures` clear only names no entry of the app's
 * has. The resource timing buffer is the app's I/O (which packages cannot read): a
 * package's `clearResourceTimings` leaves it, and it may not resize it
 * (docs/attacks.md, case 231).
 */
function restrictUserTiming(proto: Record<string, unknown>, getEntriesByType: Function): void {
  const replace = (name: string, make: (real: Function) => Function): void => placeWrapper(proto, name, make);
  for (const name of ['mark', 'measure']) {
    replace(name, (real) => {
      const wrapper = {
        [name](this: unknown, ...args: unknown[]): unknown {
          const entry: unknown = Reflect.apply(real, this, args);
          if (typeof entry === 'object' && entry !== null && !byTheApp(wrapper)) packageEntries.add(entry);
          return entry;
        },
      }[name]!;
      return wrapper;
    });
  }
  for (const [name, type] of [['clearMarks', 'mark'], ['clearMeasures', 'measure']] as const) {
    replace(name, (real) => {
      const wrapper = {
        [name](this: unknown, ...args: unknown[]): unknown {
          if (byTheApp(wrapper)) return Reflect.apply(real, this, args);
          // As Node takes it: a name given is a string.
          const asked = args[0] === undefined ? undefined : `${args[0] as string}`;
          const buffered = Reflect.apply(getEntriesByType, this, [type]) as { name: string }[];
          const others = new Set<string>();
          const own = new Set<string>();
          for (const entry of buffered) (packageEntries.has(entry) ? own : others).add(entry.name);
          for (const each of asked === undefined ? own : [asked]) {
            if (!others.has(each)) Reflect.apply(real, this, [each]);
          }
          return undefined;
        },
      }[name]!;
      return wrapper;
    });
  }
  replace('clearResourceTimings', (real) => {
    const wrapper = function clearResourceTimings(this: unknown, ...args: unknown[]): unknown {
      return byTheApp(wrapper) ? Reflect.apply(real, this, args) : undefined;
    };
    return wrapper;
  });
  replace('setResourceTimingBufferSize', (real) => {
    const wrapper = function setResourceTimingBufferSize(this: unknown, ...args: unknown[]): unknown {
      if (!byTheApp(wrapper)) throw new TypeError('LavaMoat: performance.setResourceTimingBufferSize sets the buffer of the whole process: only the app may');
      return Reflect.apply(real, this, args);
    };
    return wrapper;
  });
}

/**
 * The entry lists Node hands observers' callbacks: a package observer's holds no user
 * timing but its own (its `observe()` already refuses I/O types). Registered with the
 * hardening (boundary.ts), before the prototype is frozen.
 */
export function restrictObserverEntryList(prototype: object): void {
  const proto = prototype as Record<string, unknown>;
  for (const name of ENTRY_GETTERS) {
    placeWrapper(proto, name, (real) => ({
      [name](this: unknown, ...args: unknown[]): unknown {
        const entries: unknown = Reflect.apply(real, this, args);
        if (!Array.isArray(entries) || typeof this !== 'object' || this === null || !packageLists.has(this)) return entries;
        return packagesShare(entries);
      },
    })[name]!);
  }
}

function byTheApp(fn: Function): boolean {
  return hostError !== undefined && isTheAppsFile(callerScriptOf(hostError, fn));
}

/** Whether a frame's script is the runtime's own code (its wrappers forward calls). */
export function isRuntimeFile(file: string | undefined): boolean {
  return file !== undefined && runtimeCode.some((prefix) => file.startsWith(prefix));
}

/**
 * Whether a frame's script is the app's: a file (an absolute path, or a `file:` URL),
 * not the runtime's (a package's frame names none). Not any other name V8 gives a
 * script: a Wasm function's frame names `wasm://wasm/<hash>`, and a package's Wasm
 * module calling an imported function (node:net's Socket bound to `{ fd }`) put that
 * frame where the app's was looked for (case 250).
 */
export function isTheAppsFile(file: string | undefined): boolean {
  if (hostError === undefined || file === undefined) return false;
  if (!file.startsWith('file:///') && !(file.startsWith('/') && !file.startsWith('//'))) return false;
  return !runtimeCode.some((prefix) => file.startsWith(prefix));
}

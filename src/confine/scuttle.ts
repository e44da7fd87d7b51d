/**
 * Scuttling: after the preload has linked every compartment (whose globals come from
 * a holder of the host's globals, {@link makeHostGlobals}), remove from the real
 * `globalThis` every property that can be removed, so that code reaching the real
 * global (a sloppy-mode function's `this`, a host callback, a V8 call site) finds
 * nothing to use.
 *
 * Semantics of LavaMoat's `scuttleGlobalThis` option:
 * - `enabled` (default off);
 * - `exceptions`: property names, and `"/pattern/flags"` strings matched against
 *   property names, of globals to keep;
 * - `scuttlerName`: the name of a global function, called as
 *   `scuttler(globalThis, scuttle)`, that decides when (and on which realms) `scuttle`
 *   runs; it must exist when the preload runs (an error otherwise), and it must call
 *   `scuttle(globalThis)` before it returns (an error otherwise: scuttling that was
 *   asked for must not be silently skipped).
 *
 * What happens to a property that is not kept, as in LavaMoat:
 * - configurable: a non-configurable accessor whose getter and setter throw a TypeError
 *   naming it and the exception that would keep it ({@link scuttledMessage});
 * - not configurable but writable: replaced by a value that throws the same on any use,
 *   and made read-only;
 * - not configurable, not writable: its value is frozen (nothing else can be done).
 * The global object's own prototype objects (between it and `Object.prototype`) are
 * frozen, so that a removed name cannot be planted back where the global scope looks
 * it up through the prototype chain.
 *
 * What is always kept (whatever the exceptions say), and why:
 * - the JavaScript intrinsics (the ECMAScript globals, `WebAssembly`, and every global
 *   a new SES Compartment shares with the real one) and SES's own globals (`harden`,
 *   `lockdown`, `Compartment`, ...): they hold no authority, and everything needs them;
 * - {@link NODE_GLOBALS}: what Node's own JavaScript reads from the global object at
 *   run time. Node's core modules use their own captured primordials, but the code
 *   it bundles (undici behind `fetch`, cjs-module-lexer behind `import` of CommonJS)
 *   reads globals by name: without them `fetch` fails with "URL is not defined". Plus
 *   the timers, `queueMicrotask` and `console` that Node's users (and this runtime's
 *   own error printing) call. None of them is an authority (no file system, network,
 *   process or module access);
 * - {@link RUNTIME_GLOBALS}: what this runtime's own modules still read by name at
 *   run time (see the note there).
 *
 * The trusted app package keeps its globals: its modules are compiled with bindings of
 * their own for the scuttled names (confine/app-globals.ts, formats/app-scope.ts), read
 * through the holder. Confined packages are not affected at all: their globals come
 * from the holder, which keeps every scuttled value.
 */

export interface ScuttleOptions {
  enabled: boolean;
  exceptions: readonly string[];
  scuttlerName?: string | undefined;
}

/** ECMAScript (and engine) globals: never scuttled. Names absent on this Node are ignored. */
export const INTRINSIC_GLOBALS: readonly string[] = [
  'globalThis', 'Infinity', 'NaN', 'undefined',
  'eval', 'isFinite', 'isNaN', 'parseFloat', 'parseInt',
  'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape',
  'AggregateError', 'Array', 'ArrayBuffer', 'AsyncDisposableStack', 'Atomics', 'BigInt', 'BigInt64Array',
  'BigUint64Array', 'Boolean', 'DataView', 'Date', 'DisposableStack', 'Error', 'EvalError',
  'FinalizationRegistry', 'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Int8Array',
  'Int16Array', 'Int32Array', 'Intl', 'Iterator', 'JSON', 'Map', 'Math', 'Number', 'Object', 'Promise',
  'Proxy', 'RangeError', 'ReferenceError', 'Reflect', 'RegExp', 'Set', 'SharedArrayBuffer', 'String',
  'SuppressedError', 'Symbol', 'SyntaxError', 'Temporal', 'TypeError', 'Uint8Array', 'Uint8ClampedArray',
  'Uint16Array', 'Uint32Array', 'URIError', 'WeakMap', 'WeakRef', 'WeakSet', 'WebAssembly',
];

/** Globals SES installs on the real global object. */
export const SES_GLOBALS: readonly string[] = [
  'lockdown', 'repairIntrinsics', 'hardenIntrinsics', 'harden', 'Compartment', 'assert',
  'getStackString', 'ModuleSource', 'HandledPromise',
];

/**
 * Host globals that Node's own JavaScript reads by name at run time, plus the timers,
 * `queueMicrotask` and `console`. test/unit/scuttle.test.mjs checks this list against
 * the free globals of the code bundled in the running Node binary.
 */
export const NODE_GLOBALS: readonly string[] = [
  'console',
  'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'queueMicrotask',
  // Read by undici (fetch, Request, Response, WebSocket) and cjs-module-lexer. `global`
  // (undici reads `global.FinalizationRegistry`) is only another name for the global
  // object: whoever can read it already holds the global object.
  'global', 'URL', 'URLSearchParams', 'Buffer', 'AbortController', 'AbortSignal', 'Blob', 'File', 'DOMException',
  'Event', 'EventTarget', 'MessagePort', 'ReadableStream', 'TransformStream', 'performance',
];

/**
 * Globals this runtime's own compiled modules read by name after start-up. `process`
 * is here only because some of them (resolve, cache, error printing, the format
 * parsers) use the global `process` rather than `import process from 'node:process'`;
 * once they import it, remove it from this list and scuttling removes `process` too
 * (test/unit/scuttle.test.mjs says when that is possible).
 */
export const RUNTIME_GLOBALS: readonly string[] = [];

// ---------------------------------------------------------------------------------
// Exceptions

const REGEX_EXCEPTION = /^\/(.+)\/([a-z]*)$/s;

/** What is wrong with an `exceptions` entry, or undefined when it is valid. */
export function exceptionProblem(value: unknown): string | undefined {
  const expected = 'expected a property name or a "/pattern/flags" string';
  if (typeof value !== 'string') return `${JSON.stringify(value) ?? String(value)} is not allowed; ${expected}`;
  if (value === '') return `the empty string is not allowed; ${expected}`;
  if (!value.startsWith('/')) return undefined;
  const match = REGEX_EXCEPTION.exec(value);
  if (!match) return `${JSON.stringify(value)} starts with "/" but is not a "/pattern/flags" regular expression`;
  const [, pattern, flags] = match as unknown as [string, string, string];
  if (/[gy]/.test(flags)) {
    return `${JSON.stringify(value)}: the flags "g" and "y" make a regular expression stateful; leave them out`;
  }
  try {
    new RegExp(pattern, flags);
  } catch (error) {
    return `${JSON.stringify(value)} is not a valid regular expression (${(error as Error).message})`;
  }
  return undefined;
}

/** A name, or a RegExp for a `"/pattern/flags"` entry (validate with {@link exceptionProblem} first). */
export function parseException(value: string): string | RegExp {
  const match = value.startsWith('/') ? REGEX_EXCEPTION.exec(value) : null;
  if (!match) return value;
  return new RegExp(match[1]!, match[2]!);
}

const matcher = (exceptions: readonly string[]): ((name: string) => boolean) => {
  const names = new Set<string>();
  const patterns: RegExp[] = [];
  for (const exception of exceptions) {
    const problem = exceptionProblem(exception);
    if (problem) throw new TypeError(`LavaMoat: scuttleGlobalThis.exceptions: ${problem}`);
    const parsed = parseException(exception);
    if (typeof parsed === 'string') names.add(parsed);
    else patterns.push(parsed);
  }
  return (name) => names.has(name) || patterns.some((pattern) => pattern.test(name));
};

// ---------------------------------------------------------------------------------
// The holder of the host's globals

export interface HostGlobalsHolder {
  /**
   * What the runtime reads the host's globals through (`Runtime`'s `host`): reads and
   * writes go to the real global object, except for properties scuttling removed,
   * whose values the holder keeps.
   */
  readonly globals: Record<PropertyKey, unknown>;
  /**
   * Keeps `name`'s property (as `descriptor` describes it) before scuttling removes it
   * from the real global. An accessor is read when first asked for (Node's lazy
   * globals load their module then), not at start-up.
   */
  keep(name: string | symbol, descriptor: PropertyDescriptor): void;
  /** Called with each name and value written through the holder to a kept name. */
  onWrite(listener: (name: string | symbol, value: unknown) => void): void;
}

interface Slot {
  value?: unknown;
  getter?: (() => unknown) | undefined;
}

/**
 * The value of a global accessor that scuttling replaced. Node's lazy globals load
 * their module on the first read and then try to redefine themselves on the global,
 * which a scuttled global refuses (the property is no longer configurable): the first
 * read throws after loading, and the second returns the value it loaded.
 */
function readScuttledAccessor(getter: () => unknown, realm: object): unknown {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      return Reflect.apply(getter, realm, []);
    } catch {
      // loaded, but could not redefine itself: read again
    }
  }
  return undefined;
}

/**
 * A holder of `realGlobal`'s properties, made before lockdown and handed to the
 * runtime instead of the global object itself. Until scuttling it reads through to the
 * real global (so the app can still set a global up for a package that reads it, as
 * under LavaMoat); after scuttling, the removed properties keep answering from it.
 */
/**
 * Each holder's reader of one global, for the views that read a global at every call of a
 * member (`process.hrtime()` reads `process` twice: endowments.ts): a function, where the
 * proxy's trap and its `Reflect.get` on the global object cost about 130 ns a read.
 */
const readers = new WeakMap<object, (key: string) => unknown>();

/** The reader of the holder whose proxy is `globals` (undefined for any other object). */
export const hostGlobalReader = (globals: object): ((key: string) => unknown) | undefined => readers.get(globals);

export function makeHostGlobals(realGlobal: object): HostGlobalsHolder {
  const saved = new Map<string | symbol, Slot>();
  const listeners: ((name: string | symbol, value: unknown) => void)[] = [];
  const read = (slot: Slot): unknown => {
    const getter = slot.getter;
    if (getter) {
      // Cleared once it has answered, not before: the runtime reads the same global again
      // while the getter's own load runs (boundary.ts hardens its class there).
      const value = readScuttledAccessor(getter, realGlobal);
      if (slot.getter === getter) {
        slot.getter = undefined;
        slot.value = value;
      }
    }
    return slot.value;
  };
  const write = (key: string | symbol, slot: Slot, value: unknown): void => {
    slot.getter = undefined;
    slot.value = value;
    for (const listener of listeners) listener(key, value);
  };
  const globals = new Proxy(Object.create(null) as Record<PropertyKey, unknown>, {
    get(_target, key) {
      const slot = saved.get(key);
      return slot ? read(slot) : Reflect.get(realGlobal, key, realGlobal);
    },
    set(_target, key, value) {
      const slot = saved.get(key);
      if (slot) {
        write(key, slot, value);
        return true;
      }
      return Reflect.set(realGlobal, key, value, realGlobal);
    },
    has(_target, key) {
      return saved.has(key) || Reflect.has(realGlobal, key);
    },
    ownKeys() {
      return [...new Set([...Reflect.ownKeys(realGlobal), ...saved.keys()])];
    },
    getOwnPropertyDescriptor(_target, key) {
      const slot = saved.get(key);
      if (slot) return { value: read(slot), writable: true, enumerable: false, configurable: true };
      const descriptor = Reflect.getOwnPropertyDescriptor(realGlobal, key);
      return descriptor ? { ...descriptor, configurable: true } : undefined;
    },
    defineProperty: () => false,
    deleteProperty: () => false,
    setPrototypeOf: () => false,
  });
  readers.set(globals, (key) => {
    if (saved.size === 0) return (realGlobal as Record<string, unknown>)[key];
    const slot = saved.get(key);
    return slot ? read(slot) : (realGlobal as Record<string, unknown>)[key];
  });
  return {
    globals,
    keep(name, descriptor) {
      saved.set(name, 'value' in descriptor ? { value: descriptor.value } : { getter: descriptor.get });
    },
    onWrite(listener) {
      listeners.push(listener);
    },
  };
}

// ---------------------------------------------------------------------------------
// Scuttling

export interface ScuttleResult {
  /** Deleted from the global object. */
  removed: string[];
  /** Not deletable: replaced by a throwing value and made read-only. */
  replaced: string[];
  /** Neither deletable nor writable: value frozen. */
  frozen: string[];
  /** Left in place: always kept, or matched by an exception. */
  kept: string[];
}

/** Names that are never scuttled in `realm`, whatever the exceptions say. */
export function alwaysKept(realm: object): Set<string> {
  const keep = new Set<string>([...INTRINSIC_GLOBALS, ...SES_GLOBALS, ...NODE_GLOBALS, ...RUNTIME_GLOBALS]);
  // LavaMoat's rule: whatever a new Compartment shares with this global is an intrinsic.
  const CompartmentCtor = (realm as { Compartment?: new () => { globalThis: object } }).Compartment;
  if (typeof CompartmentCtor === 'function') {
    const compartmentGlobal = new CompartmentCtor().globalThis as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(compartmentGlobal)) {
      const descriptor = Object.getOwnPropertyDescriptor(realm, name);
      if (descriptor && 'value' in descriptor && descriptor.value === compartmentGlobal[name]) keep.add(name);
    }
  }
  return keep;
}

/** What code that reaches a scuttled name gets: the name, and how to keep it. */
export function scuttledMessage(name: string): string {
  return (
    `LavaMoat: globalThis.${name} is inaccessible under scuttling (scuttleGlobalThis): ` +
    `add ${JSON.stringify(name)} to scuttleGlobalThis.exceptions to keep it`
  );
}

function throwingValue(name: string): unknown {
  const fail = (): never => {
    throw new TypeError(scuttledMessage(name));
  };
  return new Proxy(function scuttled() {}, {
    get: fail, set: fail, has: fail, apply: fail, construct: fail, ownKeys: fail, getPrototypeOf: fail,
    getOwnPropertyDescriptor: fail, defineProperty: fail, deleteProperty: fail, setPrototypeOf: fail,
    isExtensible: fail, preventExtensions: fail,
  });
}

/** Scuttled properties answer with their old value while this is above zero (runUnscuttled). */
let unscuttledDepth = 0;

/**
 * Runs `fn` with the scuttled properties answering as before, then scuttled again.
 * For the runtime's own code that Node loads after scuttling and that reads globals by
 * name (Babel, when a module is compiled on a cache miss). `fn` must be synchronous
 * and run no package or app code: nothing else can run meanwhile.
 */
export function runUnscuttled<T>(fn: () => T): T {
  unscuttledDepth += 1;
  try {
    return fn();
  } finally {
    unscuttledDepth -= 1;
  }
}

/** What scuttling does to `name` of `realm`, or undefined when it leaves it in place. */
function scuttleKind(realm: object, name: string, keep: ReadonlySet<string>, excepted: (name: string) => boolean) {
  if (keep.has(name) || excepted(name)) return undefined;
  const descriptor = Object.getOwnPropertyDescriptor(realm, name)!;
  if (descriptor.configurable) return 'removed' as const;
  if ('value' in descriptor && descriptor.writable) return 'replaced' as const;
  return 'frozen' as const;
}

/**
 * The names of `realm` that scuttling with `exceptions` takes away (made throwing
 * accessors or throwing values): what the app's own modules get bindings for
 * (loader/app-globals.ts).
 */
export function scuttledNames(realm: object, exceptions: readonly string[]): string[] {
  const keep = alwaysKept(realm);
  const excepted = matcher(exceptions);
  return Object.getOwnPropertyNames(realm).filter((name) => {
    const kind = scuttleKind(realm, name, keep, excepted);
    return kind === 'removed' || kind === 'replaced';
  });
}

/**
 * Scuttles `realm` (a global object), as LavaMoat does: each name not kept becomes a
 * non-configurable accessor that throws a TypeError naming it (a non-configurable
 * writable value becomes a throwing value; a constant is frozen). `host`, when given,
 * first keeps every such property for the runtime and the app (see makeHostGlobals).
 */
export function performScuttle(realm: object, exceptions: readonly string[], host?: { holder: HostGlobalsHolder; scuttled?: () => void }): ScuttleResult {
  const keep = alwaysKept(realm);
  const excepted = matcher(exceptions);
  const result: ScuttleResult = { removed: [], replaced: [], frozen: [], kept: [] };
  for (const name of Object.getOwnPropertyNames(realm)) {
    const kind = scuttleKind(realm, name, keep, excepted);
    if (kind === undefined) {
      result.kept.push(name);
      continue;
    }
    const descriptor = Object.getOwnPropertyDescriptor(realm, name)!;
    if (kind !== 'frozen') host?.holder.keep(name, descriptor);
    if (kind === 'removed') {
      const fail = (): never => {
        throw new TypeError(scuttledMessage(name));
      };
      const original = (): unknown =>
        'value' in descriptor ? descriptor.value : descriptor.get ? readScuttledAccessor(descriptor.get, realm) : undefined;
      Object.defineProperty(realm, name, {
        get: () => (unscuttledDepth > 0 ? original() : fail()),
        set: fail,
        enumerable: descriptor.enumerable === true,
        configurable: false,
      });
      result.removed.push(name);
    } else if (kind === 'replaced') {
      Object.defineProperty(realm, name, { value: throwingValue(name), writable: false });
      result.replaced.push(name);
    } else {
      const value = 'value' in descriptor ? descriptor.value : undefined;
      if ((typeof value === 'object' && value !== null) || typeof value === 'function') Object.freeze(value);
      result.frozen.push(name);
    }
  }
  // The global scope looks names up through the global object's prototype chain too.
  for (let proto = Object.getPrototypeOf(realm); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    Object.freeze(proto);
  }
  host?.scuttled?.();
  return result;
}

export class ScuttleError extends Error {
  readonly code = 'LAVAMOAT_SCUTTLE';
}

/**
 * Applies the `scuttleGlobalThis` option to `realGlobal`. `source` names where
 * `scuttlerName` was configured, for messages. Returns what was done, or undefined
 * when scuttling is off.
 */
export function scuttleGlobalThis(
  realGlobal: typeof globalThis,
  options: ScuttleOptions,
  { holder, source = 'scuttleGlobalThis.scuttlerName', scuttled }: { holder?: HostGlobalsHolder; source?: string; scuttled?: () => void } = {},
): ScuttleResult | undefined {
  if (!options.enabled) return undefined;
  const host = holder ? { holder, ...(scuttled && { scuttled }) } : undefined;
  const { scuttlerName } = options;
  if (scuttlerName === undefined || scuttlerName === '') {
    return performScuttle(realGlobal, options.exceptions, host);
  }
  const scuttler = (realGlobal as unknown as Record<string, unknown>)[scuttlerName];
  if (typeof scuttler !== 'function') {
    throw new ScuttleError(
      `LavaMoat: scuttleGlobalThis.scuttlerName is "${scuttlerName}" (from ${source}), but globalThis.${scuttlerName} ` +
        `is ${scuttler === undefined ? 'not defined' : `not a function (${typeof scuttler})`}. Define it before the ` +
        `loader runs, e.g. node --import ./scuttler.mjs --import lavamoat/loader app.mjs`,
    );
  }
  let mainResult: ScuttleResult | undefined;
  const scuttle = (realm: unknown = realGlobal): void => {
    if (realm === null || (typeof realm !== 'object' && typeof realm !== 'function')) {
      throw new TypeError('LavaMoat: scuttle(realm) expects a global object');
    }
    if (realm === realGlobal) {
      if (mainResult) return;
      mainResult = performScuttle(realGlobal, options.exceptions, host);
    } else {
      performScuttle(realm, options.exceptions);
    }
  };
  Reflect.apply(scuttler, undefined, [realGlobal, Object.freeze(scuttle)]);
  if (!mainResult) {
    throw new ScuttleError(
      `LavaMoat: the scuttler globalThis.${scuttlerName} (scuttleGlobalThis.scuttlerName, from ${source}) returned ` +
        'without calling scuttle(globalThis): scuttling was asked for and would not have happened',
    );
  }
  return mainResult;
}

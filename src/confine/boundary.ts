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
 * | `process` members by dotted grant | a view: methods called on the real process, which never leaks back (endowments.ts); `process.env` a view that refuses Node's and the runtime's variables; other objects a read-only view or a frozen copy |
 * | timers | opaque handles, callbacks called with the handle as `this` (shared-globals.ts) |
 * | what Node passes to listeners on host emitters (`process.on`) | data as it is (primitives, errors, plain data, buffers, promises); anything else (another party's function, a worker, a socket) an opaque token |
 * | the real `process`, `globalThis`, `Function`, Node's module loader, native handle classes, Node's `Worker` | never: constructors of native handles and of Node's `Worker` are unreachable (native-handles.ts, workers.ts) |
 *
 * What starts code outside the compartments is confined at its source, for everyone, so
 * that no path to it matters: workers (workers.ts), child processes (child-processes.ts),
 * native handles (native-handles.ts).
 */
import process from 'node:process';
import { builtinModules, createRequire } from 'node:module';
import {
  finishDeferred,
  hardenHostValue,
  hardenPrototypeChain,
  hardenPrototypesWithin,
  neverHarden,
  replaceErrorParent,
} from './host-hardening.js';
import { neutralizeNativeClasses } from './native-handles.js';
import { INTRINSIC_GLOBALS, SES_GLOBALS } from './scuttle.js';

const hostRequire = createRequire(import.meta.url);

const isObject = (value: unknown): value is object =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

const isPlainData = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || Array.isArray(value);
};

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
let sweptLoadCount = -1;

/** Whether builtin `name` is loaded already (its exports exist; requiring it costs nothing). */
function isLoaded(name: string, loaded: ReadonlySet<string>): boolean {
  return loaded.has(`NativeModule ${name}`);
}

/**
 * Hardens the class graphs of builtin `name`'s exports (not the module object, which is
 * the app's): functions and classes, and the prototype chains of instances it exports.
 * Lazy properties (`fs.Dir`) are not triggered; a package's copy of the module reads
 * them, and hands them out through {@link handOutValue}.
 */
export function hardenBuiltin(name: string): void {
  if (hardenedModules.has(name) || NOT_HARDENED.has(name)) return;
  hardenedModules.add(name);
  let real: unknown;
  try {
    real = hostRequire(`node:${name}`);
  } catch {
    return;
  }
  if (typeof real === 'function') {
    hardenHostValue(real);
    return;
  }
  if (!isObject(real)) return;
  for (const key of Reflect.ownKeys(real)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
    if (!descriptor || !('value' in descriptor)) continue;
    const value: unknown = descriptor.value;
    if (typeof value === 'function') hardenHostValue(value);
    else if (isObject(value) && !isPlainData(value)) hardenPrototypeChain(value);
  }
}

/**
 * Host globals whose classes packages reach (through grants, or instances Node returns).
 * The JavaScript intrinsics and SES's own globals are lockdown's business (the host's
 * `Error` keeps a settable stack API that confine/stack-traces.ts uses).
 */
function hardenGlobals(): void {
  const intrinsic = new Set<PropertyKey>([...INTRINSIC_GLOBALS, ...SES_GLOBALS]);
  for (const key of Reflect.ownKeys(globalThis)) {
    if (intrinsic.has(key)) continue;
    const descriptor = Reflect.getOwnPropertyDescriptor(globalThis, key);
    if (!descriptor || !('value' in descriptor)) continue;
    const value: unknown = descriptor.value;
    if (typeof value === 'function') hardenHostValue(value);
  }
}

/**
 * Node classes whose instances hold native objects of classes no module exports (a
 * `BlockList`'s handle, a `Dir`'s directory handle): one sample each, when the module
 * is loaded, so that those prototypes are hardened too.
 */
const MODULE_SAMPLES: Readonly<Record<string, () => unknown[]>> = {
  net: () => {
    const net = hostRequire('node:net') as typeof import('node:net');
    return [new net.BlockList(), new (net.SocketAddress as unknown as new () => object)()];
  },
  v8: () => {
    const v8 = hostRequire('node:v8') as typeof import('node:v8');
    return [new v8.Serializer(), new v8.Deserializer(Buffer.alloc(0))];
  },
  fs: () => {
    const fs = hostRequire('node:fs') as typeof import('node:fs');
    const dir = fs.opendirSync('/');
    const sample = [dir];
    dir.closeSync();
    return sample;
  },
  buffer: () => [new (hostRequire('node:buffer') as typeof import('node:buffer')).Blob([])],
};

function sample(name: string): void {
  const make = MODULE_SAMPLES[name];
  if (!make) return;
  try {
    for (const instance of make()) hardenPrototypesWithin(instance, 2);
  } catch {
    // Not in this Node.
  }
}

let globalsHardened = false;

/**
 * Hardens every builtin module loaded since the last sweep (and the host's global
 * classes, once). Runs before any package code, and again wherever a new builtin can
 * have been loaded since (a package's builtin import, the app's `require` or `import`
 * of a builtin): cheap when nothing new was loaded.
 */
export function sweepHost(): void {
  const loadList = (process as unknown as { moduleLoadList?: readonly string[] }).moduleLoadList;
  if (!loadList) return;
  if (loadList.length === sweptLoadCount) return;
  sweptLoadCount = loadList.length;
  if (!globalsHardened) {
    globalsHardened = true;
    hardenGlobals();
  }
  const loaded = new Set(loadList);
  finishDeferred(loaded);
  for (const name of builtinModules) {
    if (!hardenedModules.has(name) && !name.startsWith('_') && isLoaded(name, loaded)) {
      hardenBuiltin(name);
      sample(name);
    }
  }
}

/** What a package receives for a host value it reaches through a grant (see the table above). */
export function handOutValue<T>(value: T): T {
  if (!isObject(value)) return value;
  if (typeof value === 'function') hardenHostValue(value);
  else if (!isPlainData(value)) hardenPrototypeChain(value);
  return value;
}

// ---------------------------------------------------------------------------------
// Leaves of dotted grants of host objects (`process.env`, `process.stdout`, `process.argv`)

function frozenCopy(value: object, seen = new WeakMap<object, object>()): object {
  const known = seen.get(value);
  if (known) return known;
  const copy: Record<PropertyKey, unknown> = Array.isArray(value) ? ([] as unknown as Record<PropertyKey, unknown>) : {};
  seen.set(value, copy);
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    copy[key] = isObject(item) && typeof item !== 'function' && isPlainData(item) ? frozenCopy(item, seen) : handOutValue(item);
  }
  return Object.freeze(copy);
}

const readOnlyViews = new WeakMap<object, object>();

/**
 * A host instance reached by a dotted grant (`process.stdout`): reads and method calls
 * reach the real object (methods are called on it, getters see it), but the package can
 * neither assign, define nor delete anything on it: the app's `stdout.write` stays the
 * app's.
 */
function readOnlyView(target: object): object {
  hardenPrototypeChain(target);
  let view = readOnlyViews.get(target);
  if (view) return view;
  const methods = new WeakMap<Function, Function>();
  const refuse = (): boolean => false;
  const proxy: object = new Proxy(target, {
    get(real, key) {
      const value: unknown = Reflect.get(real, key, real);
      if (typeof value !== 'function') return value;
      const own = Reflect.getOwnPropertyDescriptor(real, key);
      if (own && !own.configurable && !own.writable) return value; // a proxy may not answer otherwise
      let method = methods.get(value);
      if (!method) {
        method = function (this: unknown, ...args: unknown[]) {
          return Reflect.apply(value, this === proxy ? real : this, args);
        };
        methods.set(value, method);
      }
      return method;
    },
    set: refuse,
    defineProperty: refuse,
    deleteProperty: refuse,
    setPrototypeOf: refuse,
    preventExtensions: refuse,
  });
  view = proxy;
  readOnlyViews.set(target, view);
  return view;
}

/**
 * A leaf of a dotted grant of a host global: `process.env` as its view, plain data
 * (`process.argv`, `process.versions`) as a frozen copy read now, another host object as
 * a read-only view; functions are wrapped by the view that holds them (endowments.ts).
 */
export function hostLeaf(value: unknown): unknown {
  if (!isObject(value)) return value;
  if (typeof value === 'function') return handOutValue(value);
  if (value === process.env) return envFor(value);
  if (isPlainData(value)) return frozenCopy(value);
  return readOnlyView(value);
}

// ---------------------------------------------------------------------------------
// What Node passes to a package's listeners on host emitters

const tokens = new WeakMap<object, object>();

/**
 * A stand-in for a host object a package may know of but not use: the same token for
 * the same object (so it can be compared, or used as a WeakMap key), and nothing else.
 */
export function opaque(value: object): object {
  let token = tokens.get(value);
  if (!token) {
    token = Object.freeze(Object.create(null, { [Symbol.toStringTag]: { value: 'LavaMoat opaque' } }) as object);
    tokens.set(value, token);
  }
  return token;
}

/** Data: what can cross as it is. Everything else crosses as an opaque token. */
function isData(value: object): boolean {
  if (Array.isArray(value) || isPlainData(value)) return true;
  return (
    value instanceof Error ||
    value instanceof Promise ||
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof Map ||
    value instanceof Set
  );
}

/**
 * An argument (or result) the host passes to a package's callback: data as it is;
 * another party's function, or a host object such as the app's worker or socket, as an
 * opaque token. `own` gives back the package's own functions (a listener it registered,
 * returned by `process.listeners()`).
 */
export function deliver(value: unknown, own?: (fn: Function) => Function | undefined): unknown {
  if (!isObject(value)) return value;
  if (typeof value === 'function') return own?.(value) ?? opaque(value);
  if (Array.isArray(value)) {
    return value.some((item) => isObject(item) && (typeof item === 'function' || !isData(item)))
      ? value.map((item) => deliver(item, own))
      : value;
  }
  if (isData(value)) {
    if (value instanceof Error) hardenPrototypeChain(value);
    return value;
  }
  return opaque(value);
}

// ---------------------------------------------------------------------------------
// Before any package runs

/** Variables that decide how the next `node` process (or any child) starts: the runtime's, never a package's. */
const PROTECTED_ENV = /^(?:NODE_(?!ENV$)|LAVAMOAT_|UV_|OPENSSL_|SSL_CERT_|LD_|DYLD_)/;

export class ProtectedEnvironmentError extends TypeError {
  readonly code = 'LAVAMOAT_PROTECTED_ENV';
}

export const isProtectedEnvName = (name: PropertyKey): boolean => typeof name === 'string' && PROTECTED_ENV.test(name);

let envView: object | undefined;
let envTarget: object | undefined;

/**
 * `process.env` as a package sees it: LavaMoat's semantics (a read grant may write, as
 * dotenv does), except for the variables that decide how the next process starts
 * (`NODE_OPTIONS`, `LAVAMOAT_*`, Node's, libuv's, OpenSSL's and the dynamic loader's),
 * which only the app may change.
 */
export function envFor(env: object): object {
  if (envView && envTarget === env) return envView;
  const refuse = (key: PropertyKey): never => {
    throw new ProtectedEnvironmentError(
      `LavaMoat: packages may not change process.env.${String(key)}: it decides how the next process starts, ` +
        "and only the app's own code may set it",
    );
  };
  envTarget = env;
  envView = new Proxy(env, {
    set: (target, key, value) => (isProtectedEnvName(key) ? refuse(key) : Reflect.set(target, key, value)),
    defineProperty: (target, key, descriptor) => (isProtectedEnvName(key) ? refuse(key) : Reflect.defineProperty(target, key, descriptor)),
    deleteProperty: (target, key) => (isProtectedEnvName(key) ? refuse(key) : Reflect.deleteProperty(target, key)),
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });
  return envView;
}

/**
 * Boot-time taming, after lockdown and before any package code: what reaches the next
 * process or worker, native handles, and the `fs` module object (its streams carry it:
 * `stream[kFs]` is the module itself, the only Node object that stores a module; a
 * package holding any file stream would otherwise reach the app's `fs`).
 */
export function prepareHost({ preloadDomain, feralError }: { preloadDomain: boolean; feralError: Function }): void {
  replaceErrorParent(feralError, (Error.prototype as { constructor: Function }).constructor);
  const Module = hostRequire('node:module') as { prototype: object };
  for (const live of [Module, Module.prototype, process, globalThis]) neverHarden(live);
  // The JavaScript intrinsics are lockdown's: what it left changeable (the host's
  // `Error` stack API, which confine/stack-traces.ts sets) stays so.
  for (const name of [...INTRINSIC_GLOBALS, ...SES_GLOBALS]) {
    const value = (globalThis as Record<string, unknown>)[name];
    if (isObject(value)) neverHarden(value);
  }
  // fork() and workers read it as the default for their own arguments.
  Object.freeze(process.execArgv);
  // Its variables may change (LavaMoat's semantics, envFor), the object may not be
  // replaced: children inherit whatever `process.env` is, and the runtime's marker in it.
  Object.defineProperty(process, 'env', { value: process.env, writable: false, configurable: false });
  // node:domain patches EventEmitter when it loads, which it cannot once events is
  // hardened: a policy that grants it gets it loaded first.
  if (preloadDomain) hostRequire('node:domain');
  neutralizeNativeClasses();
  const fs = hostRequire('node:fs') as Record<string, unknown>;
  for (const key of Object.keys(fs)) void fs[key]; // lazy exports become data first
  // `fs.ReadStream = X` sets the class createReadStream uses: its accessors become
  // read-only data (the class they hold now).
  for (const key of Reflect.ownKeys(fs)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(fs, key);
    if (descriptor?.set && descriptor.configurable) {
      Object.defineProperty(fs, key, { value: fs[key as string], writable: false, enumerable: descriptor.enumerable, configurable: false });
    }
  }
  hardenBuiltin('fs');
  for (const key of Reflect.ownKeys(fs)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(fs, key);
    if (descriptor && !('value' in descriptor)) hardenHostValue(descriptor.get);
  }
  hardenHostValue(fs.constants);
  Object.freeze(fs.promises);
  Object.freeze(fs);
  // process.env's prototype is an object of Node's own, reachable from the env view.
  hardenHostValue(Object.getPrototypeOf(process.env));
}

/** Prototypes Node creates only with an instance, hardened from a sample before any package runs. */
export async function hardenSampledClasses(hostGlobals: Record<PropertyKey, unknown>): Promise<void> {
  const fs = hostRequire('node:fs') as typeof import('node:fs');
  const handle = await fs.promises.open(new URL(import.meta.url), 'r');
  try {
    hardenPrototypesWithin(handle);
  } finally {
    await handle.close();
  }
  // Their lists (TimersList, ImmediateList) too.
  const timeout = setTimeout(() => {}, 0);
  hardenPrototypesWithin(timeout);
  clearTimeout(timeout);
  const immediate = setImmediate(() => {});
  hardenPrototypesWithin(immediate);
  clearImmediate(immediate);
  // What fetch hands out holds undici's own classes (its header list, body state).
  const web = hostGlobals as Record<string, new (...args: unknown[]) => object>;
  const samples = [
    () => new web.Response!(''),
    () => (new web.Response!('x') as { body?: unknown }).body,
    () => new web.Request!('http://127.0.0.1/'),
    () => new web.Headers!(),
    () => new web.ReadableStream!(),
    () => new web.WritableStream!(),
  ];
  for (const sample of samples) {
    try {
      hardenPrototypesWithin(sample(), 4);
    } catch {
      // Not in this Node.
    }
  }
  const asyncHooks = hostRequire('node:async_hooks') as typeof import('node:async_hooks');
  hardenPrototypeChain(asyncHooks.createHook({}));
  // A channel's prototype changes while it has subscribers (Node's ActiveChannel).
  const dc = hostRequire('node:diagnostics_channel') as typeof import('node:diagnostics_channel');
  const channel = dc.channel(Symbol('lavamoat sample'));
  const noop = (): void => {};
  channel.subscribe(noop);
  hardenPrototypeChain(channel);
  channel.unsubscribe(noop);
  hardenPrototypeChain(channel);
}

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
import { neutralizeNativeClasses, refuseEngineMethods } from './native-handles.js';
import { INTRINSIC_GLOBALS, SES_GLOBALS } from './scuttle.js';
import { guardFeralError } from './stack-traces.js';
import { opaque } from './opaque.js';
import { restrictAsyncLocalStorage, restrictPerformanceObserver } from './observation.js';

export { opaque } from './opaque.js';
import { fileURLToPath } from 'node:url';

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
  sample(name);
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
    dir.closeSync();
    // What fs.watch and fs.watchFile return: classes fs does not export.
    const watcher = fs.watch('/');
    watcher.close();
    const listener = (): void => {};
    const statWatcher = fs.watchFile('/', { persistent: false }, listener);
    fs.unwatchFile('/', listener);
    return [dir, watcher, statWatcher];
  },
  perf_hooks: () => {
    const perf = hostRequire('node:perf_hooks') as typeof import('node:perf_hooks');
    restrictPerformanceObserver(perf.PerformanceObserver as never);
    const delay = perf.monitorEventLoopDelay();
    return [perf.createHistogram(), delay];
  },
  buffer: () => [new (hostRequire('node:buffer') as typeof import('node:buffer')).Blob([])],
  tls: () => {
    refuseOpenSslEngines();
    return [];
  },
  // Native classes of crypto and the HTTP parser, which Node 24's process.binding no
  // longer lists: from instances (their handles), so that no method of the app's hashes,
  // ciphers or request parsers can be replaced.
  crypto: () => {
    const crypto = hostRequire('node:crypto') as typeof import('node:crypto');
    const key = Buffer.alloc(16);
    return [
      crypto.createHash('sha256'),
      crypto.createHmac('sha256', key),
      crypto.createCipheriv('aes-128-cbc', key, key),
      crypto.createDecipheriv('aes-128-cbc', key, key),
      crypto.createSign('sha256'),
      crypto.createVerify('sha256'),
      crypto.createECDH('prime256v1'),
      crypto.getDiffieHellman('modp14'),
      crypto.createSecretKey(key),
    ];
  },
  http: () => {
    const common = hostRequire('_http_common') as { HTTPParser?: new () => object };
    return common.HTTPParser ? [new common.HTTPParser()] : [];
  },
  async_hooks: () => {
    restrictAsyncLocalStorage((hostRequire('node:async_hooks') as typeof import('node:async_hooks')).AsyncLocalStorage as never);
    return [];
  },
  util: () => {
    // The one inspect option that takes a function (a comparator): set by a package,
    // every app `console.log` would hand it the formatted entries. Pinned for everyone.
    const { inspect } = hostRequire('node:util') as typeof import('node:util');
    Object.defineProperty(inspect.defaultOptions, 'sorted', { value: false, writable: false, configurable: false });
    return [];
  },
};

/**
 * OpenSSL engines are shared libraries OpenSSL loads into the process: native code, with
 * no `native` grant in sight (`tls.createSecureContext({ privateKeyEngine })`,
 * `https.request({ clientCertEngine })`). The two native methods every such path ends in
 * refuse, for everyone: which package asked cannot be told reliably at that point, and
 * OpenSSL 3 deprecates engines. `crypto.setEngine` is refused in packages' copies of
 * `crypto` unless their policy grants `native` (builtin-adapters.ts).
 */
function refuseOpenSslEngines(): void {
  const tls = hostRequire('node:tls') as typeof import('node:tls');
  refuseEngineMethods(Object.getPrototypeOf((tls.createSecureContext() as unknown as { context: object }).context) as object);
}

const sampled = new Set<string>();

function sample(name: string): void {
  const make = MODULE_SAMPLES[name];
  if (!make || sampled.has(name)) return;
  sampled.add(name);
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
  const loaded = new Set(loadList);
  finishDeferred(loaded);
  const fresh = builtinModules.filter((name) => !hardenedModules.has(name) && !name.startsWith('_') && isLoaded(name, loaded));
  // Modules whose classes are adjusted before anything freezes them (a global can be
  // the same class as a module's: PerformanceObserver).
  for (const name of fresh) sample(name);
  if (!globalsHardened) {
    globalsHardened = true;
    hardenGlobals();
  }
  for (const name of fresh) hardenBuiltin(name);
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

/** Node's convention for internals (`_writableState`, `_handle`, symbol-keyed slots). */
const isInternalKey = (key: PropertyKey): boolean => typeof key === 'symbol' || String(key).startsWith('_') || key === 'writableBuffer';

/**
 * A host instance reached by a dotted grant (`process.stdout`): its public API on the real
 * object (methods are called on it, getters see it), nothing else. The package can
 * neither assign, define nor delete anything on it (the app's `stdout.write` stays the
 * app's), does not see its internals (`_writableState` holds what the app writes,
 * `_handle` the native stream), and what the instance hands to callbacks goes through
 * {@link deliver} (a `'pipe'` event carries the app's stream).
 */
function readOnlyView(target: object): object {
  hardenPrototypeChain(target);
  let view = readOnlyViews.get(target);
  if (view) return view;
  const methods = new WeakMap<Function, Function>();
  const guarded = new WeakMap<Function, Function>();
  const originals = new WeakMap<Function, Function>();
  const own = (fn: Function): Function | undefined => originals.get(fn);
  const refuse = (): boolean => false;
  const hidden = (real: object, key: PropertyKey): boolean => {
    if (!isInternalKey(key)) return false;
    const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
    return !descriptor || descriptor.configurable === true; // a proxy must show what is fixed
  };
  const guard = (callback: unknown): unknown => {
    if (typeof callback !== 'function') return callback;
    let wrapped = guarded.get(callback);
    if (!wrapped) {
      wrapped = function (this: unknown, ...args: unknown[]) {
        return Reflect.apply(callback, this === target ? proxy : deliver(this, own), args.map((arg) => deliver(arg, own)));
      };
      guarded.set(callback, wrapped);
      originals.set(wrapped, callback);
    }
    return wrapped;
  };
  const proxy: object = new Proxy(target, {
    get(real, key) {
      if (hidden(real, key)) return undefined;
      const value: unknown = Reflect.get(real, key, real);
      if (typeof value !== 'function') return value;
      const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
      if (descriptor && !descriptor.configurable && !descriptor.writable) return value; // a proxy may not answer otherwise
      let method = methods.get(value);
      if (!method) {
        method = function (this: unknown, ...args: unknown[]) {
          const result: unknown = Reflect.apply(value, this === proxy ? real : this, args.map(guard));
          return result === real ? proxy : deliver(result, own);
        };
        methods.set(value, method);
      }
      return method;
    },
    has: (real, key) => !hidden(real, key) && Reflect.has(real, key),
    ownKeys: (real) => Reflect.ownKeys(real).filter((key) => !hidden(real, key)),
    getOwnPropertyDescriptor: (real, key) => (hidden(real, key) ? undefined : Reflect.getOwnPropertyDescriptor(real, key)),
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

/** Values that hold nothing but themselves: they cross as they are. */
function isAtom(value: object): boolean {
  return value instanceof Promise || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp;
}

/** How deep `deliver` copies plain data and errors (what Node delivers is shallow). */
const DELIVER_DEPTH = 4;

/**
 * An argument (or result) the host passes to a package's callback, as the package may
 * hold it: primitives and atoms (buffers, dates, promises) as they are; plain objects,
 * arrays and errors as copies whose values are delivered the same way (an error keeps its
 * prototype, name, message, stack and code, so `instanceof` and printing work; a
 * `MaxListenersExceededWarning` carries the emitter, which must not cross); another
 * party's function, or a host object such as the app's worker or socket, as an opaque
 * token. `own` gives back the package's own functions (a listener it registered,
 * returned by `process.listeners()`).
 */
export function deliver(value: unknown, own?: (fn: Function) => Function | undefined, depth = 0): unknown {
  if (!isObject(value)) return value;
  if (typeof value === 'function') return own?.(value) ?? opaque(value);
  if (isAtom(value)) return value;
  if (depth >= DELIVER_DEPTH) return opaque(value);
  if (Array.isArray(value)) return value.map((item) => deliver(item, own, depth + 1));
  const isError = value instanceof Error;
  if (!isError && !isPlainData(value)) return opaque(value);
  if (isError) hardenPrototypeChain(value);
  const copy = Object.create(Object.getPrototypeOf(value) as object | null) as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'symbol') continue;
    let item: unknown;
    let enumerable = true;
    try {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      enumerable = descriptor?.enumerable ?? true;
      // A getter is the host's code: its value is read here, once.
      item = descriptor && 'value' in descriptor ? descriptor.value : (value as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    Object.defineProperty(copy, key, { value: deliver(item, own, depth + 1), writable: true, enumerable, configurable: true });
  }
  return copy;
}

// ---------------------------------------------------------------------------------
// Before any package runs

/**
 * Variables that decide which program a child process runs, or what it loads before its
 * own code: the runtime's and the app's, never a package's. Node's own (`NODE_OPTIONS`,
 * `NODE_TLS_REJECT_UNAUTHORIZED`, ... but not the `NODE_ENV` convention), the runtime's,
 * libuv's and OpenSSL's, the dynamic loader's, the command search path, what shells, git,
 * npm, Python, Perl, Ruby and Java read to run code at start-up, and proxies (a child's
 * or, on Node 24, this process's traffic).
 */
const PROTECTED_ENV =
  /^(?:NODE_(?!ENV$)|LAVAMOAT_|UV_|OPENSSL_|SSL_CERT_|LD_|DYLD_|PATH$|PATHEXT$|SHELL$|COMSPEC$|BASH_ENV$|ENV$|IFS$|PS4$|PROMPT_COMMAND$|GIT_|NPM_CONFIG_|PYTHON|PERL5|PERLLIB$|RUBYOPT$|RUBYLIB$|JAVA_TOOL_OPTIONS$|_JAVA_OPTIONS$|JDK_JAVA_OPTIONS$|(?:HTTPS?|ALL|NO)_PROXY$)/i;

export class ProtectedEnvironmentError extends TypeError {
  readonly code = 'LAVAMOAT_PROTECTED_ENV';
}

export const isProtectedEnvName = (name: PropertyKey): boolean => typeof name === 'string' && PROTECTED_ENV.test(name);

let envView: object | undefined;
let envTarget: object | undefined;

/**
 * `process.env` as a package sees it: LavaMoat's semantics (a read grant may write, as
 * dotenv does), except for the variables that decide how the next process starts, which
 * only the app may change.
 */
export function envFor(env: object): object {
  // (`PROTECTED_ENV` lists them; see there.)
  if (envView && envTarget === env) return envView;
  const refuse = (key: PropertyKey): never => {
    throw new ProtectedEnvironmentError(
      `LavaMoat: packages may not change process.env.${String(key)}: it decides how the next process starts, ` +
        "and only the app's own code may set it",
    );
  };
  envTarget = env;
  // Setting a protected variable to the value it has changes nothing (debug re-saves DEBUG).
  const same = (target: object, key: PropertyKey, value: unknown): boolean =>
    typeof key === 'string' && (target as Record<string, unknown>)[key] === String(value);
  envView = new Proxy(env, {
    set: (target, key, value) => (isProtectedEnvName(key) && !same(target, key, value) ? refuse(key) : Reflect.set(target, key, value)),
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
  const runtimeCode = new URL('../', import.meta.url).href;
  guardFeralError(feralError as never, (file) => file !== undefined && (file.startsWith(runtimeCode) || file.startsWith(fileURLToPath(runtimeCode))));
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

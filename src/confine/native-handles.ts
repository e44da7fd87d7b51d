/**
 * Node's native handle classes, made impossible to construct from JavaScript.
 *
 * Every socket, child process, worker, file handle and script Node creates holds a
 * native handle (`socket._handle`, `child[kHandle]`, `worker[kHandle]`,
 * `fileHandle[kHandle]`), and every handle's prototype names its class in
 * `constructor`. Whoever holds any such object (a package handed a socket, a request,
 * an async resource) could otherwise construct a fresh handle: `Process` spawns any
 * program, `TCP`/`Pipe`/`TTY`/`UDP` open sockets and arbitrary file descriptors, the
 * worker handle starts a thread without the loader, `ContextifyScript` compiles code in
 * the real global scope, `FSEvent` watches any path. Node's own code never reaches these
 * classes through `constructor` (it holds them from `internalBinding`), so the
 * `constructor` of each prototype is replaced by a function that throws, and the
 * prototypes' methods are made read-only (no method can be replaced for the app's
 * handles; their other properties are V8 accessors Node assigns on each handle).
 *
 * The classes are taken from `process.binding()` for the bindings that carry such
 * authority, before any package runs; the worker handle class (not exposed there) is
 * taken from the first worker this runtime starts. `process.binding` is deprecated:
 * its warning is silenced for these calls only (the runtime is not the app).
 */
import process from 'node:process';
import { deferExtensions, freezeMethods, markNativePrototype } from './host-hardening.js';
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { guardServerContextMethods } from './tls-servers.js';
import { callerChecked } from './frameless-calls.js';

/**
 * The bindings `process.binding` exposes (Node's allow-list). The classes of those that
 * carry authority no grant names (processes, sockets and file descriptors, file
 * watching, signals, DNS, code compilation, the inspector) must never be constructed;
 * the others (hashes, ciphers, parsers, zlib) compute on what they are given, but their
 * prototypes are the app's as much as a package's: all get the same treatment.
 */
const BINDINGS = [
  'process_wrap', 'tcp_wrap', 'pipe_wrap', 'tty_wrap', 'udp_wrap', 'stream_wrap', 'js_stream', 'tls_wrap',
  'fs', 'fs_event_wrap', 'signal_wrap', 'cares_wrap', 'contextify', 'inspector', 'crypto', 'zlib',
  'http_parser', 'v8', 'async_wrap', 'buffer', 'os', 'url', 'util', 'uv',
] as const;

/**
 * Native classes whose prototypes a JavaScript module of Node's extends when it loads
 * (TLSWrap: `_tls_wrap` on Node 20, `internal/tls/wrap` from Node 22 on, where `tls` no
 * longer loads `_tls_wrap`).
 */
const DECORATED: Readonly<Record<string, Record<string, string | readonly string[]>>> = {
  tcp_wrap: { TCP: 'net' },
  udp_wrap: { UDP: 'dgram' },
  fs_event_wrap: { FSEvent: 'internal/fs/watchers' },
  tls_wrap: { TLSWrap: ['_tls_wrap', 'internal/tls/wrap'] },
  zlib: { Zlib: 'zlib' },
};

/**
 * Native methods that initialise their handle, once (Node calls each exactly once per
 * handle, right after making it). A handle outlives that call in the object that holds it,
 * and objects travel: a running child handed to a package (`child._handle`) would start
 * any program through its handle's `spawn` again, with no `child_process` grant (and
 * leave libuv's handle list corrupt). A second call on the same handle throws.
 */
const ONCE_PER_HANDLE: Readonly<Record<string, Record<string, readonly string[]>>> = {
  process_wrap: { Process: ['spawn'] },
};

export class HandleReinitialisedError extends TypeError {
  readonly code = 'LAVAMOAT_HANDLE_REINITIALISED';
}

/** Wraps `prototype[name]` (before the prototype is frozen) so that it runs once per handle. */
function oncePerHandle(className: string, prototype: object, name: string): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(prototype, name);
  if (!descriptor || !descriptor.configurable || typeof descriptor.value !== 'function') return;
  const real = descriptor.value as Function;
  const used = new WeakSet<object>();
  const wrapper = {
    [name](this: unknown, ...args: unknown[]): unknown {
      if (typeof this === 'object' && this !== null) {
        if (used.has(this)) {
          throw new HandleReinitialisedError(`LavaMoat: ${className}.prototype.${name} runs once per handle (Node's own call); this handle has already run it`);
        }
        used.add(this);
      }
      return Reflect.apply(real, this, args);
    },
  }[name]!;
  Object.defineProperty(prototype, name, { value: callerChecked(wrapper), writable: false, enumerable: descriptor.enumerable, configurable: false });
}

/**
 * Native methods that make a handle a descriptor, a port or a socket file: `open(fd)`
 * takes any descriptor of the process (the app's open files: written through the
 * handle's `writeUtf8String`, and closed with the handle), `bind` and `listen` open a
 * port (or, for a pipe, create a socket file at any path), `connect` reaches any address,
 * `fchmod` changes a socket file's mode. A handle holds no descriptor from the moment
 * Node makes it until it connects (the next tick, or after a DNS lookup): a client
 * socket the app hands a package, or finds in a handed request's agent, is such a handle
 * for a while (attack case 150). Only the functions of Node's modules named here call
 * these methods (TLS's handle forwards them to the handle below it, through a function of
 * its own module, `methodProxy`); any other caller is refused: a package's code, and a
 * function of Node's that calls a method of `this._handle` for whatever `this` it is
 * given (`Socket.prototype.setNoDelay` on an object whose `_handle.setNoDelay` is a
 * handle's `bind`, bound). Each of the named functions calls them on a handle it made
 * itself, or on the handle of a socket or server node:net made (net-brands.ts). Told from
 * V8's call sites, which a package's code cannot claim (stack-traces.ts); one check per
 * connection, listen or open. UDP's callers in node:dgram are anonymous callbacks: any
 * function of node:dgram (whose socket a package can drive only when handed one, as the
 * app's socket it is).
 */
type Callers = Readonly<Record<string, readonly string[] | 'any'>>;
const NET_CALLERS = {
  open: ['Socket', 'createServerHandle'],
  bind: ['createServerHandle', 'internalConnect', 'internalConnectMultiple', 'BoundSocket', '#bindPipe'],
  listen: ['setupListenHandle'],
  connect: ['internalConnect', 'internalConnectMultiple'],
  fchmod: ['Server.listen'],
} as const;
const NODE_CALLERS: Readonly<Record<string, Record<string, Readonly<Record<string, Callers>>>>> = {
  tcp_wrap: {
    TCP: {
      open: { 'node:net': NET_CALLERS.open },
      bind: { 'node:net': NET_CALLERS.bind },
      bind6: { 'node:net': NET_CALLERS.bind },
      listen: { 'node:net': NET_CALLERS.listen },
      connect: { 'node:net': NET_CALLERS.connect },
      connect6: { 'node:net': NET_CALLERS.connect },
    },
  },
  pipe_wrap: {
    Pipe: {
      // A forked child's channel (`_forkChild`), before any package runs.
      open: { 'node:net': NET_CALLERS.open, 'node:child_process': ['_forkChild'] },
      bind: { 'node:net': NET_CALLERS.bind },
      listen: { 'node:net': NET_CALLERS.listen },
      connect: { 'node:net': NET_CALLERS.connect },
      fchmod: { 'node:net': NET_CALLERS.fchmod },
    },
  },
  udp_wrap: {
    UDP: {
      open: { 'node:dgram': 'any', 'node:internal/dgram': 'any' },
      bind: { 'node:dgram': 'any', 'node:internal/dgram': 'any' },
      bind6: { 'node:dgram': 'any', 'node:internal/dgram': 'any' },
    },
  },
};

/** TLS's handle forwarding a method to the one below it (`methodProxy`, in TLS's module). */
const isTlsForward = (site: { file: string | undefined; name: string | undefined }): boolean =>
  (site.file === 'node:_tls_wrap' || site.file === 'node:internal/tls/wrap') && site.name === 'methodProxy';

/** Node's wrapper of a deprecated export (`dgram._createSocketHandle`): it passes its caller's arguments on. */
const isDeprecationWrapper = (site: { file: string | undefined; name: string | undefined }): boolean =>
  site.file === 'node:internal/util' && site.name === 'deprecated';

/**
 * Node's modules that open a descriptor as a socket or a server for the process: the
 * main thread's stdio (`process.stdin`/`stdout`/`stderr` on a pipe or a socket) and
 * cluster's handles (a round-robin server's `listen({ fd })`, a shared handle's
 * `_createServerHandle`).
 */
const NODE_OPENERS = new Set(['node:internal/bootstrap/switches/is_main_thread', 'node:internal/cluster/round_robin_handle', 'node:internal/cluster/shared_handle']);

/**
 * Whether a descriptor node:net opens below `wrapper` is opened for the app's code (or
 * Node's stdio and cluster): the first frame below node:net's own frames (`Socket`,
 * `connect`, `createServerHandle`, `setupListenHandle`, `listenInCluster`,
 * `Server.listen`) and the runtime's wrappers (net-brands.ts' `listen`, a package's
 * `net`) must be the app's file or one of {@link NODE_OPENERS}. A package's frame names
 * no file; a package's bound `Reflect.construct` (or `listen`) run as a promise job, a
 * timer or a listener leaves no frame of its own, only Node's dispatcher or none: each
 * is refused (before, only a package's frame right below `Socket` was: case 220). Runs
 * only when a descriptor is opened.
 */
function openedForTheApp(wrapper: Function, through: ReadonlySet<string> = NET_FILES): boolean {
  for (const site of callerSitesOf(globalThis.Error as never, wrapper, 16)) {
    if ((site.file !== undefined && through.has(site.file)) || isTlsForward(site) || isDeprecationWrapper(site) || isRuntimeFile(site.file)) continue;
    return isTheAppsFile(site.file) || (site.file !== undefined && NODE_OPENERS.has(site.file));
  }
  return false;
}

const NET_FILES: ReadonlySet<string> = new Set(['node:net']);
const SERVER_FILES: ReadonlySet<string> = new Set(['node:net', 'node:dgram', 'node:internal/dgram']);

/**
 * In a cluster worker, a server's `listen({ fd })` (and a UDP socket's `bind({ fd })`)
 * opens nothing in the worker: `cluster._getServer` asks the primary, whose round-robin or
 * shared handle opens descriptor `fd` of the primary (node:internal/cluster, one of
 * {@link NODE_OPENERS}). A package of the worker made the primary open its pipe into a
 * child as a server, fail to listen there, and close it (case 220). The query carries a
 * descriptor only for the app's code, as node:net's own opening does; its options are
 * read once (Node spreads them into the message). Run when internal/cluster/child loads.
 */
export function guardClusterServerQueries(cluster: Record<string, unknown>): void {
  const real = cluster._getServer;
  if (typeof real !== 'function') return;
  const descriptor = Reflect.getOwnPropertyDescriptor(cluster, '_getServer');
  if (!descriptor?.configurable && !descriptor?.writable) return;
  const guarded = {
    _getServer(this: unknown, obj: unknown, options: unknown, ...rest: unknown[]): unknown {
      const copy = typeof options === 'object' && options !== null ? { ...(options as object) } : options;
      const fd = (copy as { fd?: unknown } | null | undefined)?.fd;
      if (typeof fd === 'number' && fd >= 0 && !openedForTheApp(guarded, SERVER_FILES)) {
        throw new NativeHandleCallerError(
          "LavaMoat: a cluster worker's server on a file descriptor (fd) is the primary's descriptor: only the app's code asks for one",
        );
      }
      return Reflect.apply(real, this, [obj, copy, ...rest]);
    },
  }._getServer;
  Object.defineProperty(guarded, 'length', { value: (real as Function).length });
  Object.defineProperty(cluster, '_getServer', { value: callerChecked(guarded), writable: false, enumerable: descriptor.enumerable ?? true, configurable: false });
}

export class NativeHandleCallerError extends TypeError {
  readonly code = 'LAVAMOAT_NATIVE_HANDLE_CALLER';
}

/** Wraps `prototype[name]` (before the prototype is frozen) so that only Node's `callers` run it. */
function onlyFromNode(className: string, prototype: object, name: string, callers: Callers): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(prototype, name);
  if (!descriptor || !descriptor.configurable || typeof descriptor.value !== 'function') return;
  const real = descriptor.value as Function;
  const wrapper = {
    [name](this: unknown, ...args: unknown[]): unknown {
      const sites = callerSitesOf(globalThis.Error as never, wrapper, 3);
      let index = 0;
      while (index < sites.length - 1 && isTlsForward(sites[index]!)) index += 1;
      const site = sites[index];
      const names = site?.file === undefined ? undefined : Object.hasOwn(callers, site.file) ? callers[site.file] : undefined;
      // node:net's Socket (its `fd` option) and createServerHandle (`listen({ fd })`,
      // `net._createServerHandle(..., fd)`) open a descriptor for whoever asked: only the
      // app's code and Node's own stdio and cluster may (cases 194, 220).
      if (name === 'open' && site?.file === 'node:net' && (site.name === 'Socket' || site.name === 'createServerHandle') && !openedForTheApp(wrapper)) {
        throw new NativeHandleCallerError(
          `LavaMoat: node:net's ${site.name} opens a file descriptor (fd) only for the app's code and Node's own: a package's sockets are the connections it opens, its servers the ports it listens on`,
        );
      }
      // node:dgram's `bind({ fd })` (and its deprecated `_createSocketHandle(..., fd)`)
      // opens any UDP descriptor of the process for whoever asked: a package granted dgram
      // sent from, and read, the app's UDP socket in a worker (another event loop, so the
      // descriptor is not one this loop reads: case 270). The same rule as node:net's.
      if (name === 'open' && className === 'UDP' && !openedForTheApp(wrapper, SERVER_FILES)) {
        throw new NativeHandleCallerError(
          "LavaMoat: node:dgram opens a file descriptor (fd) only for the app's code and Node's own: a package's UDP sockets are the ones it binds",
        );
      }
      if (names === undefined || (names !== 'any' && (site!.name === undefined || !names.includes(site!.name)))) {
        throw new NativeHandleCallerError(
          `LavaMoat: ${className}.prototype.${name} is called only by Node's own ${Object.keys(callers).join(', ')} (a handle's descriptor, port or address is chosen by the builtin that made it: use that builtin, granted in the package's policy)`,
        );
      }
      return Reflect.apply(real, this, args);
    },
  }[name]!;
  Object.defineProperty(wrapper, 'length', { value: real.length });
  // Frozen with the rest of the prototype (neutralizePrototype), or made overridable below.
  Object.defineProperty(prototype, name, { ...descriptor, value: callerChecked(wrapper) });
}

/**
 * Methods Node assigns on each handle of a kind (a UDP6 handle's `bind`, `connect` and
 * `send` are its `bind6`, `connect6` and `send6`: internal/dgram's `newHandle`). Frozen as
 * data, the prototype's would make that assignment throw (`dgram.createSocket('udp6')`
 * failed under the runtime): they become accessors that give the method and, assigned on
 * a handle, define the handle's own property (SES's override taming).
 */
const ASSIGNED_ON_HANDLES: Readonly<Record<string, Record<string, readonly string[]>>> = {
  udp_wrap: { UDP: ['bind', 'connect', 'send'] },
};

function overridable(prototype: object, name: string): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(prototype, name);
  if (!descriptor || !descriptor.configurable || !('value' in descriptor)) return;
  const value: unknown = descriptor.value;
  Object.defineProperty(prototype, name, {
    get: { [name](): unknown { return value; } }[name],
    set: {
      [name](this: unknown, replacement: unknown): void {
        if (this === prototype || (typeof this !== 'object' && typeof this !== 'function') || this === null) {
          throw new TypeError(`LavaMoat: ${name} of a native handle's prototype cannot be replaced`);
        }
        Object.defineProperty(this, name, { value: replacement, writable: true, enumerable: true, configurable: true });
      },
    }[name],
    enumerable: descriptor.enumerable,
    configurable: false,
  });
}

export class NativeConstructorError extends TypeError {
  readonly code = 'LAVAMOAT_NATIVE_CONSTRUCTOR';
}

const inert = Object.freeze(function NativeHandle(): never {
  throw new NativeConstructorError(
    "LavaMoat: Node's native handle classes cannot be constructed from JavaScript under LavaMoat (use the builtin module that wraps them)",
  );
});

const neutralized = new WeakSet<object>();

/** Makes the class of `prototype` unreachable through `constructor`, then hardens the prototype. */
export function neutralizePrototype(prototype: unknown, { values = false }: { values?: boolean } = {}): void {
  if (typeof prototype !== 'object' || prototype === null || neutralized.has(prototype)) return;
  const descriptor = Reflect.getOwnPropertyDescriptor(prototype, 'constructor');
  if (!descriptor || descriptor.configurable) {
    Object.defineProperty(prototype, 'constructor', { value: inert, writable: false, enumerable: false, configurable: false });
  }
  // Up the chain too: the shared native parents (LibuvStreamWrap, HandleWrap, AsyncWrap)
  // hold most methods (`writeUtf8String`, `readStart`, `close`). Each marked once its work
  // is done (all of it idempotent): a pass cut short (out of stack) is done again by the
  // next, where a mark set first left the real class as `constructor` for good.
  const done: object[] = [];
  for (let proto: object | null = prototype; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    if (proto !== prototype) {
      if (neutralized.has(proto)) break;
      const parent = Reflect.getOwnPropertyDescriptor(proto, 'constructor');
      if (parent?.configurable) Object.defineProperty(proto, 'constructor', { value: inert, writable: false, enumerable: false, configurable: false });
    }
    markNativePrototype(proto);
    freezeMethods(proto, { values });
    done.push(proto);
  }
  for (const proto of done) neutralized.add(proto);
}

type Binding = Record<string, unknown>;

/** The binding objects Node's own modules use (`process.binding` returns the same objects). */
export function nativeBinding(name: string): Binding | undefined {
  const binding = (process as unknown as { binding?: (name: string) => Binding }).binding;
  if (typeof binding !== 'function') return undefined;
  // Quiet for this call. Under `--no-deprecation` Node made the flag read-only (and true):
  // an assignment threw there, and a worker started with that option failed to start.
  const quiet = process.noDeprecation;
  const silenced = quiet !== true && Reflect.set(process, 'noDeprecation', true);
  try {
    return binding.call(process, name);
  } catch {
    return undefined;
  } finally {
    if (silenced) Reflect.set(process, 'noDeprecation', quiet);
  }
}

/** The native classes of one binding: its functions with a prototype object, by name. */
function classesOf(binding: Binding): [string, object][] {
  const prototypes: [string, object][] = [];
  for (const [name, value] of Object.entries(binding)) {
    if (typeof value !== 'function') continue;
    const prototype = (value as { prototype?: unknown }).prototype;
    if (typeof prototype === 'object' && prototype !== null) prototypes.push([name, prototype]);
  }
  return prototypes;
}

/**
 * OpenSSL engines load shared libraries: the two native methods every engine option ends
 * in refuse (boundary.ts explains why for everyone). Before the prototype is frozen.
 */
export function refuseEngineMethods(secureContextPrototype: object): void {
  // The app's servers' contexts, for the app's code (tls-servers.ts).
  guardServerContextMethods(secureContextPrototype);
  for (const name of ['setEngineKey', 'setClientCertEngine']) {
    const descriptor = Reflect.getOwnPropertyDescriptor(secureContextPrototype, name);
    if (!descriptor || !descriptor.configurable || typeof descriptor.value !== 'function') continue;
    Object.defineProperty(secureContextPrototype, name, {
      value: {
        [name](): never {
          throw new TypeError(`LavaMoat: OpenSSL engines load native code into the process and are refused (${name})`);
        },
      }[name],
      writable: false,
      enumerable: descriptor.enumerable,
      configurable: false,
    });
  }
}

let done = false;

/** Run once, before any package code and after everything that wraps a native method (spawn). */
export function neutralizeNativeClasses(): void {
  if (done) return;
  done = true;
  for (const name of BINDINGS) {
    const binding = nativeBinding(name);
    if (!binding) continue;
    for (const [className, prototype] of classesOf(binding)) {
      if (className === 'SecureContext') refuseEngineMethods(prototype);
      for (const method of ONCE_PER_HANDLE[name]?.[className] ?? []) oncePerHandle(className, prototype, method);
      for (const [method, callers] of Object.entries(NODE_CALLERS[name]?.[className] ?? {})) onlyFromNode(className, prototype, method, callers);
      for (const method of ASSIGNED_ON_HANDLES[name]?.[className] ?? []) overridable(prototype, method);
      const decorator = DECORATED[name]?.[className];
      if (decorator) deferExtensions(prototype, decorator);
      neutralizePrototype(prototype, { values: true });
    }
  }
  // v8's serializers are JavaScript classes over native ones, completed when v8 loads.
  const serdes = nativeBinding('serdes');
  if (serdes) for (const [className, prototype] of classesOf(serdes)) deferExtensions(prototype, 'v8'), void className;
}

/** The native handle a Node object holds under a `kHandle` symbol, if any. */
export function handleOf(object: object): object | undefined {
  for (const symbol of Object.getOwnPropertySymbols(object)) {
    if (symbol.description !== 'kHandle') continue;
    const handle = (object as Record<symbol, unknown>)[symbol];
    if (typeof handle === 'object' && handle !== null) return handle;
  }
  return undefined;
}

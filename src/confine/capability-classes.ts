/**
 * Node's classes whose constructors are authority: constructing one opens a socket, a
 * file, a file descriptor, a server port, a child process, a DNS resolver, an inspector
 * session, a compiled script or an SQLite database (which may load extensions: native
 * code). Their instances travel far beyond the packages granted their module
 * (`process.stdout` is a `tty.WriteStream`, a `net.Socket` or an internal
 * `SyncWriteStream`; an HTTP request's socket is a `net.Socket`), and every instance
 * names its class in `prototype.constructor`: `new (Object.getPrototypeOf(stdout)
 * .constructor)(fd)` would write any file descriptor, `new socket.constructor()
 * .connect(...)` reach the network, with no grant of `tty` or `net`.
 *
 * So each such prototype's `constructor` becomes an inert twin before the prototype is
 * hardened: same name and `prototype` (so `instanceof`, `.constructor.name` and
 * `util.inspect` are unchanged), no parent class, and construction throws, saying which
 * builtin to grant. The module's export stays Node's class: a package granted `net`
 * imports `Socket` from it, subclasses it (`extends` uses the function, not
 * `constructor`) and constructs it as always. Node's own code never constructs these
 * classes through `constructor`.
 */
import { loadedEntries, loadedSet } from './load-trap.js';
import { isStackOverflow } from './stack-overflow.js';
import { callerSitesOf } from './stack-traces.js';
import { createRequire } from 'node:module';
import { callerChecked } from './frameless-calls.js';

const hostRequire = createRequire(import.meta.url);

/** Builtin module → its exports that are authority to construct. */
const CAPABILITY_CLASSES: Readonly<Record<string, readonly string[]>> = {
  // Node 24's BoundSocket binds a port as it is made (absent elsewhere: skipped).
  net: ['Socket', 'Stream', 'Server', 'BoundSocket'],
  tls: ['TLSSocket', 'Server'],
  // `Agent`'s twin constructs for Node's ClientRequest, which makes `agent: false`'s agent
  // as `new defaultAgent.constructor()` (CONSTRUCTED_FOR; agent-guards.ts).
  http: ['Server', 'ClientRequest', 'Agent'],
  // Where http's and (Node 20) tls's classes are made: public modules of their own, each
  // hardened as it finishes loading, before http or tls has (see DEFINED_FOR).
  _http_agent: ['Agent'],
  _http_client: ['ClientRequest'],
  _http_server: ['Server'],
  _tls_wrap: ['TLSSocket', 'Server'],
  https: ['Server', 'Agent'],
  http2: [],
  dgram: ['Socket'],
  fs: ['ReadStream', 'WriteStream', 'FileReadStream', 'FileWriteStream'],
  tty: ['ReadStream', 'WriteStream'],
  child_process: ['ChildProcess'],
  dns: ['Resolver'],
  'dns/promises': ['Resolver'],
  repl: ['REPLServer'],
  inspector: ['Session'],
  'inspector/promises': ['Session'],
  vm: ['Script', 'Module', 'SourceTextModule', 'SyntheticModule'],
  // A database opens files, and one opened with `allowExtension` loads shared libraries
  // (Node 22.13+; node:sqlite is absent on Node 20).
  sqlite: ['DatabaseSync'],
};

/**
 * Exports read only once the internal module behind them has loaded: reading them loads
 * it (fs's streams, with fs/promises and readline), and the boundary disarms and hardens
 * them at that load (boundary.ts).
 */
const LOADED_WITH: Readonly<Record<string, string>> = {
  'fs.ReadStream': 'internal/fs/streams',
  'fs.WriteStream': 'internal/fs/streams',
  'fs.FileReadStream': 'internal/fs/streams',
  'fs.FileWriteStream': 'internal/fs/streams',
};

/**
 * Modules whose classes are reached through another module's lazy export, which loads
 * them under an internal id: `dns.promises` is `dns/promises`' Resolver.
 */
const LOADED_AS: Readonly<Record<string, string>> = {
  'dns/promises': 'internal/dns/promises',
};

/**
 * The module a package is granted for the classes of a module it cannot import by name
 * (the message a twin throws names it).
 */
const DEFINED_FOR: Readonly<Record<string, string>> = {
  _http_agent: 'http',
  _http_client: 'http',
  _http_server: 'http',
  _tls_wrap: 'tls',
};

/**
 * Twins that construct after all when the one calling them is this Node module's code
 * (V8's call sites, which no package's code can claim: stack-traces.ts).
 */
const CONSTRUCTED_FOR: Readonly<Record<string, string>> = {
  'http.Agent': 'node:_http_client',
  '_http_agent.Agent': 'node:_http_client',
  'https.Agent': 'node:_http_client',
};

export class CapabilityConstructorError extends TypeError {
  readonly code = 'LAVAMOAT_CAPABILITY_CONSTRUCTOR';
}

const disarmed = new WeakSet<object>();

function isObject(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * Replaces `proto.constructor` (Node's class `real`) by its inert twin; false if it cannot
 * any more. `global`: the global that holds the class (the twin then keeps its constants,
 * `WebSocket.OPEN`).
 */
function disarm(proto: object, real: Function, module: string | undefined, global?: string, constructedFor?: string): boolean {
  if (disarmed.has(proto)) return true;
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, 'constructor');
  // Its twin in place, the bookkeeping not done (cut short: out of stack): done now.
  if (descriptor && 'value' in descriptor && descriptor.value !== undefined && descriptor.value === twins.get(proto)) return noteDisarmed(proto);
  if (!descriptor || !('value' in descriptor) || descriptor.value !== real || !descriptor.configurable) return false;
  const where = module
    ? `import it from the '${module}' builtin (granted in the package's policy)`
    : global
      ? `use the global ${global} (granted in the package's policy)`
      : 'it is not for packages to construct';
  const twin = function (this: unknown, ...args: unknown[]): unknown {
    if (constructedFor !== undefined && new.target !== undefined) {
      const [caller] = callerSitesOf(globalThis.Error as never, twin, 1);
      if (caller?.file === constructedFor) return Reflect.construct(real, args, new.target);
    }
    throw new CapabilityConstructorError(
      `LavaMoat: ${real.name} cannot be constructed through an instance's constructor: ${where}`,
    );
  };
  Object.defineProperty(twin, 'name', { value: real.name });
  Object.defineProperty(twin, 'prototype', { value: proto, writable: false, enumerable: false, configurable: false });
  if (global) {
    // Its parent's statics too: Node tells an EventTarget by `this.constructor[kIsEventTarget]`,
    // which a WebSocket inherits from EventTarget (a class that computes only).
    Object.setPrototypeOf(twin, Object.getPrototypeOf(real));
    for (const key of Reflect.ownKeys(real)) {
      if (key === 'prototype' || key === 'name' || key === 'length') continue;
      const item = Reflect.getOwnPropertyDescriptor(real, key);
      if (item && 'value' in item && !isObject(item.value)) Object.defineProperty(twin, key, { ...item, writable: false, configurable: false });
    }
  }
  Object.freeze(twin);
  twins.set(proto, twin);
  Object.defineProperty(proto, 'constructor', { value: callerChecked(twin), writable: true, enumerable: descriptor.enumerable, configurable: true });
  return noteDisarmed(proto);
}

/** The twin made for each prototype, once it is made (a pass cut short finds it in place). */
const twins = new WeakMap<object, Function>();

/** Its methods are capability methods, and then (last: a pass cut short before is done again) it is disarmed. */
function noteDisarmed(proto: object): true {
  for (const key of Reflect.ownKeys(proto)) {
    const method = Reflect.getOwnPropertyDescriptor(proto, key);
    if (method && typeof method.value === 'function') capabilityMethods.add(method.value);
  }
  disarmed.add(proto);
  return true;
}

/** Methods of the capability classes' own prototypes (`Socket.prototype.connect`, ...). */
const capabilityMethods = new WeakSet<Function>();

/**
 * Whether calling `method` with `receiver` would run a capability class's method on an
 * object that is not the host object a view stands for (`target`): on an object of a
 * package's making, `connect` opens a socket with no grant. Plain functions and the
 * methods of classes that compute only take any receiver, as in Node.
 */
export function isForeignCapabilityCall(method: Function, receiver: unknown, view: unknown, real: unknown): boolean {
  // Two receivers, not an array of them: this runs on every call through a view.
  if (!capabilityMethods.has(method) || receiver === view || receiver === real) return false;
  return (typeof receiver === 'object' && receiver !== null) || typeof receiver === 'function';
}

/**
 * Global classes whose constructors are authority: a `WebSocket` or an `EventSource`
 * connects to any URL through undici's global dispatcher, so `new (ws.constructor)(url)`
 * from a socket the app hands a package would be the network with no grant
 * (docs/attacks.md, case 76). A package granted the global receives the class itself; an
 * instance leads only to the inert twin.
 */
// `BroadcastChannel`: joined by name, a package's only under its own namespace
// (broadcast-channels.ts); an instance must not lead to the class that joins any name.
const GLOBAL_CAPABILITY_CLASSES = new Set<PropertyKey>(['WebSocket', 'EventSource', 'BroadcastChannel']);

/**
 * Before the class a global (or a builtin's export: `http.WebSocket`) named `name` holds
 * is hardened (boundary.ts, with the value it read: on Node 22+ reading such a global
 * again inside the load it causes would abort the process).
 */
export function disarmGlobalClass(name: PropertyKey | undefined, value: unknown): void {
  if (name === undefined || !GLOBAL_CAPABILITY_CLASSES.has(name) || typeof value !== 'function' || !isObject(value.prototype)) return;
  disarm(value.prototype, value, undefined, String(name));
}

const done = new Set<string>();
let seenLoads = -1;

/**
 * Disarms the capability classes of every builtin module Node has loaded so far, before
 * anything is hardened (host-hardening.ts calls this first): a module not loaded has no
 * instances yet, and is disarmed at the next hardening after it loads.
 */
export function disarmLoadedModules(): void {
  const loadList = loadedEntries();
  if (loadList.length > 0 && loadList.length === seenLoads) return;
  const loaded = loadList.length > 0 ? loadedSet() : undefined;
  disarmModules(loaded);
  // Only once every module was looked at: a pass cut short (out of stack, a package
  // recursing deep before its first use of a grant) is done again by the next call.
  seenLoads = loadList.length > 0 ? loadList.length : -1;
}

/**
 * The capability classes of builtin `name` (and of the modules that define them for it,
 * `_http_agent` for http), whether or not Node's load list shows it loaded: for a module
 * the boundary is about to harden (boundary.ts `hardenBuiltin`). A load Node could not
 * list (its push onto the list ran out of stack before the observer's setter ran: a
 * package recursing deep before it made Node load the module) is otherwise never
 * disarmed, and hardening would freeze the class's `constructor` as it is.
 */
export function disarmModule(name: string): void {
  const modules = Object.keys(CAPABILITY_CLASSES).filter((module) => module === name || DEFINED_FOR[module] === name);
  if (modules.length > 0) disarmModules(loadedEntries().length > 0 ? loadedSet() : undefined, modules);
}

function disarmModules(loaded: ReadonlySet<string> | undefined, only?: readonly string[]): void {
  for (const [module, names] of Object.entries(CAPABILITY_CLASSES)) {
    if (only !== undefined && !only.includes(module)) continue;
    if (done.has(module) || names.length === 0) continue;
    if (only === undefined && loaded && !loaded.has(`NativeModule ${module}`) && !loaded.has(`NativeModule ${LOADED_AS[module]}`)) continue;
    let exports: Record<string, unknown>;
    try {
      // Loading it (`dns/promises`, reached as `dns.promises`) hardens it as it loads, and
      // that hardening disarms it first (this function, again): then it is done.
      exports = hostRequire(`node:${module}`) as Record<string, unknown>;
    } catch (error) {
      if (isStackOverflow(error)) throw error;
      done.add(module);
      continue;
    }
    // Done meanwhile (its load disarmed it: see above).
    if (done.has(module)) continue;
    let waiting = false;
    for (const name of names) {
      if (done.has(`${module}.${name}`)) continue;
      const loadedWith = LOADED_WITH[`${module}.${name}`];
      if (loaded && loadedWith !== undefined && !loaded.has(`NativeModule ${loadedWith}`)) {
        waiting = true;
        continue;
      }
      done.add(`${module}.${name}`);
      try {
        let real: unknown;
        try {
          real = exports[name];
        } catch (error) {
          if (isStackOverflow(error)) throw error;
          continue; // an experimental export behind a flag
        }
        if (typeof real === 'function' && isObject(real.prototype)) disarm(real.prototype, real, DEFINED_FOR[module] ?? module, undefined, CONSTRUCTED_FOR[`${module}.${name}`]);
      } catch (error) {
        // Not disarmed: tried again by the next call, which the caller's failure brings.
        done.delete(`${module}.${name}`);
        throw error;
      }
    }
    if (!waiting) done.add(module);
  }
}

let pure: WeakSet<object> | undefined;

/** Prototypes of the classes `events` and `stream` export: computing only, fine to construct. */
function purePrototypes(): WeakSet<object> {
  if (pure) return pure;
  pure = new WeakSet<object>([Object.prototype]);
  for (const module of ['events', 'stream']) {
    const exports = hostRequire(`node:${module}`) as Record<string, unknown>;
    for (const key of Object.keys(exports)) {
      const value = exports[key];
      if (typeof value === 'function' && isObject(value.prototype)) pure.add(value.prototype);
    }
  }
  return pure;
}

/**
 * For a live host object handed out as a view (`process.stdout`, `process.stdin`): every
 * class in its prototype chain but the pure stream and event classes, including those no
 * module exports (`SyncWriteStream`, which writes any file descriptor), is disarmed.
 */
export function disarmChain(instance: object): void {
  disarmLoadedModules();
  const pureSet = purePrototypes();
  for (let proto = Object.getPrototypeOf(instance) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (pureSet.has(proto)) continue;
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, 'constructor');
    const real: unknown = descriptor && 'value' in descriptor ? descriptor.value : undefined;
    if (typeof real === 'function' && real.prototype === proto) disarm(proto, real, undefined);
  }
}

/**
 * The prototype a view of a live host object shows: the nearest in its chain that
 * computes only (a stream's, an emitter's), so that `view instanceof Writable` holds and
 * no prototype of a capability class (`net.Socket`'s `connect`) is reachable from it.
 */
export function shownPrototype(instance: object): object | null {
  const pureSet = purePrototypes();
  let proto = Object.getPrototypeOf(instance) as object | null;
  while (proto !== null && !pureSet.has(proto)) proto = Object.getPrototypeOf(proto) as object | null;
  return proto;
}

/**
 * Whether a view may hand out `value` as a viewed object's `constructor`: a class that
 * computes only, or the inert twin of a capability class. Anything else (a capability
 * class whose prototype was frozen before it could be disarmed) is refused, not shown.
 */
export function isSafeConstructor(value: unknown): boolean {
  if (typeof value !== 'function') return true;
  const prototype: unknown = (value as { prototype?: unknown }).prototype;
  if (!isObject(prototype)) return true;
  return disarmed.has(prototype) || purePrototypes().has(prototype);
}

/**
 * Endowments: what a package's compartment global holds, made from its `globals` policy
 * and the host's real globals (captured before scuttling).
 *
 * - `"x": true` (or `"read"`): the host's current value, in a form that cannot be used
 *   to change it (see shared-globals.ts), on the package's own global: the package may
 *   assign or redefine it there, which never reaches the host or another package.
 * - `"x": "write"`: an accessor to the host's property, so every package granted it
 *   (and the app) sees the same value.
 * - `"x": "redefine"`: the same as read (which already lets the package redefine it).
 * - `"a.b": ...`: `a` is a new object holding only the granted paths; leaves are live
 *   (read through to the host's current value), methods are called with the real
 *   parent as `this`.
 * Everything else does not exist in the compartment.
 */
import type { GlobalPolicyValue as GlobalValue } from '../policy/types.js';
import process from 'node:process';
import { consoleFor, shareable } from './shared-globals.js';
import { deliver, hasInstancePrototype } from './boundary.js';
import { beforeGlobalWrite } from './lazy-globals.js';
import { foreignReceiver, hostLeaf, type StrictGrants } from './views.js';
import { envFileLoaderFor } from './env-views.js';
import { ownerOf, viewFor } from './export-views.js';
import { isForeignCapabilityCall } from './capability-classes.js';
import { hostGlobalReader } from './scuttle.js';
import { broadcastChannelFor } from './broadcast-channels.js';

export type HostGlobals = Record<PropertyKey, unknown>;

/**
 * The host's `Date` and `Math`, given to every compartment as LavaMoat does: SES's
 * compartment versions throw on `Date.now()` and `Math.random()`. Both are intrinsics
 * that lockdown froze, so sharing them shares no mutable state. (`Intl` is a host
 * object lockdown leaves mutable: it is granted like any other global.)
 */
export const UNIVERSAL_GLOBALS = ['Date', 'Math'] as const;

type Access = 'read' | 'write' | 'redefine';

function accessOf(value: GlobalValue): Access | undefined {
  if (value === true || value === 'read') return 'read';
  if (value === 'write') return 'write';
  if (value === 'redefine') return 'redefine';
  return undefined;
}

interface Node {
  access?: Access;
  children: Map<string, Node>;
}

function buildTree(globals: Record<string, GlobalValue>): Node {
  const root: Node = { children: new Map() };
  for (const [key, value] of Object.entries(globals)) {
    const access = accessOf(value);
    if (!access) continue;
    let node = root;
    for (const part of key.split('.')) {
      let child = node.children.get(part);
      if (!child) {
        child = { children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    }
    // A broader grant on a parent covers every path below it.
    node.access = node.access === 'write' || access === 'write' ? 'write' : access;
  }
  return root;
}

/** No value read yet (a member's value may be `undefined`). */
const UNREAD = Symbol('unread');

const readPath = (host: object, path: readonly string[]): unknown => {
  let value: unknown = host;
  for (const part of path) {
    if (value === null || value === undefined) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
};

/**
 * A reader of `path` under `host` (readPath, made once per path): through the host
 * globals' own reader where `host` is their holder (scuttle.ts), and without a loop for
 * the short paths every grant has. A package's `Zlib.Gzip` or `process.hrtime` is read
 * through it at every use.
 */
const pathReader = (host: object, path: readonly string[]): (() => unknown) => {
  if (path.length === 0) return () => host;
  const [first, second] = path as [string, string | undefined];
  // Two copies, not one through a reader function: that call cost destroy's seven checks
  // about 20 ns more (bench/calls.mjs).
  const root = hostGlobalReader(host);
  if (root !== undefined) {
    if (path.length === 1) return () => root(first);
    if (path.length === 2) {
      return () => {
        const parent = root(first);
        return parent === null || parent === undefined ? undefined : (parent as Record<string, unknown>)[second!];
      };
    }
  } else if (path.length === 1) {
    return () => (host as Record<string, unknown>)[first];
  } else if (path.length === 2) {
    // A builtin's member: its view reads `{ source: module }` (narrowedView).
    return () => {
      const parent = (host as Record<string, unknown>)[first];
      return parent === null || parent === undefined ? undefined : (parent as Record<string, unknown>)[second!];
    };
  }
  return () => readPath(host, path);
};

/**
 * Recording (usage.ts): the same accessor, telling `note` on its first use. Only made
 * when recording, so that an unrecorded run has no wrapper at all.
 */
function observed(descriptor: PropertyDescriptor, note: () => unknown): PropertyDescriptor {
  let seen = false;
  const { get, set } = descriptor;
  // `note` answers false when it did not record (a builtin's bindings being made).
  const first = (): void => {
    if (seen) return;
    seen = note() !== false;
  };
  return {
    ...descriptor,
    ...(get && {
      get() {
        first();
        return get();
      },
    }),
    ...(set && {
      set(value: unknown) {
        first();
        set(value);
      },
    }),
  };
}

/**
 * Recording: the object holding a package's dotted grants (`process` for
 * `process.env`), as an accessor that tells `note` when it is first read and keeps what
 * the package assigns (as the writable data property it replaces would).
 */
function ownObjectObserved(view: object, note: () => void): PropertyDescriptor {
  let value: unknown = view;
  return observed(
    {
      get: () => value,
      set: (next: unknown) => {
        value = next;
      },
      enumerable: true,
      configurable: true,
    },
    note,
  );
}

/** The guarded callbacks of one view, shared by its methods (`on` and `off` must agree). */
interface CallbackGuards {
  guarded: WeakMap<Function, Function>;
  originals: WeakMap<Function, Function>;
}
const guardsOf = new WeakMap<object, CallbackGuards>();

// Its callbacks receive the caller's own arguments, not what an emitter delivers.
const hostNextTick = process.nextTick;

/**
 * A function reached through a narrowed object is called on the real parent: code
 * writes `process.on(...)`, and `this` would otherwise be the narrowed view. The real
 * parent must not leak back: a method returning it (`process.on` returns `process` for
 * chaining) returns the view instead, and a callback it is given (a listener, which the
 * emitter calls with itself as `this`) sees the view as `this`. With `guardCallbacks`
 * (views of host objects such as `process`), what the host passes to those callbacks
 * and what the methods return go through the boundary's `deliver`: data as it is, another
 * party's functions and host objects (the app's worker in a `'worker'` event, the app's
 * listeners from `listeners()`) as opaque tokens, the package's own listeners as
 * themselves.
 */
/**
 * What a platform function returns to the package that called it, kept as it is: a
 * promise, buffer, date or regular expression. The platform's functions (`WebAssembly`,
 * `crypto.subtle`, `crypto.getRandomValues`) compute on what the package gives them:
 * `WebAssembly.instantiate` settles with the package's own module and instance,
 * `crypto.getRandomValues(array)` returns its array. An app function's result is the
 * app's, and is delivered (deliver.ts: a promise of its delivered value, copies).
 */
const isPlatformResult = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && (value instanceof Promise || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp);

/**
 * The names on the real global object when the runtime loads (before the app's code):
 * Node's and V8's globals, and a preload's. A dotted grant under any other name is of an
 * object the app put on its global.
 */
const PLATFORM_GLOBALS = new Set<PropertyKey>(Reflect.ownKeys(globalThis));

/** A hardened class (a prototype of methods or a parent class), not a plain function or method. */
const isFrozenClass = (fn: Function): boolean => Object.isFrozen(fn) && hasInstancePrototype(fn);

function makeMethodWrapper(view: object, realParent: () => unknown, guardCallbacks: boolean, platform: boolean) {
  let lastTarget: Function | undefined;
  let lastWrapper: Function | undefined;
  let guards = guardsOf.get(view);
  if (!guards) {
    guards = { guarded: new WeakMap(), originals: new WeakMap() };
    guardsOf.set(view, guards);
  }
  const { guarded, originals } = guards;
  const own = (fn: Function): Function | undefined => originals.get(fn);
  const guardCallback = (value: unknown, deliverArguments: boolean): unknown => {
    if (typeof value !== 'function') return value;
    let wrapped = guarded.get(value);
    if (!wrapped) {
      const callback = value;
      wrapped = function (this: unknown, ...args: unknown[]) {
        const self = this === realParent() ? view : deliverArguments ? deliver(this, own) : this;
        return Reflect.apply(callback, self, deliverArguments ? args.map((arg) => deliver(arg, own)) : args);
      };
      guarded.set(callback, wrapped);
      originals.set(wrapped, callback);
    }
    return wrapped;
  };
  return (value: unknown): unknown => {
    if (typeof value !== 'function') return value;
    if (value === lastTarget) return lastWrapper;
    lastTarget = value;
    // A hardened class of a module (`zlib.Gzip`, `fs.ReadStream`), as a whole-module grant
    // hands it out: what the proxy adds is nothing a class needs (it is frozen; `new`
    // builds the same object; called as a function on the view, an ES5 class of Node's
    // makes an instance or writes the package's own view), and `x instanceof` a proxy
    // takes V8's slow path, twice through the proxy: destroy's seven checks of a stream
    // cost 2 us a call instead of 0.2.
    if (!guardCallbacks && isFrozenClass(value)) {
      lastWrapper = value;
      return value;
    }
    const deliverArguments = guardCallbacks && value !== hostNextTick;
    const wrapper: Function = new Proxy(value, {
      apply(target, thisArg, args) {
        const parent = realParent();
        // A capability class's method (a socket's `connect`), only on the host object.
        if (isForeignCapabilityCall(target, thisArg, view, parent)) throw foreignReceiver(String(target.name || 'a method'));
        const given = guardCallbacks ? args.map((arg) => guardCallback(arg, deliverArguments)) : args;
        const result = Reflect.apply(target, thisArg === view ? parent : thisArg, given);
        if (result === parent && parent !== undefined) return view;
        if (!guardCallbacks || (platform && isPlatformResult(result))) return result;
        return deliver(result, own);
      },
      // The host function is shared with the app: a package may not modify it (an
      // assignment through a subclass sets the subclass's own property).
      // `new` through the wrapper constructs with the real function as `new.target`
      // (a subclass's own `new.target` passes through): V8 then builds the instance
      // from the class's cached initial map. With the proxy as `new.target` each
      // `new url.Url()` took V8's slow path, about 60 times the instructions.
      construct: (target, args, newTarget) => Reflect.construct(target, args, newTarget === wrapper ? target : newTarget),
      set: (target, key, v, receiver) => receiver !== wrapper && Reflect.set(target, key, v, receiver),
      defineProperty: () => false,
      deleteProperty: () => false,
      setPrototypeOf: () => false,
    });
    lastWrapper = wrapper;
    return wrapper;
  };
}

type LeafFilter = (value: unknown, access: Access, path: readonly string[]) => unknown;

interface NarrowOptions {
  /** Freeze the views. */
  freeze?: boolean;
  /**
   * Leaves the package may assign: the value stays in this view (a package's own copy
   * of a builtin module, which graceful-fs patches), never reaching the host.
   */
  localWrites?: boolean;
  /** Transform leaf values before they are handed out. */
  leaf?: LeafFilter;
  /**
   * Call functions passed to methods with the view as `this` where the host would pass
   * the real parent (listeners of a host emitter such as `process`). Not for builtin
   * modules, whose functions take constructors (`util.inherits(A, B)`).
   */
  guardCallbacks?: boolean;
  /** Recording (usage.ts): told the path of each leaf read or written, until it answers other than false. */
  observe?: (path: readonly string[]) => unknown;
  /** A global of the platform's, not the app's (see {@link isPlatformResult}); default true. */
  platform?: boolean;
}

function defineNarrowed(view: object, node: Node, host: object, path: string[], options: NarrowOptions = {}): void {
  const { freeze = false, leaf, guardCallbacks = false, localWrites = false, observe, platform = true } = options;
  // What `Object.prototype.toString` says of the real object (`[object process]`): code
  // tells Node from a browser bundler's shim that way (the setimmediate polyfill, which
  // otherwise schedules through a MessageChannel that keeps the process alive).
  // It comes from the view's prototype, so the view's own keys stay the granted ones.
  const readParent = pathReader(host, path);
  const tag = stringTagOf(readParent());
  if (tag !== undefined) Object.setPrototypeOf(view, taggedPrototype(tag));
  for (const [name, child] of node.children) {
    const childPath = [...path, name];
    if (child.access) {
      const wrap = makeMethodWrapper(view, readParent, guardCallbacks, platform);
      let shadow: { value: unknown } | undefined;
      // The member is read live (the app may replace it: instrumentation patches
      // `http.request`); what the package gets for it is computed again only when it
      // changed, since a package reads `path.join` or `Buffer.from` at every call.
      const readMember = pathReader(host, childPath);
      let lastRaw: unknown = UNREAD;
      let lastOut: unknown;
      const descriptor: PropertyDescriptor = {
        get: () => {
          if (shadow) return shadow.value;
          const raw = readMember();
          if (raw !== lastRaw) {
            lastOut = wrap(leaf ? leaf(raw, child.access!, childPath) : raw);
            lastRaw = raw;
          }
          return lastOut;
        },
        enumerable: true,
        configurable: child.access === 'redefine' || localWrites,
      };
      if (localWrites && child.access !== 'write') {
        descriptor.set = (value: unknown) => {
          shadow = { value };
        };
      } else if (child.access === 'write') {
        descriptor.set = (value: unknown) => {
          const parent = readParent() as Record<string, unknown> | undefined;
          if (parent !== null && parent !== undefined) parent[name] = value;
        };
      }
      Object.defineProperty(view, name, observe ? observed(descriptor, () => observe(childPath)) : descriptor);
    } else {
      const inner = {};
      defineNarrowed(inner, child, host, childPath, options);
      Object.defineProperty(view, name, { value: inner, writable: !freeze, enumerable: true, configurable: false });
    }
  }
  if (freeze) Object.freeze(view);
}

const taggedPrototypes = new Map<string, object>();
function taggedPrototype(tag: string): object {
  let prototype = taggedPrototypes.get(tag);
  if (!prototype) {
    prototype = Object.freeze(Object.create(Object.prototype, { [Symbol.toStringTag]: { value: tag } }) as object);
    taggedPrototypes.set(tag, prototype);
  }
  return prototype;
}

function stringTagOf(value: unknown): string | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  try {
    const tag = (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
    return typeof tag === 'string' ? tag : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An object holding only `paths` of `source`, read live, with methods called on their
 * real parent: how a package sees a builtin module it was granted members of. It is the
 * package's own: assignments and new properties stay in it (graceful-fs patches the
 * `fs` it is given), and never reach the real module.
 */
export function narrowedView(
  source: object,
  paths: readonly (readonly string[])[],
  leaf?: LeafFilter,
  /** Recording: told each granted member path (`promises.readFile`) on first use (false: not recorded, tell again). */
  observe?: (member: string) => unknown,
): object {
  const tree = buildTree(Object.fromEntries(paths.map((p) => [p.join('.'), true])));
  const view = {};
  defineNarrowed(view, tree, { source }, ['source'], {
    leaf,
    localWrites: true,
    ...(observe && { observe: (path: readonly string[]) => observe(path.slice(1).join('.')) }),
  });
  return view;
}

/**
 * The globals every compartment gets, whatever its policy: the host's `Date` and `Math`
 * (see UNIVERSAL_GLOBALS). Constant, like the other intrinsics (see `pinGlobals`).
 */
export function universalEndowments(host: HostGlobals): PropertyDescriptorMap {
  const descriptors: PropertyDescriptorMap = {};
  for (const name of UNIVERSAL_GLOBALS) {
    descriptors[name] = { value: host[name], writable: false, enumerable: false, configurable: false };
  }
  return descriptors;
}

/**
 * Makes every data property of a compartment's global constant (non-writable,
 * non-configurable), except `eval` and the names in `keep`. SES compiles a compartment's
 * code with its constant globals as local bindings; every other free name is looked up
 * through scope objects at each use, tens of times slower. Intrinsics are constant in
 * practice anyway (lockdown froze them); a package can still add globals of its own.
 */
export function pinGlobals(globalObject: object, keep: ReadonlySet<string>): void {
  for (const name of Object.getOwnPropertyNames(globalObject)) {
    if (name === 'eval' || keep.has(name)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(globalObject, name);
    if (!descriptor || !('value' in descriptor) || !descriptor.configurable) continue;
    Object.defineProperty(globalObject, name, {
      value: descriptor.value,
      writable: false,
      enumerable: descriptor.enumerable,
      configurable: false,
    });
  }
}

/**
 * Names a `globals` policy grants (they stay mutable: LavaMoat lets a package assign or
 * redefine on its own global what it is granted, even an intrinsic such as `TextEncoder`).
 */
export function mutableGlobalNames(globals: Record<string, GlobalValue> | undefined): Set<string> {
  const names = new Set<string>();
  for (const [key, value] of Object.entries(globals ?? {})) {
    if (accessOf(value) !== undefined) names.add(key.split('.')[0]!);
  }
  return names;
}

/**
 * LavaMoat's read grant: a property of the package's own global that reads the host's
 * current value (as Node's shared global would, and as LavaMoat's global store shows
 * other packages' writes), in a form that cannot change it (shared-globals.ts). The
 * package may assign or redefine the name there (hono's `Object.defineProperty(global,
 * 'Request', ...)`); only it sees the change, and from then on it keeps its own value.
 * Not a constant, so SES looks the name up at each use (docs/performance.md).
 */
function readGrant(host: HostGlobals, name: string, strict: boolean, observe?: () => void, packageName?: string): PropertyDescriptor {
  const descriptor = readGrantOf(host, name, strict, packageName);
  const made = observe ? observed(descriptor, observe) : descriptor;
  readGrants.add(made);
  return made;
}

/** The descriptors {@link readGrant} made. */
const readGrants = new WeakSet<PropertyDescriptor>();

/**
 * Defines `descriptors` (from {@link makeEndowments}) on a package's global `own`, except
 * read grants of names the host does not have (yet): those are answered by a prototype
 * of `own` that has them only while the host has them. `'X' in globalThis` is then false
 * where Node's would be (thread-stream, under every pino transport, reads
 * `'__bundlerPathsOverrides' in globalThis ? globalThis.__bundlerPathsOverrides : {}`,
 * and took `undefined` for the overrides), and a global the app or a package granted
 * "write" defines later is still read. Assigning the name defines the package's own, as
 * for any read grant. ("write" grants stay properties: strict code creates a global by
 * assigning its bare name, `X = 1`, which needs the binding.)
 */
export function defineEndowments(own: object, descriptors: PropertyDescriptorMap, host: HostGlobals): void {
  let late: Map<PropertyKey, PropertyDescriptor> | undefined;
  for (const name of Reflect.ownKeys(descriptors)) {
    const descriptor = descriptors[name as string]!;
    if (readGrants.has(descriptor) && !Reflect.has(host, name)) {
      (late ??= new Map()).set(name, descriptor);
      continue;
    }
    Object.defineProperty(own, name, descriptor);
  }
  if (late === undefined) return;
  const pending = late;
  // Once the host has the name, the grant moves onto `own` as if it had always been there
  // (`hasOwnProperty` then answers as Node's).
  const settle = (key: PropertyKey): boolean => {
    const descriptor = pending.get(key);
    if (descriptor === undefined || !Reflect.has(host, key)) return false;
    pending.delete(key);
    if (!Object.prototype.hasOwnProperty.call(own, key)) Object.defineProperty(own, key, descriptor);
    return true;
  };
  // Every global a package's code names is looked up on its global in a `with` scope,
  // which also reads the global's `Symbol.unscopables`: an own one (none are) keeps that
  // read off the prototype below, on the path of every global access.
  if (!Reflect.getOwnPropertyDescriptor(own, Symbol.unscopables)) {
    Object.defineProperty(own, Symbol.unscopables, { value: undefined, writable: true, enumerable: false, configurable: true });
  }
  const parent = Object.create(Object.getPrototypeOf(own) as object | null) as object;
  Object.setPrototypeOf(
    own,
    new Proxy(parent, {
      has: (target, key) => (pending.has(key) ? settle(key) : Reflect.has(target, key)),
      get: (target, key, receiver) => {
        if (!pending.has(key)) return Reflect.get(target, key, receiver);
        return settle(key) ? Reflect.get(own, key, receiver) : undefined;
      },
    }),
  );
}

/**
 * Globals a package receives a class of its own of, made from what the others receive
 * (`BroadcastChannel`: channels in the package's own namespace, broadcast-channels.ts).
 */
const PER_PACKAGE: Readonly<Record<string, (shared: unknown, packageName: string) => unknown>> = {
  BroadcastChannel: broadcastChannelFor,
  // Its own group indentation, timers and counters (shared-globals.ts).
  console: consoleFor,
};

/** A dotted grant of a console method (`"console.time": true`): the package's console's, as a grant of `console` gives it. */
function consoleMember(host: HostGlobals, key: string, value: Function, packageName: string): unknown {
  const own = consoleFor(shareable(host, 'console', host.console), packageName) as Record<string, unknown> | undefined;
  const method = own?.[key];
  // The global's current method (a replaced one is the app's, kept).
  return typeof method === 'function' && (host.console as Record<string, unknown> | undefined)?.[key] === value ? method : hostLeaf(value);
}

/**
 * A grant of a host class's prototype (`"URL.prototype": true`, which the generator
 * writes for `@hapi/hoek`'s `url: URL.prototype`): the prototype a grant of the class
 * shows (its hardened `prototype`; a capability class's, disarmed), as in LavaMoat, so
 * that it is the prototype of the host's instances (hoek compares prototypes, and makes
 * copies through its `constructor`). Not a frozen copy of a data object: that read every
 * accessor of the prototype on the prototype itself (`Receiver must be an instance of
 * class URL`).
 */
function classPrototypeLeaf(host: HostGlobals, path: readonly string[], value: unknown): unknown {
  if (path.length !== 2 || path[1] !== 'prototype' || value === null || typeof value !== 'object') return undefined;
  const owner: unknown = host[path[0]!];
  if (typeof owner !== 'function' || (owner as { prototype?: unknown }).prototype !== value) return undefined;
  const shared: unknown = shareable(host, path[0]!, owner);
  return typeof shared === 'function' ? (shared as { prototype?: unknown }).prototype : undefined;
}

function readGrantOf(host: HostGlobals, name: string, strict: boolean, packageName = ''): PropertyDescriptor {
  const perPackage = Object.hasOwn(PER_PACKAGE, name) ? PER_PACKAGE[name] : undefined;
  let own: { value: unknown } | undefined;
  let seen: unknown;
  let shared: unknown;
  let primed = false;
  return {
    get() {
      if (own) return own.value;
      const value = host[name];
      if (!primed || value !== seen) {
        shared = shareable(host, name, value);
        if (perPackage !== undefined) shared = perPackage(shared, packageName);
        // Strict mode: a read grant of an object (one the app put on its global, an
        // instance of its classes) cannot change it for the app and the other packages: a
        // read-only view. (What the boundary gives is frozen or a view already, and needs
        // none; a whole `process` grant is the process.)
        if (strict && shared === value && typeof value === 'object' && value !== null && name !== 'process') {
          shared = viewFor(value, ownerOf('global', name));
        }
        seen = value;
        primed = true;
      }
      return shared;
    },
    set(value: unknown) {
      own = { value };
    },
    enumerable: Reflect.getOwnPropertyDescriptor(host, name)?.enumerable ?? true,
    configurable: true,
  };
}

/**
 * Functions of `process` that read process-wide state called without an argument and
 * change it with one: a read grant (`"process.umask": true`, which policies list for a
 * package that reads the mask to compute a file's mode, as write-file-atomic does) may
 * call them only to read. `process.umask(0)` made every file and directory the app
 * created afterwards writable by every user of the machine (docs/attacks.md, case 193).
 * `"write"` or a whole `process` grant sets them (a builtin grant of `process` members has
 * no `"write"`: only the whole module).
 */
const READ_OR_SET: Readonly<Record<string, string>> = { 'process.umask': 'the file mode mask of the whole process' };
const readOnlySetters = new WeakMap<Function, Function>();
export function guardedProcessMember(value: unknown, access: Access, key: string): unknown {
  if (typeof value !== 'function') return value;
  // Whatever the grant: the variables the env view protects (case 196).
  if (key === 'process.loadEnvFile') return envFileLoaderFor(value);
  if (access === 'write') return value;
  const what = READ_OR_SET[key];
  if (what === undefined) return value;
  let reader = readOnlySetters.get(value);
  if (reader === undefined) {
    const real = value;
    reader = {
      [real.name || key](this: unknown, ...args: unknown[]): unknown {
        if (args.length > 0 && args[0] !== undefined) {
          throw new TypeError(`LavaMoat: ${key}(value) sets ${what}: a read grant of "${key}" only reads it (grant the global "${key}": "write", or the whole process)`);
        }
        return Reflect.apply(real, this, []);
      },
    }[real.name || key]!;
    Object.defineProperty(reader, 'length', { value: real.length });
    readOnlySetters.set(real, Object.freeze(reader));
  }
  return reader;
}

/**
 * Property descriptors for the globals a package's policy grants, made when the
 * package's first module loads (so a global the app set up before that is seen, as in
 * LavaMoat, whose compartments are created at that point).
 */
export function makeEndowments(
  globals: Record<string, GlobalValue> | undefined,
  host: HostGlobals,
  /** Names the compartment already has (its own intrinsics, and its `Error`). */
  provided: (name: string) => boolean = () => false,
  /**
   * Recording only (usage.ts): `use` is told each grant key on its first use (and the
   * name of an object holding dotted grants when it is read), `unobserved` each grant key
   * met by the compartment's own intrinsics, which no accessor sees.
   */
  observe?: { use(key: string): void; unobserved(key: string): void },
  /** Strict mode: read grants of object globals are read-only. */
  strict?: StrictGrants,
  /** The package's name (its own namespace where a global has one: `BroadcastChannel`). */
  packageName?: string,
): PropertyDescriptorMap {
  const descriptors: PropertyDescriptorMap = {};
  const tree = buildTree(globals ?? {});
  for (const [name, node] of tree.children) {
    // A grant of an intrinsic (`Error.captureStackTrace`, `Object.keys`) is met by the
    // compartment's own, which is the same frozen object or a confined equivalent.
    if (provided(name)) {
      if (observe) {
        for (const [key, value] of Object.entries(globals ?? {})) {
          if (accessOf(value) !== undefined && (key === name || key.startsWith(`${name}.`))) observe.unobserved(key);
        }
      }
      continue;
    }
    if (node.access === 'write') {
      const writeGrant: PropertyDescriptor = {
        get: () => host[name],
        set: (value: unknown) => {
          beforeGlobalWrite(name);
          host[name] = value;
        },
        enumerable: true,
        // A package that creates a global may delete it again (sass's
        // `delete globalThis._cliPkgExports`), which strict code cannot do to a
        // non-configurable property. The delete removes this accessor from the package's
        // own global; the host keeps the last value written.
        configurable: true,
      };
      descriptors[name] = observe ? observed(writeGrant, () => observe.use(name)) : writeGrant;
    } else if (node.access) {
      // Even when the host has no such global yet: another package granted "write" (or
      // the app) may define it later, and this package then reads it.
      descriptors[name] = readGrant(host, name, strict !== undefined, observe && (() => observe.use(name)), packageName ?? strict?.packageName);
    } else {
      if (host[name] === undefined || host[name] === null) continue;
      const view = {};
      defineNarrowed(view, node, host as object, [name], {
        guardCallbacks: true,
        platform: PLATFORM_GLOBALS.has(name),
        leaf: (value: unknown, access: Access, path: readonly string[]) =>
          path.length === 2 && path[0] === 'console' && typeof value === 'function'
            ? consoleMember(host, path[1]!, value, packageName ?? strict?.packageName ?? '')
            : (classPrototypeLeaf(host, path, value) ?? hostLeaf(guardedProcessMember(value, access, path.join('.')), access, strict)),
        ...(observe && { observe: (path: readonly string[]) => observe.use(path.join('.')) }),
      });
      // The package's own object, on its own global: replacing it changes nothing else.
      descriptors[name] = observe
        ? ownObjectObserved(view, () => observe.use(name))
        : { value: view, writable: true, enumerable: true, configurable: true };
    }
  }
  return descriptors;
}

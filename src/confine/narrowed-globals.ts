/**
 * Dotted grants (`"process.env": true`, `"fs.promises.readFile": true`): an object that
 * holds only the granted paths of a host value, read live, with methods called on their
 * real parent, so that `process.hrtime.bigint()` and `fs.promises.readFile()` run as
 * Node's own while nothing else of `process` or `fs` exists for the package. Used for a
 * package's globals (endowments.ts) and for the builtin modules it is granted members of
 * (builtins.ts, `narrowedView`).
 */
import type { GlobalPolicyValue as GlobalValue } from '../policy/types.js';
import process from 'node:process';
import { deliver, hasInstancePrototype } from './boundary.js';
import { foreignReceiver } from './views.js';
import { isForeignCapabilityCall } from './capability-classes.js';
import { hostGlobalReader } from './scuttle.js';
import { inspectorTask, isHostCreateTask } from './inspector-tasks.js';

export type Access = 'read' | 'write' | 'redefine';

export function accessOf(value: GlobalValue): Access | undefined {
  if (value === true || value === 'read') return 'read';
  if (value === 'write') return 'write';
  if (value === 'redefine') return 'redefine';
  return undefined;
}

export interface Node {
  access?: Access;
  children: Map<string, Node>;
}

export function buildTree(globals: Record<string, GlobalValue>): Node {
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
export function observed(descriptor: PropertyDescriptor, note: () => unknown): PropertyDescriptor {
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
export function ownObjectObserved(view: object, note: () => void): PropertyDescriptor {
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
export const PLATFORM_GLOBALS = new Set<PropertyKey>(Reflect.ownKeys(globalThis));

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
  let lastWhole = false;
  return (value: unknown, whole = false): unknown => {
    if (typeof value !== 'function') return value;
    if (value === lastTarget && whole === lastWhole) return lastWrapper;
    lastTarget = value;
    lastWhole = whole;
    // A static of a class the package's global grant would hand out whole
    // (`AbortSignal.any`, `URL.parse`): called as that grant's is, its result (a signal,
    // a URL the class made) as it is, not an opaque token.
    const guard = guardCallbacks && !whole;
    // A hardened class of a module (`zlib.Gzip`, `fs.ReadStream`), as a whole-module grant
    // hands it out: what the proxy adds is nothing a class needs (it is frozen; `new`
    // builds the same object; called as a function on the view, an ES5 class of Node's
    // makes an instance or writes the package's own view), and `x instanceof` a proxy
    // takes V8's slow path, twice through the proxy: destroy's seven checks of a stream
    // cost 2 us a call instead of 0.2.
    if (!guard && isFrozenClass(value)) {
      lastWrapper = value;
      return value;
    }
    const deliverArguments = guard && value !== hostNextTick;
    const wrapper: Function = new Proxy(value, {
      apply(target, thisArg, args) {
        const parent = realParent();
        // A capability class's method (a socket's `connect`), only on the host object.
        if (isForeignCapabilityCall(target, thisArg, view, parent)) throw foreignReceiver(String(target.name || 'a method'));
        const given = guard ? args.map((arg) => guardCallback(arg, deliverArguments)) : args;
        const result = Reflect.apply(target, thisArg === view ? parent : thisArg, given);
        if (result === parent && parent !== undefined) return view;
        if (!guard || (platform && isPlatformResult(result))) return result;
        // `console.createTask(name)`: the caller's own task (inspector-tasks.ts).
        if (platform && isHostCreateTask(target)) return inspectorTask(result) ?? deliver(result, own);
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

export type LeafFilter = (value: unknown, access: Access, path: readonly string[]) => unknown;

export interface NarrowOptions {
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
  /**
   * With `guardCallbacks`: whether the member at `path` (its current value `raw`) is a
   * static of a class that a grant of the whole global hands out as it is, so that it is
   * called as that grant's is (its arguments and result not delivered).
   */
  whole?: (raw: unknown, path: readonly string[]) => boolean;
}

export function defineNarrowed(view: object, node: Node, host: object, path: string[], options: NarrowOptions = {}): void {
  const { freeze = false, leaf, guardCallbacks = false, localWrites = false, observe, platform = true, whole } = options;
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
            lastOut = wrap(leaf ? leaf(raw, child.access!, childPath) : raw, whole !== undefined && whole(raw, childPath));
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

/**
 * Endowments: what a package's compartment global holds, made from its `globals` policy
 * and the host's real globals (captured before scuttling).
 *
 * - `"x": true` (or `"read"`): the host's current value, in a form that cannot be used
 *   to change it (see shared-globals.ts); assigning to it changes only the package's own
 *   global, never the host's or another package's.
 * - `"x": "write"`: an accessor to the host's property, so every package granted it
 *   (and the app) sees the same value.
 * - `"x": "redefine"`: like read, and the package may also `Object.defineProperty` it.
 * - `"a.b": ...`: `a` is a new object holding only the granted paths; leaves are live
 *   (read through to the host's current value), methods are called with the real
 *   parent as `this`.
 * Everything else does not exist in the compartment.
 */
import type { GlobalPolicyValue as GlobalValue } from './policy/types.js';
import { shareable } from './shared-globals.js';

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

const readPath = (host: object, path: readonly string[]): unknown => {
  let value: unknown = host;
  for (const part of path) {
    if (value === null || value === undefined) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
};

/**
 * A function reached through a narrowed object is called on the real parent: code
 * writes `process.on(...)`, and `this` would otherwise be the narrowed view. The real
 * parent must not leak back: a method returning it (`process.on` returns `process` for
 * chaining) returns the view instead, and a callback it is given (a listener, which the
 * emitter calls with itself as `this`) sees the view as `this`.
 */
function makeMethodWrapper(view: object, realParent: () => unknown) {
  let lastTarget: Function | undefined;
  let lastWrapper: Function | undefined;
  const callbacks = new WeakMap<Function, Function>();
  const guardCallback = (value: unknown): unknown => {
    if (typeof value !== 'function') return value;
    let guarded = callbacks.get(value);
    if (!guarded) {
      const callback = value;
      guarded = function (this: unknown, ...args: unknown[]) {
        return Reflect.apply(callback, this === realParent() ? view : this, args);
      };
      callbacks.set(callback, guarded);
    }
    return guarded;
  };
  return (value: unknown): unknown => {
    if (typeof value !== 'function') return value;
    if (value === lastTarget) return lastWrapper;
    lastTarget = value;
    lastWrapper = new Proxy(value, {
      apply(target, thisArg, args) {
        const parent = realParent();
        const result = Reflect.apply(target, thisArg === view ? parent : thisArg, args.map(guardCallback));
        return result === parent && parent !== undefined ? view : result;
      },
      // The host function is shared with the app: a package may not modify it.
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
      setPrototypeOf: () => false,
    });
    return lastWrapper;
  };
}

type LeafFilter = (value: unknown) => unknown;

function defineNarrowed(view: object, node: Node, host: object, path: string[], freeze = false, leaf?: LeafFilter): void {
  for (const [name, child] of node.children) {
    const childPath = [...path, name];
    if (child.access) {
      const wrap = makeMethodWrapper(view, () => readPath(host, path));
      const descriptor: PropertyDescriptor = {
        get: () => wrap(leaf ? leaf(readPath(host, childPath)) : readPath(host, childPath)),
        enumerable: true,
        configurable: child.access === 'redefine',
      };
      if (child.access === 'write') {
        descriptor.set = (value: unknown) => {
          const parent = readPath(host, path) as Record<string, unknown> | undefined;
          if (parent !== null && parent !== undefined) parent[name] = value;
        };
      }
      Object.defineProperty(view, name, descriptor);
    } else {
      const inner = {};
      defineNarrowed(inner, child, host, childPath, freeze, leaf);
      Object.defineProperty(view, name, { value: inner, writable: !freeze, enumerable: true, configurable: false });
    }
  }
  if (freeze) Object.freeze(view);
}

/**
 * A frozen object holding only `paths` of `source`, read live, with methods called on
 * their real parent: how a package sees a builtin module it was granted members of.
 */
export function narrowedView(source: object, paths: readonly (readonly string[])[], leaf?: LeafFilter): object {
  const tree = buildTree(Object.fromEntries(paths.map((p) => [p.join('.'), true])));
  const view = {};
  defineNarrowed(view, tree, { source }, ['source'], true, leaf);
  return view;
}

/** Property descriptors for a compartment's global object. */
export function makeEndowments(
  globals: Record<string, GlobalValue> | undefined,
  host: HostGlobals,
  /** Names the compartment already has (its own intrinsics, and its `Error`). */
  provided: (name: string) => boolean = () => false,
): PropertyDescriptorMap {
  const descriptors: PropertyDescriptorMap = {};
  for (const name of UNIVERSAL_GLOBALS) {
    descriptors[name] = { value: host[name], writable: true, enumerable: false, configurable: true };
  }
  const tree = buildTree(globals ?? {});
  for (const [name, node] of tree.children) {
    // A grant of an intrinsic (`Error.captureStackTrace`, `Object.keys`) is met by the
    // compartment's own, which is the same frozen object or a confined equivalent.
    if (provided(name) && !(UNIVERSAL_GLOBALS as readonly string[]).includes(name)) continue;
    if (node.access === 'write') {
      descriptors[name] = {
        get: () => host[name],
        set: (value: unknown) => {
          host[name] = value;
        },
        enumerable: true,
        configurable: false,
      };
    } else if (node.access) {
      // Read through to the host, so a global the app sets up after start-up (and
      // before the package runs) is seen, as LavaMoat's lazily created compartments
      // see it; an assignment shadows it for this package only.
      let shadow: { value: unknown } | undefined;
      descriptors[name] = {
        get: () => (shadow ? shadow.value : shareable(host, name, host[name])),
        set: (value: unknown) => {
          shadow = { value };
        },
        enumerable: true,
        configurable: node.access === 'redefine',
      };
    } else {
      if (host[name] === undefined || host[name] === null) continue;
      const view = {};
      defineNarrowed(view, node, host as object, [name]);
      descriptors[name] = { value: view, writable: true, enumerable: true, configurable: false };
    }
  }
  return descriptors;
}

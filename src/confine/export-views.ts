/**
 * Strict mode: read-only views of what one package exports, for every other party
 * that links to it (config `strict`, docs/design.md "Strict mode").
 *
 * A package's exports (its module namespace, its CommonJS `module.exports`) and what is
 * reachable from them by property access (nested objects, functions and their
 * properties, class prototypes, what getters return, prototypes) reach another package
 * as views: proxies that read through to the real objects, live, and refuse every
 * change (assignment, `defineProperty`, `delete`, `setPrototypeOf`,
 * `preventExtensions`). The exporting package keeps its own objects and changes them as
 * it likes (lazy getters, caches, counters); so do packages whose policy grants
 * `"packages": { "<name>": "write" }`: their links give them the exports themselves.
 *
 * What runs the exporting package's code runs on its real objects:
 * - calling a function through a view calls the function itself, with `this` and the
 *   arguments that are views of the same package's objects unwrapped (`moment(m)`,
 *   `emitter.removeListener(fn)`, `dayjs.extend(plugin)`); a setter it defines runs on
 *   the real object (`chalk.level = 0`);
 * - methods a package's objects inherit from Node's classes (an exported emitter's `on`)
 *   run on the real object too;
 * - the JavaScript intrinsics run on the view, so that `exportedArray.push(x)` is refused
 *   like any assignment; for objects with internal slots (Map, Set, Date, ...) their
 *   reading methods run on the real object and their writing ones are refused.
 * What a call returns is given as it is, or as its view when the caller already holds
 * that object as a view (a method returning `this`), or when the call was handed the
 * package's own objects (`_.get(_, 'templateSettings')`: read from them, it is viewed). `new` through a view makes an
 * ordinary object whose prototype is the view of the class's prototype, so that neither
 * `Object.getPrototypeOf(instance)` nor `instance.constructor` hands out the real class;
 * the class answers `instanceof` for such objects (its `Symbol.hasInstance`).
 *
 * Views are shared: one per real object, whoever asks, so identity holds between the
 * packages that hold them. Deeply frozen values (the intrinsics, Node's hardened classes,
 * a package's own hardened data) need no view and are given as they are.
 *
 * Why one file of about 530 lines: the view's proxy traps, the cache of views by target
 * and the rules for what a view shows (functions, classes, accessors, promises) are one
 * mechanism, which strict mode's guarantees rest on; read apart they would hide how a
 * value is shown twice the same way.
 */
import { types } from 'node:util';
import { isDeepFrozen, isNativeFunction, isSlotMutator, noteDeepFrozen, slotKindOf, type SlotKind } from './view-values.js';

/** Whose objects a view shows: a package (by canonical name) or a global granted read. */
export interface ViewOwner {
  readonly kind: 'package' | 'global';
  readonly name: string;
}

const owners = new Map<string, ViewOwner>();

/** The one owner object per package or global (views compare owners by identity). */
export function ownerOf(kind: ViewOwner['kind'], name: string): ViewOwner {
  const key = `${kind}:${name}`;
  let owner = owners.get(key);
  if (!owner) {
    owner = Object.freeze({ kind, name });
    owners.set(key, owner);
  }
  return owner;
}

export class StrictModeDenied extends TypeError {
  readonly code = 'LAVAMOAT_STRICT_DENIED';
}
Object.defineProperty(StrictModeDenied.prototype, 'name', { value: 'StrictModeDenied', writable: true, configurable: true });
Object.freeze(StrictModeDenied.prototype);
Object.freeze(StrictModeDenied);

/** What the refusal says: set by the runtime, which knows the packages and policy files. */
type RefusalMessage = (owner: ViewOwner, action: string, key: PropertyKey | undefined) => string;
let refusalMessage: RefusalMessage = (owner, action, key) =>
  `LavaMoat (strict mode): cannot ${action}${key === undefined ? '' : ` ${String(key)}`} of what ${owner.kind} "${owner.name}" exports`;

export function setRefusalMessage(message: RefusalMessage): void {
  refusalMessage = message;
}

const refuse = (owner: ViewOwner, action: string, key?: PropertyKey): never => {
  throw new StrictModeDenied(refusalMessage(owner, action, key));
};

const isObject = (value: unknown): value is object =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

const { apply, construct, get, set, getOwnPropertyDescriptor, getPrototypeOf, ownKeys, defineProperty, isExtensible } = Reflect;
const FunctionToString = Function.prototype.toString;
const FunctionHasInstance = Function.prototype[Symbol.hasInstance];

const ITERATING = new Set<PropertyKey>(['entries', 'keys', 'values', Symbol.iterator]);

// ---------------------------------------------------------------------------------
// Views

/** View → its handler; a handler holds the real object. */
const handlers = new WeakMap<object, ViewHandler>();
/** Real object → its view (or the object itself when it needs none). */
const viewOf = new WeakMap<object, object>();
/** Classes whose `Symbol.hasInstance` knows about views. */
const patched = new WeakSet<Function>();

/** The real object behind a view; undefined for anything else. */
export const rawOf = (value: unknown): object | undefined => (isObject(value) ? handlers.get(value)?.raw : undefined);


/** The values of JSON modules (formats/index.ts): data, seen by other packages as a frozen copy. */
const jsonValues = new WeakSet<object>();

export function noteJsonValue(value: unknown): void {
  if (isObject(value)) jsonValues.add(value);
}

/**
 * A JSON module's value, for other packages: a deeply frozen copy, made once, when a
 * package other than its own first reaches it (nothing to intercept: mime-db's 2,400
 * entries read through views cost tens of milliseconds at start-up, the copy about one).
 * Its package keeps the data itself; a change it makes later is not in the copy.
 */
function frozenCopy(value: object, owner: ViewOwner): object {
  // Only the copy's root is remembered: nobody reaches its inside but through it, and
  // nothing of it needs a view (its nodes are frozen data).
  const copies = new Map<object, unknown>();
  const copy = (item: unknown): unknown => {
    if (!isObject(item)) return item;
    const done = copies.get(item);
    if (done !== undefined) return done;
    const proto = getPrototypeOf(item);
    const isArray = Array.isArray(item);
    // Not JSON any more (its package put something else in it): viewed.
    if ((!isArray && proto !== Object.prototype && proto !== null) || types.isProxy(item)) return viewFor(item, owner);
    const out: Record<string, unknown> = isArray ? ([] as unknown as Record<string, unknown>) : proto === null ? Object.create(null) : {};
    copies.set(item, out);
    for (const key of Object.keys(item)) out[key] = copy((item as Record<string, unknown>)[key]);
    return Object.freeze(out);
  };
  const root = copy(value) as object;
  noteDeepFrozen(root);
  viewOf.set(value, root);
  viewOf.set(root, root);
  return root;
}

/** `value` as a package other than `owner` sees it (primitives and deeply frozen values as they are). */
export function viewFor(value: unknown, owner: ViewOwner): unknown {
  if (!isObject(value)) return value;
  const known = viewOf.get(value);
  if (known !== undefined) return known;
  if (jsonValues.has(value)) return frozenCopy(value, owner);
  if (handlers.has(value) || isDeepFrozen(value)) {
    viewOf.set(value, value);
    return value;
  }
  const handler = new ViewHandler(value, owner);
  const view = new Proxy(handler.target, handler as ProxyHandler<object>);
  handler.view = view;
  handlers.set(view, handler);
  viewOf.set(value, view);
  return view;
}

/** What a call through a view returns: the caller's view of it if it holds one, else itself. */
const known = (value: unknown): unknown => (isObject(value) ? (viewOf.get(value) ?? value) : value);

/** A view of `owner`'s object unwrapped (what the owner's own code receives), anything else as it is. */
const unwrapFor = (value: unknown, owner: ViewOwner): unknown => {
  if (!isObject(value)) return value;
  const handler = handlers.get(value);
  return handler !== undefined && handler.owner === owner ? handler.raw : value;
};

function unwrapArgs(args: unknown[], owner: ViewOwner): unknown[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (isObject(arg) && handlers.get(arg)?.owner === owner) return args.map((a) => unwrapFor(a, owner));
  }
  return args;
}

/**
 * `x instanceof C` for a class `C` reached through views: true when `C.prototype` (or
 * its view) is on `x`'s prototype chain, walking views as the objects they show.
 */
const viewHasInstance = {
  [Symbol.hasInstance](this: unknown, candidate: unknown): boolean {
    const self = rawOf(this) ?? this;
    if (typeof self !== 'function') return false;
    if (apply(FunctionHasInstance, self, [rawOf(candidate) ?? candidate])) return true;
    if (!isObject(candidate)) return false;
    const proto: unknown = get(self, 'prototype');
    if (!isObject(proto)) return apply(FunctionHasInstance, self, [candidate]) as boolean;
    for (let p = getPrototypeOf(rawOf(candidate) ?? candidate); p !== null; p = getPrototypeOf(rawOf(p) ?? p)) {
      if (p === proto || rawOf(p) === proto) return true;
    }
    return false;
  },
}[Symbol.hasInstance];
Object.freeze(viewHasInstance);

/**
 * The class's own code checks `this instanceof C` (ES5 constructors) or `x instanceof C`
 * on objects made through its view, whose prototype is the view of `C.prototype`: its
 * `Symbol.hasInstance` learns about views, where it has the default one.
 */
function patchHasInstance(fn: Function): void {
  if (patched.has(fn)) return;
  patched.add(fn);
  try {
    if (!isExtensible(fn) || Object.prototype.hasOwnProperty.call(fn, Symbol.hasInstance)) return;
    if (get(fn, Symbol.hasInstance) !== FunctionHasInstance) return;
    defineProperty(fn, Symbol.hasInstance, { value: viewHasInstance, writable: false, enumerable: false, configurable: true });
  } catch {
    // A class that cannot learn it answers for its own objects only.
  }
}

/**
 * Whether `value` has a non-configurable property a proxy would have to report as it is:
 * an accessor (its getter), or a non-writable one holding an object.
 */
function hasFixedObject(value: object): boolean {
  for (const key of ownKeys(value)) {
    const descriptor = getOwnPropertyDescriptor(value, key);
    if (!descriptor || descriptor.configurable) continue;
    if (!('value' in descriptor) || (descriptor.writable === false && isObject(descriptor.value))) return true;
  }
  return false;
}

function isConstructor(fn: Function): boolean {
  // Classes and ordinary functions have a `prototype`; arrows, methods and async
  // functions have none (bound functions and proxies are asked).
  if (Object.prototype.hasOwnProperty.call(fn, 'prototype')) return true;
  try {
    construct(Object, [], fn as new () => unknown);
    return true;
  } catch {
    return false;
  }
}

/** An empty callable target for a function's view (constructible when the function is). */
function functionShadow(fn: Function): Function {
  // Bound functions have no `prototype` (which would bind the proxy to its own).
  const shadow = (isConstructor(fn) ? function () {} : () => {}).bind(undefined);
  // Its `name` and `length` are configurable, as a function's are: the traps report the
  // real function's. The name is what util.inspect shows of the view (it inspects the target).
  try {
    defineProperty(shadow, 'name', { value: (fn as { name?: unknown }).name, configurable: true });
  } catch {
    // A name getter that throws: left out.
  }
  return shadow;
}

class ViewHandler {
  view: object = undefined as unknown as object;
  /** The proxy's target: the real object, or a stand-in where proxy invariants require one. */
  readonly target: object;
  /** Whether the target is the real object (invariants then bind what a trap may answer). */
  private readonly direct: boolean;
  private readonly slots: SlotKind | undefined;
  /** Functions handed out for methods that need the real object (slot methods, Node's). */
  private methods: Map<Function, Function> | undefined;
  /** A getter of the exports: what it returns is part of them (viewed). */
  readsExports = false;
  /** Callbacks given to inherited methods, guarded (`on` and `off` must agree), and back. */
  private callbacks: WeakMap<Function, Function> | undefined;
  private originals: WeakMap<Function, Function> | undefined;

  constructor(
    readonly raw: object,
    readonly owner: ViewOwner,
  ) {
    if (typeof raw === 'function') {
      this.target = functionShadow(raw);
      this.direct = false;
    } else if (Object.isFrozen(raw) || hasFixedObject(raw)) {
      // A proxy of an object with fixed properties (frozen, or a non-writable,
      // non-configurable one holding an object, or a non-configurable accessor) could
      // only report them as they are: the target is an empty stand-in, given what is
      // asked of it as it is asked (see getOwnPropertyDescriptor). An object that fixes
      // such a property only after a view of it was made (rare: packages freeze their
      // exports before anyone else has them) makes reads of it through that view throw
      // (the proxy's invariants), rather than hand out the real value.
      this.target = Array.isArray(raw) ? [] : {};
      this.direct = false;
    } else {
      this.target = raw;
      this.direct = true;
    }
    this.slots = slotKindOf(raw);
  }

  private shown(descriptor: PropertyDescriptor): PropertyDescriptor {
    if ('value' in descriptor) return { ...descriptor, value: this.out(descriptor.value) };
    const get = this.out(descriptor.get);
    // Called by itself (`descriptor.get.call(x)`), a getter still reads the exports.
    const getter = isObject(get) ? handlers.get(get) : undefined;
    if (getter) getter.readsExports = true;
    return { ...descriptor, get: get as (() => unknown) | undefined, set: this.out(descriptor.set) as ((v: unknown) => void) | undefined };
  }

  /** A value read from the real object, as the view's holder gets it. */
  private out(value: unknown, key?: PropertyKey): unknown {
    if (!isObject(value)) return value;
    const known = viewOf.get(value);
    if (known !== undefined && known !== value) return known;
    if (typeof value === 'function') {
      const shown = viewFor(value, this.owner);
      if (shown !== value || key === undefined) return shown;
      // A function that needs no view: an intrinsic, or Node's (hardened).
      return this.method(value, key);
    }
    return viewFor(value, this.owner);
  }

  /** A deeply frozen function read through the view, as the holder may call it. */
  private method(fn: Function, key: PropertyKey): Function {
    if (fn === FunctionHasInstance && key === Symbol.hasInstance) return viewHasInstance;
    if (isNativeFunction(fn)) {
      // Objects with internal slots: reading methods run on the real object, writing
      // ones are refused.
      if (this.slots !== undefined) return isSlotMutator(this.slots, key) ? this.refusing(fn, key) : this.bound(fn, key, true);
      // The source text of a function is the function's.
      if (fn === FunctionToString && typeof this.raw === 'function') return this.bound(fn, key, false);
      // The intrinsics run on the view, so that what they write is refused.
      return fn;
    }
    // Node's (hardened), or a package's own frozen function: held as a value (`Buffer`
    // on safe-buffer's exports, `realpath` on graceful-fs's), it is itself; inherited (a
    // method of the object's class: an exported emitter's `on`), it runs on the real object.
    if (Object.prototype.hasOwnProperty.call(this.raw, key)) return fn;
    return this.inherited(fn);
  }

  /**
   * `fn` (with its own properties) called on the real object when called on the view. The
   * functions it is given (an emitter's listeners) are called with the view where Node
   * would pass the real object (the listener's `this`, a `'newListener'` argument).
   */
  private inherited(fn: Function): Function {
    this.methods ??= new Map();
    let method = this.methods.get(fn);
    if (!method) {
      const { raw, view } = this;
      const callbacks = (this.callbacks ??= new WeakMap());
      const originals = (this.originals ??= new WeakMap());
      const guard = (value: unknown): unknown => {
        if (typeof value !== 'function') return value;
        let guarded = callbacks.get(value);
        if (!guarded) {
          const callback = value;
          guarded = function (this: unknown, ...args: unknown[]): unknown {
            return apply(callback, this === raw ? view : this, args.map((arg) => (arg === raw ? view : arg)));
          };
          callbacks.set(callback, guarded);
          originals.set(guarded, callback);
        }
        return guarded;
      };
      method = new Proxy(fn, {
        apply: (target, thisArg, args) => {
          if (thisArg !== view) return apply(target, thisArg, args);
          const result: unknown = apply(target, raw, args.map(guard));
          // `listeners()` gives back the functions the holder registered.
          if (Array.isArray(result)) return result.map((item) => (typeof item === 'function' ? (originals.get(item) ?? item) : item));
          return known(result);
        },
      });
      this.methods.set(fn, method);
    }
    return method;
  }

  private refusing(fn: Function, key: PropertyKey): Function {
    this.methods ??= new Map();
    let refusing = this.methods.get(fn);
    if (!refusing) {
      const owner = this.owner;
      refusing = function (): never {
        return refuse(owner, `change (${String(key)}())`);
      };
      Object.defineProperty(refusing, 'name', { value: (fn as { name?: string }).name ?? '' });
      this.methods.set(fn, refusing);
    }
    return refusing;
  }

  /** `fn` called on the real object when called on the view; its result as the holder gets it. */
  private bound(fn: Function, key: PropertyKey, slotted: boolean): Function {
    this.methods ??= new Map();
    let bound = this.methods.get(fn);
    if (bound) return bound;
    const { raw, view, slots } = this;
    const out = (value: unknown): unknown => this.out(value);
    const iterating = slotted && ITERATING.has(key) && (this.slots === 'map' || this.slots === 'set');
    const forEach = slotted && key === 'forEach' && (this.slots === 'map' || this.slots === 'set');
    const then = slotted && this.slots === 'promise' && (key === 'then' || key === 'catch' || key === 'finally');
    bound = function (this: unknown, ...args: unknown[]): unknown {
      const self = this === view ? raw : this;
      if (self !== raw) return apply(fn, this, args);
      if (forEach) {
        const [callback, thisArg] = args as [Function, unknown];
        return apply(fn, raw, [(v: unknown, k: unknown) => apply(callback, thisArg, [out(v), out(k), view])]);
      }
      if (then) {
        const wrapped = args.map((arg, i) => (typeof arg === 'function' && (key !== 'finally' || i > 0) ? (v: unknown) => apply(arg, undefined, [out(v)]) : arg));
        return apply(fn, raw, wrapped);
      }
      const result: unknown = apply(fn, raw, args);
      if (iterating) return viewIterator(result as Iterator<unknown>, out);
      // What a Map or Set holds is the package's; a typed array's copies (slice, map)
      // are the caller's, its subarray is not.
      if (slotted) return slots === 'typedarray' && key !== 'subarray' ? result : out(result);
      return known(result);
    };
    Object.defineProperty(bound, 'name', { value: (fn as { name?: string }).name ?? '' });
    this.methods.set(fn, bound);
    return bound;
  }

  // -- traps

  get(_target: object, key: PropertyKey, receiver: unknown): unknown {
    const raw = this.raw;
    if (receiver !== this.view) {
      // The view is in another object's prototype chain (an instance made through it,
      // a subclass): that object reads, and getters see it.
      return this.out(get(raw, key, receiver), key);
    }
    const value: unknown = get(raw, key, raw);
    // `class X extends View`, `Object.create(View.prototype)`: the class will meet
    // objects whose prototype is the view of its own.
    if (key === 'prototype' && typeof raw === 'function') patchHasInstance(raw);
    // (An object whose properties could bind what this answers has a stand-in target,
    // decided when the view is made: see the constructor.)
    return this.out(value, key);
  }

  set(_target: object, key: PropertyKey, value: unknown, receiver: unknown): boolean {
    const raw = this.raw;
    if (receiver !== this.view) return set(raw, key, value, receiver);
    // Setting a property to the value it has changes nothing (`exports.x = exports.x || y`).
    const current = getOwnPropertyDescriptor(raw, key);
    if (current && 'value' in current && (Object.is(current.value, value) || (isObject(value) && rawOf(value) === current.value))) return true;
    // A setter of the package's own (on its live objects: not a hardened intrinsic's or
    // Node class's, whose setters are `__proto__` and override taming) is its own code,
    // called with assignment syntax: it runs on the real object.
    for (let o: object | null = raw; o !== null; o = getPrototypeOf(o)) {
      const descriptor = getOwnPropertyDescriptor(o, key);
      if (descriptor === undefined) continue;
      if (descriptor.set !== undefined && Object.isExtensible(o) && !isNativeFunction(descriptor.set)) {
        apply(descriptor.set, raw, [unwrapFor(value, this.owner)]);
        return true;
      }
      break;
    }
    return refuse(this.owner, 'assign', key);
  }

  defineProperty(_target: object, key: PropertyKey): boolean {
    return refuse(this.owner, 'define', key);
  }

  deleteProperty(_target: object, key: PropertyKey): boolean {
    return refuse(this.owner, 'delete', key);
  }

  setPrototypeOf(): boolean {
    return refuse(this.owner, 'replace the prototype');
  }

  preventExtensions(): boolean {
    return refuse(this.owner, 'freeze, seal or prevent extensions');
  }

  getPrototypeOf(target: object): object | null {
    if (this.direct && !isExtensible(target)) return getPrototypeOf(target);
    return this.out(getPrototypeOf(this.raw)) as object | null;
  }

  getOwnPropertyDescriptor(target: object, key: PropertyKey): PropertyDescriptor | undefined {
    const descriptor = getOwnPropertyDescriptor(this.raw, key);
    if (descriptor === undefined) return undefined;
    if (this.direct) {
      if (!descriptor.configurable && 'value' in descriptor && descriptor.writable === false) return descriptor;
      return this.shown(descriptor);
    }
    const shown = this.shown(descriptor);
    // A non-configurable property must exist on the target as it is reported.
    if (!descriptor.configurable) defineProperty(target, key, shown);
    return shown;
  }

  // A stand-in target (functions, frozen objects) answers for the real object.
  has(target: object, key: PropertyKey): boolean {
    return this.direct ? Reflect.has(target, key) : Reflect.has(this.raw, key);
  }

  ownKeys(target: object): (string | symbol)[] {
    return this.direct ? ownKeys(target) : ownKeys(this.raw);
  }

  apply(_target: object, thisArg: unknown, args: unknown[]): unknown {
    const owner = this.owner;
    const given = unwrapArgs(args, owner);
    const result: unknown = apply(this.raw as Function, unwrapFor(thisArg, owner), given);
    // A getter, or a call handed the package's own objects (`_.get(_, 'templateSettings')`,
    // `_.identity(x)`): what it returns is read from them, and is viewed as they are.
    return this.readsExports || given !== args ? this.out(result) : known(result);
  }

  construct(_target: object, args: unknown[], newTarget: Function): object {
    const raw = this.raw as Function;
    // An object made through the view inherits from the view of the class's prototype;
    // the class's own `instanceof` learns to recognise it.
    patchHasInstance(raw);
    return known(construct(raw, unwrapArgs(args, this.owner), newTarget)) as object;
  }
}

/** An iterator of a Map's or Set's entries, giving views of what they hold. */
function viewIterator(iterator: Iterator<unknown>, out: (value: unknown) => unknown): object {
  const next = iterator.next.bind(iterator);
  const shown = (value: unknown): unknown => (Array.isArray(value) ? value.map(out) : out(value));
  return {
    next() {
      const step = next();
      return step.done ? step : { done: false, value: shown(step.value) };
    },
    [Symbol.iterator]() {
      return this;
    },
  };
}

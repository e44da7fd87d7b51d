/**
 * Hardening of the host's classes: Node's (and the web platform's) constructors, their
 * prototypes and statics, frozen for everyone once packages can reach them, the way
 * lockdown freezes the JavaScript intrinsics.
 *
 * Why: a package that holds any Node object (a stream it made, a response `fetch`
 * returned, an emitter) reaches its class's prototype through `[[Prototype]]` and
 * `.constructor`, and the app's objects share that prototype. Unfrozen, a package could
 * replace `EventEmitter.prototype.emit`, `EventEmitter.init` or `Readable.prototype.push`
 * and receive every emitter and stream of the process.
 *
 * How, for each object reached:
 * - functions (classes and plain functions): frozen, with their statics, `prototype`
 *   and parent class;
 * - prototypes: every data property becomes an accessor pair first (override taming, as
 *   SES does for the intrinsics), then the prototype is frozen. The getter returns the
 *   value; the setter refuses to change the prototype itself, and on any other object
 *   (an instance, a derived prototype) defines an own data property, so code that
 *   assigns `res.end = ...` or `this._events = ...` on an instance keeps working. An
 *   object that copied the accessor onto itself (express mixes `EventEmitter.prototype`
 *   into its app function with `Object.defineProperty`) keeps a value of its own;
 * - plain data objects hanging off classes or prototypes (`util.inspect.colors`,
 *   `http.STATUS_CODES`): frozen;
 * - instances hanging off them: left alone (they are live state, the app's or Node's),
 *   but their prototype chains are hardened.
 * A property that is not configurable but writable (`EventEmitter.prototype[kCapture]`,
 * which Node itself defines so) cannot be made an accessor: it stays writable, and the
 * rest of its object is frozen. Frozen objects are taken as hardened already (the
 * intrinsics lockdown froze), so the walk stops there.
 *
 * Prototypes of native classes (a handle's, or `vm.Script`'s parent) are different:
 * their data-looking properties can be V8 accessors that store into the object's
 * internal fields (`handle.onread`), which neither an accessor of ours nor a read-only
 * property may replace. Only their methods are made read-only, and nothing can be added.
 *
 * Why one file of about 580 lines: the walk, the override-taming accessors and the
 * per-kind taming (native prototypes, V8's own `Error` kept out of parent chains,
 * properties V8 reads without JavaScript) share one `hardened` set and one queue, and a
 * walk that fails part-way must undo all of them together (`hardenHostValue`).
 */

import { disarmLoadedModules } from './capability-classes.js';
import { isStackOverflow } from './stack-overflow.js';

type Kind = 'function' | 'prototype' | 'data';

/** Objects hardened (or found frozen): each is walked once. */
const hardened = new WeakSet<object>();

/**
 * Live host objects that must stay as they are for Node to work, wherever a walk meets
 * them: the CommonJS loader (`Module`, whose statics are its caches), the real
 * `process` and global object. Packages do not reach them (boundary.ts).
 */
export function neverHarden(value: object): void {
  hardened.add(value);
}

let feralError: Function | undefined;
let sharedError: Function | undefined;

/**
 * V8's own `Error` (which SES keeps for itself: its `prepareStackTrace` receives raw call
 * sites, their receivers and functions) is the parent of Node's classes that extend
 * `Error` (`assert.AssertionError`, `SystemError`): from any of them, a package would
 * reach it. Hardening gives those classes SES's shared `Error` as their parent instead
 * (same `prototype`, so instances and `instanceof` are unchanged); V8's `Error` itself is
 * never hardened, since SES writes its stack API.
 */
export function replaceErrorParent(feral: Function, shared: Function): void {
  feralError = feral;
  sharedError = shared;
  hardened.add(feral);
}
/**
 * The functions among `holder`'s own properties whose parent is V8's own `Error`
 * (`WebAssembly.CompileError`, `LinkError`, `RuntimeError`): given the shared `Error`
 * now, before anything could freeze them with their parent (SES's `harden` of a granted
 * `WebAssembly` walked into V8's `Error`, freezing its `stackTraceLimit`).
 */
export function reparentFromFeral(holder: object): void {
  if (feralError === undefined || sharedError === undefined) return;
  for (const key of Reflect.ownKeys(holder)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(holder, key);
    const value: unknown = descriptor && 'value' in descriptor ? descriptor.value : undefined;
    if (typeof value === 'function' && Object.getPrototypeOf(value) === feralError && Object.isExtensible(value)) {
      Object.setPrototypeOf(value, sharedError);
    }
  }
}

/** Prototypes whose properties were turned into accessors. */
const tamedPrototypes = new WeakSet<object>();

/**
 * Methods V8 looks up on an object while no JavaScript may run: a deserializer's
 * `_readHostObject` (v8.Deserializer's, Node's `DefaultDeserializer`'s), which V8's
 * `ReadHostObject` reads with a plain property get in the middle of `readValue`. As an
 * override-taming accessor its getter is JavaScript, and V8 aborts the process (`Check
 * failed: AllowJavascriptExecution`): every `v8.deserialize` of a `Buffer` or typed array,
 * the app's, a package's, an advanced IPC channel's copy, ended the process (case 332).
 * They stay data, frozen (an instance's own method is still defined with
 * `Object.defineProperty` or a class field).
 */
const READ_WITHOUT_JAVASCRIPT: ReadonlySet<PropertyKey> = new Set(['_readHostObject']);

export const isObject = (value: unknown): value is object =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

/** Plain data: object literals, arrays, null-prototype records (not instances of a class). */
export const isPlainData = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || Array.isArray(value);
};

/** Returns its argument from `new`: a derived class's fields are then defined on that object. */
export class ReturnArgument {
  constructor(target: object) {
    return target;
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The accessor that stands for data property `key` of a hardened prototype: its getter
 * returns `value`; its setter refuses to change the prototype and, on any other object,
 * defines an own data property (the override an instance makes). An object that copied
 * this accessor onto itself (express's mixin) keeps a value of its own, in `copies`.
 *
 * The setter runs for every instance that assigns the property (a response whose
 * `statusCode` is set, middleware replacing `res.end`), so it is on the hot path of
 * every request: it defines the property as a class field (`new Define(this)`), which V8
 * caches like an ordinary store, where `Object.defineProperty` is a call into the
 * runtime each time, 3–6 times slower.
 */
function overrideAccessor(proto: object, key: PropertyKey, value: unknown, enumerable: boolean): PropertyDescriptor {
  let copies: WeakMap<object, unknown> | undefined;
  let pending: unknown;
  // CreateDataPropertyOrThrow, as `defineProperty` with writable, enumerable and
  // configurable true: an inherited setter is not called, a non-extensible object throws.
  // Made on the first assignment: most of the thousands of properties hardened at
  // start-up are never assigned on an instance, and a class each cost start-up time and
  // memory.
  let Define: (new (target: object) => object) | undefined;
  // Methods, not functions: a function's own `prototype` would be one more object for
  // the hardening walk to tame, with an accessor of its own, and so on without end. The
  // object holding them is the descriptor itself (one object less per property).
  const accessor = {
    get(this: unknown): unknown {
      return copies !== undefined && isObject(this) && copies.has(this) ? copies.get(this) : value;
    },
    set(this: unknown, newValue: unknown): void {
      if (this === proto) throw new TypeError(`Cannot assign to read only property '${String(key)}' of a hardened prototype`);
      if (!isObject(this)) return;
      if (hasOwn.call(this, key) && Reflect.getOwnPropertyDescriptor(this, key)?.set === accessor.set) {
        (copies ??= new WeakMap()).set(this, newValue);
        return;
      }
      pending = newValue;
      Define ??= class extends ReturnArgument {
        [key] = pending;
      };
      try {
        new Define(this);
      } finally {
        pending = undefined;
      }
    },
    enumerable,
    configurable: false,
  };
  return accessor;
}

const nativeSource = /\{\s*\[native code\]\s*\}\s*$/;

/** A prototype whose class is implemented in C++ (its `constructor` is native code). */
function isNativePrototype(proto: object): boolean {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, 'constructor');
  const ctor = descriptor && 'value' in descriptor ? descriptor.value : undefined;
  if (typeof ctor !== 'function') return false;
  try {
    // A native function's source is one short line; a class's is its whole text.
    const source = Function.prototype.toString.call(ctor);
    return source.length < 256 && nativeSource.test(source) && !ctor.name.startsWith('bound ');
  } catch (error) {
    // Out of stack: the walk fails (and is undone), rather than tame a native prototype.
    if (isStackOverflow(error)) throw error;
    return false;
  }
}

/**
 * The V8 accessor on stream handle prototypes that reads as data (its slot's garbage on
 * the prototype) up to Node 20: redefining it aborts the process. Every other property of
 * the classes `process.binding` exposes was checked to be a plain method, value or
 * accessor pair (as `onread` is from Node 22 on, which is then made non-configurable).
 */
const NATIVE_ACCESSORS = new Set(['onread']);

/**
 * Prototypes of native classes whose `constructor` native-handles.ts replaced (so that
 * it no longer reads as native code): hardened as native prototypes all the same.
 */
const nativePrototypes = new WeakSet<object>();
export const markNativePrototype = (proto: object): void => void nativePrototypes.add(proto);

/** Native prototypes Node's modules still add to when they load (see deferExtensions). */
const deferred = new Map<object, readonly string[]>();

/**
 * `proto` stays extensible until builtin `module` (any of them, where Node moved the code
 * between versions) has loaded: net, dgram and fs's watchers define an `owner` accessor on
 * the TCP, UDP and FSEvent handle prototypes, and v8 methods on its serializer's, when
 * they load.
 */
export function deferExtensions(proto: object, module: string | readonly string[]): void {
  if (!Object.isExtensible(proto)) return;
  deferred.set(proto, typeof module === 'string' ? [module] : module);
}

/** Ends the deferral for prototypes whose module has loaded (`loaded`: Node's module load list). */
export function finishDeferred(loaded: ReadonlySet<string>): void {
  for (const [proto, modules] of deferred) {
    if (!modules.some((module) => loaded.has(`NativeModule ${module}`))) continue;
    deferred.delete(proto);
    Object.preventExtensions(proto);
  }
}

const nativeCode = (fn: Function): boolean => {
  try {
    return nativeSource.test(Function.prototype.toString.call(fn));
  } catch (error) {
    // Out of stack: the walk fails, rather than leave a method writable.
    if (isStackOverflow(error)) throw error;
    return true;
  }
};

/**
 * See the module comment: the methods of a native prototype become read-only (the
 * functions Node's C++ installs under their own names, and the JavaScript functions Node
 * adds), and its plain values with `values` (for the classes whose properties are all
 * known), nothing can be added (unless deferred), and the V8 accessors are not touched:
 * redefining one calls its setter on the prototype, which aborts the process. Such an
 * accessor read on the prototype yields whatever its slot holds (a native function of
 * another name), which is how it is told from a method.
 */
export function freezeMethods(proto: object, { values = false }: { values?: boolean } = {}): void {
  const keys = Reflect.ownKeys(proto);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, key);
    if (!descriptor || !descriptor.configurable) continue;
    if ('value' in descriptor) {
      if (typeof key === 'string' && NATIVE_ACCESSORS.has(key)) continue;
      const value: unknown = descriptor.value;
      const method = typeof value === 'function' && (key === 'constructor' || value.name === String(key) || !nativeCode(value));
      // Plain values (`isStreamBase`) only where every property is known (see NATIVE_ACCESSORS).
      if (method || (values && typeof value !== 'function')) {
        Object.defineProperty(proto, key, { writable: false, configurable: false });
      } else if (!descriptor.writable) {
        // Read-only already (a C++ class's `Symbol.toStringTag`, Node 24's URLPattern):
        // it stays what it is, and can no longer be redefined (case 130).
        Object.defineProperty(proto, key, { configurable: false });
      }
    } else {
      Object.defineProperty(proto, key, { configurable: false });
    }
  }
  if (!deferred.has(proto)) Object.preventExtensions(proto);
}

type Push = (value: unknown, kind: Kind) => void;

/**
 * A prototype in one pass over its properties: data properties become override-taming
 * accessors (see the module comment), accessors become non-configurable, a property
 * that is not configurable but writable stays so, nothing can be added; what the
 * properties hold is queued. The accessors are the runtime's own methods: frozen here,
 * with nothing behind them to walk.
 */
function hardenPrototype(proto: object, push: Push): void {
  const tame = !tamedPrototypes.has(proto);
  tamedPrototypes.add(proto);
  if (tame) {
    hardenWhatDeserializes(proto);
    prepareClass(proto);
  }
  const keys = Reflect.ownKeys(proto);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, key);
    if (descriptor === undefined) continue;
    if ('value' in descriptor) {
      if (descriptor.configurable && tame && descriptor.value === undefined) {
        // A default of `undefined` (`EventEmitter.prototype._events`, `_maxListeners`)
        // reads the same when absent, and once absent, the constructor's assignment on
        // each instance is an ordinary store instead of a call to the accessor's setter.
        // The frozen prototype cannot get it back.
        Reflect.deleteProperty(proto, key);
      } else if (descriptor.configurable && tame && !READ_WITHOUT_JAVASCRIPT.has(key)) {
        const accessor = overrideAccessor(proto, key, descriptor.value, descriptor.enumerable === true);
        Object.defineProperty(proto, key, accessor);
        // Frozen, which is all a walk that meets them needs (it takes frozen as hardened).
        Object.freeze(accessor.get);
        Object.freeze(accessor.set);
      } else if (descriptor.configurable) {
        Object.defineProperty(proto, key, { configurable: false, writable: false });
      }
      push(descriptor.value, 'data');
    } else {
      if (descriptor.configurable) Object.defineProperty(proto, key, { configurable: false });
      push(descriptor.get, 'function');
      push(descriptor.set, 'function');
    }
  }
  Object.preventExtensions(proto);
}

/** What must change on a class's prototype before it is frozen, by the class's name. */
const beforeFreezing = new Map<string, (proto: object) => void>();

/**
 * Registers what must change on the prototype of Node's class `name` before it is frozen
 * (a method wrapped): done by whichever walk first hardens it, so no order of loads,
 * reads and grants can freeze it unchanged.
 */
export function prepareBeforeFreezing(name: string, prepare: (proto: object) => void): void {
  beforeFreezing.set(name, prepare);
}

function prepareClass(proto: object): void {
  if (beforeFreezing.size === 0) return;
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, 'constructor');
  const constructor: unknown = descriptor && 'value' in descriptor ? descriptor.value : undefined;
  if (typeof constructor !== 'function' || (constructor as { prototype?: unknown }).prototype !== proto) return;
  beforeFreezing.get(constructor.name)?.(proto);
}

/**
 * Objects Node's structured clone makes (a `BlockList`, `SocketAddress` or, on Node 20
 * and 22, `X509Certificate` that arrives in a message or from `structuredClone`) are
 * instances of a class of their own that no module exports (`InternalBlockList`, ...),
 * whose prototype sits between the instance and the public class's: Node's
 * deserializer constructs one, then calls the public prototype's method under
 * `messaging_deserialize_symbol` on it, before anyone else has it. That method, wrapped
 * here before the public prototype is frozen, hardens the new object's prototype chain
 * first (once per prototype): a package cloning its own block list can no longer add a
 * `check` to every block list the app receives (docs/attacks.md, case 79).
 */
function hardenWhatDeserializes(proto: object): void {
  for (const key of Object.getOwnPropertySymbols(proto)) {
    if (key.description !== 'messaging_deserialize_symbol') continue;
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, key);
    const deserialize: unknown = descriptor?.value;
    if (typeof deserialize !== 'function' || !descriptor!.configurable) return;
    const wrapper = {
      [deserialize.name || 'deserialize'](this: unknown, ...args: unknown[]): unknown {
        if (isObject(this)) {
          const made = Object.getPrototypeOf(this) as object | null;
          if (made !== null && made !== proto && !hardened.has(made)) hardenHostValue(made, 'prototype');
        }
        return Reflect.apply(deserialize, this, args);
      },
    }[deserialize.name || 'deserialize']!;
    Object.defineProperty(proto, key, { ...descriptor, value: wrapper });
    return;
  }
}

/**
 * Prototypes of the engine's that only an instance leads to and that lockdown does not
 * know (it leaves `Intl` as V8 made it): `new Intl.Segmenter().segment(text)` is a
 * `Segments` object whose prototype (`containing`, `[Symbol.iterator]`) and whose
 * iterator's (`next`) are the realm's, shared with the app, and which neither
 * `harden(Intl)` nor a walk of the class reaches (docs/attacks.md, case 230). Sampled
 * when a walk meets their class (a grant of `Intl` hardens its classes first,
 * shared-globals.ts); not at start-up: the first segmenter loads ICU's break iterator
 * data (about 9 ms).
 */
const INSTANCE_ONLY = new Map<unknown, () => readonly unknown[]>();
{
  type Segments = object & { [Symbol.iterator](): unknown };
  const Segmenter = (globalThis as { Intl?: { Segmenter?: new () => { segment(input: string): Segments } } }).Intl?.Segmenter;
  if (typeof Segmenter === 'function') {
    INSTANCE_ONLY.set(Segmenter, () => {
      const segments = new Segmenter().segment('');
      return [segments, segments[Symbol.iterator]()];
    });
  }
}

/** Queues the prototypes of a sample of `value`'s instances, if it is one of INSTANCE_ONLY's classes (once). */
function sampleInstanceOnly(value: object, push: Push): void {
  const sample = INSTANCE_ONLY.get(value);
  if (sample === undefined) return;
  INSTANCE_ONLY.delete(value);
  for (const instance of sample()) push(Object.getPrototypeOf(instance), 'prototype');
}

/** Hardens the classes `holder` holds whose instances lead to prototypes nothing else reaches (`Intl`'s `Segmenter`). */
export function hardenInstanceOnlyClasses(holder: unknown): void {
  if (!isObject(holder) || INSTANCE_ONLY.size === 0) return;
  for (const key of Reflect.ownKeys(holder)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(holder, key);
    if (descriptor !== undefined && 'value' in descriptor && INSTANCE_ONLY.has(descriptor.value)) hardenHostValue(descriptor.value);
  }
}

/** Queues what `value`'s own properties hold (its statics, its `prototype`, its accessors). */
function walkProperties(value: object, kind: Kind, push: Push): void {
  // Key by key, not getOwnPropertyDescriptors: its object of every descriptor, for each of
  // the thousands of objects a start walks, was a large share of its garbage.
  const keys = Reflect.ownKeys(value);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
    if (descriptor === undefined) continue;
    if ('value' in descriptor) {
      push(descriptor.value, key === 'prototype' && typeof value === 'function' ? 'prototype' : 'data');
      continue;
    }
    push(descriptor.get, 'function');
    push(descriptor.set, 'function');
    // A read-only static that hands out a data object (`stream.promises`, the
    // stream/promises module) hands out the same object to everyone: harden it too.
    // A settable one (`util.inspect.defaultOptions`) is an option bag its setter
    // validates, which the app may set.
    // Not a symbol's (`setTimeout[util.promisify.custom]`, which loads timers/promises
    // to return a function).
    if (kind === 'function' && descriptor.get && !descriptor.set && typeof key === 'string') {
      try {
        const result: unknown = Reflect.apply(descriptor.get, value, []);
        if (isObject(result) && typeof result !== 'function' && isPlainData(result)) push(result, 'data');
        // A class a static getter makes when first read (`EventEmitterAsyncResource`):
        // the same class for everyone, the app's emitters' too.
        else if (typeof result === 'function') push(result, 'function');
      } catch (error) {
        if (isStackOverflow(error)) throw error;
        // Not for this receiver.
      }
    }
  }
}

/**
 * Hardens the class graph reachable from `root` (see the module comment). `root` may be
 * a function, a prototype, a plain data object, or an instance (only its prototype chain
 * is hardened then).
 */
export function hardenHostValue(root: unknown, rootKind?: Kind): void {
  // The common case (a grant read again, a method handed out again): nothing to do.
  if (!isObject(root) || hardened.has(root)) return;
  // A capability class's `constructor` can be replaced only before its prototype is frozen.
  disarmLoadedModules();
  // Pairs, flat (value, kind, value, kind, ...): an array per entry, and destructuring it,
  // were most of what this loop allocated over the thousands of objects a start walks.
  const queue: (object | Kind)[] = [];
  const push = (value: unknown, kind: Kind): void => {
    if (!isObject(value) || hardened.has(value)) return;
    if (typeof value === 'function') kind = 'function';
    else if (kind === 'data' && !isPlainData(value)) {
      // An instance: its class is the host's, the instance is not.
      push(Object.getPrototypeOf(value), 'prototype');
      return;
    }
    queue.push(value, kind);
  };
  if (rootKind === 'prototype' && typeof root !== 'function') queue.push(root, 'prototype');
  else push(root, 'data');
  // What this walk marked, unmarked if it fails part-way: a walk that ran out of stack (a
  // package can call into a first grant or load from deep recursion, and catch the
  // RangeError) must not leave half-hardened objects taken as hardened.
  const marked: object[] = [];
  try {
    walkQueue(queue, push, marked);
  } catch (error) {
    // Tamed again too: what comes first in taming (Node's deserializer wrapped, a class's
    // preparation) may be what was cut short.
    for (const value of marked) {
      hardened.delete(value);
      tamedPrototypes.delete(value);
    }
    throw error;
  }
}

function walkQueue(queue: (object | Kind)[], push: Push, marked: object[]): void {
  while (queue.length > 0) {
    const kind = queue.pop() as Kind;
    const value = queue.pop() as object;
    if (hardened.has(value)) continue;
    hardened.add(value);
    marked.push(value);
    if (typeof value === 'function' && INSTANCE_ONLY.size > 0) sampleInstanceOnly(value, push);
    if (Object.isFrozen(value)) {
      // A frozen function of ours (a confined Worker) can still lead to a host prototype.
      if (typeof value === 'function') {
        push((value as { prototype?: unknown }).prototype, 'prototype');
        push(Object.getPrototypeOf(value), 'function');
      }
      continue;
    }
    if (typeof value === 'function' && feralError !== undefined && Object.getPrototypeOf(value) === feralError) {
      Object.setPrototypeOf(value, sharedError!);
    }
    if (kind === 'prototype' && (nativePrototypes.has(value) || isNativePrototype(value))) {
      freezeMethods(value);
      walkProperties(value, kind, push);
    } else if (kind === 'prototype') {
      hardenPrototype(value, push);
    } else {
      Object.freeze(value);
      walkProperties(value, kind, push);
    }
    const parent = Object.getPrototypeOf(value);
    push(parent, typeof parent === 'function' ? 'function' : 'prototype');
  }
}

/** Hardens the prototype chain of an instance (not the instance). */
export function hardenPrototypeChain(instance: unknown): void {
  if (!isObject(instance)) return;
  const proto = Object.getPrototypeOf(instance);
  if (proto !== null && !hardened.has(proto)) hardenHostValue(proto, 'prototype');
}

/** Whether `value` was hardened by this module (not one of the live objects it leaves alone, which stay extensible). */
export const wasHardened = (value: object): boolean => hardened.has(value) && !Object.isExtensible(value);

/** Whether `value` was hardened by this module or found frozen (for tests and checks). */
export const isHardened = (value: object): boolean => hardened.has(value) || Object.isFrozen(value);

/**
 * Hardens the prototypes of what `root` holds, through own properties (not getters) to
 * `depth`, and the functions it holds: for a sample instance whose internals are objects
 * of classes no module exports (a worker's stdio streams, undici's header lists, the
 * timer lists behind a `Timeout`). The objects themselves are left alone.
 */
export function hardenPrototypesWithin(root: unknown, depth = 3): void {
  const seen = new WeakSet<object>();
  const walk = (value: unknown, level: number): void => {
    if (!isObject(value) || seen.has(value)) return;
    seen.add(value);
    if (typeof value === 'function') {
      hardenHostValue(value);
      return;
    }
    if (!isPlainData(value)) hardenPrototypeChain(value);
    if (level >= depth) return;
    const keys = Reflect.ownKeys(value);
    for (let index = 0; index < keys.length; index++) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, keys[index]!);
      if (descriptor && 'value' in descriptor) walk(descriptor.value, level + 1);
    }
  };
  walk(root, 0);
}

/**
 * For a class no module exports whose objects only `holder[name]` makes, and whose sample
 * would cost more than it is worth (a heap snapshot, a readline interface at start-up):
 * the method becomes a wrapper of the same name and length, and the classes of the first
 * object it returns (or its promise resolves to) are hardened before its caller has it.
 */
export function hardenFirstResult(holder: object, name: string, depth: number): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(holder, name);
  const method: unknown = descriptor?.value;
  if (typeof method !== 'function' || !descriptor!.configurable || !descriptor!.writable) return;
  let first = true;
  const harden = (result: unknown): unknown => {
    if (first && typeof result === 'object' && result !== null) {
      hardenPrototypesWithin(result, depth);
      first = false;
    }
    return result;
  };
  const wrapper = {
    [name](this: unknown, ...args: unknown[]): unknown {
      const result: unknown = Reflect.apply(method, this, args);
      return first && result instanceof Promise ? result.then(harden) : harden(result);
    },
  }[name]!;
  Object.defineProperty(wrapper, 'length', { value: method.length });
  Object.defineProperty(holder, name, { ...descriptor, value: wrapper });
}

/**
 * What Node passes to a package's listeners on host emitters (`process.on`), and returns
 * from their methods, as the package may hold it: the boundary's rule for callback
 * arguments (boundary.ts has the table of every kind of host value).
 */
import { isObject, isPlainData } from './host-hardening.js';
import { opaque } from './opaque.js';


/** The nearest prototype in `value`'s chain that is frozen (an intrinsic's, Node's hardened ones), or `fallback`. */
function nearestFrozenPrototype(value: object, fallback: object): object {
  for (let proto = Object.getPrototypeOf(value) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (Object.isFrozen(proto)) return proto;
  }
  return fallback;
}

const TypedArray = Object.getPrototypeOf(Uint8Array) as { prototype: object };
const typedArrayGetter = (key: string): Function => Reflect.getOwnPropertyDescriptor(TypedArray.prototype, key)!.get!;
const typedArrayTag = typedArrayGetter(Symbol.toStringTag as unknown as string);
const typedArrayBuffer = typedArrayGetter('buffer');
const typedArrayOffset = typedArrayGetter('byteOffset');
const typedArrayByteLength = typedArrayGetter('byteLength');
const dataViewGetter = (key: string): Function => Reflect.getOwnPropertyDescriptor(DataView.prototype, key)!.get!;
const dataViewBuffer = dataViewGetter('buffer');
const dataViewOffset = dataViewGetter('byteOffset');
const dataViewByteLength = dataViewGetter('byteLength');
const arrayBufferSlice = ArrayBuffer.prototype.slice;
const dateGetTime = Date.prototype.getTime;
const regExpSource = Reflect.getOwnPropertyDescriptor(RegExp.prototype, 'source')!.get!;
const regExpFlags = Reflect.getOwnPropertyDescriptor(RegExp.prototype, 'flags')!.get!;
const TYPED_ARRAYS: Record<string, new (length: number) => Uint8Array> = Object.create(null);
for (const name of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
  const ctor = (globalThis as unknown as Record<string, unknown>)[name];
  if (typeof ctor === 'function') TYPED_ARRAYS[name] = ctor as new (length: number) => Uint8Array;
}

/** The bytes `length` bytes from `offset` of `buffer` (an ArrayBuffer or a SharedArrayBuffer), in a new ArrayBuffer. */
function copyBytes(buffer: object, offset: number, length: number): ArrayBuffer {
  const copy = new Uint8Array(length);
  copy.set(new Uint8Array(buffer as ArrayBuffer, offset, length));
  return copy.buffer;
}

/**
 * A copy of a buffer, date or regular expression the host hands a package, or undefined
 * when `value` is none of them. They hold nothing but their contents, but they are the
 * app's own objects, mutable and extensible: given as they were, a package wrote the
 * bytes of the app's token or of a Buffer the app emitted, moved its `Date`, and defined
 * an own `equals` on its token or `exec` on its pattern, which the app's later
 * `token.equals(input)` and `pattern.test(input)` called (case 111). The copy has the
 * same contents and the nearest frozen prototype of the original's chain (a `Buffer`
 * stays a `Buffer`; an app subclass's prototype stays the app's).
 */
export function copyAtom(value: object): object | undefined {
  try {
    return copyAtomOrThrow(value);
  } catch {
    // A detached buffer, a typed array whose buffer shrank: what it held cannot be read;
    // it still may not cross.
    return opaque(value);
  }
}

function copyAtomOrThrow(value: object): object | undefined {
  if (ArrayBuffer.isView(value)) {
    const tag = Reflect.apply(typedArrayTag, value, []) as string | undefined;
    if (tag === undefined) {
      const bytes = copyBytes(Reflect.apply(dataViewBuffer, value, []) as object, Reflect.apply(dataViewOffset, value, []) as number, Reflect.apply(dataViewByteLength, value, []) as number);
      const view = new DataView(bytes);
      Object.setPrototypeOf(view, nearestFrozenPrototype(value, DataView.prototype));
      return view;
    }
    const Ctor = TYPED_ARRAYS[tag];
    if (Ctor === undefined) return undefined;
    const bytes = copyBytes(Reflect.apply(typedArrayBuffer, value, []) as object, Reflect.apply(typedArrayOffset, value, []) as number, Reflect.apply(typedArrayByteLength, value, []) as number);
    const copy = new (Ctor as unknown as new (buffer: ArrayBuffer) => object)(bytes);
    Object.setPrototypeOf(copy, nearestFrozenPrototype(value, Ctor.prototype));
    return copy;
  }
  if (value instanceof ArrayBuffer) return Reflect.apply(arrayBufferSlice, value, [0]) as ArrayBuffer;
  if (value instanceof Date) {
    const copy = new Date(Reflect.apply(dateGetTime, value, []) as number);
    Object.setPrototypeOf(copy, nearestFrozenPrototype(value, Date.prototype));
    return copy;
  }
  if (value instanceof RegExp) {
    const copy = new RegExp(Reflect.apply(regExpSource, value, []) as string, Reflect.apply(regExpFlags, value, []) as string);
    Object.setPrototypeOf(copy, nearestFrozenPrototype(value, RegExp.prototype));
    return copy;
  }
  return undefined;
}

const PromiseCtor = Promise;
const promiseThen = Promise.prototype.then;
/** Each host promise's stand-in (the same one each time it crosses). */
const standIns = new WeakMap<object, Promise<unknown>>();

/**
 * A promise the host hands a package (the app's rejected promise in `'unhandledRejection'`,
 * what an async function of an app object granted by a dotted grant returns): a promise
 * of the package's own that settles with what the host's settles with, delivered (a copy of
 * data and errors, an opaque token for the app's objects), as the value itself would have
 * been. The host's promise crossing as it is (an "atom") gave its value as it is:
 * `promise.catch((e) => e)` was the app's error with the app's objects on it, and its class.
 *
 * The stand-in subscribes to the host's promise only when the package first uses it (reads
 * its `then` or `constructor`, as `.then`/`.catch`/`.finally`, `await`, `Promise.resolve`
 * and `Promise.all` do): subscribing marks the host's promise handled, which, for a
 * rejection Node has reported, makes Node emit `'rejectionHandled'` to the app. A package
 * that never uses it changes nothing; one that uses it handles the rejection, as it would
 * have with the promise itself. (Calling the intrinsic `Promise.prototype.then` on the
 * stand-in before anything else reads neither: it never settles.)
 */
function deliverPromise(value: Promise<unknown>, own: ((fn: Function) => Function | undefined) | undefined): Promise<unknown> {
  const known = standIns.get(value);
  if (known) return known;
  let settle: [(v: unknown) => void, (e: unknown) => void] | undefined;
  const standIn = new PromiseCtor<unknown>((resolve, reject) => {
    settle = [resolve, reject];
  });
  let subscribed = false;
  const subscribe = (): void => {
    if (subscribed) return;
    subscribed = true;
    const [resolve, reject] = settle!;
    Reflect.apply(promiseThen, value, [(v: unknown) => resolve(deliver(v, own)), (e: unknown) => reject(deliver(e, own))]);
  };
  Object.defineProperties(standIn, {
    then: {
      get() {
        subscribe();
        return promiseThen;
      },
      enumerable: false,
      configurable: false,
    },
    constructor: {
      get() {
        subscribe();
        return PromiseCtor;
      },
      enumerable: false,
      configurable: false,
    },
  });
  standIns.set(value, standIn);
  return standIn;
}

/**
 * The prototype an error's copy gets: the nearest in its chain that is frozen (the
 * intrinsics' `Error` classes, Node's hardened ones), never a class of the app's or of
 * another package, whose prototype and statics the receiver could then reach and change.
 */
function sharedErrorPrototype(error: object): object {
  return nearestFrozenPrototype(error, Error.prototype);
}

/** How deep `deliver` copies plain data and errors (what Node delivers is shallow). */
const DELIVER_DEPTH = 4;

/**
 * An argument (or result) the host passes to a package's callback, as the package may
 * hold it: primitives as they are; buffers, dates and regular expressions as copies ({@link copyAtom}); plain objects,
 * arrays and errors as copies whose values are delivered the same way; a promise as a
 * promise of what it settles with, delivered ({@link deliverPromise}) (an error keeps its
 * name, message, stack and code, and the nearest frozen prototype of its chain, so
 * `instanceof Error` (`TypeError`...) and printing work, while an app class of errors
 * stays the app's; a
 * `MaxListenersExceededWarning` carries the emitter, which must not cross); another
 * party's function, or a host object such as the app's worker or socket, as an opaque
 * token. `own` gives back the package's own functions (a listener it registered,
 * returned by `process.listeners()`).
 */
export function deliver(value: unknown, own?: (fn: Function) => Function | undefined, depth = 0): unknown {
  if (!isObject(value)) return value;
  if (typeof value === 'function') return own?.(value) ?? opaque(value);
  if (value instanceof PromiseCtor) return deliverPromise(value, own);
  // First: the common result (`process.hrtime()`), which is no atom.
  if (Array.isArray(value)) {
    if (depth >= DELIVER_DEPTH) return opaque(value);
    // A loop, not `map` with a closure: primitives (most items) are copied as they are.
    const length = value.length;
    const copy: unknown[] = [];
    for (let index = 0; index < length; index++) {
      const item: unknown = value[index];
      copy.push(isObject(item) ? deliver(item, own, depth + 1) : item);
    }
    return copy;
  }
  const atom = copyAtom(value);
  if (atom !== undefined) return atom;
  if (depth >= DELIVER_DEPTH) return opaque(value);
  const isError = value instanceof Error;
  if (!isError && !isPlainData(value)) return opaque(value);
  const copy = Object.create(isError ? sharedErrorPrototype(value) : (Object.getPrototypeOf(value) as object | null)) as Record<PropertyKey, unknown>;
  if (isError) {
    // The name the class gave it, read once: the copy's prototype may be a parent's.
    let name: unknown;
    try {
      name = (value as { name?: unknown }).name;
    } catch {
      name = undefined;
    }
    if (typeof name === 'string' && name !== (copy as { name?: unknown }).name) {
      Object.defineProperty(copy, 'name', { value: name, writable: true, enumerable: false, configurable: true });
    }
  }
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

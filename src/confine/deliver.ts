/**
 * What Node passes to a package's listeners on host emitters (`process.on`), and returns
 * from their methods, as the package may hold it: the boundary's rule for callback
 * arguments (boundary.ts has the table of every kind of host value).
 */
import { isObject, isPlainData } from './host-hardening.js';
import { opaque } from './opaque.js';


/** Values that hold nothing but themselves: they cross as they are. */
function isAtom(value: object): boolean {
  return value instanceof Promise || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp;
}

/**
 * The prototype an error's copy gets: the nearest in its chain that is frozen (the
 * intrinsics' `Error` classes, Node's hardened ones), never a class of the app's or of
 * another package, whose prototype and statics the receiver could then reach and change.
 */
function sharedErrorPrototype(error: object): object {
  for (let proto = Object.getPrototypeOf(error) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (Object.isFrozen(proto)) return proto;
  }
  return Error.prototype;
}

/** How deep `deliver` copies plain data and errors (what Node delivers is shallow). */
const DELIVER_DEPTH = 4;

/**
 * An argument (or result) the host passes to a package's callback, as the package may
 * hold it: primitives and atoms (buffers, dates, promises) as they are; plain objects,
 * arrays and errors as copies whose values are delivered the same way (an error keeps its
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
  if (isAtom(value)) return value;
  if (depth >= DELIVER_DEPTH) return opaque(value);
  if (Array.isArray(value)) return value.map((item) => deliver(item, own, depth + 1));
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

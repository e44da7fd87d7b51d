/**
 * What Node passes to a package's listeners on host emitters (`process.on`), and returns
 * from their methods, as the package may hold it: the boundary's rule for callback
 * arguments (boundary.ts has the table of every kind of host value).
 */
import { isObject, isPlainData } from './host-hardening.js';
import { opaque } from './opaque.js';


/** Values that hold nothing but themselves: they cross as they are. */
function isAtom(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp;
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

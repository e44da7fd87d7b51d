/**
 * Strict mode (export-views.ts): what a value is, for a view. A value frozen all the way
 * down needs no view; an intrinsic function is told by its source; an object with
 * internal slots (a Map, a Date, ...) needs its intrinsic methods run on the real object,
 * and those that change it refused.
 */
import { types } from 'node:util';
import { wasHardened } from './host-hardening.js';
import { isStackOverflow } from './stack-overflow.js';

const isObject = (value: unknown): value is object =>
  (typeof value === 'object' && value !== null) || typeof value === 'function';

const { apply, getOwnPropertyDescriptor, getPrototypeOf, ownKeys } = Reflect;
const FunctionToString = Function.prototype.toString;

// ---------------------------------------------------------------------------------
// What needs no view

/** Values known to be frozen all the way down (memo of {@link isDeepFrozen}). */
const deepFrozen = new WeakSet<object>();

/** A value made frozen all the way down (a strict-mode copy of JSON data). */
export const noteDeepFrozen = (value: object): void => void deepFrozen.add(value);
const notDeepFrozen = new WeakSet<object>();

/**
 * Frozen, and so is everything reachable from it by properties and prototypes: nothing
 * to protect (the intrinsics lockdown hardened, Node's classes the boundary hardened).
 */
export function isDeepFrozen(root: object): boolean {
  // Most values are not frozen at all: answered without a walk (or a memo).
  if (types.isProxy(root) || !Object.isFrozen(root)) return false;
  if (deepFrozen.has(root)) return true;
  if (notDeepFrozen.has(root)) return false;
  const visiting = new Set<object>();
  const walk = (value: object): boolean => {
    // Node's classes the boundary hardened count as frozen (one property of theirs stays
    // writable: `EventEmitter.prototype[kCapture]`, which Node writes itself).
    if (deepFrozen.has(value) || visiting.has(value) || wasHardened(value)) return true;
    if (notDeepFrozen.has(value)) return false;
    // A proxy answers as its handler likes: never taken as frozen (nor asked).
    if (types.isProxy(value) || !Object.isFrozen(value)) {
      notDeepFrozen.add(value);
      return false;
    }
    visiting.add(value);
    let ok = true;
    const proto = getPrototypeOf(value);
    if (proto !== null && !walk(proto)) ok = false;
    if (ok) {
      for (const key of ownKeys(value)) {
        const descriptor = getOwnPropertyDescriptor(value, key)!;
        const parts = 'value' in descriptor ? [descriptor.value] : [descriptor.get, descriptor.set];
        if (parts.some((part) => isObject(part) && !walk(part))) {
          ok = false;
          break;
        }
      }
    }
    // Values in a cycle with `root` are settled with it.
    if (!ok) notDeepFrozen.add(value);
    return ok;
  };
  const result = walk(root);
  if (result) for (const value of visiting) deepFrozen.add(value);
  else notDeepFrozen.add(root);
  return result;
}

/** Functions whose source the engine does not show: the intrinsics (and SES's own). */
const nativeFunctions = new WeakMap<Function, boolean>();
export function isNativeFunction(fn: Function): boolean {
  let native = nativeFunctions.get(fn);
  if (native === undefined) {
    try {
      native = /\{\s*\[native code\]\s*\}\s*$/.test(apply(FunctionToString, fn, []) as string);
    } catch (error) {
      // Out of stack: no answer, and none kept (a native setter taken for a package's own
      // would run on the real object).
      if (isStackOverflow(error)) throw error;
      native = false;
    }
    nativeFunctions.set(fn, native);
  }
  return native;
}

// ---------------------------------------------------------------------------------
// Objects with internal slots: their intrinsic methods need the real object

export type SlotKind = 'map' | 'set' | 'weakmap' | 'weakset' | 'date' | 'regexp' | 'promise' | 'typedarray' | 'arraybuffer' | 'dataview' | 'boxed';

export function slotKindOf(value: object): SlotKind | undefined {
  if (typeof value === 'function' || Array.isArray(value)) return undefined;
  const proto = getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return undefined;
  if (types.isMap(value)) return 'map';
  if (types.isSet(value)) return 'set';
  if (types.isWeakMap(value)) return 'weakmap';
  if (types.isWeakSet(value)) return 'weakset';
  if (types.isDate(value)) return 'date';
  if (types.isRegExp(value)) return 'regexp';
  if (types.isPromise(value)) return 'promise';
  if (types.isTypedArray(value)) return 'typedarray';
  if (types.isAnyArrayBuffer(value)) return 'arraybuffer';
  if (types.isDataView(value)) return 'dataview';
  if (types.isBoxedPrimitive(value)) return 'boxed';
  return undefined;
}

/** The intrinsic methods that change such an object. */
export function isSlotMutator(kind: SlotKind, key: PropertyKey): boolean {
  if (typeof key !== 'string') return false;
  switch (kind) {
    case 'map':
    case 'weakmap':
      return key === 'set' || key === 'delete' || key === 'clear';
    case 'set':
    case 'weakset':
      return key === 'add' || key === 'delete' || key === 'clear';
    case 'date':
    case 'dataview':
      return key.startsWith('set');
    case 'regexp':
      return key === 'compile';
    case 'typedarray':
      return ['set', 'fill', 'copyWithin', 'sort', 'reverse'].includes(key);
    case 'arraybuffer':
      return ['resize', 'grow', 'transfer', 'transferToFixedLength'].includes(key);
    default:
      return false;
  }
}

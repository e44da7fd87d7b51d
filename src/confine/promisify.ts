/**
 * `util.promisify` for functions whose promise version Node gives
 * (`util.promisify.custom`: `setTimeout`, `setImmediate`, `stream.pipeline`,
 * `stream.finished`, `fs.exists`, `child_process.exec`, ...).
 *
 * Node's `promisify(original)` returns `original[util.promisify.custom]` after defining
 * that same symbol on it (`{ value: fn, writable: false, configurable: true }`), so that
 * promisifying it again returns it. Once the host's classes and their functions are
 * hardened (host-hardening.ts), that function is frozen and the definition throws
 * `Cannot define property Symbol(nodejs.util.promisify.custom), object is not
 * extensible`, for the app and every package alike (node-fetch 3 promisifies
 * `stream.pipeline` when it loads). The replacement returns the frozen function as Node
 * would, without the definition (remembering it, so that promisifying it again returns
 * it, as the definition made it); everything else is Node's own `promisify`.
 */
import util from 'node:util';

const CUSTOM: unknown = (util.promisify as { custom?: unknown }).custom;

/** Whether Node's promisify would fail only on defining `custom` on `fn`, which it then returns. */
function frozenCustom(fn: Function): boolean {
  const own = Reflect.getOwnPropertyDescriptor(fn, CUSTOM as symbol);
  if (own === undefined) return !Object.isExtensible(fn);
  // Node's definition fails on a property it cannot reconfigure; with another value
  // than `fn` Node's error is kept (its call below throws it).
  return own.configurable === false && 'value' in own && own.value === fn;
}

let installed = false;

/** Replaces the `util` module's `promisify` (the app's, and what every package's copy holds). */
export function installPromisify(): void {
  if (installed || typeof CUSTOM !== 'symbol') return;
  installed = true;
  const real = util.promisify;
  // What Node's definition would have marked: promisifying one again returns it.
  const returned = new WeakSet<Function>();
  const promisify = function promisify(this: unknown, original: unknown): unknown {
    if (typeof original === 'function') {
      if (returned.has(original) && !Reflect.getOwnPropertyDescriptor(original, CUSTOM as symbol)) return original;
      const custom: unknown = (original as unknown as Record<symbol, unknown>)[CUSTOM];
      if (typeof custom === 'function' && frozenCustom(custom)) {
        returned.add(custom);
        return custom;
      }
    }
    return Reflect.apply(real, this, [original]);
  };
  Object.defineProperty(promisify, 'length', { value: real.length });
  for (const key of Reflect.ownKeys(real)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    Object.defineProperty(promisify, key, Reflect.getOwnPropertyDescriptor(real, key)!);
  }
  (util as { promisify: unknown }).promisify = promisify;
}

/**
 * Host globals are the app's own objects: a package granted one must not be able to
 * change it for the app or for other packages. Lockdown froze the JavaScript
 * intrinsics, not Node's and the web platform's globals, so each kind is handed out in
 * a form that cannot be used to tamper with the original:
 *
 * - `console`: a frozen copy (Node's console methods are bound to the console).
 * - timers (`setTimeout`, `setInterval`, `setImmediate` and their `clear*`): wrappers
 *   that return opaque handles. Node's `Timeout` objects are linked to every other
 *   timer of the process (`_idleNext`), from which a package could reach and replace the
 *   app's callbacks.
 * - other functions (`fetch`, `queueMicrotask`, `structuredClone`, ...): frozen, with
 *   their function-valued properties (`setTimeout[util.promisify.custom]`), so nothing
 *   can be attached to them for the app to pick up.
 * - platform classes and objects that nothing needs to patch (`URL`, `TextEncoder`,
 *   `crypto`, ...): hardened, prototypes included, on first grant.
 * Anything else (`process`, `Buffer`, `Intl` ...) is the host's own object: granting it
 * whole grants the power to change it, as in LavaMoat; dotted grants narrow it.
 */

declare function harden<T>(value: T): T;

const HARDEN_ON_GRANT = new Set([
  'Intl',
  'URL',
  'URLSearchParams',
  'TextEncoder',
  'TextDecoder',
  'WeakRef',
  'FinalizationRegistry',
  'crypto',
  'Crypto',
  'CryptoKey',
  'SubtleCrypto',
  'Blob',
  'File',
  'Headers',
  'FormData',
  'Request',
  'Response',
  'DOMException',
  'structuredClone',
  'atob',
  'btoa',
  'fetch',
  'queueMicrotask',
]);

const TIMER_NAMES = ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate'];

type Host = Record<PropertyKey, unknown>;

interface Handle {
  ref(): Handle;
  unref(): Handle;
  hasRef(): boolean;
  refresh(): Handle;
  close(): Handle;
  [Symbol.toPrimitive](): number;
}

/** One set of timer wrappers per host: handles made by one package can be cleared by another. */
function makeTimers(host: Host): Record<string, Function> {
  const real = new WeakMap<object, Record<string, Function>>();
  const makeHandle = (timer: Record<string, Function>): Handle => {
    const handle: Handle = Object.freeze({
      ref: () => (timer.ref!.call(timer), handle),
      unref: () => (timer.unref!.call(timer), handle),
      hasRef: () => Boolean(timer.hasRef!.call(timer)),
      refresh: () => (timer.refresh ? timer.refresh.call(timer) : undefined, handle),
      close: () => (timer.close ? timer.close.call(timer) : undefined, handle),
      [Symbol.toPrimitive]: () => Number((timer as unknown as { [Symbol.toPrimitive](): number })[Symbol.toPrimitive]()),
    });
    real.set(handle, timer);
    return handle;
  };
  const timers: Record<string, Function> = {};
  for (const name of TIMER_NAMES) {
    const original = host[name];
    if (typeof original !== 'function') continue;
    const wrapper = name.startsWith('set')
      ? {
          [name](...args: unknown[]) {
            return makeHandle(Reflect.apply(original, undefined, args) as Record<string, Function>);
          },
        }[name]!
      : {
          [name](handle: unknown) {
            const timer = typeof handle === 'object' && handle !== null ? real.get(handle) : undefined;
            return Reflect.apply(original, undefined, [timer ?? handle]);
          },
        }[name]!;
    // `util.promisify(setTimeout)` and friends keep working.
    for (const key of Reflect.ownKeys(original)) {
      if (typeof key === 'symbol') Object.defineProperty(wrapper, key, { value: (original as unknown as Record<symbol, unknown>)[key] });
    }
    timers[name] = Object.freeze(wrapper);
  }
  return timers;
}

function freezeFunction(fn: Function): Function {
  for (const key of Reflect.ownKeys(fn)) {
    const descriptor = Object.getOwnPropertyDescriptor(fn, key);
    if (descriptor && 'value' in descriptor && typeof descriptor.value === 'function') Object.freeze(descriptor.value);
  }
  return Object.freeze(fn);
}

const perHost = new WeakMap<Host, { timers: Record<string, Function>; consoles: WeakMap<object, object> }>();

/** What a package granted the host global `name` receives for `value` (the host's current value). */
export function shareable(host: Host, name: string, value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  let state = perHost.get(host);
  if (!state) {
    state = { timers: makeTimers(host), consoles: new WeakMap() };
    perHost.set(host, state);
  }
  if (TIMER_NAMES.includes(name) && value === host[name] && state.timers[name]) return state.timers[name];
  if (name === 'console') {
    let copy = state.consoles.get(value);
    if (!copy) {
      copy = Object.freeze({ ...(value as object) });
      state.consoles.set(value, copy);
    }
    return copy;
  }
  if (HARDEN_ON_GRANT.has(name)) return harden(value);
  if (typeof value === 'function' && !isConstructor(value)) return freezeFunction(value);
  return value;
}

const isConstructor = (fn: Function): boolean => Object.prototype.hasOwnProperty.call(fn, 'prototype');

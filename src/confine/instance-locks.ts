/**
 * Instances of the process's own that every party shares (`performance`, `navigator`,
 * WebCrypto's `crypto`, a worker's `parentPort`, ...): locked as they are, their class
 * chain hardened (host-hardening.ts), and on an event target of theirs, the listener and
 * handler maps given only to Node's EventTarget code and to the app (case 170).
 */
import { hardenPrototypeChain, isHardened, isObject, isPlainData } from './host-hardening.js';
import { callerSitesOf } from './stack-traces.js';
import { isTheAppsFile } from './performance-observation.js';
import { callerChecked } from './frameless-calls.js';

/**
 * Symbols of an `EventTarget` that Node writes after making it (`events.setMaxListeners`
 * of a target, its warning's flag; a port's ports being received, set for each message):
 * while they hold primitives, left writable (not configurable).
 */
const WRITTEN_BY_NODE = new Set(['events.maxEventTargetListeners', 'events.maxEventTargetListenersWarned', 'nodejs.internal.kCurrentlyReceivingPorts']);

/**
 * An `EventTarget`'s listener map (`kEvents`: each listener node holds the listener, the
 * function as added) and its `on...` handler map (`kHandlers`). On one of the process's
 * instances (`performance`, a worker's `parentPort`), whoever read the slot had the app's
 * listener functions (its worker's job handler: called with forged jobs) and could clear
 * or fill the map (docs/attacks.md, case 170): no API of the target gives out its
 * listeners but node:events' `getEventListeners`, and its `on...` getters their handler.
 */
const LISTENER_MAPS = new Set(['kEvents', 'kHandlers']);

export class ListenerMapError extends TypeError {
  readonly code = 'LAVAMOAT_LISTENER_MAP';
}

/**
 * The slot becomes an accessor that gives the map to EventTarget's own code (the module
 * that defines it, from whichever method: add, remove, dispatch, `on...` setters; its
 * `on...` getters, which return the handler set, only when the app's code called them), and to
 * node:events' `getEventListeners` called directly by the app's code (a file, not `node:`,
 * not the runtime's: a package's frame names none, and a Node frame that calls what it is
 * given, `AsyncLocalStorage#run`, is not the app's). Told from V8's call sites
 * (stack-traces.ts); one check per add, remove and dispatch on these few objects.
 * `pass`, when given, answers first: true for the one read Node's own dispatch makes
 * ({@link dispatchPass}), with no stack read.
 */
function listenerMapForNode(target: object, key: symbol, descriptor: PropertyDescriptor, pass?: () => boolean): void {
  const map: unknown = descriptor.value;
  const get = {
    [key.description!](this: unknown): unknown {
      // Its own target's only: moved onto another object, Node's reads there would answer it (case 370).
      if (this !== target) return undefined;
      if (pass !== undefined && pass()) return map;
      const [caller, below] = callerSitesOf(globalThis.Error as never, get, 2);
      if (caller?.file === 'node:internal/event_target') {
        // An `on...` getter gives out the handler it finds there: the app's, to the app.
        if (!caller.name?.startsWith('get on') || isTheAppsFile(below?.file)) return map;
      }
      if (caller?.file === 'node:events' && caller.name === 'getEventListeners' && isTheAppsFile(below?.file)) return map;
      throw new ListenerMapError(`LavaMoat: this event target is one of the process's (shared with the app): its listeners are read only by Node's EventTarget (use addEventListener and removeEventListener)`);
    },
  }[key.description!]!;
  Object.defineProperty(target, key, { get: callerChecked(get), enumerable: descriptor.enumerable, configurable: false });
}

/**
 * A worker's `parentPort` dispatches every message the worker receives: the stack check of
 * {@link listenerMapForNode} on each dispatch cost 10 µs a message, doubling a worker
 * pool's round trip (docs/attacks.md, case 170). Node's messages reach a port's listeners
 * through one method: `emitMessage` (internal/per_context/messageport) calls
 * `port[kHybridDispatch](data, type, undefined)`, EventTarget's (as does a NodeEventTarget's
 * `emit`), whose first step reads the listener map. The target gets an own
 * `kHybridDispatch` that opens a pass for that one read (the next read of the map on this
 * target, made by the method it calls at once, before any other code can run: with no
 * event object of a caller's, whose setters the method would run first) and closes it
 * after, read or not. Anyone may call it (a package granted the port dispatches to its
 * listeners with `emit` and `dispatchEvent` anyway): through it only Node's code reads the
 * map. Every other read (add, remove, `on...`, `getEventListeners`) is checked as on
 * `performance`. Without the method (another Node), every read is checked: closed, slower.
 */
function dispatchPass(target: object): (() => boolean) | undefined {
  let dispatch: unknown;
  let symbol: symbol | undefined;
  for (let proto = Object.getPrototypeOf(target) as object | null; proto !== null && symbol === undefined; proto = Object.getPrototypeOf(proto) as object | null) {
    symbol = Object.getOwnPropertySymbols(proto).find((key) => key.description === 'nodejs.internal.kHybridDispatch');
    // (A hardened prototype's method may be an accessor by now: its getter gives the method.)
    if (symbol !== undefined) dispatch = Reflect.get(proto, symbol, proto);
  }
  if (symbol === undefined || typeof dispatch !== 'function' || Object.prototype.hasOwnProperty.call(target, symbol)) return undefined;
  const original = dispatch as (...args: unknown[]) => unknown;
  let open = false;
  const hybridDispatch = {
    [symbol.description!](this: unknown, nodeValue: unknown, type: unknown, event?: unknown): unknown {
      // An event (dispatchEvent's) is written before the map is read: its setters would run
      // with the pass open. Only Node's own form, on this target, opens it.
      // eslint-disable-next-line prefer-rest-params
      if (this !== target || event !== undefined) return Reflect.apply(original, this, arguments);
      open = true;
      try {
        return Reflect.apply(original, target, [nodeValue, type, undefined]);
      } finally {
        open = false;
      }
    },
  }[symbol.description!]!;
  Object.defineProperty(target, symbol, { value: hybridDispatch, writable: false, enumerable: false, configurable: false });
  return () => {
    if (!open) return false;
    open = false;
    return true;
  };
}

/** Whether `target`'s own symbol-keyed property of this description holds `undefined`. */
function emptySlot(target: object, description: string): boolean {
  const symbol = Object.getOwnPropertySymbols(target).find((key) => key.description === description);
  return symbol !== undefined && (target as Record<symbol, unknown>)[symbol] === undefined;
}

/** The first `on...` event handler accessor of `target`'s class chain, if any. */
function eventHandlerName(target: object): string | undefined {
  for (let proto = Object.getPrototypeOf(target) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (!key.startsWith('on')) continue;
      const descriptor = Reflect.getOwnPropertyDescriptor(proto, key);
      if (descriptor?.get && descriptor.set) return key;
    }
  }
  return undefined;
}

/**
 * One instance of the process's, as SES's `harden` freezes the `crypto` global: nothing can
 * be added (an own method shadowing its class's), its own properties are read-only (the
 * maps Node keeps in them are changed in place, never replaced), its class is hardened
 * by the caller.
 */
export function lockInstance(value: object): void {
  // Never the live objects prepareHost names (the real `process` and global object).
  if (!Object.isExtensible(value) || isHardened(value)) return;
  // An EventTarget makes its listener map when its first listener is added, and its
  // handler map when its first `on...` handler is set (Node 24's `performance`): both
  // made now, before their slots become read-only.
  // (Only where still empty: Node 20 breaks a handler set again after one was cleared.)
  if (typeof EventTarget === 'function' && value instanceof EventTarget) {
    const listener = (): void => {};
    if (emptySlot(value, 'kEvents')) {
      value.addEventListener('lavamoat-lock', listener);
      value.removeEventListener('lavamoat-lock', listener);
    }
    const handler = eventHandlerName(value);
    if (handler !== undefined && emptySlot(value, 'kHandlers')) {
      Reflect.set(value, handler, listener);
      Reflect.set(value, handler, null);
    }
  }
  // Node's message dispatch on a port reads the listener map through a pass of its own.
  const pass = typeof EventTarget === 'function' && value instanceof EventTarget ? dispatchPass(value) : undefined;
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
    if (!descriptor || !descriptor.configurable) continue;
    if (typeof key === 'symbol' && LISTENER_MAPS.has(key.description ?? '') && 'value' in descriptor && isObject(descriptor.value)) {
      listenerMapForNode(value, key, descriptor, key.description === 'kEvents' ? pass : undefined);
      continue;
    }
    const written = typeof key === 'symbol' && WRITTEN_BY_NODE.has(key.description ?? '') && 'value' in descriptor && !isObject(descriptor.value);
    if ('value' in descriptor && !written) Object.defineProperty(value, key, { configurable: false, writable: false });
    else Object.defineProperty(value, key, { configurable: false });
  }
  Object.preventExtensions(value);
}

/**
 * The platform's objects that are one per process (`performance`, `navigator`,
 * WebCrypto's `crypto` and `crypto.subtle`, `navigator.locks`, `performance.nodeTiming`,
 * a worker's `parentPort`): instances, so the walk above leaves them alone, but every
 * party shares them, the app included, which calls `performance.timerify(handler)`,
 * `crypto.randomUUID()`, `navigator.locks.request(name, callback)` and
 * `parentPort.postMessage(result)` on them. An own property defined on one answered
 * those calls for the process (docs/attacks.md, cases 120 and 123): their class chain is
 * hardened, then they are locked as every exported instance is ({@link lockInstance}).
 */
export function hardenSingleton(value: unknown): void {
  if (!isObject(value) || typeof value === 'function' || isPlainData(value) || !Object.isExtensible(value)) return;
  hardenPrototypeChain(value);
  lockInstance(value);
}

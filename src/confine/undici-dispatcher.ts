/**
 * Main thread. undici's global dispatcher: the agent behind every `fetch`, `WebSocket` and
 * `EventSource` of the process that was not given one of its own.
 *
 * Node's bundled undici keeps it on the real global under `Symbol.for('undici.global
 * Dispatcher.1')` (Node 24 also `.2`), and reads it from there on every `fetch`. Whoever
 * holds the agent can make any HTTP request (`dispatch()`), and can change it for the
 * whole process: replace its methods or its pools' (it and they are ordinary objects), so
 * that every request the app makes goes through their code. Two holders besides undici:
 * - code that reaches the real global (scuttling's concern: a sloppy app function's
 *   `this`), which reads the symbol-keyed property LavaMoat's scuttling, by names, leaves;
 * - on Node 20 and 22, a WebSocket: undici keeps its fetch controller as a
 *   symbol-keyed property of the socket, and the controller the dispatcher it fetched
 *   with. A package the app hands its WebSocket reaches it.
 *
 * So once undici has loaded, the property holds a guard instead of the agent: a frozen
 * object with no prototype that forwards `dispatch` to the agent only when undici's fetch
 * calls it, from the one place it asks a dispatcher (V8's own call sites of the frames
 * below the call, by script name: no package's code has one, confine/stack-traces.ts
 * `callerSitesOf`; see {@link calledByFetch}), and answers the two option bags undici
 * reads. A WebSocket's controller then holds the guard. Any frame of undici's would not
 * do: undici calls getters and methods of what it is handed, and a bound `dispatch`
 * adds no frame (docs/attacks.md, case 75).
 *
 * Under scuttling the property is also made read-only, and before undici has loaded it is
 * an accessor of the runtime's: undici's load must read it there (then defines the agent
 * over it), or the load fails. Otherwise code that reached the real global first could
 * define its own dispatcher, which undici would then use for every request.
 *
 * Not covered: a dispatcher the app's own native code later sets on the real global (it
 * is the app's, unguarded; a package's `undici.setGlobalDispatcher()` sets it on its own
 * compartment's global and changes nothing for Node's `fetch`), and a preload's natively
 * loaded npm `undici` using the guard (it calls `request()`, which the guard has not).
 */
import { callerFileOf, callerScriptOf, callerSitesOf } from './stack-traces.js';
import { callerChecked } from './frameless-calls.js';

type ErrorConstructorLike = Parameters<typeof callerFileOf>[0];

/** Node's bundled undici: its internal module, and the script name V8 gives it. */
export const UNDICI = 'internal/deps/undici/undici';
export const UNDICI_SCRIPT = `node:${UNDICI}`;

const KEYS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')] as const;
/** Where undici keeps the origin relative URLs resolve against; nothing in Node sets it. */
const ORIGIN_KEY = Symbol.for('undici.globalOrigin.1');

interface Dispatcher {
  dispatch(options: unknown, handler: unknown): unknown;
  isMockActive?: unknown;
  webSocketOptions?: unknown;
  eventSourceOptions?: unknown;
}

let hostError: ErrorConstructorLike | undefined;
let realGlobal: Record<symbol, unknown> | undefined;
/** The agent undici made (or found) when it loaded, behind the guard. */
let agent: Dispatcher | undefined;
let guard: object | undefined;
let locked = false;
/** Under scuttling, before undici loaded: whether undici's own load read the accessor. */
let readByUndici = false;
const placeholders = new Map<symbol, () => undefined>();

const isObject = (value: unknown): value is object => (typeof value === 'object' && value !== null) || typeof value === 'function';

/** The agent behind the guard, for the samples of its classes (web-samples.ts). */
export const globalAgent = (): unknown => agent;

/** For tests and samples: whether `value` is the guard. */
export const isDispatcherGuard = (value: unknown): boolean => value !== undefined && value === guard;

/** A copy of the plain option bag undici reads from the dispatcher (numbers). */
function optionsOf(value: unknown): unknown {
  if (!isObject(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (!isObject(item)) copy[key] = item;
  return Object.freeze(copy);
}

/**
 * Whether `dispatch` was called from the one place Node's undici asks the dispatcher of a
 * fetch (its `fetch`, `WebSocket` and `EventSource` all fetch through it): in
 * `httpNetworkFetch`'s inner `dispatch`, `return new Promise((resolve, reject) =>
 * agent.dispatch({...}, {...}))`, on one line. Being called by some code of undici's is
 * not enough: undici reads the properties of the objects it is given and calls their
 * methods, so a bound `dispatch` (`guard.dispatch.bind(null, options, handler)`, which adds
 * no frame of its own) set as a getter of an object a package hands any undici function
 * (`ws.send(object)` reads its `Symbol.toStringTag`) would be called by undici with the
 * package's request. The four frames below (the executor, `Promise`, undici's `dispatch`,
 * `httpNetworkFetch`) are those of that call on Node 20, 22 and 24; a getter read while the
 * executor builds the options runs on another line of it.
 */
function calledByFetch(fn: Function): boolean {
  const [call, promise, outer, fetching] = callerSitesOf(hostError!, fn, 4);
  return (
    call?.file === UNDICI_SCRIPT &&
    promise?.file === undefined &&
    promise?.name === 'Promise' &&
    promise.isConstructor &&
    outer?.file === UNDICI_SCRIPT &&
    outer.name === 'dispatch' &&
    outer.line === call.line &&
    fetching?.file === UNDICI_SCRIPT &&
    fetching.name === 'httpNetworkFetch'
  );
}

function makeGuard(real: Dispatcher): object {
  const dispatch = function dispatch(options: unknown, handler: unknown): unknown {
    if (!calledByFetch(dispatch)) {
      throw new TypeError("LavaMoat: undici's global dispatcher makes requests for Node's own fetch, WebSocket and EventSource only (a package needs its own fetch grant, or a dispatcher of its own)");
    }
    return Reflect.apply(real.dispatch, real, [options, handler]);
  };
  return Object.freeze(
    Object.create(null, {
      dispatch: { value: callerChecked(dispatch), enumerable: true },
      // Read by fetch before every request (a mock agent sends the body as is).
      isMockActive: { get: () => real.isMockActive === true, enumerable: true },
      // Read by a WebSocket (Node 22+) and an EventSource: their size limits.
      webSocketOptions: { get: () => optionsOf(real.webSocketOptions), enumerable: true },
      eventSourceOptions: { get: () => optionsOf(real.eventSourceOptions), enumerable: true },
      [Symbol.toStringTag]: { value: 'LavaMoat guard of the global dispatcher' },
    }),
  ) as object;
}

/**
 * Before anything can load undici: the real global, and the start compartment's `Error`,
 * whose stack API tells a caller's script.
 */
export function initGlobalDispatcher(global: object, error: ErrorConstructorLike): void {
  realGlobal = global as Record<symbol, unknown>;
  hostError = error;
}

/**
 * When undici has loaded (load-trap.ts, before the load returns to whoever caused it):
 * the agent it put on the real global is replaced by its guard.
 */
export function guardGlobalDispatcher(): void {
  if (realGlobal === undefined) return;
  const first = Reflect.getOwnPropertyDescriptor(realGlobal, KEYS[0]);
  if (placeholders.size > 0) {
    // Scuttled before undici loaded: undici's load must have read the placeholder and
    // defined its agent over it. If not, someone defined the property first, and undici
    // took that for its dispatcher: the load fails (and so does every later one).
    if (!readByUndici || !first || !('value' in first)) {
      throw new Error("LavaMoat: undici's global dispatcher was defined on the real global before Node's undici loaded (scuttleGlobalThis): fetch is not available");
    }
  }
  if (!first || !('value' in first) || !isObject(first.value)) return;
  const current = first.value as Dispatcher;
  if (current !== guard) {
    if (typeof current.dispatch !== 'function') return;
    agent = current;
    guard = makeGuard(current);
  }
  for (const key of KEYS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(realGlobal, key);
    if (!descriptor) continue;
    // (Node 20/22's undici defines only `.1`: a placeholder of `.2` stays, answering undefined.)
    if ('value' in descriptor && (descriptor.value === agent || descriptor.value === guard) && descriptor.writable) realGlobal[key] = guard;
  }
  placeholders.clear();
  if (locked) lockSlots();
}

function lockSlots(): void {
  for (const key of KEYS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(realGlobal!, key);
    if (descriptor && 'value' in descriptor && descriptor.writable) Object.defineProperty(realGlobal!, key, { writable: false });
  }
}

/**
 * Scuttling has taken the real global's names (scuttle.ts): its undici properties are
 * made read-only too. Before undici has loaded they are accessors of the runtime's, which
 * answer undefined (so undici makes its agent, defining it over them) and note that
 * undici's own code asked; the guard is then checked and put in place at its load.
 */
export function lockGlobalDispatcher(): void {
  // Scuttling must not go on with the dispatcher unguarded.
  if (realGlobal === undefined) throw new Error("LavaMoat: scuttleGlobalThis: undici's global dispatcher was not prepared before scuttling");
  locked = true;
  if (!Object.hasOwn(realGlobal, ORIGIN_KEY)) {
    // Nothing in Node sets it; code that reached the real global would otherwise choose
    // where the app's relative fetch URLs go.
    Object.defineProperty(realGlobal, ORIGIN_KEY, { value: undefined, writable: false, enumerable: false, configurable: false });
  }
  if (Object.hasOwn(realGlobal, KEYS[0])) {
    lockSlots();
    return;
  }
  for (const key of KEYS) {
    if (Object.hasOwn(realGlobal, key)) continue;
    const get = function globalDispatcher(): undefined {
      if (key === KEYS[0] && hostError !== undefined && callerScriptOf(hostError, get) === UNDICI_SCRIPT) readByUndici = true;
      return undefined;
    };
    const set = (): never => {
      throw new TypeError("LavaMoat: undici's global dispatcher cannot be set under scuttleGlobalThis");
    };
    placeholders.set(key, get);
    Object.defineProperty(realGlobal, key, { get, set, enumerable: false, configurable: true });
  }
}

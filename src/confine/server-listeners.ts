/**
 * The app's servers (every `net.Server`, and so HTTP, HTTPS, TLS and HTTP/2 servers, the
 * app's code or Node's made): their listeners and the classes Node builds each request
 * with, kept from packages handed a request or a connection.
 *
 * Why: every request the app serves leads to its server (`req.socket.server`), and an
 * HTTP middleware, a logger or a body parser is handed the request. The server is an
 * emitter: a listener a package added there (`on('request')`, `on('upgrade')`,
 * `on('connection')`, TLS's `on('keylog')` and `prependListener('newSession')`), or
 * pushed into the array Node's `emit` reads (`server._events.request`), received the
 * app's later requests (their credentials, and the response to write), the key log lines
 * of every later connection (the traffic secrets that decrypt it) and the server's new
 * sessions (attack case 275). An own `emit` (override taming lets an instance shadow the
 * frozen prototype's) received every event, and the classes the server keeps as own
 * properties (`server[kIncomingMessage]`, `[kServerResponse]`, its connection list,
 * Node 24's `shouldUpgradeCallback`) are what Node builds and hands each request with.
 *
 * How, per server, installed as node:net's `Server` constructor makes it (its
 * `this instanceof Server` check, net-brands.ts) when the frames below the constructor
 * are not a package's (a server a package made, a framework's `app.listen`, stays as
 * Node made it: every package is one kind, and socket.io or ws attach to it):
 * - its listener map (`_events`, `_eventsCount`) becomes accessors of its own, not
 *   configurable: the map is frozen, each array in it a proxy whose elements and length
 *   do not change, except while one of the emitter methods below runs for the server
 *   (a window: the map is copied unfrozen as it opens, frozen again as it closes). Node's
 *   `emit` reads the frozen map as ever (an accessor's getter, no stack read); Node 24's
 *   emit counts on the array (`kEmitting`), a symbol, which the proxy lets through;
 * - `on`, `addListener`, `prependListener`, `once`, `prependOnceListener`,
 *   `removeListener`, `off` and `removeAllListeners` become own, read-only methods that
 *   open the window for the code that may: before the server first emits `'listening'`
 *   (or a connection or request: `SERVING`),
 *   anyone (no request of it exists yet, so a package holding it was handed it by the
 *   app: ws's `new WebSocketServer({ server })` and socket.io's `new Server(httpServer)`,
 *   which add `'request'` and `'upgrade'` listeners and remove the app's, attach then); from then on, Node's code and the app's (the first frame
 *   that is neither Node's nor the runtime's names an app file). A package's frame, a
 *   builtin's (a bound method run by `Array.prototype.map`), or a dispatcher with no such
 *   frame (a bound `on` run as a timer or a promise job) is refused; a removal with no such
 *   frame (Node's `once` wrapper removing itself as the event fires) is allowed. One
 *   stack read per listener added or removed by code outside the window: the app's setup
 *   and Node's constructors, nothing per request (inside the window, the nested calls
 *   of `once`, `removeAllListeners` and the `'newListener'` listeners Node adds are not read);
 * - `emit` becomes an own, read-only property (the prototype's, called by a wrapper that
 *   also pins the fields below once `'listening'` has run: a compare per event);
 * - when it starts listening, its own properties that hold a function (the request and
 *   response classes, Node 24's `shouldUpgradeCallback`) and its connection list become
 *   read-only.
 * Not covered: code that runs inside
 * the window (a `'newListener'` or `'removeListener'`
 * listener of the app's that calls a package) may change the map; a server a package
 * made; a server's other fields (`_handle`, `_sharedCreds`, `_contexts`: tls-servers.ts),
 * and its prototype (`Object.setPrototypeOf`, which changes no method pinned here).
 */
import { callerSitesOf } from './stack-traces.js';
import { callerChecked } from './frameless-calls.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';

type ErrorConstructorLike = Parameters<typeof callerSitesOf>[0];
type Site = { file: string | undefined; isConstructor: boolean };

export class ServerListenerError extends TypeError {
  readonly code = 'LAVAMOAT_SERVER_LISTENER';
}

const ADDING = ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener'] as const;
const REMOVING = ['removeListener', 'off', 'removeAllListeners'] as const;

interface ServerState {
  map: Record<PropertyKey, unknown>;
  count: unknown;
  /** How many of the server's emitter methods are running for the code that may (the window). */
  depth: number;
  /** Whether the server has emitted `'listening'`: from then on a request can lead a package to it. */
  listening: boolean;
  /** Listeners code other than Node's and the app's added before that (a library the app attached): theirs to remove later. */
  attached: WeakSet<object>;
}

/** The servers locked here, and their listener state. */
const states = new WeakMap<object, ServerState>();
/** The arrays of listeners shown in a locked map (proxies), and the state they belong to. */
const guardedArrays = new WeakMap<object, ServerState>();

let hostError: ErrorConstructorLike = globalThis.Error as never;

const isIndexOrLength = (key: PropertyKey): boolean => key === 'length' || (typeof key === 'string' && String(Number(key) >>> 0) === key);

/** A listener array of a locked server: its elements and length change only in the window. */
function guardArray(array: unknown[], state: ServerState): unknown[] {
  const refuseOutside = (key: PropertyKey): boolean => state.depth > 0 || !isIndexOrLength(key);
  const proxy = new Proxy(array, {
    set(target, key, value) {
      return refuseOutside(key) && Reflect.set(target, key, value);
    },
    defineProperty(target, key, descriptor) {
      return refuseOutside(key) && Reflect.defineProperty(target, key, descriptor);
    },
    deleteProperty(target, key) {
      return refuseOutside(key) && Reflect.deleteProperty(target, key);
    },
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });
  guardedArrays.set(proxy, state);
  return proxy;
}

/** The map as it is shown outside the window: frozen, its arrays guarded. */
function frozenMap(map: Record<PropertyKey, unknown>, state: ServerState): Record<PropertyKey, unknown> {
  const copy = Object.create(null) as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(map)) {
    const value = map[key];
    copy[key] = Array.isArray(value) && guardedArrays.get(value) !== state ? guardArray(value, state) : value;
  }
  return Object.freeze(copy);
}

function refuse(method: string): never {
  throw new ServerListenerError(
    `LavaMoat: a package may not call ${method}() on a server the app made once it listens: its events ('request', 'upgrade', 'connection', TLS's 'keylog' and 'newSession') carry the app's traffic and secrets, and a request leads any package handed it to the server. A library the app attaches to its server (ws, socket.io) attaches before the server's listen(), or the app adds the listeners it means the library to have`,
  );
}

/**
 * Whether the code calling `fn` may change the server's listeners: a server's constructor
 * of Node's (http's, https's, TLS's and HTTP/2's add theirs; called with `new`, so on the
 * object it makes, never on one a package holds), or, past Node's and the runtime's
 * frames, the app's.
 */
function mayChange(fn: Function, removing: boolean): boolean {
  const sites: readonly Site[] = callerSitesOf(hostError, fn, 16);
  for (const site of sites) {
    const node = site.file?.startsWith('node:') === true;
    if (node && site.isConstructor) return true;
    if (node || isRuntimeFile(site.file)) continue;
    return isTheAppsFile(site.file);
  }
  return removing && sites.length > 0;
}

/**
 * Locks one server's listeners (see above). Run from node:net's `Server` constructor, before
 * `EventEmitter.call(this)`: the map is in place when the emitter's `init` looks for one.
 */
export function lockServerListeners(error: ErrorConstructorLike, server: object): void {
  if (states.has(server) || !Object.isExtensible(server)) return;
  hostError = error;
  const state: ServerState = { map: Object.freeze(Object.create(null) as Record<PropertyKey, unknown>), count: 0, depth: 0, listening: false, attached: new WeakSet() };
  const own = Reflect.getOwnPropertyDescriptor(server, '_events');
  if (own !== undefined) {
    // Made before (an emitter's own map): taken over as it is.
    if (!own.configurable || !('value' in own) || typeof own.value !== 'object' || own.value === null) return;
    state.map = frozenMap(own.value as Record<PropertyKey, unknown>, state);
    state.count = Reflect.get(server, '_eventsCount');
  }
  states.set(server, state);
  const outside = (what: string): never => {
    throw new ServerListenerError(`LavaMoat: a server's ${what} changes only through its emitter methods, called by Node's code or the app's`);
  };
  Object.defineProperty(server, '_events', {
    get: () => state.map,
    set: (value: unknown) => {
      if (state.depth === 0) outside('listener map');
      state.map = value as Record<PropertyKey, unknown>;
    },
    enumerable: false,
    configurable: false,
  });
  Object.defineProperty(server, '_eventsCount', {
    get: () => state.count,
    set: (value: unknown) => {
      if (state.depth === 0) outside('listener count');
      state.count = value;
    },
    enumerable: false,
    configurable: false,
  });
  for (const method of [...ADDING, ...REMOVING]) {
    const real: unknown = Reflect.get(server, method);
    if (typeof real !== 'function') continue;
    const removing = (REMOVING as readonly string[]).includes(method);
    const guarded = {
      [method](this: unknown, ...args: unknown[]): unknown {
        if (this !== server) return Reflect.apply(real, this, args);
        if (state.depth === 0) {
          const listener = args[1];
          if (state.listening) {
            // A library the app attached removes its own listeners (ws's close()).
            const own = (method === 'removeListener' || method === 'off') && typeof listener === 'function' && state.attached.has(listener);
            if (!own && !mayChange(guarded, removing)) refuse(method);
          } else if (!removing && typeof listener === 'function' && !mayChange(guarded, false)) {
            state.attached.add(listener);
          }
        }
        if (state.depth === 0) {
          const open = Object.create(null) as Record<PropertyKey, unknown>;
          for (const key of Reflect.ownKeys(state.map)) open[key] = state.map[key];
          state.map = open;
        }
        state.depth += 1;
        try {
          return Reflect.apply(real, this, args);
        } finally {
          state.depth -= 1;
          if (state.depth === 0) state.map = frozenMap(state.map, state);
        }
      },
    }[method]!;
    Object.defineProperty(guarded, 'length', { value: real.length });
    Object.defineProperty(server, method, { value: callerChecked(guarded), writable: false, enumerable: false, configurable: false });
  }
  const real: unknown = Reflect.get(server, 'emit');
  if (typeof real !== 'function') return;
  // Node makes the connection list as the server starts listening (its 'listening'
  // listener, on Node 20): the fields are pinned again once that event has run.
  const emit = {
    emit(this: unknown, type: unknown): unknown {
      // A server fed connections without listening (`server.emit('connection', duplex)`,
      // serverless adapters) closes the window with its first one, before its listeners run.
      if (!state.listening && this === server && typeof type === 'string' && SERVING.has(type)) state.listening = true;
      // eslint-disable-next-line prefer-rest-params
      const result: unknown = Reflect.apply(real, this, arguments);
      if (type === 'listening' && this === server) {
        state.listening = true;
        pinServerFields(server);
      }
      return result;
    },
  }.emit;
  Object.defineProperty(emit, 'length', { value: real.length });
  Object.defineProperty(server, 'emit', { value: emit, writable: false, enumerable: false, configurable: false });
}

/** Events that carry a connection or a request to a server: after the first, a package may hold it through one. */
const SERVING: ReadonlySet<string> = new Set(['connection', 'secureConnection', 'request', 'upgrade', 'connect', 'session', 'stream']);

/** Objects a server keeps under a symbol that Node hands every request to (its parser is added there). */
const PINNED_SYMBOLS: ReadonlySet<string> = new Set(['http.server.connections']);

/**
 * As a locked server starts listening (its `listen`, and its `'listening'` event): its own
 * properties that hold a function (the request and response classes, a callback Node
 * calls with each request) and its connection list (every request's parser is added
 * there) become read-only; the app's settings (numbers, its secure context) and Node's
 * timers stay writable.
 */
export function pinServerFields(server: object): void {
  if (!states.has(server)) return;
  for (const key of Reflect.ownKeys(server)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(server, key);
    if (descriptor === undefined || !descriptor.configurable || !('value' in descriptor)) continue;
    const value: unknown = descriptor.value;
    if (typeof value === 'function' || (typeof key === 'symbol' && PINNED_SYMBOLS.has(key.description ?? '') && typeof value === 'object' && value !== null)) {
      Object.defineProperty(server, key, { value, writable: false, enumerable: descriptor.enumerable, configurable: false });
    }
  }
}

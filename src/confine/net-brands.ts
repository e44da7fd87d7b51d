/**
 * Sockets and servers that Node's own constructors made: the only objects whose
 * `connect` and `listen` open a connection or a port.
 *
 * Why: `net.Socket.prototype.connect` and `net.Server.prototype.listen` make the native
 * handle themselves (`new TCP()` inside node:net), for whatever `this` they are given. A
 * package handed one socket or server of the app's (an HTTP middleware's `req.socket`,
 * the server socket.io attaches to) reaches those prototypes; the constructors there are
 * inert twins (capability-classes.ts), but an object of the same prototype made with a
 * pure parent's constructor (`Reflect.construct(EventEmitter, [], T)`, `T.prototype`
 * the server's) opened any connection or port, with no `net` grant (attack case 73).
 *
 * How: both constructors start with `this instanceof Socket` (`Server`), on the object
 * they are making (subclasses, TLS's included, run them on theirs). `Symbol.hasInstance`
 * of the two classes answers as the language does, and notes the object when the check
 * is made by that constructor's own frame in node:net (V8's call sites, which a package's
 * code cannot claim: stack-traces.ts). `connect` and `listen` then refuse any other
 * object. Nothing else tells them apart: every field of a socket can be copied onto a
 * made one, and the caller of `connect` can be any event Node emits.
 *
 * A socket Node made around a handle it already had (a server's accepted connection, a
 * child's stdio; told from the frames below its constructor) never connects: the app's
 * request socket or a child's stdout, destroyed by a package, could otherwise be
 * connected anywhere again.
 *
 * Not covered (attacks.md, case 73): the app's own client socket or server, closed, then
 * connected or listening again. An agent's connections: agent-guards.ts.
 */
import process from 'node:process';
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { lockServerListeners, pinServerFields } from './server-listeners.js';
import { callerChecked } from './frameless-calls.js';

type ErrorConstructorLike = Parameters<typeof callerSitesOf>[0];

export class UnmadeNetObjectError extends TypeError {
  code = 'LAVAMOAT_NET_OBJECT_NOT_MADE_BY_NODE';
}

/** Objects the constructors of node:net made (noted as they were made). */
const made = new WeakSet<object>();

/**
 * Sockets Node made around a handle it already had: a server's accepted connections, a
 * child's stdio and IPC channel, the TTY and stdio streams, TLS's server side. `connect`
 * on one, once closed, would open a new connection anywhere from an object the app hands
 * out as something else (Node allows a closed socket to connect again; nothing of these
 * ever needs to). Told from the frames below the constructor (`_handle`'s setter, which
 * would say it directly, is not configurable): a socket may connect when it was made by
 * code outside Node (the app, a package, their subclasses), by node:net's `connect` (what
 * `net.connect`, `http`'s agents, undici and HTTP/2 use), or by TLS's `connect`.
 */
const mayNotConnect = new WeakSet<object>();

type Site = { file: string | undefined; name: string | undefined };
const isNode = (site: Site | undefined): boolean => site?.file?.startsWith('node:') === true;

function madeToConnect(below: readonly Site[]): boolean {
  // `Socket(options)` without `new` calls itself with `new`.
  const callers = below.filter((site) => !(site.file === 'node:net' && site.name === 'Socket'));
  const [first, second] = callers;
  if (first === undefined) return false;
  if (!isNode(first)) return true;
  if (first.file === 'node:net' && first.name === 'connect') return true;
  return isTls(first) && first.name === 'TLSSocket' && isTls(second) && second!.name === 'connect';
}

/** The first frame below a constructor that is neither Node's nor the runtime's names no file: a package's. */
function madeByPackage(below: readonly Site[]): boolean {
  for (const site of below) {
    if (isNode(site) || isRuntimeFile(site.file)) continue;
    return !isTheAppsFile(site.file);
  }
  return false;
}

/** TLS's module (node:_tls_wrap up to Node 20, node:internal/tls/wrap from 22). */
const isTls = (site: Site | undefined): boolean => site?.file === 'node:_tls_wrap' || site?.file === 'node:internal/tls/wrap';

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

/**
 * The methods that make a socket or a server reach the network. `_listen2` is Node's
 * legacy alias of the function `listen` ends in (`setupListenHandle`), public on
 * `Server.prototype`: called on an object of a package's making (`this._handle` null), it
 * makes, binds and listens on a handle of its own (attack case 151).
 */
const CLASSES = [
  { name: 'Socket', methods: ['connect'], what: 'connect' },
  { name: 'Server', methods: ['listen', '_listen2'], what: 'listen on a port' },
] as const;

let installed = false;

/**
 * Run the moment node:net has loaded (preload.ts, through `whenLoaded`), before any
 * socket or server exists: those made before (a tool preloaded before the loader) are
 * noted from Node's list of active handles.
 */
export function brandNetObjects(hostError: ErrorConstructorLike, net: Record<string, unknown>, { existing = false } = {}): void {
  if (installed) return;
  for (const { name, methods, what } of CLASSES) {
    const Class = net[name] as (Function & { prototype: Record<string, unknown> }) | undefined;
    // Run before anything freezes them; if something did, node:net fails to load rather
    // than hand out unguarded sockets.
    if (typeof Class !== 'function' || !Object.isExtensible(Class)) throw new UnmadeNetObjectError(`LavaMoat: node:net's ${name} was changed before the runtime could guard its ${methods.join(' and ')}`);
    const hasInstance = {
      [Symbol.hasInstance](this: unknown, value: unknown): boolean {
        const result = Reflect.apply(ordinaryHasInstance, this, [value]) as boolean;
        if (result && !made.has(value as object)) {
          const [caller, ...below] = callerSitesOf(hostError, hasInstance, name === 'Server' ? 12 : 5);
          if (caller?.file === 'node:net' && caller.name === name) {
            made.add(value as object);
            if (name === 'Socket' && !madeToConnect(below)) mayNotConnect.add(value as object);
            // A server the app's code (or Node's) is making: its listeners (server-listeners.ts).
            if (name === 'Server' && !madeByPackage(below)) lockServerListeners(hostError, value as object);
          }
        }
        return result;
      },
    }[Symbol.hasInstance];
    Object.defineProperty(Class, Symbol.hasInstance, { value: callerChecked(hasInstance), writable: false, enumerable: false, configurable: false });
    for (const method of methods) guardMethod(Class, name, method, what);
  }
  installed = true;
  if (existing) noteActiveHandles(net);
}

/** Replaces `Class.prototype[method]` by one that runs only on objects node:net's constructors made. */
function guardMethod(Class: Function & { prototype: Record<string, unknown> }, name: string, method: string, what: string): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(Class.prototype, method);
  const real = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) throw new UnmadeNetObjectError(`LavaMoat: node:net's ${name}.prototype.${method} cannot be guarded`);
  const guarded = {
    [method](this: unknown, ...args: unknown[]): unknown {
      if (typeof this !== 'object' || this === null || !made.has(this)) {
        throw new UnmadeNetObjectError(
          `LavaMoat: this ${name.toLowerCase()} was not made by Node's net.${name}, so it cannot ${what}: an object made of its prototype another way has no network of its own (make one with net.${name}, or http/https/tls, from a package granted them)`,
        );
      }
      if (mayNotConnect.has(this)) {
        throw new UnmadeNetObjectError(
          "LavaMoat: this socket was made by Node around a connection or stream it already had (a server's accepted connection, a child's stdio, a TTY) and cannot connect anywhere (make one with net.Socket, or http/https/tls, from a package granted them)",
        );
      }
      if (name === 'Server') pinServerFields(this);
      return Reflect.apply(real, this, args);
    },
  }[method]!;
  Object.defineProperty(guarded, 'length', { value: real.length });
  Object.defineProperty(Class.prototype, method, { ...descriptor, value: callerChecked(guarded) });
}

/** Sockets and servers made before the brands (their handles are open). */
function noteActiveHandles(net: Record<string, unknown>): void {
  const active = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof active !== 'function') return;
  for (const handle of Reflect.apply(active, process, []) as unknown[]) {
    for (const { name } of CLASSES) {
      const Class = net[name] as Function | undefined;
      if (typeof Class === 'function' && typeof handle === 'object' && handle !== null && Reflect.apply(ordinaryHasInstance, Class, [handle])) {
        made.add(handle);
      }
    }
  }
}

/** For tests: whether node:net's constructors made `value`. */
export const madeByNet = (value: object): boolean => made.has(value);

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
 * A socket a server accepted (noted from the frames below its constructor: node:net's
 * `onconnection`, TLS's connection listener) never connects: the app's request socket,
 * destroyed by a package, could otherwise be connected anywhere again.
 *
 * Not covered (attacks.md, case 73): the app's own client socket or server, closed, then
 * connected or listening again; an agent's `createConnection`, which makes a real socket.
 */
import process from 'node:process';
import { callerSitesOf } from './stack-traces.js';

type ErrorConstructorLike = Parameters<typeof callerSitesOf>[0];

export class UnmadeNetObjectError extends TypeError {
  code = 'LAVAMOAT_NET_OBJECT_NOT_MADE_BY_NODE';
}

/** Objects the constructors of node:net made (noted as they were made). */
const made = new WeakSet<object>();

/**
 * Sockets a server accepted (made by node:net's `onconnection`, or TLS's connection
 * listener around one): `connect` on one, once closed, would open a new connection
 * anywhere from the object the app handed out as its peer's (Node allows a closed
 * socket to connect again; nothing accepted ever needs to).
 */
const accepted = new WeakSet<object>();

const ACCEPTS: readonly (readonly [string, string])[] = [
  ['node:net', 'onconnection'],
  ['node:_tls_wrap', 'tlsConnectionListener'],
];
const isAccept = (site: { file: string | undefined; name: string | undefined }): boolean =>
  ACCEPTS.some(([file, name]) => site.file === file && site.name === name);

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

const CLASSES = [
  { name: 'Socket', method: 'connect', what: 'connect' },
  { name: 'Server', method: 'listen', what: 'listen on a port' },
] as const;

let installed = false;

/**
 * Run the moment node:net has loaded (preload.ts, through `whenLoaded`), before any
 * socket or server exists: those made before (a tool preloaded before the loader) are
 * noted from Node's list of active handles.
 */
export function brandNetObjects(hostError: ErrorConstructorLike, net: Record<string, unknown>, { existing = false } = {}): void {
  if (installed) return;
  installed = true;
  for (const { name, method, what } of CLASSES) {
    const Class = net[name] as (Function & { prototype: Record<string, unknown> }) | undefined;
    if (typeof Class !== 'function' || !Object.isExtensible(Class)) continue;
    const hasInstance = {
      [Symbol.hasInstance](this: unknown, value: unknown): boolean {
        const result = Reflect.apply(ordinaryHasInstance, this, [value]) as boolean;
        if (result && !made.has(value as object)) {
          const [caller, ...below] = callerSitesOf(hostError, hasInstance, 4);
          if (caller?.file === 'node:net' && caller.name === name) {
            made.add(value as object);
            if (name === 'Socket' && below.some(isAccept)) accepted.add(value as object);
          }
        }
        return result;
      },
    }[Symbol.hasInstance];
    Object.defineProperty(Class, Symbol.hasInstance, { value: hasInstance, writable: false, enumerable: false, configurable: false });
    const descriptor = Reflect.getOwnPropertyDescriptor(Class.prototype, method);
    const real = descriptor?.value;
    if (typeof real !== 'function' || !descriptor!.configurable) continue;
    const guarded = {
      [method](this: unknown, ...args: unknown[]): unknown {
        if (typeof this !== 'object' || this === null || !made.has(this)) {
          throw new UnmadeNetObjectError(
            `LavaMoat: this ${name.toLowerCase()} was not made by Node's net.${name}, so it cannot ${what}: an object made of its prototype another way has no network of its own (make one with net.${name}, or http/https/tls, from a package granted them)`,
          );
        }
        if (accepted.has(this)) {
          throw new UnmadeNetObjectError(
            "LavaMoat: a socket a server accepted cannot connect anywhere: it is the app's connection with its peer, not a new one (make one with net.Socket, or http/https/tls, from a package granted them)",
          );
        }
        return Reflect.apply(real, this, args);
      },
    }[method]!;
    Object.defineProperty(guarded, 'length', { value: real.length });
    Object.defineProperty(Class.prototype, method, { ...descriptor, value: guarded });
  }
  if (existing) noteActiveHandles(net);
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

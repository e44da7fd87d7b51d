/**
 * The app's TLS servers (`tls.Server`, and so `https.Server` and HTTP/2's secure server):
 * their identity and the keys of their sessions, kept from packages the app hands a
 * request or a connection.
 *
 * Why: every HTTPS request the app serves leads to its server (`req.socket.server`), and
 * an HTTP middleware, a logger or a body parser is handed the request. Node keeps what
 * the app passed to `createServer` as own properties of the server: `server.key` is the
 * app's private key, `server.passphrase` its passphrase, `server.pfx` its PKCS#12 bundle
 * (case 273). The server's native secure context (`server._sharedCreds.context`, one for
 * every connection) answers `getTicketKeys()` with the keys that encrypt its session
 * tickets (whoever has them decrypts every ticket the server issues, the resumption
 * secrets of its clients, and forges tickets that resume as any client, past mutual TLS)
 * and takes `setTicketKeys`, `addCACert` (a client CA of the package's for a server that
 * asks for client certificates), `setMinProto`, `setCiphers`, `close` (case 274).
 *
 * How:
 * - each server's identity fields (`key`, `passphrase`, `pfx`, `privateKeyIdentifier`,
 *   `privateKeyEngine`, `ticketKeys`) become accessors of its own, not configurable,
 *   the first time Node's `setSecureContext` runs on it (its constructor calls it):
 *   read by Node's TLS code (`setSecureContext` reads what it assigned) and the app's;
 *   anyone else reads `undefined`, and a write from them throws. Every server's, one a
 *   package made too (a framework making the app's server with the app's key);
 * - `Server.prototype.getTicketKeys` and `setTicketKeys` run, on a server the app (or
 *   Node) made, only for the app's code;
 * - the native context of such a server (and those `addContext` adds to it) is noted
 *   once made; its methods then run only for the app's code, or for Node's TLS function
 *   of the same name (`Server.prototype.getTicketKeys` calling the native
 *   `getTicketKeys`; `_destroySSL` calling `close`), not for Node's code at large: TLS
 *   calls a server's `SNICallback`, and a package's own server's could be the native
 *   method, bound to the app's context.
 * "The app's code": the first frame that is neither Node's nor the runtime's names a file
 * (a package's frame names none; a bound function run by Node's dispatchers leaves none).
 * A server a package made keeps its ticket keys and context for packages (every package
 * is one kind: a framework that made the app's server, and a middleware it hands a
 * request, cannot be told apart). One stack read per read of a
 * set field (Node reads them once per `setSecureContext`) and per use of a noted context's
 * method (the app rotating its ticket keys); nothing per connection.
 *
 * On the client side, `tls.connect` keeps its options on each socket it makes, the
 * client's key among them: an accessor for Node's TLS code ({@link hideConnectOptions});
 * the context Node makes for one socket from that key is that socket's
 * ({@link markSocketContexts}); agents' identity options: agent-guards.ts.
 *
 * Not covered: the server object itself, which a package handed it can still change (its
 * `_sharedCreds`, `_contexts`, `setSecureContext` with a context of its own: without the
 * app's key, what it can serve is a certificate of its own; its listeners, `emit` and
 * request classes are server-listeners.ts's); a connection's own secrets,
 * to whoever holds it (`socket.getSession()`, `exportKeyingMaterial`).
 */
import { createRequire } from 'node:module';
import { callerSitesOf, type CallerSite } from './stack-traces.js';
import { callerChecked } from './frameless-calls.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';

type ErrorConstructorLike = Parameters<typeof callerSitesOf>[0];

const hostRequire = createRequire(import.meta.url);

export class TlsServerSecretError extends TypeError {
  readonly code = 'LAVAMOAT_TLS_SERVER_SECRET';
}

/** Where Node's TLS server and its secure contexts are made and used. */
const TLS_FILES: ReadonlySet<string> = new Set(['node:_tls_wrap', 'node:internal/tls/wrap', 'node:_tls_common', 'node:internal/tls/common', 'node:internal/tls/secure-context', 'node:tls']);

/** What the app passed to its server that is its identity, or its tickets' keys. */
const IDENTITY = ['key', 'passphrase', 'pfx', 'privateKeyIdentifier', 'privateKeyEngine', 'ticketKeys'] as const;

/** Node's functions that call a native context's method of the same name on a server's, or `close` on a socket's. */
const NODE_CONTEXT_CALLERS: Readonly<Record<string, readonly string[]>> = {
  getTicketKeys: ['getTicketKeys'],
  setTicketKeys: ['setTicketKeys'],
  close: ['_destroySSL'],
};

let hostError: ErrorConstructorLike = globalThis.Error as never;
const isObject = (value: unknown): value is object => (typeof value === 'object' && value !== null) || typeof value === 'function';

/** Servers whose identity is pinned, by who made them: a package's or not. */
const servers = new WeakMap<object, 'package' | 'app'>();
/** Native contexts of servers the app (or Node) made. */
const appContexts = new WeakSet<object>();

const isNode = (site: CallerSite): boolean => site.file?.startsWith('node:') === true;

/**
 * Node's modules that pass the app's calls on to a server's or a socket's TLS methods: its
 * TLS, HTTP(S), HTTP/2 and net code. Not Node's generic wrappers of whatever function
 * they are handed (`util.deprecate`'s, promisify's, an `AsyncResource`'s, an emitter's
 * dispatch), which call it with the receiver and arguments of a package's choosing
 * when the app calls or reads what a package gave it (case 370).
 */
const TLS_FORWARDERS: ReadonlySet<string> = new Set([
  ...TLS_FILES,
  'node:https',
  'node:http',
  'node:_http_agent',
  'node:_http_client',
  'node:_http_server',
  'node:net',
  'node:http2',
  'node:internal/http2/core',
]);

/** The first frame below `fn` that is neither Node's forwarding code nor the runtime's is the app's file. */
function forTheApp(fn: Function): boolean {
  for (const site of callerSitesOf(hostError, fn, 16)) {
    if ((site.file !== undefined && TLS_FORWARDERS.has(site.file)) || isRuntimeFile(site.file)) continue;
    return isTheAppsFile(site.file);
  }
  return false;
}

/** A read or write of an identity field: Node's TLS code (right below), or the app's. */
function byTlsOrApp(fn: Function): boolean {
  const [first] = callerSitesOf(hostError, fn, 1);
  if (first?.file !== undefined && TLS_FILES.has(first.file)) return true;
  return forTheApp(fn);
}

/** Who is making a server (its constructor's `setSecureContext`): a package, or the app (or Node for it). */
function makerOf(fn: Function): 'package' | 'app' {
  for (const site of callerSitesOf(hostError, fn, 16)) {
    if (isNode(site) || isRuntimeFile(site.file)) continue;
    return isTheAppsFile(site.file) ? 'app' : 'package';
  }
  return 'app';
}

function pinIdentity(server: object, maker: 'package' | 'app'): void {
  servers.set(server, maker);
  // Every server's, a package's too (a framework's that made the app's server with the
  // app's key, which any package handed a request would otherwise read): Node's TLS code
  // reads them, and the code that passed them has them already.
  if (!Object.isExtensible(server)) return;
  for (const name of IDENTITY) {
    const current = Reflect.getOwnPropertyDescriptor(server, name);
    if (current !== undefined && !current.configurable) continue;
    let value: unknown = current !== undefined && 'value' in current ? current.value : undefined;
    // Each answers for its own server only: moved onto an object the app or Node reads (a
    // getter of a package's object, the options the app passes to `http.request`), it
    // would answer the app's read or Node's there (case 370).
    const accessor = {
      get(this: unknown): unknown {
        // Nothing set is nothing to keep (no stack read).
        if (value === undefined || (this === server && byTlsOrApp(accessor.get))) return value;
        return undefined;
      },
      set(this: unknown, next: unknown): void {
        if (this !== server || !byTlsOrApp(accessor.set)) {
          throw new TlsServerSecretError(`LavaMoat: the ${name} of a TLS server the app made is set by Node's TLS code and the app's own, not a package's`);
        }
        value = next;
      },
    };
    Object.defineProperty(server, name, { get: callerChecked(accessor.get), set: callerChecked(accessor.set), enumerable: true, configurable: false });
  }
}

/** The native context of `server` (and of its SNI contexts), the app's: noted. */
function noteContexts(server: object): void {
  const shared: unknown = Reflect.get(server, '_sharedCreds');
  const context: unknown = isObject(shared) ? Reflect.get(shared, 'context') : undefined;
  if (isObject(context)) appContexts.add(context);
  const contexts: unknown = Reflect.get(server, '_contexts');
  if (Array.isArray(contexts)) {
    for (const entry of contexts) if (Array.isArray(entry) && isObject(entry[1])) appContexts.add(entry[1] as object);
  }
}

function wrap(proto: Record<string, unknown>, name: string, make: (real: Function) => Function): boolean {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, name);
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) return false;
  const wrapper = callerChecked(make(real));
  Object.defineProperty(wrapper, 'length', { value: real.length });
  Object.defineProperty(proto, name, { ...descriptor, value: wrapper });
  return true;
}

/**
 * `tls.connect(options)` keeps its options on the socket it makes
 * (`socket[kConnectOptions]`), for its own handshake callback to read: the client's
 * private key and passphrase among them, which a package handed the app's response read
 * from `res.socket` (case 276). Each such socket's property becomes an accessor of its
 * own that answers Node's TLS code (right below) only. Wrapped on the module object before
 * node:tls copies it (Node 20) or before it is hardened (22, 24); https's agent and undici
 * call it there.
 */
const hidingConnects = new WeakSet<Function>();
let connectOptionsKey: symbol | undefined;

function hideConnectOptions(module: Record<string, unknown>): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(module, 'connect');
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || hidingConnects.has(real) || !descriptor!.configurable || !descriptor!.writable) return;
  const connect = {
    connect(this: unknown, ...args: unknown[]): unknown {
      const socket: unknown = Reflect.apply(real, this, args);
      if (!isObject(socket)) return socket;
      connectOptionsKey ??= Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'connect-options');
      const key = connectOptionsKey;
      const current = key === undefined ? undefined : Reflect.getOwnPropertyDescriptor(socket, key);
      if (key === undefined || current === undefined || !current.configurable || !('value' in current)) return socket;
      let value: unknown = current.value;
      const accessor = {
        get(this: unknown): unknown {
          if (this !== socket) return undefined;
          const [first] = callerSitesOf(hostError, accessor.get, 1);
          return first?.file !== undefined && TLS_FILES.has(first.file) ? value : undefined;
        },
        set(this: unknown, next: unknown): void {
          const [first] = callerSitesOf(hostError, accessor.set, 1);
          if (this !== socket || first?.file === undefined || !TLS_FILES.has(first.file)) throw new TlsServerSecretError("LavaMoat: a TLS socket's connect options are Node's");
          value = next;
        },
      };
      Object.defineProperty(socket, key, { get: callerChecked(accessor.get), set: callerChecked(accessor.set), enumerable: current.enumerable ?? false, configurable: false });
      return socket;
    },
  }.connect;
  Object.defineProperty(connect, 'length', { value: real.length });
  hidingConnects.add(connect);
  Object.defineProperty(module, 'connect', { ...descriptor, value: connect });
}

let serversGuarded = false;

/**
 * Run when Node's TLS server class has loaded (`_tls_wrap` on Node 20, `tls` on 22 and
 * 24, whose class is internal), before it is hardened and before any server exists.
 */
export function guardTlsServers(error: ErrorConstructorLike, tls: { Server?: unknown; connect?: unknown } | undefined): void {
  const Server = tls?.Server as (Function & { prototype: Record<string, unknown> }) | undefined;
  if (typeof Server !== 'function') return;
  hostError = error;
  // On each module object Node's code calls it on (node:tls copies it from node:_tls_wrap
  // on Node 20, from internal/tls/wrap before node:_tls_wrap loads on 22).
  hideConnectOptions(tls as Record<string, unknown>);
  markSocketContexts(tls as Record<string, unknown>);
  if (serversGuarded) return;
  const proto = Server.prototype;
  const setSecureContext = Reflect.getOwnPropertyDescriptor(proto, 'setSecureContext');
  if (typeof setSecureContext?.value !== 'function') return;
  if (!setSecureContext.configurable) throw new TlsServerSecretError("LavaMoat: node:tls's Server was hardened before the runtime could guard its secrets");
  wrap(proto, 'setSecureContext', (real) => ({
    setSecureContext(this: unknown, ...args: unknown[]): unknown {
      if (!isObject(this)) return Reflect.apply(real, this, args);
      let maker = servers.get(this);
      if (maker === undefined) pinIdentity(this, (maker = makerOf(guarded.setSecureContext)));
      else if (maker === 'app' && !forTheApp(guarded.setSecureContext)) {
        throw new TlsServerSecretError("LavaMoat: the secure context of a TLS server the app made is replaced by the app's code only");
      }
      const result = Reflect.apply(real, this, args);
      if (maker === 'app') noteContexts(this);
      return result;
    },
  }).setSecureContext);
  const guarded = { setSecureContext: proto.setSecureContext as Function };
  for (const name of ['getTicketKeys', 'setTicketKeys']) {
    wrap(proto, name, (real) => {
      const wrapper = {
        [name](this: unknown, ...args: unknown[]): unknown {
          if (isObject(this) && servers.get(this) !== 'package' && !forTheApp(wrapper)) {
            throw new TlsServerSecretError(
              `LavaMoat: ${name}() of a TLS server the app made runs for the app's code only: its session tickets' keys decrypt and forge the sessions of its clients`,
            );
          }
          return Reflect.apply(real, this, args);
        },
      }[name]!;
      return wrapper;
    });
  }
  guardContextUse(tls as Record<string, unknown>);
  wrap(proto, 'addContext', (real) => ({
    addContext(this: unknown, ...args: unknown[]): unknown {
      const result = Reflect.apply(real, this, args);
      if (isObject(this) && servers.get(this) !== 'package') noteContexts(this);
      return result;
    },
  }).addContext);
  serversGuarded = true;
}

/**
 * A secure context of the app's servers (its key and certificate, loaded natively) is
 * what a TLS socket is made with: a package handed a request of the app's server took it
 * (`server._sharedCreds`, `socket._tlsOptions.secureContext`) and served with it from a
 * server of its own (its `_sharedCreds` set to it, or its `SNICallback` answering it), so
 * that whoever connected was shown the app's certificate and a handshake signed with the
 * app's private key (docs/attacks.md, case 303). So `TLSSocket.prototype._wrapHandle`,
 * where Node hands a socket its context, takes one of the app's only for a connection of
 * an app's server (Node's connection listener right below the socket's constructor, on a
 * server the app made) or for the app's code (a client socket it makes); the context is
 * read once, as Node reads it (an own data property, else refused), and on a server that
 * is not the app's the `SNICallback` answers no context of the app's. One set lookup per
 * connection, and a stack read only where the context is the app's.
 */
let empty: unknown;

/**
 * The secure contexts Node makes for one socket: `tls.connect` without a `secureContext`
 * option makes one from the options (the client's `key` and `cert`: https's agents, a
 * request's own options, undici), as a socket's `_wrapHandle` does when given none. Node
 * never hands such a context to another socket, but the socket keeps it where whoever
 * holds the socket reads it (`socket._tlsOptions.secureContext`, `socket.ssl._secureContext`):
 * a package handed the app's response (`res.socket`, `res.req.socket`, the agent's free
 * sockets) connected with it to a service that trusts the app's client certificate and
 * was taken for the app (docs/attacks.md, case 340). Each such native context is noted
 * when made (its maker read from the stack: Node's `connect` or `_wrapHandle` right
 * below), by the first socket that takes it; another socket takes it for the app's code
 * only. A context the app makes itself and passes as `secureContext` (to be shared) is
 * not noted (not covered: a package handed a socket made with it can use it).
 */
const socketContexts = new WeakMap<object, object | null>();
const MAKERS_FOR_ONE_SOCKET: readonly string[] = ['connect', '_wrapHandle'];

function refuseSocketContext(): never {
  throw new TlsServerSecretError("LavaMoat: the secure context Node made for one of the app's TLS connections (its client key and certificate) is that connection's only");
}

function markSocketContexts(module: Record<string, unknown>): void {
  wrap(module, 'createSecureContext', (real) => {
    if (markingContexts.has(real)) return real;
    const wrapper = {
      createSecureContext(this: unknown, ...args: unknown[]): unknown {
        const context: unknown = Reflect.apply(real, this, args);
        const [first] = callerSitesOf(hostError, wrapper, 1);
        const name = first?.name;
        if (first?.file !== undefined && TLS_FILES.has(first.file) && name !== undefined && MAKERS_FOR_ONE_SOCKET.some((maker) => name === maker || name.endsWith(`.${maker}`))) {
          const native: unknown = isObject(context) ? Reflect.getOwnPropertyDescriptor(context, 'context')?.value : undefined;
          if (isObject(native) && !socketContexts.has(native)) socketContexts.set(native, null);
        }
        return context;
      },
    }.createSecureContext;
    markingContexts.add(wrapper);
    return wrapper;
  });
}
const markingContexts = new WeakSet<Function>();
/** A secure context with no key or certificate (made once, when first needed). */
const emptyContext = (): unknown => (empty ??= (hostRequire('node:tls') as { createSecureContext(options: object): unknown }).createSecureContext({}));

function guardContextUse(module: Record<string, unknown>): void {
  const TLSSocket = module.TLSSocket as (Function & { prototype: Record<string, unknown> }) | undefined;
  if (typeof TLSSocket !== 'function') return;
  const refuse = (): never => {
    throw new TlsServerSecretError("LavaMoat: the secure context of a TLS server the app made (its key and certificate) serves the app's connections only");
  };
  /** The native context a context object gives Node (`context.context`), read once; refused if it could answer twice. */
  const nativeOf = (context: unknown): unknown => {
    if (!isObject(context)) return context;
    const descriptor = Reflect.getOwnPropertyDescriptor(context, 'context');
    if (descriptor === undefined) return Reflect.get(context, 'context') === undefined ? context : refuse();
    if (!('value' in descriptor)) refuse();
    return descriptor.value;
  };
  wrap(TLSSocket.prototype, '_wrapHandle', (real) => {
    const wrapper = {
      _wrapHandle(this: unknown, ...args: unknown[]): unknown {
        const options: unknown = isObject(this) ? Reflect.get(this, '_tlsOptions') : undefined;
        if (isObject(options)) {
          const given: unknown = Reflect.get(options, 'secureContext') || Reflect.get(options, 'credentials');
          const server: unknown = Reflect.get(options, 'server');
          const isServer = Reflect.get(options, 'isServer') === true;
          const native = nativeOf(given);
          if (isObject(native) && appContexts.has(native)) {
            const [constructing, listener] = callerSitesOf(hostError, wrapper, 2);
            const appConnection =
              isServer &&
              isObject(server) &&
              servers.get(server) === 'app' &&
              constructing?.file !== undefined &&
              TLS_FILES.has(constructing.file) &&
              listener?.file !== undefined &&
              TLS_FILES.has(listener.file) &&
              listener.name === 'tlsConnectionListener';
            if (!appConnection && !forTheApp(wrapper)) {
              // A connection a server accepted (no caller to throw to: the process would
              // end) gets a context with no identity, whose handshake fails.
              if (!isServer) refuse();
              Reflect.set(options, 'secureContext', emptyContext());
              Reflect.set(options, 'credentials', undefined);
            }
          }
          // A context Node made for one socket (a client's identity, case 340): that socket's only.
          if (isObject(native) && socketContexts.has(native) && isObject(this)) {
            const owner = socketContexts.get(native);
            if (owner === null) socketContexts.set(native, this);
            else if (owner !== this && !forTheApp(wrapper)) {
              if (!isServer) refuseSocketContext();
              Reflect.set(options, 'secureContext', emptyContext());
              Reflect.set(options, 'credentials', undefined);
            }
          }
          // A server not the app's: its SNICallback answers no context of the app's.
          const sni: unknown = Reflect.get(options, 'SNICallback');
          if (isServer && typeof sni === 'function' && !(isObject(server) && servers.get(server) === 'app')) {
            Reflect.set(options, 'SNICallback', function SNICallback(this: unknown, name: unknown, callback: unknown): unknown {
              if (typeof callback !== 'function') return Reflect.apply(sni, this, [name, callback]);
              return Reflect.apply(sni, this, [
                name,
                (error: unknown, context: unknown) => {
                  if (!context) return Reflect.apply(callback, undefined, [error, context]);
                  let native: unknown;
                  try {
                    native = nativeOf(context);
                    if (isObject(native) && (appContexts.has(native) || socketContexts.has(native))) refuse();
                  } catch (refusal) {
                    return Reflect.apply(callback, undefined, [refusal]);
                  }
                  return Reflect.apply(callback, undefined, [error, Object.freeze({ context: native })]);
                },
              ]);
            });
          }
        }
        return Reflect.apply(real, this, args);
      },
    }._wrapHandle;
    return wrapper;
  });
}

/**
 * The native secure context's methods (Node 20 and 22 list its class in
 * `process.binding('crypto')`; Node 24's is reached from the first context made):
 * before its prototype is frozen. On a context of the app's servers, they run only for
 * the app's code or for Node's TLS function that forwards to them by the same name.
 */
const contextPrototypes = new WeakSet<object>();
/** What a context answers that is public (its certificate, its issuer's, its versions): Node's OCSP handler reads them. */
const PUBLIC_READS: ReadonlySet<string> = new Set(['constructor', 'getCertificate', 'getIssuer', 'getMinProto', 'getMaxProto']);

export function guardServerContextMethods(prototype: object): void {
  if (contextPrototypes.has(prototype)) return;
  contextPrototypes.add(prototype);
  for (const name of Reflect.ownKeys(prototype)) {
    if (typeof name !== 'string' || PUBLIC_READS.has(name)) continue;
    const allowed = NODE_CONTEXT_CALLERS[name] ?? [];
    wrap(prototype as Record<string, unknown>, name, (real) => {
      const wrapper = {
        [name](this: unknown, ...args: unknown[]): unknown {
          if (isObject(this) && appContexts.has(this)) {
            const [first] = callerSitesOf(hostError, wrapper, 1);
            const forwarded = first !== undefined && first.file !== undefined && TLS_FILES.has(first.file) && first.name !== undefined && allowed.some((caller) => first.name === caller || first.name!.endsWith(`.${caller}`));
            if (!forwarded && !forTheApp(wrapper)) {
              throw new TlsServerSecretError(
                `LavaMoat: the secure context of a TLS server the app made (${name}) is used by the app's code only: it holds the keys of its session tickets and the trust it checks its clients with`,
              );
            }
          }
          return Reflect.apply(real, this, args);
        },
      }[name]!;
      return wrapper;
    });
  }
}

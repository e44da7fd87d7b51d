/**
 * Sample instances of the network modules' classes that no module exports (samples.ts has
 * the rule): an HTTP server's connection list and its requests' async resource, the
 * HTTP parser, the native secure context, and HTTP/2's sessions and streams.
 */
import { builtinModules, createRequire } from 'node:module';
import { hardenFirstResult, hardenPrototypesWithin } from './host-hardening.js';
import { handleOf, refuseEngineMethods } from './native-handles.js';
import { internal } from './web-samples.js';
import { isStackOverflow } from './stack-overflow.js';
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { callerChecked } from './frameless-calls.js';

const hostRequire = createRequire(import.meta.url);

export const NET_SAMPLES: Readonly<Record<string, () => unknown[]>> = {
  // The native HTTP parser (which Node 24's process.binding no longer lists); a server's
  // connection list (native too, made when it listens: 'listening' is emitted here with
  // no port) and the async resource of a request's parser (a connection on a socket that
  // never connects).
  http: () => {
    const common = hostRequire('_http_common') as { HTTPParser?: new () => object };
    const made: unknown[] = common.HTTPParser ? [new common.HTTPParser()] : [];
    const http = hostRequire('node:http') as typeof import('node:http');
    const net = hostRequire('node:net') as typeof import('node:net');
    const server = http.createServer();
    const socket = new net.Socket();
    try {
      server.emit('listening');
      server.emit('connection', socket);
      hardenPrototypesWithin(server, 1);
      hardenPrototypesWithin((socket as unknown as { parser?: unknown }).parser, 1);
    } finally {
      socket.destroy();
      server.close();
    }
    return made;
  },
  // Node's pool of HTTP parsers, emptied and closed to new ones before the first
  // connection (below). `_http_common` loads with http and https alike.
  _http_common: () => {
    unpoolHttpParsers(hostRequire('_http_common') as { parsers?: unknown });
    return [];
  },
  // OpenSSL engines are refused first (below); the native context's prototype is then
  // hardened (Node 24's process.binding no longer lists it).
  tls: () => {
    // A TLS socket's certificates (its peer's, its own, and their issuers) are of
    // `InternalX509Certificate`, which no module exports: its prototype, between theirs and
    // `X509Certificate`'s, hardened by the first certificate made, before its caller has
    // it (a sample would need a certificate parsed at every tls load, about 1 ms).
    const { TLSSocket } = hostRequire('node:tls') as { TLSSocket?: { prototype: object } };
    if (TLSSocket) for (const name of ['getPeerX509Certificate', 'getX509Certificate']) hardenFirstResult(TLSSocket.prototype, name, 1);
    return [refuseOpenSslEngines()];
  },
  http2: sampleHttp2Later,
};

/**
 * Node keeps the HTTP parsers of finished connections in one pool (`_http_common`'s
 * `parsers`, a FreeList of up to 1000) and hands them to the next connection of any
 * server or client of the process. A parser is reachable from every request and
 * response it served (`req.socket.parser`), and its own properties are Node's callbacks
 * and fields (`parser[kOnHeadersComplete]`, `socket`, `incoming`), which Node assigns
 * and never checks: a package handed one request (any middleware) could replace them or
 * keep the parser, and see every later message that parser carries, the app's requests
 * to its servers and its own requests' responses, with their credentials. So the pool
 * keeps nothing: Node then closes a parser when its connection is done (its own path
 * for a full pool) and makes a new one for the next connection (about a microsecond).
 * Parsers pooled before this ran (a tool preloaded before the loader) are closed too.
 */
export function unpoolHttpParsers(common: { parsers?: unknown }): void {
  const pool = common.parsers as { max?: unknown; list?: unknown } | undefined;
  if (typeof pool !== 'object' || pool === null || typeof pool.max !== 'number') return;
  // An accessor, not a read-only value: `http.setMaxIdleHTTPParsers(n)` assigns it (an
  // app tuning the pool), and keeps working, with no effect.
  Object.defineProperty(pool, 'max', { get: () => 0, set: () => {}, enumerable: true, configurable: false });
  const list = pool.list;
  if (!Array.isArray(list)) return;
  for (const parser of list.splice(0)) {
    try {
      (parser as { close?: () => void }).close?.();
    } catch {
      // Already closed.
    }
  }
  Object.defineProperty(pool, 'list', { value: list, writable: false, enumerable: true, configurable: false });
}

/**
 * OpenSSL engines are shared libraries OpenSSL loads into the process: native code, with
 * no `native` grant in sight (`tls.createSecureContext({ privateKeyEngine })`,
 * `https.request({ clientCertEngine })`). The two native methods every such path ends in
 * refuse, for everyone: which package asked cannot be told reliably at that point, and
 * OpenSSL 3 deprecates engines. `crypto.setEngine` is refused in packages' copies of
 * `crypto` unless their policy grants `native` (builtin-adapters.ts).
 */
function refuseOpenSslEngines(): object {
  // The bare context (no root certificates loaded: `createSecureContext()` reads them,
  // 2–20 ms) where Node still exports its class.
  const common = builtinModules.includes('_tls_common') ? (hostRequire('_tls_common') as { SecureContext?: new () => { context: object } }) : {};
  const secure = typeof common.SecureContext === 'function'
    ? new common.SecureContext()
    : ((hostRequire('node:tls') as typeof import('node:tls')).createSecureContext() as unknown as { context: object });
  refuseEngineMethods(Object.getPrototypeOf(secure.context) as object);
  return secure;
}

let eager = false;

/**
 * Where builtins are hardened later than they load (a tool preloaded before the loader,
 * or loads not observed), sessions may exist before the hardening, and none made after it
 * would sample: HTTP/2 is then sampled when it is hardened.
 */
export const sampleHttp2Eagerly = (): void => void (eager = true);

/** What makes HTTP/2 sessions: each samples HTTP/2's classes first, once. */
const SESSION_MAKERS = ['connect', 'createServer', 'createSecureServer', 'performServerHandshake'] as const;

/**
 * HTTP/2's sessions and streams are of classes http2 does not export. A sample of them
 * costs 8–12 ms (most of it compiling HTTP/2's code for the first time), and on Node 22
 * and 24 http2 loads with undici, at an app's first `fetch`, whether or not anything
 * speaks HTTP/2. So it is made on first use instead: http2's functions that make a
 * session (`connect`, `createServer`, ...) are wrapped on the module object, and the first
 * call of any of them, by the app, by undici or by a package (whose copy is made from the
 * module object), samples them before the session it asked for exists.
 */
function sampleHttp2Later(): unknown[] {
  const http2 = hostRequire('node:http2') as Record<string, unknown>;
  const real: Record<string, Function> = {};
  if (eager) {
    sampleHttp2(http2 as Record<string, Function>);
    return [];
  }
  let sampled = false;
  // Done once it has succeeded: one cut short (out of stack: a package recursing deep
  // before its first session, docs/attacks.md case 241) fails the call that asked, and
  // the next call samples.
  const sampleOnce = (): void => {
    if (sampled) return;
    sampleHttp2(real);
    sampled = true;
  };
  for (const name of SESSION_MAKERS) {
    const fn = http2[name];
    const descriptor = Reflect.getOwnPropertyDescriptor(http2, name);
    if (typeof fn !== 'function' || !descriptor?.writable || !descriptor.configurable) continue;
    real[name] = fn;
    const wrapper = {
      [name](this: unknown, ...args: unknown[]): unknown {
        sampleOnce();
        return Reflect.apply(fn, this, args);
      },
    }[name]!;
    Object.defineProperty(wrapper, 'length', { value: fn.length });
    Object.defineProperty(http2, name, { ...descriptor, value: callerChecked(wrapper) });
  }
  return [];
}

/**
 * The methods of HTTP/2's server streams that have Node open and read a file, or read a
 * descriptor, natively (`ServerHttp2Stream.prototype`): the file's bytes go to the peer,
 * its stats to the `statCheck` callback. A package granted `http2` (nothing of `fs`)
 * served itself any file and any descriptor of the app's through a server and a client
 * of its own, and a route handler handed the app's stream (or a stream it pushed) served
 * them to the client (docs/attacks.md, case 330).
 */
const FILE_RESPONSES = ['respondWithFile', 'respondWithFD'] as const;

export class Http2FileResponseError extends TypeError {
  readonly code = 'LAVAMOAT_HTTP2_FILE_RESPONSE';
}

/**
 * Each of {@link FILE_RESPONSES} on the prototype a sample's stream leads to runs only
 * when its caller, past the runtime's own wrappers, is the app's file (V8's call sites:
 * a package's frame names no file; a bound method run as a promise job or a listener
 * leaves only Node's frames or none): the app serves its files, as it would read them.
 * A package that serves files reads them with its `fs` grant and writes the stream.
 * Done before the prototype is hardened; each prototype once.
 */
function guardFileResponses(instance: object): void {
  for (let proto = Object.getPrototypeOf(instance) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of FILE_RESPONSES) {
      const descriptor = Reflect.getOwnPropertyDescriptor(proto, name);
      if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable || !descriptor.writable) continue;
      const real = descriptor.value as Function;
      const guarded = {
        [name](this: unknown, ...args: unknown[]): unknown {
          const caller = callerSitesOf(globalThis.Error as never, guarded, 4).find((site) => !isRuntimeFile(site.file));
          if (!isTheAppsFile(caller?.file)) {
            throw new Http2FileResponseError(
              `LavaMoat: an HTTP/2 stream's ${name}() has Node read a file or descriptor: only the app's own code may call it ` +
                '(a package reads the file with its fs grant and writes it to the stream)',
            );
          }
          return Reflect.apply(real, this, args);
        },
      }[name]!;
      Object.defineProperty(guarded, 'length', { value: real.length });
      Object.defineProperty(proto, name, { ...descriptor, value: callerChecked(guarded) });
    }
  }
}

/** An HTTP/2 sample's emitter, and a session's streams, pending or open: given a listener for 'error'. */
function quiet(instance: { on(event: string, listener: () => void): unknown }, noop: () => void): void {
  try {
    instance.on('error', noop);
    const state = internal(instance, 'state') as { streams?: Map<unknown, typeof instance>; pendingStreams?: Set<typeof instance> } | undefined;
    for (const stream of [...(state?.streams?.values() ?? []), ...(state?.pendingStreams ?? [])]) stream.on('error', noop);
  } catch {
    // Out of stack, or not an emitter: left as it is.
  }
}

/** The client preface, an empty SETTINGS frame and a HEADERS frame (GET / on stream 1, HPACK). */
const REQUEST = (): Buffer => {
  const block = [0x82, 0x84, 0x86, 0x41, 0x01, 0x61];
  return Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
    Buffer.from([0, 0, block.length, 1, 5, 0, 0, 0, 1, ...block]),
  ]);
};

/**
 * One server session, one server stream, one client session and one client stream, in
 * memory and synchronously: the server session's native handle is fed a request's bytes
 * (what Node does with data already buffered on a socket), which makes the server stream
 * at once. Nothing is listened on or connected to.
 */
function sampleHttp2(real: Record<string, Function>): void {
  const { Duplex } = hostRequire('node:stream') as typeof import('node:stream');
  const sink = (): import('node:stream').Duplex => new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  const noop = (): void => {};
  type Emitter = { on(event: string, listener: (...args: never[]) => void): unknown; destroy?(): void; close?(): void };
  const made: Emitter[] = [];
  try {
    const server = Reflect.apply(real.createServer!, undefined, []) as Emitter & { emit(event: string, value: unknown): boolean };
    made.push(server);
    let session: Emitter | undefined;
    server.on('session', (value: Emitter) => void made.push((session = value)));
    server.emit('connection', sink());
    if (session) {
      (handleOf(session) as { receive?: (data: Buffer) => void } | undefined)?.receive?.(REQUEST());
      const streams = (internal(session, 'state') as { streams?: Map<unknown, Emitter> } | undefined)?.streams;
      for (const stream of streams?.values() ?? []) stream.on('error', noop), made.push(stream);
    }
    const client = Reflect.apply(real.connect!, undefined, ['http://localhost', { createConnection: sink }]) as Emitter & { request(headers: object): Emitter };
    made.push(client);
    client.on('error', noop);
    const request = client.request({ ':path': '/' });
    made.push(request);
    request.on('error', noop);
    for (const instance of made) guardFileResponses(instance);
    for (const instance of made) hardenPrototypesWithin(instance, 2);
  } catch (error) {
    // Out of stack: not done (see sampleOnce).
    if (isStackOverflow(error)) throw error;
    // Not in this Node: what was made is hardened where it got to.
  } finally {
    // Quieted first: a sample cut short may hold a stream with no 'error' listener yet,
    // which its session's destroy would fail with an error nobody handles.
    for (const instance of made) quiet(instance, noop);
    for (const instance of made.reverse()) {
      try {
        if (instance.destroy) instance.destroy();
        else instance.close?.();
      } catch {
        // Already closed.
      }
    }
  }
}

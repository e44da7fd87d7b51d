/**
 * Sample instances of the web platform's classes that no global names (samples.ts has the
 * rule): the readers, writers, controllers and tee branches of web streams, what fetch's
 * objects hold, a WebCrypto key, a `File`'s state, a sliced `Blob`, a WebSocket's events
 * and (on Node 22, where undici keeps them as properties) its internals. Each is made when
 * the internal module that makes the class has loaded (lazy-globals.ts), from the classes
 * the platform's globals hold.
 */
import { createRequire } from 'node:module';
import { hardenPrototypesWithin } from './host-hardening.js';
import { globalAgent } from './undici-dispatcher.js';
import { disarmGlobalClass } from './capability-classes.js';
import { isStackOverflow } from './stack-overflow.js';

const hostRequire = createRequire(import.meta.url);

export const READABLE = 'internal/webstreams/readablestream';
export const WRITABLE = 'internal/webstreams/writablestream';
export const TRANSFORM = 'internal/webstreams/transformstream';
export const WEBCRYPTO = 'internal/crypto/webcrypto';
const UNDICI = 'internal/deps/undici/undici';

// Set by prepareSamples, before any package runs (not an alias of `globalThis`, which
// scuttling strips).
let webGlobals: Record<PropertyKey, unknown> = {};

/** The object that holds the host's globals (the real `globalThis` is stripped when scuttled). */
export const hostGlobals = (): Record<PropertyKey, unknown> => webGlobals;

export const setHostGlobals = (globals: Record<PropertyKey, unknown>): void => {
  webGlobals = globals;
};

type Constructor = new (...args: unknown[]) => Record<PropertyKey, unknown>;
const web = (): Record<string, Constructor | undefined> => webGlobals as Record<string, Constructor | undefined>;

/** What an object holds under the symbol of this description (undici's and Node's internals). */
export function internal(object: unknown, description: string): unknown {
  if (typeof object !== 'object' || object === null) return undefined;
  const symbol = Object.getOwnPropertySymbols(object).find((s) => s.description === description);
  return symbol === undefined ? undefined : (object as Record<symbol, unknown>)[symbol];
}

export const WEB_SAMPLES: Readonly<Record<string, () => unknown[]>> = {
  // What fetch hands out holds undici's own classes (its header list, body state).
  fetch: () => {
    const { Response, Request, Headers, ReadableStream, WritableStream } = web();
    const made: unknown[] = [];
    for (const make of [
      () => new Response!(''),
      () => new Response!('x').body,
      () => new Request!('http://127.0.0.1/'),
      () => new Headers!(),
      () => new ReadableStream!(),
      () => new WritableStream!(),
    ]) {
      try {
        made.push(make());
      } catch (error) {
        // Out of stack: not done, and sampled again (samples.ts `sample`).
        if (isStackOverflow(error)) throw error;
        // Not in this Node.
      }
    }
    return made;
  },
  // The web streams' readers, writers, controllers and iterators, from the classes the
  // platform's globals hold, when the module that makes them has loaded (boundary.ts,
  // lazy-globals.ts): `Readable.toWeb()` makes them with no global read. The branches of
  // a tee: on Node 20, a byte stream's are InternalReadableByteStreams (a cloned fetch
  // response's body is one).
  [READABLE]: () => {
    const ReadableStream = web().ReadableStream as unknown as new (source?: object) => { getReader(options?: object): unknown; tee(): unknown[] };
    const controllers: unknown[] = [];
    const keep = (controller: unknown): void => void controllers.push(controller);
    sampleReadRequests(ReadableStream as never);
    return [
      new ReadableStream({ start: keep }).getReader(),
      new ReadableStream(),
      new ReadableStream({ type: 'bytes', start: keep }).getReader({ mode: 'byob' }),
      ...new ReadableStream().tee(),
      ...new ReadableStream({ type: 'bytes' }).tee(),
      ...controllers,
    ];
  },
  [WRITABLE]: () => {
    const WritableStream = web().WritableStream as unknown as new (sink?: object) => { getWriter(): unknown };
    const controllers: unknown[] = [];
    // The stream itself too: its state (Node 24's WritableStreamState, with its transfer
    // state) is an object of a class of its own, one level down.
    return [new WritableStream({ start: (controller: unknown) => void controllers.push(controller) }).getWriter(), new WritableStream(), ...controllers];
  },
  // WebCrypto's keys are of a class no module exports (InternalCryptoKey): made
  // synchronously where Node can (22.10+), when WebCrypto loads; on Node 20 at start-up
  // (prepareSamples), with an `await`.
  [WEBCRYPTO]: () => {
    const { createSecretKey } = hostRequire('node:crypto') as typeof import('node:crypto');
    const key = createSecretKey(Buffer.alloc(16)) as unknown as { toCryptoKey?: (algorithm: object, extractable: boolean, usages: string[]) => unknown };
    return typeof key.toCryptoKey === 'function' ? [key.toCryptoKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])] : [];
  },
  [TRANSFORM]: () => {
    const controllers: unknown[] = [];
    const { TransformStream } = web();
    return [new TransformStream!({ start: (controller: unknown) => void controllers.push(controller) }), ...controllers];
  },
  // A File's state is an object of a class of its own on Node 24 (FileState).
  'internal/file': () => {
    const { File } = web();
    return [new File!([], 'lavamoat-sample')];
  },
  // A sliced Blob (and one read from a file, or received from a port) is a
  // TransferableBlob on Node 22, whose prototype sits over Blob's.
  buffer: () => {
    const { Blob } = hostRequire('node:buffer') as typeof import('node:buffer');
    return [new Blob([]), new Blob([]).slice()];
  },
  [UNDICI]: sampleWebSocket,
};

interface SampleStream {
  getReader(options?: object): { read(view?: Uint8Array): Promise<unknown> };
  values(): { next(): Promise<unknown> };
  pipeTo(destination: unknown): Promise<unknown>;
}

/**
 * The requests a pending read leaves in its reader's state, each of a class no module
 * exports, whose `kChunk` method receives every chunk read that way, in the whole
 * process: a reader's (`DefaultReadRequest`: the app's `res.body.getReader().read()`),
 * a BYOB reader's (`ReadIntoRequest`), an async iterator's (every `for await` over a
 * web stream) and pipeTo's. A package reached them from its own stream's reader
 * (`reader[kState].readRequests`) and replaced `kChunk`: it read the app's fetch bodies
 * (docs/attacks.md, case 126). The first two are left synchronously by `read()`; the
 * others a few microtasks later, when the stream's `pull` is called for them (its
 * high-water mark 0: pulled only for a read), which hardens them there, before any
 * later stream's read of the same kind.
 */
function sampleReadRequests(ReadableStream: new (source?: object, strategy?: object) => SampleStream): void {
  const hardenReads = (stream: unknown): void => {
    const state = internal(stream, 'kState') as { reader?: unknown } | undefined;
    hardenPrototypesWithin(internal(state?.reader, 'kState'), 3);
  };
  const ignore = (): void => {};
  const plain = new ReadableStream(undefined, { highWaterMark: 0 });
  plain.getReader().read().catch(ignore);
  hardenReads(plain);
  const bytes = new ReadableStream({ type: 'bytes' });
  bytes.getReader({ mode: 'byob' }).read(new Uint8Array(1)).catch(ignore);
  hardenReads(bytes);
  const { WritableStream } = web();
  for (const read of [(s: SampleStream) => void s.values().next().catch(ignore), (s: SampleStream) => void s.pipeTo(new WritableStream!()).catch(ignore)]) {
    const stream: SampleStream = new ReadableStream({ pull: () => hardenReads(stream) }, { highWaterMark: 0 });
    read(stream);
  }
}

interface SampleWebSocket {
  addEventListener(type: string, listener: (event: unknown) => void): void;
  removeEventListener(type: string, listener: (event: unknown) => void): void;
  close(): void;
}

/**
 * A WebSocket's events and internals: an ErrorEvent (Node 22/24: undici's, no global names
 * it) from a socket closed before it connected, which fires it at once; on Node 22, where
 * the socket keeps undici's objects under symbols, its fetch controller and the global
 * dispatcher's classes (Agent, its pools and clients), and the byte parser of an open
 * socket (below). The sample's socket never reaches the network: its dispatcher is its own
 * and is never asked (the socket closes first). On Node 24 closing it publishes a close
 * on `undici:websocket:close` to whoever subscribed.
 */
function sampleWebSocket(): unknown[] {
  const WebSocket = web().WebSocket as unknown as (new (url: string, options: object) => SampleWebSocket) | undefined;
  if (typeof WebSocket !== 'function') return [];
  // Its constructor, before the sample hardens its prototype (undici may load before the
  // global is read: an EventSource read at start-up, a fetch).
  disarmGlobalClass('WebSocket', WebSocket);
  const made: unknown[] = [];
  const keep = (event: unknown): void => void made.push(event);
  const ws = new WebSocket('ws://localhost/', { dispatcher: { dispatch: () => false } });
  ws.addEventListener('error', keep);
  made.push(ws);
  ws.close();
  ws.removeEventListener('error', keep);
  if (internal(ws, 'controller') === undefined) return made;
  // Behind its guard (undici-dispatcher.ts), which holds no class of undici's.
  const agent = globalAgent();
  made.push(agent);
  try {
    type Factory = (origin: string, options: unknown) => { stats?: unknown; destroy(): Promise<void> };
    const pool = (internal(agent, 'factory') as Factory)('http://localhost', internal(agent, 'options'));
    const client = (internal(pool, 'factory') as Factory)('http://localhost', internal(pool, 'options'));
    made.push(pool, pool.stats, client);
    for (const idle of [pool, client]) idle.destroy().catch(() => {});
  } catch (error) {
    if (isStackOverflow(error)) throw error;
    // Another undici: its classes stay as they are.
  }
  sampleByteParser(WebSocket);
  return made;
}

/**
 * On Node 22, an open WebSocket's byte parser (ByteParser) is one more of undici's
 * classes a package handed the socket reaches. Only an upgrade makes one: the sample
 * socket upgrades through a dispatcher of its own, in memory. It opens within the
 * microtasks of the job that loaded undici, before any real socket can (that takes I/O).
 */
function sampleByteParser(WebSocket: new (url: string, options: object) => SampleWebSocket): void {
  const { Duplex } = hostRequire('node:stream') as typeof import('node:stream');
  const { createHash } = hostRequire('node:crypto') as typeof import('node:crypto');
  const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  const dispatcher = {
    dispatch(options: { headers?: unknown }, handler: { onConnect?: (abort: () => void) => void; onUpgrade?: (status: number, headers: Buffer[], socket: unknown) => void }): boolean {
      const headers = options.headers;
      let key: unknown;
      if (Array.isArray(headers)) {
        for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'sec-websocket-key') key = headers[i + 1];
      } else if (typeof headers === 'object' && headers !== null) key = (headers as Record<string, unknown>)['sec-websocket-key'];
      const accept = createHash('sha1').update(`${String(key)}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      handler.onConnect?.(() => {});
      handler.onUpgrade?.(101, ['upgrade', 'websocket', 'connection', 'upgrade', 'sec-websocket-accept', accept].map((h) => Buffer.from(h)), socket);
      return true;
    },
  };
  const ws = new WebSocket('ws://localhost/', { dispatcher });
  const done = (): void => {
    ws.removeEventListener('message', received);
    ws.close();
    socket.destroy();
  };
  // Node 20's undici makes its messages of a MessageEvent class of its own, which no
  // global names (Node 20's is the worker's): a package's own message led to the
  // prototype of every message of the app's WebSockets (`data`: case 222). One empty
  // text frame, handed to undici's listener of the socket's data, which parses it and
  // dispatches the message synchronously.
  const received = (event: unknown): void => hardenPrototypesWithin(event, 0);
  const opened = (): void => {
    try {
      hardenPrototypesWithin(internal(ws, 'byte parser'), 1);
      ws.addEventListener('message', received);
      socket.emit('data', Buffer.from([0x81, 0x00]));
    } finally {
      done();
    }
  };
  const failed = (): void => void socket.destroy();
  ws.addEventListener('open', opened);
  ws.addEventListener('error', failed);
}

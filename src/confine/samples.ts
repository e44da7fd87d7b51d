/**
 * Sample instances of Node's classes that no module exports: the native objects a
 * `BlockList` or a `Dir` holds, what `fs.watch` returns, a hash's handle, an HTTP/2
 * session and its streams, the readers and controllers of web streams, the halves of a
 * `duplexPair`. Their prototypes are shared by the app's objects of the same kind, and a
 * package that holds one reaches them, so they are hardened from a sample made when the
 * module is first hardened (boundary.ts), or at start-up where a sample needs an `await`.
 * Module-wide restrictions that must come before any hardening (the refused OpenSSL
 * engines, the locked storages and observers, `inspect`'s pinned comparator) run here too.
 */
import { builtinModules, createRequire } from 'node:module';
import { hardenPrototypeChain, hardenPrototypesWithin } from './host-hardening.js';
import { hasLoaded } from './load-trap.js';
import { lazyGlobalModule } from './lazy-globals.js';
import { refuseEngineMethods } from './native-handles.js';
import { restrictAsyncLocalStorage, restrictPerformanceObserver } from './observation.js';

const hostRequire = createRequire(import.meta.url);

const READABLE = 'internal/webstreams/readablestream';
const WRITABLE = 'internal/webstreams/writablestream';
const TRANSFORM = 'internal/webstreams/transformstream';
const WEBCRYPTO = 'internal/crypto/webcrypto';

// Set by prepareSamples, before any package runs (not an alias of `globalThis`, which
// scuttling strips).
let webGlobals: Record<PropertyKey, unknown> = {};

/** The object that holds the host's globals (the real `globalThis` is stripped when scuttled). */
export const hostGlobals = (): Record<PropertyKey, unknown> => webGlobals;

/**
 * Node classes whose instances hold native objects of classes no module exports (a
 * `BlockList`'s handle, a `Dir`'s directory handle): one sample each, when the module
 * is loaded, so that those prototypes are hardened too.
 */
const MODULE_SAMPLES: Readonly<Record<string, () => unknown[]>> = {
  net: () => {
    const net = hostRequire('node:net') as typeof import('node:net');
    return [new net.BlockList(), new (net.SocketAddress as unknown as new () => object)()];
  },
  v8: () => {
    const v8 = hostRequire('node:v8') as typeof import('node:v8');
    return [new v8.Serializer(), new v8.Deserializer(Buffer.alloc(0))];
  },
  // When the module that makes them loads (boundary.ts): what fs.opendir, fs.watch and
  // fs.watchFile return, classes fs does not export.
  'internal/fs/dir': () => {
    const dir = (hostRequire('node:fs') as typeof import('node:fs')).opendirSync('/');
    dir.closeSync();
    return [dir];
  },
  'internal/fs/watchers': () => {
    const fs = hostRequire('node:fs') as typeof import('node:fs');
    const watcher = fs.watch('/');
    watcher.close();
    const listener = (): void => {};
    const statWatcher = fs.watchFile('/', { persistent: false }, listener);
    fs.unwatchFile('/', listener);
    return [watcher, statWatcher];
  },
  perf_hooks: () => {
    const perf = hostRequire('node:perf_hooks') as typeof import('node:perf_hooks');
    restrictPerformanceObserver(perf.PerformanceObserver as never);
    const delay = perf.monitorEventLoopDelay();
    return [perf.createHistogram(), delay];
  },
  buffer: () => [new (hostRequire('node:buffer') as typeof import('node:buffer')).Blob([])],
  // What fetch hands out holds undici's own classes (its header list, body state).
  fetch: () => {
    const web = webGlobals as Record<string, new (...args: unknown[]) => object>;
    const made: unknown[] = [];
    for (const make of [
      () => new web.Response!(''),
      () => (new web.Response!('x') as { body?: unknown }).body,
      () => new web.Request!('http://127.0.0.1/'),
      () => new web.Headers!(),
      () => new web.ReadableStream!(),
      () => new web.WritableStream!(),
    ]) {
      try {
        made.push(make());
      } catch {
        // Not in this Node.
      }
    }
    return made;
  },
  // What stream's helpers return (duplexPair's halves, Duplex.from's Duplexify) and the
  // web streams' readers, writers and controllers (`Readable.toWeb()` needs no global).
  stream: () => {
    const stream = hostRequire('node:stream') as typeof import('node:stream') & { duplexPair?: () => unknown[] };
    const made: unknown[] = [...(stream.duplexPair?.() ?? []), new stream.Readable({ read() {} })];
    made.push(stream.Duplex.from(async function* (source: AsyncIterable<unknown>) {
      for await (const chunk of source) yield chunk;
    }));
    return made;
  },
  // The web streams' readers, writers, controllers and iterators, from the classes the
  // platform's globals hold, when the module that makes them has loaded (boundary.ts,
  // lazy-globals.ts): `Readable.toWeb()` makes them with no global read.
  [READABLE]: () => {
    const web = webGlobals as Record<string, new (...args: unknown[]) => { getReader(options?: object): unknown }>;
    const controllers: unknown[] = [];
    const keep = (controller: unknown): void => void controllers.push(controller);
    return [
      new web.ReadableStream!({ start: keep }).getReader(),
      new web.ReadableStream!(),
      new web.ReadableStream!({ type: 'bytes', start: keep }).getReader({ mode: 'byob' }),
      ...controllers,
    ];
  },
  [WRITABLE]: () => {
    const web = webGlobals as Record<string, new (...args: unknown[]) => { getWriter(): unknown }>;
    const controllers: unknown[] = [];
    return [new web.WritableStream!({ start: (controller: unknown) => void controllers.push(controller) }).getWriter(), ...controllers];
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
    const web = webGlobals as Record<string, new (...args: unknown[]) => object>;
    const controllers: unknown[] = [];
    return [new web.TransformStream!({ start: (controller: unknown) => void controllers.push(controller) }), ...controllers];
  },
  timers: () => {
    // Their lists (TimersList, ImmediateList) too: walked while the timers are in them.
    const timeout = setTimeout(() => {}, 0);
    const immediate = setImmediate(() => {});
    try {
      for (const timer of [timeout, immediate]) hardenPrototypesWithin(timer, 2);
    } finally {
      clearTimeout(timeout);
      clearImmediate(immediate);
    }
    return [];
  },
  diagnostics_channel: () => {
    // A channel's prototype changes while it has subscribers (Node's ActiveChannel).
    const dc = hostRequire('node:diagnostics_channel') as typeof import('node:diagnostics_channel');
    const channel = dc.channel(Symbol('lavamoat sample'));
    const noop = (): void => {};
    channel.subscribe(noop);
    hardenPrototypeChain(channel);
    channel.unsubscribe(noop);
    return [channel];
  },
  tls: () => {
    refuseOpenSslEngines();
    return [];
  },
  // Native classes of crypto and the HTTP parser, which Node 24's process.binding no
  // longer lists: from instances (their handles), so that no method of the app's hashes,
  // ciphers or request parsers can be replaced.
  crypto: () => {
    const crypto = hostRequire('node:crypto') as typeof import('node:crypto');
    const key = Buffer.alloc(16);
    return [
      crypto.createHash('sha256'),
      crypto.createHmac('sha256', key),
      crypto.createCipheriv('aes-128-cbc', key, key),
      crypto.createDecipheriv('aes-128-cbc', key, key),
      crypto.createSign('sha256'),
      crypto.createVerify('sha256'),
      crypto.createECDH('prime256v1'),
      crypto.getDiffieHellman('modp14'),
      crypto.createSecretKey(key),
      // Asymmetric keys are of classes crypto does not export (PublicKeyObject, ...).
      ...Object.values(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
    ];
  },
  http: () => {
    const common = hostRequire('_http_common') as { HTTPParser?: new () => object };
    return common.HTTPParser ? [new common.HTTPParser()] : [];
  },
  async_hooks: () => {
    const asyncHooks = hostRequire('node:async_hooks') as typeof import('node:async_hooks');
    restrictAsyncLocalStorage(asyncHooks.AsyncLocalStorage as never);
    return [asyncHooks.createHook({})];
  },
  util: () => {
    // The one inspect option that takes a function (a comparator): set by a package,
    // every app `console.log` would hand it the formatted entries. Pinned for everyone.
    const { inspect } = hostRequire('node:util') as typeof import('node:util');
    Object.defineProperty(inspect.defaultOptions, 'sorted', { value: false, writable: false, configurable: false });
    return [];
  },
};

/**
 * OpenSSL engines are shared libraries OpenSSL loads into the process: native code, with
 * no `native` grant in sight (`tls.createSecureContext({ privateKeyEngine })`,
 * `https.request({ clientCertEngine })`). The two native methods every such path ends in
 * refuse, for everyone: which package asked cannot be told reliably at that point, and
 * OpenSSL 3 deprecates engines. `crypto.setEngine` is refused in packages' copies of
 * `crypto` unless their policy grants `native` (builtin-adapters.ts).
 */
function refuseOpenSslEngines(): void {
  // The bare context (no root certificates loaded: `createSecureContext()` reads them,
  // 2–20 ms) where Node still exports its class.
  const common = builtinModules.includes('_tls_common') ? (hostRequire('_tls_common') as { SecureContext?: new () => { context: object } }) : {};
  const secure = typeof common.SecureContext === 'function'
    ? new common.SecureContext()
    : ((hostRequire('node:tls') as typeof import('node:tls')).createSecureContext() as unknown as { context: object });
  refuseEngineMethods(Object.getPrototypeOf(secure.context) as object);
}

const sampled = new Set<string>();

export function sample(name: string): void {
  const make = MODULE_SAMPLES[name];
  if (!make || sampled.has(name)) return;
  sampled.add(name);
  try {
    for (const instance of make()) {
      hardenPrototypesWithin(instance, 2);
      sampleIterators(instance);
    }
  } catch {
    // Not in this Node.
  }
}

const ITERATOR_METHODS: readonly PropertyKey[] = [Symbol.iterator, Symbol.asyncIterator, 'values', 'entries', 'keys'];

/**
 * The iterators an instance hands out are of classes nothing exports either (a
 * `Readable`'s async iterator, the one every `for await` over a request body uses; the
 * iterators of `URLSearchParams`, `Headers`, `FormData`, a `Dir`, a web stream): made
 * from the sample, not run, and hardened.
 */
export function sampleIterators(instance: unknown): void {
  if (typeof instance !== 'object' || instance === null) return;
  for (const key of ITERATOR_METHODS) {
    try {
      const method = (instance as Record<PropertyKey, unknown>)[key];
      if (typeof method === 'function') hardenPrototypesWithin(Reflect.apply(method, instance, []), 1);
    } catch {
      // Not for this instance.
    }
  }
}

/**
 * What needs the holder of the host's globals (fetch's classes, read after scuttling),
 * or an `await`, before any package runs: a file handle's classes (fs/promises' `open`);
 * where the policy grants `http2` to a package, a session's and its streams' (made by
 * an in-memory request: a server stream exists only once a request arrived); where it
 * grants `crypto`, a WebCrypto key's.
 */
export async function prepareSamples(
  globals: Record<PropertyKey, unknown>,
  { http2, webcrypto }: { http2: boolean; webcrypto: boolean },
): Promise<void> {
  webGlobals = globals;
  // Loaded before the loader (a file handle may exist already): sampled now, as
  // sampleFileHandles' first open would be too late.
  if (hasLoaded('internal/fs/promises')) {
    const fs = hostRequire('node:fs') as typeof import('node:fs');
    const handle = await fs.promises.open(new URL(import.meta.url), 'r');
    try {
      hardenPrototypesWithin(handle);
    } finally {
      await handle.close();
    }
  }
  if (http2) await sampleHttp2();
  // WebCrypto's keys are of a class no module exports (InternalCryptoKey), and only an
  // `await` makes one: where the policy grants crypto, a key of the app's would otherwise
  // read its `algorithm` through a getter a package put on that prototype.
  // Where Node makes one synchronously (toCryptoKey, 22.10+), the sample is made when
  // WebCrypto loads instead (the WEBCRYPTO sample above, lazy-globals.ts).
  if ((webcrypto || hasLoaded(WEBCRYPTO)) && !webCryptoSampledOnLoad()) {
    const { subtle } = (hostRequire('node:crypto') as typeof import('node:crypto')).webcrypto;
    const key = await subtle.importKey('raw', new Uint8Array(16), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    hardenPrototypesWithin(key, 2);
  }
}

/**
 * A file handle's classes (FileHandle, its native handle) are exported by nothing, and
 * only an `await` makes one: fs/promises' `open`, the one way a handle reaches anyone,
 * hardens them from the first handle it opens, before its caller has it. Run when
 * fs/promises loads (boundary.ts), before anyone has its `open`.
 */
export function sampleFileHandles(promises: Record<string, unknown>): void {
  const open = promises.open as (...args: unknown[]) => Promise<unknown>;
  let sampled = false;
  const confined = {
    async open(...args: unknown[]): Promise<unknown> {
      const handle = await Reflect.apply(open, promises, args);
      if (!sampled) {
        hardenPrototypesWithin(handle);
        sampled = true;
      }
      return handle;
    },
  }.open;
  Object.defineProperty(confined, 'length', { value: open.length });
  promises.open = confined;
}

function webCryptoSampledOnLoad(): boolean {
  const { KeyObject } = hostRequire('node:crypto') as { KeyObject: { prototype: object } };
  return typeof (KeyObject.prototype as { toCryptoKey?: unknown }).toCryptoKey === 'function' && lazyGlobalModule('CryptoKey') === WEBCRYPTO;
}

async function sampleHttp2(): Promise<void> {
  const http2 = hostRequire('node:http2') as typeof import('node:http2');
  const { duplexPair } = hostRequire('node:stream') as { duplexPair?: () => [import('node:stream').Duplex, import('node:stream').Duplex] };
  if (typeof duplexPair !== 'function') return;
  const [client, serverSide] = duplexPair();
  const server = http2.createServer();
  const made: unknown[] = [server];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no HTTP/2 stream')), 2000);
      server.on('stream', (stream) => {
        made.push(stream, stream.session);
        stream.respond();
        stream.end();
      });
      server.emit('connection', serverSide);
      const session = http2.connect('http://localhost', { createConnection: () => client as never });
      const request = session.request({ ':path': '/' });
      made.push(session, request);
      request.on('response', () => {
        clearTimeout(timer);
        resolve();
      });
      request.on('error', reject);
      request.end();
    });
  } catch {
    // Not in this Node: what was made is sampled all the same.
  }
  for (const instance of made) hardenPrototypesWithin(instance, 2);
  for (const instance of made) (instance as { destroy?: () => void; close?: () => void }).destroy?.();
  server.close();
}

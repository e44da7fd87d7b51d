/**
 * Sample instances of Node's classes that no module exports: the native objects a
 * `BlockList` or a `Dir` holds, what `fs.watch` returns, a hash's handle, bigint stats, a
 * performance entry, a tracing channel, a SQLite statement's iterator, the halves of a
 * `duplexPair`; the web platform's (web-samples.ts), the file classes (fs-samples.ts) and the network modules'
 * (net-samples.ts). Their prototypes are shared by the app's objects of the same kind, and
 * a package that holds one reaches them, so they are hardened from a sample made when the
 * module that makes them has loaded (boundary.ts: a builtin when it is first hardened, an
 * internal module of the web platform's when lazy-globals.ts says it has loaded), or at
 * start-up where a sample needs an `await`. A sample is made only once its module has
 * loaded, and loads nothing an app that does not use it would not load.
 * Module-wide restrictions that must come before any hardening (the refused OpenSSL
 * engines, the locked storages and observers) run here too.
 *
 * Why one file of about 580 lines: `MODULE_SAMPLES` is one table, keyed by the module
 * whose load makes each sample, and `sample()` must see all of it (a module sampled once,
 * retried after a stack overflow); the samples of whole families already live apart
 * (web-samples.ts, fs-samples.ts, net-samples.ts).
 */
import process from 'node:process';
import { createRequire } from 'node:module';
import { hardenForgeableClasses } from './forged-clones.js';
import { hardenFirstResult, hardenHostValue, hardenPrototypeChain, hardenPrototypesWithin } from './host-hardening.js';
import { lockInstance } from './instance-locks.js';
import { namespaceLockManager } from './lock-managers.js';
import { isStackOverflow } from './stack-overflow.js';
import { hasLoaded, whenLoaded } from './load-trap.js';
import { hardenFileHandle, hardenStdioWhenRead, HISTORY } from './fs-samples.js';
import { keepAccessorsUntilJobEnds, lazyGlobalModule } from './lazy-globals.js';
import { NET_SAMPLES } from './net-samples.js';
import { restrictAsyncLocalStorage } from './observation.js';
import { restrictPerformanceObserver } from './performance-observation.js';
import { guardMockTracker } from './test-runner.js';
import { WEB_SAMPLES, WEBCRYPTO, hostGlobals, setHostGlobals } from './web-samples.js';

export { hostGlobals };

const hostRequire = createRequire(import.meta.url);

/**
 * Node classes whose instances hold native objects of classes no module exports (a
 * `BlockList`'s handle, a `Dir`'s directory handle): one sample each, when the module
 * is loaded, so that those prototypes are hardened too.
 */
const MODULE_SAMPLES: Readonly<Record<string, () => unknown[]>> = {
  net: () => {
    const net = hostRequire('node:net') as typeof import('node:net');
    substituteSharedWrites(net.Socket.prototype as unknown as Record<string, unknown>);
    return [new net.BlockList(), new (net.SocketAddress as unknown as new () => object)()];
  },
  // The canned answers `_http_server` writes to a connection whose request it cannot parse
  // (400, 408, 431, and Node 20.19+'s 413 for chunk extensions): one buffer each for the
  // process, which a connection of a package's own receives (a duplex emitted as
  // `'connection'` on its own server) and can write over. Caught here from a server of the
  // sample's own (each error as Node's parser reports it, on a duplex that records what is
  // written, synchronously); every socket then writes a copy of their bytes as they were
  // made (case 136).
  _http_server: () => {
    const { Server } = hostRequire('node:_http_server') as { Server: new () => { emit(event: string, ...args: unknown[]): boolean } };
    const { Duplex } = hostRequire('node:stream') as typeof import('node:stream');
    const server = new Server();
    for (const code of ['HPE_HEADER_OVERFLOW', 'HPE_CHUNK_EXTENSIONS_OVERFLOW', 'ERR_HTTP_REQUEST_TIMEOUT', 'HPE_INVALID_METHOD']) {
      const written: unknown[] = [];
      const connection = new Duplex({
        read() {},
        write(chunk: unknown, _encoding: unknown, done: () => void) {
          written.push(chunk);
          done();
        },
      });
      connection.on('error', () => {});
      server.emit('connection', connection);
      connection.emit('error', Object.assign(new Error('lavamoat sample'), { code }));
      for (const chunk of written) if (Buffer.isBuffer(chunk)) SHARED_WRITES.set(chunk, Buffer.from(chunk));
      connection.destroy();
    }
    return [];
  },
  v8: () => {
    const v8 = hostRequire('node:v8') as typeof import('node:v8');
    // A heap snapshot's stream (HeapSnapshotStream), too costly to sample.
    hardenFirstResult(v8, 'getHeapSnapshot', 1);
    return [new v8.Serializer(), new v8.Deserializer(Buffer.alloc(0))];
  },
  // node:test's process-wide mocks (the app's timers, its modules) for the app's code
  // only (test-runner.ts, case 320); the module's tracker, whose prototype every test
  // context's `t.mock` shares.
  test: () => {
    const test = hostRequire('node:test') as { mock?: unknown };
    guardMockTracker(test);
    return [test.mock];
  },
  // A worker's heap snapshot (the same class), on Node's Worker prototype.
  worker_threads: () => {
    const { Worker } = hostRequire('node:worker_threads') as { Worker?: { prototype?: object } };
    if (Worker?.prototype) hardenFirstResult(Worker.prototype, 'getHeapSnapshot', 1);
    return [];
  },
  // Stats of `{ bigint: true }` and of a file system are of classes fs does not export.
  fs: () => {
    const fs = hostRequire('node:fs') as typeof import('node:fs');
    return [fs.statSync('/', { bigint: true }), fs.statfsSync?.('/')];
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
    // `performance.nodeTiming`, one object for the process that a prototype getter
    // returns (so no export): locked as the exported instances are (boundary.ts).
    const { nodeTiming } = perf.performance;
    lockInstance(nodeTiming);
    return [perf.createHistogram(), delay, nodeTiming, ...nodeEntries(perf)];
  },
  // What stream's helpers return (duplexPair's halves, Duplex.from's Duplexify) and the
  // web streams' readers, writers and controllers (`Readable.toWeb()` needs no global).
  stream: () => {
    const stream = hostRequire('node:stream') as typeof import('node:stream') & { duplexPair?: () => unknown[] };
    return [...(stream.duplexPair?.() ?? []), new stream.Readable({ read() {} }), abortError(stream)];
  },
  // An event target's listeners are kept as nodes of a class no module exports
  // (Listener), whose getters (`once`, `weak`, `passive`) Node reads on every listener at
  // every dispatch in the process: replaced, they received the app's listener nodes (its
  // functions) and could answer `weak` to have Node call what `callback.deref()` returns
  // (docs/attacks.md, case 127). A node of the sample's own, from its target's map.
  events: () => {
    const EventTarget = (hostGlobals().EventTarget ?? globalThis.EventTarget) as (new () => { addEventListener(type: string, listener: () => void): void }) | undefined;
    if (typeof EventTarget !== 'function') return [];
    const target = new EventTarget();
    target.addEventListener('lavamoat-sample', () => {});
    const symbol = Object.getOwnPropertySymbols(target).find((key) => key.description === 'kEvents');
    const events = symbol === undefined ? undefined : (target as unknown as Record<symbol, unknown>)[symbol];
    // A SafeMap (its prototype is not Map's).
    const get = (events as { get?: unknown } | undefined)?.get;
    const root = typeof get === 'function' ? (Reflect.apply(get, events, ['lavamoat-sample']) as { next?: unknown } | undefined) : undefined;
    if (root?.next !== undefined) hardenPrototypeChain(root.next);
    // The class `events.EventEmitterAsyncResource` makes when first read, and the
    // resource each of its emitters holds (`asyncResource`), of a class events does not
    // export: their prototypes, whose `emit` every such emitter of the app's calls
    // (docs/attacks.md, case 131).
    const { EventEmitterAsyncResource } = hostRequire('node:events') as typeof import('node:events');
    const emitter = new EventEmitterAsyncResource({ name: 'lavamoat sample' });
    const resource = emitter.asyncResource;
    emitter.emitDestroy();
    return [target, emitter, resource];
  },
  // Node's SystemError (a class of internal/errors no module exports, parent V8's Error),
  // and the class of its ERR_SYSTEM_ERROR: what os throws.
  os: () => [thrown(() => (hostRequire('node:os') as typeof import('node:os')).setPriority(NO_SUCH_PID, 0))],
  // Duplex.from loads it the first time (within that call, before it returns).
  'internal/streams/duplexify': () => {
    const stream = hostRequire('node:stream') as typeof import('node:stream');
    return [
      stream.Duplex.from(async function* (source: AsyncIterable<unknown>) {
        for await (const chunk of source) yield chunk;
      }),
    ];
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
    // A tracing channel's class is exported by nothing; Node's own (module loading on
    // Node 22+) share its prototype. Made of channels no name reaches.
    const channels = Object.fromEntries(['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map((name) => [name, dc.channel(Symbol(name))]));
    return [channel, dc.tracingChannel?.(channels as never)];
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
      // Node 24: a DiffieHellman of a prime of the caller's is of a native class of its
      // own (DiffieHellmanGroup's is not its), whose `computeSecret` every such exchange
      // of the app's calls (docs/attacks.md, case 133). A tiny prime: nothing is checked
      // or generated.
      crypto.createDiffieHellman(Buffer.from([23]), 2),
      crypto.createSecretKey(key),
      // Asymmetric keys are of classes crypto does not export (PublicKeyObject, ...).
      ...Object.values(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
    ];
  },
  async_hooks: () => {
    const asyncHooks = hostRequire('node:async_hooks') as typeof import('node:async_hooks');
    // Node 20's is data; Node 22+'s an accessor that loads one of two modules: restricted
    // when that loads (below), before anyone has the class.
    const descriptor = Reflect.getOwnPropertyDescriptor(asyncHooks, 'AsyncLocalStorage');
    if (descriptor && 'value' in descriptor) {
      // The app's own storages too (it may hand one to a package): made through the
      // restricted class, they are locked as they are made.
      const restricted = restrictAsyncLocalStorage(descriptor.value as never);
      if (descriptor.configurable) Object.defineProperty(asyncHooks, 'AsyncLocalStorage', { ...descriptor, value: restricted });
    }
    return [asyncHooks.createHook({})];
  },
  'internal/async_local_storage/async_context_frame': () => restrictedStorage(),
  'internal/async_local_storage/async_hooks': () => restrictedStorage(),
  // module's statics are the loader's live state (boundary.ts leaves them): its one class
  // of objects handed out, SourceMap (`findSourceMap`), is hardened alone.
  // On Node 22+ `SourceMap` is a lazy data property (reading it loads this module): read
  // perhaps inside its own getter, so left an accessor until the job ends.
  'internal/source_map/source_map': () => {
    const holder = hostRequire('node:module') as object;
    hardenHostValue(Reflect.get(holder, 'SourceMap'));
    keepAccessorsUntilJobEnds(holder, ['SourceMap']);
    return [];
  },
  // The zero-length buffers zlib writes to carry a flush (`flush(kind)`): one per kind for
  // the process, holding the kind under a symbol that every stream's `_transform` reads.
  // A stream's own `_transform` receives them: a package that changed the kind made the
  // app's `flush()` finish its stream (case 135). Caught from a stream of the sample's
  // own (a transform that only records them: written synchronously, nothing compressed)
  // and frozen.
  zlib: () => {
    const zlib = hostRequire('node:zlib') as typeof import('node:zlib');
    const stream = zlib.createDeflateRaw() as unknown as { _transform: Function; flush(kind: number): void; destroy(): void };
    const carried: unknown[] = [];
    stream._transform = (chunk: unknown, _encoding: unknown, done: () => void): void => {
      carried.push(chunk);
      done();
    };
    for (let kind = 0; kind <= 6; kind++) {
      try {
        stream.flush(kind);
      } catch (error) {
        if (isStackOverflow(error)) throw error;
        // No buffer for this kind.
      }
    }
    stream.destroy();
    for (const chunk of carried) if (typeof chunk === 'object' && chunk !== null && Object.getOwnPropertySymbols(chunk).length > 0) Object.freeze(chunk);
    return [];
  },
  // The CRLF `_http_outgoing` writes after every chunk of a chunked message: one buffer
  // for the process, handed to whatever `_send` the message has (a package's own message
  // can have its own, and write over the bytes). Node's own `_send` now sends a fresh copy
  // in its place, so no message of the app's carries what a package did to it (case 136).
  // Caught from a message of the sample's own whose `_send` only records.
  _http_outgoing: () => {
    const { OutgoingMessage } = hostRequire('node:_http_outgoing') as { OutgoingMessage: new () => Record<string, unknown> };
    const proto = OutgoingMessage.prototype as Record<string, unknown>;
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, '_send');
    const send: unknown = descriptor?.value;
    if (typeof send !== 'function' || !descriptor!.writable || !descriptor!.configurable) return [];
    const message = new OutgoingMessage();
    const sent: unknown[] = [];
    message._header = 'lavamoat sample';
    message.chunkedEncoding = true;
    message._send = (data: unknown): boolean => {
      sent.push(data);
      return true;
    };
    (message.write as (chunk: string) => boolean)('x');
    const crlf = sent.find((data) => Buffer.isBuffer(data) && data.length === 2);
    if (crlf === undefined) return [];
    const wrapper = {
      _send(this: unknown, data: unknown, ...rest: unknown[]): unknown {
        return Reflect.apply(send, this, [data === crlf ? Buffer.from('\r\n', 'latin1') : data, ...rest]);
      },
    }._send;
    Object.defineProperty(wrapper, 'length', { value: send.length });
    Object.defineProperty(proto, '_send', { ...descriptor, value: wrapper });
    return [];
  },
  // Node 24's lock manager, one for the process: `worker_threads.locks` is locked as an
  // export (boundary.ts), but `navigator.locks` loads it without worker_threads being
  // hardened (a getter of Navigator's prototype): locked as it loads (case 130).
  'internal/locks': () => {
    const navigator = hostGlobals().navigator as { locks?: unknown } | undefined;
    const locks = navigator?.locks;
    if (typeof locks !== 'object' || locks === null) return [];
    // Before its prototype is frozen (below, with the sample).
    hardenFirstLock(locks);
    lockInstance(locks);
    return [locks];
  },
  // A readline interface's history manager (Node 24: ReplHistory), when the public
  // readline modules load (readline and repl load this one first); and the keypress
  // decoder a terminal interface puts on its input (below).
  'readline/promises': () => {
    const { Interface } = hostRequire('node:readline/promises') as { Interface: new (options: object) => { close(): void } };
    const { PassThrough } = hostRequire('node:stream') as typeof import('node:stream');
    const input = new PassThrough();
    const terminal = new Interface({ input, output: new PassThrough(), terminal: true });
    terminal.close();
    if (!hasLoaded(HISTORY)) return [input];
    const lines = new Interface({ input: new PassThrough(), terminal: false });
    lines.close();
    return [lines, input];
  },
  // The keypress decoder `emitKeypressEvents` puts on a stream (every terminal
  // interface's input, the app's `process.stdin`): a generator whose prototype is shared
  // by every decoder of the process. With an own `next` there, a package that made a
  // decoder for a stream of its own received every key the app's user types
  // (docs/attacks.md, case 132).
  readline: () => {
    const { emitKeypressEvents } = hostRequire('node:readline') as typeof import('node:readline');
    const { PassThrough } = hostRequire('node:stream') as typeof import('node:stream');
    const input = new PassThrough();
    emitKeypressEvents(input);
    return [input];
  },
  // A TextDecoder of an encoding ICU decodes (UTF-16) holds a converter of a native class
  // no binding lists (`Converter`): with the decoders, which every start hardens
  // (TextDecoder itself is made at bootstrap; nothing is loaded).
  string_decoder: () => [new TextDecoder('utf-16le')],
  // A statement's iterator and a session are of classes sqlite does not export (a tag
  // store's prototype is made anew for each store, shared with no other).
  sqlite: () => {
    const { DatabaseSync } = hostRequire('node:sqlite') as { DatabaseSync: new (path: string) => SampleDatabase };
    const db = new DatabaseSync(':memory:');
    try {
      const statement = db.prepare('select 1');
      return [db, statement, statement.iterate(), db.createSession?.()];
    } finally {
      db.close();
    }
  },
  ...WEB_SAMPLES,
  ...NET_SAMPLES,
};

/** Buffers of Node's own that it writes to connections, one object each for the process: what each held when made. */
const SHARED_WRITES = new Map<object, Buffer>();

/**
 * `Socket.prototype._writeGeneric` (what every socket's write and writev come to) sends
 * a copy of a shared buffer's original bytes in its place: what a package wrote over
 * never reaches the wire.
 */
function substituteSharedWrites(proto: Record<string, unknown>): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, '_writeGeneric');
  const write: unknown = descriptor?.value;
  if (typeof write !== 'function' || !descriptor!.writable || !descriptor!.configurable) return;
  const original = (chunk: unknown): unknown => (SHARED_WRITES.size !== 0 && typeof chunk === 'object' && chunk !== null && SHARED_WRITES.has(chunk) ? Buffer.from(SHARED_WRITES.get(chunk)!) : chunk);
  const wrapper = {
    _writeGeneric(this: unknown, writev: boolean, data: unknown, ...rest: unknown[]): unknown {
      if (SHARED_WRITES.size !== 0) {
        if (!writev) data = original(data);
        else if (Array.isArray(data)) data = data.map((entry: { chunk?: unknown } | unknown) => (typeof entry === 'object' && entry !== null && 'chunk' in entry ? { ...entry, chunk: original(entry.chunk) } : original(entry)));
      }
      return Reflect.apply(write, this, [writev, data, ...rest]);
    },
  }._writeGeneric;
  Object.defineProperty(wrapper, 'length', { value: write.length });
  Object.defineProperty(proto, '_writeGeneric', { ...descriptor, value: wrapper });
}

/**
 * Node 24's Web Locks hand each callback of `navigator.locks.request` a `Lock`, of a class
 * no global names, made when the lock is granted (later: a sample would wait for it).
 * The first one has its prototype hardened before that callback has it: `request` is
 * wrapped, before the manager's prototype is frozen, to wrap the callbacks it is given
 * until then (docs/attacks.md, case 120).
 */
export function hardenFirstLock(manager: object): void {
  // With the namespace each package's locks get (lock-managers.ts, case 290).
  namespaceLockManager(manager);
}

/** A process id no system gives (Linux's ceiling is 2^22): `kill(pid, 0)` and `setpriority` fail with ESRCH, doing nothing. */
const NO_SUCH_PID = 2 ** 31 - 1;

/** What `action` throws (the sample is the error). */
function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * Node's AbortError (internal/errors), what every aborted stream, `events.once`, timer
 * promise and `fetch` hands its caller: from a stream aborted as it is given its signal.
 */
function abortError(stream: typeof import('node:stream')): unknown {
  const readable = new stream.Readable({ read() {} });
  readable.on('error', () => {});
  stream.addAbortSignal(AbortSignal.abort(), readable);
  return (readable as { errored?: unknown }).errored;
}

/**
 * Node's ErrnoException (internal/errors; its prototype's `constructor` is a getter that
 * returns V8's own `Error`): what `process.kill`, child processes and sockets throw.
 * Made at start-up (boundary.ts), with nothing else loaded.
 */
export function sampleErrnoException(): void {
  const error = thrown(() => process.kill(NO_SUCH_PID, 0));
  if (typeof error === 'object' && error !== null) hardenPrototypesWithin(error, 1);
}

interface SampleDatabase {
  prepare(sql: string): { iterate(): unknown };
  createSession?(): unknown;
  close(): void;
}

/**
 * What every timerify, gc, http, net and dns observer receives: a PerformanceNodeEntry,
 * of a class perf_hooks does not export. Only an observer of such entries is handed one:
 * the sample's, of `function` entries, taken at once and disconnected. No other observer
 * can exist yet (the class is perf_hooks', which is loading).
 */
function nodeEntries(perf: typeof import('node:perf_hooks')): unknown[] {
  const observer = new perf.PerformanceObserver(() => {});
  observer.observe({ entryTypes: ['function'] });
  try {
    perf.performance.timerify(function lavamoatSample() {})();
    return observer.takeRecords();
  } finally {
    observer.disconnect();
  }
}

/** Samples made when an internal module loads (host-preparation.ts prepareHost), not with a builtin. */
export const DEFERRED_SAMPLES: readonly string[] = [
  'internal/fs/watchers',
  'internal/fs/dir',
  'internal/streams/duplexify',
  'internal/async_local_storage/async_context_frame',
  'internal/async_local_storage/async_hooks',
  'internal/source_map/source_map',
];

function restrictedStorage(): unknown[] {
  const asyncHooks = hostRequire('node:async_hooks') as typeof import('node:async_hooks');
  restrictAsyncLocalStorage(asyncHooks.AsyncLocalStorage as never);
  return [];
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
  } catch (error) {
    // Out of stack (a package recursing deep before its first use of a grant): not done,
    // and the use fails; it is sampled again next time.
    if (isStackOverflow(error)) {
      sampled.delete(name);
      throw error;
    }
    // Otherwise: not in this Node.
  }
}

/**
 * A public function that loads internal module `id` the first time it runs (`Duplex.from`
 * loads `internal/streams/duplexify`, `fs.watch` `internal/fs/watchers`): the module's
 * sample is taken when the load trap hears of the load. On Node 24, Node's own push onto
 * its load list (native, deeper than the module's code) can run out of stack before the
 * trap runs: the module is then loaded, listed nowhere, and never pushed again, and the
 * package's next call (one level up) got an instance of a class nobody hardened
 * (docs/attacks.md, case 240). Wrapped here, before its holder is frozen: after the real
 * function returns, while the module is unsampled, the sample is taken before the result
 * is returned; if that runs out of stack the call throws, the result dropped, and the
 * next call tries again. A set lookup a call once sampled.
 */
export function sampleOnReturn(holder: object, name: string, id: string): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(holder, name);
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable || !MODULE_SAMPLES[id]) return;
  const wrapper = {
    [name](this: unknown, ...args: unknown[]): unknown {
      const result: unknown = Reflect.apply(real, this, args);
      if (!sampled.has(id)) sample(id);
      return result;
    },
  }[name]!;
  Object.defineProperty(wrapper, 'length', { value: real.length });
  Object.defineProperty(holder, name, { ...descriptor, value: wrapper });
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
    } catch (error) {
      if (isStackOverflow(error)) throw error;
      // Not for this instance.
    }
  }
}

/**
 * What needs the holder of the host's globals (fetch's classes, read after scuttling),
 * or an `await`, before any package runs: a file handle's classes (fs/promises' `open`);
 * where the policy grants `crypto`, a WebCrypto key's. The standard streams are hardened
 * when first read ({@link hardenStdioWhenRead}), the readline interface a file handle
 * makes when first made ({@link hardenFirstLines}).
 */
export async function prepareSamples(globals: Record<PropertyKey, unknown>, { webcrypto }: { webcrypto: boolean }): Promise<void> {
  setHostGlobals(globals);
  // The classes Node's deserializer makes for whoever names them (forged-clones.ts): each
  // forged and hardened first, when its module loads; it forges with the host's globals.
  hardenForgeableClasses();
  // Reads `navigator` from the holder of the host's globals, which is set only now.
  whenLoaded('internal/locks', () => sample('internal/locks'));
  hardenStdioWhenRead();
  // Loaded before the loader (a file handle may exist already): sampled now, as
  // sampleFileHandles' first open would be too late.
  if (hasLoaded('internal/fs/promises')) {
    const fs = hostRequire('node:fs') as typeof import('node:fs');
    const handle = await fs.promises.open(new URL(import.meta.url), 'r');
    try {
      hardenFileHandle(handle);
    } finally {
      await handle.close();
    }
  }
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

function webCryptoSampledOnLoad(): boolean {
  const { KeyObject } = hostRequire('node:crypto') as { KeyObject: { prototype: object } };
  return typeof (KeyObject.prototype as { toCryptoKey?: unknown }).toCryptoKey === 'function' && lazyGlobalModule('CryptoKey') === WEBCRYPTO;
}

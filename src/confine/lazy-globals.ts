/**
 * The platform's global classes that Node loads on first use, and the internal module
 * each comes from.
 *
 * On Node 22 and 24 these globals are V8 lazy data properties: reading one, even its
 * descriptor, loads its module (`Response` loads undici, and with it http, tls, http2
 * and zlib: ~45 ms). On Node 20 they are accessors that load on first read. Either way,
 * no instance of such a class exists before its module has loaded, and every path to one
 * (reading the global, `fetch()`, a port's `MessageEvent`, `Readable.toWeb()`) loads it
 * through Node's internal loader, which confine/load-trap.ts observes. So the boundary
 * (boundary.ts) hardens these classes when their module finishes loading instead of
 * loading them all at start-up.
 *
 * The table must be exact: a global hardened "when undici loads" that in fact comes
 * from another module, already loaded, would stay unhardened. So it is per major version
 * of Node, checked by test/unit/lazy-globals.test.mjs (in a fresh process, reading the
 * global loads exactly that module last), and a Node major not listed defers nothing: its
 * globals are read and hardened at start-up, as before.
 *
 * The web streams' classes are here too: their readers, writers and controllers are
 * sampled (samples.ts) when their module loads, from the classes these globals hold.
 */
import process from 'node:process';
import { hostGlobals } from './samples.js';

const UNDICI = 'internal/deps/undici/undici';
const PERF = 'perf_hooks';

const READABLE = 'internal/webstreams/readablestream';
const WRITABLE = 'internal/webstreams/writablestream';
const TRANSFORM = 'internal/webstreams/transformstream';

const COMMON: Readonly<Record<string, string>> = {
  ReadableStream: READABLE,
  ReadableStreamDefaultReader: READABLE,
  ReadableStreamBYOBReader: READABLE,
  ReadableStreamBYOBRequest: READABLE,
  ReadableByteStreamController: READABLE,
  ReadableStreamDefaultController: READABLE,
  WritableStream: WRITABLE,
  WritableStreamDefaultController: WRITABLE,
  WritableStreamDefaultWriter: WRITABLE,
  TransformStream: TRANSFORM,
  TransformStreamDefaultController: TRANSFORM,
  TextEncoderStream: 'internal/webstreams/encoding',
  TextDecoderStream: 'internal/webstreams/encoding',
  CompressionStream: 'internal/webstreams/compression',
  DecompressionStream: 'internal/webstreams/compression',
  FormData: UNDICI,
  Headers: UNDICI,
  Request: UNDICI,
  Response: UNDICI,
  Performance: PERF,
  PerformanceEntry: PERF,
  PerformanceMark: PERF,
  PerformanceMeasure: PERF,
  PerformanceObserver: PERF,
  PerformanceObserverEntryList: PERF,
  PerformanceResourceTiming: PERF,
  File: 'internal/file',
  Crypto: 'internal/crypto/webcrypto',
  CryptoKey: 'internal/crypto/webcrypto',
  SubtleCrypto: 'internal/crypto/webcrypto',
};

// On Node 22+ (on 20 the module loads at start-up): a port only comes from a channel
// or a worker, which load it first.
const PORTS: Readonly<Record<string, string>> = {
  MessageChannel: 'internal/worker/io',
  MessagePort: 'internal/worker/io',
  BroadcastChannel: 'internal/worker/io',
};

const BY_MAJOR: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // MessageEvent is worker/io's on Node 20: Node makes one for every message on a port,
  // with no read of the global.
  '20': { ...COMMON, performance: PERF, MessageEvent: 'internal/worker/io' },
  '22': { ...COMMON, ...PORTS, MessageEvent: UNDICI, WebSocket: UNDICI, Navigator: 'internal/navigator' },
  '24': {
    ...COMMON,
    ...PORTS,
    MessageEvent: UNDICI,
    CloseEvent: UNDICI,
    WebSocket: UNDICI,
    Navigator: 'internal/navigator',
    ByteLengthQueuingStrategy: 'internal/webstreams/queuingstrategies',
    CountQueuingStrategy: 'internal/webstreams/queuingstrategies',
  },
};

const major = process.versions.node.split('.')[0]!;
const table: Readonly<Record<string, string>> = BY_MAJOR[major] ?? {};

/**
 * Exports of builtin modules that are V8 lazy data properties on Node 22 and 24, by
 * module: reading one, even its descriptor, loads the internal module given (util's
 * `diff` loads streams, worker_threads and, through its colours, `process.stderr`: ~8 ms
 * of a start that hardens util). The boundary hardens them when that module loads.
 * Checked like the globals (test/unit/lazy-globals.test.mjs); a Node major not listed
 * reads them all, as before.
 */
const LAZY_EXPORTS_22: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  buffer: { File: 'internal/file' },
  fs: { Dir: 'internal/fs/dir', opendir: 'internal/fs/dir', opendirSync: 'internal/fs/dir' },
  util: { parseArgs: 'internal/util/parse_args/parse_args', diff: 'internal/util/diff', setTraceSigInt: 'internal/util/trace_sigint' },
};
const LAZY_EXPORTS: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>>> = {
  '20': {},
  '22': LAZY_EXPORTS_22,
  '24': LAZY_EXPORTS_22,
};
const exportTable = LAZY_EXPORTS[major];

/**
 * The internal module whose load makes export `key` of builtin `module`, if it is one
 * this Node defers (none where this Node's lazy exports are not known: all are read).
 */
export function lazyExportModule(module: string, key: PropertyKey): string | undefined {
  if (exportTable === undefined || typeof key !== 'string') return undefined;
  const keys = exportTable[module];
  return keys !== undefined && Object.hasOwn(keys, key) ? keys[key] : undefined;
}

/** For the test: this Node's lazy exports. */
export const lazyExportTable = (): Readonly<Record<string, Readonly<Record<string, string>>>> => exportTable ?? {};

/** The internal module whose load makes global `name`, if it is one this Node defers. */
export function lazyGlobalModule(name: PropertyKey): string | undefined {
  return typeof name === 'string' && Object.hasOwn(table, name) ? table[name] : undefined;
}

/** For the test: this Node's table. */
export const lazyGlobalTable = (): Readonly<Record<string, string>> => table;

/** Platform globals not read at start-up, by name: the internal module that makes them. */
const deferred = new Map<string, string>();

/** How many deferred globals each module makes (asked on every load). */
const deferredModules = new Map<string, number>();

export function deferGlobal(name: string, module: string): void {
  const previous = deferred.get(name);
  if (previous === module) return;
  if (previous !== undefined) undefer(name, previous);
  deferred.set(name, module);
  deferredModules.set(module, (deferredModules.get(module) ?? 0) + 1);
}

function undefer(name: string, module: string): void {
  deferred.delete(name);
  const count = (deferredModules.get(module) ?? 1) - 1;
  if (count > 0) deferredModules.set(module, count);
  else deferredModules.delete(module);
}

export const hasDeferredGlobals = (): boolean => deferred.size > 0;

/**
 * Before a package granted "write" replaces platform global `name`: if its class has not
 * been loaded yet, it is loaded now (and so hardened, boundary.ts). Once replaced, the
 * global no longer leads to the class its module makes, and instances Node makes (fetch's
 * responses) would keep a class nobody hardened.
 */
export function beforeGlobalWrite(name: string): void {
  if (deferred.has(name)) void hostGlobals()[name];
}

export const isDeferredModule = (id: string): boolean => deferredModules.has(id);

/**
 * The deferred globals whose module is in `loaded` (Node's load list, or every one),
 * no longer deferred.
 */
export function takeLoadedGlobals(loaded: ReadonlySet<string> | 'all'): string[] {
  const ready: string[] = [];
  for (const [name, module] of deferred) {
    if (loaded !== 'all' && !loaded.has(`NativeModule ${module}`)) continue;
    undefer(name, module);
    ready.push(name);
  }
  return ready;
}

/**
 * Read during the load of their module, the globals `names` of `realGlobal` are left
 * as accessors until the current job ends, then made the writable data they were.
 *
 * The load may come from reading one of them: on Node 22+ a V8 lazy data property,
 * whose getter, once it returns, replaces itself with a data property and checks that
 * it is still an accessor (the process aborts if not). Reading it again inside that
 * getter (to harden its class) already made it data; an accessor in its place lets the
 * outer getter finish as V8 expects. Which of them is being read is not known, so all
 * are left so.
 */
export function keepAccessorsUntilJobEnds(realGlobal: object, names: readonly string[]): void {
  const kept: [string, () => unknown][] = [];
  for (const name of names) {
    const descriptor = Reflect.getOwnPropertyDescriptor(realGlobal, name);
    if (!descriptor || !('value' in descriptor) || !descriptor.configurable || !descriptor.writable) continue;
    let value: unknown = descriptor.value;
    // As a writable data property would: where the app has since sealed the global, the
    // value is kept here.
    const asData = (current: unknown): void => {
      value = current;
      try {
        Object.defineProperty(realGlobal, name, { value: current, writable: true, enumerable: descriptor.enumerable, configurable: true });
      } catch {
        // Sealed or frozen meanwhile: this accessor stays, answering `value`.
      }
    };
    const get = (): unknown => value;
    Object.defineProperty(realGlobal, name, { get, set: asData, enumerable: descriptor.enumerable, configurable: true });
    kept.push([name, get]);
  }
  if (kept.length === 0) return;
  void Promise.resolve().then(() => {
    for (const [name, get] of kept) {
      const now = Reflect.getOwnPropertyDescriptor(realGlobal, name);
      // Still ours (not replaced by the getter that was running, nor assigned), and not
      // sealed meanwhile by the app (then it stays an accessor answering the same value).
      if (now && now.get === get && now.configurable) {
        Object.defineProperty(realGlobal, name, { value: get(), writable: true, enumerable: now.enumerable, configurable: true });
      }
    }
  });
}

/**
 * Boot-time taming, after lockdown and before any package code (boundary.ts holds the
 * rule; this is what must hold before the first package module runs): the feral `Error`
 * and WebAssembly's errors given the shared parent, the intrinsics lockdown leaves
 * unfrozen hardened, what starts the next process or worker frozen (`process.execArgv`,
 * `process.env`'s slot), native handle classes neutralised, Node's module loads observed
 * from here on, the `fs` module object frozen with its lazy classes hardened as they load,
 * and the samples that wait for an internal module's load registered.
 */
import process from 'node:process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { hardenHostValue, isObject, neverHarden, prepareBeforeFreezing, replaceErrorParent, reparentFromFeral } from './host-hardening.js';
import { neutralizeNativeClasses } from './native-handles.js';
import { guardEventSettings, guardStreamSettings, pinInspectOptions } from './process-settings.js';
import { INTRINSIC_GLOBALS, SES_GLOBALS } from './scuttle.js';
import { guardFeralError } from './stack-traces.js';
import { confineFileStreams, confineUtf8Streams } from './fs-streams.js';
import { DEFERRED_SAMPLES, sample, sampleOnReturn } from './samples.js';
import { sampleCertificatesWhereClonesArrive } from './cloned-certificates.js';
import { sampleFileHandles } from './fs-samples.js';
import { initPerformanceEntries, restrictObserverEntryList, restrictPerformanceEntries, restrictPerformanceObserver } from './performance-observation.js';
import { WEBCRYPTO } from './web-samples.js';
import { whenLoaded } from './load-trap.js';
import { lazyExportModule } from './lazy-globals.js';
import { FS_LAZY, hardenExport, observeLoads } from './boundary.js';

const hostRequire = createRequire(import.meta.url);

/** Intrinsics lockdown does not freeze that objects Node or the engine hands out lead to. */
const UNFROZEN_INTRINSICS = ['WeakRef', 'FinalizationRegistry', 'SharedArrayBuffer', 'SuppressedError', 'DisposableStack', 'AsyncDisposableStack'];


/**
 * Boot-time taming, after lockdown and before any package code: what reaches the next
 * process or worker, native handles, and the `fs` module object, frozen (Node's streams
 * kept it in `stream[kFs]`, the only Node object that stores a module: they now hold
 * their own file's I/O instead, fs-streams.ts).
 */
export function prepareHost({ preloadDomain, feralError }: { preloadDomain: boolean; feralError: Function }): void {
  replaceErrorParent(feralError, (Error.prototype as { constructor: Function }).constructor);
  // WebAssembly's errors, which lockdown leaves as V8 made them. (Not the global's own
  // properties: on Node 22+ reading some loads their module, undici's and zlib's.)
  const wasm = (globalThis as { WebAssembly?: object }).WebAssembly;
  if (typeof wasm === 'object' && wasm !== null) reparentFromFeral(wasm);
  const runtimeCode = new URL('../', import.meta.url).href;
  guardFeralError(feralError as never, (file) => file !== undefined && (file.startsWith(runtimeCode) || file.startsWith(fileURLToPath(runtimeCode))));
  initPerformanceEntries(globalThis.Error as never, [runtimeCode, fileURLToPath(runtimeCode)]);
  // perf_hooks' classes as packages must find them, whichever walk first freezes them
  // (observation.ts): the observer's `observe` (on Node 20 the global's first read froze
  // it unrestricted, and a package granted perf_hooks then failed to load), the
  // performance object's entry getters.
  prepareBeforeFreezing('PerformanceObserver', (proto) => void restrictPerformanceObserver((proto as { constructor: never }).constructor));
  prepareBeforeFreezing('Performance', restrictPerformanceEntries);
  prepareBeforeFreezing('PerformanceObserverEntryList', restrictObserverEntryList);
  const Module = hostRequire('node:module') as { prototype: object };
  for (const live of [Module, Module.prototype, process, globalThis]) neverHarden(live);
  // The JavaScript intrinsics are lockdown's: what it left changeable (the host's
  // `Error` stack API, which confine/stack-traces.ts sets) stays so.
  for (const name of [...INTRINSIC_GLOBALS, ...SES_GLOBALS]) {
    if (UNFROZEN_INTRINSICS.includes(name)) continue;
    const value = (globalThis as Record<string, unknown>)[name];
    if (isObject(value)) neverHarden(value);
  }
  // The intrinsics lockdown leaves as V8 made them, which a package reaches with no grant
  // for them: Node's `SafeWeakRef` extends the realm's `WeakRef` (an `AbortSignal.any()`
  // signal holds them), the engine throws a `SuppressedError` out of any `using` block,
  // a shared `WebAssembly.Memory`'s buffer is a `SharedArrayBuffer`. Hardened for
  // everyone, as lockdown hardens the others (docs/attacks.md, case 124).
  for (const name of UNFROZEN_INTRINSICS) hardenHostValue((globalThis as Record<string, unknown>)[name]);
  // fork() and workers read it as the default for their own arguments.
  Object.freeze(process.execArgv);
  // Its variables may change (LavaMoat's semantics, envFor), the object may not be
  // replaced: children inherit whatever `process.env` is, and the runtime's marker in it.
  Object.defineProperty(process, 'env', { value: process.env, writable: false, configurable: false });
  // node:domain patches EventEmitter when it loads, which it cannot once events is
  // hardened: a policy that grants it gets it loaded first.
  if (preloadDomain) hostRequire('node:domain');
  // Settings of the whole process on classes everyone shares: the app's to change
  // (process-settings.ts). events, util and stream are loaded by now.
  guardEventSettings();
  pinInspectOptions();
  guardStreamSettings();
  neutralizeNativeClasses();
  // From here on, what the app and Node load is seen as it loads.
  observeLoads();
  const fs = hostRequire('node:fs') as Record<string, unknown>;
  // The public functions that load a sampled internal module lazily take its sample on
  // their way back if the load trap did not (Node 24 out of stack: case 240), before
  // their holders are frozen (fs below, stream's classes at the start's hardening).
  for (const name of ['watch', 'watchFile', 'unwatchFile']) sampleOnReturn(fs, name, 'internal/fs/watchers');
  sampleOnReturn((hostRequire('node:stream') as { Duplex: object }).Duplex, 'from', 'internal/streams/duplexify');
  // Node 24's cloned certificates: sampled where a clone first arrives (case 79).
  sampleCertificatesWhereClonesArrive();
  // `fs.ReadStream = X` sets the class createReadStream uses: its accessors lose their
  // setters. The streams' and `promises` stay lazy (they load fs/promises and readline:
  // dealt with below when they load); any other (Node 20's `Dir`, which replaces itself
  // with data when first read) becomes the read-only data it holds. Its getters and data
  // are hardened now, with it; its other classes when a package is granted it.
  for (const key of Reflect.ownKeys(fs)) {
    if (lazyExportModule('fs', key) !== undefined) {
      // Node 22+'s V8 lazy data properties (`Dir`, `opendir`, `opendirSync`: about 0.1 ms
      // to load their module): read now, before fs is frozen, and hardened. Read later
      // from the frozen module, each became an extensible function a package holding any
      // fs stream reached (`stream[kFs]`), and the first `opendirSync` (whose module's
      // sample reads `opendirSync` inside its own materialization) was a V8 fatal error.
      hardenExport(fs[key as string], key);
      continue;
    }
    const descriptor = Reflect.getOwnPropertyDescriptor(fs, key);
    if (!descriptor || 'value' in descriptor) continue;
    hardenHostValue(descriptor.get);
    if (!descriptor.configurable) continue;
    if (typeof key === 'string' && FS_LAZY.has(key)) {
      Object.defineProperty(fs, key, { get: descriptor.get, enumerable: descriptor.enumerable, configurable: false });
    } else {
      Object.defineProperty(fs, key, { value: fs[key as string], writable: false, enumerable: descriptor.enumerable, configurable: false });
    }
  }
  hardenHostValue(fs.constants);
  Object.freeze(fs);
  // Its streams carry their own file's I/O, not the module (fs-streams.ts): before the
  // first stream is made, and before their classes are hardened.
  whenLoaded('internal/fs/streams', () => {
    confineFileStreams();
    for (const key of ['ReadStream', 'WriteStream', 'FileReadStream', 'FileWriteStream']) hardenExport(fs[key], key);
  });
  whenLoaded('internal/fs/promises', () => {
    const promises = fs.promises as Record<string, unknown>;
    sampleFileHandles(promises);
    Object.freeze(promises);
    hardenExport(promises, 'promises');
  });
  // Node 24's Utf8Stream, an accessor that loads its module.
  whenLoaded('internal/streams/fast-utf8-stream', () => {
    confineUtf8Streams(fs.Utf8Stream);
    hardenExport(fs.Utf8Stream, 'Utf8Stream');
  });
  // crypto's `webcrypto` and `subtle` (the `crypto` global and its `subtle`): getters of
  // the module that cannot be wrapped (not configurable) and load WebCrypto when read.
  // Locked once it has loaded, for everyone (docs/attacks.md, case 130).
  whenLoaded(WEBCRYPTO, () => {
    const crypto = hostRequire('node:crypto') as Record<string, unknown>;
    for (const key of ['webcrypto', 'subtle']) hardenExport(crypto[key], key);
  });
  // fs.watch's and fs.opendir's classes, which fs does not export (or, on Node 22+,
  // exports as a lazy property not to be read inside its own getter: hardenLazyExport);
  // what Duplex.from makes, the AsyncLocalStorage class on Node 22+ (an accessor of
  // async_hooks that loads one of two modules), module's SourceMap: each when the module
  // that makes it loads, not at start-up.
  for (const id of DEFERRED_SAMPLES) whenLoaded(id, () => sample(id));
  // process.env's prototype is an object of Node's own, reachable from the env view.
  hardenHostValue(Object.getPrototypeOf(process.env));
}

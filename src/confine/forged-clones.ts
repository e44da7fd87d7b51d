/**
 * The classes Node's message deserializer makes (attack case 200).
 *
 * A Node object that can be cloned or transferred (`Blob`, `BlockList`, `FileHandle`, a
 * histogram) says how: the serializer calls its `messaging_clone_symbol` (or
 * `messaging_transfer_symbol`) method, which returns `{ data, deserializeInfo }`, and the
 * receiving side (`structuredClone`, a `MessagePort`, a worker's `workerData`) runs
 * `new (require(module)[name])()` for `deserializeInfo = 'module:name'`, with Node's
 * internal `require`, then the instance's `messaging_deserialize_symbol` method with
 * `data`. The serializer looks the method up on the object as any property is looked up,
 * and the symbols are on the classes' prototypes for anyone to list: a package defines
 * its own method on a `Blob` of its own and gets, from `structuredClone` alone, an
 * instance of any internal class with a deserializer, built from data of its choosing,
 * whose module need not even have loaded. Two of them gave more than the grants:
 * - fs/promises' `FileHandle` (no module exports it), whose methods do their I/O on the
 *   descriptor `data` names: any descriptor of the process read and written, with no `fs`
 *   grant, until the first `fs.promises.open` guarded the class (fs-streams.ts; Node 20
 *   loads fs/promises at start-up, where the runtime opens one; Node 22 and 24 do not);
 * - the histograms' classes (`Histogram`, `RecordableHistogram`), hardened only with
 *   perf_hooks (samples.ts): their prototypes, which the app's `monitorEventLoopDelay()`
 *   and `createHistogram()` share, were the package's to write.
 * What a package can forge, the runtime forges first: when one of these modules loads
 * (load-trap.ts, before the load returns to whoever caused it, the deserializer
 * included), an instance is made the same way and its classes hardened; a FileHandle's
 * methods then run only on handles `open` made or a real transfer carried. The other
 * classes with a deserializer are hardened with their modules' exports or the globals
 * (`Blob`, `File`, `BlockList`, `SocketAddress`, `AbortSignal`, `X509Certificate`,
 * `CryptoKey`, the web streams, `DOMException`), or refuse data that is not theirs
 * (a socket address, Node 24's sockets and servers: native handles only).
 * `internal/test/transfer`'s classes, which Node's own tests use, are no app's.
 */
import { disarmChain } from './capability-classes.js';
import { sampleFileHandleClass } from './fs-streams.js';
import { hardenPrototypesWithin } from './host-hardening.js';
import { whenLoaded } from './load-trap.js';
import { hardenFileHandle } from './fs-samples.js';
import { hostGlobals } from './web-samples.js';

type Forge = { info: string; data: unknown; after?: (instance: object) => void };

/** By internal module: what to forge when it loads (data its deserializer accepts). */
const FORGED: Readonly<Record<string, readonly Forge[]>> = {
  'internal/fs/promises': [
    {
      info: 'internal/fs/promises:FileHandle',
      data: { handle: { fd: -1 } },
      after: (handle) => {
        // Guarded before it is hardened: the guard replaces the prototype's methods.
        sampleFileHandleClass(handle);
        disarmChain(handle);
        hardenFileHandle(handle);
      },
    },
  ],
  'internal/histogram': [
    { info: 'internal/histogram:ClonedHistogram', data: {} },
    { info: 'internal/histogram:ClonedRecordableHistogram', data: {} },
  ],
};

/** An instance of the class `info` names, made by Node's deserializer from `data`. */
export function forgeClone(info: string, data: unknown): object | undefined {
  // The host's, from the holder scuttling leaves them in (set before any package runs).
  const globals = hostGlobals();
  const Blob = globals.Blob as typeof import('node:buffer').Blob | undefined;
  const clone = globals.structuredClone as ((value: unknown) => unknown) | undefined;
  if (typeof Blob !== 'function' || typeof clone !== 'function') return undefined;
  const key = Object.getOwnPropertySymbols(Blob.prototype).find((symbol) => symbol.description === 'messaging_clone_symbol');
  if (key === undefined) return undefined;
  const carrier = new Blob([]);
  Object.defineProperty(carrier, key, { value: () => ({ data, deserializeInfo: info }) });
  const instance: unknown = clone(carrier);
  return typeof instance === 'object' && instance !== null ? instance : undefined;
}

/**
 * Registers the forging samples, each when its module loads (now if it has): from
 * samples.ts `prepareSamples`, once the host's globals are held, before any package runs.
 */
export function hardenForgeableClasses(): void {
  for (const [id, forges] of Object.entries(FORGED)) {
    whenLoaded(id, () => {
      for (const { info, data, after } of forges) {
        const instance = forgeClone(info, data);
        // Not in this Node: nothing to forge there either. Fails the load otherwise.
        if (instance === undefined) continue;
        after?.(instance);
        hardenPrototypesWithin(instance, 1);
      }
    });
  }
}

/**
 * Samples of the file classes no module exports (samples.ts has the rule): a
 * `FileHandle` and its native handle, hardened from the first handle fs/promises opens,
 * the readline interface its `readLines` first makes, and the standard streams' classes,
 * disarmed and hardened as each stream is first read.
 */
import process from 'node:process';
import { disarmChain } from './capability-classes.js';
import { confineStdioFileStream, noteFileHandle } from './fs-streams.js';
import { hardenFirstResult, hardenPrototypeChain, hardenPrototypesWithin } from './host-hardening.js';
import { hasLoaded } from './load-trap.js';

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
      // Each handle's descriptor pinned, the class's methods for these handles only (fs-streams.ts).
      noteFileHandle(handle);
      if (!sampled) {
        if (typeof handle === 'object' && handle !== null) disarmChain(handle);
        hardenFileHandle(handle);
        sampled = true;
      }
      return handle;
    },
  }.open;
  Object.defineProperty(confined, 'length', { value: open.length });
  promises.open = confined;
}

/** A file handle's classes, and the readline interface its `readLines` first makes. */
export function hardenFileHandle(handle: unknown): void {
  hardenFirstLines(Object.getPrototypeOf(handle) as object);
  hardenPrototypesWithin(handle);
}

/** Node 24's readline interfaces hold a history manager (ReplHistory) of a class no module exports. */
export const HISTORY = 'internal/repl/history';

/**
 * A file handle's `readLines` makes a readline interface, whose history manager (Node 24)
 * is of a class no module exports, with nothing but fs/promises loaded (it loads
 * readline's interface at start-up). Sampling one at start-up costs 1–2 ms: the first
 * interface `readLines` makes is hardened instead ({@link hardenFirstResult}).
 */
function hardenFirstLines(fileHandlePrototype: object): void {
  if (hasLoaded(HISTORY)) hardenFirstResult(fileHandlePrototype, 'readLines', 2);
}


/**
 * The standard streams are made when first read, of a class that depends on what the
 * descriptor is: a file's is Node's internal SyncWriteStream, which no module exports and
 * whose constructor writes any file descriptor (an app whose output goes to a log file
 * hands it to a logger). The getters on `process` now disarm and harden the stream's
 * classes before anyone has it, once per stream, a file's pinned to its descriptor first
 * (fs-streams.ts `confineStdioFileStream`).
 */
export function hardenStdioWhenRead(): void {
  for (const name of ['stdout', 'stderr', 'stdin']) {
    const descriptor = Reflect.getOwnPropertyDescriptor(process, name);
    const get = descriptor?.get;
    if (!get || !descriptor.configurable) continue;
    let seen: unknown;
    Object.defineProperty(process, name, {
      ...descriptor,
      get: {
        [name](this: unknown): unknown {
          const stream: unknown = Reflect.apply(get, this, []);
          if (stream !== seen && typeof stream === 'object' && stream !== null) {
            confineStdioFileStream(stream);
            disarmChain(stream);
            hardenPrototypeChain(stream);
            seen = stream;
          }
          return stream;
        },
      }[name],
    });
  }
}

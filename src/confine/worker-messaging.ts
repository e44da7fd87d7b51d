/**
 * What a package may post and receive between threads (worker_threads' messaging
 * functions, adapted per package by builtin-adapters.ts): `postMessageToThread` only to
 * the threads its own `Worker` class started (workers.ts notes them), and
 * `receiveMessageOnPort` never from the thread's `parentPort`. Why: docs/attacks.md,
 * cases 291, 293 and 301.
 */
import process from 'node:process';
import { WorkerConfinementError } from './worker-flags.js';
import { once } from './workers.js';

/** The ids of the threads each package's own `Worker` class started from this thread. */
const startedThreads = new Map<string, Set<number>>();
export const threadsOf = (packageName: string): Set<number> => {
  let ids = startedThreads.get(packageName);
  if (ids === undefined) {
    ids = new Set();
    startedThreads.set(packageName, ids);
  }
  return ids;
};

/**
 * A package's `worker_threads.postMessageToThread` (Node 22.5, 20.19): Node's posts to any
 * thread of the process by its id, a small integer counted from 1 (0 the main thread),
 * and every listener of `process.on('workerMessage')` there hears it: a package granted
 * `worker_threads` for a pool of its own posted forged jobs into the app's workers by
 * their ids (docs/attacks.md, case 291). A package's posts only to the threads its own
 * `Worker` class started from this thread, whose code is its own; any other id (the
 * app's workers, another package's, the thread that started this one) throws, as Node
 * does for a thread it cannot find. The id is read once, as a number.
 */
export function threadPosterFor(real: unknown, packageName: string): unknown {
  if (typeof real !== 'function') return real;
  const poster = {
    postMessageToThread(threadId: unknown, ...rest: unknown[]): Promise<unknown> {
      if (typeof threadId !== 'number' || !threadsOf(packageName).has(threadId)) {
        return Promise.reject(
          new WorkerConfinementError(
            `LavaMoat: package "${packageName}" may post only to the threads its own Worker started (${String(typeof threadId === 'number' ? threadId : typeof threadId)} is not one of them)`,
          ),
        );
      }
      return Reflect.apply(real, undefined, [threadId, ...rest]) as Promise<unknown>;
    },
  }.postMessageToThread;
  Object.defineProperty(poster, 'length', { value: real.length });
  return Object.freeze(poster);
}

/**
 * A package's `worker_threads.receiveMessageOnPort`: not on the thread's port to its parent
 * (`parentPort`, one for the thread). Called from a listener of that port's, it took the
 * messages queued behind the one being dispatched, before the app's listeners heard them:
 * a package in a worker pool took the app's jobs (docs/attacks.md, case 293). On the
 * package's own ports as Node's.
 *
 * Node's function takes the port's handle from what it is given (`port?.[kHandle] ??
 * port`, a `BroadcastChannel`'s port): an object of the package's answering that read with
 * `parentPort` (a Proxy answering every key, or the symbol a Proxy learnt) took the jobs
 * past the check on the argument itself (case 301). So the handle is read here, once, as
 * Node reads it, checked, and Node's function is given a frozen holder of that handle
 * alone: no read of the package's objects after the check.
 */
export function portReceiverFor(real: unknown, parentPort: unknown): unknown {
  if (typeof real !== 'function' || typeof parentPort !== 'object' || parentPort === null) return real;
  let handleKey: symbol | null | undefined;
  /** The key Node reads a port's handle by, learnt once from Node's function: null where it reads none. */
  const keyOfHandle = (): symbol | null => {
    if (handleKey !== undefined) return handleKey;
    const read: PropertyKey[] = [];
    const probe = new Proxy(
      {},
      {
        get: (_target, key) => {
          read.push(key);
          return undefined;
        },
      },
    );
    try {
      Reflect.apply(real, undefined, [probe]);
    } catch {
      // Not a port: only the key it read was wanted.
    }
    if (read.length > 1 || (read.length === 1 && typeof read[0] !== 'symbol')) {
      throw new WorkerConfinementError('LavaMoat: receiveMessageOnPort reads its argument in a way this runtime does not know: not available to packages here');
    }
    handleKey = read.length === 1 ? (read[0] as symbol) : null;
    return handleKey;
  };
  const receiver = {
    receiveMessageOnPort(port: unknown, ...rest: unknown[]): unknown {
      const key = keyOfHandle();
      // As Node reads it (`port?.[kHandle] ?? port`), once.
      const held: unknown = key === null || port === null || port === undefined ? undefined : (port as Record<symbol, unknown>)[key];
      const handle = held ?? port;
      if (handle === parentPort || port === parentPort) throw new WorkerConfinementError("LavaMoat: a package may not take messages from the thread's parentPort with receiveMessageOnPort (listen to it instead)");
      const given = key === null ? handle : Object.freeze({ __proto__: null, [key]: handle });
      return Reflect.apply(real, undefined, [given, ...rest]);
    },
  }.receiveMessageOnPort;
  Object.defineProperty(receiver, 'length', { value: real.length });
  return Object.freeze(receiver);
}

/**
 * Node's own modules, seen the moment each finishes loading.
 *
 * Node records every internal module it has loaded in `process.moduleLoadList`, pushing
 * `NativeModule <id>` once the module's code has run (and not if it threw). Nothing else
 * marks that moment, and it is the one the boundary needs: a module loaded after start-up
 * (undici, when the app first calls `fetch`; Node 22+'s lazy globals, when first read)
 * hands out instances of its classes to whoever made it load, before any later check of
 * the runtime's could run. So the list's next slot is an accessor, inherited from a
 * prototype placed between the list and `Array.prototype`: Node's push goes through it
 * (a setter on the prototype chain receives an array element's [[Set]]), the entry is
 * stored as an ordinary element of the list, and the callback runs before the load
 * returns to whoever asked for it.
 *
 * A load the callback itself causes is pushed while Node's outer push has not yet set
 * the list's length, which then cuts it off. Such entries are kept here and added to
 * Node's list after the outer push is done ({@link loadedEntries}); the runtime reads
 * the complete record from here, never from Node's list.
 *
 * The list is Node's, private to the runtime: no package is granted the real `process`
 * (confine/views.ts shows `process` members as views or frozen copies), so no package can
 * disarm or feed this. Where the list is not an extensible plain array (a future Node),
 * nothing is installed and the caller keeps its eager path.
 */
import process from 'node:process';

export type LoadObserver = (id: string) => void;

const PREFIX = 'NativeModule ';

let record: string[] | undefined;
/** The same entries, for membership: kept as they come (a set made per check, on every load, was megabytes of garbage a start). */
let recordSet: Set<string> | undefined;
let flush: (() => void) | undefined;

/**
 * Calls `onLoaded(id)` for every internal module that finishes loading from now on, one at
 * a time: loads the callback itself causes are reported after it returns. `false` if
 * Node's list cannot be observed. Once per thread.
 */
export function observeBuiltinLoads(onLoaded: LoadObserver): boolean {
  const list = (process as unknown as { moduleLoadList?: unknown }).moduleLoadList;
  if (record !== undefined) return false;
  if (!Array.isArray(list) || !Object.isExtensible(list) || Object.getPrototypeOf(list) !== Array.prototype) return false;
  const entries: string[] = [...(list as string[])];
  const entrySet = new Set(entries);
  const trap = Object.create(Array.prototype) as Record<number, unknown>;
  const queue: string[] = [];
  // Entries pushed while the callback ran, cut off by the outer push (see above).
  const cutOff: unknown[] = [];
  let running = false;
  let armedAt = -1;
  const arm = (index: number): void => {
    if (armedAt >= 0) delete trap[armedAt];
    armedAt = index;
    Object.defineProperty(trap, index, { configurable: true, get: () => undefined, set: store(index) });
  };
  const store = (index: number) =>
    function (this: unknown[], entry: unknown): void {
      if (this !== list) {
        Object.defineProperty(this, index, { value: entry, writable: true, enumerable: true, configurable: true });
        return;
      }
      // Out of stack anywhere from here on (a package recursed until it was nearly gone,
      // then made Node load a module), the module is loaded all the same: Node pushes its
      // entry once its code has run, and never again, so the next use (the package's, a
      // moment later: `Duplex.from` again) would have what it makes unhardened, or later
      // loads unobserved, with nothing of the runtime's in between. Failing the load is
      // not failing closed there: the process ends (docs/attacks.md, case 240). Another
      // error (a refusal an action makes on purpose: undici-dispatcher.ts) fails the load
      // that caused it, as it always has; the observer looks at every entry loaded so far,
      // so what is queued is still dealt with next time.
      try {
        take(index, entry);
      } catch (error) {
        // Inline, no function of ours: with the stack all but gone, calling one could fail
        // in the exit's place (`instanceof` calls none). The message is made in advance.
        if (!(error instanceof RangeError)) throw error;
        try {
          rawDebug(FAIL_CLOSED_MESSAGE);
        } catch {
          // Not enough stack left to say it: the exit code says it.
        }
        for (;;) {
          try {
            reallyExit(FAIL_CLOSED_EXIT_CODE);
          } catch {
            // Not even that much stack: looping needs none, and the thread goes no further.
          }
        }
      }
    };
  const take = (index: number, entry: unknown): void => {
    const report = typeof entry === 'string' && entry.startsWith(PREFIX);
    if (typeof entry === 'string') {
      entries.push(entry);
      entrySet.add(entry);
    }
    if (report) queue.push(entry.slice(PREFIX.length));
    if (running) {
      cutOff.push(entry);
      arm(index + 1);
      return;
    }
    Object.defineProperty(list, index, { value: entry, writable: true, enumerable: true, configurable: true });
    arm(index + 1);
    if (!report) return;
    running = true;
    try {
      while (queue.length > 0) {
        const id = queue.shift()!;
        runLoadActions(id);
        onLoaded(id);
      }
    } finally {
      queue.length = 0;
      running = false;
      // Node's push sets the length to index + 1 once this returns: its next push lands there.
      arm(index + 1);
    }
  };
  flush = () => {
    if (running || cutOff.length === 0) return;
    for (const entry of cutOff.splice(0)) {
      Object.defineProperty(list, list.length, { value: entry, writable: true, enumerable: true, configurable: true });
    }
    arm(list.length);
  };
  Object.setPrototypeOf(list, trap);
  arm(list.length);
  record = entries;
  recordSet = entrySet;
  return true;
}

// Node's own exit, without `'exit'` listeners (the thread's, in a worker), and its write
// to the standard error: taken now, before any package runs.
const reallyExit = (process as unknown as { reallyExit: (code: number) => never }).reallyExit;
const rawDebug = (process as unknown as { _rawDebug: (message: string) => void })._rawDebug;

/** The exit code of a process the load observer ended (see observeBuiltinLoads). */
export const FAIL_CLOSED_EXIT_CODE = 70;
const FAIL_CLOSED_MESSAGE =
  'LavaMoat: ending the process: what must be done the moment Node loads one of its modules ran out of stack (deep recursion), and Node does not load a module twice: what it makes would reach packages unhardened.';

/**
 * Every entry of Node's module load list so far, complete (with what the observer's own
 * loads added), or Node's list itself where it is not observed.
 */
export function loadedEntries(): readonly string[] {
  if (record === undefined) return ((process as unknown as { moduleLoadList?: readonly string[] }).moduleLoadList ?? []) as readonly string[];
  flush?.();
  return record;
}

let unobservedSet: { length: number; set: Set<string> } | undefined;

/** Every entry of {@link loadedEntries}, as a set (live where loads are observed). */
export function loadedSet(): ReadonlySet<string> {
  if (recordSet !== undefined) {
    flush?.();
    return recordSet;
  }
  const list = loadedEntries();
  if (unobservedSet?.length !== list.length) unobservedSet = { length: list.length, set: new Set(list) };
  return unobservedSet.set;
}

/** Whether internal module `id` has finished loading. */
export const hasLoaded = (id: string): boolean => loadedSet().has(`${PREFIX}${id}`);

/** Actions that must run the moment an internal module has loaded, by module id. */
const atLoad = new Map<string, (() => void)[]>();

/**
 * Runs `action` once internal module `id` has loaded, before the load returns to whoever
 * caused it (before the observer hears of it): now if it has, or where loads are not
 * observed (the action then loads what it needs itself).
 */
export function whenLoaded(id: string, action: () => void): void {
  if (record === undefined || hasLoaded(id)) {
    action();
    return;
  }
  const actions = atLoad.get(id);
  if (actions) actions.push(action);
  else atLoad.set(id, [action]);
}

/**
 * The actions waiting for `id`, or (none given) for any module loaded by now: one that
 * fails in a sweep (boundary.ts) is tried again by the next; at a load, the observer ends
 * the process instead (see observeBuiltinLoads).
 */
export function runLoadActions(id?: string): void {
  if (atLoad.size === 0) return;
  for (const waiting of id === undefined ? [...atLoad.keys()] : [id]) {
    const actions = atLoad.get(waiting);
    if (!actions || (id === undefined && !hasLoaded(waiting))) continue;
    atLoad.delete(waiting);
    for (let index = 0; index < actions.length; index++) {
      try {
        actions[index]!();
      } catch (error) {
        atLoad.set(waiting, actions.slice(index));
        throw error;
      }
    }
  }
}

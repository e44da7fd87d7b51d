/**
 * V8's `console.createTask(name)` (async stack tagging, which hookable, and with it Nuxt's
 * and unhead's hooks, calls around every hook) returns a fresh `{ run }` object of its
 * caller's: `task.run(fn)` calls `fn` at once and returns its result, with the task's
 * name on the async stack. The object is the caller's own; its `run` is one native
 * function V8 shares between every task of the process, the app's included, and is
 * frozen before a package receives it (a property added there would be seen by all).
 * Nothing else leads anywhere: `run` calls only the function it is given, on a real task.
 *
 * Delivered as other results of a platform function are, the task reached a package as
 * a copy whose `run` was an opaque token (`task.run is not a function`).
 */
const hostCreateTask: unknown = (globalThis as { console?: { createTask?: unknown } }).console?.createTask;

/** The `createTask` of the console copies packages get (below). */
const taskMakers = new WeakSet<object>();

/** Whether `fn` is V8's own `console.createTask` (the one the process started with), or a package console's. */
export const isHostCreateTask = (fn: unknown): boolean =>
  typeof fn === 'function' && (fn === hostCreateTask || taskMakers.has(fn));

/**
 * The `createTask` of a console copy packages share (a whole `console` grant): V8's,
 * the shared `run` of its tasks frozen first. Frozen, as the copy is.
 */
export function createTaskFor(real: Function): Function {
  const createTask = Object.freeze(
    {
      createTask(...args: unknown[]): unknown {
        const task: unknown = Reflect.apply(real, undefined, args);
        inspectorTask(task);
        return task;
      },
    }.createTask,
  );
  taskMakers.add(createTask);
  return createTask;
}

/**
 * `result` of V8's `createTask`, as a package receives it: the task itself, its shared
 * `run` frozen. Anything else (never seen: the function is V8's) is undefined, for the
 * caller to deliver as usual.
 */
export function inspectorTask(result: unknown): object | undefined {
  if (typeof result !== 'object' || result === null || Object.getPrototypeOf(result) !== Object.prototype) return undefined;
  const keys = Reflect.ownKeys(result);
  if (keys.length !== 1 || keys[0] !== 'run') return undefined;
  const run = Reflect.getOwnPropertyDescriptor(result, 'run')?.value as unknown;
  if (typeof run !== 'function' || Object.getPrototypeOf(run) !== Function.prototype) return undefined;
  Object.freeze(run);
  return result;
}

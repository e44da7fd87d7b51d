/**
 * Host globals are the app's own objects: a package granted one must not be able to
 * change it for the app or for other packages. Lockdown froze the JavaScript
 * intrinsics, not Node's and the web platform's globals, so each kind is handed out in
 * a form that cannot be used to tamper with the original:
 *
 * - `console`: a frozen copy (Node's console methods are bound to the console).
 * - timers (`setTimeout`, `setInterval`, `setImmediate` and their `clear*`): wrappers
 *   that return opaque handles. Node's `Timeout` objects are linked to every other
 *   timer of the process (`_idleNext`), from which a package could reach and replace the
 *   app's callbacks.
 * - other functions and classes (`fetch`, `AbortController`, `queueMicrotask`, ...): through
 *   the boundary (boundary.ts), which hardens them with their statics and prototypes, so
 *   nothing can be attached to them for the app to pick up.
 * - platform classes and objects that nothing needs to patch (`URL`, `TextEncoder`,
 *   `crypto`, ...): hardened, prototypes included, on first grant.
 * `process` granted whole is the host's own object: granting it whole grants the power to
 * change it, as in LavaMoat; dotted grants narrow it (endowments.ts).
 */

import { handOutValue, hardenForGlobal } from './boundary.js';
import { hardenInstanceOnlyClasses } from './host-hardening.js';
import process from 'node:process';
import { restrictPerformanceObserver } from './performance-observation.js';
import { createTaskFor, isHostCreateTask } from './inspector-tasks.js';

declare function harden<T>(value: T): T;

const HARDEN_ON_GRANT = new Set([
  'Intl',
  'URL',
  'URLSearchParams',
  'TextEncoder',
  'TextDecoder',
  'WeakRef',
  'FinalizationRegistry',
  'crypto',
  'Crypto',
  'CryptoKey',
  'SubtleCrypto',
  'Blob',
  'File',
  'Headers',
  'FormData',
  'Request',
  'Response',
  'DOMException',
  'structuredClone',
  'atob',
  'btoa',
  'fetch',
  'queueMicrotask',
  // Not one of SES's intrinsics: lockdown leaves it as the host made it, and a package
  // could otherwise replace `WebAssembly.instantiate` for the app.
  'WebAssembly',
]);

/** Whether a grant of global `name` hands out the host's object itself, hardened (`crypto`, `Intl`, `WebAssembly`). */
export const hardenedOnGrant = (name: string): boolean => HARDEN_ON_GRANT.has(name);

const TIMER_NAMES = ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate'];

type Host = Record<PropertyKey, unknown>;

interface Handle {
  ref(): Handle;
  unref(): Handle;
  hasRef(): boolean;
  refresh(): Handle;
  close(): Handle;
  [Symbol.toPrimitive](): number;
}

/**
 * One set of timer wrappers per host: handles made by one package can be cleared by
 * another. Node calls a timer's callback with its `Timeout` (or `Immediate`) as `this`,
 * so the callback is called through a function that gives it the handle instead. A
 * number given to `clear*` clears only a timer whose handle was turned into that number
 * here (Node would clear any timer that was ever converted, the app's included).
 */
function makeTimers(host: Host): Record<string, Function> {
  const real = new WeakMap<object, Record<string, Function>>();
  const numbered = new Set<number>();
  const makeHandle = (timer: Record<string, Function>): Handle => {
    const handle: Handle = Object.freeze({
      ref: () => (timer.ref!.call(timer), handle),
      unref: () => (timer.unref!.call(timer), handle),
      hasRef: () => Boolean(timer.hasRef!.call(timer)),
      refresh: () => (timer.refresh ? timer.refresh.call(timer) : undefined, handle),
      close: () => (timer.close ? timer.close.call(timer) : undefined, handle),
      [Symbol.toPrimitive]: () => {
        const id = Number((timer as unknown as { [Symbol.toPrimitive](): number })[Symbol.toPrimitive]());
        numbered.add(id);
        return id;
      },
    });
    real.set(handle, timer);
    return handle;
  };
  const timers: Record<string, Function> = {};
  for (const name of TIMER_NAMES) {
    const original = host[name];
    if (typeof original !== 'function') continue;
    const wrapper = name.startsWith('set')
      ? {
          [name](callback: unknown, ...rest: unknown[]) {
            if (typeof callback !== 'function') {
              return makeHandle(Reflect.apply(original, undefined, [callback, ...rest]) as Record<string, Function>);
            }
            let handle: Handle | undefined;
            const timer = Reflect.apply(original, undefined, [
              function (this: unknown, ...args: unknown[]) {
                return Reflect.apply(callback, handle, args);
              },
              ...rest,
            ]) as Record<string, Function>;
            handle = makeHandle(timer);
            return handle;
          },
        }[name]!
      : {
          [name](handle: unknown) {
            if (typeof handle === 'object' && handle !== null) {
              const timer = real.get(handle);
              return timer ? Reflect.apply(original, undefined, [timer]) : undefined;
            }
            if (typeof handle === 'number' || typeof handle === 'string') {
              const id = Number(handle);
              if (!numbered.has(id)) return undefined;
              numbered.delete(id);
              return Reflect.apply(original, undefined, [id]);
            }
            return undefined;
          },
        }[name]!;
    // `util.promisify(setTimeout)` and friends keep working.
    // Read now, though `setTimeout[util.promisify.custom]` loads timers/promises: a getter
    // in its place (read when `promisify` first asks) made Node 20 crash (SIGSEGV) in about
    // one run in ten of the reachability walk (test/integration/boundary.test.mjs).
    for (const key of Reflect.ownKeys(original)) {
      if (typeof key === 'symbol') Object.defineProperty(wrapper, key, { value: handOutValue((original as unknown as Record<symbol, unknown>)[key]) });
    }
    timers[name] = handOutValue(Object.freeze(wrapper));
  }
  return timers;
}

const perHost = new WeakMap<Host, { timers?: Record<string, Function>; consoles: WeakMap<object, object> }>();

function stateFor(host: Host): { timers?: Record<string, Function>; consoles: WeakMap<object, object> } {
  let state = perHost.get(host);
  if (!state) {
    state = { consoles: new WeakMap() };
    perHost.set(host, state);
  }
  return state;
}

/**
 * The timer functions packages get, for `host`: the same for the globals and for the
 * `timers` builtin module (whose own functions would hand out Node's `Timeout`s). Made
 * when a package is first granted one (making them loads timers/promises).
 */
export function timersFor(host: Host): Record<string, Function> {
  const state = stateFor(host);
  return (state.timers ??= makeTimers(host));
}

/**
 * Node's console methods as the process started, before the app's code: bound to the
 * global console. An app that replaces one (to route its logs) has its function called.
 */
const nodeConsoleMethods = new WeakSet<object>();
{
  const start = (globalThis as unknown as { console?: Record<string, unknown> }).console;
  if (start) for (const key of Object.keys(start)) if (typeof start[key] === 'function') nodeConsoleMethods.add(start[key] as object);
}

/** Each package's console (made when it first logs), by package. */
const packageConsoles = new Map<string, Record<string, Function>>();

/**
 * The console methods of package `packageName`, for `shared` (what every package gets for
 * the global console, above). The global console's methods are bound to the one console
 * of the process, whose state they change for everyone: the indentation every later
 * line of the app's is printed with (`group()`), its timers (`timeEnd('request')` ended
 * the app's) and its counters (`countReset`). So a package's are those of a console of
 * its own, made by Node's `Console` on the process's stdout and stderr when the package
 * first uses one (docs/attacks.md, case 233). A method the app replaced is the app's,
 * as before; those a `Console` has not (`profile`, `timeStamp`, ...) are the global's.
 */
export function consoleFor(shared: unknown, packageName: string): unknown {
  if (typeof shared !== 'object' || shared === null) return shared;
  const Console = (shared as { Console?: unknown }).Console;
  if (typeof Console !== 'function') return shared;
  let methods = packageConsoles.get(packageName);
  if (methods === undefined) {
    let own: Record<string, Function> | undefined;
    const ownConsole = (): Record<string, Function> =>
      (own ??= Reflect.construct(Console, [{ stdout: process.stdout, stderr: process.stderr }]) as Record<string, Function>);
    const proto = (Console as { prototype: object }).prototype;
    methods = {};
    for (const key of Object.keys(shared)) {
      const value = (shared as Record<string, unknown>)[key];
      if (typeof value !== 'function' || !nodeConsoleMethods.has(value) || !(key in proto)) continue;
      methods[key] = {
        [key](...args: unknown[]): unknown {
          return Reflect.apply(ownConsole()[key]!, undefined, args);
        },
      }[key]!;
    }
    packageConsoles.set(packageName, Object.freeze(methods));
  }
  const copy: Record<string, unknown> = { ...(shared as Record<string, unknown>), ...methods };
  return Object.freeze(copy);
}

/**
 * What a package granted the host global `name` receives for `value` (the host's current
 * value); everything not special here goes through the boundary's rule (boundary.ts).
 */
export function shareable(host: Host, name: string, value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  const state = stateFor(host);
  if (TIMER_NAMES.includes(name) && value === host[name]) {
    const timer = timersFor(host)[name];
    if (timer) return timer;
  }
  if (name === 'console') {
    let copy = state.consoles.get(value);
    if (!copy) {
      const methods = { ...(value as object) } as Record<string, unknown>;
      for (const key of Object.keys(methods)) methods[key] = handOutValue(methods[key]);
      // Its tasks' shared `run` is frozen before a package has one (inspector-tasks.ts).
      const createTask = methods.createTask;
      if (isHostCreateTask(createTask)) methods.createTask = createTaskFor(createTask as Function);
      copy = Object.freeze(methods);
      state.consoles.set(value, copy);
    }
    return copy;
  }
  hardenForGlobal(name);
  // The class whose observers may not observe the app's I/O, as perf_hooks' copy holds
  // it: the global was Node's own class, whose observers observed the app's `http`,
  // `net` and `dns` entries, headers and all (docs/attacks.md, case 121).
  if (name === 'PerformanceObserver' && typeof value === 'function') {
    const restricted = restrictPerformanceObserver(value as never) as { prototype: unknown };
    if (restricted.prototype === (value as { prototype: unknown }).prototype) return restricted;
  }
  // WebAssembly's error classes no longer lead to V8's own `Error`, which this would
  // freeze: prepareHost gave them the shared one (host-hardening.ts reparentFromFeral).
  if (HARDEN_ON_GRANT.has(name)) {
    // What only an instance of its classes leads to, which `harden` does not reach (`Intl`'s
    // segments: docs/attacks.md, case 230).
    hardenInstanceOnlyClasses(value);
    return harden(value);
  }
  return handOutValue(value);
}

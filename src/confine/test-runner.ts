/**
 * `node:test` as packages reach it. Two of its functions act on the whole process rather
 * than on what the caller holds (docs/attacks.md, case 320):
 * - `run()` starts test files in child processes (or, with `isolation: 'none'`, imports
 *   them into this one) through Node's own `child_process`, which no grant of the
 *   package's decides: with `execArgv: ['--require', file]` (Node 22+) the child ran a
 *   file of the package's natively, before the loader (`--require` preloads run before
 *   `--import`), with every builtin; and any file (the app's scripts) runs as the app. A
 *   package's `run` is refused (builtin-adapters.ts); the app's is Node's.
 * - `mock.timers` (`MockTimers#enable`) replaces the global `setTimeout`, `setInterval`,
 *   `setImmediate`, `Date` and node:timers' functions, the app's: the app's timers then
 *   fire when the package ticks, if ever. The `mock.module()` of Node 22.3+ (behind
 *   `--experimental-test-module-mocks`) replaces a module for every importer. Both are
 *   reached from any tracker (the module's `mock`, a test context's `t.mock`): on
 *   MockTracker's prototype, before node:test is hardened (samples.ts), the `timers`
 *   getter and `module` run only when the app's own code calls them directly (V8's call
 *   sites past the runtime's wrappers, as workers.ts `guardObservingMethods`): a package's
 *   frame names no file, and a Node frame that calls what it is given is not the app's.
 *   The first `MockTimers` the getter returns has its `enable` guarded the same way
 *   (one handed to a package by the app). Constructing a `MockTimers` to reach its
 *   prototype earlier would print Node's experimental warning in every app that loads
 *   node:test.
 */
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { hardenPrototypesWithin } from './host-hardening.js';

export class TestRunnerConfinementError extends Error {
  readonly code = 'LAVAMOAT_TEST_RUNNER_REFUSED';
}

function calledByTheApp(fn: Function): boolean {
  const caller = callerSitesOf(globalThis.Error as never, fn, 4).find((site) => !isRuntimeFile(site.file));
  return isTheAppsFile(caller?.file);
}

const refuse = (what: string): never => {
  throw new TestRunnerConfinementError(`LavaMoat: node:test's ${what} acts on the whole process (the app's timers and modules): only the app's own code may call it`);
};

/** Wraps method `name` of `holder` (a prototype of node:test's) so that only the app's code calls it. */
function guardMethod(holder: object, name: string, what: string): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(holder, name);
  if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable) return;
  const real = descriptor.value as Function;
  const guarded = {
    [name](this: unknown, ...args: unknown[]): unknown {
      if (!calledByTheApp(guarded)) refuse(what);
      return Reflect.apply(real, this, args);
    },
  }[name]!;
  Object.defineProperty(guarded, 'length', { value: real.length });
  Object.defineProperty(holder, name, { ...descriptor, value: guarded });
}

let timersGuarded = false;

/** Before node:test is hardened: MockTracker's process-wide mocks for the app's code only. */
export function guardMockTracker(test: unknown): void {
  let tracker: unknown;
  try {
    tracker = (test as { mock?: unknown }).mock;
  } catch {
    return;
  }
  if (typeof tracker !== 'object' || tracker === null) return;
  const prototype = Object.getPrototypeOf(tracker) as object | null;
  if (prototype === null) return;
  guardMethod(prototype, 'module', 'mock.module()');
  const descriptor = Reflect.getOwnPropertyDescriptor(prototype, 'timers');
  if (!descriptor || typeof descriptor.get !== 'function' || !descriptor.configurable) return;
  const realGet = descriptor.get;
  const get = function timers(this: unknown): unknown {
    if (!calledByTheApp(get)) refuse('mock.timers');
    const timers: unknown = Reflect.apply(realGet, this, []);
    if (!timersGuarded && typeof timers === 'object' && timers !== null) {
      const timersPrototype = Object.getPrototypeOf(timers) as object | null;
      if (timersPrototype !== null && !Object.isFrozen(timersPrototype)) {
        for (const name of ['enable', 'tick', 'runAll', 'setTime', 'reset']) guardMethod(timersPrototype, name, `mock.timers.${name}()`);
        timersGuarded = true;
        hardenPrototypesWithin(timers, 1);
      }
    }
    return timers;
  };
  Object.defineProperty(prototype, 'timers', { ...descriptor, get });
}

/**
 * A package's `node:test`: the module's function and members, read from Node's, with
 * `run` refused (it starts processes, or imports files into this one, outside the
 * package's grants). A function, as the module is (`test('name', fn)`).
 */
export function testModuleFor(real: Function, packageName: string): Function {
  const test = function test(this: unknown, ...args: unknown[]): unknown {
    return Reflect.apply(real, this, args);
  };
  for (const key of Reflect.ownKeys(real)) {
    if (key === 'prototype' || key === 'length' || key === 'name') continue;
    if (key === 'run') {
      Object.defineProperty(test, key, {
        value: function run(): never {
          throw new TestRunnerConfinementError(
            `LavaMoat: node:test's run() starts test files in processes of Node's (or imports them here) outside package "${packageName}"'s grants: refused`,
          );
        },
        enumerable: true,
      });
      continue;
    }
    const descriptor = Reflect.getOwnPropertyDescriptor(real, key)!;
    // Read from Node's when read (`mock` is made when first read).
    Object.defineProperty(test, key, {
      get: () => Reflect.get(real, key, real),
      enumerable: descriptor.enumerable ?? true,
    });
  }
  Object.defineProperty(test, 'length', { value: real.length });
  return test;
}

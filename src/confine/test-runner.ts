/**
 * `node:test` as packages reach it. Some of its functions act on the whole process rather
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
 * - what a package's tests receive and set for the process (case 323): their contexts
 *   as stand-ins (`contextFacade`: no `t.assert.fileSnapshot`, which reads any file; the
 *   context class, which the app's tests share, hardened), no `assert.register` or
 *   snapshot setters (`testModuleFor`).
 */
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { hardenPrototypeChain, hardenPrototypesWithin } from './host-hardening.js';
import { callerChecked } from './frameless-calls.js';

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
  Object.defineProperty(holder, name, { ...descriptor, value: callerChecked(guarded) });
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
 * What a package's test callbacks receive for the context Node passes them (`t` of
 * `test`, `it`, the hooks and `t.test`; a suite's of `describe`): a stand-in whose reads
 * are the context's, with
 * - `assert` without `snapshot` and `fileSnapshot`: `fileSnapshot(value, path)` reads any
 *   file and fails with its text as `expected` (Node 22.14+: a package granted node:test
 *   read the app's files, case 323), and `snapshot` evaluates the file a resolver names;
 * - `test`, `before`, `after`, `beforeEach`, `afterEach` whose callbacks get stand-ins too;
 * - methods called on the context itself; nothing written, defined or deleted.
 * The context's own class (its prototype, shared by the app's contexts, whose `assert`
 * getter a package replaced: case 323) is hardened when the first one reaches a package.
 */
const facades = new WeakMap<object, object>();
const CONTEXT_RUNNERS = new Set<PropertyKey>(['test', 'before', 'after', 'beforeEach', 'afterEach']);
const SNAPSHOT_ASSERTIONS = new Set<PropertyKey>(['snapshot', 'fileSnapshot']);

function refusedAssertion(name: string): Function {
  return {
    [name](): never {
      throw new TestRunnerConfinementError(
        `LavaMoat: node:test's t.assert.${name} reads (or writes) files of its choosing: refused to a package's test`,
      );
    },
  }[name]!;
}

function contextFacade(context: unknown): unknown {
  if (typeof context !== 'object' || context === null) return context;
  const known = facades.get(context);
  if (known !== undefined) return known;
  hardenPrototypeChain(context);
  let assert: object | undefined;
  const facade = new Proxy(Object.create(Object.getPrototypeOf(context) as object | null) as object, {
    get(_target, key) {
      if (key === 'assert') {
        if (assert === undefined) {
          const real = Reflect.get(context, key, context) as Record<PropertyKey, unknown>;
          const copy: Record<PropertyKey, unknown> = Object.create(null) as Record<PropertyKey, unknown>;
          for (const name of Reflect.ownKeys(real)) copy[name] = SNAPSHOT_ASSERTIONS.has(name) ? refusedAssertion(String(name)) : real[name];
          assert = Object.freeze(copy);
        }
        return assert;
      }
      const value: unknown = Reflect.get(context, key, context);
      if (typeof value !== 'function') return value;
      if (CONTEXT_RUNNERS.has(key)) return runnerFor(value, context);
      return (...args: unknown[]): unknown => Reflect.apply(value, context, args);
    },
    has: (_target, key) => Reflect.has(context, key),
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
    setPrototypeOf: () => false,
  });
  facades.set(context, facade);
  return facade;
}

/** A package's callback as Node calls it: with a stand-in of the context (its name and arity kept: Node reads both). */
function callbackFor(fn: Function): Function {
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const facade = contextFacade(args[0]);
    return Reflect.apply(fn, facade, [facade, ...args.slice(1)]);
  };
  Object.defineProperty(wrapped, 'length', { value: fn.length });
  Object.defineProperty(wrapped, 'name', { value: fn.name });
  return wrapped;
}

const RUNNER_VARIANTS = ['skip', 'todo', 'only', 'expectFailure'] as const;

/** node:test's `test`, `describe`, a hook, `t.test`: the package's callbacks wrapped; `skip`, `todo`, `only` the same. */
function runnerFor(real: Function, receiver?: unknown, depth = 0): Function {
  const runner = function (this: unknown, ...args: unknown[]): unknown {
    return Reflect.apply(real, receiver ?? this, args.map((arg) => (typeof arg === 'function' ? callbackFor(arg) : arg)));
  };
  Object.defineProperty(runner, 'length', { value: real.length });
  Object.defineProperty(runner, 'name', { value: real.name });
  if (depth === 0) {
    // Only its variants: `it` is `test` itself, whose members include `run`.
    for (const key of RUNNER_VARIANTS) {
      const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
      if (typeof descriptor?.value === 'function') {
        Object.defineProperty(runner, key, { value: runnerFor(descriptor.value as Function, receiver, 1), enumerable: descriptor.enumerable ?? false });
      }
    }
  }
  return runner;
}

/** The runners node:test exports, whose callbacks receive a test or suite context. */
const MODULE_RUNNERS = new Set<PropertyKey>(['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach']);

const refusing = (name: string, what: string, packageName: string): Function =>
  ({
    [name](): never {
      throw new TestRunnerConfinementError(`LavaMoat: node:test's ${what} changes the test runner for the whole process: refused for package "${packageName}"`);
    },
  })[name]!;

/**
 * A package's `node:test`: the module's function and members, read from Node's, with
 * `run` refused (it starts processes, or imports files into this one, outside the
 * package's grants); `snapshot.setResolveSnapshotPath` and
 * `setDefaultSnapshotSerializers`, and `assert.register` (Node 22.14+: one map for every
 * context of the process, the app's assertions then the package's functions) refused; the
 * runners' callbacks given stand-ins of their contexts (above). A function, as the module
 * is (`test('name', fn)`).
 */
export function testModuleFor(real: Function, packageName: string): Function {
  // Its members are defined below (runnerFor's own copies would be `run` among them).
  const test = runnerFor(real, undefined, 1);
  for (const key of Reflect.ownKeys(real)) {
    if (key === 'prototype' || key === 'length' || key === 'name') continue;
    const descriptor = Reflect.getOwnPropertyDescriptor(real, key)!;
    const enumerable = descriptor.enumerable ?? true;
    let value: unknown;
    if (key === 'run') {
      value = function run(): never {
        throw new TestRunnerConfinementError(
          `LavaMoat: node:test's run() starts test files in processes of Node's (or imports them here) outside package "${packageName}"'s grants: refused`,
        );
      };
    } else if (key === 'snapshot') {
      // (Lazy getters on Node's: not read here.)
      value = Object.freeze({
        setDefaultSnapshotSerializers: refusing('setDefaultSnapshotSerializers', 'snapshot.setDefaultSnapshotSerializers', packageName),
        setResolveSnapshotPath: refusing('setResolveSnapshotPath', 'snapshot.setResolveSnapshotPath', packageName),
      });
    } else if (key === 'assert') {
      value = Object.freeze({ register: refusing('register', 'assert.register', packageName) });
    } else if (descriptor.value === real) {
      // `test.test`, `test.it`: the module's function itself.
      value = test;
    } else if (key === 'getTestContext' && typeof descriptor.value === 'function') {
      // Node 24: the running test's context, as its callback would get it.
      const realGetTestContext = descriptor.value as Function;
      value = function getTestContext(): unknown {
        return contextFacade(Reflect.apply(realGetTestContext, undefined, []));
      };
    } else if (typeof descriptor.value === 'function') {
      // The runners and their variants (`test.skip`, `describe.only`); any other function
      // of the module's has its function arguments wrapped the same way.
      value = runnerFor(descriptor.value as Function, undefined, MODULE_RUNNERS.has(key) ? 0 : 1);
    } else {
      // Read from Node's when read (`mock` is made when first read).
      Object.defineProperty(test, key, { get: () => Reflect.get(real, key, real), enumerable });
      continue;
    }
    Object.defineProperty(test, key, { value, enumerable });
  }
  return test;
}

/**
 * Builtin modules whose plain copy would still hand a package something of the app's,
 * adapted per package before its policy narrows them (the rule is in boundary.ts):
 * - `worker_threads`: a `Worker` of the package's own, which starts only files the
 *   package could load (workers.ts);
 * - `http`, `https`: an agent of the package's own (its `globalAgent`, and the default
 *   of its `request`, `get` and `ClientRequest`; the global agent's options copied, but
 *   not the app's client identity, `key`, `cert`, `pfx`, ...): with Node's global agent, a package's
 *   request would reuse the app's keep-alive sockets (which it could then tamper with,
 *   for the app's next request) and could replace the agent's methods for every request
 *   the app makes;
 * - `diagnostics_channel`, `async_hooks`: views that deliver nothing of the app's
 *   (observation.ts);
 * - `perf_hooks`: a `PerformanceObserver` that does not observe the app's I/O (`http`,
 *   `http2`, `net`, `dns` entries carry its request headers, connections and lookups;
 *   `resource` its fetches' URLs) or objects (`function` entries carry the arguments of
 *   its timerified calls); the same class as the global's;
 * - `timers`: the same functions as the timer globals (opaque handles; Node's `Timeout`s
 *   link every timer of the process);
 * - `crypto`: `setEngine` (an OpenSSL engine is a shared library) only with `native`;
 *   callbacks called without Node's native job as `this`;
 * - `sqlite`: a `DatabaseSync` that loads SQLite extensions (shared libraries:
 *   `allowExtension`, then `loadExtension(path)`) only with `native`.
 * - `timers` (Node 20, 22): no `enroll`, `active`, `_unrefActive`, `unenroll` (they link a
 *   package's object into the process's timer lists);
 * - `tty`: `ReadStream` and `WriteStream` only on descriptors that are terminals;
 * - `net`: `Socket`, `connect` and `createConnection` without a descriptor (`fd`), and
 *   `http2.connect` (whose socket is `net.connect`'s);
 * - `v8`: `setFlagsFromString` only with flags that tune the heap and its collector
 *   (`--expose-gc`, heap sizes), unless the policy grants `native`: V8's other flags
 *   change what code may do (`--allow-natives-syntax` gives every compartment V8's
 *   runtime functions, `%DynamicImportCall` among them: Node's own `import()`);
 *   `promiseHooks` whose hooks receive opaque tokens for the process's promises
 *   (observation.ts);
 * - `cluster` (in a worker): `worker` as a read-only view, whose `process` (the real
 *   process) is an opaque token;
 * - `domain`: no domains (`create`, `Domain`) and not the active one, without `native`;
 * - `test`: no `run()` (it starts test files in processes of Node's, test-runner.ts);
 * - every module: the functions that change a setting of the whole process
 *   (`crypto.setFips`, `dns.setServers`, `http.setGlobalProxyFromEnv`, ...) only when
 *   the policy names them (process-settings.ts);
 * `module` is confined in module-builtin.ts, after the policy narrowed it.
 */
import { asyncHooksFor, diagnosticsChannelFor, promiseHooksFor } from './observation.js';
import { restrictPerformanceObserver } from './performance-observation.js';
import { environmentDataSetterFor, workerClassFor } from './workers.js';
import { portReceiverFor, threadPosterFor } from './worker-messaging.js';
import { isLazyExport, spreadLazily } from './lazy-copy.js';
import { broadcastChannelFor } from './broadcast-channels.js';
import { locksFor } from './lock-managers.js';
import { testModuleFor } from './test-runner.js';
import { consoleFor } from './shared-globals.js';
import { hostLeaf } from './views.js';
import { dnsFor, http2For, httpFor, isObjectArg, netFor, snapshot, ttyFor } from './network-adapters.js';
import { refusedSettings } from './process-settings.js';

export type Module = Record<string, unknown>;
export type Ctor = new (...args: unknown[]) => object;

/**
 * v8's functions that write or read a snapshot of the whole heap (case 333), and Node 22+'s
 * `queryObjects`, which lists every object of a class on the heap, with previews of their
 * fields under `format: 'summary'` (the app's maps and their strings: case 371).
 */
const HEAP_SNAPSHOTS = ['writeHeapSnapshot', 'getHeapSnapshot', 'setHeapSnapshotNearHeapLimit', 'queryObjects'] as const;

export interface AdapterContext {
  packageName: string;
  /** Whether the package may load (and so run as a worker) the file at this real path. */
  mayRun(file: string): boolean;
  /** The package's policy grants `native` (OpenSSL engines are native code). */
  native: boolean;
  /** The package's policy names this member of the builtin (`tls.setDefaultCACertificates`), not only the module. */
  namesMember(member: string): boolean;
  /** The package's policy grants this member of the builtin (by name, or the whole module). */
  grants(member: string): boolean;
  /**
   * The timer functions packages get (shared-globals.ts): opaque handles, not Node's
   * `Timeout`s. Made when first asked: making them reads `setTimeout[promisify.custom]`,
   * which loads timers/promises.
   */
  timers(): Readonly<Record<string, Function>>;
}

/**
 * crypto's functions as a package gets them: a function it passes (a callback) is called
 * without the receiver Node gives it. Node calls the callbacks of `pbkdf2`, `scrypt`,
 * `hkdf`, `randomBytes`, `randomFill`, `generateKeyPair`, `generateKey`, `checkPrime`,
 * `sign` and `verify` with the native job as `this`; on Node 24 the job classes are
 * neither in `process.binding` (native-handles.ts) nor exported, so their prototypes
 * were the package's to change: an own `run` on `RandomBytesJob.prototype` answered
 * the app's `randomBytes`, `randomUUID` and `getRandomValues`, one on
 * `PBKDF2Job.prototype` its password hashes (docs/attacks.md, case 133). No other path
 * hands out a job. Every function export with a lower-case name is wrapped (the classes
 * are capitalised, and take no callbacks); lazy ones are not read.
 */
const cryptoWrappers = new WeakMap<Function, Function>();
function withoutJobReceivers(module: Module): Module {
  const overrides: Module = {};
  for (const key of Object.keys(module)) {
    if (isLazyExport('crypto', module, key) || !/^[a-z]/.test(key)) continue;
    const fn = module[key];
    if (typeof fn !== 'function') continue;
    let wrapper = cryptoWrappers.get(fn);
    if (wrapper === undefined) {
      const real = fn as (...args: unknown[]) => unknown;
      wrapper = {
        [real.name || key](this: unknown, ...args: unknown[]): unknown {
          for (let index = 0; index < args.length; index++) {
            const callback = args[index];
            if (typeof callback === 'function') {
              args[index] = function (...results: unknown[]): unknown {
                return Reflect.apply(callback, undefined, results);
              };
            }
          }
          return Reflect.apply(real, this, args);
        },
      }[real.name || key]!;
      Object.defineProperty(wrapper, 'length', { value: real.length });
      // What `util.promisify` reads (generateKeyPair's names of its results).
      for (const symbol of Object.getOwnPropertySymbols(real)) Object.defineProperty(wrapper, symbol, Reflect.getOwnPropertyDescriptor(real, symbol)!);
      Object.freeze(wrapper);
      cryptoWrappers.set(fn, wrapper);
    }
    overrides[key] = wrapper;
  }
  return overrides;
}

/**
 * `node:sqlite`'s `DatabaseSync` for a package without `native`: its options are read
 * once (Node would read a getter of `allowExtension` again), and a database that would
 * load extensions is refused. The prototype is Node's (`instanceof`, the methods), and
 * Node's class is not reachable from it: an instance's `constructor` is inert for everyone
 * (capability-classes.ts), and the parent is the class's own parent.
 */
function databaseWithoutExtensions(Real: Ctor, packageName: string): Function {
  const DatabaseSync = function DatabaseSync(this: unknown, ...args: unknown[]): object {
    if (new.target === undefined) throw new TypeError("Class constructor DatabaseSync cannot be invoked without 'new'");
    const options = args[1];
    if (isObjectArg(options)) {
      const allowExtension = options.allowExtension;
      if (allowExtension === true) {
        throw new TypeError(
          `LavaMoat: a database opened with allowExtension loads SQLite extensions, which are native code: package "${packageName}" needs "native": true in its policy`,
        );
      }
      args[1] = snapshot(options, { allowExtension });
    }
    return Reflect.construct(Real, args, new.target === DatabaseSync ? Real : new.target);
  };
  Object.defineProperty(DatabaseSync, 'prototype', { value: Real.prototype, writable: false });
  Object.defineProperty(DatabaseSync, 'length', { value: Real.length });
  Object.setPrototypeOf(DatabaseSync, Object.getPrototypeOf(Real) as object);
  return Object.freeze(DatabaseSync);
}

/**
 * The deprecated `timers.enroll(item, ms)`, `active(item)`, `_unrefActive(item)` and
 * `unenroll(item)` (Node 20, 22; removed in 24) put the object a package passes into
 * Node's timer list of that duration, linked (`_idleNext`, `_idlePrev`) to every timer
 * of the process that has it: the app's `Timeout`s, their callbacks and arguments, to
 * read or replace (docs/attacks.md, case 191). The timer functions packages get hand out
 * opaque handles (shared-globals.ts); these have no such form, and are refused.
 */
const LEGACY_TIMERS = ['enroll', 'active', '_unrefActive', 'unenroll'] as const;
function legacyTimersFor(module: Module, packageName: string): Module {
  const overrides: Module = {};
  for (const key of LEGACY_TIMERS) {
    if (typeof module[key] !== 'function') continue;
    overrides[key] = {
      [key](): never {
        throw new TypeError(
          `LavaMoat: timers.${key} links an object into the timer lists of the whole process (the app's timers): ` +
            `refused for package "${packageName}"; use setTimeout and its handle's refresh()`,
        );
      },
    }[key];
  }
  return overrides;
}

/**
 * The V8 flags a package may set with `v8.setFlagsFromString` (what memory-leak
 * detectors and test runners set: `--expose-gc` for a `vm` context of their own, heap
 * sizes), each a whole token, spelled as V8 reads it (`-` or `_` in its name, one or two
 * leading dashes). Any other flag is refused: V8's flags are the engine's, and some
 * change what every compartment's code may do. `--allow-natives-syntax`, set by a
 * package granted only `v8.setFlagsFromString`, let its next `Function('f', 'return
 * %DynamicImportCall(f, "node:child_process", ...)')` import Node's own child_process
 * (docs/attacks.md, case 260).
 */
const V8_FLAG = /^--?(?:(?:no-?)?expose[-_]gc|max[-_](?:old|semi)[-_]space[-_]size=\d+)$/;
const V8_SPACE = /[ \t\n\v\f\r]+/;

function v8FlagsSetterFor(real: Function, packageName: string): Function {
  return {
    setFlagsFromString(flags: unknown): unknown {
      // Not a string: Node's own error.
      if (typeof flags !== 'string') return Reflect.apply(real, undefined, [flags]);
      const refused = flags.split(V8_SPACE).filter((token) => token !== '' && !V8_FLAG.test(token));
      if (refused.length > 0) {
        throw new TypeError(
          `LavaMoat: v8.setFlagsFromString(${JSON.stringify(refused[0])}) changes the engine for the whole process: ` +
            `package "${packageName}" may set only --expose-gc and heap sizes, or needs "native": true in its policy`,
        );
      }
      return Reflect.apply(real, undefined, [flags]);
    },
  }.setFlagsFromString;
}

/**
 * `node:domain` for a package without `native`: no domain of its own (`create`,
 * `createDomain`, `Domain` refuse) and none of the process's (`active`, `_stack` are not
 * given). A domain is the process's, not the caller's: entered (`enter()`, or `run()`
 * whose function throws, which Node's leaves entered) it stays the process's active
 * domain after the package's call returns, so every emitter, timer and request the app
 * makes next is bound to it, and the app's uncaught errors and unhandled `'error'` events
 * went to the package's listener with the emitter itself (`error.domainEmitter`: the
 * app's emitter, its socket; docs/attacks.md, case 322). A forged domain (an emitter made
 * with `Domain.prototype`) enters as well, so the class is withheld with its instances.
 * With `native` (the grant of what is as strong as the process), Node's module.
 */
function domainFor(module: Module, packageName: string): Module {
  const refused = (name: string): Function =>
    ({
      // A function expression: `new domain.Domain()` gets this error too.
      [name]: function (): never {
        throw new TypeError(
          `LavaMoat: domain.${name} makes a domain, which once entered is the whole process's (the app's errors and emitters): ` +
            `package "${packageName}" needs "native": true in its policy`,
        );
      },
    })[name]!;
  return spreadLazily('domain', module, { create: refused('create'), createDomain: refused('createDomain'), Domain: refused('Domain'), active: undefined, _stack: undefined });
}

/** The module a package's policy then narrows: `real` adapted for package `ctx`, or `real` itself. */
export function adaptBuiltin(name: string, real: unknown, ctx: AdapterContext): unknown {
  const module = real as Module;
  switch (name) {
    case 'worker_threads':
      return spreadLazily(name, module, {
        Worker: workerClassFor(ctx.packageName, ctx.mayRun, ctx.grants('getEnvironmentData')),
        setEnvironmentData: environmentDataSetterFor(module.setEnvironmentData as never, ctx.packageName),
        BroadcastChannel: broadcastChannelFor(module.BroadcastChannel, ctx.packageName),
        // Not from the thread's parentPort (workers.ts, case 293).
        receiveMessageOnPort: portReceiverFor(module.receiveMessageOnPort, module.parentPort),
        // Only to the threads its own Worker started (workers.ts, case 291).
        ...('postMessageToThread' in module && { postMessageToThread: threadPosterFor(module.postMessageToThread, ctx.packageName) }),
        // Node 24: the package's own Web Locks namespace (lock-managers.ts).
        ...('locks' in module && { locks: locksFor(module.locks, ctx.packageName) }),
      });
    case 'http':
      return httpFor(module, false, ctx);
    case 'https':
      return httpFor(module, true, ctx);
    case 'console':
      // The module is the process's global console: a console of the package's own, as
      // the global's grant gives it (its group indentation, timers and counters).
      return consoleFor(real, ctx.packageName);
    case 'diagnostics_channel':
      return diagnosticsChannelFor(real as never);
    case 'async_hooks':
      return asyncHooksFor(real as never);
    case 'timers':
      return spreadLazily(name, module, { ...legacyTimersFor(module, ctx.packageName), ...ctx.timers() });
    case 'dns':
    case 'dns/promises':
      return dnsFor(name, module, ctx);
    case 'tty':
      return ttyFor(module, ctx.packageName);
    case 'net':
      return netFor(module, ctx);
    case 'http2':
      return http2For(module, ctx.packageName);
    case 'perf_hooks':
      return spreadLazily(name, module, { PerformanceObserver: restrictPerformanceObserver(module.PerformanceObserver as never) });
    case 'crypto': {
      const overrides = { ...withoutJobReceivers(module), ...refusedSettings(name, module, ctx) };
      if (!ctx.native) {
        overrides.setEngine = function setEngine(): never {
          throw new TypeError(`LavaMoat: crypto.setEngine loads native code: package "${ctx.packageName}" needs "native": true in its policy`);
        };
      }
      return spreadLazily(name, module, overrides);
    }
    case 'sqlite':
      // SQLite extensions are shared libraries (`db.loadExtension(path)` dlopens one):
      // native code, as an addon is. Node loads them only for a database opened with
      // `allowExtension: true`, which a package's DatabaseSync refuses without `native`.
      if (ctx.native || typeof module.DatabaseSync !== 'function') return real;
      return spreadLazily(name, module, { DatabaseSync: databaseWithoutExtensions(module.DatabaseSync as Ctor, ctx.packageName) });
    case 'cluster': {
      // In a cluster worker, `cluster.worker` (which loggers and metrics read for its `id`)
      // holds the real process as its `process`: a read-only view of it instead, whose
      // `process` is an opaque token (views.ts `hostLeaf`, case 264).
      const worker = module.worker;
      if (typeof worker !== 'object' || worker === null) return real;
      return spreadLazily(name, module, { worker: hostLeaf(worker) });
    }
    case 'v8': {
      const overrides: Record<string, unknown> = {};
      if (!ctx.native && typeof module.setFlagsFromString === 'function') {
        overrides.setFlagsFromString = v8FlagsSetterFor(module.setFlagsFromString, ctx.packageName);
      }
      // Opaque tokens for the promises V8 passes to a package's hooks (every promise of the process).
      if (typeof module.promiseHooks === 'object' && module.promiseHooks !== null) overrides.promiseHooks = promiseHooksFor(module.promiseHooks as never);
      // The whole heap (every secret the app holds in memory), written to a file at any
      // path (no fs grant), read as a stream, or written at the heap's limit: granted only
      // by name, as process.report.writeReport is (case 333).
      for (const member of HEAP_SNAPSHOTS) {
        if (typeof module[member] !== 'function' || ctx.namesMember(member)) continue;
        overrides[member] = {
          [member](): never {
            throw new TypeError(
              `LavaMoat: v8.${member} hands out the whole heap of the process (the app's memory): package "${ctx.packageName}" ` +
                `needs "v8.${member}": true in its builtin policy`,
            );
          },
        }[member];
      }
      return spreadLazily(name, module, overrides);
    }
    case 'domain':
      return ctx.native ? real : domainFor(module, ctx.packageName);
    case 'test':
      // node:test's run() starts processes outside the package's grants (test-runner.ts, case 320).
      return typeof real === 'function' ? testModuleFor(real, ctx.packageName) : real;
    default: {
      // The functions that change a setting of the whole process, refused unless named
      // (process-settings.ts): tls.setDefaultCACertificates, util.setTraceSigInt.
      const refused = refusedSettings(name, module, ctx);
      return Object.keys(refused).length === 0 ? real : spreadLazily(name, module, refused);
    }
  }
}


/**
 * Builtin modules whose plain copy would still hand a package something of the app's,
 * adapted per package before its policy narrows them (the rule is in boundary.ts):
 * - `worker_threads`: a `Worker` of the package's own, which starts only files the
 *   package could load (workers.ts);
 * - `http`, `https`: an agent of the package's own (its `globalAgent`, and the default
 *   of its `request`, `get` and `ClientRequest`): with Node's global agent, a package's
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
 * - `http` (Node 24): `setGlobalProxyFromEnv` only when the policy names it.
 * `module` is confined in module-builtin.ts, after the policy narrowed it.
 */
import { asyncHooksFor, diagnosticsChannelFor, restrictPerformanceObserver } from './observation.js';
import { environmentDataSetterFor, workerClassFor } from './workers.js';
import { isLazyExport, spreadLazily } from './lazy-copy.js';
import { makeForPackage } from './agent-guards.js';

type Module = Record<string, unknown>;
type Ctor = new (...args: unknown[]) => object;

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

/** What Node's own test for a URL given to `http.request` reads (`internal/url` `isURL`). */
const URL_KEYS = ['href', 'protocol', 'auth', 'path'] as const;

const isObjectArg = (value: unknown): value is Record<PropertyKey, unknown> => typeof value === 'object' && value !== null;

/**
 * A copy of a package's argument object for Node to use: its prototype, its own
 * enumerable properties (what Node's `Object.assign` of options copies), and `pinned`
 * as own data. Whatever Node decides from a pinned key, it decides from the value the
 * adapter checked: no getter, own or inherited, and no proxy answers twice.
 */
function snapshot(value: Record<PropertyKey, unknown>, pinned: Record<string, unknown>): object {
  const copy = Object.create(Object.getPrototypeOf(value) as object | null) as object;
  const define = (key: PropertyKey, item: unknown): void => {
    Object.defineProperty(copy, key, { value: item, writable: true, enumerable: true, configurable: true });
  };
  for (const key of Reflect.ownKeys(value)) {
    if (Object.prototype.propertyIsEnumerable.call(value, key)) define(key, value[key]);
  }
  for (const [key, item] of Object.entries(pinned)) define(key, item);
  return copy;
}

const hrefGetter = Object.getOwnPropertyDescriptor(URL.prototype, 'href')!.get!;

/** The `href` of a real `URL` (by its internal slots, not its prototype chain, which a proxy fakes). */
function urlHref(value: unknown): string | undefined {
  if (!isObjectArg(value)) return undefined;
  try {
    return Reflect.apply(hrefGetter, value, []) as string;
  } catch {
    return undefined;
  }
}

const readKeys = (value: Record<PropertyKey, unknown>, keys: readonly string[]): Record<string, unknown> =>
  Object.fromEntries(keys.map((key) => [key, value[key]]));

/**
 * `request(input[, options][, callback])` arguments with `agent` defaulting to the
 * package's own (an explicit agent, `false` or `createConnection` is left as given).
 * Node tells a URL from options by duck-typing, then reads the agent: both are decided
 * here once, on values pinned in the objects Node receives.
 */
function withAgent(args: unknown[], agent: object): unknown[] {
  const out = [...args];
  let at = 0;
  let urlRead: Record<string, unknown> | undefined;
  const first = out[0];
  const href = urlHref(first);
  if (typeof first === 'string') at = 1;
  else if (href !== undefined) {
    // A URL of the host's (its own properties could shadow the prototype's getters):
    // a fresh one, which only the adapter holds.
    out[0] = new URL(href);
    at = 1;
  } else if (isObjectArg(first)) {
    urlRead = readKeys(first, URL_KEYS);
    if (urlRead.href && urlRead.protocol && urlRead.auth === undefined && urlRead.path === undefined) {
      out[0] = snapshot(first, urlRead);
      at = 1;
    }
  }
  const options = out[at];
  if (isObjectArg(options)) {
    const read = readKeys(options, ['agent', 'createConnection']);
    // `agent: null` also means Node's global agent.
    if ((read.agent === undefined || read.agent === null) && typeof read.createConnection !== 'function') read.agent = agent;
    // Options in first place: the URL test's keys too, so that Node finds no URL there.
    out[at] = snapshot(options, at === 0 ? { ...urlRead, ...read } : read);
  } else if (typeof options === 'function' || at >= out.length) {
    // No options (`request(url, callback)`, `request(callback)`): one with the agent.
    out.splice(at, 0, { agent });
  } else {
    // Anything else where options go (`null`, `0`, `true`, a string) Node merges as no
    // options, and then takes its global agent: options with the package's instead.
    out[at] = { agent };
  }
  return out;
}

/**
 * Node 24's `http.setGlobalProxyFromEnv(env)` replaces `http.globalAgent`,
 * `https.globalAgent` and undici's global dispatcher with agents that send every request
 * of the process through the proxy `env` names (an object the caller passes): the app's
 * requests and `fetch`es, with their URLs and headers, to a server of a package's
 * choosing (docs/attacks.md, case 138). Granted only by name, as
 * `tls.setDefaultCACertificates` is.
 */
function refusedProxySetter(packageName: string): () => never {
  return function setGlobalProxyFromEnv(): never {
    throw new TypeError(
      `LavaMoat: http.setGlobalProxyFromEnv sends every request of the whole process through a proxy: package "${packageName}" ` +
        'needs "http.setGlobalProxyFromEnv": true in its builtin policy',
    );
  };
}

function httpFor(real: Module, isHttps: boolean, ctx: AdapterContext): Module {
  const RealAgent = real.Agent as Ctor;
  const globalOptions = (real.globalAgent as { options?: object } | undefined)?.options ?? {};
  // The package's own: it may set its options (ssl-root-cas adds to its `ca`) as under plain node.
  const agent = makeForPackage(() => new RealAgent({ ...globalOptions }));
  const request = real.request as (...args: unknown[]) => unknown;
  const get = real.get as (...args: unknown[]) => unknown;
  const adapted: Module = spreadLazily(isHttps ? 'https' : 'http', real, {
    globalAgent: agent,
    request: function request_(...args: unknown[]) {
      return request(...withAgent(args, agent));
    },
    get: function get_(...args: unknown[]) {
      return get(...withAgent(args, agent));
    },
    ...(typeof real.setGlobalProxyFromEnv === 'function' && !ctx.namesMember('setGlobalProxyFromEnv')
      ? { setGlobalProxyFromEnv: refusedProxySetter(ctx.packageName) }
      : {}),
  });
  Object.defineProperty(adapted.request, 'name', { value: 'request' });
  Object.defineProperty(adapted.get, 'name', { value: 'get' });
  if (!isHttps && typeof real.ClientRequest === 'function') {
    const RealClientRequest = real.ClientRequest as Ctor;
    const ClientRequest = function ClientRequest(this: unknown, ...args: unknown[]): object {
      if (new.target === undefined) throw new TypeError("Class constructor ClientRequest cannot be invoked without 'new'");
      return Reflect.construct(RealClientRequest, withAgent(args, agent), new.target);
    };
    Object.defineProperty(ClientRequest, 'prototype', { value: RealClientRequest.prototype, writable: false });
    Object.setPrototypeOf(ClientRequest, Object.getPrototypeOf(RealClientRequest));
    adapted.ClientRequest = Object.freeze(ClientRequest);
  }
  return adapted;
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

/** The module a package's policy then narrows: `real` adapted for package `ctx`, or `real` itself. */
export function adaptBuiltin(name: string, real: unknown, ctx: AdapterContext): unknown {
  const module = real as Module;
  switch (name) {
    case 'worker_threads':
      return spreadLazily(name, module, {
        Worker: workerClassFor(ctx.packageName, ctx.mayRun, ctx.grants('getEnvironmentData')),
        setEnvironmentData: environmentDataSetterFor(module.setEnvironmentData as never, ctx.packageName),
      });
    case 'http':
      return httpFor(module, false, ctx);
    case 'https':
      return httpFor(module, true, ctx);
    case 'diagnostics_channel':
      return diagnosticsChannelFor(real as never);
    case 'async_hooks':
      return asyncHooksFor(real as never);
    case 'timers':
      return spreadLazily(name, module, ctx.timers());
    case 'perf_hooks':
      return spreadLazily(name, module, { PerformanceObserver: restrictPerformanceObserver(module.PerformanceObserver as never) });
    case 'crypto': {
      const overrides = withoutJobReceivers(module);
      if (!ctx.native) {
        overrides.setEngine = function setEngine(): never {
          throw new TypeError(`LavaMoat: crypto.setEngine loads native code: package "${ctx.packageName}" needs "native": true in its policy`);
        };
      }
      return spreadLazily(name, module, overrides);
    }
    case 'tls':
      // The CA certificates every TLS connection of the process verifies against (Node
      // 24+): the app's HTTPS trust, not a package's. Granted only by name.
      if (typeof module.setDefaultCACertificates !== 'function' || ctx.namesMember('setDefaultCACertificates')) return real;
      return spreadLazily(name, module, {
        setDefaultCACertificates: function setDefaultCACertificates(): never {
          throw new TypeError(
            `LavaMoat: tls.setDefaultCACertificates changes which servers the whole process trusts: package "${ctx.packageName}" ` +
              'needs "tls.setDefaultCACertificates": true in its builtin policy',
          );
        },
      });
    default:
      return real;
  }
}


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
 *   `http2`, `net`, `dns` entries carry its request headers, connections and lookups);
 * - `timers`: the same functions as the timer globals (opaque handles; Node's `Timeout`s
 *   link every timer of the process);
 * - `crypto`: `setEngine` (an OpenSSL engine is a shared library) only with `native`.
 * `module` is confined in module-builtin.ts, after the policy narrowed it.
 */
import { asyncHooksFor, diagnosticsChannelFor, restrictPerformanceObserver } from './observation.js';
import { workerClassFor } from './workers.js';

type Module = Record<string, unknown>;
type Ctor = new (...args: unknown[]) => object;

export interface AdapterContext {
  packageName: string;
  /** Whether the package may load (and so run as a worker) the file at this real path. */
  mayRun(file: string): boolean;
  /** The package's policy grants `native` (OpenSSL engines are native code). */
  native: boolean;
  /** The timer functions packages get (shared-globals.ts): opaque handles, not Node's `Timeout`s. */
  timers: Readonly<Record<string, Function>>;
}

/** Node's own test for a URL given to `http.request` (`internal/url` `isURL`). */
const isURLLike = (value: unknown): boolean =>
  value instanceof URL ||
  (typeof value === 'object' &&
    value !== null &&
    Boolean((value as { href?: unknown }).href) &&
    Boolean((value as { protocol?: unknown }).protocol) &&
    (value as { auth?: unknown }).auth === undefined &&
    (value as { path?: unknown }).path === undefined);

/**
 * `request(input[, options][, callback])` arguments with `agent` defaulting to the
 * package's own (an explicit agent, `false` or `createConnection` is left as given).
 */
function withAgent(args: unknown[], agent: object): unknown[] {
  const out = [...args];
  const at = typeof out[0] === 'string' || isURLLike(out[0]) ? 1 : 0;
  const options = out[at];
  if (typeof options === 'object' && options !== null) {
    const given = options as { agent?: unknown; createConnection?: unknown };
    // `agent: null` also means Node's global agent.
    if ((given.agent === undefined || given.agent === null) && typeof given.createConnection !== 'function') out[at] = { ...options, agent };
  } else if (options === undefined || typeof options === 'function') {
    // No options object (`request(url, callback)`, `request(callback)`): one with the agent.
    if (options === undefined && at < out.length) out[at] = { agent };
    else out.splice(at, 0, { agent });
  }
  return out;
}

function httpFor(real: Module, isHttps: boolean): Module {
  const RealAgent = real.Agent as Ctor;
  const globalOptions = (real.globalAgent as { options?: object } | undefined)?.options ?? {};
  const agent = new RealAgent({ ...globalOptions });
  const request = real.request as (...args: unknown[]) => unknown;
  const get = real.get as (...args: unknown[]) => unknown;
  const adapted: Module = {
    ...real,
    globalAgent: agent,
    request: function request_(...args: unknown[]) {
      return request(...withAgent(args, agent));
    },
    get: function get_(...args: unknown[]) {
      return get(...withAgent(args, agent));
    },
  };
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

/** The module a package's policy then narrows: `real` adapted for package `ctx`, or `real` itself. */
export function adaptBuiltin(name: string, real: unknown, ctx: AdapterContext): unknown {
  const module = real as Module;
  switch (name) {
    case 'worker_threads':
      return { ...module, Worker: workerClassFor(ctx.packageName, ctx.mayRun) };
    case 'http':
      return httpFor(module, false);
    case 'https':
      return httpFor(module, true);
    case 'diagnostics_channel':
      return diagnosticsChannelFor(real as never);
    case 'async_hooks':
      return asyncHooksFor(real as never);
    case 'timers':
      return { ...module, ...ctx.timers };
    case 'perf_hooks':
      return { ...module, PerformanceObserver: restrictPerformanceObserver(module.PerformanceObserver as never) };
    case 'crypto':
      if (ctx.native) return real;
      return {
        ...module,
        setEngine: function setEngine(): never {
          throw new TypeError(`LavaMoat: crypto.setEngine loads native code: package "${ctx.packageName}" needs "native": true in its policy`);
        },
      };
    default:
      return real;
  }
}


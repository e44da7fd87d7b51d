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
 *   `setFips` (OpenSSL's FIPS mode, the whole process's) only when the policy names it;
 *   callbacks called without Node's native job as `this`;
 * - `http` (Node 24): `setGlobalProxyFromEnv` only when the policy names it;
 * - `sqlite`: a `DatabaseSync` that loads SQLite extensions (shared libraries:
 *   `allowExtension`, then `loadExtension(path)`) only with `native`.
 * - `dns`, `dns/promises`: `setServers` and `setDefaultResultOrder` (the default
 *   resolver and lookup order of the whole process) only when the policy names them;
 * - `timers` (Node 20, 22): no `enroll`, `active`, `_unrefActive`, `unenroll` (they link a
 *   package's object into the process's timer lists);
 * - `tty`: `ReadStream` and `WriteStream` only on descriptors that are terminals;
 * - `net`: `Socket`, `connect` and `createConnection` without a descriptor (`fd`), and
 *   `http2.connect` (whose socket is `net.connect`'s); `setDefaultAutoSelectFamily` and
 *   `setDefaultAutoSelectFamilyAttemptTimeout` (how every connection of the process is
 *   made) only when the policy names them;
 * - `v8`: `setFlagsFromString` only with flags that tune the heap and its collector
 *   (`--expose-gc`, heap sizes), unless the policy grants `native`: V8's other flags
 *   change what code may do (`--allow-natives-syntax` gives every compartment V8's
 *   runtime functions, `%DynamicImportCall` among them: Node's own `import()`);
 *   `promiseHooks` whose hooks receive opaque tokens for the process's promises
 *   (observation.ts);
 * - `cluster` (in a worker): `worker` as a read-only view, whose `process` (the real
 *   process) is an opaque token;
 * `module` is confined in module-builtin.ts, after the policy narrowed it.
 */
import { asyncHooksFor, diagnosticsChannelFor, promiseHooksFor } from './observation.js';
import { restrictPerformanceObserver } from './performance-observation.js';
import { environmentDataSetterFor, portReceiverFor, threadPosterFor, workerClassFor } from './workers.js';
import { defineLazy, isLazyExport, spreadLazily } from './lazy-copy.js';
import { makeForPackage } from './agent-guards.js';
import { broadcastChannelFor } from './broadcast-channels.js';
import { locksFor } from './lock-managers.js';
import { consoleFor } from './shared-globals.js';
import { hostLeaf } from './views.js';

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
    const copy = snapshot(options, at === 0 ? { ...urlRead, ...read } : read) as Record<string, unknown>;
    // An `fd` reaches node:net's Socket (which Node's agent makes with the request's
    // options): the app's descriptor, opened as the request's socket (case 194).
    if (Object.hasOwn(copy, 'fd') && copy.fd !== undefined) {
      throw new TypeError("LavaMoat: an HTTP request's socket is a connection Node opens: a file descriptor (fd) is refused");
    }
    out[at] = copy;
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

/**
 * The options of the app's global agent that are its client identity (mutual TLS: the
 * private key, its passphrase, the certificate, a PKCS#12 bundle, a secure context made
 * of them, an engine's key): a package's agent, which copies the rest (the app's `ca`,
 * `rejectUnauthorized`, timeouts), does not get them. Copied, a package granted `https`
 * read the app's private key and passphrase from its own `https.globalAgent.options`
 * (docs/attacks.md, case 224).
 */
const CLIENT_IDENTITY = new Set(['key', 'cert', 'pfx', 'passphrase', 'secureContext', 'privateKeyIdentifier', 'privateKeyEngine', 'clientCertEngine']);

function withoutClientIdentity(options: object): object {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!CLIENT_IDENTITY.has(key)) copy[key] = value;
  return copy;
}

function httpFor(real: Module, isHttps: boolean, ctx: AdapterContext): Module {
  const RealAgent = real.Agent as Ctor;
  const globalOptions = (real.globalAgent as { options?: object } | undefined)?.options ?? {};
  // The package's own: it may set its options (ssl-root-cas adds to its `ca`) as under plain node.
  const agent = makeForPackage(() => new RealAgent(withoutClientIdentity(globalOptions)));
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
 * `dns.setServers(servers)` and `dns.setDefaultResultOrder(order)` (and dns/promises'
 * twins) change the default resolver of the whole process: every `dns.resolve*()` of the
 * app (a `mongodb+srv:` lookup, an MX check) then asks a server of a package's choosing,
 * and the app's lookups return addresses in another order (docs/attacks.md, case 190).
 * A `Resolver` of the package's own keeps its `setServers`. Granted only by name, as
 * `http.setGlobalProxyFromEnv` is: `"dns.setServers"`, `"dns/promises.setServers"`, or
 * under `dns.promises`.
 */
const RESOLVER_SETTERS = ['setServers', 'setDefaultResultOrder'] as const;
function dnsFor(name: string, module: Module, ctx: AdapterContext, prefix = ''): Module {
  const overrides: Module = {};
  for (const key of RESOLVER_SETTERS) {
    if (typeof module[key] !== 'function' || ctx.namesMember(prefix + key)) continue;
    overrides[key] = {
      [key](): never {
        throw new TypeError(
          `LavaMoat: ${name}.${prefix}${key} changes the DNS resolution of the whole process: package "${ctx.packageName}" ` +
            `needs "${name}.${prefix}${key}": true in its builtin policy`,
        );
      },
    }[key];
  }
  const copy = spreadLazily(name, module, overrides);
  // `dns.promises` is dns/promises' module object (a lazy export): adapted as it is read.
  if (name === 'dns' && Object.hasOwn(module, 'promises')) {
    defineLazy(copy, 'promises', () => {
      const promises = Reflect.get(module, 'promises', module) as unknown;
      return typeof promises === 'object' && promises !== null ? dnsFor(name, promises as Module, ctx, 'promises.') : promises;
    });
  }
  return copy;
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
 * tty's `ReadStream(fd)` and `WriteStream(fd)` make a stream on any descriptor libuv
 * takes for a terminal handle, which is not only a terminal: a socket or a pipe the app
 * has open (its server's connections, its client's) is written and read as the package's
 * stream (docs/attacks.md, case 192); `ReadStream`'s options are spread over the
 * socket's, so `{ handle: undefined, fd }` opened any socket descriptor through a
 * terminal one. A package's classes take only descriptors that are terminals
 * (`tty.isatty`, which Node's `process.stdout` uses to choose the class), and
 * `ReadStream`'s options without `handle` and `fd`. Their `prototype` is Node's
 * (`instanceof`, subclasses).
 */
function ttyFor(module: Module, packageName: string): Module {
  const isatty = module.isatty as (fd: unknown) => boolean;
  const overrides: Module = {};
  // Node's classes extend node:net's Socket: their parent (`Object.getPrototypeOf`) was
  // the network with no `net` grant. The package's have an inert one in its place.
  const socketOf = (Real: Ctor): Function => {
    const NetSocket = Object.getPrototypeOf(Real) as Ctor;
    const Inert = function Socket(): never {
      throw new TypeError(`LavaMoat: net.Socket is not tty's to hand out: package "${packageName}" needs the 'net' builtin in its policy`);
    };
    Object.defineProperty(Inert, 'prototype', { value: NetSocket.prototype, writable: false });
    Object.setPrototypeOf(Inert, Object.getPrototypeOf(NetSocket));
    return Object.freeze(Inert);
  };
  for (const key of ['ReadStream', 'WriteStream'] as const) {
    const Real = module[key] as Ctor | undefined;
    if (typeof Real !== 'function') continue;
    const Stream = function (this: unknown, fd: unknown, options?: unknown): object {
      if (!isatty(fd)) {
        throw new TypeError(
          `LavaMoat: tty.${key} opens descriptor ${typeof fd === 'number' ? fd : typeof fd}, which is not a terminal: refused for package "${packageName}"`,
        );
      }
      const args: unknown[] = [fd];
      if (key === 'ReadStream' && isObjectArg(options)) {
        const copy: Record<PropertyKey, unknown> = {};
        for (const option of Reflect.ownKeys(options)) {
          if (option === 'handle' || option === 'fd' || !Object.prototype.propertyIsEnumerable.call(options, option)) continue;
          copy[option] = options[option];
        }
        args.push(copy);
      }
      return Reflect.construct(Real, args, new.target ?? Stream);
    };
    Object.defineProperty(Stream, 'name', { value: key });
    Object.defineProperty(Stream, 'prototype', { value: Real.prototype, writable: false });
    Object.defineProperty(Stream, 'length', { value: Real.length });
    Object.setPrototypeOf(Stream, socketOf(Real));
    overrides[key] = Object.freeze(Stream);
  }
  return spreadLazily('tty', module, overrides);
}

/**
 * node:net's `Socket` (`Stream`, the same class) made with an `fd` (an options object's,
 * or the legacy number) opens that descriptor as a socket or a pipe: any descriptor of
 * the process that the app's event loop is not reading, the write end of a pipe into a
 * child the app started among them (its `stdin`: a shell, `psql`, `git cat-file --batch`),
 * which the package then writes commands to (docs/attacks.md, case 194). `connect` and
 * `createConnection` make such a socket too. A package's `net` takes no descriptor: its
 * sockets are the connections it opens. Options are read once, as Node reads them (a
 * copy of their own enumerable properties, which Node spreads again).
 */
function withoutDescriptor(options: unknown, what: string, packageName: string): unknown {
  const refuse = (): never => {
    throw new TypeError(
      `LavaMoat: ${what} with a file descriptor (fd) opens a descriptor of the whole process (the app's sockets and pipes): refused for package "${packageName}"`,
    );
  };
  if (typeof options === 'number') refuse();
  if (!isObjectArg(options)) return options;
  const copy: Record<PropertyKey, unknown> = { ...options };
  if (copy.fd !== undefined) refuse();
  return copy;
}

/**
 * `net.setDefaultAutoSelectFamily(value)` and `setDefaultAutoSelectFamilyAttemptTimeout(ms)`
 * set how every connection of the process that does not say otherwise is made (the app's,
 * its HTTP agents' and undici's `fetch`: whether a host's IPv6 and IPv4 addresses are
 * tried in turn, and how long each attempt waits), as dns.setDefaultResultOrder sets the
 * order of its lookups (docs/attacks.md, case 221). A package's own connections take the
 * options (`autoSelectFamily`, `autoSelectFamilyAttemptTimeout`). Granted only by name.
 */
const CONNECTION_DEFAULT_SETTERS = ['setDefaultAutoSelectFamily', 'setDefaultAutoSelectFamilyAttemptTimeout'] as const;

function netFor(module: Module, ctx: AdapterContext): Module {
  const { packageName } = ctx;
  const overrides: Module = {};
  for (const key of CONNECTION_DEFAULT_SETTERS) {
    if (typeof module[key] !== 'function' || ctx.namesMember(key)) continue;
    overrides[key] = {
      [key](): never {
        throw new TypeError(
          `LavaMoat: net.${key} changes how every connection of the whole process is made: package "${packageName}" ` +
            `needs "net.${key}": true in its builtin policy (or the option on its own connections)`,
        );
      },
    }[key];
  }
  const RealSocket = module.Socket as Ctor | undefined;
  if (typeof RealSocket === 'function') {
    const Socket = function (this: unknown, options?: unknown): object {
      return Reflect.construct(RealSocket, [withoutDescriptor(options, 'net.Socket', packageName)], new.target ?? Socket);
    };
    Object.defineProperty(Socket, 'name', { value: 'Socket' });
    Object.defineProperty(Socket, 'prototype', { value: RealSocket.prototype, writable: false });
    Object.defineProperty(Socket, 'length', { value: RealSocket.length });
    Object.setPrototypeOf(Socket, Object.getPrototypeOf(RealSocket));
    Object.freeze(Socket);
    overrides.Socket = Socket;
    if (module.Stream === RealSocket) overrides.Stream = Socket;
  }
  for (const key of ['connect', 'createConnection'] as const) {
    const real = module[key] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof real !== 'function') continue;
    overrides[key] = {
      [key](...args: unknown[]): unknown {
        // `connect(port, host)`, `connect(path)`: a number there is a port, not a descriptor.
        if (isObjectArg(args[0])) args[0] = withoutDescriptor(args[0], `net.${key}`, packageName);
        return Reflect.apply(real, undefined, args);
      },
    }[key];
    Object.defineProperty(overrides[key], 'length', { value: real.length });
  }
  return spreadLazily('net', module, overrides);
}

/** http2's `connect(authority, options)` makes its socket with `net.connect({ port, host, ...options })`: no `fd` either. */
function http2For(module: Module, packageName: string): Module {
  const connect = module.connect as ((...args: unknown[]) => unknown) | undefined;
  if (typeof connect !== 'function') return module;
  return spreadLazily('http2', module, {
    connect: {
      connect(...args: unknown[]): unknown {
        if (isObjectArg(args[1])) args[1] = withoutDescriptor(args[1], 'http2.connect', packageName);
        return Reflect.apply(connect, undefined, args);
      },
    }.connect,
  });
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
      const overrides = withoutJobReceivers(module);
      if (!ctx.native) {
        overrides.setEngine = function setEngine(): never {
          throw new TypeError(`LavaMoat: crypto.setEngine loads native code: package "${ctx.packageName}" needs "native": true in its policy`);
        };
      }
      // FIPS mode is OpenSSL's, for the whole process: on, the app's MD5 and every
      // algorithm FIPS leaves out fail; off, an app that turned it on for compliance runs
      // without it (case 271). Granted only by name, as dns.setServers.
      if (typeof module.setFips === 'function' && !ctx.namesMember('setFips')) {
        overrides.setFips = function setFips(): never {
          throw new TypeError(
            `LavaMoat: crypto.setFips turns OpenSSL's FIPS mode on or off for the whole process: package "${ctx.packageName}" ` +
              'needs "crypto.setFips": true in its builtin policy',
          );
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


/**
 * The networking and terminal builtins' adaptations for a package (builtin-adapters.ts
 * chooses which module gets which): `http`/`https` with an agent of the package's own
 * and without the app's client identity, `net` and `tty` without the app's descriptors,
 * `http2.connect` likewise, `dns`'s process-wide setters only when named, and the
 * process's connection defaults only when named. Why each: builtin-adapters.ts's header
 * and docs/design.md's boundary table.
 */
import { defineLazy, spreadLazily } from './lazy-copy.js';
import { refusedSettings } from './process-settings.js';
import { makeForPackage } from './agent-guards.js';
import type { Module, Ctor, AdapterContext } from './builtin-adapters.js';

/** What Node's own test for a URL given to `http.request` reads (`internal/url` `isURL`). */
const URL_KEYS = ['href', 'protocol', 'auth', 'path'] as const;

export const isObjectArg = (value: unknown): value is Record<PropertyKey, unknown> => typeof value === 'object' && value !== null;

/**
 * A copy of a package's argument object for Node to use: its prototype, its own
 * enumerable properties (what Node's `Object.assign` of options copies), and `pinned`
 * as own data. Whatever Node decides from a pinned key, it decides from the value the
 * adapter checked: no getter, own or inherited, and no proxy answers twice.
 */
export function snapshot(value: Record<PropertyKey, unknown>, pinned: Record<string, unknown>): object {
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

export function httpFor(real: Module, isHttps: boolean, ctx: AdapterContext): Module {
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
    // setGlobalProxyFromEnv (Node 24), setMaxIdleHTTPParsers: process-settings.ts.
    ...refusedSettings(isHttps ? 'https' : 'http', real, ctx),
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
 * dns and dns/promises with the setters of the process's default resolver refused unless
 * named (process-settings.ts): `"dns.setServers"`, `"dns/promises.setServers"`, or under
 * `dns.promises`. A `Resolver` of the package's own keeps its `setServers`.
 */
export function dnsFor(name: string, module: Module, ctx: AdapterContext, prefix = ''): Module {
  const overrides = refusedSettings(name, module, ctx, prefix);
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
export function ttyFor(module: Module, packageName: string): Module {
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

export function netFor(module: Module, ctx: AdapterContext): Module {
  const { packageName } = ctx;
  // setDefaultAutoSelectFamily(AttemptTimeout): process-settings.ts.
  const overrides = refusedSettings('net', module, ctx);
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
export function http2For(module: Module, packageName: string): Module {
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

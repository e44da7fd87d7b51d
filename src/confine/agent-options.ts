/**
 * Main thread. The options of HTTP agents Node or the app made, and the client identity
 * in them (agent-guards.ts installs these; the rule is there): an agent's `options` are
 * merged into every connection it opens, its proxy decides where its requests go, and
 * the key, certificate and passphrase of a mutual-TLS client are the app's identity.
 */
import { callerSitesOf } from './stack-traces.js';
import { isObject } from './host-hardening.js';
import { callerChecked } from './frameless-calls.js';
import { agentHost, AgentMisuseError, HTTP_AGENT, isNode, isRuntime, kindOf, makers } from './agent-makers.js';

let proxyConfigKey: symbol | undefined;

/** Node 22.21+/24: the key under which an agent keeps its proxy (when made with `proxyEnv`), read from one made so before the guards. */
export function findProxyConfigKey(Agent: Function): void {
  try {
    proxyConfigKey = Object.getOwnPropertySymbols(Reflect.construct(Agent, [{ proxyEnv: {} }])).find((key) => key.description === 'kProxyConfig');
  } catch {
    proxyConfigKey = undefined;
  }
}

/**
 * Node's and the app's agents: the proxy an agent made with `proxyEnv` sends every request
 * through (`http.globalAgent`'s under `NODE_USE_ENV_PROXY`), set once by Node's
 * constructor and frozen: a package handed a request set
 * `agent[kProxyConfig].proxyConnectionOptions.port` (or the whole) and the app's next
 * requests, credentials included, went to its host as their proxy (Node 22, 24; case 161).
 * `made`: the agent exists already (the global one), its proxy set.
 */
export function pinProxyConfig(agent: unknown, made = false): void {
  const key = proxyConfigKey;
  if (key === undefined || !isObject(agent)) return;
  const current = Reflect.getOwnPropertyDescriptor(agent, key);
  if (current !== undefined && !current.configurable) return;
  if (made && current === undefined) return;
  let config: unknown = current !== undefined ? frozenConfig(current.value) : undefined;
  let set = current !== undefined;
  const accessor = {
    get(): unknown {
      return config;
    },
    set(next: unknown): void {
      const [caller] = callerSitesOf(agentHost.error!, accessor.set, 1);
      if (set || caller?.file !== HTTP_AGENT || caller.name !== 'Agent') {
        throw new AgentMisuseError("LavaMoat: the proxy of an HTTP agent Node or the app made is set once, by Node's Agent constructor");
      }
      config = frozenConfig(next);
      set = true;
    },
  };
  Object.defineProperty(agent, key, { get: accessor.get, set: accessor.set, enumerable: true, configurable: false });
}

function frozenConfig(config: unknown): unknown {
  if (!isObject(config)) return config;
  for (const key of Reflect.ownKeys(config)) {
    const item = Reflect.getOwnPropertyDescriptor(config, key);
    if (item && 'value' in item && isObject(item.value)) Object.freeze(item.value);
  }
  return Object.freeze(config);
}

/**
 * Node's and the app's agents: `options` (merged into every connection an agent opens:
 * `host`, `port`, `socketPath`, `lookup`, https's `ca` and `rejectUnauthorized`) written
 * only by Node's code and the app's. Shared by all the agent's requests, the options of
 * `http.globalAgent` reach every request of the app: a package handed one request (a
 * client hook, a logger, granted nothing) set `req.agent.options.host` and the app's
 * next requests, headers and credentials with them, went to its host (attack case 161).
 * The object becomes a proxy whose writes check their caller (a builtin's frame, as
 * `Object.assign`'s, counts as a package's: a bound one adds no frame), held by a
 * read-only property of the agent (its options are changed in place, not replaced). A
 * package's agents keep theirs plain: agentkeepalive's kind sets its own.
 */
const pinned = new WeakSet<object>();

export function optionsSetter(this: unknown, value: unknown): void {
  if (!isObject(this)) return;
  const maker = makers.get(this);
  if (maker === 'node' || maker === 'app') {
    const [caller] = callerSitesOf(agentHost.error!, optionsSetter, 1);
    if (caller?.file === HTTP_AGENT && caller.name === 'Agent') {
      pinOptions(this, value);
      return;
    }
  }
  Object.defineProperty(this, 'options', { value, writable: true, enumerable: true, configurable: true });
}

export function pinOptions(agent: unknown, value: unknown = isObject(agent) ? Reflect.get(agent, 'options') : undefined): void {
  if (!isObject(agent) || pinned.has(agent)) return;
  const current = Reflect.getOwnPropertyDescriptor(agent, 'options');
  if (current !== undefined && !current.configurable) return;
  // Read-only: a setter would be a function a package could bind to the agent and options
  // of its choosing and hand the app to call (a bound function adds no frame).
  Object.defineProperty(agent, 'options', { value: guardedOptions(value), writable: false, enumerable: true, configurable: false });
  pinned.add(agent);
}

function checkWriter(trap: Function): void {
  const [caller] = callerSitesOf(agentHost.error!, trap, 1);
  // Node's code and the app's write them; no frame at all is no one's.
  if (caller !== undefined && kindOf(caller) !== 'package') return;
  throw new AgentMisuseError(
    "LavaMoat: the options of an HTTP agent Node or the app made are changed only by Node's code and the app's own (not a package's, nor a builtin's such as Object.assign, which may run for one): they go into every connection the agent opens for the app's requests (a package makes an agent of its own with new http.Agent, granted http)",
  );
}

/**
 * What Node reads of an agent's `proxyEnv` (`parseProxyConfigFromEnv`, the same six names
 * as Node 22's `filterEnvForProxies`).
 */
const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'] as const;

/**
 * An agent's `proxyEnv` is the environment it takes its proxy from: Node 24's global
 * agents under `--use-env-proxy` (`NODE_USE_ENV_PROXY`) hold `process.env` itself there,
 * as does an agent the app makes with `proxyEnv: process.env` (Node's documented form).
 * Options travel (a package's own `http` copies the global agent's; a handed request
 * leads to its agent's): a package granted `http`, or handed one response, read every
 * variable of the process with no `process.env` grant, and wrote any, past the env view
 * (`NODE_TLS_REJECT_UNAUTHORIZED`, `NODE_OPTIONS`: case 223). Node reads it once, in the
 * constructor, after assigning the options: it then reads a frozen copy of the proxy
 * variables, which gives the same proxy.
 */
function proxyVariablesOf(options: object): void {
  const env: unknown = Reflect.get(options, 'proxyEnv');
  if (!isObject(env)) return;
  const copy: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const name of PROXY_VARIABLES) copy[name] = Reflect.get(env, name);
  Reflect.defineProperty(options, 'proxyEnv', { value: Object.freeze(copy), writable: true, enumerable: true, configurable: true });
}

function guardedOptions(value: unknown): unknown {
  if (!isObject(value)) return value;
  proxyVariablesOf(value);
  // The client identity is kept out of the object the proxy stands for: a property's
  // descriptor (`Object.getOwnPropertyDescriptor`, which no `get` sees) and util.inspect
  // (which formats a proxy's target, not the proxy) gave it to any package handed a
  // response (case 343). The traps answer for it as if it were there.
  const secrets = new Map<string, { value: unknown; enumerable: boolean; writable: boolean }>();
  for (const key of CLIENT_IDENTITY_OPTIONS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
    if (descriptor === undefined || !('value' in descriptor) || !descriptor.configurable || !Object.isExtensible(value)) continue;
    secrets.set(key, { value: descriptor.value, enumerable: descriptor.enumerable === true, writable: descriptor.writable === true });
    Reflect.deleteProperty(value, key);
  }
  const secretOf = (key: string | symbol) => (typeof key === 'string' ? secrets.get(key) : undefined);
  /** Where an identity option the app sets later is kept (`https.globalAgent.options.key = ...`, case 224): with the others. */
  const keepable = (target: object, key: string | symbol): key is string =>
    typeof key === 'string' && CLIENT_IDENTITY_OPTIONS.has(key) && Object.isExtensible(target) && Reflect.getOwnPropertyDescriptor(target, key) === undefined;
  const handler: ProxyHandler<object> = {
    get(target, key, receiver) {
      const secret = secretOf(key);
      if (secret !== undefined) return secret.value === undefined || readForTheApp(handler.get!) ? secret.value : undefined;
      const value: unknown = Reflect.get(target, key, receiver === proxy ? target : receiver);
      // The app's client identity (mutual TLS), merged by Node's addRequest into the
      // app's requests: not for a package handed a response (case 276).
      if (value === undefined || typeof key !== 'string' || !CLIENT_IDENTITY_OPTIONS.has(key) || readForTheApp(handler.get!)) return value;
      return undefined;
    },
    has(target, key) {
      return secretOf(key) !== undefined || Reflect.has(target, key);
    },
    ownKeys(target) {
      const keys = Reflect.ownKeys(target);
      for (const key of secrets.keys()) if (!keys.includes(key)) keys.push(key);
      return keys;
    },
    getOwnPropertyDescriptor(target, key) {
      const secret = secretOf(key);
      // Its value only through `get` (a spread reads the descriptor, then gets).
      if (secret !== undefined) return { value: undefined, writable: secret.writable, enumerable: secret.enumerable, configurable: true };
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    set(target, key, next, receiver) {
      checkWriter(handler.set!);
      const secret = secretOf(key);
      if (secret !== undefined && (receiver === proxy || receiver === target)) {
        if (!secret.writable) return false;
        secret.value = next;
        return true;
      }
      if ((receiver === proxy || receiver === target) && keepable(target, key)) {
        secrets.set(key, { value: next, enumerable: true, writable: true });
        return true;
      }
      return Reflect.set(target, key, next, receiver === proxy ? target : receiver);
    },
    defineProperty(target, key, descriptor) {
      checkWriter(handler.defineProperty!);
      if (secretOf(key) !== undefined) {
        // Back on the object as defined (a data property with `value` stays kept).
        const secret = secretOf(key)!;
        if ('value' in descriptor && descriptor.get === undefined && descriptor.set === undefined && descriptor.configurable !== false) {
          secret.value = descriptor.value;
          if (descriptor.writable !== undefined) secret.writable = descriptor.writable;
          if (descriptor.enumerable !== undefined) secret.enumerable = descriptor.enumerable;
          return true;
        }
        secrets.delete(key as string);
        Reflect.defineProperty(target, key, { value: secret.value, writable: secret.writable, enumerable: secret.enumerable, configurable: true });
      } else if (keepable(target, key) && 'value' in descriptor && descriptor.configurable === true) {
        secrets.set(key, { value: descriptor.value, enumerable: descriptor.enumerable === true, writable: descriptor.writable === true });
        return true;
      }
      return Reflect.defineProperty(target, key, descriptor);
    },
    deleteProperty(target, key) {
      checkWriter(handler.deleteProperty!);
      if (secretOf(key) !== undefined) return secrets.delete(key as string);
      return Reflect.deleteProperty(target, key);
    },
    setPrototypeOf(target, proto) {
      checkWriter(handler.setPrototypeOf!);
      return Reflect.setPrototypeOf(target, proto);
    },
    preventExtensions(target) {
      checkWriter(handler.preventExtensions!);
      // Kept keys go back first (a proxy of a non-extensible object lists only its own).
      for (const [key, secret] of secrets) Reflect.defineProperty(target, key, { value: secret.value, writable: secret.writable, enumerable: secret.enumerable, configurable: true });
      secrets.clear();
      return Reflect.preventExtensions(target);
    },
  };
  const proxy = new Proxy(value, handler);
  return proxy;
}

/**
 * The options that are a client's identity (mutual TLS: the private key, its passphrase, a
 * PKCS#12 bundle, an engine's key): an agent the app made with them (or its global agent,
 * given them) merges them into each of its requests (Node's `addRequest`, under the app's
 * call), and a package handed one response read them from `res.req.agent.options`, and
 * from the names https gives the agent's pools, which hold the PEM (case 276).
 */
const CLIENT_IDENTITY_OPTIONS: ReadonlySet<string> = new Set(['key', 'pfx', 'passphrase', 'privateKeyIdentifier', 'privateKeyEngine']);

/**
 * A read of an identity option: Node's agent code right below (`addRequest` and
 * `createSocket` merge the options into each request's, whoever made the request: an
 * HTTP client library the app hands its agent, axios's `httpsAgent`), or the app's code
 * (the first frame that is neither Node's nor the runtime's names a file).
 */
function readForTheApp(fn: Function): boolean {
  const sites = callerSitesOf(agentHost.error!, fn, 16);
  if (sites[0]?.file === HTTP_AGENT) return true;
  for (const site of sites) {
    if (isNode(site) || isRuntime(site)) continue;
    return kindOf(site) === 'app';
  }
  return false;
}

let digestOf: ((value: string | Uint8Array) => string) | undefined;

/**
 * A value of an identity option as https's `getName` may write it: its digest, not its
 * bytes. A list's objects (`key: [{ pem, passphrase }]`, `pfx: [{ buf, passphrase }]`, as
 * tls documents them) have their `pem`, `buf` and `passphrase` digested: Node 22 and 24
 * write each into the name as it is (case 341).
 */
function digested(value: unknown, inList = false): unknown {
  if (typeof value === 'string' || value instanceof Uint8Array) return `sha256:${digestOf!(value)}`;
  if (Array.isArray(value)) return value.map((item) => digested(item, true));
  if (inList && isObject(value) && !ArrayBuffer.isView(value)) {
    // Read as Node reads them, in a copy made for this name only.
    const source = value as Record<string, unknown>;
    return { pem: digested(source.pem), buf: digested(source.buf), passphrase: digested(source.passphrase) };
  }
  return value;
}

/**
 * https's `getName(options)` (the key of an agent's pools and sessions, which anyone
 * holding the agent reads: `Object.keys(agent.sockets)`) writes each option it names
 * into the name, the private key's PEM too (base64-encoded on Node 24): made of a digest
 * of each identity option instead, which keeps names apart as the keys do.
 */
export function digestIdentityInNames(proto: Record<string, unknown>, digest: (value: string | Uint8Array) => string): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, 'getName');
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) return;
  digestOf = digest;
  const getName = {
    getName(this: unknown, options?: unknown, ...rest: unknown[]): unknown {
      if (isObject(options)) {
        let copy: Record<string, unknown> | undefined;
        for (const key of CLIENT_IDENTITY_OPTIONS) {
          const value: unknown = Reflect.get(options, key);
          if (value === undefined || value === null) continue;
          copy ??= { ...(options as Record<string, unknown>) };
          copy[key] = digested(value);
        }
        if (copy !== undefined) return Reflect.apply(real, this, [copy, ...rest]);
      }
      return Reflect.apply(real, this, [options, ...rest]);
    },
  }.getName;
  Object.defineProperty(getName, 'length', { value: real.length });
  Object.defineProperty(proto, 'getName', { ...descriptor, value: callerChecked(getName) });
}


/**
 * Main thread. HTTP agents: Node's connection factories, driven only by Node's own
 * request flow, or by the kind of code that made them.
 *
 * Why: an agent makes real sockets to whatever host it is asked: `createConnection` is
 * `net.createConnection` (https's, `tls.connect`), `createSocket` and `addRequest` reach
 * it. Every client request carries one (`req.agent`, usually the process's
 * `http.globalAgent`), so a package the app hands a request (an HTTP client hook, a
 * logger) could open connections anywhere with no `net` or `http` grant (attack case 73),
 * and `new agent.constructor()` made it a fresh agent of its own.
 *
 * How: who made each agent is noted as it is made (its constructor's own `this
 * instanceof Agent` check, read from V8's call sites as net-brands.ts does): Node (the
 * global agents, `agent: false`'s), the app (code with a file of its own), or a package
 * (code evaluated in a compartment, which has none; stack-traces.ts). Then:
 * - each request Node's `ClientRequest` gives its agent (`addRequest`, called from
 *   node:_http_client) is noted, and the agent it was made with ({@link noteClientRequests});
 * - `createSocket` makes a socket only for such a request, and only if it never had one (a
 *   queue entry of a package's making, or a request served already, gets none);
 * - code outside Node may call the three methods only on an agent its own kind made: a
 *   package granted `http` drives the agents it made (agent-base, agentkeepalive call
 *   `super.createSocket`), the app its own; on an agent Node or the app made, a package
 *   may only pass on a request not yet given a socket whose first agent was a package's
 *   or the app's (agent-base handing a request to `http.globalAgent`);
 * - `createConnection` (no request to check) runs for such code only while the agent's own
 *   `createSocket` is making a socket for a request (a subclass's `createConnection`
 *   calling its parent's): every package is one kind, and a bound method adds no frame.
 * - `agent.constructor` constructs for Node's `ClientRequest` only (`agent: false`):
 *   capability-classes.ts;
 * - the `options` of agents Node or the app made (merged into every connection they open)
 *   are written only by Node's and the app's code ({@link pinOptions}), and their proxy is
 *   set once, by Node ({@link pinProxyConfig}); Node's global agents take no new
 *   property or listener ({@link lockGlobalAgent}).
 * Frames of anything else (a timer or an event calling a bound method, a builtin such as
 * `Array.prototype.map`) are refused.
 *
 * Not covered: a package handed a request still waiting for a socket can change where it
 * goes (the request is the app's, handed to it); the other fields and methods of the app's
 * agents (`getName`, `requests`, `freeSockets`: they mix the pools of the app's hosts,
 * naming none of a package's); agents a package made, which any package's frame may
 * change (every package is one kind); the global agents' socket maps (case 125). A method
 * of an agent the app made, bound by a package and handed back for the app's own code to
 * call, runs as the app's call where Node's checks above do not apply.
 */
import process from 'node:process';
import { callerSitesOf, type CallerSite } from './stack-traces.js';
import { ReturnArgument, isObject } from './host-hardening.js';
import { callerChecked } from './frameless-calls.js';

type ErrorConstructorLike = Parameters<typeof callerSitesOf>[0];
type Maker = 'node' | 'app' | 'package';

export class AgentMisuseError extends TypeError {
  code = 'LAVAMOAT_AGENT_NOT_OURS';
}

/** Agents seen (at their making, or later if made before the guards), by who made them. */
const makers = new WeakMap<object, Maker>();
/**
 * Requests an agent may make a socket for, from Node's side (`createSocket` called by
 * node:_http_agent): those Node's ClientRequest gave an agent through `addRequest`, or
 * that code gave an agent it may drive, or passed on (see the `addRequest` guard).
 */
const requests = new WeakMap<object, object>();
/** The agent each request was made with, as its `agent` was first set (by anyone: a claim). */
const claimed = new WeakMap<object, object>();
/** Requests given a socket (or one being made for them). */
const socketed = new WeakSet<object>();
/**
 * Agents whose own `createSocket` is running, for a request it may serve (innermost
 * last): a package's subclass calls `super.createConnection` from the `createConnection`
 * Node's `createSocket` calls (agentkeepalive).
 */
const creating: object[] = [];

/** This bundle's own frames (the inert twin that constructs for `agent: false`) are no one's. */
const runtimeDir = new URL('.', import.meta.url).href;
const isRuntime = (site: CallerSite): boolean => site.file?.startsWith(runtimeDir) === true;
const isNode = (site: CallerSite | undefined): boolean => site?.file?.startsWith('node:') === true;

/**
 * Whether V8 names a frame's script as a file: an absolute path or a `file:` URL (the
 * app's code; not a Wasm function's `wasm://wasm/<hash>`, case 250).
 */
const namesAFile = (file: string): boolean => file.startsWith('file:///') || (file.startsWith('/') && !file.startsWith('//'));

/** Node frames are Node's; no file is a compartment's code (or a builtin's, or Wasm's: refused as a package's). */
const kindOf = (site: CallerSite | undefined): Maker =>
  site === undefined || isNode(site) ? 'node' : site.file === undefined || !namesAFile(site.file) ? 'package' : 'app';

/** Who made an agent, from the frames below its constructor: the first that is neither Node's nor this runtime's. */
function makerOf(below: readonly CallerSite[]): Maker {
  for (const site of below) if (!isNode(site) && !isRuntime(site)) return kindOf(site);
  return 'node';
}

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];
let makingForPackage = 0;

/**
 * Makes an agent that is a package's (the `globalAgent` of its own copy of http or https,
 * builtin-adapters.ts): the runtime's frames below its constructor say nothing of that.
 */
export function makeForPackage<T>(make: () => T): T {
  makingForPackage += 1;
  try {
    return make();
  } finally {
    makingForPackage -= 1;
  }
}
let hostError: ErrorConstructorLike | undefined;
let installed = false;
const HTTP_AGENT = 'node:_http_agent';
const HTTP_CLIENT = 'node:_http_client';
const HTTPS = 'node:https';

/**
 * Run the moment node:http has loaded (preload.ts, `whenLoaded`), before any package can
 * hold an agent; the global agent, made as it loaded, is Node's.
 */
export function guardHttpAgents(error: ErrorConstructorLike, http: { Agent?: unknown; globalAgent?: unknown }, { existing = false } = {}): void {
  const Agent = http.Agent as (Function & { prototype: Record<string, unknown> }) | undefined;
  if (installed || typeof Agent !== 'function') return;
  hostError = error;
  madeBefore = existing;
  if (isObject(http.globalAgent) && !makers.has(http.globalAgent)) makers.set(http.globalAgent, 'node');
  if (!Object.isExtensible(Agent)) throw new AgentMisuseError("LavaMoat: node:http's Agent was changed before the runtime could guard it");
  // Node 22.21+/24: the key under which an agent keeps its proxy (when made with
  // `proxyEnv`), read from one made so before the guards.
  try {
    proxyConfigKey = Object.getOwnPropertySymbols(Reflect.construct(Agent, [{ proxyEnv: {} }])).find((key) => key.description === 'kProxyConfig');
  } catch {
    proxyConfigKey = undefined;
  }
  const hasInstance = {
    [Symbol.hasInstance](this: unknown, value: unknown): boolean {
      const result = Reflect.apply(ordinaryHasInstance, this, [value]) as boolean;
      if (result && !makers.has(value as object)) {
        const [caller, ...below] = callerSitesOf(hostError!, hasInstance, 8);
        // The constructor's own check (http's, or https's, which inherits this) runs first
        // on every agent made from now on.
        const constructing = (caller?.file === HTTP_AGENT || caller?.file === HTTPS) && caller.name === 'Agent';
        const maker = constructing ? (makingForPackage > 0 ? 'package' : makerOf(below)) : 'node';
        makers.set(value as object, maker);
        if (constructing && maker !== 'package') pinProxyConfig(value as object);
      }
      return result;
    },
  }[Symbol.hasInstance];
  Object.defineProperty(Agent, Symbol.hasInstance, { value: callerChecked(hasInstance), writable: false, enumerable: false, configurable: false });
  guard(Agent.prototype, 'addRequest', (agent, caller, args) => {
    const [request] = args;
    if (!isObject(request)) refuse('addRequest', caller);
    // Node's ClientRequest, giving its agent the request it is making; or code driving an
    // agent its own kind made.
    if (caller?.file === HTTP_CLIENT || mayDrive(agent, caller)) {
      requests.set(request, agent as object);
      return;
    }
    // Passing on a request (agent-base to the global agent): one not given a socket yet,
    // made with an agent of the caller's own kind (a package's, or the app's). That agent
    // is what the request claims (its `agent`, which anyone can set): naming a package's
    // agent gains nothing a package holding that agent does not have already.
    const first = claimed.get(request);
    if (first !== undefined && !socketed.has(request) && kindOf(caller) !== 'node' && makers.get(first) === kindOf(caller)) {
      requests.set(request, agent as object);
      return;
    }
    refuse('addRequest', caller);
  });
  guard(Agent.prototype, 'createSocket', (agent, caller, args) => {
    const [request] = args;
    if (isNode(caller) ? caller!.file !== HTTP_AGENT : !mayDrive(agent, caller)) refuse('createSocket', caller);
    if (!isObject(request) || !requests.has(request) || socketed.has(request)) {
      throw new AgentMisuseError(
        "LavaMoat: an agent makes a socket only for a request Node's http.request made, once: this one was not made so, or has had its socket",
      );
    }
    socketed.add(request);
  }, creating);
  guardConnection(Agent.prototype);
  // Every agent's `options`, as its constructor assigns them (the global agent's, made
  // as node:_http_agent loaded, now).
  Object.defineProperty(Agent.prototype, 'options', {
    get: () => undefined,
    set: optionsSetter,
    enumerable: false,
    configurable: false,
  });
  pinOptions(http.globalAgent);
  pinProxyConfig(http.globalAgent, true);
  lockGlobalAgent(http.globalAgent);
  installed = true;
}

let proxyConfigKey: symbol | undefined;

/**
 * Node's and the app's agents: the proxy an agent made with `proxyEnv` sends every request
 * through (`http.globalAgent`'s under `NODE_USE_ENV_PROXY`), set once by Node's
 * constructor and frozen: a package handed a request set
 * `agent[kProxyConfig].proxyConnectionOptions.port` (or the whole) and the app's next
 * requests, credentials included, went to its host as their proxy (Node 22, 24; case 161).
 * `made`: the agent exists already (the global one), its proxy set.
 */
function pinProxyConfig(agent: unknown, made = false): void {
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
      const [caller] = callerSitesOf(hostError!, accessor.set, 1);
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

function optionsSetter(this: unknown, value: unknown): void {
  if (!isObject(this)) return;
  const maker = makers.get(this);
  if (maker === 'node' || maker === 'app') {
    const [caller] = callerSitesOf(hostError!, optionsSetter, 1);
    if (caller?.file === HTTP_AGENT && caller.name === 'Agent') {
      pinOptions(this, value);
      return;
    }
  }
  Object.defineProperty(this, 'options', { value, writable: true, enumerable: true, configurable: true });
}

function pinOptions(agent: unknown, value: unknown = isObject(agent) ? Reflect.get(agent, 'options') : undefined): void {
  if (!isObject(agent) || pinned.has(agent)) return;
  const current = Reflect.getOwnPropertyDescriptor(agent, 'options');
  if (current !== undefined && !current.configurable) return;
  // Read-only: a setter would be a function a package could bind to the agent and options
  // of its choosing and hand the app to call (a bound function adds no frame).
  Object.defineProperty(agent, 'options', { value: guardedOptions(value), writable: false, enumerable: true, configurable: false });
  pinned.add(agent);
}

function checkWriter(trap: Function): void {
  const [caller] = callerSitesOf(hostError!, trap, 1);
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
 * Node's global agents: one per process, every request of the app's that names no agent
 * goes through them, and any response a package is handed leads to one (`res.req.agent`).
 * Nothing can be added (an own `addRequest` received every later request of the app:
 * attack case 125) and their event listeners are frozen (a `'free'` listener received
 * their keep-alive sockets); their options are pinned ({@link pinOptions}, first); the
 * settings the app assigns (`maxSockets`, `keepAlive`) stay writable.
 */
function lockGlobalAgent(agent: unknown): void {
  if (!isObject(agent) || !Object.isExtensible(agent)) return;
  const events: unknown = Reflect.get(agent, '_events');
  if (isObject(events)) Object.freeze(events);
  for (const key of Reflect.ownKeys(agent)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(agent, key);
    if (!descriptor?.configurable) continue;
    Object.defineProperty(agent, key, 'value' in descriptor && key === '_events' ? { configurable: false, writable: false } : { configurable: false });
  }
  Object.preventExtensions(agent);
}

let pendingAgent: unknown;
class DefineAgent extends ReturnArgument {
  agent = pendingAgent;
}

/**
 * Run the moment node:_http_client has loaded: the agent each request is made with is
 * noted as the constructor assigns `this.agent` (an accessor of the prototype now, whose
 * setter defines the instance's own property as the assignment did), without asking who
 * assigns it (a stack capture on every request cost 5–7 µs): a claim, which only the
 * hand-over of a request (agent-base) relies on, for agents whose holder could connect
 * anyway.
 */
export function noteClientRequests(error: ErrorConstructorLike, client: { ClientRequest?: unknown }): void {
  const ClientRequest = client.ClientRequest as (Function & { prototype: object }) | undefined;
  if (typeof ClientRequest !== 'function' || Object.hasOwn(ClientRequest.prototype, 'agent')) return;
  hostError = error;
  if (!Object.isExtensible(ClientRequest.prototype)) throw new AgentMisuseError("LavaMoat: node:http's ClientRequest was changed before the runtime could guard it");
  const accessor = {
    get(): undefined {
      return undefined;
    },
    set(this: unknown, agent: unknown): void {
      if (!isObject(this)) return;
      if (isObject(agent) && !claimed.has(this)) claimed.set(this, agent);
      // The own property the assignment made, as a class field defines it (an ordinary
      // store for V8, where defineProperty is a runtime call on every request).
      pendingAgent = agent;
      try {
        new DefineAgent(this);
      } finally {
        pendingAgent = undefined;
      }
    },
  };
  Object.defineProperty(ClientRequest.prototype, 'agent', { get: accessor.get, set: accessor.set, enumerable: false, configurable: true });
  // Every socket a request is given (one an agent made, or a free one it reused) passes
  // here: a request that had one is never given a new one (a package handed the app's
  // request could otherwise queue it again on the agent, with options of its choosing).
  const onSocket = Reflect.getOwnPropertyDescriptor(ClientRequest.prototype, 'onSocket');
  const real: unknown = onSocket?.value;
  if (typeof real !== 'function' || !onSocket!.configurable) throw new AgentMisuseError("LavaMoat: node:http's ClientRequest.prototype.onSocket cannot be guarded");
  const noted = {
    onSocket(this: unknown, ...args: unknown[]): unknown {
      if (isObject(this)) socketed.add(this);
      return Reflect.apply(real, this, args);
    },
  }.onSocket;
  Object.defineProperty(noted, 'length', { value: real.length });
  Object.defineProperty(ClientRequest.prototype, 'onSocket', { ...onSocket, value: noted });
}

/** https's agent: its own `createConnection` (`tls.connect`). */
export function guardHttpsAgents(https: { Agent?: unknown; globalAgent?: unknown }): void {
  const Agent = https.Agent as (Function & { prototype: Record<string, unknown> }) | undefined;
  if (typeof Agent !== 'function' || !Object.hasOwn(Agent.prototype, 'createConnection')) return;
  guardConnection(Agent.prototype);
  guardSessionCache(Agent.prototype);
  // crypto loaded at the first name that holds an identity, not at start-up.
  digestIdentityInNames(Agent.prototype, (value) =>
    (process.getBuiltinModule('node:crypto') as typeof import('node:crypto')).createHash('sha256').update(value).digest('hex'),
  );
  if (isObject(https.globalAgent) && !makers.has(https.globalAgent)) makers.set(https.globalAgent, 'node');
  pinOptions(https.globalAgent);
  pinProxyConfig(https.globalAgent, true);
  lockGlobalAgent(https.globalAgent);
}

/**
 * A connection to wherever the options say: opened for code outside Node only on an agent
 * its own kind made, and only while that agent's `createSocket` is serving a request Node
 * made (the `createConnection` of a subclass, agentkeepalive's kind, calls
 * `super.createConnection` from there). Called directly, a package's frame (which has no
 * file: every package is one kind) opened connections through an agent another package
 * made (an agentkeepalive agent the app's requests use), and the app's frame opened them
 * for a package that handed the app the method bound to the app's agent and options of its
 * choosing (a bound function adds no frame: a handler the app calls, a getter it reads),
 * or called the `createConnection` of the app's subclass, which calls its parent's (attack
 * case 160).
 */
function guardConnection(proto: Record<string, unknown>): void {
  guard(proto, 'createConnection', (agent, caller, args) => {
    const working = isObject(agent) && creating.includes(agent);
    // Node's one call, `this.createConnection(options, oncreate)` in createSocket. Only
    // that: Node's code calls other methods of the agent (and of what it is handed) as
    // `this.getName(options)`, `req.onSocket(socket)`, and one a package replaced with
    // createConnection bound to its own options (a bound function adds no frame) was
    // called by Node's frame, for the app's requests (case 160).
    const nodeCall = caller?.file === HTTP_AGENT && caller.name === 'createSocket' && args.length === 2 && typeof args[1] === 'function';
    if (working && (isNode(caller) ? nodeCall : mayDrive(agent, caller))) return;
    refuse('createConnection', caller, "of an HTTP agent but as that agent's createSocket makes a socket for a request Node made, on an agent its own kind made");
  });
}

/** Node's methods of https's agent that keep its TLS sessions, by the key of each host. */
const SESSION_METHODS = ['_getSession', '_cacheSession', '_evictSession'] as const;
type SessionHolder = { _sessionCache: { map: Record<string, unknown>; list: string[] }; readonly maxCachedSessions: unknown };
/** Each https agent's TLS sessions, where only its session methods reach them. */
const sessionCaches = new WeakMap<object, SessionHolder>();

function sessionHolderOf(agent: object): SessionHolder {
  let holder = sessionCaches.get(agent);
  if (holder === undefined) {
    holder = {
      _sessionCache: { map: Object.create(null) as Record<string, unknown>, list: [] },
      // The agent's own setting, as the app assigns it.
      get maxCachedSessions(): unknown {
        return Reflect.get(agent, 'maxCachedSessions');
      },
    };
    sessionCaches.set(agent, holder);
  }
  return holder;
}

/**
 * https's agent keeps the TLS session of each host it has connected to
 * (`agent._sessionCache.map[name]`, filled from every socket's `'session'` event) so that
 * its next connection there resumes it. A session is the secret of its connections (the
 * resumption key, TLS 1.2's master secret) and, resumed, the identity the client proved
 * (its certificate, under mutual TLS): a package handed one response of the app's
 * (`res.req.agent` is `https.globalAgent`, for every host the app talks to) read all of
 * them, and could plant sessions of its own for the app's hosts (attack case 272). Node's
 * three methods now keep them where only they reach (the agent's `_sessionCache` stays an
 * empty object), and run for Node's https (its `createConnection` and the listeners it
 * adds) and for code of the kind that made the agent (the app its own, a package its own).
 */
function guardSessionCache(proto: Record<string, unknown>): void {
  for (const method of SESSION_METHODS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(proto, method);
    const real = descriptor?.value;
    // Not this Node's agent (no session cache): nothing to keep.
    if (typeof real !== 'function' || !descriptor!.configurable) continue;
    const guarded = {
      [method](this: unknown, ...args: unknown[]): unknown {
        const [caller] = callerSitesOf(hostError!, guarded, 1);
        if (!(caller?.file === HTTPS || mayDrive(this, caller))) {
          refuse(method, caller, "of an https agent it did not make: an agent's TLS sessions are the secrets of its connections");
        }
        if (!isObject(this)) return Reflect.apply(real, this, args);
        return Reflect.apply(real, sessionHolderOf(this), args);
      },
    }[method]!;
    Object.defineProperty(guarded, 'length', { value: real.length });
    Object.defineProperty(proto, method, { ...descriptor, value: callerChecked(guarded) });
  }
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
  const sites = callerSitesOf(hostError!, fn, 16);
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
function digestIdentityInNames(proto: Record<string, unknown>, digest: (value: string | Uint8Array) => string): void {
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

/** Code outside Node drives only agents its own kind made. */

/**
 * Whether node:http had loaded before the guards (a preload, which runs before the loader,
 * used it): the agents it made then were not seen at their making.
 */
let madeBefore = false;

/**
 * Code outside Node drives only agents its own kind made. An agent no constructor was seen
 * making, when http loaded before the guards, is the preload's (trusted, as the app): the
 * global agents are Node's, and every agent made since was seen (dd-trace's exporter
 * agent, whose `createConnection` calls its parent's from a callback of its own, was
 * refused on its first request). Anything else inheriting Agent.prototype that no
 * constructor made is then driven by the app's code only, never a package's.
 */
function mayDrive(agent: unknown, caller: CallerSite | undefined): boolean {
  const kind = kindOf(caller);
  if (kind === 'node' || !isObject(agent)) return false;
  return (makers.get(agent) ?? (madeBefore ? 'app' : undefined)) === kind;
}

function refuse(method: string, caller: CallerSite | undefined, when = 'of an HTTP agent it did not make'): never {
  const who = kindOf(caller) === 'node' ? 'this caller' : kindOf(caller) === 'package' ? 'a package' : 'the app';
  throw new AgentMisuseError(
    `LavaMoat: ${who} may not call ${method}() ${when}: an agent opens connections for Node's requests (make requests with http.request, or an agent with new http.Agent, from a package granted http)`,
  );
}


/**
 * Replaces `proto[method]` by a function that runs `check` (its caller's frame, its
 * arguments) first; with `during`, the agent is on that list while the real method runs.
 */
function guard(proto: Record<string, unknown>, method: string, check: (agent: unknown, caller: CallerSite | undefined, args: unknown[]) => void, during?: object[]): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, method);
  const real = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) throw new AgentMisuseError(`LavaMoat: the HTTP agent's ${method} cannot be guarded`);
  const guarded = {
    [method](this: unknown, ...args: unknown[]): unknown {
      check(this, callerSitesOf(hostError!, guarded, 1)[0], args);
      if (during === undefined || !isObject(this)) return Reflect.apply(real, this, args);
      during.push(this);
      try {
        return Reflect.apply(real, this, args);
      } finally {
        during.pop();
      }
    },
  }[method]!;
  Object.defineProperty(guarded, 'length', { value: real.length });
  Object.defineProperty(proto, method, { ...descriptor, value: callerChecked(guarded) });
}

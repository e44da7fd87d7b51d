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
 * - the `options` of agents Node or the app made (merged into every connection they open,
 *   agent-options.ts)
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
 * change (every package is one kind). The global agents' socket maps are kept from the
 * requests' holders by the view those requests hold ({@link agentViewOf}, case 125). A method
 * of an agent the app made, bound by a package and handed back for the app's own code to
 * call, runs as the app's call where Node's checks above do not apply.
 */
import process from 'node:process';
import { callerSitesOf, type CallerSite } from './stack-traces.js';
import { ReturnArgument, isObject } from './host-hardening.js';
import { agentHost, AgentMisuseError, HTTP_AGENT, isNode, isRuntime, kindOf, makers, type ErrorConstructorLike, type Maker } from './agent-makers.js';
import { digestIdentityInNames, findProxyConfigKey, optionsSetter, pinOptions, pinProxyConfig } from './agent-options.js';
import { callerChecked } from './frameless-calls.js';

export { AgentMisuseError } from './agent-makers.js';



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
let installed = false;
const HTTP_CLIENT = 'node:_http_client';
const HTTPS = 'node:https';

/**
 * Run the moment node:http has loaded (preload.ts, `whenLoaded`), before any package can
 * hold an agent; the global agent, made as it loaded, is Node's.
 */
export function guardHttpAgents(error: ErrorConstructorLike, http: { Agent?: unknown; globalAgent?: unknown }, { existing = false } = {}): void {
  const Agent = http.Agent as (Function & { prototype: Record<string, unknown> }) | undefined;
  if (installed || typeof Agent !== 'function') return;
  agentHost.error = error;
  madeBefore = existing;
  if (isObject(http.globalAgent) && !makers.has(http.globalAgent)) makers.set(http.globalAgent, 'node');
  if (!Object.isExtensible(Agent)) throw new AgentMisuseError("LavaMoat: node:http's Agent was changed before the runtime could guard it");
  findProxyConfigKey(Agent);
  const hasInstance = {
    [Symbol.hasInstance](this: unknown, value: unknown): boolean {
      const result = Reflect.apply(ordinaryHasInstance, this, [value]) as boolean;
      if (result && !makers.has(value as object)) {
        const [caller, ...below] = callerSitesOf(agentHost.error!, hasInstance, 8);
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
      // Node's ClientRequest has read what it needs of its agent (its constructor ends
      // here): a global agent is held by the request as its view from now on.
      if (caller?.file === HTTP_CLIENT && globalAgents.has(agent as object) && Reflect.get(request, 'agent') === agent) {
        (request as { agent?: unknown }).agent = agentViewOf(agent as object);
      }
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
    set: callerChecked(optionsSetter),
    enumerable: false,
    configurable: false,
  });
  pinOptions(http.globalAgent);
  pinProxyConfig(http.globalAgent, true);
  lockGlobalAgent(http.globalAgent);
  installed = true;
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
  globalAgents.add(agent);
  const events: unknown = Reflect.get(agent, '_events');
  if (isObject(events)) Object.freeze(events);
  for (const key of Reflect.ownKeys(agent)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(agent, key);
    if (!descriptor?.configurable) continue;
    Object.defineProperty(agent, key, 'value' in descriptor && key === '_events' ? { configurable: false, writable: false } : { configurable: false });
  }
  Object.preventExtensions(agent);
}

/** Node's global agents (http's and https's), locked. */
const globalAgents = new WeakSet<object>();
/** The view of each global agent its requests hold. */
const agentViews = new WeakMap<object, object>();
/** An agent's pools, as its view shows them: its live sockets and queued requests are the app's. */
const NO_POOL: object = Object.freeze(Object.create(null) as object);
const POOLS: ReadonlySet<PropertyKey> = new Set(['sockets', 'freeSockets', 'requests']);

/**
 * What a request of Node's global agent holds as its `agent` once Node's ClientRequest
 * has given the request to it (`res.req.agent`, `req.agent`: every response of the app's
 * leads there): the agent, read-only, its pools (`sockets`, `freeSockets`, `requests`)
 * empty. Those maps are Node's live state, which Node's agent code writes and reads as
 * connections come and go (`freeSockets[name] = [...]`): a package handed one response
 * planted an accessor there, or read them, and received the app's later keep-alive
 * sockets (attack case 125). Node's own code reads `req.agent` only in the request's
 * constructor (before the view), and then for its truthiness and `options.timeout`
 * (forwarded). Its methods run on the view (no pool: nothing to drive; `addRequest`,
 * `createSocket` and `createConnection` refuse an agent no one was seen making); the app
 * holds the agent itself as `http.globalAgent`. No stack read: one store per request.
 */
function agentViewOf(agent: object): object {
  let view = agentViews.get(agent);
  if (view === undefined) {
    const refuse = (): boolean => false;
    view = new Proxy(agent, {
      get(target, key) {
        return POOLS.has(key) ? NO_POOL : Reflect.get(target, key);
      },
      getOwnPropertyDescriptor(target, key) {
        const descriptor = Reflect.getOwnPropertyDescriptor(target, key);
        // Writable (not configurable): the view may show another value.
        if (descriptor !== undefined && POOLS.has(key) && 'value' in descriptor) return { ...descriptor, value: NO_POOL };
        return descriptor;
      },
      set: refuse,
      defineProperty: refuse,
      deleteProperty: refuse,
      setPrototypeOf: refuse,
      preventExtensions: refuse,
    });
    agentViews.set(agent, view);
  }
  return view;
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
  agentHost.error = error;
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
        const [caller] = callerSitesOf(agentHost.error!, guarded, 1);
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
      check(this, callerSitesOf(agentHost.error!, guarded, 1)[0], args);
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

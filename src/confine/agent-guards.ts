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
 *   or the app's (agent-base handing a request to `http.globalAgent`).
 * - `agent.constructor` constructs for Node's `ClientRequest` only (`agent: false`):
 *   capability-classes.ts.
 * Frames of anything else (a timer or an event calling a bound method, a builtin such as
 * `Array.prototype.map`) are refused.
 *
 * Not covered: a package handed a request still waiting for a socket can change where it
 * goes (the request is the app's, handed to it), and an agent's options, shared by its
 * requests, are the app's object. A method of an agent the app made, bound by a package
 * and handed back for the app's own code to call, runs as the app's call.
 */
import { callerSitesOf, type CallerSite } from './stack-traces.js';

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

/** This bundle's own frames (the inert twin that constructs for `agent: false`) are no one's. */
const runtimeDir = new URL('.', import.meta.url).href;
const isRuntime = (site: CallerSite): boolean => site.file?.startsWith(runtimeDir) === true;
const isNode = (site: CallerSite | undefined): boolean => site?.file?.startsWith('node:') === true;

/** Node frames are Node's; no file is a compartment's code (or a builtin's: refused as a package's). */
const kindOf = (site: CallerSite | undefined): Maker => (site === undefined || isNode(site) ? 'node' : site.file === undefined ? 'package' : 'app');

/** Who made an agent, from the frames below its constructor: the first that is neither Node's nor this runtime's. */
function makerOf(below: readonly CallerSite[]): Maker {
  for (const site of below) if (!isNode(site) && !isRuntime(site)) return kindOf(site);
  return 'node';
}

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];
let hostError: ErrorConstructorLike | undefined;
let installed = false;
const HTTP_AGENT = 'node:_http_agent';
const HTTP_CLIENT = 'node:_http_client';
const HTTPS = 'node:https';

/**
 * Run the moment node:http has loaded (preload.ts, `whenLoaded`), before any package can
 * hold an agent; the global agent, made as it loaded, is Node's.
 */
export function guardHttpAgents(error: ErrorConstructorLike, http: { Agent?: unknown; globalAgent?: unknown }): void {
  const Agent = http.Agent as (Function & { prototype: Record<string, unknown> }) | undefined;
  if (installed || typeof Agent !== 'function') return;
  hostError = error;
  if (!Object.isExtensible(Agent)) throw new AgentMisuseError("LavaMoat: node:http's Agent was changed before the runtime could guard it");
  const hasInstance = {
    [Symbol.hasInstance](this: unknown, value: unknown): boolean {
      const result = Reflect.apply(ordinaryHasInstance, this, [value]) as boolean;
      if (result && !makers.has(value as object)) {
        const [caller, ...below] = callerSitesOf(hostError!, hasInstance, 8);
        // The constructor's own check (http's, or https's, which inherits this) runs first
        // on every agent made from now on.
        const constructing = (caller?.file === HTTP_AGENT || caller?.file === HTTPS) && caller.name === 'Agent';
        makers.set(value as object, constructing ? makerOf(below) : 'node');
      }
      return result;
    },
  }[Symbol.hasInstance];
  Object.defineProperty(Agent, Symbol.hasInstance, { value: hasInstance, writable: false, enumerable: false, configurable: false });
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
  });
  guardConnection(Agent.prototype);
  lockGlobalAgent(http.globalAgent);
  installed = true;
}

/**
 * Node's global agents: one per process, every request of the app's that names no agent
 * goes through them, and any response a package is handed leads to one (`res.req.agent`).
 * Nothing can be added (an own `addRequest` received every later request of the app:
 * attack case 125), its options (merged into every connection it makes) and its event
 * listeners (a `'free'` listener received its keep-alive sockets) are frozen; the
 * settings the app assigns (`maxSockets`, `keepAlive`) stay writable.
 */
function lockGlobalAgent(agent: unknown): void {
  if (!isObject(agent) || !Object.isExtensible(agent)) return;
  const FROZEN = ['options', '_events'];
  for (const key of FROZEN) {
    const value: unknown = Reflect.get(agent, key);
    if (isObject(value)) Object.freeze(value);
  }
  for (const key of Reflect.ownKeys(agent)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(agent, key);
    if (!descriptor?.configurable) continue;
    Object.defineProperty(agent, key, 'value' in descriptor && FROZEN.includes(key as string) ? { configurable: false, writable: false } : { configurable: false });
  }
  Object.preventExtensions(agent);
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
      Object.defineProperty(this, 'agent', { value: agent, writable: true, enumerable: true, configurable: true });
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
  lockGlobalAgent(https.globalAgent);
}

function guardConnection(proto: Record<string, unknown>): void {
  guard(proto, 'createConnection', (agent, caller) => {
    if (isNode(caller) ? caller!.file === HTTP_AGENT || caller!.file === HTTPS : mayDrive(agent, caller)) return;
    refuse('createConnection', caller);
  });
}

/**
 * The agent of its own a package granted `http` or `https` gets as `globalAgent`
 * (builtin-adapters.ts): the runtime makes it, for that package alone, so it is the
 * package's to drive (agent-base hands requests to it).
 */
export function notePackageAgent(agent: object): void {
  makers.set(agent, 'package');
}

/** Code outside Node drives only agents its own kind made. */
function mayDrive(agent: unknown, caller: CallerSite | undefined): boolean {
  const kind = kindOf(caller);
  return kind !== 'node' && isObject(agent) && makers.get(agent) === kind;
}

function refuse(method: string, caller: CallerSite | undefined): never {
  const who = kindOf(caller) === 'node' ? 'this caller' : kindOf(caller) === 'package' ? 'a package' : 'the app';
  throw new AgentMisuseError(
    `LavaMoat: ${who} may not call ${method}() of an HTTP agent it did not make: an agent opens connections for Node's requests (make requests with http.request, or an agent with new http.Agent, from a package granted http)`,
  );
}

const isObject = (value: unknown): value is object => (typeof value === 'object' && value !== null) || typeof value === 'function';

/** Replaces `proto[method]` by a function that runs `check` (its caller's frame, its arguments) first. */
function guard(proto: Record<string, unknown>, method: string, check: (agent: unknown, caller: CallerSite | undefined, args: unknown[]) => void): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(proto, method);
  const real = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) throw new AgentMisuseError(`LavaMoat: the HTTP agent's ${method} cannot be guarded`);
  const guarded = {
    [method](this: unknown, ...args: unknown[]): unknown {
      check(this, callerSitesOf(hostError!, guarded, 1)[0], args);
      return Reflect.apply(real, this, args);
    },
  }[method]!;
  Object.defineProperty(guarded, 'length', { value: real.length });
  Object.defineProperty(proto, method, { ...descriptor, value: guarded });
}

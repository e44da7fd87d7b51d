/**
 * The observation APIs as packages see them: `diagnostics_channel` and `async_hooks`.
 *
 * Both deliver to a subscriber whatever the process does: Node publishes the app's HTTP
 * requests and responses, sockets, servers, child processes and workers on built-in
 * channels, and `createHook`'s `init` (and `executionAsyncResource()`) receive the native
 * handles and objects behind every asynchronous operation. From those, a package would
 * reach the app's server (and replace its handlers), a socket's native class (a network
 * with no `net` grant) or a process spawner. So:
 * - a package's subscribers receive only messages that confined code published (through
 *   a package's view of `publish`, `runStores` or a tracing channel's `trace*`); what Node
 *   or the app publishes does not reach them. Publishing is unchanged: the app's and the
 *   preloaded instrumentation's subscribers see what packages publish, as they would
 *   under plain node;
 * - a channel is a view (`subscribe`, `unsubscribe`, `publish`, `bindStore`, ...), never
 *   Node's `Channel` object, whose subscriber list a package could otherwise edit;
 * - async resources reach a package as opaque tokens (the same token for the same
 *   resource), and a hook is a view whose callbacks Node cannot be made to swap;
 * - `perf_hooks`' observers made by packages do not observe the app's I/O, nor the app's
 *   marks and measures (performance-observation.ts).
 */
import { opaque } from './opaque.js';

type Fn = (...args: unknown[]) => unknown;

interface RawChannel {
  name: string | symbol;
  readonly hasSubscribers: boolean;
  subscribe(fn: Fn): void;
  unsubscribe(fn: Fn): boolean;
  publish(message: unknown): void;
  bindStore(store: unknown, transform?: Fn): void;
  unbindStore(store: unknown): boolean;
  runStores(data: unknown, fn: Fn, thisArg?: unknown, ...args: unknown[]): unknown;
}

interface RawTracingChannel {
  start: RawChannel;
  end: RawChannel;
  asyncStart: RawChannel;
  asyncEnd: RawChannel;
  error: RawChannel;
  readonly hasSubscribers: boolean;
  traceSync(fn: Fn, context?: object, thisArg?: unknown, ...args: unknown[]): unknown;
  tracePromise(fn: Fn, context?: object, thisArg?: unknown, ...args: unknown[]): unknown;
  traceCallback(fn: Fn, position?: number, context?: object, thisArg?: unknown, ...args: unknown[]): unknown;
}

interface RawDiagnosticsChannel {
  channel(name: string | symbol): RawChannel;
  hasSubscribers(name: string | symbol): boolean;
  subscribe(name: string | symbol, fn: Fn): void;
  unsubscribe(name: string | symbol, fn: Fn): boolean;
  tracingChannel(nameOrChannels: unknown): RawTracingChannel;
}

/** Messages published by confined code (objects; a primitive message carries nothing). */
const confinedMessages = new WeakSet<object>();

const mark = (message: unknown): void => {
  if ((typeof message === 'object' && message !== null) || typeof message === 'function') confinedMessages.add(message);
};

const fromConfined = (message: unknown): boolean =>
  !((typeof message === 'object' && message !== null) || typeof message === 'function') || confinedMessages.has(message);

/** One guarded subscriber per package function, so that `unsubscribe` finds it. */
const guards = new WeakMap<Function, Fn>();
function guard(fn: unknown): Fn {
  if (typeof fn !== 'function') return fn as Fn; // Node reports the type error
  let guarded = guards.get(fn);
  if (!guarded) {
    guarded = function (this: unknown, message: unknown, name: unknown) {
      if (fromConfined(message)) return Reflect.apply(fn, this, [message, name]);
      return undefined;
    };
    guards.set(fn, guarded);
  }
  return guarded;
}

const views = new WeakMap<RawChannel, object>();
const rawOf = new WeakMap<object, RawChannel>();

/** A package's handle on a channel; `instanceof` of the view module's `Channel` holds. */
class ChannelView {
  #raw: RawChannel;
  constructor(raw: RawChannel) {
    this.#raw = raw;
  }
  get name(): string | symbol {
    return this.#raw.name;
  }
  get hasSubscribers(): boolean {
    return this.#raw.hasSubscribers;
  }
  subscribe(fn: Fn): void {
    this.#raw.subscribe(guard(fn));
  }
  unsubscribe(fn: Fn): boolean {
    return this.#raw.unsubscribe(guards.get(fn) ?? fn);
  }
  publish(message: unknown): void {
    mark(message);
    this.#raw.publish(message);
  }
  bindStore(store: unknown, transform?: Fn): void {
    // Node calls `store.run(value, next)` around whatever runs the stores, the app's work
    // included (Node 22+ traces `require` and `import` so): only a genuine, locked
    // AsyncLocalStorage may be bound, whose `run` is Node's.
    lockStorage(store);
    // Without a transform, Node stores the message itself: only confined messages may be.
    this.#raw.bindStore(store, (message: unknown) =>
      fromConfined(message) ? (typeof transform === 'function' ? transform(message) : message) : undefined,
    );
  }
  unbindStore(store: unknown): boolean {
    return this.#raw.unbindStore(store);
  }
  runStores(data: unknown, fn: Fn, thisArg?: unknown, ...args: unknown[]): unknown {
    mark(data);
    return this.#raw.runStores(data, fn, thisArg, ...args);
  }
}
Object.freeze(ChannelView.prototype);

function viewOf(raw: RawChannel): object {
  let view = views.get(raw);
  if (!view) {
    view = Object.freeze(new ChannelView(raw));
    views.set(raw, view);
    rawOf.set(view, raw);
  }
  return view;
}

const TRACING_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

function tracingView(raw: RawTracingChannel): object {
  const channels = Object.fromEntries(TRACING_EVENTS.map((event) => [event, viewOf(raw[event])])) as Record<string, ChannelView>;
  const each = (handlers: Record<string, unknown>, act: (view: ChannelView, fn: Fn) => unknown): boolean => {
    let all = true;
    for (const event of TRACING_EVENTS) {
      const fn = handlers?.[event];
      if (typeof fn === 'function' && act(channels[event]!, fn as Fn) === false) all = false;
    }
    return all;
  };
  return Object.freeze({
    ...channels,
    get hasSubscribers() {
      return raw.hasSubscribers;
    },
    subscribe: (handlers: Record<string, unknown>) => void each(handlers, (view, fn) => view.subscribe(fn)),
    unsubscribe: (handlers: Record<string, unknown>) => each(handlers, (view, fn) => view.unsubscribe(fn)),
    traceSync(fn: Fn, context: object = {}, thisArg?: unknown, ...args: unknown[]) {
      mark(context);
      return raw.traceSync(fn, context, thisArg, ...args);
    },
    tracePromise(fn: Fn, context: object = {}, thisArg?: unknown, ...args: unknown[]) {
      mark(context);
      return raw.tracePromise(fn, context, thisArg, ...args);
    },
    traceCallback(fn: Fn, position = -1, context: object = {}, thisArg?: unknown, ...args: unknown[]) {
      mark(context);
      return raw.traceCallback(fn, position, context, thisArg, ...args);
    },
  });
}

/** The `diagnostics_channel` module a package receives (before its policy narrows it). */
export function diagnosticsChannelFor(real: RawDiagnosticsChannel): Record<string, unknown> {
  const toRaw = (value: unknown): unknown => (typeof value === 'object' && value !== null ? rawOf.get(value) ?? value : value);
  function Channel(this: unknown, name: string | symbol): object {
    if (new.target === undefined) throw new TypeError("Class constructor Channel cannot be invoked without 'new'");
    // The registered channel: a package cannot put a channel of its own in Node's registry.
    return viewOf(real.channel(name));
  }
  Object.defineProperty(Channel, 'prototype', { value: ChannelView.prototype, writable: false });
  return {
    channel: (name: string | symbol) => viewOf(real.channel(name)),
    hasSubscribers: (name: string | symbol) => real.hasSubscribers(name),
    subscribe: (name: string | symbol, fn: Fn) => real.subscribe(name, guard(fn)),
    unsubscribe: (name: string | symbol, fn: Fn) => real.unsubscribe(name, guards.get(fn) ?? fn),
    tracingChannel: (nameOrChannels: unknown) => {
      const argument =
        typeof nameOrChannels === 'object' && nameOrChannels !== null
          ? Object.fromEntries(TRACING_EVENTS.map((event) => [event, toRaw((nameOrChannels as Record<string, unknown>)[event])]))
          : nameOrChannels;
      return tracingView(real.tracingChannel(argument));
    },
    Channel: Object.freeze(Channel),
  };
}

interface HookCallbacks {
  init?: Fn;
  before?: Fn;
  after?: Fn;
  destroy?: Fn;
  promiseResolve?: Fn;
}

interface RawAsyncHooks {
  createHook(callbacks: HookCallbacks): { enable(): unknown; disable(): unknown };
  executionAsyncResource(): object;
  [key: string]: unknown;
}

let restrictedStorage: Function | undefined;
let storagePrototype: object | undefined;

/** Own properties Node gives an AsyncLocalStorage (Node 20 and 22; none on 24). */
const STORAGE_FIELDS = new Set<PropertyKey>(['kResourceStore', 'enabled', '_propagate']);

/**
 * Makes `storage` an AsyncLocalStorage no one can reprogram, or throws: its prototype is
 * Node's (not a subclass, whose `run` its author writes), it holds only Node's fields,
 * `_propagate` is Node's and read-only (Node's storage hook calls it on every live
 * instance with every asynchronous resource of the process), `kResourceStore` is
 * read-only (the key under which `_propagate` writes into the app's resources: a string
 * such as `'emit'` would replace their methods), and nothing can be added (an own `run`).
 * `enabled` stays writable: Node's own `disable()` writes it, and it only switches the
 * storage's own propagation.
 */
export function lockStorage(storage: unknown): void {
  const refuse = (why: string): never => {
    throw new TypeError(`LavaMoat: a diagnostics_channel store must be an AsyncLocalStorage of Node's (${why})`);
  };
  if (storagePrototype === undefined) refuse('async_hooks is not available');
  if (typeof storage !== 'object' || storage === null || Object.getPrototypeOf(storage) !== storagePrototype) {
    refuse('not an instance of AsyncLocalStorage itself');
  }
  const store = storage as Record<PropertyKey, unknown>;
  if (!Object.isExtensible(store)) return; // locked already: nothing can have changed
  for (const key of Reflect.ownKeys(store)) {
    if (!STORAGE_FIELDS.has(key)) refuse(`it has a property ${String(key)} of its own`);
    const descriptor = Reflect.getOwnPropertyDescriptor(store, key)!;
    if (!('value' in descriptor)) refuse(`its ${String(key)} is an accessor`);
  }
  const propagate = (storagePrototype as Record<string, unknown>)._propagate;
  if (Object.hasOwn(store, '_propagate') && store._propagate !== propagate) refuse('its _propagate is not Node\'s');
  if (Object.hasOwn(store, 'kResourceStore') && typeof store.kResourceStore !== 'symbol') refuse('its kResourceStore is not a symbol');
  if (typeof propagate === 'function') {
    Object.defineProperty(store, '_propagate', { value: propagate, writable: false, enumerable: false, configurable: false });
  }
  if (Object.hasOwn(store, 'kResourceStore')) Object.defineProperty(store, 'kResourceStore', { writable: false, configurable: false });
  if (Object.hasOwn(store, 'enabled')) Object.defineProperty(store, 'enabled', { configurable: false });
  Object.preventExtensions(store);
}

/**
 * `AsyncLocalStorage` for everyone once a package can reach it: Node's class, whose
 * instances are locked as they are made ({@link lockStorage}). Node's prototype names
 * this function as `constructor`. Made when async_hooks is first hardened (boundary.ts).
 */
export function restrictAsyncLocalStorage(Real: new (...args: unknown[]) => object): Function {
  if (restrictedStorage) return restrictedStorage;
  const proto = Real.prototype as Record<string, unknown>;
  storagePrototype = proto;
  const AsyncLocalStorage = function AsyncLocalStorage(this: unknown, ...args: unknown[]): object {
    if (new.target === undefined) throw new TypeError("Class constructor AsyncLocalStorage cannot be invoked without 'new'");
    const storage = Reflect.construct(Real, args, new.target) as object;
    // A subclass's instance (its own `run`) cannot be bound to a channel; it is locked
    // all the same, so that no `_propagate` of its own ever receives the app's resources.
    if (Object.getPrototypeOf(storage) === proto) lockStorage(storage);
    else lockFields(storage, proto._propagate);
    return storage;
  };
  Object.defineProperty(AsyncLocalStorage, 'prototype', { value: proto, writable: false });
  for (const key of Reflect.ownKeys(Real)) {
    if (key === 'prototype' || key === 'length' || key === 'name') continue;
    Object.defineProperty(AsyncLocalStorage, key, Reflect.getOwnPropertyDescriptor(Real, key)!);
  }
  Object.defineProperty(proto, 'constructor', { value: AsyncLocalStorage, writable: false, enumerable: false, configurable: false });
  // Not frozen here: hardened with its statics (Node's `bind`, `snapshot`) as an export
  // of async_hooks, which it now is for the app too (boundary.ts), before anyone has it.
  restrictedStorage = AsyncLocalStorage;
  return restrictedStorage;
}

/** A subclass instance's Node fields, read-only (its prototype may add methods, not replace these). */
function lockFields(storage: object, propagate: unknown): void {
  if (typeof propagate === 'function') {
    Object.defineProperty(storage, '_propagate', { value: propagate, writable: false, enumerable: false, configurable: false });
  }
  if (Object.hasOwn(storage, 'kResourceStore')) Object.defineProperty(storage, 'kResourceStore', { writable: false, configurable: false });
}

type PromiseHook = (promise: unknown, parent?: unknown) => unknown;
interface RawPromiseHooks {
  onInit(hook: PromiseHook): unknown;
  onSettled(hook: PromiseHook): unknown;
  onBefore(hook: PromiseHook): unknown;
  onAfter(hook: PromiseHook): unknown;
  createHook(hooks: Record<string, unknown>): unknown;
}

const PROMISE_HOOKS = ['init', 'settled', 'before', 'after'] as const;

/**
 * `v8.promiseHooks` as a package gets it: its hooks receive opaque tokens (the same token
 * for the same promise) where V8 passes the promise and its parent, as `async_hooks`'
 * `init` receives its resources. V8 calls them for every promise of the process: the
 * app's, which a package holding them could read (`then`) as they settle and answer for
 * (an own `constructor` or `then` the app's `await` and `Promise.all` then call)
 * (docs/attacks.md, case 263).
 */
export function promiseHooksFor(real: RawPromiseHooks): Record<string, unknown> {
  const token = (value: unknown): unknown => (typeof value === 'object' && value !== null ? opaque(value) : value);
  const wrap = (hook: unknown): unknown => {
    // Not a function: Node's own error, from Node's own function.
    if (typeof hook !== 'function') return hook;
    return function (promise: unknown, parent?: unknown): unknown {
      return arguments.length > 1 ? Reflect.apply(hook, undefined, [token(promise), token(parent)]) : Reflect.apply(hook, undefined, [token(promise)]);
    };
  };
  const one = (register: (hook: PromiseHook) => unknown) => (hook: unknown): unknown => register(wrap(hook) as PromiseHook);
  return Object.freeze({
    onInit: one((hook) => real.onInit(hook)),
    onSettled: one((hook) => real.onSettled(hook)),
    onBefore: one((hook) => real.onBefore(hook)),
    onAfter: one((hook) => real.onAfter(hook)),
    createHook(hooks: unknown): unknown {
      // Read once: the hooks V8 calls are these wrappers.
      const given = (typeof hooks === 'object' && hooks !== null ? hooks : {}) as Record<string, unknown>;
      const wrapped: Record<string, unknown> = {};
      for (const name of PROMISE_HOOKS) {
        const hook = given[name];
        if (hook !== undefined) wrapped[name] = wrap(hook);
      }
      return real.createHook(wrapped);
    },
  });
}

/** The `async_hooks` module a package receives (before its policy narrows it). */
export function asyncHooksFor(real: RawAsyncHooks): Record<string, unknown> {
  const createHook = (callbacks: HookCallbacks): object => {
    // Read once: the callbacks Node calls are these wrappers, which the package cannot swap.
    const given = { ...(callbacks ?? {}) } as HookCallbacks;
    let view: object;
    const wrapped: HookCallbacks = {};
    if (typeof given.init === 'function') {
      const init = given.init;
      wrapped.init = (asyncId: unknown, type: unknown, triggerAsyncId: unknown, resource: unknown) =>
        Reflect.apply(init, view, [asyncId, type, triggerAsyncId, typeof resource === 'object' && resource !== null ? opaque(resource) : resource]);
    }
    for (const name of ['before', 'after', 'destroy', 'promiseResolve'] as const) {
      const fn = given[name];
      if (typeof fn === 'function') wrapped[name] = (asyncId: unknown) => Reflect.apply(fn, view, [asyncId]);
    }
    const hook = real.createHook(wrapped);
    view = Object.freeze({
      enable: () => (hook.enable(), view),
      disable: () => (hook.disable(), view),
    });
    return view;
  };
  return {
    ...real,
    AsyncLocalStorage: restrictAsyncLocalStorage(real.AsyncLocalStorage as never),
    createHook,
    executionAsyncResource: () => opaque(real.executionAsyncResource()),
  };
}

/**
 * Views of live host objects reached by dotted grants (`process.stdout`, `process.env`,
 * `process.argv`): what a leaf of such a grant hands a package (boundary.ts holds the
 * rule; this is its application to objects that must stay live, the app's own).
 */
import process from 'node:process';
import { deliver, envFor, handOutValue, opaque, readOnlyEnvFor } from './boundary.js';
import { disarmChain, isForeignCapabilityCall, isSafeConstructor, shownPrototype } from './capability-classes.js';
import { hardenPrototypeChain, isObject, isPlainData } from './host-hardening.js';
import { copyAtom } from './deliver.js';
import { callerSitesOf } from './stack-traces.js';
import { createRequire } from 'node:module';

const hostRequire = createRequire(import.meta.url);




function frozenCopy(value: object, seen = new WeakMap<object, object>()): object {
  const known = seen.get(value);
  if (known) return known;
  const copy: Record<PropertyKey, unknown> = Array.isArray(value) ? ([] as unknown as Record<PropertyKey, unknown>) : {};
  seen.set(value, copy);
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    copy[key] = isObject(item) && typeof item !== 'function' && isPlainData(item) ? frozenCopy(item, seen) : handOutValue(item);
  }
  return Object.freeze(copy);
}

const readOnlyViews = new WeakMap<object, object>();

let readlineSlots: Map<symbol, (value: unknown) => boolean> | undefined;

/**
 * The two slots Node's readline keeps on an input stream (`emitKeypressEvents`, which
 * `readline.createInterface` calls for a terminal: a `StringDecoder` and the generator
 * that turns input into `'keypress'` events), each with the test a value must pass: one
 * Node made. Learnt once from a stream of the runtime's own.
 */
function readlineSlotsOf(): Map<symbol, (value: unknown) => boolean> {
  if (readlineSlots) return readlineSlots;
  readlineSlots = new Map();
  try {
    const { PassThrough } = hostRequire('node:stream') as typeof import('node:stream');
    const { emitKeypressEvents } = hostRequire('node:readline') as typeof import('node:readline');
    const { StringDecoder } = hostRequire('node:string_decoder') as typeof import('node:string_decoder');
    const probe = new PassThrough();
    emitKeypressEvents(probe);
    for (const key of Object.getOwnPropertySymbols(probe)) {
      const value: unknown = (probe as unknown as Record<symbol, unknown>)[key];
      if (value instanceof StringDecoder) readlineSlots.set(key, (candidate) => candidate instanceof StringDecoder);
      else if (isObject(value) && typeof (value as { next?: unknown }).next === 'function') {
        const made = Object.getPrototypeOf(value) as object | null;
        readlineSlots.set(key, (candidate) => isObject(candidate) && Object.getPrototypeOf(candidate) === made);
      }
    }
    probe.destroy();
  } catch {
    // No readline here: no slot.
  }
  return readlineSlots;
}

/** Node's convention for internals (`_writableState`, `_handle`, symbol-keyed slots). */
const isInternalKey = (key: PropertyKey): boolean => typeof key === 'symbol' || String(key).startsWith('_') || key === 'writableBuffer';

/**
 * A host instance reached by a dotted grant (`process.stdout`): its public API on the real
 * object (methods are called on it, getters see it), nothing else. The package can
 * neither assign, define nor delete anything on it (the app's `stdout.write` stays the
 * app's), does not see its internals (`_writableState` holds what the app writes,
 * `_handle` the native stream), and what the instance hands to callbacks goes through
 * {@link deliver} (a `'pipe'` event carries the app's stream).
 */
function readOnlyView(target: object): object {
  disarmChain(target);
  hardenPrototypeChain(target);
  let view = readOnlyViews.get(target);
  if (view) return view;
  const methods = new WeakMap<Function, Function>();
  const guarded = new WeakMap<Function, Function>();
  const originals = new WeakMap<Function, Function>();
  const own = (fn: Function): Function | undefined => originals.get(fn);
  const refuse = (): boolean => false;
  let endOutput: Function | undefined;
  const hidden = (real: object, key: PropertyKey): boolean => {
    if (!isInternalKey(key)) return false;
    if (typeof key === 'symbol' && readlineSlots?.has(key)) return false;
    const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
    return !descriptor || descriptor.configurable === true; // a proxy must show what is fixed
  };
  const guard = (callback: unknown): unknown => {
    if (typeof callback !== 'function') return callback;
    let wrapped = guarded.get(callback);
    if (!wrapped) {
      wrapped = function (this: unknown, ...args: unknown[]) {
        return Reflect.apply(callback, this === target ? proxy : deliver(this, own), args.map((arg) => deliver(arg, own)));
      };
      guarded.set(callback, wrapped);
      originals.set(wrapped, callback);
    }
    return wrapped;
  };
  /** What the view shows for `key` of the real object holding `value` (read, or from its descriptor). */
  const shown = (real: object, key: PropertyKey, value: unknown): unknown => {
    // Fails closed: the class shown is one that computes only (see getPrototypeOf).
    if (key === 'constructor' && !isSafeConstructor(value)) return shownPrototype(real)?.constructor;
    if (!isObject(value)) return value;
    const fixed = Reflect.getOwnPropertyDescriptor(real, key);
    if (fixed && 'value' in fixed && !fixed.configurable && !fixed.writable) return value; // a proxy may not answer otherwise
    if (typeof value !== 'function') {
      // What the viewed object holds is viewed the same way: given as it was, the app's
      // nested objects were the package's to change (`client.options.verify = false`,
      // `client.pool`'s class prototype, case 112).
      return hostLeaf(value);
    }
    let method = methods.get(value);
    if (!method) {
      method = function (this: unknown, ...args: unknown[]) {
        // The viewed object's methods, for the viewed object: on an object of the
        // package's making, `connect` would open a socket with no grant.
        if (isForeignCapabilityCall(value, this, proxy, real)) throw foreignReceiver(key);
        const result: unknown = Reflect.apply(value, this === proxy ? real : this, args.map(guard));
        return result === real ? proxy : deliver(result, own);
      };
      methods.set(value, method);
    }
    return method;
  };
  const proxy: object = new Proxy(target, {
    get(real, key) {
      if (key === '_writableState' || key === '_readableState') return streamStateView(Reflect.get(real, key, real));
      if (key === 'end' && isStandardOutput(real)) return (endOutput ??= endStandardOutput(real, proxy));
      if (hidden(real, key)) return undefined;
      return shown(real, key, Reflect.get(real, key, real));
    },
    // The prototype chain shown stops at the classes that compute only (streams,
    // emitters): a socket's or a tty stream's prototype would hand out `connect`.
    getPrototypeOf: (real) => (Object.isExtensible(real) ? shownPrototype(real) : Object.getPrototypeOf(real)),
    has: (real, key) => !hidden(real, key) && Reflect.has(real, key),
    ownKeys: (real) => Reflect.ownKeys(real).filter((key) => !hidden(real, key)),
    // A descriptor's value is shown as a read shows it (its `value` was the object itself).
    getOwnPropertyDescriptor: (real, key) => {
      if (hidden(real, key)) return undefined;
      const descriptor = Reflect.getOwnPropertyDescriptor(real, key);
      if (descriptor === undefined || !('value' in descriptor)) return descriptor;
      return { ...descriptor, value: shown(real, key, descriptor.value) };
    },
    // Node's readline, given the view of `process.stdin` (inquirer's prompts), keeps its
    // decoders on the stream as it does on the real one: only those two slots, only
    // once, only values of the kinds Node puts there, and only set by Node's
    // `emitKeypressEvents` itself. A package's own assignment planted a decoder of its
    // own (a StringDecoder subclass passes `instanceof`) before the app's
    // `emitKeypressEvents(process.stdin)`, which then found the slot taken and returned:
    // the app's terminal got no keypress but those the package emitted (case 251).
    set: function set(real, key, value) {
      if (typeof key !== 'symbol' || Reflect.getOwnPropertyDescriptor(real, key) !== undefined) return false;
      const accepts = readlineSlotsOf().get(key);
      if (accepts === undefined || !accepts(value)) return false;
      const [caller] = callerSitesOf(globalThis.Error as never, set, 1);
      if (caller?.file !== 'node:internal/readline/emitKeypressEvents' || caller.name !== 'emitKeypressEvents') return false;
      return Reflect.defineProperty(real, key, { value, writable: false, enumerable: true, configurable: true });
    },
    defineProperty: refuse,
    deleteProperty: refuse,
    setPrototypeOf: refuse,
    preventExtensions: refuse,
  });
  view = proxy;
  readOnlyViews.set(target, view);
  return view;
}

export class ForeignReceiverError extends TypeError {
  readonly code = 'LAVAMOAT_FOREIGN_RECEIVER';
}

export const foreignReceiver = (key: PropertyKey): ForeignReceiverError =>
  new ForeignReceiverError(`LavaMoat: ${String(key)} of a granted host object can only be called on that object`);

/**
 * What a view shows of a stream's state: its flags and counts (`instanceof Writable`
 * asks for a `WritableState`; `console.Console` reads `errorEmitted`), not what it holds
 * (the chunks the app wrote, the streams piped to it, its decoder).
 */
function streamStateView(state: unknown): unknown {
  if (!isObject(state)) return state;
  const view = Object.create(Object.getPrototypeOf(state) as object | null) as Record<string, unknown>;
  for (const key of Object.keys(state)) {
    const value: unknown = (state as Record<string, unknown>)[key];
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) view[key] = value;
  }
  return Object.freeze(view);
}

const isStandardOutput = (stream: object): boolean => stream === process.stdout || stream === process.stderr;

/**
 * `end` of the view of `process.stdout` or `process.stderr`: writes its last chunk and
 * leaves the stream open. `readable.pipe(dest)` ends its destination unless it is one of
 * these two, which it tells by identity: a package's `pipe(process.stdout)` (its view)
 * would otherwise end the app's standard output.
 */
function endStandardOutput(real: object, view: object): Function {
  const stream = real as { write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean };
  return function end(this: unknown, chunk?: unknown, encoding?: unknown, callback?: unknown): object {
    if (typeof chunk === 'function') [chunk, callback] = [undefined, chunk];
    else if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding];
    if (chunk !== undefined && chunk !== null) stream.write(chunk, encoding as never);
    if (typeof callback === 'function') process.nextTick(callback as () => void);
    return view;
  };
}

/**
 * Strict mode's settings for one package's grants: a read grant of an object global
 * cannot change what others see (the refusal says what to grant instead).
 */
export interface StrictGrants {
  packageName: string;
  envRefusal(action: string, name: PropertyKey): string;
}

/**
 * A leaf of a dotted grant of a host global: `process.env` as its view, plain data
 * (`process.argv`, `process.versions`) as a frozen copy read now, another host object as
 * a read-only view; functions are wrapped by the view that holds them (endowments.ts).
 * In strict mode, `process.env` granted read is read-only.
 */
export function hostLeaf(value: unknown, access?: string, strict?: StrictGrants): unknown {
  if (!isObject(value)) return value;
  // The real process, held by an object a package is shown (a cluster worker's `process`,
  // case 264): never, not even as a view (its `binding`, `dlopen`, `getBuiltinModule`).
  if (value === process) return opaque(value);
  if (typeof value === 'function') return handOutValue(value);
  if (value === process.env) {
    return strict !== undefined && access !== 'write' ? readOnlyEnvFor(value, strict.packageName, strict.envRefusal) : envFor(value);
  }
  if (isPlainData(value)) return frozenCopy(value);
  // A buffer, date or regular expression: a copy (its methods write the app's own: a view
  // called `fill`, `write` and `setUTCFullYear` on it, case 111).
  const atom = copyAtom(value);
  if (atom !== undefined) return atom;
  return readOnlyView(value);
}

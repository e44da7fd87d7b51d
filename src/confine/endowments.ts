/**
 * Endowments: what a package's compartment global holds, made from its `globals` policy
 * and the host's real globals (captured before scuttling).
 *
 * - `"x": true` (or `"read"`): the host's current value, in a form that cannot be used
 *   to change it (see shared-globals.ts), on the package's own global: the package may
 *   assign or redefine it there, which never reaches the host or another package.
 * - `"x": "write"`: an accessor to the host's property, so every package granted it
 *   (and the app) sees the same value.
 * - `"x": "redefine"`: the same as read (which already lets the package redefine it).
 * - `"a.b": ...`: `a` is a new object holding only the granted paths; leaves are live
 *   (read through to the host's current value), methods are called with the real
 *   parent as `this` (narrowed-globals.ts).
 * Everything else does not exist in the compartment.
 */
import process from 'node:process';
import type { GlobalPolicyValue as GlobalValue } from '../policy/types.js';
import { consoleFor, hardenedOnGrant, shareable } from './shared-globals.js';
import { beforeGlobalWrite } from './lazy-globals.js';
import { hostLeaf, type StrictGrants } from './views.js';
import { envFileLoaderFor } from './env-views.js';
import { reportFor, reportGetterFor } from './process-report.js';
import { ownerOf, viewFor } from './export-views.js';
import { broadcastChannelFor } from './broadcast-channels.js';
import { navigatorFor } from './lock-managers.js';
import { storageFor } from './web-storage.js';
import { accessOf, buildTree, defineNarrowed, observed, ownObjectObserved, PLATFORM_GLOBALS, type Access } from './narrowed-globals.js';
import { hasInstancePrototype } from './boundary.js';

export { narrowedView } from './narrowed-globals.js';

export type HostGlobals = Record<PropertyKey, unknown>;

/**
 * The host's `Date` and `Math`, given to every compartment as LavaMoat does: SES's
 * compartment versions throw on `Date.now()` and `Math.random()`. Both are intrinsics
 * that lockdown froze, so sharing them shares no mutable state. (`Intl` is a host
 * object lockdown leaves mutable: it is granted like any other global.)
 */
export const UNIVERSAL_GLOBALS = ['Date', 'Math'] as const;

/**
 * The globals every compartment gets, whatever its policy: the host's `Date` and `Math`
 * (see UNIVERSAL_GLOBALS). Constant, like the other intrinsics (see `pinGlobals`).
 */
export function universalEndowments(host: HostGlobals): PropertyDescriptorMap {
  const descriptors: PropertyDescriptorMap = {};
  for (const name of UNIVERSAL_GLOBALS) {
    descriptors[name] = { value: host[name], writable: false, enumerable: false, configurable: false };
  }
  return descriptors;
}

/**
 * Makes every data property of a compartment's global constant (non-writable,
 * non-configurable), except `eval` and the names in `keep`. SES compiles a compartment's
 * code with its constant globals as local bindings; every other free name is looked up
 * through scope objects at each use, tens of times slower. Intrinsics are constant in
 * practice anyway (lockdown froze them); a package can still add globals of its own.
 */
export function pinGlobals(globalObject: object, keep: ReadonlySet<string>): void {
  for (const name of Object.getOwnPropertyNames(globalObject)) {
    if (name === 'eval' || keep.has(name)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(globalObject, name);
    if (!descriptor || !('value' in descriptor) || !descriptor.configurable) continue;
    Object.defineProperty(globalObject, name, {
      value: descriptor.value,
      writable: false,
      enumerable: descriptor.enumerable,
      configurable: false,
    });
  }
}

/**
 * Names a `globals` policy grants (they stay mutable: LavaMoat lets a package assign or
 * redefine on its own global what it is granted, even an intrinsic such as `TextEncoder`).
 */
export function mutableGlobalNames(globals: Record<string, GlobalValue> | undefined): Set<string> {
  const names = new Set<string>();
  for (const [key, value] of Object.entries(globals ?? {})) {
    if (accessOf(value) !== undefined) names.add(key.split('.')[0]!);
  }
  return names;
}

/**
 * LavaMoat's read grant: a property of the package's own global that reads the host's
 * current value (as Node's shared global would, and as LavaMoat's global store shows
 * other packages' writes), in a form that cannot change it (shared-globals.ts). The
 * package may assign or redefine the name there (hono's `Object.defineProperty(global,
 * 'Request', ...)`); only it sees the change, and from then on it keeps its own value.
 * Not a constant, so SES looks the name up at each use (docs/performance.md).
 */
function readGrant(host: HostGlobals, name: string, strict: boolean, observe?: () => void, packageName?: string): PropertyDescriptor {
  const descriptor = readGrantOf(host, name, strict, packageName);
  const made = observe ? observed(descriptor, observe) : descriptor;
  readGrants.add(made);
  return made;
}

/** The descriptors {@link readGrant} made. */
const readGrants = new WeakSet<PropertyDescriptor>();

/**
 * Defines `descriptors` (from {@link makeEndowments}) on a package's global `own`, except
 * read grants of names the host does not have (yet): those are answered by a prototype
 * of `own` that has them only while the host has them. `'X' in globalThis` is then false
 * where Node's would be (thread-stream, under every pino transport, reads
 * `'__bundlerPathsOverrides' in globalThis ? globalThis.__bundlerPathsOverrides : {}`,
 * and took `undefined` for the overrides), and a global the app or a package granted
 * "write" defines later is still read. Assigning the name defines the package's own, as
 * for any read grant. ("write" grants stay properties: strict code creates a global by
 * assigning its bare name, `X = 1`, which needs the binding.)
 */
export function defineEndowments(own: object, descriptors: PropertyDescriptorMap, host: HostGlobals): void {
  let late: Map<PropertyKey, PropertyDescriptor> | undefined;
  for (const name of Reflect.ownKeys(descriptors)) {
    const descriptor = descriptors[name as string]!;
    if (readGrants.has(descriptor) && !Reflect.has(host, name)) {
      (late ??= new Map()).set(name, descriptor);
      continue;
    }
    Object.defineProperty(own, name, descriptor);
  }
  if (late === undefined) return;
  const pending = late;
  // Once the host has the name, the grant moves onto `own` as if it had always been there
  // (`hasOwnProperty` then answers as Node's).
  const settle = (key: PropertyKey): boolean => {
    const descriptor = pending.get(key);
    if (descriptor === undefined || !Reflect.has(host, key)) return false;
    pending.delete(key);
    if (!Object.prototype.hasOwnProperty.call(own, key)) Object.defineProperty(own, key, descriptor);
    return true;
  };
  // Every global a package's code names is looked up on its global in a `with` scope,
  // which also reads the global's `Symbol.unscopables`: an own one (none are) keeps that
  // read off the prototype below, on the path of every global access.
  if (!Reflect.getOwnPropertyDescriptor(own, Symbol.unscopables)) {
    Object.defineProperty(own, Symbol.unscopables, { value: undefined, writable: true, enumerable: false, configurable: true });
  }
  const parent = Object.create(Object.getPrototypeOf(own) as object | null) as object;
  Object.setPrototypeOf(
    own,
    new Proxy(parent, {
      has: (target, key) => (pending.has(key) ? settle(key) : Reflect.has(target, key)),
      get: (target, key, receiver) => {
        if (!pending.has(key)) return Reflect.get(target, key, receiver);
        return settle(key) ? Reflect.get(own, key, receiver) : undefined;
      },
    }),
  );
}

/**
 * Globals a package receives a class of its own of, made from what the others receive
 * (`BroadcastChannel`: channels in the package's own namespace, broadcast-channels.ts).
 */
const PER_PACKAGE: Readonly<Record<string, (shared: unknown, packageName: string) => unknown>> = {
  BroadcastChannel: broadcastChannelFor,
  // Its own group indentation, timers and counters (shared-globals.ts).
  console: consoleFor,
  // Node 24: its own Web Locks namespace (lock-managers.ts).
  navigator: navigatorFor,
  // Its own keys of Node's stores (web-storage.ts).
  localStorage: storageFor,
  sessionStorage: storageFor,
};

/**
 * Globals whose dotted grants (`"navigator.locks.request": true`, `"localStorage.getItem":
 * true`) are of the package's own object ({@link PER_PACKAGE}), whose members hand out
 * nothing of the app's to deliver.
 */
const OWN_SOURCES = new Set(['navigator', 'localStorage', 'sessionStorage']);


/** A dotted grant of a console method (`"console.time": true`): the package's console's, as a grant of `console` gives it. */
function consoleMember(host: HostGlobals, key: string, value: Function, packageName: string): unknown {
  const own = consoleFor(shareable(host, 'console', host.console), packageName) as Record<string, unknown> | undefined;
  const method = own?.[key];
  // The global's current method (a replaced one is the app's, kept).
  return typeof method === 'function' && (host.console as Record<string, unknown> | undefined)?.[key] === value ? method : hostLeaf(value);
}

/**
 * A grant of a host class's prototype (`"URL.prototype": true`, which the generator
 * writes for `@hapi/hoek`'s `url: URL.prototype`): the prototype a grant of the class
 * shows (its hardened `prototype`; a capability class's, disarmed), as in LavaMoat, so
 * that it is the prototype of the host's instances (hoek compares prototypes, and makes
 * copies through its `constructor`). Not a frozen copy of a data object: that read every
 * accessor of the prototype on the prototype itself (`Receiver must be an instance of
 * class URL`).
 */
function classPrototypeLeaf(host: HostGlobals, path: readonly string[], value: unknown): unknown {
  if (path.length !== 2 || path[1] !== 'prototype' || value === null || typeof value !== 'object') return undefined;
  const owner: unknown = host[path[0]!];
  if (typeof owner !== 'function' || (owner as { prototype?: unknown }).prototype !== value) return undefined;
  const shared: unknown = shareable(host, path[0]!, owner);
  return typeof shared === 'function' ? (shared as { prototype?: unknown }).prototype : undefined;
}

/**
 * A dotted grant of an object member of a global whose grant hands out the host's object
 * hardened (`"crypto.subtle": true`, which the generator writes for jose): that member as
 * a grant of the whole global shows it. Viewed instead, its methods' results were
 * delivered as data, and the `CryptoKey` of `importKey` became an opaque token (no
 * `algorithm`: jose's `checkCryptoKey` threw, and `sign` could not take it back).
 */
function hardenedMemberLeaf(host: HostGlobals, path: readonly string[], value: unknown): unknown {
  if (path.length !== 2 || value === null || typeof value !== 'object' || !hardenedOnGrant(path[0]!)) return undefined;
  const owner: unknown = host[path[0]!];
  if (owner === null || typeof owner !== 'object' || Reflect.get(owner, path[1]!) !== value) return undefined;
  const shared: unknown = shareable(host, path[0]!, owner);
  return shared !== null && typeof shared === 'object' && Reflect.get(shared, path[1]!) === value ? value : undefined;
}

/**
 * Whether a dotted grant's member is a static of a platform class that a grant of the
 * whole global hands out as it is (`"AbortSignal.timeout": true`, `"URL.parse": true`,
 * which the generator writes for what a package uses): its results are then the
 * package's as the whole grant's are (a signal it can pass to `AbortSignal.any` and
 * listen on, a URL), not opaque tokens, and the package gets nothing the whole class
 * would not give it. A class the boundary gives otherwise (restricted, disarmed, a
 * copy) keeps its statics' results delivered.
 */
function isWholeClassStatic(host: HostGlobals, raw: unknown, path: readonly string[]): boolean {
  if (path.length !== 2 || typeof raw !== 'function' || !PLATFORM_GLOBALS.has(path[0]!)) return false;
  const key = path[1]!;
  if (key === 'prototype' || key === 'constructor') return false;
  const owner: unknown = host[path[0]!];
  if (typeof owner !== 'function' || !hasInstancePrototype(owner) || Reflect.get(owner, key) !== raw) return false;
  return shareable(host, path[0]!, owner) === owner && Object.isFrozen(owner);
}

function readGrantOf(host: HostGlobals, name: string, strict: boolean, packageName = ''): PropertyDescriptor {
  const perPackage = Object.hasOwn(PER_PACKAGE, name) ? PER_PACKAGE[name] : undefined;
  let own: { value: unknown } | undefined;
  let seen: unknown;
  let shared: unknown;
  let primed = false;
  return {
    get() {
      if (own) return own.value;
      const value = host[name];
      if (!primed || value !== seen) {
        shared = shareable(host, name, value);
        if (perPackage !== undefined) shared = perPackage(shared, packageName);
        // Strict mode: a read grant of an object (one the app put on its global, an
        // instance of its classes) cannot change it for the app and the other packages: a
        // read-only view. (What the boundary gives is frozen or a view already, and needs
        // none; a whole `process` grant is the process.)
        if (strict && shared === value && typeof value === 'object' && value !== null && name !== 'process') {
          shared = viewFor(value, ownerOf('global', name));
        }
        seen = value;
        primed = true;
      }
      return shared;
    },
    set(value: unknown) {
      own = { value };
    },
    enumerable: Reflect.getOwnPropertyDescriptor(host, name)?.enumerable ?? true,
    configurable: true,
  };
}

/**
 * Functions of `process` that read process-wide state called without an argument and
 * change it with one: a read grant (`"process.umask": true`, which policies list for a
 * package that reads the mask to compute a file's mode, as write-file-atomic does) may
 * call them only to read. `process.umask(0)` made every file and directory the app
 * created afterwards writable by every user of the machine (docs/attacks.md, case 193).
 * `"write"` or a whole `process` grant sets them (a builtin grant of `process` members has
 * no `"write"`: only the whole module).
 */
const packageReports = new WeakSet<object>();

/** The package's own `process.report` (process-report.ts): handed out as it is. */
function packageReport(real: Parameters<typeof reportFor>[0], packageName: string, namesWriter: boolean): object {
  const report = reportFor(real, packageName, namesWriter);
  packageReports.add(report);
  return report;
}

/** Whether `value` is a package's own object made here, handed out as it is. */
export const isPackageOwnMember = (value: unknown): boolean => typeof value === 'object' && value !== null && packageReports.has(value);

const READ_OR_SET: Readonly<Record<string, string>> = { 'process.umask': 'the file mode mask of the whole process' };
const readOnlySetters = new WeakMap<Function, Function>();
export interface ProcessMemberContext {
  packageName: string;
  /** The package's policy names this grant (`"process.report.writeReport"`). */
  names(key: string): boolean;
}

export function guardedProcessMember(value: unknown, access: Access, key: string, context?: ProcessMemberContext): unknown {
  // The process's diagnostic report: without its environment, its writer only by name
  // (process-report.ts, case 261).
  if (key === 'process.report' && access !== 'write' && typeof value === 'object' && value !== null && typeof (value as { getReport?: unknown }).getReport === 'function') {
    return packageReport(value as never, context?.packageName ?? '', context?.names('process.report.writeReport') ?? false);
  }
  if (key === 'process.report.getReport' && typeof value === 'function') {
    return reportGetterFor(process.report as never, value);
  }
  if (typeof value !== 'function') return value;
  // Whatever the grant: the variables the env view protects (case 196).
  if (key === 'process.loadEnvFile') return envFileLoaderFor(value);
  // Whatever the grant: the app's live handles and requests, as named tokens (case 321).
  if (key === 'process._getActiveHandles' || key === 'process._getActiveRequests') return activeListerFor(value, key);
  if (access === 'write') return value;
  const what = READ_OR_SET[key];
  if (what === undefined) return value;
  let reader = readOnlySetters.get(value);
  if (reader === undefined) {
    const real = value;
    reader = {
      [real.name || key](this: unknown, ...args: unknown[]): unknown {
        if (args.length > 0 && args[0] !== undefined) {
          throw new TypeError(`LavaMoat: ${key}(value) sets ${what}: a read grant of "${key}" only reads it (grant the global "${key}": "write", or the whole process)`);
        }
        return Reflect.apply(real, this, []);
      },
    }[real.name || key]!;
    Object.defineProperty(reader, 'length', { value: real.length });
    readOnlySetters.set(real, Object.freeze(reader));
  }
  return reader;
}

/**
 * `process._getActiveHandles()` and `_getActiveRequests()` list the objects that keep the
 * event loop alive: the app's servers and sockets (and their `_handle`s), its child
 * processes, timers, and the native requests of its pending file operations, whose
 * `oncomplete` Node calls with the result. prom-client (its `nodejs_active_handles`
 * metric) and the like are granted them to count them by class; a package granted one
 * closed the app's server and wrote into both ends of its connections (docs/attacks.md,
 * case 321). A package's list holds, for each, a frozen token whose `constructor.name` is
 * the class's name (what those metrics read), the same token for the same object, and
 * nothing of the object.
 */
const activeListers = new WeakMap<Function, Function>();
const activeTokens = new WeakMap<object, object>();

function activeTokenOf(value: unknown): unknown {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return value;
  let token = activeTokens.get(value);
  if (token === undefined) {
    let name = '';
    try {
      const ctor = (value as { constructor?: { name?: unknown } }).constructor;
      if (typeof ctor?.name === 'string') name = ctor.name;
    } catch {
      // A token without a name.
    }
    token = Object.freeze(
      Object.create(null, {
        constructor: { value: Object.freeze(Object.create(null, { name: { value: name, enumerable: true } })) },
        [Symbol.toStringTag]: { value: 'LavaMoat active resource' },
      }) as object,
    );
    activeTokens.set(value, token);
  }
  return token;
}

function activeListerFor(real: Function, key: string): Function {
  let lister = activeListers.get(real);
  if (lister === undefined) {
    const name = real.name || key.slice('process.'.length);
    lister = {
      [name](): unknown[] {
        const list: unknown = Reflect.apply(real, process, []);
        return Array.isArray(list) ? list.map(activeTokenOf) : [];
      },
    }[name]!;
    Object.defineProperty(lister, 'length', { value: 0 });
    activeListers.set(real, Object.freeze(lister));
  }
  return lister;
}

/**
 * Property descriptors for the globals a package's policy grants, made when the
 * package's first module loads (so a global the app set up before that is seen, as in
 * LavaMoat, whose compartments are created at that point).
 */
export function makeEndowments(
  globals: Record<string, GlobalValue> | undefined,
  host: HostGlobals,
  /** Names the compartment already has (its own intrinsics, and its `Error`). */
  provided: (name: string) => boolean = () => false,
  /**
   * Recording only (usage.ts): `use` is told each grant key on its first use (and the
   * name of an object holding dotted grants when it is read), `unobserved` each grant key
   * met by the compartment's own intrinsics, which no accessor sees.
   */
  observe?: { use(key: string): void; unobserved(key: string): void },
  /** Strict mode: read grants of object globals are read-only. */
  strict?: StrictGrants,
  /** The package's name (its own namespace where a global has one: `BroadcastChannel`). */
  packageName?: string,
): PropertyDescriptorMap {
  const descriptors: PropertyDescriptorMap = {};
  const tree = buildTree(globals ?? {});
  const memberContext: ProcessMemberContext = {
    packageName: packageName ?? strict?.packageName ?? '',
    names: (key) => globals?.[key] !== undefined && accessOf(globals[key]!) !== undefined,
  };
  const processLeaf = (value: unknown, access: Access, strictGrants?: StrictGrants): unknown => (isPackageOwnMember(value) ? value : hostLeaf(value, access, strictGrants));
  for (const [name, node] of tree.children) {
    // A grant of an intrinsic (`Error.captureStackTrace`, `Object.keys`) is met by the
    // compartment's own, which is the same frozen object or a confined equivalent.
    if (provided(name)) {
      if (observe) {
        for (const [key, value] of Object.entries(globals ?? {})) {
          if (accessOf(value) !== undefined && (key === name || key.startsWith(`${name}.`))) observe.unobserved(key);
        }
      }
      continue;
    }
    if (node.access === 'write') {
      const writeGrant: PropertyDescriptor = {
        get: () => host[name],
        set: (value: unknown) => {
          beforeGlobalWrite(name);
          host[name] = value;
        },
        enumerable: true,
        // A package that creates a global may delete it again (sass's
        // `delete globalThis._cliPkgExports`), which strict code cannot do to a
        // non-configurable property. The delete removes this accessor from the package's
        // own global; the host keeps the last value written.
        configurable: true,
      };
      descriptors[name] = observe ? observed(writeGrant, () => observe.use(name)) : writeGrant;
    } else if (node.access) {
      // Even when the host has no such global yet: another package granted "write" (or
      // the app) may define it later, and this package then reads it.
      descriptors[name] = readGrant(host, name, strict !== undefined, observe && (() => observe.use(name)), packageName ?? strict?.packageName);
    } else {
      if (host[name] === undefined || host[name] === null) continue;
      const view = {};
      // Of the package's own object where it has one (OWN_SOURCES).
      const own = OWN_SOURCES.has(name) ? PER_PACKAGE[name]!(shareable(host, name, host[name]), packageName ?? strict?.packageName ?? '') : undefined;
      defineNarrowed(view, node, own === undefined || own === host[name] ? (host as object) : { [name]: own }, [name], {
        guardCallbacks: own === undefined || own === host[name],
        platform: PLATFORM_GLOBALS.has(name),
        whole: (raw: unknown, path: readonly string[]) => isWholeClassStatic(host, raw, path),
        leaf: (value: unknown, access: Access, path: readonly string[]) =>
          path.length === 2 && path[0] === 'console' && typeof value === 'function'
            ? consoleMember(host, path[1]!, value, packageName ?? strict?.packageName ?? '')
            : (classPrototypeLeaf(host, path, value) ?? hardenedMemberLeaf(host, path, value) ?? processLeaf(guardedProcessMember(value, access, path.join('.'), memberContext), access, strict)),
        ...(observe && { observe: (path: readonly string[]) => observe.use(path.join('.')) }),
      });
      // The package's own object, on its own global: replacing it changes nothing else.
      descriptors[name] = observe
        ? ownObjectObserved(view, () => observe.use(name))
        : { value: view, writable: true, enumerable: true, configurable: true };
    }
  }
  return descriptors;
}

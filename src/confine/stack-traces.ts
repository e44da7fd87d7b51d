/**
 * A confined view of V8's stack trace API, one per compartment.
 *
 * Packages such as `depd` (under express, body-parser, send) find their callers with
 * `Error.captureStackTrace(obj)` and an `Error.prepareStackTrace` that returns V8's
 * call sites. SES compartments share one `Error` whose stack API does nothing, so
 * those packages crash; handing them the real API would give every package the
 * functions and receivers of every frame in the process (`getFunction`, `getThis`) and
 * a way to format every error in the process.
 *
 * Each compartment gets its own `Error` function instead. It constructs the shared
 * intrinsic errors (same prototype, so `instanceof Error` holds for engine errors), and
 * its `captureStackTrace` records a stack on the given object, formatting it right
 * away with the compartment's own `prepareStackTrace`, if one is set, applied to call
 * sites that carry only locations and names (SES's safe call-site facets) and answer
 * `getThis()`/`getFunction()` with undefined. Setting `prepareStackTrace` or
 * `stackTraceLimit` affects only that compartment's captures.
 */

import process from 'node:process';

interface ErrorConstructorLike {
  new (...args: unknown[]): Error;
  (...args: unknown[]): Error;
  prototype: Error;
  captureStackTrace?: (target: object, fn?: Function) => void;
  prepareStackTrace?: unknown;
  stackTraceLimit?: number;
}

type SafeCallSite = Record<string, () => unknown>;

const CALL_SITE_METHODS = [
  'getTypeName',
  'getFunctionName',
  'getMethodName',
  'getFileName',
  'getLineNumber',
  'getColumnNumber',
  'getEvalOrigin',
  'isToplevel',
  'isEval',
  'isNative',
  'isConstructor',
  'isAsync',
  'getPosition',
  'getScriptNameOrSourceURL',
] as const;

/** Each confined call site's SES facet: never reachable from the site itself. */
const siteFacets = new WeakMap<object, SafeCallSite>();

/** What `name` of the facet behind `site` answers (asked when the package asks: most ask for two or three). */
function siteValue(site: unknown, name: string): unknown {
  const facet = typeof site === 'object' && site !== null ? siteFacets.get(site) : undefined;
  if (facet === undefined) throw new TypeError(`${name} called on an object that is not a call site`);
  const method = facet[name];
  return typeof method === 'function' ? Reflect.apply(method, facet, []) : undefined;
}

/**
 * The methods of every confined call site, as V8's own call sites hold theirs (on their
 * prototype, which `source-map-support` copies from): one frozen prototype for every
 * compartment, whose methods read the facet a site stands for, and nothing else.
 */
const CONFINED_CALL_SITE: object = (() => {
  const methods: Record<string, (this: unknown) => unknown> = {};
  for (const name of CALL_SITE_METHODS) methods[name] = { [name](this: unknown) { return siteValue(this, name); } }[name]!;
  Object.assign(methods, {
    // Package code is evaluated from source with a `//# sourceURL`, for which V8 reports
    // no file name; Node code expects the module's file there, as for Node's own modules.
    getFileName(this: unknown): unknown {
      return siteValue(this, 'getFileName') ?? siteValue(this, 'getScriptNameOrSourceURL');
    },
    toString(this: unknown): string {
      return String(siteValue(this, 'toString') ?? '');
    },
    getThis: (): undefined => undefined,
    getFunction: (): undefined => undefined,
    isPromiseAll: (): boolean => false,
    getPromiseIndex: (): null => null,
  });
  for (const method of Object.values(methods)) Object.freeze(method);
  return Object.freeze(methods);
})();

function confinedCallSite(facet: SafeCallSite): object {
  const site = Object.freeze(Object.create(CONFINED_CALL_SITE) as object);
  siteFacets.set(site, facet);
  return site;
}

/**
 * @param hostError the start compartment's `Error` (SES's tamed one), whose stack API
 *   hands out safe call-site facets
 * @param sharedError the `Error` every compartment shares
 */
export function makeCompartmentError(hostError: ErrorConstructorLike, sharedError: ErrorConstructorLike): Function {
  let prepare: unknown;
  let limit = 10;
  // Whether the compartment ever set its `stackTraceLimit`: until then, errors are made
  // as everywhere else.
  let limited = false;

  // V8 captures the stack while an error is made, up to the realm's limit. A package that
  // lowers its `Error.stackTraceLimit` (zod sets 0 around the errors of every failed
  // parse, to skip that capture) gets it for the errors it makes too, never above the
  // host's limit: a lower limit only shortens its own errors' stacks.
  const CompartmentError = function Error(this: unknown, ...args: unknown[]): Error {
    const target: Function = new.target === undefined || new.target === CompartmentError ? sharedError : new.target;
    const savedLimit = hostError.stackTraceLimit;
    const lower = limited && typeof savedLimit === 'number' && limit < savedLimit;
    if (lower) hostError.stackTraceLimit = limit;
    try {
      const error = Reflect.construct(sharedError, args, target) as Error;
      // `Error.prepareStackTrace = (_, sites) => sites; new Error().stack` (callsites, under
      // parent-module and import-fresh): the error's stack is what the compartment's
      // `prepareStackTrace` makes of its call sites, as V8 does when it is set. Otherwise
      // the stack is taken again from the caller, without this function's own frame
      // (`at new Error (.../runtime/...)` topped every stack a package's error printed).
      // Frames are cut up to the constructor called, as V8 does (a subclass's own frame too).
      const cut = typeof new.target === 'function' ? new.target : CompartmentError;
      if (typeof prepare === 'function') captureStackTrace(error, cut);
      else if (!(lower && limit === 0)) hostError.captureStackTrace?.(error, cut);
      return error;
    } finally {
      if (lower) hostError.stackTraceLimit = savedLimit;
    }
  } as unknown as ErrorConstructorLike;

  function captureStackTrace(target: object, fn?: Function): void {
    if (target === null || (typeof target !== 'object' && typeof target !== 'function')) {
      throw new TypeError('Invalid argument: captureStackTrace expects an object');
    }
    let sites: object[] = [];
    const savedPrepare = hostError.prepareStackTrace;
    const savedLimit = hostError.stackTraceLimit;
    const holder: { stack?: unknown } = {};
    try {
      hostError.prepareStackTrace = (_error: unknown, facets: SafeCallSite[]) => {
        sites = facets.map(confinedCallSite);
        return '';
      };
      hostError.stackTraceLimit = limit;
      hostError.captureStackTrace!(holder, typeof fn === 'function' ? fn : captureStackTrace);
      void holder.stack;
    } finally {
      hostError.prepareStackTrace = savedPrepare;
      hostError.stackTraceLimit = savedLimit;
    }
    const frozenSites = Object.freeze(sites);
    const stack =
      typeof prepare === 'function'
        ? Reflect.apply(prepare, CompartmentError, [target, frozenSites])
        : `${describe(target)}${frozenSites.map((site) => `\n    at ${site.toString()}`).join('')}`;
    Object.defineProperty(target, 'stack', { value: stack, writable: true, enumerable: false, configurable: true });
  }

  Object.defineProperties(CompartmentError, {
    prototype: { value: sharedError.prototype, writable: false, enumerable: false, configurable: false },
    captureStackTrace: { value: captureStackTrace, writable: true, enumerable: false, configurable: true },
    prepareStackTrace: {
      get: () => prepare,
      set: (value: unknown) => {
        prepare = value;
      },
      enumerable: false,
      configurable: true,
    },
    stackTraceLimit: {
      get: () => limit,
      set: (value: unknown) => {
        if (typeof value === 'number') {
          limit = value;
          limited = true;
        }
      },
      enumerable: true,
      configurable: true,
    },
  });
  return CompartmentError as unknown as Function;
}

function describe(target: object): string {
  try {
    const name = (target as { name?: unknown }).name;
    const message = (target as { message?: unknown }).message;
    if (typeof name === 'string' || typeof message === 'string') {
      return message ? `${name ?? 'Error'}: ${message}` : String(name ?? 'Error');
    }
  } catch {
    // A throwing getter leaves the plain header.
  }
  return 'Error';
}

/**
 * V8's own `Error` (the one SES keeps for itself) stays reachable from Node's objects
 * however hard one looks away: Node's internal error classes extend it, and some of its
 * errors name it as their `constructor`. Whoever sets its `prepareStackTrace` receives
 * every stack of the process as raw call sites (`getThis()` of a sloppy frame is the real
 * global object). So its `prepareStackTrace` becomes an accessor whose setter accepts a
 * value only from this runtime's own code (SES's setter of the start compartment's
 * `Error`, which the app and confine/stack-traces.ts go through), found from V8's own call
 * sites; `captureStackTrace` is made read-only, and nothing can be added to it.
 * `stackTraceLimit` stays a writable data property (V8 reads it as data, and Node, SES
 * and the app write it): whoever reaches it can change the depth of every stack, or
 * freeze it, and the caller checks then read frames through a realm of their own.
 */
export function guardFeralError(feral: ErrorConstructorLike, trustedFile: (file: string | undefined) => boolean): void {
  const descriptor = Object.getOwnPropertyDescriptor(feral, 'prepareStackTrace');
  if (!descriptor || !descriptor.configurable) return;
  let current: unknown = 'value' in descriptor ? descriptor.value : descriptor.get?.call(feral);
  const capture = feral.captureStackTrace!;
  const rawSites = (fn: Function): unknown[] => {
    const saved = current;
    current = (_error: unknown, sites: unknown) => sites;
    const holder: { stack?: unknown } = {};
    try {
      Reflect.apply(capture, feral, [holder, fn]);
      const sites = holder.stack;
      return Array.isArray(sites) ? sites : [];
    } finally {
      current = saved;
    }
  };
  const callerFile = (setter: Function): string | undefined => {
    const sites = rawSites(setter);
    if (sites.length === 0) return undefined;
    const site = sites[0] as { getFileName?: () => string | undefined; isEval?: () => boolean; isAsync?: () => boolean };
    // The script's own name, never a `//# sourceURL` (which any evaluated code can
    // claim), and never code run through eval or `Function`; never a function awaiting
    // (the setter run as a promise job: see synchronousCallers).
    if (site.isEval?.() !== false || site.isAsync?.() !== false) return undefined;
    return site.getFileName?.() ?? undefined;
  };
  const set = function prepareStackTrace(value: unknown): void {
    if (!trustedFile(callerFile(set))) {
      throw new TypeError("LavaMoat: V8's own Error.prepareStackTrace cannot be set by a package");
    }
    current = value;
  };
  Object.defineProperty(feral, 'prepareStackTrace', { get: () => current, set, enumerable: false, configurable: false });
  Object.defineProperty(feral, 'captureStackTrace', { writable: false, configurable: false });
  // Nothing added (a `Symbol.hasInstance` would see what Node's code tests), and its
  // limit stays a data property (V8 reads it as data: an accessor would end every stack).
  const limit = Object.getOwnPropertyDescriptor(feral, 'stackTraceLimit');
  if (limit && 'value' in limit && limit.configurable) Object.defineProperty(feral, 'stackTraceLimit', { configurable: false });
  Object.preventExtensions(feral);
  feralCallerSites = (fn, count) => {
    const savedLimit = feral.stackTraceLimit;
    let lowered = false;
    try {
      try {
        feral.stackTraceLimit = count;
        lowered = true;
      } catch {
        // Frozen by whoever reached it (a package's `harden` of an error's class): its
        // limit still serves if it is enough, else a realm of the runtime's own reads the
        // frames, with a limit of its own.
        if (!(typeof savedLimit === 'number' && savedLimit >= count)) return privateRealmSites(fn, count).map((site) => siteOf(site as SafeCallSite));
      }
      return rawSites(fn)
        .slice(0, count)
        .map((site) => siteOf(site as SafeCallSite));
    } catch {
      return [];
    } finally {
      if (lowered) feral.stackTraceLimit = savedLimit;
    }
  };
}

let privateRealm: { error: ErrorConstructorLike; holder: () => object } | null | undefined;

/**
 * The frames below `fn` read through the `Error` of a realm only this runtime holds (a
 * `vm` context made on first need): V8 captures with the limit of the realm whose
 * `captureStackTrace` runs, and Node formats a holder made in that realm with that
 * realm's `prepareStackTrace`. For when V8's own `Error` was frozen with a limit too low
 * to tell a caller: the checks that read callers (net-brands.ts, undici-dispatcher.ts)
 * keep working instead of refusing everything.
 */
function privateRealmSites(fn: Function, count: number): unknown[] {
  if (privateRealm === undefined) {
    privateRealm = null;
    try {
      const vm = process.getBuiltinModule('node:vm') as typeof import('node:vm');
      const context = vm.createContext(Object.create(null));
      const error = vm.runInContext('Error', context) as ErrorConstructorLike;
      error.prepareStackTrace = (_error: unknown, sites: unknown) => sites;
      privateRealm = { error, holder: vm.runInContext('() => ({})', context) as () => object };
    } catch {
      // No realm: no frame, and the caller is refused.
    }
  }
  if (!privateRealm) return [];
  try {
    privateRealm.error.stackTraceLimit = count;
    const holder = privateRealm.holder() as { stack?: unknown };
    privateRealm.error.captureStackTrace!(holder, fn);
    const sites = holder.stack;
    return Array.isArray(sites) ? sites : [];
  } catch {
    return [];
  }
}

/** One frame as V8 describes it: its script's own name (undefined for eval'd code and builtins). */
export interface CallerSite {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly name: string | undefined;
  readonly isConstructor: boolean;
  /** A frame of a function suspended at an `await` (V8's async stack trace), not a caller: see {@link synchronousCallers}. */
  readonly isAsync: boolean;
}

function siteOf(site: SafeCallSite): CallerSite {
  const call = (name: string): unknown => (typeof site[name] === 'function' ? Reflect.apply(site[name]!, site, []) : undefined);
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
  // The script's own name, never a `//# sourceURL`, and never code run through eval or `Function`.
  const isEval = call('isEval') !== false;
  return Object.freeze({
    file: isEval ? undefined : text(call('getFileName')),
    line: number(call('getLineNumber')),
    column: number(call('getColumnNumber')),
    name: text(call('getFunctionName')),
    isConstructor: call('isConstructor') === true,
    isAsync: call('isAsync') === true,
  });
}

let feralCallerSites: ((fn: Function, count: number) => CallerSite[]) | undefined;

/**
 * As {@link callerFileOf}, through V8's own call sites (once {@link guardFeralError} has
 * run; the start compartment's `Error` otherwise): a few microseconds where SES's safe
 * call-site facets take tens, for a check on every request (undici-dispatcher.ts).
 */
export function callerScriptOf(hostError: ErrorConstructorLike, fn: Function): string | undefined {
  return callerSitesOf(hostError, fn, 1)[0]?.file;
}

/**
 * The `count` frames below `fn` (its caller first), through V8's own call sites once
 * {@link guardFeralError} has run, through `hostError`'s safe facets before. Empty when
 * the API fails.
 */
export function callerSitesOf(hostError: ErrorConstructorLike, fn: Function, count: number): CallerSite[] {
  return synchronousCallers(feralCallerSites ? feralCallerSites(fn, count) : hostCallerSites(hostError, fn, count));
}

/**
 * The frames up to the first async one. After the frames of the synchronous calls, V8
 * lists the functions awaiting the promise whose job is running (`at async f`): they
 * called nothing, they wait. A function a package schedules as a promise job
 * (`Promise.resolve(n).then(events.setMaxListeners)`, or a bound guarded getter) has no
 * synchronous caller at all, and its first frame was then the async frame of whoever
 * awaited the package's promise: the app's code, or the runtime's own while it awaits a
 * package's module (docs/attacks.md, case 361). No caller is not the app's.
 */
function synchronousCallers(sites: CallerSite[]): CallerSite[] {
  const cut = sites.findIndex((site) => site.isAsync);
  return cut < 0 ? sites : sites.slice(0, cut);
}

/** As {@link callerSitesOf}, through `hostError`'s safe call-site facets. */
function hostCallerSites(hostError: ErrorConstructorLike, fn: Function, count: number): CallerSite[] {
  let sites: CallerSite[] = [];
  const savedPrepare = hostError.prepareStackTrace;
  const savedLimit = hostError.stackTraceLimit;
  const holder: { stack?: unknown } = {};
  try {
    hostError.prepareStackTrace = (_error: unknown, facets: SafeCallSite[]) => {
      sites = facets.map(siteOf);
      return '';
    };
    hostError.stackTraceLimit = count;
    hostError.captureStackTrace!(holder, fn);
    void holder.stack;
  } catch {
    sites = [];
  } finally {
    hostError.prepareStackTrace = savedPrepare;
    hostError.stackTraceLimit = savedLimit;
  }
  return sites;
}

/**
 * The file of the code that called `fn`, as V8 names the script (a path for CommonJS, a
 * file URL for an ES module), read through `hostError`'s stack API (the start
 * compartment's `Error`, which hands out SES's safe call-site facets). Undefined when
 * that frame is code run through `eval` or `Function`: every package's code is
 * evaluated in its compartment that way (V8 then reports no file name either), so a
 * package's frame never names a file here, whatever `//# sourceURL` it claims. Also
 * undefined for a builtin frame (`Reflect.construct`) and when the API fails.
 */
export function callerFileOf(hostError: ErrorConstructorLike, fn: Function): string | undefined {
  return synchronousCallers(hostCallerSites(hostError, fn, 1))[0]?.file;
}

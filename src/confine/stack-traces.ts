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

function confinedCallSite(facet: SafeCallSite): object {
  const site: Record<string, () => unknown> = {};
  for (const name of CALL_SITE_METHODS) {
    const method = facet[name];
    const value = typeof method === 'function' ? Reflect.apply(method, facet, []) : undefined;
    site[name] = () => value;
  }
  // Package code is evaluated from source with a `//# sourceURL`, for which V8 reports
  // no file name; Node code expects the module's file there, as for Node's own modules.
  if (site.getFileName!() === undefined) {
    const sourceURL = site.getScriptNameOrSourceURL!();
    site.getFileName = () => sourceURL;
  }
  const text = typeof facet.toString === 'function' ? String(facet.toString()) : '';
  site.toString = () => text;
  site.getThis = () => undefined;
  site.getFunction = () => undefined;
  site.isPromiseAll = () => false;
  site.getPromiseIndex = () => null;
  return Object.freeze(site);
}

/**
 * @param hostError the start compartment's `Error` (SES's tamed one), whose stack API
 *   hands out safe call-site facets
 * @param sharedError the `Error` every compartment shares
 */
export function makeCompartmentError(hostError: ErrorConstructorLike, sharedError: ErrorConstructorLike): Function {
  let prepare: unknown;
  let limit = 10;

  const CompartmentError = function Error(this: unknown, ...args: unknown[]) {
    return Reflect.construct(sharedError, args, new.target === undefined || new.target === CompartmentError ? sharedError : new.target);
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
        if (typeof value === 'number') limit = value;
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

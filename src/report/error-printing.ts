/**
 * Errors must stay readable after lockdown. SES's `overrideTaming: 'moderate'` (needed
 * by real packages: node-fetch, TypeScript's ES5 classes and readable-stream assign
 * `constructor`, `name` and `message` on prototypes that inherit from the frozen
 * intrinsics) turns `Error.prototype.constructor` into an accessor. Node's inspect
 * reads constructors as data properties, finds `Object` first, and prints every error
 * as `{}`: in `console.error(err)`, in `util.inspect`, and when the process dies of an
 * uncaught exception.
 *
 * This puts Node's format back where errors are printed: console methods and
 * util.inspect/format get errors (top-level arguments, and errors held directly in
 * plain objects and arrays) as views that print `stack` plus own properties, the way
 * Node does; an uncaught error that no handler takes is printed the same way before
 * the process exits with Node's exit code.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import util from 'node:util';
import { fileURLToPath } from 'node:url';
import { syncBuiltinESMExports } from 'node:module';

const { isNativeError } = util.types;

/**
 * Native errors, and errors rebuilt from another thread: an error thrown by the
 * module.register() hooks thread (Node 20) reaches the main thread as an object that
 * inherits from Error.prototype but is not a native error, and Node would print it
 * without its message.
 */
const isError = (value: unknown): value is Error =>
  isNativeError(value) || (typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(Error.prototype, value));
const custom = util.inspect.custom;

type Inspect = (value: unknown, options?: util.InspectOptions) => string;

function errorView(error: Error): object {
  return {
    [custom](_depth: number, options: util.InspectOptions, inspect: Inspect) {
      let text: string;
      try {
        text = typeof error.stack === 'string' && error.stack !== '' ? error.stack : String(error);
        // As Node names an instance of a subclass that keeps its parent's name:
        // `Sub [RangeError]: message`.
        const name = error.name;
        const constructorName = (error.constructor as { name?: unknown } | undefined)?.name;
        if (
          typeof name === 'string' &&
          typeof constructorName === 'string' &&
          constructorName !== '' &&
          constructorName !== name &&
          text.startsWith(name) &&
          !text.startsWith(constructorName)
        ) {
          text = `${constructorName} [${name}]${text.slice(name.length)}`;
        }
      } catch {
        text = '[error]';
      }
      const props: Record<string, unknown> = {};
      for (const key of Object.keys(error)) {
        if (key === 'stack' || key === 'message') continue;
        try {
          props[key] = viewOf((error as unknown as Record<string, unknown>)[key], 1);
        } catch {
          props[key] = '[getter threw]';
        }
      }
      if ('cause' in error && !Object.prototype.propertyIsEnumerable.call(error, 'cause')) {
        props['[cause]'] = viewOf(error.cause, 1);
      }
      const keys = Object.keys(props);
      if (keys.length === 0) return text;
      // Node puts the properties of an error whose stack spans lines each on a line of its own.
      if (!text.includes('\n')) return `${text} ${inspect(props, options)}`;
      const entries = keys.map((key) => `${propertyName(key, inspect)}: ${inspect(props[key], options).replaceAll('\n', '\n  ')}`);
      return `${text} {\n  ${entries.join(',\n  ')}\n}`;
    },
  };
}

/** A property's name as util.inspect writes it (`code`, `'a-b'`; `[cause]` as is). */
function propertyName(key: string, inspect: Inspect): string {
  if (key === '[cause]' || /^[A-Za-z_$][\w$]*$/.test(key)) return key;
  const text = inspect({ [key]: 0 });
  return text.slice(2, -5);
}

const runtimeDir = path.dirname(fileURLToPath(import.meta.url));

/**
 * What Node prints over an uncaught error: the line of source where it was made and a
 * caret under its column (`file:///app.mjs:2`, the line, `      ^`, an empty line), from
 * the error's first frame when that is a file that can be read (not Node's own modules,
 * whose source Node prints from memory, nor this runtime's). An error made in one place
 * and thrown in another from a running function is marked where it was made (Node: where
 * it was thrown).
 */
function sourceArrow(error: Error, origin: string, mayShow: (file: string) => boolean): string {
  try {
    const stack = error.stack;
    if (typeof stack !== 'string' || /^(?:file:\/\/|\/|node:)\S*:\d+\n/.test(stack)) return '';
    const first = stack.split('\n').find((line) => line.startsWith('    at '));
    const at = first && (/\(([^()]+):(\d+):(\d+)\)$/.exec(first) ?? /^ {4}at (?:async )?([^()\s][^()]*):(\d+):(\d+)$/.exec(first));
    if (!at) return '';
    const [, location, lineText, columnText] = at;
    const file = location!.startsWith('file://') ? fileURLToPath(location!) : location!;
    if (!path.isAbsolute(file) || file.startsWith(runtimeDir + path.sep) || !isModuleSource(file)) return '';
    // The stack is the error's maker's to write: a package's frame naming any file (the
    // app's `.env`, `/proc/self/environ`: the whole environment on one line) had this read
    // it and print the line on the process's standard error (case 300). Only a module's
    // source, of the app or a package, is shown, as the file is and as it resolves.
    const real = fs.realpathSync(file);
    if (!isModuleSource(real) || !mayShow(file) || !mayShow(real)) return '';
    const source = fs.readFileSync(file, 'utf8').split(/\r?\n/)[Number(lineText) - 1];
    let column = Number(columnText) - 1;
    if (source === undefined || column > source.length) return '';
    // Thrown where it is made (`throw new Error(...)`) from a running function, V8 places
    // the message at the `throw`; an ES module's top level and a rejection, at the error.
    const thrown = origin === 'uncaughtException' ? /\bthrow\s+$/.exec(source.slice(0, column)) : null;
    if (thrown) column = thrown.index;
    let pad = '';
    for (let i = 0; i < column; i++) pad += source[i] === '\t' ? '\t' : ' ';
    return `${location}:${lineText}\n${source}\n${pad}^\n\n`;
  } catch {
    return '';
  }
}

/** Files a stack frame of JavaScript can name: the extensions of the modules Node and the runtime load. */
const isModuleSource = (file: string): boolean => /\.(?:[cm]?[jt]s|[jt]sx)$/.test(file);

const isPlain = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * Node 20's inspect names an object by the first `constructor` of its prototype chain that
 * is a data property, and only `Object.prototype` and `Function.prototype` by identity:
 * `overrideTaming: 'severe'` makes `constructor` of `Map.prototype` and `Set.prototype`
 * an accessor (immer and TypeScript's ES5 subclasses of them assign it), so a map printed
 * as `Object(1) [Map] { 1 => 2 }` (Node 22 knows the builtin prototypes). Such a map or
 * set is printed as a copy (the same entries, viewed in turn) whose prototype, frozen,
 * inherits from the real one and names it by a data property. Made at the first print,
 * only where Node needs it; `null` where it does not.
 */
let namedPrototypes: Map<object, { prototype: object; Class: typeof Map | typeof Set }> | null | undefined;

function namingPrototypes(): typeof namedPrototypes {
  if (namedPrototypes !== undefined) return namedPrototypes;
  namedPrototypes = null;
  const found = new Map<object, { prototype: object; Class: typeof Map | typeof Set }>();
  for (const Class of [Map, Set] as (typeof Map | typeof Set)[]) {
    const descriptor = Object.getOwnPropertyDescriptor(Class.prototype, 'constructor');
    if (descriptor === undefined || 'value' in descriptor) continue;
    if (originalInspect(Reflect.construct(Class, [])).startsWith(Class.name)) continue;
    const Named = { [Class.name]: function () {} }[Class.name]!;
    const prototype = Object.create(Class.prototype, { constructor: { value: Named } }) as object;
    Named.prototype = prototype;
    Object.freeze(prototype);
    Object.freeze(Named);
    found.set(Class.prototype, { prototype, Class });
  }
  if (found.size > 0) namedPrototypes = found;
  return namedPrototypes;
}

let originalInspect: Inspect = util.inspect;

/** A map or set of Node's own classes, to print as Node 20 would without lockdown (see {@link namingPrototypes}). */
function namedCopy(value: object, depth: number, limit: number): object | undefined {
  const named = namingPrototypes()?.get(Object.getPrototypeOf(value) as object);
  if (named === undefined || Reflect.ownKeys(value).length > 0) return undefined;
  if (named.Class === Map) {
    const copy = new Map<unknown, unknown>();
    for (const [key, item] of value as Map<unknown, unknown>) copy.set(viewOf(key, depth + 1, limit), viewOf(item, depth + 1, limit));
    return Object.setPrototypeOf(copy, named.prototype) as object;
  }
  const copy = new Set<unknown>();
  for (const item of value as Set<unknown>) copy.add(viewOf(item, depth + 1, limit));
  return Object.setPrototypeOf(copy, named.prototype) as object;
}

/**
 * The value to print instead of `value`: errors become views; containers are copied only
 * if they hold one. `limit` is the depth Node prints to (2, or an `inspect` call's
 * `depth`); a map or set one level below it is still named (`[Set]`).
 */
function viewOf(value: unknown, depth: number, limit = 2): unknown {
  if (isError(value)) return errorView(value);
  if (depth > limit + 1) return value;
  if (value instanceof Map || value instanceof Set) {
    try {
      return namedCopy(value, depth, limit) ?? value;
    } catch {
      return value;
    }
  }
  if (depth > limit) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const view = viewOf(item, depth + 1, limit);
      if (view !== item) (copy ??= value.slice())[i] = view;
    });
    return copy ?? value;
  }
  if (isPlain(value)) {
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      // Data properties only: Node shows a getter as `[Getter]` and never runs it (the
      // app's getters ran on each `console.log` of the object otherwise).
      let descriptor: PropertyDescriptor | undefined;
      try {
        descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      } catch {
        continue;
      }
      if (descriptor === undefined || !('value' in descriptor)) continue;
      const item: unknown = descriptor.value;
      const view = viewOf(item, depth + 1, limit);
      if (view === item) continue;
      // A copy with the same properties, getters included (a spread would run them).
      copy ??= Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
      Object.defineProperty(copy, key, { ...descriptor, value: view });
    }
    return copy ?? value;
  }
  return value;
}

const viewArgs = (args: unknown[]): unknown[] => args.map((arg) => viewOf(arg, 0));

/** The depth an `inspect(value, options)` call prints to (up to 8 levels copied here: deeper stays as it is). */
function inspectDepth(options: unknown): number {
  if (typeof options !== 'object' || options === null) return 2;
  let depth: unknown;
  try {
    depth = (options as { depth?: unknown }).depth;
  } catch {
    return 2;
  }
  if (depth === null) return 8;
  return typeof depth === 'number' && depth >= 0 ? Math.min(depth, 8) : 2;
}

function wrapFunction<T extends (...args: never[]) => unknown>(original: T, wrapper: T): T {
  // Keep `inspect.custom`, `defaultOptions`, `colors`, `styles` and the like.
  for (const key of Reflect.ownKeys(original)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    const descriptor = Object.getOwnPropertyDescriptor(original, key);
    if (descriptor) Object.defineProperty(wrapper, key, descriptor);
  }
  return wrapper;
}

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'dirxml'] as const;

/**
 * `explain` may add policy hints to an error before it is printed; `beforePrint` is told
 * the error about to be printed (the caught-denial report prints what it holds first,
 * and not the denials this error shows).
 */
export function installErrorPrinting(
  explain: (error: Error) => void = () => {},
  beforePrint?: (error: unknown) => void,
  mayShowSource: (file: string) => boolean = () => false,
): void {
  const inspect = util.inspect;
  originalInspect = inspect;
  const utilExports = util as unknown as Record<string, unknown>;
  utilExports.inspect = wrapFunction(inspect, ((value: unknown, ...rest: unknown[]) =>
    Reflect.apply(inspect, util, [viewOf(value, 0, inspectDepth(rest[0])), ...rest])) as typeof inspect);
  const format = util.format;
  utilExports.format = (...args: unknown[]) => Reflect.apply(format, util, viewArgs(args));
  const formatWithOptions = util.formatWithOptions;
  utilExports.formatWithOptions = (options: util.InspectOptions, ...args: unknown[]) =>
    Reflect.apply(formatWithOptions, util, [options, ...viewArgs(args)]);
  syncBuiltinESMExports();

  const consoleObject = console as unknown as Record<string, unknown>;
  for (const method of CONSOLE_METHODS) {
    const original = consoleObject[method];
    if (typeof original !== 'function') continue;
    consoleObject[method] = function (this: unknown, ...args: unknown[]) {
      return Reflect.apply(original, this, viewArgs(args));
    };
  }
  // Node's own trace captures its stack on a plain object (`{ name: 'Trace', message }`),
  // whose header SES's stack formatting prints as `[object Object]`, and from below its own
  // frame, which is now under this wrapper's. The same, on an Error from the caller's frame.
  const error = consoleObject.error as (...args: unknown[]) => unknown;
  consoleObject.trace = function trace(this: { _stderr?: { isTTY?: boolean; hasColors?: () => boolean } } | undefined, ...args: unknown[]) {
    const stderr = this?._stderr;
    const colors = stderr?.isTTY === true && stderr.hasColors?.() === true;
    const traced = new Error(Reflect.apply(formatWithOptions, util, [colors ? { colors } : {}, ...viewArgs(args)]) as string);
    traced.name = 'Trace';
    Error.captureStackTrace(traced, trace);
    return Reflect.apply(error, this, [traced.stack]);
  };

  process.on('uncaughtExceptionMonitor', (error, origin) => {
    // Handlers decide what happens to the errors they take, as under Node: a capture
    // callback (the app's, or a domain's) first, then 'uncaughtException' listeners, which
    // Node calls for an unhandled rejection too (origin 'unhandledRejection').
    if (process.hasUncaughtExceptionCaptureCallback() || process.listenerCount('uncaughtException') > 0) return;
    if (!isError(error)) {
      beforePrint?.(error);
      return;
    }
    explain(error);
    beforePrint?.(error);
    process.stderr.write(`${sourceArrow(error, origin, mayShowSource)}${inspect(viewOf(error, 0))}\n\nNode.js ${process.version}\n`);
    // As Node does for an uncaught exception: 'exit' listeners run, the code is 1.
    process.exit(1);
  });
}

/**
 * Names the analyser never turns into `globals` grants.
 *
 * A grant is only needed for what a package's compartment lacks. A SES compartment
 * already holds the shared, powerless intrinsics (`Object`, `Array`, `Promise`, `JSON`,
 * `Reflect`, `Symbol`, ...), and the runtime adds what it gives every compartment
 * (`UNIVERSAL_GLOBALS`: the host's `Date` and `Math`). What SES leaves out of compartments on
 * purpose (`Float32Array`/`Float64Array` for their NaN side channel, `WeakRef`,
 * `FinalizationRegistry`, `SharedArrayBuffer`, `Atomics`, `WebAssembly`) is NOT in
 * this list: a package that uses it needs a grant, or it would not see it at all.
 *
 * The list is the global object of a compartment made by `ses` 2.3 on Node 20 (the
 * oldest Node the project supports; newer ones add, never remove). A unit test
 * compares it with a real compartment so an upgrade of `ses` cannot drift silently.
 */
import { UNIVERSAL_GLOBALS } from '../confine/endowments.js';

export const COMPARTMENT_GLOBALS: readonly string[] = [
  'AggregateError',
  'Array',
  'ArrayBuffer',
  'BigInt',
  'BigInt64Array',
  'BigUint64Array',
  'Boolean',
  'Compartment',
  'DataView',
  'Date',
  'Error',
  'EvalError',
  'Function',
  'Infinity',
  'Int16Array',
  'Int32Array',
  'Int8Array',
  'JSON',
  'Map',
  'Math',
  'NaN',
  'Number',
  'Object',
  'Promise',
  'Proxy',
  'RangeError',
  'ReferenceError',
  'Reflect',
  'RegExp',
  'Set',
  'String',
  'Symbol',
  'SyntaxError',
  'TextDecoder',
  'TextEncoder',
  'TypeError',
  'URIError',
  'Uint16Array',
  'Uint32Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'WeakMap',
  'WeakSet',
  'decodeURI',
  'decodeURIComponent',
  'encodeURI',
  'encodeURIComponent',
  'escape',
  'eval',
  'globalThis',
  'harden',
  'isFinite',
  'isNaN',
  'lockdown',
  'parseFloat',
  'parseInt',
  'undefined',
  'unescape',
];

/** Names that reach the global object itself; a path through them is a path from the global. */
export const GLOBAL_OBJECT_NAMES: ReadonlySet<string> = new Set(['globalThis', 'global', 'self', 'window']);

/**
 * Names that look free but are not globals of the package: the CommonJS wrapper's
 * parameters (also skipped in ES modules, where Node never defines them as globals:
 * `typeof module` feature checks must not ask for a grant), and language references.
 */
export const MODULE_SCOPE_NAMES: ReadonlySet<string> = new Set([
  'module',
  'exports',
  'require',
  '__filename',
  '__dirname',
  'arguments',
  'this',
]);

/**
 * Free names that resolve through the global object's prototype, `Object.prototype`,
 * which every compartment global has too (`hasOwnProperty(...)` in sloppy code).
 */
const OBJECT_PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

const provided = new Set<string>([...COMPARTMENT_GLOBALS, ...UNIVERSAL_GLOBALS, ...OBJECT_PROTOTYPE_NAMES]);

/** Whether a package's compartment has this global without any grant. */
export function isProvidedGlobal(name: string): boolean {
  return provided.has(name);
}

/** Intrinsics that lockdown freezes: writing to them (or below them) fails under SES. */
export function isFrozenIntrinsic(name: string): boolean {
  return provided.has(name) && !GLOBAL_OBJECT_NAMES.has(name) && !OBJECT_PROTOTYPE_NAMES.includes(name);
}

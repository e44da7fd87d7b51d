/**
 * Builtin modules as a package sees them, from its `builtin` policy.
 *
 * `"fs": true` gives the package its own copy of the module object (plain sub-objects
 * such as `fs.promises` or `path.posix` copied too), so a package cannot replace
 * `fs.readFileSync` for the app or for another package. `"fs.readFile": true` gives an
 * object holding only the granted members, read live from the real module
 * (`process.exitCode` changes), methods called with their real module as `this`
 * (`process.on`).
 * `fs` and `node:fs` are the same grant.
 */
import { createRequire } from 'node:module';
import { narrowedView, guardedProcessMember, isPackageOwnMember, type ProcessMemberContext } from './endowments.js';
import { handOutValue } from './boundary.js';
import { defineLazy, isLazyExport } from './lazy-copy.js';

const hostRequire = createRequire(import.meta.url);

/** The grant for one builtin in one package: the whole module, or the listed member paths. */
export type BuiltinGrant = { whole: true } | { whole: false; paths: string[][] };

/** Groups a package's `builtin` policy by module name (`fs.promises.readFile` under `fs`). */
export function builtinGrants(policy: Record<string, boolean> | undefined): Map<string, BuiltinGrant> {
  const grants = new Map<string, BuiltinGrant>();
  for (const [key, value] of Object.entries(policy ?? {})) {
    if (value !== true) continue;
    const name = key.startsWith('node:') ? key.slice(5) : key;
    const dot = name.indexOf('.');
    const moduleName = dot === -1 ? name : name.slice(0, dot);
    const existing = grants.get(moduleName);
    if (dot === -1) {
      grants.set(moduleName, { whole: true });
    } else if (!existing || !existing.whole) {
      const paths = existing && !existing.whole ? existing.paths : [];
      paths.push(name.slice(dot + 1).split('.'));
      grants.set(moduleName, { whole: false, paths });
    }
  }
  return grants;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * A package's own copy of a module object: plain sub-objects (`fs.promises`,
 * `path.posix`, `os.constants`) and arrays (`http.METHODS`) are copied too, through any
 * cycle (`path.win32.posix.win32`), so no path leads back to an object the app shares.
 * The copy is the package's to change (graceful-fs patches `fs.close` on the `fs` it is
 * given); the app and other packages never see it. Functions and instances stay the
 * host's own (identity matters: `fs.readFile === fs.readFile`), handed out through the
 * boundary (boundary.ts): functions and classes hardened with their statics and
 * prototypes, instances with their prototype chains.
 */
export function ownCopy(source: object, copies = new WeakMap<object, object>(), module?: string): object {
  const known = copies.get(source);
  if (known) return known;
  const copy: Record<string, unknown> = Array.isArray(source) ? ([] as unknown as Record<string, unknown>) : {};
  copies.set(source, copy);
  const handOut = (value: unknown): unknown => (isPlainObject(value) || Array.isArray(value) ? ownCopy(value, copies) : handOutValue(value));
  for (const key of Object.keys(source)) {
    // A module's lazy export (`http.WebSocket` loads undici) is read when the package
    // first reads it (lazy-copy.ts); one that throws (behind a flag) reads as undefined.
    if (module !== undefined && isLazyExport(module, source, key)) {
      defineLazy(copy, key, () => {
        try {
          return handOut(Reflect.get(source, key, source));
        } catch {
          return undefined;
        }
      });
      continue;
    }
    let value: unknown;
    try {
      value = (source as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    copy[key] = handOut(value);
  }
  return copy;
}

/** The host's own module object (for the trusted app package). */
export const hostBuiltin = (name: string): object => hostRequire(`node:${name}`) as object;



/**
 * The module object a package with `grant` on builtin `name` receives; `source` is the
 * real module, or the package's adaptation of it (builtin-adapters.ts).
 */
export function builtinFor(
  name: string,
  grant: BuiltinGrant,
  source: unknown = hostBuiltin(name),
  /** Recording (confine/usage.ts): told each granted member path read, for a member grant. */
  observe?: (member: string) => unknown,
  /** For `process`: the package, and what its policy names (endowments.ts `guardedProcessMember`). */
  memberContext?: ProcessMemberContext,
): object {
  const real = source as object;
  if (grant.whole) {
    // `process` is a live object whose methods need it as `this`: it is given as it is,
    // as the `process` global is. Modules that are functions (`events`, `assert`,
    // `stream`) are classes the boundary hardened, given as they are (identity holds:
    // `require('events').EventEmitter === require('events')`).
    if (name === 'process') return real;
    if (typeof real === 'function') return handOutValue(real);
    return ownCopy(real, undefined, name);
  }
  // An object reached by a dotted grant is copied once, for this view.
  const copies = new WeakMap<object, object>();
  return narrowedView(
    real,
    grant.paths,
    (value, access, path) => {
      const guarded = name === 'process' ? guardedProcessMember(value, access, ['process', ...path.slice(1)].join('.'), memberContext) : value;
      if (isPackageOwnMember(guarded)) return guarded;
      return isPlainObject(value) || Array.isArray(value) ? ownCopy(value, copies) : handOutValue(guarded);
    },
    observe,
  );
}

/**
 * Builtin modules as a package sees them, from its `builtin` policy.
 *
 * `"fs": true` gives a frozen copy of the module object (plain sub-objects such as
 * `fs.promises` or `path.posix` copied and frozen too), so a package cannot replace
 * `fs.readFileSync` for the app or for another package. `"fs.readFile": true` gives a
 * frozen object holding only the granted members. Functions and class constructors are
 * the host's own (unbound: builtin functions do not depend on `this`, and classes must
 * stay extendable).
 * `fs` and `node:fs` are the same grant.
 */
import { createRequire } from 'node:module';

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

function frozenCopy(source: object, depth: number): object {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    let value: unknown;
    try {
      value = (source as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    copy[key] = depth > 0 && isPlainObject(value) ? frozenCopy(value, depth - 1) : value;
  }
  return Object.freeze(copy);
}

function narrowedCopy(source: object, paths: string[][]): object {
  const view: Record<string, unknown> = {};
  for (const path of paths) {
    let from: unknown = source;
    let into = view;
    for (let i = 0; i < path.length; i += 1) {
      const part = path[i]!;
      if (from === null || from === undefined) break;
      const value = (from as Record<string, unknown>)[part];
      if (i === path.length - 1) {
        into[part] = value;
      } else {
        if (!isPlainObject(into[part])) into[part] = {};
        into = into[part] as Record<string, unknown>;
        from = value;
      }
    }
  }
  const freezeDeep = (o: Record<string, unknown>): object => {
    for (const value of Object.values(o)) if (isPlainObject(value)) freezeDeep(value);
    return Object.freeze(o);
  };
  return freezeDeep(view);
}

/** The host's own module object (for the trusted app package). */
export const hostBuiltin = (name: string): object => hostRequire(`node:${name}`) as object;

const wholeCopies = new Map<string, object>();

/** The module object a package with `grant` on builtin `name` receives. */
export function builtinFor(name: string, grant: BuiltinGrant): object {
  const real = hostBuiltin(name);
  if (grant.whole) {
    // Modules that are functions (`events`, `assert`, `stream`) must stay callable and
    // extendable, so they are given as they are; their static fields are shared.
    if (typeof real === 'function') return real;
    // One frozen copy serves every package granted the whole module.
    let copy = wholeCopies.get(name);
    if (!copy) {
      copy = frozenCopy(real, 2);
      wholeCopies.set(name, copy);
    }
    return copy;
  }
  return narrowedCopy(real, grant.paths);
}

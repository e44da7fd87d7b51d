/**
 * Builtin modules as a package sees them, from its `builtin` policy.
 *
 * `"fs": true` gives a frozen copy of the module object (plain sub-objects such as
 * `fs.promises` or `path.posix` copied and frozen too), so a package cannot replace
 * `fs.readFileSync` for the app or for another package. `"fs.readFile": true` gives a
 * frozen object holding only the granted members, read live from the real module
 * (`process.exitCode` changes), methods called with their real module as `this`
 * (`process.on`).
 * `fs` and `node:fs` are the same grant.
 */
import { createRequire } from 'node:module';
import { narrowedView } from './endowments.js';

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

/** The host's own module object (for the trusted app package). */
export const hostBuiltin = (name: string): object => hostRequire(`node:${name}`) as object;

const wholeCopies = new Map<string, object>();

/** The module object a package with `grant` on builtin `name` receives. */
export function builtinFor(name: string, grant: BuiltinGrant): object {
  const real = hostBuiltin(name);
  if (grant.whole) {
    // Modules that are functions (`events`, `assert`, `stream`) must stay callable and
    // extendable, and `process` is a live object whose methods need it as `this`: they
    // are given as they are, as the `process` global is.
    if (typeof real === 'function' || name === 'process') return real;
    // One frozen copy serves every package granted the whole module.
    let copy = wholeCopies.get(name);
    if (!copy) {
      copy = frozenCopy(real, 2);
      wholeCopies.set(name, copy);
    }
    return copy;
  }
  return narrowedView(real, grant.paths);
}

/**
 * How deep a builtin grant goes. `fs.promises.readFile` names a function inside a
 * namespace object and is a useful narrowing; `stream.Readable.from` would hand the
 * package an object holding `from` where it expects the `Readable` class, so a path
 * stops at the first member that is not a plain namespace object. `process` is a
 * builtin too, and like the `process` global it stops one level down
 * (`process.env.HOME` needs `process.env`, a live object, not a snapshot of one key).
 */
import { createRequire } from 'node:module';

const hostRequire = createRequire(import.meta.url);

/** Builtins not loaded just to look at their shape (experimental warnings, side effects). */
const DO_NOT_LOAD = new Set(['wasi', 'sqlite', 'sea', 'test', 'test/reporters', 'trace_events', 'inspector', 'inspector/promises']);

const modules = new Map<string, unknown>();

function load(name: string): unknown {
  if (DO_NOT_LOAD.has(name)) return undefined;
  if (!modules.has(name)) {
    let value: unknown;
    try {
      value = hostRequire(`node:${name}`);
    } catch {
      value = undefined;
    }
    modules.set(name, value);
  }
  return modules.get(name);
}

const isNamespace = (value: unknown): boolean => {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/** The part of `path` (members of builtin `name`) that a grant should name. */
export function grantedBuiltinPath(name: string, path: readonly string[]): string[] {
  if (path.length <= 1) return [...path];
  if (name === 'process') return path.slice(0, 1);
  let value = load(name);
  if (value === undefined) return path.slice(0, 1);
  const out: string[] = [];
  for (const part of path) {
    out.push(part);
    let next: unknown;
    try {
      next = (value as Record<string, unknown>)[part];
    } catch {
      break;
    }
    if (!isNamespace(next)) break;
    value = next;
  }
  return out;
}

/** The policy key: `fs`, `fs.readFile`, `fs.promises.readFile`. */
export function builtinKey(name: string, path: readonly string[]): string {
  const granted = grantedBuiltinPath(name, path);
  return granted.length === 0 ? name : `${name}.${granted.join('.')}`;
}

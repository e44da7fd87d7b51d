/**
 * The `module` builtin as a confined package sees it. Node's `createRequire` would load
 * modules natively, outside every compartment, and `register`, `Module._load` or
 * `enableCompileCache` act on the whole process; a package granted `"module": true`
 * (which generated policies give any package that calls `createRequire`) gets instead:
 * - `createRequire(from)`: a `require` with the package's policy, for files of the
 *   package itself;
 * - `builtinModules`, `isBuiltin`, `findSourceMap`, `SourceMap`: harmless as they are.
 * Process-wide members are given only to a package that lists them as dotted grants
 * (`"module.register": true`), where the policy says it in so many words.
 */
import { fileURLToPath } from 'node:url';
import { createRequire as hostCreateRequire } from 'node:module';

const SAFE_MEMBERS = ['builtinModules', 'isBuiltin', 'findSourceMap', 'SourceMap'] as const;

export type RequireFactory = (filename: string) => unknown;

export function confineModuleBuiltin(
  real: Record<string, unknown>,
  granted: object,
  whole: boolean,
  makeRequireFor: RequireFactory,
): object {
  const createRequire = (from: unknown): unknown => {
    const text = from instanceof URL ? from.href : String(from);
    let filename = text.startsWith('file:') ? fileURLToPath(text) : text;
    // A directory given with a trailing slash stands for a module inside it.
    if (filename.endsWith('/')) filename += '[eval]';
    // Validates `from` the way Node does (absolute path or file URL).
    hostCreateRequire(filename);
    return makeRequireFor(filename);
  };
  if (whole) {
    const view: Record<string, unknown> = { createRequire };
    for (const name of SAFE_MEMBERS) if (name in real) view[name] = real[name];
    return Object.freeze(view);
  }
  if (!('createRequire' in granted)) return granted;
  return Object.freeze({ ...granted, createRequire });
}

/**
 * The `module` builtin as a confined package sees it. Node's `createRequire` would load
 * modules natively, outside every compartment, and `register`, `Module._load` or
 * `enableCompileCache` act on the whole process; a package granted `"module": true`
 * (which generated policies give any package that calls `createRequire`) gets instead:
 * - `createRequire(from)`: a require rooted at `from`, which must lie in the package
 *   itself or in a package its policy lists, and which loads only what the package may
 *   load (the runtime decides both: `Runtime.requireFor`, docs/design.md);
 * - `builtinModules`, `isBuiltin`, `SourceMap`: harmless as they are;
 * - `findSourceMap`: the maps of files the package may load only (a map holds its
 *   sources' text).
 * Process-wide members are given only to a package that lists them as dotted grants
 * (`"module.register": true`), where the policy says it in so many words.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SAFE_MEMBERS = ['builtinModules', 'isBuiltin', 'findSourceMap', 'SourceMap'] as const;

export type RequireFactory = (filename: string) => unknown;

const hrefGetter = Object.getOwnPropertyDescriptor(URL.prototype, 'href')!.get!;

/** The `href` of a real `URL`, by its internal state (a proxy or an own `href` cannot fake it). */
function realUrlHref(value: object): string | undefined {
  try {
    return Reflect.apply(hrefGetter, value, []) as string;
  } catch {
    return undefined;
  }
}

function invalidFilename(value: unknown): TypeError {
  const shown = typeof value === 'string' ? `'${value}'` : value === null ? 'null' : `type ${typeof value}`;
  const error = new TypeError(
    `The argument 'filename' must be a file URL object, file URL string, or absolute path string. Received ${shown}`,
  );
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  return error;
}

/**
 * The file `createRequire(from)` roots its require at, decided once: an absolute path as
 * given; a file URL string, a `URL`, or an object Node's `isURL` accepts (`href` and
 * `protocol` set, no `auth`, no `path`), converted to a path; a path ending in `/`
 * stands for `noop.js` in that directory, as in Node. A URL-like object's fields are
 * read once and its `href` converted to a string once (Node 20 would go on to read its
 * `pathname`, Node 22+ its `toString()`: a getter could answer each differently), so
 * the policy check and the resolution see the same path. Everything else is refused
 * with Node's error.
 */
export function requireFilename(from: unknown): string {
  let text: string;
  if (typeof from === 'string') text = from;
  else if ((typeof from === 'object' || typeof from === 'function') && from !== null) {
    const href = realUrlHref(from);
    if (href !== undefined) text = href;
    else {
      const fields = from as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown };
      const likeHref = fields.href;
      if (!likeHref || !fields.protocol || fields.auth !== undefined || fields.path !== undefined) throw invalidFilename(from);
      text = String(likeHref);
    }
  } else throw invalidFilename(from);
  let filename: string;
  if (text.startsWith('/')) filename = text;
  else {
    try {
      filename = fileURLToPath(new URL(text));
    } catch {
      throw invalidFilename(text);
    }
  }
  return filename.endsWith('/') ? path.join(filename, 'noop.js') : filename;
}

/**
 * Where a require rooted at `filename` really resolves from: Node resolves relative to
 * the lexically normalised directory (`..` taken away as text) and follows symlinks only
 * in what it finds, so the directory is normalised, then its symlinks followed (from the
 * deepest part that exists: Node accepts a root that does not exist).
 */
export function realRoot(filename: string): string {
  const normal = path.resolve(filename);
  let dir = path.dirname(normal);
  let rest = path.basename(normal);
  for (;;) {
    try {
      return path.join(fs.realpathSync(dir), rest);
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) return normal;
      rest = path.join(path.basename(dir), rest);
      dir = parent;
    }
  }
}

export function confineModuleBuiltin(
  real: Record<string, unknown>,
  granted: object,
  whole: boolean,
  makeRequireFor: RequireFactory,
  mayRead: (file: string) => boolean,
): object {
  const createRequire = (from: unknown): unknown => makeRequireFor(requireFilename(from));
  const findSourceMap = typeof real.findSourceMap === 'function' ? sourceMapsOf(real.findSourceMap as (url: string) => unknown, mayRead) : undefined;
  if (whole) {
    const view: Record<string, unknown> = { createRequire };
    for (const name of SAFE_MEMBERS) if (name in real) view[name] = real[name];
    if (findSourceMap) view.findSourceMap = findSourceMap;
    return Object.freeze(view);
  }
  if (!('createRequire' in granted) && !('findSourceMap' in granted)) return granted;
  const view: Record<string, unknown> = { ...granted };
  if ('createRequire' in granted) view.createRequire = createRequire;
  if ('findSourceMap' in granted && findSourceMap) view.findSourceMap = findSourceMap;
  return Object.freeze(view);
}

/**
 * `findSourceMap` for a package: the maps of files it may load (its own, its granted
 * packages'), none of anyone else's. A map Node keeps holds its sources' text
 * (`sourcesContent`): with source maps on (`--enable-source-maps`, TypeScript tools), a
 * package given `module` for `createRequire` read the app's original sources, and other
 * packages', which it may not read (docs/attacks.md, case 137). The argument is
 * converted to a string once, and that string is both checked and handed to Node.
 */
function sourceMapsOf(findSourceMap: (url: string) => unknown, mayRead: (file: string) => boolean): (url: unknown) => unknown {
  return {
    findSourceMap(sourceURL: unknown): unknown {
      if (typeof sourceURL !== 'string') return undefined;
      let file: string;
      try {
        file = /^\w+:\/\//.test(sourceURL) ? fileURLToPath(sourceURL) : path.resolve(sourceURL);
      } catch {
        return undefined;
      }
      if (!mayRead(file)) return undefined;
      return findSourceMap(sourceURL);
    },
  }.findSourceMap;
}

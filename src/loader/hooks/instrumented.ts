/**
 * Hooks thread: import-in-the-middle (what OpenTelemetry and other agents use for ES
 * modules) registers loader hooks before the loader's, so the loader's run first and call
 * its: its resolve hook marks the URL of a module it will wrap (`?iitm=true`), and its
 * load hook answers that URL with a generated wrapper module that imports the real
 * module, copies its exports into bindings of its own and hands them to the hooks the
 * agent registered in the main thread (`register(url, binder, specifier, format)`, in
 * its `lib/register.js`), which may patch the exports' objects and replace bindings.
 *
 * The app's import of a dependency is answered with a facade, which the wrapper never
 * saw. So when import-in-the-middle marked such an import, the app gets the wrapper
 * instead, made by import-in-the-middle for the real module, under a URL of this scheme:
 * its import of the real module gets the facade (the app's own import, as before), its
 * import of import-in-the-middle's own module runs natively (the agent's code, the
 * instance its hooks are registered in). The agent's hooks then see the module under its
 * real URL, named and based as under plain node.
 *
 * The wrapper is code the load hooks below this one return, run natively: it is used
 * only when it is what import-in-the-middle makes (it imports the wrapped module and
 * import-in-the-middle's module, and is not the module's own text); otherwise, as when
 * import-in-the-middle could not wrap the module and handed back its source, the app
 * gets the plain facade.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseEsm } from 'es-module-lexer';

export const INSTRUMENTED_SCHEME = 'lavamoat-instrumented:';

/** Whether `url` carries import-in-the-middle's mark: a module it wraps, or a wrapper it made. */
export function hasIitmMark(url: string | undefined): boolean {
  if (url === undefined) return false;
  const query = url.indexOf('?');
  if (query === -1 || url.indexOf('iitm', query) === -1) return false;
  try {
    return new URL(url).searchParams.has('iitm');
  } catch {
    return false;
  }
}

/** The module import-in-the-middle's wrapper at `markedURL` wraps (its mark removed, as it removes it). */
export function wrappedURL(markedURL: string): string {
  const url = new URL(markedURL);
  url.searchParams.delete('iitm');
  return url.href;
}

export const instrumentedURL = (markedURL: string): string => `${INSTRUMENTED_SCHEME}${markedURL}`;

/** The marked URL behind an instrumented one; undefined for other URLs. */
export const parseInstrumentedURL = (url: string): string | undefined =>
  url.startsWith(INSTRUMENTED_SCHEME) ? url.slice(INSTRUMENTED_SCHEME.length) : undefined;

const packageNames = new Map<string, string | undefined>();

/** The `name` of the package `file` belongs to (the nearest package.json that has one). */
function packageNameOf(file: string): string | undefined {
  const dirs: string[] = [];
  let name: string | undefined;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (packageNames.has(dir)) {
      name = packageNames.get(dir);
      break;
    }
    dirs.push(dir);
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (typeof manifest.name === 'string') {
        name = manifest.name;
        break;
      }
    } catch {
      // no package.json here, or not one with a name: look further up
    }
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of dirs) packageNames.set(dir, name);
  return name;
}

/** Whether `url` is a module of an import-in-the-middle package (its runtime, which its wrappers import). */
export function isIitmModule(url: string): boolean {
  if (!url.startsWith('file:')) return false;
  try {
    return packageNameOf(fileURLToPath(url)) === 'import-in-the-middle';
  } catch {
    return false;
  }
}

const decoder = new TextDecoder();

/**
 * The URLs of import-in-the-middle's runtime (`lib/register.js`) its wrappers import:
 * the only modules an import from a marked parent loads natively. They are learnt from
 * the wrappers themselves ({@link noteRuntimeImport}), never from a package's name: a
 * package can ship a directory whose package.json calls itself import-in-the-middle
 * (or bundle a package of that name), and a wrapper imports modules of the wrapped
 * package by URL (the defining module of an `export *` collision), which were then taken
 * for the runtime and loaded natively.
 */
const runtimeURLs = new Set<string>();

/** What a wrapper's import of import-in-the-middle's runtime looks like (`import { register, ModuleBinder } from`). */
const RUNTIME_IMPORT = /^import\s*\{\s*(?:register\s*,\s*)?ModuleBinder\s*\}\s*from\s*["']/;

/**
 * The runtime module `source` (what import-in-the-middle's load hook made for a marked
 * URL) imports, if it is one of its wrappers: the import of `ModuleBinder`, which iitm
 * writes first, naming a `lib/register.js` of an import-in-the-middle package.
 */
function runtimeImportOf(source: string, imports: ReturnType<typeof parseEsm>[0]): string | undefined {
  const first = imports[0];
  if (!first || first.type !== 'static' || first.typeOnly) return undefined;
  const statement = source.slice(first.importStart, first.importEnd);
  if (!RUNTIME_IMPORT.test(statement)) return undefined;
  const specifier = first.specifier;
  return specifier.endsWith('/lib/register.js') && isIitmModule(specifier) ? specifier : undefined;
}

/**
 * Called with what the load hooks below answered for a marked URL (a wrapper of an app
 * module, of a builtin): its import of import-in-the-middle's runtime is noted, so that
 * the wrapper's import of it loads natively.
 */
export function noteRuntimeImport(result: { format?: string | null; source?: unknown }): void {
  if (result.format !== 'module' || result.source === undefined || result.source === null) return;
  const source = typeof result.source === 'string' ? result.source : decoder.decode(result.source as Uint8Array);
  try {
    const runtime = runtimeImportOf(source, parseEsm(source)[0]);
    if (runtime !== undefined) runtimeURLs.add(runtime);
  } catch {
    // Node reports the syntax error.
  }
}

/** Whether `url` is import-in-the-middle's runtime, as a wrapper imports it (see {@link runtimeURLs}). */
export const isIitmRuntime = (url: string): boolean => runtimeURLs.has(url);

/**
 * The text of import-in-the-middle's wrapper for `realURL` in `result` (what the load
 * hooks below returned for its marked URL), or why it is not one.
 */
export function wrapperSource(
  result: { format?: string | null; source?: string | ArrayBuffer | Uint8Array | null },
  realURL: string,
): { source: string } | { refused: string } {
  if (result.format !== 'module' || result.source === undefined || result.source === null) {
    return { refused: 'no ES module was made for it' };
  }
  const source = typeof result.source === 'string' ? result.source : decoder.decode(result.source as Uint8Array);
  let own: string | undefined;
  try {
    own = fs.readFileSync(fileURLToPath(realURL), 'utf8');
  } catch {
    own = undefined;
  }
  // import-in-the-middle hands back the module's own source when it cannot wrap it.
  if (own !== undefined && source === own) return { refused: 'its own source came back' };
  let imports: ReturnType<typeof parseEsm>[0];
  try {
    imports = parseEsm(source)[0];
  } catch {
    return { refused: 'what came back does not parse' };
  }
  let importsReal = false;
  let importsRuntime = false;
  const runtime = runtimeImportOf(source, imports);
  for (const entry of imports) {
    // Dynamic imports and import.meta are not what import-in-the-middle writes.
    if ((entry.type !== 'static' && entry.type !== 'reexport-star') || entry.typeOnly) {
      return { refused: 'it imports what a wrapper does not' };
    }
    const specifier = entry.specifier;
    if (specifier === realURL) importsReal = true;
    else if (runtime !== undefined && specifier === runtime && entry === imports[0]) importsRuntime = true;
    // Bindings modules (import cycles through `export *`) import the real module from a
    // URL of their own, which would be decided as the wrapped module's own import.
    else if (!specifier.startsWith('file:') || hasIitmMark(specifier)) return { refused: `it imports ${specifier}` };
  }
  if (!importsReal || !importsRuntime) return { refused: 'it does not import the module and import-in-the-middle' };
  runtimeURLs.add(runtime!);
  return { source };
}

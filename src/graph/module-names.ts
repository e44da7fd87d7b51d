/**
 * The names a module exports, known before it runs, the way Node knows them:
 * cjs-module-lexer for CommonJS (Node's own choice, so `import { x } from 'cjs'` finds
 * the same names as under plain Node, re-exports followed), es-module-lexer for ESM
 * (`export *` followed). Used for the facades the hooks give the app and for the
 * named exports of CommonJS modules inside compartments.
 *
 * Lexing is the main cost of a facade, so what the lexers find in a file is kept in the
 * module cache (keyed by the file's source); re-exports are resolved again on each run.
 */
import fs from 'node:fs';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { init as initEsmLexer, parse as parseEsm } from 'es-module-lexer';
import { parse as parseCjs } from 'cjs-module-lexer';
import { formatOf, resolveSpecifier, type Format } from './resolve.js';
import type { ModuleCache } from '../cache/module-cache.js';

/**
 * es-module-lexer's WebAssembly build is several times faster than its asm.js one but
 * must be compiled first; wait for this before lexing ESM. (cjs-module-lexer compiles
 * its own synchronously on first use.)
 */
export const lexersReady: Promise<void> = initEsmLexer();

export interface CjsLexed {
  exports: string[];
  reexports: string[];
}

/** What cjs-module-lexer finds in one source (nothing, if it cannot lex it, as Node). */
export function lexCjs(source: string, file: string): CjsLexed {
  try {
    const { exports, reexports } = parseCjs(source, file);
    return { exports, reexports };
  } catch {
    return { exports: [], reexports: [] };
  }
}

interface EsmLexed {
  names: string[];
  /** Specifiers of `export * from` statements. */
  stars: string[];
}

function lexEsm(source: string, file: string): EsmLexed {
  const lexed: EsmLexed = { names: [], stars: [] };
  let exports;
  try {
    exports = parseEsm(source, file)[1];
  } catch {
    return lexed;
  }
  for (const entry of exports) {
    if (entry.typeOnly) continue;
    if (entry.type === 'reexport-all') lexed.stars.push(entry.from);
    else lexed.names.push(entry.name);
  }
  return lexed;
}

function cached<T>(cache: ModuleCache | undefined, kind: string, file: string, lex: (source: string) => T, source?: string): T {
  const text = source ?? fs.readFileSync(file, 'utf8');
  if (!cache) return lex(text);
  const url = pathToFileURL(file).href;
  const hit = cache.get<T>(kind, url, text);
  if (hit) return hit;
  const value = lex(text);
  cache.set(kind, url, text, value);
  return value;
}

export function cjsExportNames(
  file: string,
  source?: string,
  seen = new Set<string>(),
  lexed?: CjsLexed,
  cache?: ModuleCache,
): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const result = lexed ?? cached(cache, 'cjs-lex', file, (text) => lexCjs(text, file), source);
  for (const name of result.exports) names.add(name);
  for (const specifier of result.reexports) {
    try {
      const target = resolveSpecifier(specifier, file, 'require');
      if (target.kind !== 'file') continue;
      if (formatOf(target.path) !== 'commonjs') continue;
      for (const name of cjsExportNames(target.path, undefined, seen, undefined, cache)) names.add(name);
    } catch {
      // Node ignores re-exports it cannot resolve.
    }
  }
  return names;
}

function esmExportNames(file: string, seen: Set<string>, cache: ModuleCache | undefined, source?: string): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const lexed = cached(cache, 'esm-lex', file, (text) => lexEsm(text, file), source);
  for (const name of lexed.names) names.add(name);
  for (const specifier of lexed.stars) {
    try {
      const target = resolveSpecifier(specifier, file, 'import');
      if (target.kind !== 'file') continue;
      for (const name of exportNamesOf(target.path, formatOf(target.path), seen, cache)) {
        // `export *` never re-exports a default.
        if (name !== 'default') names.add(name);
      }
    } catch {
      // Left for the real load to report.
    }
  }
  return names;
}

/**
 * Node 23+ gives a CommonJS module's namespace a `'module.exports'` export (the same
 * value as `default`, nodejs/node#53848); `export *` passes it on like any name.
 */
export const CJS_MODULE_EXPORTS_NAME = Number(process.versions.node.split('.')[0]) >= 23;

/** `source`, when the caller has read `file` already. */
export function exportNamesOf(file: string, format: Format, seen = new Set<string>(), cache?: ModuleCache, source?: string): Set<string> {
  switch (format) {
    case 'module':
      return esmExportNames(file, seen, cache, source);
    case 'commonjs': {
      const names = cjsExportNames(file, source, seen, undefined, cache);
      names.add('default');
      if (CJS_MODULE_EXPORTS_NAME) names.add('module.exports');
      return names;
    }
    default:
      return new Set(['default']);
  }
}

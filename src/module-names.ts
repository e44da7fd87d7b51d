/**
 * The names a module exports, known before it runs, the way Node knows them:
 * cjs-module-lexer for CommonJS (Node's own choice, so `import { x } from 'cjs'` finds
 * the same names as under plain Node, re-exports followed), es-module-lexer for ESM
 * (`export *` followed). Used for the facades the hooks give the app and for the
 * named exports of CommonJS modules inside compartments.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
// The asm.js build parses synchronously with no WebAssembly start-up to await.
import { parse as parseEsm } from 'es-module-lexer/js';
import { formatOf, resolveSpecifier, type Format } from './resolve.js';

const require = createRequire(import.meta.url);
// The JavaScript build of the lexer is synchronous and needs no WebAssembly start-up.
const cjsLexer = require('cjs-module-lexer') as {
  parse(source: string, name?: string): { exports: string[]; reexports: string[] };
};

export interface CjsLexed {
  exports: string[];
  reexports: string[];
}

/** What cjs-module-lexer finds in one source (nothing, if it cannot lex it, as Node). */
export function lexCjs(source: string, file: string): CjsLexed {
  try {
    const { exports, reexports } = cjsLexer.parse(source, file);
    return { exports, reexports };
  } catch {
    return { exports: [], reexports: [] };
  }
}

export function cjsExportNames(file: string, source?: string, seen = new Set<string>(), lexed?: CjsLexed): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const result = lexed ?? lexCjs(source ?? fs.readFileSync(file, 'utf8'), file);
  for (const name of result.exports) names.add(name);
  for (const specifier of result.reexports) {
    try {
      const target = resolveSpecifier(specifier, file, 'require');
      if (target.kind !== 'file') continue;
      if (formatOf(target.path) !== 'commonjs') continue;
      for (const name of cjsExportNames(target.path, undefined, seen)) names.add(name);
    } catch {
      // Node ignores re-exports it cannot resolve.
    }
  }
  return names;
}

export function esmExportNames(file: string, source?: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const text = source ?? fs.readFileSync(file, 'utf8');
  let exports;
  try {
    exports = parseEsm(text, file)[1];
  } catch {
    return names;
  }
  for (const entry of exports) {
    if (entry.typeOnly) continue;
    if (entry.type !== 'reexport-all') {
      names.add(entry.name);
      continue;
    }
    try {
      const target = resolveSpecifier(entry.from, file, 'import');
      if (target.kind !== 'file') continue;
      for (const name of exportNamesOf(target.path, formatOf(target.path), seen)) {
        // `export *` never re-exports a default.
        if (name !== 'default') names.add(name);
      }
    } catch {
      // Left for the real load to report.
    }
  }
  return names;
}

export function exportNamesOf(file: string, format: Format, seen = new Set<string>()): Set<string> {
  switch (format) {
    case 'module':
      return esmExportNames(file, undefined, seen);
    case 'commonjs': {
      const names = cjsExportNames(file, undefined, seen);
      names.add('default');
      return names;
    }
    default:
      return new Set(['default']);
  }
}

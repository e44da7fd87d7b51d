/**
 * Static analysis of one module for policy generation: what it imports (with the
 * members of builtin modules it uses), which globals it reads, writes or tests for,
 * and what cannot be known statically (warnings). This file parses and returns the
 * result; the analysis itself is the rest of the folder: walker.ts (the walk and the
 * resolution after it), scope.ts and context.ts (scopes, references and their syntactic
 * context), globals.ts, imports.ts and requires.ts (what the module reaches), ast.ts
 * and positions.ts (helpers), types.ts (the result's types), typescript.ts (TypeScript
 * read as Node runs it: types stripped).
 *
 * The parser is meriyah (ESTree, about four times faster than @babel/parser on npm
 * code, and no @babel/traverse: its NodePath objects cost more than the parse). Scope
 * analysis is the folder's own: one walk records declarations per scope and every
 * identifier reference with its syntactic context (member chain, read/write/typeof,
 * destructuring); references are resolved against the finished scopes afterwards, so
 * hoisting (`var`, function declarations) needs no second walk.
 *
 * The result is plain JSON and depends only on the source text, the format and the
 * analyser itself, which is what makes it cacheable (see ../cache.ts, which hashes every
 * file of this folder).
 */
import { createRequire } from 'node:module';
import type { Node } from './ast.js';
import type { ModuleAnalysis, ModuleFormat } from './types.js';
import { stripTypes } from './typescript.js';
import { Analyser } from './walker.js';

export { isTypeScriptFile, stripperVersion } from './typescript.js';
export {
  ANALYSER_VERSION,
  type AnalysisWarning,
  type AnalysisWarningKind,
  type GlobalAccess,
  type GlobalChange,
  type GlobalUse,
  type HelperLoad,
  type ImportKind,
  type ImportRecord,
  type ImportUse,
  type ModuleAnalysis,
  type ModuleFormat,
} from './types.js';

/** Start offsets only: `ranges: true` also allocates `end` and a `range` array per node (~25% slower). */
const RANGES = { start: true } as const;

const PARSE_OPTIONS = {
  module: { sourceType: 'module', next: true, ranges: RANGES, validateRegex: false },
  strictScript: {
    sourceType: 'script',
    next: true,
    ranges: RANGES,
    validateRegex: false,
    globalReturn: true,
    webcompat: true,
    impliedStrict: true,
  },
  sloppyScript: { sourceType: 'script', next: true, ranges: RANGES, validateRegex: false, globalReturn: true, webcompat: true },
} as const;

/** meriyah, loaded on the first parse: a run served from the cache never loads it. */
let parser: ((source: string, options: object) => Node) | undefined;
function meriyahParse(source: string, options: object): Node {
  parser ??= (createRequire(import.meta.url)('meriyah') as { parse: (s: string, o: object) => Node }).parse;
  return parser(source, options);
}

function parseErrorOffset(error: unknown): number {
  const start = (error as { start?: unknown }).start;
  return typeof start === 'number' ? start : 0;
}

function parseErrorMessage(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  // meriyah prefixes its messages with [line:col-line:col]; the warning has its own position.
  return message.replace(/^\[\d+:\d+-\d+:\d+\]:\s*/, '');
}

/**
 * Analyses one module's source; `typescript` for a `.ts`, `.mts` or `.cts` file, whose
 * types are stripped first, as Node strips them. Never throws on bad input: a module
 * that cannot be parsed gives a warning and `failed`, and nothing else.
 */
export function analyseModule(source: string, format: ModuleFormat, typescript = false): ModuleAnalysis {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  if (!typescript) return analyseJavaScript(text, format);
  const stripped = stripTypes(text);
  if ('error' in stripped) {
    return {
      imports: [],
      globals: [],
      warnings: [{ kind: 'unparsed', message: stripped.error, line: stripped.line, column: stripped.column }],
      failed: true,
    };
  }
  const analysis = analyseJavaScript(stripped.code, format);
  if (stripped.transformed !== undefined && !analysis.failed) {
    analysis.warnings.unshift({
      kind: 'typescript-transform',
      message:
        `TypeScript that strip-only mode refuses (${stripped.transformed}): Node runs it only with --experimental-transform-types; ` +
        'analysed as transformed, so the lines and columns given for this file are approximate',
      line: 1,
      column: 1,
    });
  }
  return analysis;
}

function analyseJavaScript(source: string, format: ModuleFormat): ModuleAnalysis {
  let text = source;
  let analyser = new Analyser(text, format);
  let program: Node;
  try {
    if (format === 'module') {
      program = meriyahParse(text, PARSE_OPTIONS.module as never);
    } else {
      // Node allows a hashbang line in CommonJS; so does meriyah, but be explicit.
      if (text.startsWith('#!')) text = `//${text.slice(2)}`;
      analyser = new Analyser(text, format);
      try {
        program = meriyahParse(text, PARSE_OPTIONS.strictScript as never);
      } catch (strictError) {
        program = meriyahParse(text, PARSE_OPTIONS.sloppyScript as never);
        analyser.warn(
          'sloppy',
          `sloppy-mode code (${parseErrorMessage(strictError)}): SES runs CommonJS modules as strict code, so this module fails under the loader`,
          parseErrorOffset(strictError),
        );
      }
    }
  } catch (error) {
    // Node runs a typeless `.js` (or `.ts`) file that has ES module syntax as an ES module
    // ("module syntax detection", Node 20.19+/22.7+). Text that is no script but parses
    // as a module has such syntax: import/export, import.meta, or a top-level await,
    // which meriyah reports as a plain unexpected token.
    if (format === 'commonjs') {
      const asModule = analyseJavaScript(source, 'module');
      if (!asModule.failed) {
        asModule.warnings.unshift({
          kind: 'esm-detected',
          message:
            'ES module syntax in a file that package.json "type" makes CommonJS: Node detects the syntax and runs it as an ES module, ' +
            'analysed as such here; set "type": "module" (or use .mjs) so that every tool agrees',
          line: 1,
          column: 1,
        });
        return asModule;
      }
    }
    analyser.warn(
      'unparsed',
      `cannot parse as ${format === 'module' ? 'an ES module' : 'CommonJS'}: ${parseErrorMessage(error)}`,
      parseErrorOffset(error),
    );
    return { imports: [], globals: [], warnings: analyser.warnings, failed: true };
  }
  analyser.run(program);
  // Source order (requires are only confirmed after the walk).
  const byPosition = (a: { line: number; column: number }, b: { line: number; column: number }): number =>
    a.line - b.line || a.column - b.column;
  const result: ModuleAnalysis = {
    imports: analyser.imports.sort(byPosition),
    globals: analyser.globals,
    warnings: analyser.warnings.sort(byPosition),
  };
  if (analyser.globalChanges.length > 0) result.globalChanges = analyser.globalChanges;
  if (analyser.globalExports.length > 0) result.globalExports = analyser.globalExports;
  if (analyser.helperLoads.length > 0) result.helperLoads = analyser.helperLoads;
  return result;
}

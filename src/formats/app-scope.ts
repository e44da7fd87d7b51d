/**
 * Under scuttling, the app's own modules get bindings of their own for the scuttled
 * global names they use (confine/app-globals.ts says why). These are the source
 * rewrites, kept to the first line so that every other line and column stays where it
 * was:
 * - an ES module gets one `import { process, Buffer } from "lavamoat-app-globals:?..."`
 *   (imports are hoisted: where it stands changes nothing), for the names it uses and
 *   does not declare itself; the generated module's exports are live bindings;
 * - a CommonJS module's body is wrapped in a function whose parameters are those names
 *   (a module's own declaration of the same name shadows it, as it shadows a global),
 *   called with their values; writes to a scuttled name update the parameters.
 * Hooks thread (ES modules) and main thread (CommonJS): no state here.
 */
import { createRequire } from 'node:module';
import process from 'node:process';
import { patternNames, walkOutsideFunctions, type Node } from './esm-scopes.js';
import { runUnscuttled } from '../confine/scuttle.js';

/**
 * The module that holds the app's bindings: its URL (the query lists the names), and
 * what a CommonJS module of the app requires.
 */
export const APP_GLOBALS_SPECIFIER = 'lavamoat-app-globals:';
/**
 * How an ES module of the app imports it: a specifier that is not a URL, since Node 22
 * refuses URL specifiers of unknown schemes in the imports of a required ES module
 * (`require(esm)`) before any hook sees them. The resolve hook turns it into the URL.
 */
export const APP_GLOBALS_IMPORT = 'lavamoat-app-globals';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
// Names that cannot be bound as an import or a parameter in strict code: the reserved
// words and literals, strict mode's own, and `eval`/`arguments`. A global of such a name
// (`globalThis.default = ...` in a preload) is no binding of any module.
const RESERVED = new Set([
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum',
  'export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null',
  'return', 'super', 'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with',
  'eval', 'arguments', 'await', 'yield', 'let', 'static', 'implements', 'interface', 'package', 'private', 'protected', 'public',
]);

/** Scuttled names an app module can be given bindings for. */
export const bindableNames = (names: readonly string[]): string[] =>
  [...names, 'globalThis', 'global'].filter((name) => IDENTIFIER.test(name) && !RESERVED.has(name));

/**
 * The parameters of Node's CommonJS wrapper: a module's own, which shadow any global of
 * the same name (a preload's `globalThis.require`), so never bound in CommonJS.
 */
const CJS_WRAPPER_NAMES = new Set(['exports', 'require', 'module', '__filename', '__dirname']);

/** The names of `names` that occur in `source` as a whole word (cheap, over-approximate). */
export function namesUsedIn(source: string, names: readonly string[]): string[] {
  return names.filter((name) => {
    let at = source.indexOf(name);
    while (at !== -1) {
      const before = at === 0 ? '' : source[at - 1]!;
      const after = source[at + name.length] ?? '';
      if (!/[\w$]/.test(before) && !/[\w$]/.test(after)) return true;
      at = source.indexOf(name, at + 1);
    }
    return false;
  });
}

/**
 * `source` with its TypeScript types stripped, as Node strips them (Node 22.13+), or
 * undefined where Node has no `module.stripTypeScriptTypes`. Node warns that the function
 * is experimental; that warning is not the app's, so it is held back (Node's own type
 * stripping of the same file prints nothing).
 */
export function stripTypeScript(source: string): string | undefined {
  const strip = (createRequire(import.meta.url)('node:module') as { stripTypeScriptTypes?: (code: string) => string }).stripTypeScriptTypes;
  if (typeof strip !== 'function') return undefined;
  const emitWarning = process.emitWarning;
  process.emitWarning = function filtered(this: unknown, warning: unknown, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : (warning as { message?: unknown } | null)?.message;
    if (typeof text === 'string' && text.includes('stripTypeScriptTypes')) return;
    Reflect.apply(emitWarning, process, [warning, ...rest]);
  } as typeof process.emitWarning;
  try {
    return strip(source);
  } finally {
    process.emitWarning = emitWarning;
  }
}

type Parse = (source: string, options: object) => Node;
let parseModule: Parse | undefined;

/** Names an ES module declares in its own scope: every top-level declaration, and `var` anywhere outside functions. */
function moduleScopeNames(program: Node): Set<string> {
  const names = new Set<string>();
  const add = (list: string[]) => list.forEach((name) => names.add(name));
  const declare = (node: Node | null | undefined): void => {
    if (!node) return;
    if (node.type === 'VariableDeclaration') for (const d of node.declarations as Node[]) add(patternNames(d.id as Node));
    else if ((node.type === 'FunctionDeclaration' || node.type === 'ClassDeclaration') && node.id) add(patternNames(node.id as Node));
  };
  for (const statement of program.body as Node[]) {
    if (statement.type === 'ImportDeclaration') {
      for (const specifier of statement.specifiers as Node[]) add(patternNames(specifier.local as Node));
    } else if (statement.type === 'ExportNamedDeclaration' || statement.type === 'ExportDefaultDeclaration') {
      declare(statement.declaration as Node | null);
      // `export { process }` exports a binding of the module's own: under plain node a
      // global is no such binding (a SyntaxError), and an import of ours must not make it one.
      if (statement.type === 'ExportNamedDeclaration' && !statement.source) {
        for (const specifier of (statement.specifiers as Node[] | undefined) ?? []) {
          const local = specifier.local as Node | undefined;
          if (local?.type === 'Identifier') add([local.name as string]);
        }
      }
    } else {
      declare(statement);
    }
  }
  // `var` in nested blocks is hoisted to the module scope too.
  walkOutsideFunctions(program.body, (value) => {
    if (value.type === 'VariableDeclaration' && value.kind === 'var') declare(value);
  });
  return names;
}

/** Where a line of our own may go: after a hashbang line, else at the very start. */
function insertionPoint(source: string): number {
  if (!source.startsWith('#!')) return 0;
  const end = source.search(/[\n\r\u2028\u2029]/);
  return end === -1 ? source.length : end + 1;
}

/**
 * `source` (an ES module of the app) with an import of its bindings for the names of
 * `names` it uses; unchanged when it uses none, or when it does not parse (Node then
 * reports the syntax error itself).
 */
export function bindEsmAppGlobals(
  source: string,
  names: readonly string[],
  /** Where the import line takes the bindings from (the module's specifier for them), by default {@link APP_GLOBALS_IMPORT}. */
  from: (names: readonly string[]) => string = (bind) => `${APP_GLOBALS_IMPORT}?${bind.join(',')}`,
): string {
  const used = namesUsedIn(source, names);
  if (used.length === 0) return source;
  let program: Node;
  try {
    parseModule ??= (createRequire(import.meta.url)('meriyah') as { parseModule: Parse }).parseModule;
    const parse = parseModule;
    // In-thread hooks run after scuttling, and meriyah reads globals (structuredClone).
    program = runUnscuttled(() => parse(source, { next: true }));
  } catch {
    return source;
  }
  const declared = moduleScopeNames(program);
  const bind = used.filter((name) => !declared.has(name));
  if (bind.length === 0) return source;
  const at = insertionPoint(source);
  const line = `import { ${bind.join(', ')} } from ${JSON.stringify(from(bind))};`;
  const separator = at === source.length && at > 0 ? '\n' : '';
  return `${source.slice(0, at)}${separator}${line}${source.slice(at)}`;
}

/**
 * The names a `lavamoat-app-globals?a,b` specifier (or its URL, `lavamoat-app-globals:?a,b`)
 * asks for (undefined if it is not one).
 */
export function requestedNames(specifier: string, allowed: readonly string[]): string[] | undefined {
  const prefix = [`${APP_GLOBALS_IMPORT}?`, `${APP_GLOBALS_SPECIFIER}?`].find((p) => specifier.startsWith(p));
  if (prefix === undefined) return undefined;
  const names = specifier.slice(prefix.length).split(',');
  return names.every((name) => allowed.includes(name)) ? names : undefined;
}

/**
 * The source of the module that exports live bindings of `names`, from `bridgeURL`'s
 * scope. Its own bindings have names of its own (`$lavamoat$...`), exported under the
 * global names, so that no global name (`scope`, `name`, `value`) can clash with them
 * or shadow them.
 */
export function appGlobalsModuleSource(names: readonly string[], bridgeURL: string): string {
  const local = (i: number): string => `$lavamoat$${i}`;
  const lines = [
    `import { appGlobalScope as $lavamoat$scopeOf } from ${JSON.stringify(bridgeURL)};`,
    'const $lavamoat$scope = $lavamoat$scopeOf();',
    `let [${names.map((_, i) => local(i)).join(', ')}] = $lavamoat$scope.values(${JSON.stringify(names)});`,
    `export { ${names.map((name, i) => `${local(i)} as ${name}`).join(', ')} };`,
  ];
  const cases = names
    .map((name, i) => [name, i] as const)
    .filter(([name]) => name !== 'globalThis' && name !== 'global')
    .map(([name, i]) => `case ${JSON.stringify(name)}: ${local(i)} = $lavamoat$value; break;`);
  if (cases.length > 0) {
    lines.push(`$lavamoat$scope.subscribe(($lavamoat$name, $lavamoat$value) => { switch ($lavamoat$name) { ${cases.join(' ')} } });`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `source` (a CommonJS module of the app) wrapped so that the names of `names` it uses
 * are bindings of its own; unchanged when it uses none. The module's `this`,
 * `arguments`, `return` and directives are those of the inner function, which Node's
 * own wrapper parameters reach unchanged.
 */
export function bindCjsAppGlobals(source: string, names: readonly string[]): string {
  const used = namesUsedIn(source, names).filter((name) => !CJS_WRAPPER_NAMES.has(name));
  if (used.length === 0) return source;
  const params = used.join(', ');
  // The scope's name in Node's wrapper, which the parameters must not shadow; the
  // listener reads its arguments through `arguments`, which no parameter can be named.
  let scope = '$lavamoat';
  while (used.includes(scope)) scope += '$';
  const cases = used
    .filter((name) => name !== 'globalThis' && name !== 'global')
    .map((name) => `case ${JSON.stringify(name)}: ${name} = arguments[1]; break;`);
  const subscribe = cases.length > 0 ? `${scope}.subscribe(function () { switch (arguments[0]) { ${cases.join(' ')} } }); ` : '';
  const head =
    `var ${scope} = require(${JSON.stringify(APP_GLOBALS_SPECIFIER)}); ` +
    `return (function (${params}) { ${subscribe}return (function (exports, require, module, __filename, __dirname) {`;
  const tail = `\n}).call(this, exports, require, module, __filename, __dirname); }).apply(this, ${scope}.values(${JSON.stringify(used)}));`;
  // A hashbang is only allowed at the very start: keep its line, as a comment.
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  return `${head}${body}${tail}`;
}

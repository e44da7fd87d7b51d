/**
 * A light compiler from an ES module to the record SES links (the format of
 * @endo/module-source: `imports`, `exports`, `reexports`, the export maps and a program
 * that receives its bindings), built on meriyah's AST and text edits instead of Babel's
 * parse, traverse and generate. Babel was about half of a cold start (docs/performance.md).
 *
 * It handles the module shapes npm packages ship, and gives up (returns undefined, and
 * the caller uses @endo/module-source) on anything it does not handle exactly:
 * - exported bindings that the module assigns anywhere after their declaration (they
 *   need live bindings through SES's scope proxy);
 * - a local export of a name that is not a top-level declaration or import;
 * - anything meriyah does not parse.
 * A module that awaits at its top level gets an async program (ASYNC_PROGRAM_HEAD) and
 * `__hasTopLevelAwait__`: the runtime then evaluates it, and every module that depends
 * on it, as the spec's async module evaluation does (confine/module-evaluation.ts).
 *
 * The program keeps every line where it was (edits replace text with text of the same
 * lines), so stack traces point into the original source.
 */
import { createRequire } from 'node:module';
import type { PrecompiledRecord } from './context.js';
import {
  EXIT_FUNCTION,
  EXIT_SCOPE,
  FUNCTIONS,
  functionNames,
  isNode,
  nameOf,
  patternNames,
  pushChildren,
  SCOPES,
  scopeOf,
  type Node,
} from './esm-scopes.js';


type Parse = (source: string, options: object) => Node;
let parseModule: Parse | undefined;
const load = createRequire(import.meta.url);

// The names of the program's parameters and helpers, as @endo/module-source spells
// them (U+034F keeps them apart from names in the module's own code); the runtime
// recognises a compiled module by this head.
const H = '$h\u034f_';
const C = '$c\u034f_';
const PARAMETERS = `({imports:${H}imports,liveVar:${H}live,onceVar:${H}once,import:${H}import,importMeta:${H}___meta})=>`;
export const PROGRAM_HEAD = `${PARAMETERS}(function(){'use strict';`;
/**
 * The same program as an async function: its body runs until its first `await` when
 * called, and the promise it returns settles when the module's evaluation does.
 */
export const ASYNC_PROGRAM_HEAD = `${PARAMETERS}(async function(){'use strict';`;

class Unsupported extends Error {}

export { awaitsAtTopLevel } from './esm-scopes.js';

// `export default` with whatever comments and line breaks sit between the two words.
const EXPORT_DEFAULT = /^export(?:\s|\/\*[\s\S]*?\*\/|\/\/[^\n\r\u2028\u2029]*)*default/;


/** Text of `source[start, end)` blanked out, keeping its line breaks. */
const LINE_BREAK = /[\n\r\u2028\u2029]/;
const blank = (text: string): string =>
  LINE_BREAK.test(text) ? text.replace(/[^\n\r\u2028\u2029]/g, ' ') : ' '.repeat(text.length);

interface Edit {
  start: number;
  end: number;
  text: string;
  /**
   * Among insertions at one position: the ends of writes first, innermost first (`x = y++`
   * closes `y++` before `x = ...`), then what follows a statement, then the starts of
   * writes, outermost first.
   */
  order?: number;
}

/**
 * The record for `source`, or undefined when this compiler does not handle the module
 * (see the file comment). A syntax error in the module also gives undefined: the
 * caller's compiler reports it.
 */
export function transformModule(source: string, url: string): PrecompiledRecord | undefined {
  parseModule ??= (load('meriyah') as { parseModule: Parse }).parseModule;
  // A hashbang line is not JavaScript inside a function body.
  const text = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  let program: Node;
  try {
    // Regular expressions are left to V8, which checks them when the program is evaluated
    // (meriyah's own check was a third of a cold parse).
    program = parseModule(text, { ranges: true, next: true, validateRegex: false });
  } catch {
    return undefined;
  }
  try {
    return compile(text, url, program);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

function compile(source: string, url: string, program: Node): PrecompiledRecord {
  const edits: Edit[] = [];
  const header: string[] = [];
  const importSpecifiers: string[] = [];
  const addImport = (specifier: string) => {
    if (!importSpecifiers.includes(specifier)) importSpecifiers.push(specifier);
  };
  // Per imported module: import name → updater expressions.
  const importUpdaters = new Map<string, Map<string, string[]>>();
  // Local import binding → [specifier, import name].
  const importBindings = new Map<string, [string, string]>();
  const reexports: string[] = [];
  const reexportMap: Record<string, [string, string][]> = {};
  const fixedExportMap: Record<string, [string]> = {};
  const liveExportMap: Record<string, [string, boolean]> = {};
  const exportNames = new Set<string>();

  // Top-level declarations: name → kind and where a once-call can go.
  type Declared = { kind: 'const' | 'let' | 'var' | 'function' | 'class'; end: number; node: Node };
  const declared = new Map<string, Declared>();
  const body = program.body as Node[];
  for (const statement of body) {
    const declaration =
      statement.type === 'ExportNamedDeclaration' || statement.type === 'ExportDefaultDeclaration'
        ? (statement.declaration as Node | null)
        : statement;
    if (!declaration) continue;
    if (declaration.type === 'VariableDeclaration') {
      for (const declarator of declaration.declarations as Node[]) {
        for (const name of patternNames(declarator.id as Node)) {
          declared.set(name, { kind: declaration.kind as Declared['kind'], end: declaration.end, node: declaration });
        }
      }
    } else if ((declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration') && declaration.id) {
      const kind = declaration.type === 'FunctionDeclaration' ? 'function' : 'class';
      declared.set(nameOf(declaration.id as Node), { kind, end: declaration.end, node: declaration });
    }
  }

  // What the module writes to its own top-level bindings: an exported binding written
  // after its declaration is a live export, updated after each write. A write inside a
  // scope that declares the same name (a parameter, an inner `let`, ...) is to that
  // other binding; scopes here may claim more names than they have, which only costs
  // a fallback. Destructuring writes and extra declarations of an exported `var` also
  // fall back (`complexWrites`).
  const writes = new Map<string, Node[]>();
  const complexWrites = new Set<string>();
  const topLevel = new Set<Node>([...declared.values()].map((entry) => entry.node));
  // The scopes around the node being visited; their names are worked out only for a
  // write to a name the module declares at its top level.
  const scopes: Node[] = [];
  const scopeNames = new Map<Node, Set<string> | undefined>();
  const shadowed = (name: string) =>
    scopes.some((scope) => {
      let names = scopeNames.get(scope);
      if (!scopeNames.has(scope)) scopeNames.set(scope, (names = scopeOf(scope)));
      return names?.has(name) === true;
    });
  const addWrite = (name: string, node: Node) => {
    if (!declared.has(name) || shadowed(name)) return;
    const list = writes.get(name);
    if (list) list.push(node);
    else writes.set(name, [node]);
  };
  let needsImport = false;
  let needsImportMeta = false;
  let topLevelAwait = false;
  let inFunction = 0;
  const work: unknown[] = [program];
  while (work.length > 0) {
    const item = work.pop();
    if (item === EXIT_SCOPE || item === EXIT_FUNCTION) {
      scopes.pop();
      if (item === EXIT_FUNCTION) inFunction -= 1;
      continue;
    }
    if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i -= 1) if (isNode(item[i])) work.push(item[i]);
      continue;
    }
    if (!isNode(item)) continue;
    const node = item;
    switch (node.type) {
      case 'AssignmentExpression': {
        const left = node.left as Node;
        if (left.type === 'Identifier') addWrite(nameOf(left), node);
        else for (const name of patternNames(left)) if (declared.has(name) && !shadowed(name)) complexWrites.add(name);
        break;
      }
      case 'UpdateExpression':
        if ((node.argument as Node).type === 'Identifier') addWrite(nameOf(node.argument as Node), node);
        break;
      case 'ForInStatement':
      case 'ForOfStatement': {
        if (node.await === true && inFunction === 0) topLevelAwait = true;
        const left = node.left as Node;
        if (left.type !== 'VariableDeclaration') for (const name of patternNames(left)) if (declared.has(name) && !shadowed(name)) complexWrites.add(name);
        break;
      }
      case 'VariableDeclaration':
        if (node.kind === 'await using' && inFunction === 0) topLevelAwait = true;
        // A `var` outside functions declares (and writes) a module binding.
        if (node.kind === 'var' && inFunction === 0 && !topLevel.has(node)) {
          for (const declarator of node.declarations as Node[]) for (const name of patternNames(declarator.id as Node)) complexWrites.add(name);
        }
        break;
      case 'AwaitExpression':
        if (inFunction === 0) topLevelAwait = true;
        break;
      case 'ImportExpression':
        needsImport = true;
        if (!source.startsWith('import', node.start)) throw new Unsupported();
        edits.push({ start: node.start, end: node.start + 'import'.length, text: `${H}import` });
        break;
      case 'MetaProperty':
        if ((node.meta as Node).name === 'import') {
          needsImportMeta = true;
          edits.push({ start: node.start, end: node.end, text: fit(source.slice(node.start, node.end), `${H}___meta`) });
        }
        break;
      default:
        break;
    }
    if (SCOPES.has(node.type)) {
      scopes.push(node);
      const isFunction = FUNCTIONS.has(node.type);
      if (isFunction) inFunction += 1;
      work.push(isFunction ? EXIT_FUNCTION : EXIT_SCOPE);
    }
    pushChildren(node, work);
  }
  // The first top-level `var` of a name declares it; another one writes it.
  const varCount = new Map<string, number>();
  for (const statement of body) {
    const declaration = statement.type === 'ExportNamedDeclaration' ? (statement.declaration as Node | null) : statement;
    if (declaration?.type !== 'VariableDeclaration' || declaration.kind !== 'var') continue;
    for (const declarator of declaration.declarations as Node[]) {
      for (const name of patternNames(declarator.id as Node)) {
        const count = (varCount.get(name) ?? 0) + 1;
        varCount.set(name, count);
        if (count > 1) complexWrites.add(name);
      }
    }
  }

  // Exported top-level bindings → once-calls after their declarations (or hoisted).
  const onceAt = new Map<string, Declared>();
  // Live exports the module keeps as its own variables: `var`s, and bindings it writes.
  const liveLocals = new Map<string, Declared>();
  const exportLocal = (local: string, exported: string) => {
    exportNames.add(exported);
    const imported = importBindings.get(local);
    if (imported) {
      // Re-export of an import is the imported binding itself, as `export { x } from`:
      // SES then hands importers the exporting module's own notifier, so two `export *`
      // paths to one binding are one export, not an ambiguity (date-fns' longFormatters).
      (reexportMap[imported[0]] ??= []).push([imported[1], exported]);
      return;
    }
    const found = declared.get(local);
    if (!found || complexWrites.has(local)) throw new Unsupported();
    const written = writes.has(local);
    if (found.kind === 'const' && written) throw new Unsupported(); // a TypeError; Babel's to report
    if (found.kind === 'var' || written) {
      liveExportMap[exported] = [local, false];
      liveLocals.set(local, found);
      return;
    }
    fixedExportMap[exported] = [local];
    onceAt.set(local, found);
  };

  const removeStatement = (node: Node) => edits.push({ start: node.start, end: node.end, text: blank(source.slice(node.start, node.end)) });
  const stripPrefix = (node: Node, declaration: Node) =>
    edits.push({ start: node.start, end: declaration.start, text: blank(source.slice(node.start, declaration.start)) });

  // Modules are evaluated in the order the module names them, exports from included.
  for (const statement of body) {
    if (statement.type === 'ImportDeclaration' || ((statement.type === 'ExportNamedDeclaration' || statement.type === 'ExportAllDeclaration') && statement.source)) {
      addImport(String((statement.source as Node).value));
    }
  }
  // Imports first: exports may name their bindings.
  for (const statement of body) {
    if (statement.type !== 'ImportDeclaration') continue;
    const specifier = String((statement.source as Node).value);
    let updaters = importUpdaters.get(specifier);
    if (!updaters) importUpdaters.set(specifier, (updaters = new Map()));
    for (const spec of statement.specifiers as Node[]) {
      const local = nameOf(spec.local as Node);
      const importName =
        spec.type === 'ImportDefaultSpecifier' ? 'default' : spec.type === 'ImportNamespaceSpecifier' ? '*' : nameOf(spec.imported as Node);
      importBindings.set(local, [specifier, importName]);
      let list = updaters.get(importName);
      if (!list) updaters.set(importName, (list = []));
      list.push(`${H}a => (${local} = ${H}a)`);
    }
    removeStatement(statement);
  }
  for (const statement of body) {
    switch (statement.type) {
      case 'ExportAllDeclaration': {
        const specifier = String((statement.source as Node).value);
        if (statement.exported) {
          const exported = nameOf(statement.exported as Node);
          (reexportMap[specifier] ??= []).push(['*', exported]);
          exportNames.add(exported);
        } else {
          reexports.push(specifier);
        }
        removeStatement(statement);
        break;
      }
      case 'ExportNamedDeclaration': {
        const declaration = statement.declaration as Node | null;
        if (statement.source) {
          const specifier = String((statement.source as Node).value);
          for (const spec of statement.specifiers as Node[]) {
            const exported = nameOf(spec.exported as Node);
            (reexportMap[specifier] ??= []).push([nameOf(spec.local as Node), exported]);
            exportNames.add(exported);
          }
          removeStatement(statement);
        } else if (declaration) {
          stripPrefix(statement, declaration);
          if (declaration.type === 'VariableDeclaration') {
            for (const declarator of declaration.declarations as Node[]) {
              for (const name of patternNames(declarator.id as Node)) exportLocal(name, name);
            }
          } else {
            const name = nameOf(declaration.id as Node);
            exportLocal(name, name);
          }
        } else {
          for (const spec of statement.specifiers as Node[]) exportLocal(nameOf(spec.local as Node), nameOf(spec.exported as Node));
          removeStatement(statement);
        }
        break;
      }
      case 'ExportDefaultDeclaration': {
        const declaration = statement.declaration as Node;
        exportNames.add('default');
        const named = (declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration') && declaration.id;
        if (named) {
          // `export default function f() {}`: f is a declaration of the module.
          stripPrefix(statement, declaration);
          fixedExportMap.default = ['default'];
          const name = nameOf(declaration.id as Node);
          if (writes.has(name) || complexWrites.has(name)) throw new Unsupported();
          if (declaration.type === 'FunctionDeclaration') header.push(`${H}once.default(${name});`);
          else edits.push({ start: declaration.end, end: declaration.end, text: `;${H}once.default(${name});` });
        } else {
          // An expression, or an anonymous function or class: evaluated in place, named
          // "default" by the property it is defined as.
          // The expression's range leaves out its parentheses: edit around the keywords
          // and before the statement's own semicolon instead.
          fixedExportMap.default = ['default'];
          const keywords = EXPORT_DEFAULT.exec(source.slice(statement.start, declaration.start));
          if (!keywords) throw new Unsupported();
          const head = `const{default:${C}default}={default:`;
          const keywordsEnd = statement.start + keywords[0].length;
          edits.push({ start: statement.start, end: keywordsEnd, text: fit(keywords[0], head) });
          const end = source.charCodeAt(statement.end - 1) === 0x3b /* ; */ ? statement.end - 1 : statement.end;
          if (end < declaration.end) throw new Unsupported();
          edits.push({ start: end, end, text: `};${H}once.default(${C}default);` });
        }
        break;
      }
      default:
        break;
    }
  }

  let writeHelpers = false;
  for (const [name, where] of liveLocals) {
    const update = `${H}live[${JSON.stringify(name)}]`;
    // A `var` is undefined and a function is itself from the start; a let or a class is
    // in its TDZ until its declaration runs, for importers too.
    if (where.kind === 'var' || where.kind === 'function') header.push(`${update}(${name});`);
    if (where.kind !== 'function') edits.push({ start: where.end, end: where.end, text: `;${update}(${name});` });
    for (const write of writes.get(name) ?? []) {
      writeHelpers = true;
      // `x = v`, `x += v`, `++x`: the expression's value is the new value; `x++` gives
      // the old one, and the update gets the new one.
      const postfix = write.type === 'UpdateExpression' && write.prefix === false;
      edits.push({ start: write.start, end: write.start, text: `${H}${postfix ? 'p' : 'n'}(${update},`, order: 1e12 - write.end });
      edits.push({ start: write.end, end: write.end, text: postfix ? `,${name})` : ')', order: -1 - write.start });
    }
  }
  if (writeHelpers) header.unshift(`const ${H}n=(u,v)=>(u(v),v),${H}p=(u,o,v)=>(u(v),o);`);
  for (const [name, where] of onceAt) {
    if (where.kind === 'function') header.push(`${H}once.${name}(${name});`);
    else edits.push({ start: where.end, end: where.end, text: `;${H}once.${name}(${name});` });
  }

  const importLocals = [...importBindings.keys()];
  const updateRecord = importSpecifiers.map((specifier) => {
    const updaters = importUpdaters.get(specifier) ?? new Map<string, string[]>();
    const entries = [...updaters].map(([name, list]) => `[${JSON.stringify(name)},[${list.join(',')}]]`);
    return `[${JSON.stringify(specifier)},[${entries.join(',')}]]`;
  });
  const head =
    (topLevelAwait ? ASYNC_PROGRAM_HEAD : PROGRAM_HEAD) +
    (importLocals.length > 0 ? `let ${importLocals.join(',')};` : '') +
    `${H}imports([${updateRecord.join(',')}]);` +
    header.join('');

  edits.sort((a, b) => a.start - b.start || a.end - b.end || (a.order ?? 0) - (b.order ?? 0));
  let out = '';
  let at = 0;
  for (const edit of edits) {
    if (edit.start < at) throw new Unsupported(); // overlapping edits: not a shape this handles
    out += source.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  out += source.slice(at);

  return {
    imports: importSpecifiers,
    exports: [...exportNames].sort(),
    reexports,
    __syncModuleProgram__: `${head}${out}\n})()\n//# sourceURL=${url}\n`,
    __liveExportMap__: liveExportMap,
    __reexportMap__: reexportMap,
    __fixedExportMap__: fixedExportMap,
    __needsImport__: needsImport,
    __needsImportMeta__: needsImportMeta,
    __hasTopLevelAwait__: topLevelAwait,
  };
}

/** `replacement` in place of `original`, keeping the line breaks `original` had. */
function fit(original: string, replacement: string): string {
  const breaks = original.match(/\r\n|[\n\r\u2028\u2029]/g);
  return breaks ? replacement + breaks.join('') : replacement;
}

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
 *
 * The program keeps every line where it was (edits replace text with text of the same
 * lines), so stack traces point into the original source.
 */
import { createRequire } from 'node:module';
import type { PrecompiledRecord } from './esm.js';

interface Node {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

type Parse = (source: string, options: object) => Node;
let parseModule: Parse | undefined;
const load = createRequire(import.meta.url);

// The names of the program's parameters and helpers, as @endo/module-source spells
// them (U+034F keeps them apart from names in the module's own code); the runtime
// recognises a compiled module by this head.
const H = '$h\u034f_';
const C = '$c\u034f_';
export const PROGRAM_HEAD = `({imports:${H}imports,liveVar:${H}live,onceVar:${H}once,import:${H}import,importMeta:${H}___meta})=>(function(){'use strict';`;

class Unsupported extends Error {}

// `export default` with whatever comments and line breaks sit between the two words.
const EXPORT_DEFAULT = /^export(?:\s|\/\*[\s\S]*?\*\/|\/\/[^\n\r\u2028\u2029]*)*default/;

const nameOf = (node: Node): string => (node.type === 'Identifier' ? (node.name as string) : String(node.value));

/** Identifiers a binding pattern declares (or assigns, for assignment patterns). */
function patternNames(node: Node | null | undefined, out: string[] = []): string[] {
  if (!node) return out;
  switch (node.type) {
    case 'Identifier':
      out.push(node.name as string);
      break;
    case 'ObjectPattern':
      for (const property of node.properties as Node[]) patternNames(property.type === 'RestElement' ? property : (property.value as Node), out);
      break;
    case 'ArrayPattern':
      for (const element of node.elements as (Node | null)[]) patternNames(element, out);
      break;
    case 'RestElement':
      patternNames(node.argument as Node, out);
      break;
    case 'AssignmentPattern':
      patternNames(node.left as Node, out);
      break;
    default:
      // Member expressions in assignment targets assign no binding.
      break;
  }
  return out;
}

/** Every node below `root`, in no particular order. */
function* nodes(root: Node): Generator<Node> {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object' && typeof (value as Node).type === 'string') {
      yield value as Node;
      for (const key in value as Node) {
        if (key === 'type' || key === 'start' || key === 'end' || key === 'range' || key === 'loc') continue;
        const child = (value as Node)[key];
        if (child !== null && typeof child === 'object') stack.push(child);
      }
    }
  }
}

/** Text of `source[start, end)` blanked out, keeping its line breaks. */
const blank = (text: string): string => text.replace(/[^\n\r\u2028\u2029]/g, ' ');

interface Edit {
  start: number;
  end: number;
  text: string;
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
    program = parseModule(text, { ranges: true, next: true });
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
  const onceDefaultNames = new Set<string>();

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

  // Exported top-level bindings → once-calls after their declarations (or hoisted).
  const onceAt = new Map<string, Declared>();
  // Exported `var`s: live exports that the module keeps as its own variables. Hoisting
  // makes them `undefined` from the start (an importer in a cycle sees that, as in
  // Node); their one declaration then updates them. Any other write goes to Babel.
  const liveVars = new Map<string, Declared>();
  const exportLocal = (local: string, exported: string) => {
    exportNames.add(exported);
    const imported = importBindings.get(local);
    if (imported) {
      // Re-export of an import: live, fed by the import's own updates.
      liveExportMap[exported] = [local, false];
      importUpdaters.get(imported[0])!.get(imported[1])!.push(`${H}live[${JSON.stringify(local)}]`);
      return;
    }
    const found = declared.get(local);
    if (!found) throw new Unsupported();
    if (found.kind === 'var') {
      liveExportMap[exported] = [local, false];
      liveVars.set(local, found);
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
          if (declaration.type === 'FunctionDeclaration') header.push(`${H}once.default(${name});`);
          else edits.push({ start: declaration.end, end: declaration.end, text: `;${H}once.default(${name});` });
          onceDefaultNames.add(name);
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

  // Bindings the module assigns after their declaration are live in Babel's output;
  // this compiler leaves them to it.
  const fixedLocals = new Set([...onceAt.keys(), ...onceDefaultNames, ...liveVars.keys()]);
  let needsImport = false;
  let needsImportMeta = false;
  for (const node of nodes(program)) {
    switch (node.type) {
      case 'AssignmentExpression':
        for (const name of patternNames(node.left as Node)) if (fixedLocals.has(name)) throw new Unsupported();
        break;
      case 'UpdateExpression':
        if ((node.argument as Node).type === 'Identifier' && fixedLocals.has(nameOf(node.argument as Node))) throw new Unsupported();
        break;
      case 'ForInStatement':
      case 'ForOfStatement': {
        const left = node.left as Node;
        if (left.type !== 'VariableDeclaration') {
          for (const name of patternNames(left)) if (fixedLocals.has(name)) throw new Unsupported();
        }
        break;
      }
      case 'VariableDeclaration':
        // Another declaration of an exported `var` (a second `var x`, one in a block) is
        // a write; a shadowing one is only taken for one, which costs a fallback.
        for (const declarator of node.declarations as Node[]) {
          for (const name of patternNames(declarator.id as Node)) {
            const live = liveVars.get(name);
            if (live && live.node !== node) throw new Unsupported();
          }
        }
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
  }
  for (const [name, where] of liveVars) {
    header.push(`${H}live.${name}(${name});`);
    edits.push({ start: where.end, end: where.end, text: `;${H}live.${name}(${name});` });
  }
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
    PROGRAM_HEAD +
    (importLocals.length > 0 ? `let ${importLocals.join(',')};` : '') +
    `${H}imports([${updateRecord.join(',')}]);` +
    header.join('');

  edits.sort((a, b) => a.start - b.start || a.end - b.end);
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
  };
}

/** `replacement` in place of `original`, keeping the line breaks `original` had. */
function fit(original: string, replacement: string): string {
  const breaks = original.match(/\r\n|[\n\r\u2028\u2029]/g);
  return breaks ? replacement + breaks.join('') : replacement;
}

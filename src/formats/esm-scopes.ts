/**
 * The AST side of the light ES module compiler (esm-transform.ts): walking meriyah's
 * nodes (which child keys hold nodes, per node type), the names a binding pattern
 * declares, and which names each scope declares, so that the compiler can tell a write
 * to a module's exported binding from a write to a parameter or inner binding of the
 * same name.
 */
import { createRequire } from 'node:module';

export interface Node {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

export const nameOf = (node: Node): string => (node.type === 'Identifier' ? (node.name as string) : String(node.value));

/** Identifiers a binding pattern declares (or assigns, for assignment patterns). */
export function patternNames(node: Node | null | undefined, out: string[] = []): string[] {
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

// The child keys of each ESTree node type (a `for...in` over every node was a third of
// the compiler's time); other types fall back to their own keys.
export const CHILD_KEYS: Record<string, readonly string[]> = {
  Program: ['body'],
  ExpressionStatement: ['expression'],
  BlockStatement: ['body'],
  StaticBlock: ['body'],
  EmptyStatement: [],
  DebuggerStatement: [],
  ReturnStatement: ['argument'],
  LabeledStatement: ['body'],
  BreakStatement: [],
  ContinueStatement: [],
  IfStatement: ['test', 'consequent', 'alternate'],
  SwitchStatement: ['discriminant', 'cases'],
  SwitchCase: ['test', 'consequent'],
  ThrowStatement: ['argument'],
  TryStatement: ['block', 'handler', 'finalizer'],
  CatchClause: ['param', 'body'],
  WhileStatement: ['test', 'body'],
  DoWhileStatement: ['body', 'test'],
  ForStatement: ['init', 'test', 'update', 'body'],
  ForInStatement: ['left', 'right', 'body'],
  ForOfStatement: ['left', 'right', 'body'],
  FunctionDeclaration: ['id', 'params', 'body'],
  FunctionExpression: ['id', 'params', 'body'],
  ArrowFunctionExpression: ['params', 'body'],
  VariableDeclaration: ['declarations'],
  VariableDeclarator: ['id', 'init'],
  ClassDeclaration: ['id', 'superClass', 'body', 'decorators'],
  ClassExpression: ['id', 'superClass', 'body', 'decorators'],
  ClassBody: ['body'],
  MethodDefinition: ['key', 'value', 'decorators'],
  PropertyDefinition: ['key', 'value', 'decorators'],
  AccessorProperty: ['key', 'value', 'decorators'],
  ThisExpression: [],
  Super: [],
  Identifier: [],
  PrivateIdentifier: [],
  Literal: [],
  ArrayExpression: ['elements'],
  ObjectExpression: ['properties'],
  Property: ['key', 'value'],
  SpreadElement: ['argument'],
  UnaryExpression: ['argument'],
  UpdateExpression: ['argument'],
  BinaryExpression: ['left', 'right'],
  LogicalExpression: ['left', 'right'],
  AssignmentExpression: ['left', 'right'],
  ConditionalExpression: ['test', 'consequent', 'alternate'],
  CallExpression: ['callee', 'arguments'],
  NewExpression: ['callee', 'arguments'],
  MemberExpression: ['object', 'property'],
  ChainExpression: ['expression'],
  SequenceExpression: ['expressions'],
  YieldExpression: ['argument'],
  AwaitExpression: ['argument'],
  TemplateLiteral: ['quasis', 'expressions'],
  TaggedTemplateExpression: ['tag', 'quasi'],
  TemplateElement: [],
  ObjectPattern: ['properties'],
  ArrayPattern: ['elements'],
  RestElement: ['argument'],
  AssignmentPattern: ['left', 'right'],
  MetaProperty: ['meta', 'property'],
  ImportExpression: ['source', 'options'],
  ImportDeclaration: ['specifiers', 'source', 'attributes'],
  ImportSpecifier: ['imported', 'local'],
  ImportDefaultSpecifier: ['local'],
  ImportNamespaceSpecifier: ['local'],
  ImportAttribute: ['key', 'value'],
  ExportNamedDeclaration: ['declaration', 'specifiers', 'source', 'attributes'],
  ExportDefaultDeclaration: ['declaration'],
  ExportAllDeclaration: ['exported', 'source', 'attributes'],
  ExportSpecifier: ['local', 'exported'],
  Decorator: ['expression'],
  ParenthesizedExpression: ['expression'],
};

/** Pushes the children of `node` (nodes or arrays of nodes) onto `into`, last first. */
export function pushChildren(node: Node, into: unknown[]): void {
  const keys = CHILD_KEYS[node.type];
  if (keys) {
    for (let k = keys.length - 1; k >= 0; k -= 1) {
      const child = node[keys[k]!];
      if (child !== null && typeof child === 'object') into.push(child);
    }
    return;
  }
  for (const key in node) {
    if (key === 'type' || key === 'start' || key === 'end' || key === 'range' || key === 'loc') continue;
    const child = node[key];
    if (child !== null && typeof child === 'object') into.push(child);
  }
}

export const isNode = (value: unknown): value is Node =>
  value !== null && typeof value === 'object' && typeof (value as Node).type === 'string';

export const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);
export const SCOPES = new Set([
  ...FUNCTIONS,
  'ClassDeclaration',
  'ClassExpression',
  'CatchClause',
  'BlockStatement',
  'StaticBlock',
  'SwitchStatement',
  'ForStatement',
  'ForInStatement',
  'ForOfStatement',
]);
// Work-list markers: leaving a scope, leaving a function.
export const EXIT_SCOPE = {};
export const EXIT_FUNCTION = {};

/**
 * Calls `visit` on every node under `root` (arrays of nodes included), and does not go
 * into functions and classes (it visits them, not their bodies): the nodes of one
 * function scope.
 */
export function walkOutsideFunctions(root: unknown, visit: (node: Node) => void): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    if (!isNode(value)) continue;
    visit(value);
    if (FUNCTIONS.has(value.type) || value.type === 'ClassExpression' || value.type === 'ClassDeclaration') continue;
    pushChildren(value, stack);
  }
}

/** Names declared in a function, its nested blocks included, nested functions left out. */
export function functionNames(fn: Node): Set<string> {
  const names = new Set<string>();
  for (const param of fn.params as Node[]) patternNames(param, [...[]]).forEach((name) => names.add(name));
  if (fn.type === 'FunctionExpression' && fn.id) names.add(nameOf(fn.id as Node));
  walkOutsideFunctions(fn.body, (value) => {
    if (value.type === 'VariableDeclaration') {
      for (const declarator of value.declarations as Node[]) patternNames(declarator.id as Node).forEach((name) => names.add(name));
    } else if ((value.type === 'FunctionDeclaration' || value.type === 'ClassDeclaration') && value.id) {
      names.add(nameOf(value.id as Node));
    } else if (value.type === 'CatchClause' && value.param) {
      patternNames(value.param as Node).forEach((name) => names.add(name));
    }
  });
  return names;
}

/** The names a node's own scope declares (undefined: it has no scope of its own). */
export function scopeOf(node: Node): Set<string> | undefined {
  switch (node.type) {
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      return functionNames(node);
    case 'ClassDeclaration':
    case 'ClassExpression':
      return new Set(node.id ? [nameOf(node.id as Node)] : []);
    case 'CatchClause':
      return new Set(patternNames(node.param as Node | null));
    case 'BlockStatement':
    case 'StaticBlock':
    case 'SwitchStatement':
    case 'ForStatement':
    case 'ForInStatement':
    case 'ForOfStatement': {
      // Lexical declarations directly inside (a block's `var`s belong to the module or
      // to the enclosing function, which already counts them).
      const names = new Set<string>();
      const statements = (
        node.type === 'SwitchStatement'
          ? (node.cases as Node[]).flatMap((c) => c.consequent as Node[])
          : node.type === 'BlockStatement' || node.type === 'StaticBlock'
            ? (node.body as Node[])
            : [(node.init ?? node.left) as Node | null]
      ).filter(isNode);
      for (const statement of statements) {
        if (statement.type === 'VariableDeclaration' && statement.kind !== 'var') {
          for (const declarator of statement.declarations as Node[]) patternNames(declarator.id as Node).forEach((name) => names.add(name));
        } else if ((statement.type === 'FunctionDeclaration' || statement.type === 'ClassDeclaration') && statement.id) {
          names.add(nameOf(statement.id as Node));
        }
      }
      return names.size > 0 ? names : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Whether a module awaits at its top level (`await`, `for await`, `await using` outside
 * every function): the rule esm-transform.ts applies while compiling, for callers that
 * only need the answer (the hooks deciding whether a facade awaits).
 */
export function hasTopLevelAwait(program: Node): boolean {
  const work: unknown[] = [program];
  while (work.length > 0) {
    const item = work.pop();
    if (Array.isArray(item)) {
      for (const child of item) work.push(child);
      continue;
    }
    if (!isNode(item) || FUNCTIONS.has(item.type)) continue;
    if (item.type === 'AwaitExpression') return true;
    if (item.type === 'ForOfStatement' && item.await === true) return true;
    if (item.type === 'VariableDeclaration' && item.kind === 'await using') return true;
    pushChildren(item, work);
  }
  return false;
}

type ParseModule = (source: string, options: object) => Node;
let parseModule: ParseModule | undefined;

/**
 * Whether a module awaits at its top level, judged on meriyah's parse (as the compiler
 * judges it); undefined when meriyah cannot parse it. Most modules never say `await` and
 * are not parsed. Here rather than in esm-transform.ts so that the hooks, which ask it
 * too, do not load the compiler.
 */
export function awaitsAtTopLevel(source: string): boolean | undefined {
  if (!source.includes('await')) return false;
  parseModule ??= (createRequire(import.meta.url)('meriyah') as { parseModule: ParseModule }).parseModule;
  try {
    return hasTopLevelAwait(parseModule(source.startsWith('#!') ? `//${source.slice(2)}` : source, { next: true, validateRegex: false }));
  } catch {
    return undefined;
  }
}

/**
 * ESTree helpers: the static value of a string or key, the member paths a destructuring
 * pattern takes, and the walker's dispatch tables (which node kinds it handles itself,
 * which children it visits for the others). Nothing here knows about scopes or policy.
 */

/** Nodes are typed loosely: the walker dispatches on `type` itself. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Node = any;

export function staticString(node: Node): string | undefined {
  if (!node) return undefined;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) {
    const cooked = node.quasis[0]?.value?.cooked;
    return typeof cooked === 'string' ? cooked : undefined;
  }
  // `require('mv' + '')` (bunyan hides optional modules from bundlers so): constant
  // strings joined with `+` are still a constant.
  if (node.type === 'BinaryExpression' && node.operator === '+') {
    const left = staticString(node.left);
    const right = left === undefined ? undefined : staticString(node.right);
    return left === undefined || right === undefined ? undefined : left + right;
  }
  return undefined;
}

/**
 * A name usable as one part of a dotted policy path: not empty, no dot, not
 * `__proto__` (the policy validator refuses those, and rightly so).
 */
function pathPart(name: string | undefined): string | undefined {
  return name === undefined || name === '' || name === '__proto__' || name.includes('.') ? undefined : name;
}

/** The property name of a member expression when it is static (and usable in a path). */
export function memberKey(node: Node): string | undefined {
  const property = node.property;
  if (!node.computed) return property.type === 'Identifier' ? pathPart(property.name) : undefined;
  if (property.type === 'Literal' && (typeof property.value === 'string' || typeof property.value === 'number')) {
    return pathPart(String(property.value));
  }
  return pathPart(staticString(property));
}

export function propertyKey(prop: Node): string | undefined {
  const key = prop.key;
  if (!prop.computed) {
    if (key.type === 'Identifier') return pathPart(key.name);
    if (key.type === 'Literal') return pathPart(String(key.value));
    return undefined;
  }
  if (key.type === 'Literal' && (typeof key.value === 'string' || typeof key.value === 'number')) return pathPart(String(key.value));
  return pathPart(staticString(key));
}

/** Member paths a destructuring pattern takes from its value; `[[]]` means the whole value. */
export function patternPaths(pattern: Node): string[][] {
  switch (pattern.type) {
    case 'ObjectPattern': {
      const out: string[][] = [];
      for (const prop of pattern.properties) {
        if (prop.type !== 'Property') return [[]];
        const key = propertyKey(prop);
        if (key === undefined) return [[]];
        for (const sub of patternPaths(prop.value)) out.push([key, ...sub]);
      }
      return out.length > 0 ? out : [[]];
    }
    case 'AssignmentPattern':
      return patternPaths(pattern.left);
    default:
      return [[]];
  }
}

/** Children to visit for node types without a handler of their own, in source order. */
export const VISITOR_KEYS: Record<string, readonly string[]> = {
  ExpressionStatement: ['expression'],
  ReturnStatement: ['argument'],
  ThrowStatement: ['argument'],
  IfStatement: ['test', 'consequent', 'alternate'],
  WhileStatement: ['test', 'body'],
  DoWhileStatement: ['body', 'test'],
  TryStatement: ['block', 'handler', 'finalizer'],
  WithStatement: ['object', 'body'],
  SwitchCase: ['test', 'consequent'],
  CallExpression: ['callee', 'arguments'],
  NewExpression: ['callee', 'arguments'],
  BinaryExpression: ['left', 'right'],
  LogicalExpression: ['left', 'right'],
  ConditionalExpression: ['test', 'consequent', 'alternate'],
  SequenceExpression: ['expressions'],
  ArrayExpression: ['elements'],
  ObjectExpression: ['properties'],
  UnaryExpression: ['argument'],
  UpdateExpression: ['argument'],
  AwaitExpression: ['argument'],
  YieldExpression: ['argument'],
  SpreadElement: ['argument'],
  TemplateLiteral: ['expressions'],
  TaggedTemplateExpression: ['tag', 'quasi'],
  ChainExpression: ['expression'],
  ParenthesizedExpression: ['expression'],
  ClassBody: ['body'],
  ImportAttribute: [],
  Decorator: ['expression'],
};

/** Node kinds the walker handles itself; everything else goes through VISITOR_KEYS. */
export const enum K {
  Generic,
  Skip,
  Identifier,
  Member,
  Call,
  ExpressionStatement,
  Binary,
  Unary,
  Conditional,
  Property,
  ClassMember,
  Labeled,
  VariableDeclaration,
  Function,
  Class,
  Block,
  StaticBlock,
  For,
  ForInOf,
  Catch,
  Switch,
  Assignment,
  ImportDeclaration,
  ExportNamed,
  ExportDefault,
  ExportAll,
  ImportExpression,
  New,
}

export const NODE_KIND: Record<string, K> = Object.assign(Object.create(null) as Record<string, K>, {
  Identifier: K.Identifier,
  Literal: K.Skip,
  ThisExpression: K.Skip,
  Super: K.Skip,
  EmptyStatement: K.Skip,
  DebuggerStatement: K.Skip,
  TemplateElement: K.Skip,
  PrivateIdentifier: K.Skip,
  MetaProperty: K.Skip,
  BreakStatement: K.Skip,
  ContinueStatement: K.Skip,
  MemberExpression: K.Member,
  CallExpression: K.Call,
  ExpressionStatement: K.ExpressionStatement,
  BinaryExpression: K.Binary,
  LogicalExpression: K.Binary,
  UnaryExpression: K.Unary,
  UpdateExpression: K.Unary,
  AwaitExpression: K.Unary,
  SpreadElement: K.Unary,
  ConditionalExpression: K.Conditional,
  IfStatement: K.Conditional,
  Property: K.Property,
  MethodDefinition: K.ClassMember,
  PropertyDefinition: K.ClassMember,
  AccessorProperty: K.ClassMember,
  LabeledStatement: K.Labeled,
  VariableDeclaration: K.VariableDeclaration,
  FunctionDeclaration: K.Function,
  FunctionExpression: K.Function,
  ArrowFunctionExpression: K.Function,
  ClassDeclaration: K.Class,
  ClassExpression: K.Class,
  BlockStatement: K.Block,
  StaticBlock: K.StaticBlock,
  ForStatement: K.For,
  ForInStatement: K.ForInOf,
  ForOfStatement: K.ForInOf,
  CatchClause: K.Catch,
  SwitchStatement: K.Switch,
  AssignmentExpression: K.Assignment,
  ImportDeclaration: K.ImportDeclaration,
  ExportNamedDeclaration: K.ExportNamed,
  ExportDefaultDeclaration: K.ExportDefault,
  ExportAllDeclaration: K.ExportAll,
  ImportExpression: K.ImportExpression,
  NewExpression: K.New,
});

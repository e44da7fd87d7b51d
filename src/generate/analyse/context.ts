/**
 * The syntactic context of a node, read from the walker's stack of ancestors: the member
 * chain it starts (`process.env.HOME`), whether that chain is read, written, tested with
 * `typeof` or called, and where a bare value ends up (`v = globalThis`, passed, returned).
 * Scope analysis records references with it; imports use it to follow a module's value.
 */
import { type Node, memberKey, patternPaths } from './ast.js';
import type { Consumer } from './scope.js';
import type { GlobalAccess } from './types.js';
import type { Analyser } from './walker.js';

/** Walks up the member chain that starts at `base` (whose parent is the stack's top). */
export function chainUp(
  a: Analyser,
  base: Node,
  from = a.stack.length - 1,
): { path: string[]; top: Node; parentIndex: number; computed: boolean } {
  const path: string[] = [];
  const stack = a.stack;
  let current = base;
  let i = from;
  while (i >= 0) {
    const parent = stack[i];
    if (parent.type === 'MemberExpression' && parent.object === current) {
      const key = memberKey(parent);
      if (key === undefined) return { path, top: current, parentIndex: i, computed: true };
      path.push(key);
    } else if (parent.type !== 'ChainExpression' && parent.type !== 'ParenthesizedExpression') {
      break;
    }
    current = parent;
    i -= 1;
  }
  return { path, top: current, parentIndex: i, computed: false };
}

/** How the value at `top` (whose parent is at `parentIndex`) is used: read, written, tested, destructured, called. */
export function accessAt(
  a: Analyser,
  top: Node,
  parentIndex: number,
): { access: GlobalAccess; patterns?: string[][]; called: boolean } {
  const parent = a.stack[parentIndex];
  if (!parent) return { access: 'read', called: false };
  switch (parent.type) {
    case 'AssignmentExpression':
      return { access: parent.left === top ? 'write' : 'read', called: false };
    case 'UpdateExpression':
      return { access: 'write', called: false };
    case 'UnaryExpression':
      if (parent.operator === 'typeof') return { access: 'presence', called: false };
      if (parent.operator === 'delete') return { access: 'write', called: false };
      return { access: 'read', called: false };
    case 'ForInStatement':
    case 'ForOfStatement':
      return { access: parent.left === top ? 'write' : 'read', called: false };
    case 'ArrayPattern':
    case 'RestElement':
      return { access: 'write', called: false };
    case 'AssignmentPattern':
      return { access: parent.left === top ? 'write' : 'read', called: false };
    case 'Property': {
      const grand = a.stack[parentIndex - 1];
      return { access: grand?.type === 'ObjectPattern' && parent.value === top ? 'write' : 'read', called: false };
    }
    case 'VariableDeclarator':
      if (parent.init === top && (parent.id.type === 'ObjectPattern' || parent.id.type === 'ArrayPattern')) {
        return { access: 'read', patterns: patternPaths(parent.id), called: false };
      }
      return { access: 'read', called: false };
    case 'CallExpression':
    case 'NewExpression':
      return { access: 'read', called: parent.callee === top };
    default:
      return { access: 'read', called: false };
  }
}

/**
 * Where a value at `top` ends up, looking through `a || b`, `c ? a : b`, `(x, a)`.
 * For `v = <value>` with `v` a plain variable, the stack index of the assignment.
 */
export function consumerOf(
  a: Analyser,
  top: Node,
  parentIndex: number,
): { consumer: Consumer; assignment?: number; fn?: Node } {
  let current = top;
  for (let i = parentIndex; i >= 0; i -= 1) {
    const parent = a.stack[i];
    switch (parent.type) {
      case 'LogicalExpression':
        if (parent.operator === '&&' && parent.left === current) return { consumer: 'other' };
        break;
      case 'ConditionalExpression':
        if (parent.test === current) return { consumer: 'other' };
        break;
      case 'SequenceExpression':
        if (parent.expressions[parent.expressions.length - 1] !== current) return { consumer: 'other' };
        break;
      case 'ParenthesizedExpression':
        break;
      case 'VariableDeclarator':
        return { consumer: parent.init === current && parent.id.type === 'Identifier' ? 'alias' : 'other' };
      case 'CallExpression':
      case 'NewExpression':
        return { consumer: parent.callee === current ? 'other' : 'passed' };
      case 'AssignmentExpression':
        if (parent.right !== current) return { consumer: 'other' };
        if (parent.operator === '=' && parent.left.type === 'Identifier') return { consumer: 'alias', assignment: i };
        return { consumer: 'assigned' };
      case 'Property':
        return { consumer: parent.value === current ? 'assigned' : 'other' };
      case 'ReturnStatement': {
        const fn = enclosingFunction(a, i);
        return fn ? { consumer: 'returned', fn } : { consumer: 'assigned' };
      }
      case 'ArrowFunctionExpression':
        return parent.body === current ? { consumer: 'returned', fn: parent } : { consumer: 'other' };
      case 'ArrayExpression':
      case 'SpreadElement':
        return { consumer: 'assigned' };
      default:
        return { consumer: 'other' };
    }
    current = parent;
  }
  return { consumer: 'other' };
}

function enclosingFunction(a: Analyser, index: number): Node | undefined {
  for (let i = index; i >= 0; i -= 1) {
    const t = a.stack[i].type;
    if (t === 'FunctionExpression' || t === 'FunctionDeclaration' || t === 'ArrowFunctionExpression') return a.stack[i];
  }
  return undefined;
}


/**
 * What a module changes that is not its own: for strict mode, where a read grant of an
 * object global (`process.env`) cannot change what others see and another package's
 * exports reach a package as read-only views, the policy must say `"write"` where the
 * code changes them (policy.ts writes it only in strict mode).
 *
 * A change is an assignment, `delete` or update below a value (`process.env.X = 1`,
 * `moment.fn.tz = ...`, `env[key] = value`), the value given as the target of
 * `Object.assign`, `Object.defineProperty` and their kin, or a member of it whose array
 * method changes it (`moment.momentProperties.push('_z')`). The value is followed
 * through the variables that hold it or a member of it (`const env = process.env`,
 * `var fn = moment.fn`, `const { env } = process`, a parameter's default), and into the
 * parameters of functions it is passed to when they are written right there: an
 * immediately called function (`(function (m) { ... })(require('moment'))`) or the
 * factory of the UMD pattern (`(function (root, factory) { module.exports =
 * factory(require('moment')) })(this, function (moment) { ... })`, moment-timezone).
 *
 * An object global handed to any other function (dotenv's `populate(process.env, ...)`)
 * may be changed there, unseen: that counts as a change (what reads only, such as
 * `Object.keys`, does not). A package's exports handed to another function do not
 * count: that function is the one that would change them.
 */
import { type Node, memberKey, propertyKey } from './ast.js';
import type { Binding, Scope } from './scope.js';
import type { Analyser } from './walker.js';

/**
 * How a reference changes the value it starts from: `drop` is how many parts at the
 * end of its member path are not the changed object (`env.X = 1`: 1, the member
 * assigned; `Object.assign(env, ...)`: 0).
 */
export interface Mutation {
  kind: 'changes' | 'passed';
  drop: number;
  /** An array method called on the value (`list.push(x)`): a change only below a module's value itself, whose `push` may be its own function. */
  method?: true;
}

/** Where a variable's value may come from. */
export type ValueSource =
  /** A variable (or a member path of it): `const fn = moment.fn`. */
  | { kind: 'binding'; name: string; scope: Scope; path: string[] }
  /** A call, which may be a require (known after the walk): `require('moment').fn`. */
  | { kind: 'call'; node: Node; path: string[] }
  /** An ES module import of a package (or a member of it). */
  | { kind: 'import'; record: import('./types.js').ImportRecord; path: string[] };

const MUTATORS = new Set([
  'Object.assign',
  'Object.defineProperty',
  'Object.defineProperties',
  'Object.setPrototypeOf',
  'Object.freeze',
  'Object.seal',
  'Object.preventExtensions',
  'Reflect.set',
  'Reflect.defineProperty',
  'Reflect.deleteProperty',
  'Reflect.setPrototypeOf',
  'Reflect.preventExtensions',
]);

/** Functions that read what they are given and change nothing. */
const READERS = new Set([
  'Object.keys',
  'Object.values',
  'Object.entries',
  'Object.getOwnPropertyNames',
  'Object.getOwnPropertySymbols',
  'Object.getOwnPropertyDescriptor',
  'Object.getOwnPropertyDescriptors',
  'Object.getPrototypeOf',
  'Object.hasOwn',
  'Object.isFrozen',
  'Object.isSealed',
  'Object.isExtensible',
  'Object.create',
  'Object.fromEntries',
  'Object.is',
  'Reflect.get',
  'Reflect.has',
  'Reflect.ownKeys',
  'Reflect.getOwnPropertyDescriptor',
  'Reflect.getPrototypeOf',
  'JSON.stringify',
  'Array.from',
  'Array.isArray',
  'String',
  'Boolean',
  'Number',
  'structuredClone',
  'console.log',
  'console.error',
  'console.warn',
  'console.info',
  'console.debug',
  'console.dir',
  'util.inspect',
  'util.format',
  'inspect',
  'format',
]);

/** `Object.prototype.hasOwnProperty.call(env, k)`, `{}.propertyIsEnumerable.call(...)`. */
const READ_METHODS = new Set(['hasOwnProperty', 'propertyIsEnumerable', 'toString', 'toLocaleString', 'valueOf', 'isPrototypeOf']);

const ARRAY_MUTATORS = new Set(['push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin']);

/** The dotted name of a callee made of identifiers and static members (`Object.assign`). */
function calleeName(node: Node): string | undefined {
  if (node.type === 'Identifier') return node.name;
  if (node.type === 'MemberExpression') {
    const key = memberKey(node);
    const object = calleeName(node.object);
    return key === undefined || object === undefined ? undefined : `${object}.${key}`;
  }
  return undefined;
}

function isReader(name: string | undefined): boolean {
  if (name === undefined) return false;
  if (READERS.has(name)) return true;
  const parts = name.split('.');
  return parts.length >= 2 && (parts.at(-1) === 'call' || parts.at(-1) === 'apply') && READ_METHODS.has(parts.at(-2)!);
}

/** Through `a || b`, `c ? a : b`, `(a)`, `(x, a)`: the node whose parent uses the value, and that parent's index. */
function valueParent(a: Analyser, top: Node, parentIndex: number): { node: Node; index: number } {
  let current = top;
  for (let i = parentIndex; i >= 0; i -= 1) {
    const parent = a.stack[i];
    switch (parent.type) {
      case 'LogicalExpression':
        if (parent.operator === '&&' && parent.left === current) return { node: current, index: i };
        break;
      case 'ConditionalExpression':
        if (parent.test === current) return { node: current, index: i };
        break;
      case 'SequenceExpression':
        if (parent.expressions[parent.expressions.length - 1] !== current) return { node: current, index: i };
        break;
      case 'ParenthesizedExpression':
      case 'ChainExpression':
        break;
      default:
        return { node: current, index: i };
    }
    current = parent;
  }
  return { node: current, index: -1 };
}

/**
 * How the reference whose member chain is `chain` changes its value, if it does.
 * `computed`: the chain stopped at a computed member (`env[key]`).
 */
export function mutationAt(
  a: Analyser,
  chain: { path: string[]; top: Node; parentIndex: number; computed: boolean },
): Mutation | undefined {
  const stack = a.stack;
  const { path, top, parentIndex, computed } = chain;
  if (computed) {
    // `env[key] = v`, `delete env[key]`, `env[key].x = v`: the chain's value is changed
    // (at `env[key]` or below it).
    let current = stack[parentIndex];
    let i = parentIndex - 1;
    while (i >= 0 && stack[i].type === 'MemberExpression' && stack[i].object === current) {
      current = stack[i];
      i -= 1;
    }
    const parent = stack[i];
    if (parent && isWriteOf(parent, current)) return { kind: 'changes', drop: 0 };
    return undefined;
  }
  const parent = stack[parentIndex];
  if (!parent) return undefined;
  if (path.length > 0 && isWriteOf(parent, top)) return { kind: 'changes', drop: 1 };
  // `x.list.push(v)`.
  if (path.length >= 1 && parent.type === 'CallExpression' && parent.callee === top && ARRAY_MUTATORS.has(path[path.length - 1]!)) {
    return { kind: 'changes', drop: 1, method: true };
  }
  const user = valueParent(a, top, parentIndex);
  const call = stack[user.index];
  if (call && (call.type === 'CallExpression' || call.type === 'NewExpression') && call.callee !== user.node) {
    const index = call.arguments.indexOf(user.node);
    if (index === -1) return undefined;
    const name = calleeName(call.callee);
    if (name !== undefined && MUTATORS.has(name)) return index === 0 ? { kind: 'changes', drop: 0 } : undefined;
    if (isReader(name)) return undefined;
    return { kind: 'passed', drop: 0 };
  }
  return undefined;
}

/** Whether `parent` writes `node`: assigned to, updated, deleted. */
function isWriteOf(parent: Node, node: Node): boolean {
  switch (parent.type) {
    case 'AssignmentExpression':
      return parent.left === node;
    case 'UpdateExpression':
      return true;
    case 'UnaryExpression':
      return parent.operator === 'delete';
    default:
      return false;
  }
}

/**
 * The sources an expression's value may come from, when it is a variable, a member
 * path of one, or a call (`a || b` and `c ? a : b` give both).
 */
export function sourcesOf(a: Analyser, expression: Node, path: string[] = []): ValueSource[] {
  switch (expression.type) {
    case 'Identifier':
      return [{ kind: 'binding', name: expression.name, scope: a.scope, path }];
    case 'MemberExpression': {
      const key = memberKey(expression);
      if (key === undefined) return [];
      return sourcesOf(a, expression.object, [key, ...path]);
    }
    case 'CallExpression':
      // A require (or a look-alike: resolved after the walk); other calls' results are
      // the caller's own.
      return expression.callee.type === 'Identifier' && a.requireNames.has(expression.callee.name)
        ? [{ kind: 'call', node: expression, path }]
        : [];
    case 'LogicalExpression':
      return expression.operator === '&&' ? sourcesOf(a, expression.right, path) : [...sourcesOf(a, expression.left, path), ...sourcesOf(a, expression.right, path)];
    case 'ConditionalExpression':
      return [...sourcesOf(a, expression.consequent, path), ...sourcesOf(a, expression.alternate, path)];
    case 'ParenthesizedExpression':
    case 'ChainExpression':
      return sourcesOf(a, expression.expression, path);
    case 'SequenceExpression':
      return sourcesOf(a, expression.expressions[expression.expressions.length - 1], path);
    case 'AssignmentExpression':
      return expression.operator === '=' ? sourcesOf(a, expression.right, path) : [];
    default:
      return [];
  }
}

/** Whether a source may be worth following: an unbound name (a global), a followed variable, or a call. */
function mayMatter(a: Analyser, source: ValueSource): boolean {
  if (source.kind !== 'binding') return true;
  // A function's own `arguments` is no global.
  if (source.name === 'arguments') return false;
  const target = source.scope.lookup(source.name);
  return target === undefined || target.valueSources !== undefined;
}

/** Notes where `binding`'s value may come from; its references are then recorded (special). */
export function noteValueSources(a: Analyser, binding: Binding, sources: ValueSource[]): void {
  const kept = sources.filter((source) => mayMatter(a, source));
  if (kept.length === 0) return;
  if (!binding.valueSources) {
    binding.valueSources = [];
    a.valueBindings.push(binding);
  }
  binding.valueSources.push(...kept);
  binding.special = true;
}

/** `const { env } = process`, `const { fn } = moment`: each name holds a member of the value. */
export function noteDestructuredSources(a: Analyser, pattern: Node, init: Node): void {
  if (pattern.type !== 'ObjectPattern') return;
  for (const prop of pattern.properties) {
    if (prop.type !== 'Property') continue;
    const key = propertyKey(prop);
    const target = prop.value.type === 'AssignmentPattern' ? prop.value.left : prop.value;
    if (key === undefined || target.type !== 'Identifier') continue;
    const binding = a.scope.lookup(target.name);
    if (binding) noteValueSources(a, binding, sourcesOf(a, init, [key]));
  }
}

/**
 * `(function (m) { ... })(value)` and UMD's `(function (root, factory) { ...
 * factory(value) ... })(this, function (m) { ... })`: before the called function is
 * walked, its parameters learn what they receive (so that their references are kept).
 */
export function noteImmediateCall(a: Analyser, call: Node): void {
  const callee = call.callee;
  if (callee.type !== 'FunctionExpression' && callee.type !== 'ArrowFunctionExpression') return;
  call.arguments.forEach((argument: Node, index: number) => {
    const param = callee.params[index];
    if (param?.type !== 'Identifier') return;
    if (argument.type === 'FunctionExpression' || argument.type === 'ArrowFunctionExpression') {
      // The parameter will hold that function (UMD's factory).
      addPending(a.functionParams, callee, { index, fn: argument });
    } else {
      const sources = sourcesOf(a, argument);
      if (sources.length > 0) addPending(a.paramSources, callee, { index, sources });
    }
  });
}

/** `factory(value)` where `factory` is a parameter known to hold a function expression. */
export function noteFactoryCall(a: Analyser, call: Node): void {
  if (call.callee.type !== 'Identifier') return;
  const binding = a.scope.lookup(call.callee.name);
  const fn = binding?.fnValue;
  if (!fn) return;
  call.arguments.forEach((argument: Node, index: number) => {
    const param = fn.params[index];
    if (param?.type !== 'Identifier') return;
    const sources = sourcesOf(a, argument);
    if (sources.length > 0) addPending(a.paramSources, fn, { index, sources });
  });
}

function addPending<T>(map: Map<Node, T[]>, key: Node, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** When a function's parameters are declared: what they hold, as noted by its callers above. */
export function noteParameters(a: Analyser, fn: Node): void {
  for (const { index, sources } of a.paramSources.get(fn) ?? []) {
    const binding = a.scope.decls.get(fn.params[index].name);
    if (binding) noteValueSources(a, binding, sources);
  }
  for (const { index, fn: value } of a.functionParams.get(fn) ?? []) {
    const binding = a.scope.decls.get(fn.params[index].name);
    if (binding) binding.fnValue = value;
  }
}

// -- after the walk

interface Resolved {
  /** An object global: its name and the member path below it. */
  global?: string[];
  /** A module of another package (or the same one: the generator tells by resolving it), and the member path of its value. */
  record?: import('./types.js').ImportRecord;
  path: string[];
}

function resolveSource(a: Analyser, source: ValueSource, seen: Set<Binding>): Resolved[] {
  switch (source.kind) {
    case 'import':
      return [{ record: source.record, path: source.path }];
    case 'call': {
      const candidate = a.candidateByNode.get(source.node);
      return candidate?.record ? [{ record: candidate.record, path: source.path }] : [];
    }
    case 'binding': {
      const target = source.scope.lookup(source.name);
      if (target === undefined) return [{ global: [source.name, ...source.path], path: [] }];
      return resolveBinding(a, target, seen).map((r) =>
        r.global ? { global: [...r.global, ...source.path], path: [] } : { ...r, path: [...r.path, ...source.path] },
      );
    }
  }
}

function resolveBinding(a: Analyser, binding: Binding, seen: Set<Binding>): Resolved[] {
  if (!binding.valueSources || seen.has(binding)) return [];
  seen.add(binding);
  const out = binding.valueSources.flatMap((source) => resolveSource(a, source, seen));
  seen.delete(binding);
  return out;
}

/**
 * For every variable that holds (a member of) an object global or another module's
 * value: its changes mark the global path (`"process.env"`) or the import record.
 */
export function resolveMutations(a: Analyser, markGlobal: (path: string[], kind: Mutation['kind'], offset: number) => void): void {
  for (const binding of a.valueBindings) {
    const changing = binding.refs.filter((ref) => ref.mutation !== undefined);
    if (changing.length === 0) continue;
    for (const value of resolveBinding(a, binding, new Set())) {
      for (const ref of changing) {
        const mutation = ref.mutation!;
        if (value.record) {
          const below = value.path.length + ref.path.length - mutation.drop;
          if (mutation.kind === 'changes' && (!mutation.method || below >= 1)) value.record.mutates = true;
        } else if (value.global) {
          const path = [...value.global, ...ref.path];
          markGlobal(path.slice(0, path.length - mutation.drop), mutation.kind, ref.start);
        }
      }
    }
  }
}

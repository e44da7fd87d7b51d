/**
 * require() and its look-alikes. A call whose meaning depends on what its callee turns
 * out to be bound to is a candidate, decided after the walk when every declaration is
 * known: `require`, `module.require`, a `require` made with `createRequire` or chosen by
 * an expression (`(0, require)`, esbuild's `__require` shim), `require.resolve`; and,
 * on the same footing, `eval` and `Function`, which are warnings unless shadowed.
 */
import { builtinName } from '../../graph/resolve.js';
import { type Node, memberKey, staticString } from './ast.js';
import { type ResultUse, UNKNOWN_TARGET, addImport, inTryBlock, resultUse, use } from './imports.js';
import type { Binding, CalleeRef, Ref } from './scope.js';
import type { Analyser } from './walker.js';
import { chainUp } from './context.js';
import { mutationAt } from './mutations.js';

export type CandidateKind = 'require' | 'resolve' | 'eval' | 'Function';

export interface CallCandidate {
  kind: CandidateKind;
  callee: CalleeRef;
  specifier: string | undefined;
  start: number;
  /** How the call's result is used, for builtins: direct member paths, and variables holding paths. */
  result?: ResultUse;
  /** `Function('return this')`: the well-known way to reach the global object. */
  returnThis?: boolean;
  optional?: boolean;
  /** Its result is changed right there (`require('x').y = 1`). */
  mutation?: import('./mutations.js').Mutation;
  /** The import record, once confirmed as a require. */
  record?: import('./types.js').ImportRecord;
}

/** Members of `require` that are not a use of it as a value. */
const REQUIRE_MEMBERS = new Set(['resolve', 'cache', 'main', 'extensions']);

// -- during the walk

/** The names of the CommonJS wrapper that `eval('name')` reads in a module (formats/cjs.ts rewrites those calls to the name). */
const WRAPPER_NAMES = new Set(['require', 'module', 'exports', '__filename', '__dirname']);

/** `"quire".replace(/^/,"re")`: `require` as `@protobufjs/inquire` 1.1.0 spells it (formats/cjs.ts rewrites the eval too). */
function isInquireSpelling(node: Node): boolean {
  if (node.type !== 'CallExpression' || node.arguments.length !== 2) return false;
  const callee = node.callee;
  if (callee.type !== 'MemberExpression' || memberKey(callee) !== 'replace') return false;
  if (callee.object.type !== 'Literal' || callee.object.value !== 'quire') return false;
  const [pattern, replacement] = node.arguments;
  return pattern.type === 'Literal' && pattern.regex?.pattern === '^' && pattern.regex.flags === '' && replacement.type === 'Literal' && replacement.value === 're';
}

/** `eval('require')` (or another name of the wrapper) in a CommonJS module: that name. */
export function wrapperEval(a: Analyser, node: Node): string | undefined {
  if (a.format !== 'commonjs' || node.type !== 'CallExpression' || node.arguments.length !== 1) return undefined;
  if (node.callee.type !== 'Identifier' || node.callee.name !== 'eval') return undefined;
  if (isInquireSpelling(node.arguments[0])) return 'require';
  if (node.arguments[0].type !== 'Literal') return undefined;
  const name = node.arguments[0].value;
  return typeof name === 'string' && WRAPPER_NAMES.has(name) ? name : undefined;
}

/** A call of require, require.resolve, eval or Function, to be confirmed after the walk. */
export function noteCallCandidate(a: Analyser, node: Node): void {
  const callee = node.callee;
  let kind: CandidateKind | undefined;
  let ref: CalleeRef | undefined;
  if (wrapperEval(a, node) !== undefined) return; // `eval('require')`: the module's own require (below)
  if (callee.type === 'Identifier') {
    const name: string = callee.name;
    if (a.requireNames.has(name)) kind = 'require';
    else if (name === 'eval') kind = 'eval';
    else if (name === 'Function') kind = 'Function';
    if (kind) ref = { name, scope: a.scope };
  } else if (
    callee.type === 'MemberExpression' &&
    callee.object.type === 'Identifier' &&
    a.requireNames.has(callee.object.name) &&
    memberKey(callee) === 'resolve'
  ) {
    kind = 'resolve';
    ref = { name: callee.object.name, scope: a.scope };
  } else if (callee.type === 'CallExpression' && wrapperEval(a, callee) === 'require') {
    // `eval('require')('worker_threads')` (threads, hiding its require from bundlers).
    kind = 'require';
    ref = { name: 'require', scope: a.scope };
  } else if (callee.type === 'MemberExpression' && callee.object.type === 'CallExpression' && wrapperEval(a, callee.object) === 'require' && memberKey(callee) === 'resolve') {
    kind = 'resolve';
    ref = { name: 'require', scope: a.scope };
  } else if (
    a.format === 'commonjs' &&
    callee.type === 'MemberExpression' &&
    callee.object.type === 'Identifier' &&
    memberKey(callee) === 'require'
  ) {
    // module.require('x'), also through an alias (`freeModule = typeof module == 'object' && module`).
    kind = 'require';
    ref = { name: callee.object.name, scope: a.scope, member: 'require' };
  } else if (callee.type === 'CallExpression' && (ref = madeRequireRef(a, callee.callee)) !== undefined) {
    // `createRequire(import.meta.url)('x')`: a require made and called at once.
    kind = 'require';
  } else {
    // `(typeof __webpack_require__ !== 'undefined' ? __non_webpack_require__ : require)('url')`
    // (sass), `(0, require)('x')`: a require chosen by an expression is still one.
    const chosen = chosenRequire(a, callee);
    if (chosen) {
      kind = 'require';
      ref = { name: chosen, scope: a.scope };
    }
  }
  if (!kind || !ref) return;
  const specifier = staticString(node.arguments[0]);
  const candidate: CallCandidate = { kind, callee: ref, specifier, start: node.start };
  if (kind === 'require' || kind === 'resolve') candidate.optional = inTryBlock(a);
  if (kind === 'Function') {
    candidate.returnThis = node.arguments.length === 1 && /^\s*return\s+this\s*;?\s*$/.test(specifier ?? '');
  }
  if (kind === 'require' && specifier !== undefined && builtinName(specifier) !== undefined) {
    candidate.result = resultUse(a, node);
    for (const { binding, path } of candidate.result.bindings) binding.pending = { candidate, base: path };
  } else if (kind === 'require') {
    const chain = chainUp(a, node);
    const mutation = mutationAt(a, chain);
    // `require('x').push(y)` may be x's own push.
    if (mutation && !(mutation.method && chain.path.length - mutation.drop < 1)) candidate.mutation = mutation;
  }
  a.candidateByNode.set(node, candidate);
  a.candidates.push(candidate);
}

/** `new Function(...)`: a Function candidate, whatever its arguments. */
export function noteFunctionConstructor(a: Analyser, node: Node): void {
  if (node.callee.type === 'Identifier' && node.callee.name === 'Function') {
    a.candidates.push({
      kind: 'Function',
      callee: { name: 'Function', scope: a.scope },
      specifier: undefined,
      start: node.start,
    });
  }
}

/** The name of a `require` among the values `expression` may evaluate to. */
export function chosenRequire(a: Analyser, expression: Node): string | undefined {
  switch (expression.type) {
    case 'Identifier':
      return a.requireNames.has(expression.name) ? expression.name : undefined;
    case 'ConditionalExpression':
      return chosenRequire(a, expression.consequent) ?? chosenRequire(a, expression.alternate);
    case 'LogicalExpression':
      return chosenRequire(a, expression.left) ?? chosenRequire(a, expression.right);
    case 'SequenceExpression':
      return chosenRequire(a, expression.expressions[expression.expressions.length - 1]);
    default:
      return undefined;
  }
}

/**
 * The callee of `createRequire(...)`, `module.createRequire(...)`, or of a function imported
 * from `module` under another name: a candidate, confirmed after the walk
 * ({@link madeByCreateRequire}).
 */
function madeRequireRef(a: Analyser, callee: Node): CalleeRef | undefined {
  if (callee.type === 'Identifier') {
    const binding = a.scope.lookup(callee.name);
    if (callee.name === 'createRequire' || (binding?.importRecord !== undefined && builtinName(binding.importRecord.specifier) === 'module')) {
      return { name: callee.name, scope: a.scope, made: true };
    }
  } else if (callee.type === 'MemberExpression' && callee.object.type === 'Identifier' && memberKey(callee) === 'createRequire') {
    return { name: callee.object.name, scope: a.scope, member: 'createRequire', made: true };
  }
  return undefined;
}

/** Whether `target` (with `member`) is `module`'s createRequire, imported. */
function madeByCreateRequire(target: Binding | undefined, member: string | undefined): boolean {
  if (!target?.importRecord || builtinName(target.importRecord.specifier) !== 'module') return false;
  const base = target.importBase ?? [];
  const path = member ? [...base, member] : base;
  return path.length === 1 && path[0] === 'createRequire';
}

/**
 * `const require = createRequire(import.meta.url)` (or `module.createRequire(...)`, or
 * `createRequire` imported under another name); `var __require = ((x) => typeof require
 * !== "undefined" ? require : ...)(fallback)`: calls of the variable may be requires.
 */
export function noteRequireInitialiser(a: Analyser, binding: Binding, init: Node): void {
  // `var __require = /* @__PURE__ */ (() => createRequire(import.meta.url))()`: how
  // rolldown (Vite 8, tsdown) writes it. A function of no parameters called at once with
  // no arguments returns what its body computes, in the same bindings.
  const made = immediatelyReturned(init);
  if (made !== undefined) {
    noteRequireInitialiser(a, binding, made);
    return;
  }
  const callee = init.callee;
  const calleeBinding = callee.type === 'Identifier' ? a.scope.lookup(callee.name) : undefined;
  if (
    callee.type === 'Identifier' &&
    (callee.name === 'createRequire' ||
      // `import { createRequire as __prettierCreateRequire } from 'module'`: any name
      // of an import from `module` (resolveRequireFunctions() checks it is createRequire).
      (calleeBinding?.importRecord !== undefined && builtinName(calleeBinding.importRecord.specifier) === 'module'))
  ) {
    binding.requireFrom = { name: callee.name, scope: a.scope };
  } else if (callee.type === 'MemberExpression' && callee.object.type === 'Identifier' && memberKey(callee) === 'createRequire') {
    binding.requireFrom = { name: callee.object.name, scope: a.scope, member: 'createRequire' };
  }
  if (binding.requireFrom) {
    binding.special = true;
    a.createRequireBindings.push(binding);
    a.requireNames.add(binding.name);
  }
  // var __require = ((x) => typeof require !== "undefined" ? require : ...)(fallback):
  // how esbuild's ES module output reaches the `require` it made with createRequire.
  if (
    (callee.type === 'ArrowFunctionExpression' || callee.type === 'FunctionExpression') &&
    callee.body.type !== 'BlockStatement'
  ) {
    const chosen = chosenRequire(a, callee.body);
    const params = new Set<string>(callee.params.flatMap((param: Node) => (param.type === 'Identifier' ? [param.name] : [])));
    if (chosen && !params.has(chosen)) {
      binding.requireAlias = { name: chosen, scope: a.scope };
      binding.special = true;
      a.requireAliasBindings.push(binding);
      a.requireNames.add(binding.name);
    }
  }
}

/** The call an arrow or function of no parameters, called at once without arguments, returns. */
function immediatelyReturned(init: Node): Node | undefined {
  const callee = init.callee;
  if ((callee.type !== 'ArrowFunctionExpression' && callee.type !== 'FunctionExpression') || callee.params.length > 0 || init.arguments.length > 0) return undefined;
  if (callee.async || callee.generator) return undefined;
  let body: Node | null | undefined = callee.body;
  if (body?.type === 'BlockStatement') {
    body = body.body.length === 1 && body.body[0].type === 'ReturnStatement' ? body.body[0].argument : undefined;
  }
  return body?.type === 'CallExpression' ? body : undefined;
}

// -- after the walk

/** Which of the variables noted during the walk do hold a require (made by `module`'s createRequire, or an alias of one). */
export function resolveRequireFunctions(a: Analyser): void {
  for (const binding of a.createRequireBindings) {
    const from = binding.requireFrom!;
    if (madeByCreateRequire(from.scope.lookup(from.name), from.member)) binding.requireLike = true;
  }
  for (const binding of a.requireAliasBindings) {
    if (isRequire(a, binding.requireAlias!)) binding.requireLike = true;
  }
}

export function isRequire(a: Analyser, ref: CalleeRef): boolean {
  const binding = ref.scope.lookup(ref.name);
  if (binding === undefined) return false;
  if (ref.made) return madeByCreateRequire(binding, ref.member);
  if (ref.member === 'require') return isModuleObject(a, binding, new Set());
  return binding === a.wrapperRequire || binding.requireLike;
}

/** The CommonJS `module`, or a variable initialised with it. */
export function isModuleObject(a: Analyser, binding: Binding, seen: Set<Binding>): boolean {
  if (binding === a.wrapperModule) return true;
  if (!binding.moduleSources || seen.has(binding)) return false;
  seen.add(binding);
  return binding.moduleSources.some((source) => {
    const target = source.scope.lookup(source.name);
    return target !== undefined && isModuleObject(a, target, seen);
  });
}

export function resolveCandidate(a: Analyser, candidate: CallCandidate): void {
  const { kind, callee, specifier, start } = candidate;
  if (kind === 'eval' || kind === 'Function') {
    if (callee.scope.lookup(callee.name)) return;
    if (kind === 'Function' && candidate.returnThis) return;
    a.warn(
      'runtime-code',
      kind === 'eval'
        ? 'eval(): code evaluated at run time cannot be analysed (and SES runs it confined to the package)'
        : 'Function constructor: code built at run time cannot be analysed',
      start,
    );
    return;
  }
  if (!isRequire(a, callee)) return;
  if (specifier === undefined) {
    a.warn(
      'dynamic-load',
      `${kind === 'resolve' ? 'require.resolve' : 'require'}() with a computed argument: ${UNKNOWN_TARGET}`,
      start,
    );
    return;
  }
  const record = addImport(a, specifier, kind, start, candidate.optional === true);
  candidate.record = record;
  if (candidate.mutation?.kind === 'changes') record.mutates = true;
  if (!record.uses) return;
  if (kind === 'resolve' || !candidate.result) {
    use(a, record, [], start);
    return;
  }
  for (const path of candidate.result.uses) use(a, record, path, start);
  for (const { binding, path } of candidate.result.bindings) {
    if (binding.pending?.candidate !== candidate) continue;
    binding.importRecord = record;
    binding.importBase = path;
    a.importBindings.push(binding);
  }
}

export function checkRequireRef(a: Analyser, ref: Ref): void {
  if (ref.called || ref.access === 'presence') return;
  if (ref.path.length > 0 && REQUIRE_MEMBERS.has(ref.path[0]!)) return;
  if (ref.access === 'write') return;
  a.warn('dynamic-load', 'require is used as a value (aliased or passed on): modules it loads later are not known statically', ref.start);
}

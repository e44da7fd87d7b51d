/**
 * Globals: which variables may hold the global object (`root = freeGlobal || freeSelf`,
 * `Function('return this')()`, functions that return it), what `Object.defineProperty`
 * redefines on it, and how each reference that reaches a global becomes a policy path
 * (at most two parts, access, position), or a warning when the global object escapes.
 */
import { type Node, memberKey, staticString } from './ast.js';
import { GLOBAL_OBJECT_NAMES, MODULE_SCOPE_NAMES, isFrozenIntrinsic, isProvidedGlobal } from '../intrinsics.js';
import { accessAt, chainUp } from './context.js';
import type { Binding, CalleeRef, Ref } from './scope.js';
import type { GlobalAccess, GlobalChange, GlobalUse } from './types.js';
import type { Analyser } from './walker.js';

/** Accessors SES keeps on the tamed `Error` (V8's stack trace API): assigning them works. */
const ASSIGNABLE_INTRINSIC_PATHS = new Set(['Error.prepareStackTrace', 'Error.stackTraceLimit', 'Error.captureStackTrace']);

const TRANSPARENT_CALL_MEMBERS = new Set(['call', 'apply', 'bind']);

/**
 * `v = globalThis` (or `v = root`, an alias): `v` may hold the global object, so its
 * members are globals too; and so are the members of the assignment's own value,
 * `(v = globalThis).x`.
 */
export function assignmentAlias(a: Analyser, source: string, index: number): void {
  const assignment = a.stack[index];
  const target = a.scope.lookup(assignment.left.name);
  if (target) {
    if (!target.aliasSources) {
      target.aliasSources = [];
      a.aliasBindings.push(target);
    }
    target.aliasSources.push({ name: source, scope: a.scope });
    target.special = true;
    a.aliasNames.add(target.name);
  }
  const chain = chainUp(a, assignment, index - 1);
  if (chain.path.length === 0 && !chain.computed) return;
  const { access, patterns, called } = accessAt(a, chain.top, chain.parentIndex);
  const ref: Ref = { name: source, scope: a.scope, start: assignment.start, path: chain.path, access, computed: chain.computed, called };
  if (patterns) ref.patterns = patterns;
  a.refs.push(ref);
}

/**
 * Notes the values a variable's initialiser may evaluate to: when one may be the global
 * object, the variable is an alias of it (confirmed after the walk, to a fixed point). In
 * CommonJS the same values say which variables may hold `module` (see requires.ts).
 */
export function noteAliasInitialiser(a: Analyser, binding: Binding, init: Node): void {
  const sources: CalleeRef[] = [];
  let direct = false;
  let iife = false;
  const collect = (e: Node): void => {
    switch (e.type) {
      case 'Identifier':
        sources.push({ name: e.name, scope: a.scope });
        return;
      case 'LogicalExpression':
        if (e.operator !== '&&') collect(e.left);
        collect(e.right);
        return;
      case 'ConditionalExpression':
        collect(e.consequent);
        collect(e.alternate);
        return;
      case 'SequenceExpression':
        collect(e.expressions[e.expressions.length - 1]);
        return;
      case 'ParenthesizedExpression':
        collect(e.expression);
        return;
      case 'AssignmentExpression':
        if (e.operator === '=') collect(e.right);
        return;
      case 'CallExpression':
        // (() => { ... return globalThis; })(), getGlobal()
        if (e.callee.type === 'FunctionExpression' || e.callee.type === 'ArrowFunctionExpression') {
          sources.push({ name: '', scope: a.scope, call: { fn: e.callee } });
          iife = true;
        } else if (e.callee.type === 'Identifier') {
          sources.push({ name: e.callee.name, scope: a.scope, call: {} });
        }
        // Function('return this')()
        if (
          e.arguments.length === 0 &&
          e.callee.type === 'CallExpression' &&
          e.callee.callee.type === 'Identifier' &&
          e.callee.callee.name === 'Function' &&
          /^\s*return\s+this\s*;?\s*$/.test(staticString(e.callee.arguments[0]) ?? '')
        ) {
          direct = true;
        }
        return;
      default:
    }
  };
  collect(init);
  if (a.format === 'commonjs' && sources.length > 0) binding.moduleSources = sources;
  const calledDeclared = sources.some((s) => {
    if (!s.call || s.call.fn) return false;
    const fn = a.scope.lookup(s.name)?.fn;
    return fn !== undefined && a.returnsGlobal.has(fn);
  });
  if (direct || iife || calledDeclared || sources.some((s) => !s.call && a.aliasNames.has(s.name))) {
    if (!binding.aliasSources) a.aliasBindings.push(binding);
    binding.aliasSources = [...(binding.aliasSources ?? []), ...sources];
    binding.directGlobalAlias ||= direct;
    binding.special = true;
    a.aliasNames.add(binding.name);
  }
}

/**
 * `Object.defineProperty(globalThis, 'Request', ...)`, `Reflect.defineProperty(...)`,
 * `Object.defineProperties(global, { A: ..., B: ... })` (@hono/node-server replaces
 * `Request` and `Response` so): a redefinition of those globals.
 */
export function noteGlobalDefinition(a: Analyser, node: Node): void {
  const callee = node.callee;
  if (callee.type !== 'MemberExpression' || callee.object.type !== 'Identifier') return;
  const owner = callee.object.name;
  const method = memberKey(callee);
  if (!((owner === 'Object' || owner === 'Reflect') && (method === 'defineProperty' || method === 'defineProperties'))) return;
  if (method === 'defineProperties' && owner !== 'Object') return;
  const target = node.arguments[0];
  if (target?.type !== 'Identifier' || !GLOBAL_OBJECT_NAMES.has(target.name) || a.scope.lookup(target.name) !== undefined) return;
  if (method === 'defineProperty') {
    const name = staticString(node.arguments[1]);
    if (name !== undefined && name !== '') globalPath(a, [name], 'redefine', node.start);
    return;
  }
  const map = node.arguments[1];
  if (map?.type !== 'ObjectExpression') return;
  for (const property of map.properties) {
    if (property.type !== 'Property' || property.computed) continue;
    const name = property.key.type === 'Identifier' ? property.key.name : staticString(property.key);
    if (name !== undefined && name !== '') globalPath(a, [name], 'redefine', node.start);
  }
}

/** After the walk: which of the variables noted do hold the global object (`root = freeGlobal || freeSelf`). */
export function resolveGlobalAliases(a: Analyser): void {
  for (let changed = true; changed; ) {
    changed = false;
    for (const binding of a.aliasBindings) {
      if (binding.isGlobalAlias) continue;
      const isAlias =
        binding.directGlobalAlias ||
        binding.aliasSources!.some((source) => {
          if (source.call) {
            const fn = source.call.fn ?? source.scope.lookup(source.name)?.fn;
            return fn !== undefined && a.returnsGlobal.has(fn);
          }
          const target = source.scope.lookup(source.name);
          return target ? target !== binding && target.isGlobalAlias : GLOBAL_OBJECT_NAMES.has(source.name);
        });
      if (isAlias) {
        binding.isGlobalAlias = true;
        changed = true;
      }
    }
  }
}

export function globalReference(a: Analyser, ref: Ref, fullPath: string[], viaAlias: boolean): void {
  if (!viaAlias && MODULE_SCOPE_NAMES.has(ref.name)) return;
  let path = fullPath;
  let strip = 0;
  while (strip < path.length && GLOBAL_OBJECT_NAMES.has(path[strip]!)) strip += 1;
  if (strip > 0) path = path.slice(strip);
  if (ref.mutation) globalMutation(a, path.slice(0, path.length - ref.mutation.drop), ref.mutation.kind, ref.start);
  const paths = ref.patterns ? ref.patterns.map((p) => [...path, ...p]) : [path];
  for (const p of paths) {
    if (p.length === 0) {
      globalObjectEscape(a, ref);
      continue;
    }
    globalPath(a, p, ref.access, ref.start);
  }
}

export function globalObjectEscape(a: Analyser, ref: Ref): void {
  if (ref.computed) {
    a.warn('dynamic-global', 'computed member access on the global object: the globals it reaches are not known statically', ref.start);
    return;
  }
  if (ref.consumer === 'passed' || ref.consumer === 'assigned') {
    a.warn(
      'dynamic-global',
      'the global object is passed on or stored: globals used through it are not known statically',
      ref.start,
    );
  }
}

/**
 * The object global at `path` is changed (`process.env.X = 1`, `Object.assign(env, ...)`
 * through an alias), or handed to a function that may change it (`passed`): noted for
 * its grant (mutations.ts), which the code reads anyway. Only an object held by a global
 * (`process.env`, two parts or more); assigning a global itself is a write already.
 */
export function globalMutation(a: Analyser, fullPath: string[], kind: 'changes' | 'passed', offset: number): void {
  let strip = 0;
  while (strip < fullPath.length && GLOBAL_OBJECT_NAMES.has(fullPath[strip]!)) strip += 1;
  const path = fullPath.slice(strip);
  if (path.length < 2 || isProvidedGlobal(path[0]!)) return;
  let granted = path.length > 2 ? path.slice(0, 2) : path;
  if (granted.length === 2 && TRANSPARENT_CALL_MEMBERS.has(granted[1]!)) granted = [path[0]!];
  const change: GlobalChange = { path: granted.join('.'), kind, ...a.position(offset) };
  if (granted.length !== path.length) change.full = path.join('.');
  a.globalChanges.push(change);
}

export function globalPath(a: Analyser, path: string[], access: GlobalAccess, offset: number): void {
  const root = path[0]!;
  if (isProvidedGlobal(root)) {
    if (access === 'write' && path.length >= 2 && isFrozenIntrinsic(root) && !ASSIGNABLE_INTRINSIC_PATHS.has(`${root}.${path[1]}`)) {
      a.warn('frozen-intrinsic', `assignment to ${path.join('.')}: intrinsics are frozen under SES lockdown, so this fails under the loader`, offset);
    }
    return;
  }
  let granted = path.length > 2 ? path.slice(0, 2) : path;
  if (granted.length === 2 && TRANSPARENT_CALL_MEMBERS.has(granted[1]!)) granted = [root];
  // Assigning below the granted object only needs to read it.
  const effective: GlobalAccess = access === 'write' && granted.length !== path.length ? 'read' : access;
  const use: GlobalUse = { path: granted.join('.'), access: effective, ...a.position(offset) };
  if (granted.length !== path.length) use.full = path.join('.');
  a.globals.push(use);
}

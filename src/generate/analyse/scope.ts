/**
 * Scope analysis: the scopes and bindings the walk declares, and the references it
 * records. A reference is kept only when it may matter to the policy (an unbound name,
 * which may be a global, or a binding marked `special`: imports of builtins, require,
 * aliases of the global object), with its syntactic context; references are resolved
 * against the finished scopes after the walk (walker.ts), so hoisting needs no second walk.
 */
import type { Node } from './ast.js';
import { accessAt, chainUp, consumerOf } from './context.js';
import { assignmentAlias } from './globals.js';
import type { CallCandidate } from './requires.js';
import { type Mutation, type ValueSource, mutationAt, noteValueSources, sourcesOf } from './mutations.js';
import type { GlobalAccess, ImportRecord } from './types.js';
import type { Analyser } from './walker.js';

export type BindingKind = 'var' | 'lexical' | 'param' | 'function' | 'class' | 'import' | 'catch' | 'wrapper';

export class Scope {
  readonly decls = new Map<string, Binding>();
  constructor(
    readonly parent: Scope | null,
    /** Function-like: receives `var` declarations. */
    readonly isFunction: boolean,
  ) {}

  lookup(name: string): Binding | undefined {
    for (let scope: Scope | null = this; scope; scope = scope.parent) {
      const binding = scope.decls.get(name);
      if (binding) return binding;
    }
    return undefined;
  }
}

export interface CalleeRef {
  name: string;
  scope: Scope;
  /** `module.createRequire(...)`: the member called on the binding. */
  member?: string;
  /** An alias source that is a call: of this function expression, or (no `fn`) of the function `name`. */
  call?: { fn?: Node };
  /** `createRequire(import.meta.url)('x')`: the callee is what `name` (or its `member`) makes, called at once. */
  made?: boolean;
}

export class Binding {
  refs: Ref[] = [];
  /** An import of a builtin: the record its uses go to, and the member path this variable holds. */
  importRecord?: ImportRecord;
  importBase?: string[];
  /** Holds a `require()` result, valid only if that call turns out to be the real require. */
  pending?: { candidate: CallCandidate; base: string[] };
  /** Initialised with `createRequire(...)`: calls of this variable are requires. */
  requireFrom?: CalleeRef;
  /** Initialised with a function call that returns this `require` (esbuild's `__require` shim). */
  requireAlias?: CalleeRef;
  requireLike = false;
  /** References to it matter (imports of builtins, require, global aliases); others are not recorded. */
  special = false;
  /** Initialised with an expression that may evaluate to the global object. */
  aliasSources?: CalleeRef[];
  /** Names its initialiser may evaluate to, to recognise aliases of CommonJS `module`. */
  moduleSources?: CalleeRef[];
  directGlobalAlias = false;
  isGlobalAlias = false;
  /** The function a function declaration binds (to know whether calling it gives the global object). */
  fn?: Node;
  /** Where its value may come from, when that may be an object global or a module's value (mutations.ts). */
  valueSources?: ValueSource[];
  /** A parameter that receives this function expression (UMD's factory). */
  fnValue?: Node;
  constructor(
    readonly name: string,
    readonly kind: BindingKind,
  ) {}
}

export type Consumer = 'alias' | 'passed' | 'assigned' | 'returned' | 'other';

export interface Ref {
  name: string;
  scope: Scope;
  start: number;
  path: string[];
  access: GlobalAccess;
  /** Destructured: member paths taken from the value (`const { a, b } = x`). */
  patterns?: string[][];
  /** The member chain stopped at a computed key (`x[y]`). */
  computed: boolean;
  called: boolean;
  /** Where a bare reference ends up, for global-object names only. */
  consumer?: Consumer;
  /** How it changes its value, if it does (mutations.ts). */
  mutation?: Mutation;
}

// -- declarations

export function declare(a: Analyser, name: string, kind: BindingKind): Binding {
  let scope = a.scope;
  if (kind === 'var') {
    while (!scope.isFunction && scope.parent) scope = scope.parent;
  }
  let binding = scope.decls.get(name);
  if (!binding) {
    binding = new Binding(name, kind);
    scope.decls.set(name, binding);
  }
  // Sloppy-mode block functions are also visible function-wide (Annex B).
  if (kind === 'function' && !scope.isFunction && a.format === 'commonjs') {
    let fn = scope;
    while (!fn.isFunction && fn.parent) fn = fn.parent;
    if (!fn.decls.has(name)) fn.decls.set(name, binding);
  }
  return binding;
}

/** Declares the identifiers of a binding pattern; visits its defaults and computed keys. */
export function declarePattern(a: Analyser, pattern: Node, kind: BindingKind): void {
  switch (pattern.type) {
    case 'Identifier':
      declare(a, pattern.name, kind);
      return;
    case 'ObjectPattern':
      a.stack.push(pattern);
      for (const prop of pattern.properties) {
        if (prop.type === 'RestElement') {
          a.stack.push(prop);
          declarePattern(a, prop.argument, kind);
          a.stack.pop();
        } else {
          a.stack.push(prop);
          if (prop.computed) a.visit(prop.key);
          declarePattern(a, prop.value, kind);
          a.stack.pop();
        }
      }
      a.stack.pop();
      return;
    case 'ArrayPattern':
      a.stack.push(pattern);
      for (const element of pattern.elements) if (element) declarePattern(a, element, kind);
      a.stack.pop();
      return;
    case 'AssignmentPattern':
      a.stack.push(pattern);
      declarePattern(a, pattern.left, kind);
      // `function (env = process.env)`: the parameter may hold that value.
      if (pattern.left.type === 'Identifier') {
        const binding = a.scope.lookup(pattern.left.name);
        if (binding) noteValueSources(a, binding, sourcesOf(a, pattern.right));
      }
      a.visit(pattern.right);
      a.stack.pop();
      return;
    case 'RestElement':
      a.stack.push(pattern);
      declarePattern(a, pattern.argument, kind);
      a.stack.pop();
      return;
    default:
      // Not a binding pattern (invalid code meriyah let through): visit as an expression.
      a.visit(pattern);
  }
}

/** Visits an assignment target: identifiers in it are written. */
export function visitTarget(a: Analyser, target: Node): void {
  switch (target.type) {
    case 'Identifier':
      reference(a, target, true);
      return;
    case 'ObjectPattern':
      a.stack.push(target);
      for (const prop of target.properties) {
        a.stack.push(prop);
        if (prop.type === 'RestElement') visitTarget(a, prop.argument);
        else {
          if (prop.computed) a.visit(prop.key);
          visitTarget(a, prop.value);
        }
        a.stack.pop();
      }
      a.stack.pop();
      return;
    case 'ArrayPattern':
      a.stack.push(target);
      for (const element of target.elements) if (element) visitTarget(a, element);
      a.stack.pop();
      return;
    case 'AssignmentPattern':
      a.stack.push(target);
      visitTarget(a, target.left);
      a.visit(target.right);
      a.stack.pop();
      return;
    case 'RestElement':
      a.stack.push(target);
      visitTarget(a, target.argument);
      a.stack.pop();
      return;
    default:
      a.visit(target);
  }
}

// -- references

/**
 * An identifier read or written (`forcedWrite`: an assignment target). A name that may be
 * the global object also notes where its value goes: assigned to a variable (which may
 * then be an alias), passed on, or returned from a function (which then returns it).
 */
export function reference(a: Analyser, node: Node, forcedWrite = false): void {
  const name: string = node.name;
  // Most references are to ordinary local variables: nothing to record. A name not
  // bound yet may still be hoisted (`var`, functions), so it is resolved at the end.
  const bound = a.scope.lookup(name);
  if (bound !== undefined && !bound.special) return;
  const chain = chainUp(a, node);
  const { access, patterns, called } = forcedWrite
    ? { access: 'write' as const, patterns: undefined, called: false }
    : accessAt(a, chain.top, chain.parentIndex);
  const ref: Ref = {
    name,
    scope: a.scope,
    start: node.start,
    path: chain.path,
    access,
    computed: chain.computed,
    called,
  };
  if (patterns) ref.patterns = patterns;
  if (!forcedWrite) {
    const mutation = mutationAt(a, chain);
    if (mutation) ref.mutation = mutation;
  }
  a.refs.push(ref);
  if (chain.path.length === 0 && !chain.computed && !forcedWrite && a.aliasNames.has(name)) {
    const { consumer, assignment, fn } = consumerOf(a, chain.top, chain.parentIndex);
    ref.consumer = consumer;
    if (assignment !== undefined) assignmentAlias(a, name, assignment);
    if (fn) a.returnsGlobal.add(fn);
  }
}

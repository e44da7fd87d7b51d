/**
 * Static analysis of one module for policy generation: what it imports (with the
 * members of builtin modules it uses), which globals it reads, writes or tests for,
 * and what cannot be known statically (warnings).
 *
 * The parser is meriyah (ESTree, about four times faster than @babel/parser on npm
 * code, and no @babel/traverse: its NodePath objects cost more than the parse). Scope
 * analysis is this file's own: one walk records declarations per scope and every
 * identifier reference with its syntactic context (member chain, read/write/typeof,
 * destructuring); references are resolved against the finished scopes afterwards, so
 * hoisting (`var`, function declarations) needs no second walk.
 *
 * The result is plain JSON and depends only on the source text, the format and the
 * analyser itself, which is what makes it cacheable (see cache.ts).
 */
import { createRequire } from 'node:module';
import { builtinName } from '../../graph/resolve.js';
import { GLOBAL_OBJECT_NAMES, MODULE_SCOPE_NAMES, isFrozenIntrinsic, isProvidedGlobal } from '../intrinsics.js';

/** Bump whenever the output of {@link analyseModule} can change for the same input. */
export const ANALYSER_VERSION = 6;

export type ModuleFormat = 'module' | 'commonjs';

/**
 * `presence`: only tested (`typeof x`), satisfied by any grant of the path or below it;
 * `redefine`: defined with `Object.defineProperty(globalThis, 'x', ...)`.
 */
export type GlobalAccess = 'read' | 'write' | 'presence' | 'redefine';

/**
 * `resolve`: require.resolve(); `import-resolve`: import.meta.resolve() (the loader checks
 * both, loads neither); `file`: a script of the module's own package named by a path
 * (`join(__dirname, 'lib', 'worker.js')`, `new URL('./worker.js', import.meta.url)`): how
 * worker threads and child processes are started, so it is analysed too.
 */
export type ImportKind = 'import' | 'require' | 'resolve' | 'import-resolve' | 'file';

export interface GlobalUse {
  /** Dotted path as granted: a global and at most one member (`process.env`). */
  path: string;
  access: GlobalAccess;
  line: number;
  column: number;
  /** The longer path the code used, when it was shortened (`process.env.HOME`). */
  full?: string;
}

export interface ImportUse {
  /** Member path inside the module (`['promises', 'readFile']`); empty for the whole module. */
  path: string[];
  line: number;
  column: number;
}

export interface ImportRecord {
  specifier: string;
  kind: ImportKind;
  line: number;
  column: number;
  /** For builtin modules only: the members the module uses. */
  uses?: ImportUse[];
  /** Inside a `try` block: the code expects that it may fail (an optional dependency). */
  optional?: true;
}

export interface AnalysisWarning {
  message: string;
  line: number;
  column: number;
}

export interface ModuleAnalysis {
  imports: ImportRecord[];
  globals: GlobalUse[];
  warnings: AnalysisWarning[];
}

// ---------------------------------------------------------------------------------
// Scopes and bindings

type BindingKind = 'var' | 'lexical' | 'param' | 'function' | 'class' | 'import' | 'catch' | 'wrapper';

class Scope {
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

interface CalleeRef {
  name: string;
  scope: Scope;
  /** `module.createRequire(...)`: the member called on the binding. */
  member?: string;
  /** An alias source that is a call: of this function expression, or (no `fn`) of the function `name`. */
  call?: { fn?: Node };
}

class Binding {
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
  constructor(
    readonly name: string,
    readonly kind: BindingKind,
  ) {}
}

type Consumer = 'alias' | 'passed' | 'assigned' | 'returned' | 'other';

interface Ref {
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
}

type CandidateKind = 'require' | 'resolve' | 'eval' | 'Function';

interface CallCandidate {
  kind: CandidateKind;
  callee: CalleeRef;
  specifier: string | undefined;
  start: number;
  /** How the call's result is used, for builtins: direct member paths, and variables holding paths. */
  result?: ResultUse;
  /** `Function('return this')`: the well-known way to reach the global object. */
  returnThis?: boolean;
  optional?: boolean;
}

interface ResultUse {
  uses: string[][];
  bindings: Array<{ binding: Binding; path: string[] }>;
}

// ---------------------------------------------------------------------------------
// ESTree helpers. Nodes are typed loosely: the walker dispatches on `type` itself.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any;

function staticString(node: Node): string | undefined {
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
function memberKey(node: Node): string | undefined {
  const property = node.property;
  if (!node.computed) return property.type === 'Identifier' ? pathPart(property.name) : undefined;
  if (property.type === 'Literal' && (typeof property.value === 'string' || typeof property.value === 'number')) {
    return pathPart(String(property.value));
  }
  return pathPart(staticString(property));
}

function propertyKey(prop: Node): string | undefined {
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
function patternPaths(pattern: Node): string[][] {
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

const UNKNOWN_TARGET =
  'what it loads is not known statically, so neither is what that code uses: grant it in policy-override.json, ' +
  'or name the module in the policy\'s "include" so that generation analyses it';

/** Accessors SES keeps on the tamed `Error` (V8's stack trace API): assigning them works. */
const ASSIGNABLE_INTRINSIC_PATHS = new Set(['Error.prepareStackTrace', 'Error.stackTraceLimit', 'Error.captureStackTrace']);

const TRANSPARENT_CALL_MEMBERS = new Set(['call', 'apply', 'bind']);
const REQUIRE_MEMBERS = new Set(['resolve', 'cache', 'main', 'extensions']);

/** Children to visit for node types without a handler of their own, in source order. */
const VISITOR_KEYS: Record<string, readonly string[]> = {
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
const enum K {
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

const NODE_KIND: Record<string, K> = Object.assign(Object.create(null) as Record<string, K>, {
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

// ---------------------------------------------------------------------------------
// The walk

class Analyser {
  private readonly stack: Node[] = [];
  private scope: Scope;
  private readonly moduleScope: Scope;
  private readonly refs: Ref[] = [];
  private readonly candidates: CallCandidate[] = [];
  /** Names of variables that may hold a require function or the global object, seen so far. */
  private readonly requireNames = new Set<string>(['require']);
  private readonly aliasNames = new Set<string>(GLOBAL_OBJECT_NAMES);
  private readonly aliasBindings: Binding[] = [];
  /** Functions that may return the global object (`getGlobal()`, UMD helpers). */
  private readonly returnsGlobal = new Set<Node>();
  private readonly createRequireBindings: Binding[] = [];
  private readonly requireAliasBindings: Binding[] = [];
  private readonly importBindings: Binding[] = [];
  private readonly importOffsets = new Map<ImportRecord, number>();
  private wrapperRequire: Binding | undefined;
  private wrapperModule: Binding | undefined;
  readonly imports: ImportRecord[] = [];
  readonly warnings: AnalysisWarning[] = [];
  readonly globals: GlobalUse[] = [];
  private lineStarts: number[] | undefined;

  constructor(
    private readonly source: string,
    private readonly format: ModuleFormat,
  ) {
    this.moduleScope = new Scope(null, true);
    this.scope = this.moduleScope;
    if (format === 'commonjs') {
      for (const name of ['exports', 'require', 'module', '__filename', '__dirname']) {
        const binding = new Binding(name, 'wrapper');
        this.moduleScope.decls.set(name, binding);
        if (name === 'require') {
          this.wrapperRequire = binding;
          binding.special = true;
        }
        if (name === 'module') this.wrapperModule = binding;
      }
    }
  }

  // -- positions

  position(offset: number): { line: number; column: number } {
    if (!this.lineStarts) {
      const starts = [0];
      const text = this.source;
      if (/[\r\u2028\u2029]/.test(text)) {
        for (let i = 0; i < text.length; i += 1) {
          const c = text.charCodeAt(i);
          if (c === 10) starts.push(i + 1);
          else if (c === 13) {
            if (text.charCodeAt(i + 1) === 10) i += 1;
            starts.push(i + 1);
          } else if (c === 0x2028 || c === 0x2029) starts.push(i + 1);
        }
      } else {
        for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
      }
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  }

  warn(message: string, offset: number): void {
    this.warnings.push({ message, ...this.position(offset) });
  }

  // -- declarations

  private declare(name: string, kind: BindingKind): Binding {
    let scope = this.scope;
    if (kind === 'var') {
      while (!scope.isFunction && scope.parent) scope = scope.parent;
    }
    let binding = scope.decls.get(name);
    if (!binding) {
      binding = new Binding(name, kind);
      scope.decls.set(name, binding);
    }
    // Sloppy-mode block functions are also visible function-wide (Annex B).
    if (kind === 'function' && !scope.isFunction && this.format === 'commonjs') {
      let fn = scope;
      while (!fn.isFunction && fn.parent) fn = fn.parent;
      if (!fn.decls.has(name)) fn.decls.set(name, binding);
    }
    return binding;
  }

  /** Declares the identifiers of a binding pattern; visits its defaults and computed keys. */
  private declarePattern(pattern: Node, kind: BindingKind): void {
    switch (pattern.type) {
      case 'Identifier':
        this.declare(pattern.name, kind);
        return;
      case 'ObjectPattern':
        this.stack.push(pattern);
        for (const prop of pattern.properties) {
          if (prop.type === 'RestElement') {
            this.stack.push(prop);
            this.declarePattern(prop.argument, kind);
            this.stack.pop();
          } else {
            this.stack.push(prop);
            if (prop.computed) this.visit(prop.key);
            this.declarePattern(prop.value, kind);
            this.stack.pop();
          }
        }
        this.stack.pop();
        return;
      case 'ArrayPattern':
        this.stack.push(pattern);
        for (const element of pattern.elements) if (element) this.declarePattern(element, kind);
        this.stack.pop();
        return;
      case 'AssignmentPattern':
        this.stack.push(pattern);
        this.declarePattern(pattern.left, kind);
        this.visit(pattern.right);
        this.stack.pop();
        return;
      case 'RestElement':
        this.stack.push(pattern);
        this.declarePattern(pattern.argument, kind);
        this.stack.pop();
        return;
      default:
        // Not a binding pattern (invalid code meriyah let through): visit as an expression.
        this.visit(pattern);
    }
  }

  /** Visits an assignment target: identifiers in it are written. */
  private visitTarget(target: Node): void {
    switch (target.type) {
      case 'Identifier':
        this.reference(target, true);
        return;
      case 'ObjectPattern':
        this.stack.push(target);
        for (const prop of target.properties) {
          this.stack.push(prop);
          if (prop.type === 'RestElement') this.visitTarget(prop.argument);
          else {
            if (prop.computed) this.visit(prop.key);
            this.visitTarget(prop.value);
          }
          this.stack.pop();
        }
        this.stack.pop();
        return;
      case 'ArrayPattern':
        this.stack.push(target);
        for (const element of target.elements) if (element) this.visitTarget(element);
        this.stack.pop();
        return;
      case 'AssignmentPattern':
        this.stack.push(target);
        this.visitTarget(target.left);
        this.visit(target.right);
        this.stack.pop();
        return;
      case 'RestElement':
        this.stack.push(target);
        this.visitTarget(target.argument);
        this.stack.pop();
        return;
      default:
        this.visit(target);
    }
  }

  // -- context of a reference

  /** Walks up the member chain that starts at `base` (whose parent is the stack's top). */
  private chainUp(
    base: Node,
    from = this.stack.length - 1,
  ): { path: string[]; top: Node; parentIndex: number; computed: boolean } {
    const path: string[] = [];
    const stack = this.stack;
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

  private accessAt(top: Node, parentIndex: number): { access: GlobalAccess; patterns?: string[][]; called: boolean } {
    const parent = this.stack[parentIndex];
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
        const grand = this.stack[parentIndex - 1];
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
  private consumerOf(top: Node, parentIndex: number): { consumer: Consumer; assignment?: number; fn?: Node } {
    let current = top;
    for (let i = parentIndex; i >= 0; i -= 1) {
      const parent = this.stack[i];
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
          const fn = this.enclosingFunction(i);
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

  private reference(node: Node, forcedWrite = false): void {
    const name: string = node.name;
    // Most references are to ordinary local variables: nothing to record. A name not
    // bound yet may still be hoisted (`var`, functions), so it is resolved at the end.
    const bound = this.scope.lookup(name);
    if (bound !== undefined && !bound.special) return;
    const chain = this.chainUp(node);
    const { access, patterns, called } = forcedWrite
      ? { access: 'write' as const, patterns: undefined, called: false }
      : this.accessAt(chain.top, chain.parentIndex);
    const ref: Ref = {
      name,
      scope: this.scope,
      start: node.start,
      path: chain.path,
      access,
      computed: chain.computed,
      called,
    };
    if (patterns) ref.patterns = patterns;
    this.refs.push(ref);
    if (chain.path.length === 0 && !chain.computed && !forcedWrite && this.aliasNames.has(name)) {
      const { consumer, assignment, fn } = this.consumerOf(chain.top, chain.parentIndex);
      ref.consumer = consumer;
      if (assignment !== undefined) this.assignmentAlias(name, assignment);
      if (fn) this.returnsGlobal.add(fn);
    }
  }

  /**
   * `v = globalThis` (or `v = root`, an alias): `v` may hold the global object, so its
   * members are globals too; and so are the members of the assignment's own value,
   * `(v = globalThis).x`.
   */
  private assignmentAlias(source: string, index: number): void {
    const assignment = this.stack[index];
    const target = this.scope.lookup(assignment.left.name);
    if (target) {
      if (!target.aliasSources) {
        target.aliasSources = [];
        this.aliasBindings.push(target);
      }
      target.aliasSources.push({ name: source, scope: this.scope });
      target.special = true;
      this.aliasNames.add(target.name);
    }
    const chain = this.chainUp(assignment, index - 1);
    if (chain.path.length === 0 && !chain.computed) return;
    const { access, patterns, called } = this.accessAt(chain.top, chain.parentIndex);
    const ref: Ref = { name: source, scope: this.scope, start: assignment.start, path: chain.path, access, computed: chain.computed, called };
    if (patterns) ref.patterns = patterns;
    this.refs.push(ref);
  }

  /** How the value of `base` (a call or `await import()`) is used, for builtin member tracking. */
  private resultUse(base: Node): ResultUse {
    const chain = this.chainUp(base);
    const result: ResultUse = { uses: [], bindings: [] };
    if (chain.computed) {
      result.uses.push(chain.path);
      return result;
    }
    const parent = this.stack[chain.parentIndex];
    if (parent?.type === 'VariableDeclarator' && parent.init === chain.top) {
      this.patternTargets(parent.id, chain.path, result);
      return result;
    }
    result.uses.push(chain.path);
    return result;
  }

  private patternTargets(pattern: Node, base: string[], result: ResultUse): void {
    switch (pattern.type) {
      case 'Identifier': {
        const binding = this.scope.lookup(pattern.name);
        if (binding) {
          binding.special = true;
          result.bindings.push({ binding, path: base });
        }
        else result.uses.push(base);
        return;
      }
      case 'AssignmentPattern':
        this.patternTargets(pattern.left, base, result);
        return;
      case 'ObjectPattern': {
        for (const prop of pattern.properties) {
          if (prop.type !== 'Property' || propertyKey(prop) === undefined) {
            result.uses.push(base);
            return;
          }
        }
        for (const prop of pattern.properties) this.patternTargets(prop.value, [...base, propertyKey(prop)!], result);
        return;
      }
      default:
        result.uses.push(base);
    }
  }

  // -- imports

  /** Whether the node being visited is inside the block of a `try` statement. */
  private inTryBlock(): boolean {
    const stack = this.stack;
    for (let i = stack.length - 2; i >= 0; i -= 1) {
      if (stack[i].type === 'TryStatement' && stack[i].block === stack[i + 1]) return true;
    }
    return false;
  }

  private addImport(specifier: string, kind: ImportKind, offset: number, optional = this.inTryBlock()): ImportRecord {
    const record: ImportRecord = { specifier, kind, ...this.position(offset) };
    if (optional) record.optional = true;
    if (builtinName(specifier) !== undefined) record.uses = [];
    this.imports.push(record);
    this.importOffsets.set(record, offset);
    return record;
  }

  private use(record: ImportRecord, path: string[], offset: number): void {
    record.uses?.push({ path, ...this.position(offset) });
  }

  // -- the visitor

  run(program: Node): void {
    this.visitStatements(program.body, program);
    this.resolve();
  }

  private visitStatements(body: Node[], parent: Node): void {
    this.stack.push(parent);
    for (const statement of body) this.visit(statement);
    this.stack.pop();
  }

  visit(node: Node): void {
    if (node === null || node === undefined) return;
    const type: string = node.type;
    const stack = this.stack;
    // Integer dispatch: one keyed lookup instead of a chain of string comparisons.
    switch (NODE_KIND[type] ?? K.Generic) {
      case K.Identifier:
        this.reference(node);
        return;
      case K.Skip:
        return;
      case K.Member:
        stack.push(node);
        this.visit(node.object);
        if (node.computed) this.visit(node.property);
        stack.pop();
        return;
      case K.Call:
        this.visitCall(node);
        stack.push(node);
        this.visit(node.callee);
        for (const arg of node.arguments) this.visit(arg);
        stack.pop();
        return;
      case K.ExpressionStatement:
        stack.push(node);
        this.visit(node.expression);
        stack.pop();
        return;
      case K.Binary:
        stack.push(node);
        this.visit(node.left);
        this.visit(node.right);
        stack.pop();
        return;
      case K.Unary:
        stack.push(node);
        this.visit(node.argument);
        stack.pop();
        return;
      case K.Conditional:
        stack.push(node);
        this.visit(node.test);
        this.visit(node.consequent);
        this.visit(node.alternate);
        stack.pop();
        return;
      case K.Property:
        stack.push(node);
        if (node.computed) this.visit(node.key);
        this.visit(node.value);
        stack.pop();
        return;
      case K.ClassMember:
        stack.push(node);
        if (node.decorators) for (const d of node.decorators) this.visit(d);
        if (node.computed) this.visit(node.key);
        if (node.value) this.visit(node.value);
        stack.pop();
        return;
      case K.Labeled:
        stack.push(node);
        this.visit(node.body);
        stack.pop();
        return;
      case K.VariableDeclaration:
        this.visitVariableDeclaration(node);
        return;
      case K.Function:
        this.visitFunction(node);
        return;
      case K.Class:
        this.visitClass(node);
        return;
      case K.Block: {
        const outer = this.scope;
        this.scope = new Scope(outer, false);
        this.visitStatements(node.body, node);
        this.scope = outer;
        return;
      }
      case K.StaticBlock: {
        const outer = this.scope;
        this.scope = new Scope(outer, true);
        this.visitStatements(node.body, node);
        this.scope = outer;
        return;
      }
      case K.For: {
        const outer = this.scope;
        this.scope = new Scope(outer, false);
        stack.push(node);
        this.visit(node.init);
        this.visit(node.test);
        this.visit(node.update);
        this.visit(node.body);
        stack.pop();
        this.scope = outer;
        return;
      }
      case K.ForInOf: {
        const outer = this.scope;
        this.scope = new Scope(outer, false);
        stack.push(node);
        if (node.left.type === 'VariableDeclaration') this.visitVariableDeclaration(node.left);
        else this.visitTarget(node.left);
        this.visit(node.right);
        this.visit(node.body);
        stack.pop();
        this.scope = outer;
        return;
      }
      case K.Catch: {
        const outer = this.scope;
        this.scope = new Scope(outer, false);
        stack.push(node);
        if (node.param) this.declarePattern(node.param, 'catch');
        this.visitStatements(node.body.body, node.body);
        stack.pop();
        this.scope = outer;
        return;
      }
      case K.Switch: {
        stack.push(node);
        this.visit(node.discriminant);
        const outer = this.scope;
        this.scope = new Scope(outer, false);
        for (const c of node.cases) this.visit(c);
        this.scope = outer;
        stack.pop();
        return;
      }
      case K.Assignment:
        stack.push(node);
        if (node.left.type === 'ObjectPattern' || node.left.type === 'ArrayPattern') this.visitTarget(node.left);
        else this.visit(node.left);
        this.visit(node.right);
        stack.pop();
        return;
      case K.ImportDeclaration:
        this.visitImportDeclaration(node);
        return;
      case K.ExportNamed:
        this.visitExportNamed(node);
        return;
      case K.ExportDefault:
        stack.push(node);
        this.visit(node.declaration);
        stack.pop();
        return;
      case K.ExportAll: {
        const specifier = staticString(node.source);
        if (specifier !== undefined) {
          const record = this.addImport(specifier, 'import', node.start);
          this.use(record, [], node.start);
        }
        return;
      }
      case K.ImportExpression:
        this.visitImportExpression(node);
        return;
      case K.New:
        this.notePathURL(node);
        if (node.callee.type === 'Identifier' && node.callee.name === 'Function') {
          this.candidates.push({
            kind: 'Function',
            callee: { name: 'Function', scope: this.scope },
            specifier: undefined,
            start: node.start,
          });
        }
        this.generic(node, type);
        return;
      default:
        this.generic(node, type);
    }
  }

  private generic(node: Node, type: string): void {
    const keys = VISITOR_KEYS[type];
    this.stack.push(node);
    if (keys) {
      for (const key of keys) this.visitChild(node[key]);
    } else {
      for (const key in node) {
        if (key === 'type' || key === 'start' || key === 'end' || key === 'range' || key === 'loc') continue;
        this.visitChild(node[key]);
      }
    }
    this.stack.pop();
  }

  private visitChild(child: Node): void {
    if (child === null || child === undefined) return;
    if (Array.isArray(child)) {
      for (const item of child) if (item && typeof item.type === 'string') this.visit(item);
    } else if (typeof child.type === 'string') {
      this.visit(child);
    }
  }

  private visitVariableDeclaration(node: Node): void {
    const kind: BindingKind = node.kind === 'var' ? 'var' : 'lexical';
    this.stack.push(node);
    for (const declarator of node.declarations) {
      this.stack.push(declarator);
      this.declarePattern(declarator.id, kind);
      // `var root;` may be assigned the global object later, after uses in functions
      // written above the assignment: keep its references to find out at the end.
      if (!declarator.init && declarator.id.type === 'Identifier') {
        const binding = this.scope.lookup(declarator.id.name);
        if (binding) binding.special = true;
      }
      if (declarator.init) {
        if (declarator.id.type === 'Identifier') this.noteInitialiser(declarator.id, declarator.init);
        this.visit(declarator.init);
      }
      this.stack.pop();
    }
    this.stack.pop();
  }

  private enclosingFunction(index: number): Node | undefined {
    for (let i = index; i >= 0; i -= 1) {
      const t = this.stack[i].type;
      if (t === 'FunctionExpression' || t === 'FunctionDeclaration' || t === 'ArrowFunctionExpression') return this.stack[i];
    }
    return undefined;
  }

  /** Variables that may hold the global object or a `createRequire` result. */
  private noteInitialiser(id: Node, init: Node): void {
    const binding = this.scope.lookup(id.name);
    if (!binding) return;
    if (init.type === 'FunctionExpression' || init.type === 'ArrowFunctionExpression') binding.fn = init;
    // const require = createRequire(import.meta.url) / module.createRequire(...)
    if (init.type === 'CallExpression') {
      const callee = init.callee;
      const calleeBinding = callee.type === 'Identifier' ? this.scope.lookup(callee.name) : undefined;
      if (
        callee.type === 'Identifier' &&
        (callee.name === 'createRequire' ||
          // `import { createRequire as __prettierCreateRequire } from 'module'`: any name
          // of an import from `module` (resolve() checks it is createRequire).
          (calleeBinding?.importRecord !== undefined && builtinName(calleeBinding.importRecord.specifier) === 'module'))
      ) {
        binding.requireFrom = { name: callee.name, scope: this.scope };
      } else if (callee.type === 'MemberExpression' && callee.object.type === 'Identifier' && memberKey(callee) === 'createRequire') {
        binding.requireFrom = { name: callee.object.name, scope: this.scope, member: 'createRequire' };
      }
      if (binding.requireFrom) {
        binding.special = true;
        this.createRequireBindings.push(binding);
        this.requireNames.add(id.name);
      }
      // var __require = ((x) => typeof require !== "undefined" ? require : ...)(fallback):
      // how esbuild's ES module output reaches the `require` it made with createRequire.
      if (
        (callee.type === 'ArrowFunctionExpression' || callee.type === 'FunctionExpression') &&
        callee.body.type !== 'BlockStatement'
      ) {
        const chosen = this.chosenRequire(callee.body);
        const params = new Set<string>(callee.params.flatMap((param: Node) => (param.type === 'Identifier' ? [param.name] : [])));
        if (chosen && !params.has(chosen)) {
          binding.requireAlias = { name: chosen, scope: this.scope };
          binding.special = true;
          this.requireAliasBindings.push(binding);
          this.requireNames.add(id.name);
        }
      }
    }
    const sources: CalleeRef[] = [];
    let direct = false;
    let iife = false;
    const collect = (e: Node): void => {
      switch (e.type) {
        case 'Identifier':
          sources.push({ name: e.name, scope: this.scope });
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
            sources.push({ name: '', scope: this.scope, call: { fn: e.callee } });
            iife = true;
          } else if (e.callee.type === 'Identifier') {
            sources.push({ name: e.callee.name, scope: this.scope, call: {} });
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
    if (this.format === 'commonjs' && sources.length > 0) binding.moduleSources = sources;
    const calledDeclared = sources.some((s) => {
      if (!s.call || s.call.fn) return false;
      const fn = this.scope.lookup(s.name)?.fn;
      return fn !== undefined && this.returnsGlobal.has(fn);
    });
    if (direct || iife || calledDeclared || sources.some((s) => !s.call && this.aliasNames.has(s.name))) {
      if (!binding.aliasSources) this.aliasBindings.push(binding);
      binding.aliasSources = [...(binding.aliasSources ?? []), ...sources];
      binding.directGlobalAlias ||= direct;
      binding.special = true;
      this.aliasNames.add(id.name);
    }
  }

  private visitFunction(node: Node): void {
    if (node.type === 'FunctionDeclaration' && node.id) this.declare(node.id.name, 'function').fn = node;
    this.stack.push(node);
    const outer = this.scope;
    this.scope = new Scope(outer, true);
    if (node.type === 'FunctionExpression' && node.id) this.declare(node.id.name, 'function');
    for (const param of node.params) this.declarePattern(param, 'param');
    const body = node.body;
    if (body.type === 'BlockStatement') this.visitStatements(body.body, body);
    else this.visit(body);
    this.scope = outer;
    this.stack.pop();
  }

  private visitClass(node: Node): void {
    if (node.type === 'ClassDeclaration' && node.id) this.declare(node.id.name, 'class');
    this.stack.push(node);
    if (node.decorators) for (const d of node.decorators) this.visit(d);
    const outer = this.scope;
    this.scope = new Scope(outer, false);
    if (node.id) this.declare(node.id.name, 'class');
    this.visit(node.superClass);
    this.visit(node.body);
    this.scope = outer;
    this.stack.pop();
  }

  private visitImportDeclaration(node: Node): void {
    const specifier = staticString(node.source);
    if (specifier === undefined) return;
    const record = this.addImport(specifier, 'import', node.start);
    for (const s of node.specifiers) {
      const binding = this.declare(s.local.name, 'import');
      if (!record.uses) continue;
      binding.special = true;
      let base: string[] = [];
      if (s.type === 'ImportSpecifier') {
        const imported = s.imported.type === 'Identifier' ? s.imported.name : String(s.imported.value);
        base = imported === 'default' ? [] : [imported];
      }
      binding.importRecord = record;
      binding.importBase = base;
      this.importBindings.push(binding);
    }
    if (record.uses && node.specifiers.length === 0) this.use(record, [], node.start);
  }

  private visitExportNamed(node: Node): void {
    if (node.declaration) {
      this.stack.push(node);
      this.visit(node.declaration);
      this.stack.pop();
      return;
    }
    const specifier = node.source ? staticString(node.source) : undefined;
    if (node.source) {
      if (specifier === undefined) return;
      const record = this.addImport(specifier, 'import', node.start);
      for (const s of node.specifiers) {
        const local = s.local.type === 'Identifier' ? s.local.name : String(s.local.value);
        this.use(record, local === 'default' ? [] : [local], s.start);
      }
      if (node.specifiers.length === 0) this.use(record, [], node.start);
      return;
    }
    this.stack.push(node);
    for (const s of node.specifiers) {
      this.stack.push(s);
      if (s.local.type === 'Identifier') this.reference(s.local);
      this.stack.pop();
    }
    this.stack.pop();
  }

  private visitImportExpression(node: Node): void {
    const specifier = staticString(node.source);
    if (specifier === undefined) {
      this.warn(
        `import() with a computed specifier: ${UNKNOWN_TARGET}`,
        node.start,
      );
    } else {
      const record = this.addImport(specifier, 'import', node.start);
      if (record.uses) {
        const parent = this.stack[this.stack.length - 1];
        let result: ResultUse = { uses: [[]], bindings: [] };
        if (parent?.type === 'AwaitExpression' && parent.argument === node) {
          // Look at how the awaited namespace is used, from the await's own parent.
          this.stack.pop();
          try {
            result = this.resultUse(parent);
          } finally {
            this.stack.push(parent);
          }
        }
        for (const path of result.uses) this.use(record, path, node.start);
        for (const { binding, path } of result.bindings) {
          binding.importRecord = record;
          binding.importBase = path;
          this.importBindings.push(binding);
        }
      }
    }
    this.generic(node, 'ImportExpression');
  }

  /** `join(__dirname, 'lib', 'worker.js')` (also `path.resolve`, `import.meta.dirname`). */
  private notePathJoin(node: Node): void {
    let callee = node.callee;
    if (callee.type === 'SequenceExpression') callee = callee.expressions[callee.expressions.length - 1];
    const name = callee.type === 'Identifier' ? callee.name : callee.type === 'MemberExpression' ? memberKey(callee) : undefined;
    if ((name !== 'join' && name !== 'resolve') || node.arguments.length < 2) return;
    const base = node.arguments[0];
    const isDirname =
      (base.type === 'Identifier' && base.name === '__dirname') ||
      (base.type === 'MemberExpression' && base.object.type === 'MetaProperty' && memberKey(base) === 'dirname');
    if (!isDirname) return;
    const parts = node.arguments.slice(1).map((arg: Node) => staticString(arg));
    if (parts.some((part: string | undefined) => part === undefined)) return;
    this.addScriptPath(parts.join('/'), node.start);
  }

  /** `new URL('./worker.js', import.meta.url)`. */
  private notePathURL(node: Node): void {
    if (node.callee.type !== 'Identifier' || node.callee.name !== 'URL' || node.arguments.length !== 2) return;
    const base = node.arguments[1];
    if (base.type !== 'MemberExpression' || base.object.type !== 'MetaProperty' || memberKey(base) !== 'url') return;
    const relative = staticString(node.arguments[0]);
    if (relative !== undefined && /^\.\.?\//.test(relative)) this.addScriptPath(relative, node.start);
  }

  private addScriptPath(relative: string, offset: number): void {
    if (!/\.[cm]?js$/.test(relative) || relative.startsWith('/')) return;
    this.addImport(relative.startsWith('.') ? relative : `./${relative}`, 'file', offset, false);
  }

  /**
   * `Object.defineProperty(globalThis, 'Request', ...)`, `Reflect.defineProperty(...)`,
   * `Object.defineProperties(global, { A: ..., B: ... })` (@hono/node-server replaces
   * `Request` and `Response` so): a redefinition of those globals.
   */
  private noteGlobalDefinition(node: Node): void {
    const callee = node.callee;
    if (callee.type !== 'MemberExpression' || callee.object.type !== 'Identifier') return;
    const owner = callee.object.name;
    const method = memberKey(callee);
    if (!((owner === 'Object' || owner === 'Reflect') && (method === 'defineProperty' || method === 'defineProperties'))) return;
    if (method === 'defineProperties' && owner !== 'Object') return;
    const target = node.arguments[0];
    if (target?.type !== 'Identifier' || !GLOBAL_OBJECT_NAMES.has(target.name) || this.scope.lookup(target.name) !== undefined) return;
    if (method === 'defineProperty') {
      const name = staticString(node.arguments[1]);
      if (name !== undefined && name !== '') this.globalPath([name], 'redefine', node.start);
      return;
    }
    const map = node.arguments[1];
    if (map?.type !== 'ObjectExpression') return;
    for (const property of map.properties) {
      if (property.type !== 'Property' || property.computed) continue;
      const name = property.key.type === 'Identifier' ? property.key.name : staticString(property.key);
      if (name !== undefined && name !== '') this.globalPath([name], 'redefine', node.start);
    }
  }

  private visitCall(node: Node): void {
    this.notePathJoin(node);
    this.noteGlobalDefinition(node);
    const callee = node.callee;
    // import.meta.resolve('x')
    if (
      callee.type === 'MemberExpression' &&
      callee.object.type === 'MetaProperty' &&
      callee.object.meta.name === 'import' &&
      memberKey(callee) === 'resolve'
    ) {
      const specifier = staticString(node.arguments[0]);
      if (specifier === undefined) {
        this.warn(`import.meta.resolve() with a computed specifier: ${UNKNOWN_TARGET}`, node.start);
      } else {
        const record = this.addImport(specifier, 'import-resolve', node.start);
        this.use(record, [], node.start);
      }
      return;
    }
    let kind: CandidateKind | undefined;
    let ref: CalleeRef | undefined;
    if (callee.type === 'Identifier') {
      const name: string = callee.name;
      if (this.requireNames.has(name)) kind = 'require';
      else if (name === 'eval') kind = 'eval';
      else if (name === 'Function') kind = 'Function';
      if (kind) ref = { name, scope: this.scope };
    } else if (
      callee.type === 'MemberExpression' &&
      callee.object.type === 'Identifier' &&
      this.requireNames.has(callee.object.name) &&
      memberKey(callee) === 'resolve'
    ) {
      kind = 'resolve';
      ref = { name: callee.object.name, scope: this.scope };
    } else if (
      this.format === 'commonjs' &&
      callee.type === 'MemberExpression' &&
      callee.object.type === 'Identifier' &&
      memberKey(callee) === 'require'
    ) {
      // module.require('x'), also through an alias (`freeModule = typeof module == 'object' && module`).
      kind = 'require';
      ref = { name: callee.object.name, scope: this.scope, member: 'require' };
    } else {
      // `(typeof __webpack_require__ !== 'undefined' ? __non_webpack_require__ : require)('url')`
      // (sass), `(0, require)('x')`: a require chosen by an expression is still one.
      const chosen = this.chosenRequire(callee);
      if (chosen) {
        kind = 'require';
        ref = { name: chosen, scope: this.scope };
      }
    }
    if (!kind || !ref) return;
    const specifier = staticString(node.arguments[0]);
    const candidate: CallCandidate = { kind, callee: ref, specifier, start: node.start };
    if (kind === 'require' || kind === 'resolve') candidate.optional = this.inTryBlock();
    if (kind === 'Function') {
      candidate.returnThis = node.arguments.length === 1 && /^\s*return\s+this\s*;?\s*$/.test(specifier ?? '');
    }
    if (kind === 'require' && specifier !== undefined && builtinName(specifier) !== undefined) {
      candidate.result = this.resultUse(node);
      for (const { binding, path } of candidate.result.bindings) binding.pending = { candidate, base: path };
    }
    this.candidates.push(candidate);
  }

  /** The name of a `require` among the values `expression` may evaluate to. */
  private chosenRequire(expression: Node): string | undefined {
    switch (expression.type) {
      case 'Identifier':
        return this.requireNames.has(expression.name) ? expression.name : undefined;
      case 'ConditionalExpression':
        return this.chosenRequire(expression.consequent) ?? this.chosenRequire(expression.alternate);
      case 'LogicalExpression':
        return this.chosenRequire(expression.left) ?? this.chosenRequire(expression.right);
      case 'SequenceExpression':
        return this.chosenRequire(expression.expressions[expression.expressions.length - 1]);
      default:
        return undefined;
    }
  }

  // -- resolution, after the walk

  private resolve(): void {
    // createRequire results
    for (const binding of this.createRequireBindings) {
      const from = binding.requireFrom!;
      const target = from.scope.lookup(from.name);
      if (!target?.importRecord || builtinName(target.importRecord.specifier) !== 'module') continue;
      const base = target.importBase ?? [];
      const path = from.member ? [...base, from.member] : base;
      if (path.length === 1 && path[0] === 'createRequire') binding.requireLike = true;
    }
    for (const binding of this.requireAliasBindings) {
      if (this.isRequire(binding.requireAlias!)) binding.requireLike = true;
    }
    // Global object aliases, to a fixed point (`root = freeGlobal || freeSelf`).
    for (let changed = true; changed; ) {
      changed = false;
      for (const binding of this.aliasBindings) {
        if (binding.isGlobalAlias) continue;
        const isAlias =
          binding.directGlobalAlias ||
          binding.aliasSources!.some((source) => {
            if (source.call) {
              const fn = source.call.fn ?? source.scope.lookup(source.name)?.fn;
              return fn !== undefined && this.returnsGlobal.has(fn);
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
    // Calls: require, require.resolve, eval, Function
    for (const candidate of this.candidates) this.resolveCandidate(candidate);
    // References
    for (const ref of this.refs) {
      const binding = ref.scope.lookup(ref.name);
      if (binding) {
        binding.refs.push(ref);
        if (binding.isGlobalAlias) this.globalReference(ref, ref.path, true);
        if (binding === this.wrapperRequire) this.checkRequireRef(ref);
      } else {
        this.globalReference(ref, [ref.name, ...ref.path], false);
      }
    }
    // Members of builtin modules used through variables
    for (const binding of this.importBindings) {
      const record = binding.importRecord!;
      const base = binding.importBase!;
      if (binding.refs.length === 0) {
        this.use(record, base, this.importOffsets.get(record)!);
        continue;
      }
      for (const ref of binding.refs) {
        if (ref.access === 'write') continue;
        if (ref.patterns) for (const p of ref.patterns) this.use(record, [...base, ...ref.path, ...p], ref.start);
        else this.use(record, [...base, ...ref.path], ref.start);
      }
    }
    for (const record of this.imports) {
      if (record.uses && record.uses.length === 0) record.uses.push({ path: [], line: record.line, column: record.column });
    }
  }

  private isRequire(ref: CalleeRef): boolean {
    const binding = ref.scope.lookup(ref.name);
    if (binding === undefined) return false;
    if (ref.member === 'require') return this.isModuleObject(binding, new Set());
    return binding === this.wrapperRequire || binding.requireLike;
  }

  /** The CommonJS `module`, or a variable initialised with it. */
  private isModuleObject(binding: Binding, seen: Set<Binding>): boolean {
    if (binding === this.wrapperModule) return true;
    if (!binding.moduleSources || seen.has(binding)) return false;
    seen.add(binding);
    return binding.moduleSources.some((source) => {
      const target = source.scope.lookup(source.name);
      return target !== undefined && this.isModuleObject(target, seen);
    });
  }

  private resolveCandidate(candidate: CallCandidate): void {
    const { kind, callee, specifier, start } = candidate;
    if (kind === 'eval' || kind === 'Function') {
      if (callee.scope.lookup(callee.name)) return;
      if (kind === 'Function' && candidate.returnThis) return;
      this.warn(
        kind === 'eval'
          ? 'eval(): code evaluated at run time cannot be analysed (and SES runs it confined to the package)'
          : 'Function constructor: code built at run time cannot be analysed',
        start,
      );
      return;
    }
    if (!this.isRequire(callee)) return;
    if (specifier === undefined) {
      this.warn(
        `${kind === 'resolve' ? 'require.resolve' : 'require'}() with a computed argument: ${UNKNOWN_TARGET}`,
        start,
      );
      return;
    }
    const record = this.addImport(specifier, kind, start, candidate.optional === true);
    if (!record.uses) return;
    if (kind === 'resolve' || !candidate.result) {
      this.use(record, [], start);
      return;
    }
    for (const path of candidate.result.uses) this.use(record, path, start);
    for (const { binding, path } of candidate.result.bindings) {
      if (binding.pending?.candidate !== candidate) continue;
      binding.importRecord = record;
      binding.importBase = path;
      this.importBindings.push(binding);
    }
  }

  private checkRequireRef(ref: Ref): void {
    if (ref.called || ref.access === 'presence') return;
    if (ref.path.length > 0 && REQUIRE_MEMBERS.has(ref.path[0]!)) return;
    if (ref.access === 'write') return;
    this.warn('require is used as a value (aliased or passed on): modules it loads later are not known statically', ref.start);
  }

  private globalReference(ref: Ref, fullPath: string[], viaAlias: boolean): void {
    if (!viaAlias && MODULE_SCOPE_NAMES.has(ref.name)) return;
    let path = fullPath;
    let strip = 0;
    while (strip < path.length && GLOBAL_OBJECT_NAMES.has(path[strip]!)) strip += 1;
    if (strip > 0) path = path.slice(strip);
    const paths = ref.patterns ? ref.patterns.map((p) => [...path, ...p]) : [path];
    for (const p of paths) {
      if (p.length === 0) {
        this.globalObjectEscape(ref);
        continue;
      }
      this.globalPath(p, ref.access, ref.start);
    }
  }

  private globalObjectEscape(ref: Ref): void {
    if (ref.computed) {
      this.warn('computed member access on the global object: the globals it reaches are not known statically', ref.start);
      return;
    }
    if (ref.consumer === 'passed' || ref.consumer === 'assigned') {
      this.warn(
        'the global object is passed on or stored: globals used through it are not known statically',
        ref.start,
      );
    }
  }

  private globalPath(path: string[], access: GlobalAccess, offset: number): void {
    const root = path[0]!;
    if (isProvidedGlobal(root)) {
      if (access === 'write' && path.length >= 2 && isFrozenIntrinsic(root) && !ASSIGNABLE_INTRINSIC_PATHS.has(`${root}.${path[1]}`)) {
        this.warn(`assignment to ${path.join('.')}: intrinsics are frozen under SES lockdown, so this fails under the loader`, offset);
      }
      return;
    }
    let granted = path.length > 2 ? path.slice(0, 2) : path;
    if (granted.length === 2 && TRANSPARENT_CALL_MEMBERS.has(granted[1]!)) granted = [root];
    // Assigning below the granted object only needs to read it.
    const effective: GlobalAccess = access === 'write' && granted.length !== path.length ? 'read' : access;
    const use: GlobalUse = { path: granted.join('.'), access: effective, ...this.position(offset) };
    if (granted.length !== path.length) use.full = path.join('.');
    this.globals.push(use);
  }
}

// ---------------------------------------------------------------------------------

/** Start offsets only: `ranges: true` also allocates `end` and a `range` array per node (~25% slower). */
const RANGES = { start: true } as const;

const PARSE_OPTIONS = {
  module: { sourceType: 'module', next: true, ranges: RANGES, validateRegex: false },
  strictScript: {
    sourceType: 'script',
    next: true,
    ranges: RANGES,
    validateRegex: false,
    globalReturn: true,
    webcompat: true,
    impliedStrict: true,
  },
  sloppyScript: { sourceType: 'script', next: true, ranges: RANGES, validateRegex: false, globalReturn: true, webcompat: true },
} as const;

/** meriyah, loaded on the first parse: a run served from the cache never loads it. */
let parser: ((source: string, options: object) => Node) | undefined;
function meriyahParse(source: string, options: object): Node {
  parser ??= (createRequire(import.meta.url)('meriyah') as { parse: (s: string, o: object) => Node }).parse;
  return parser(source, options);
}

function parseErrorOffset(error: unknown): number {
  const start = (error as { start?: unknown }).start;
  return typeof start === 'number' ? start : 0;
}

function parseErrorMessage(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  // meriyah prefixes its messages with [line:col-line:col]; the warning has its own position.
  return message.replace(/^\[\d+:\d+-\d+:\d+\]:\s*/, '');
}

/**
 * Analyses one module's source. Never throws on bad input: a module that cannot be
 * parsed gives a warning and nothing else.
 */
export function analyseModule(source: string, format: ModuleFormat): ModuleAnalysis {
  let text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  let analyser = new Analyser(text, format);
  let program: Node;
  try {
    if (format === 'module') {
      program = meriyahParse(text, PARSE_OPTIONS.module as never);
    } else {
      // Node allows a hashbang line in CommonJS; so does meriyah, but be explicit.
      if (text.startsWith('#!')) text = `//${text.slice(2)}`;
      analyser = new Analyser(text, format);
      try {
        program = meriyahParse(text, PARSE_OPTIONS.strictScript as never);
      } catch (strictError) {
        program = meriyahParse(text, PARSE_OPTIONS.sloppyScript as never);
        analyser.warn(
          `sloppy-mode code (${parseErrorMessage(strictError)}): SES runs CommonJS modules as strict code, so this module fails under the loader`,
          parseErrorOffset(strictError),
        );
      }
    }
  } catch (error) {
    // Node runs a typeless `.js` file that has ES module syntax as an ES module
    // ("module syntax detection", Node 20.19+/22.7+).
    if (format === 'commonjs' && /can only be used with the module goal|Cannot use import|import\.meta/i.test(parseErrorMessage(error))) {
      const asModule = analyseModule(source, 'module');
      if (!asModule.warnings.some((w) => w.message.startsWith('cannot parse'))) {
        asModule.warnings.unshift({
          message:
            'ES module syntax in a file that package.json "type" makes CommonJS: Node detects the syntax and runs it as an ES module, ' +
            'analysed as such here; set "type": "module" (or use .mjs) so that every tool agrees',
          line: 1,
          column: 1,
        });
        return asModule;
      }
    }
    analyser.warn(`cannot parse as ${format === 'module' ? 'an ES module' : 'CommonJS'}: ${parseErrorMessage(error)}`, parseErrorOffset(error));
    return { imports: [], globals: [], warnings: analyser.warnings };
  }
  analyser.run(program);
  // Source order (requires are only confirmed after the walk).
  const byPosition = (a: { line: number; column: number }, b: { line: number; column: number }): number =>
    a.line - b.line || a.column - b.column;
  return {
    imports: analyser.imports.sort(byPosition),
    globals: analyser.globals,
    warnings: analyser.warnings.sort(byPosition),
  };
}

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
 * The result is plain JSON and depends only on the source text, the format and
 * {@link ANALYSER_VERSION}, which is what makes it cacheable.
 */
import { parse as meriyahParse } from 'meriyah';
import { builtinName } from '../resolve.js';
import { GLOBAL_OBJECT_NAMES, MODULE_SCOPE_NAMES, isFrozenIntrinsic, isProvidedGlobal } from './intrinsics.js';

/** Bump whenever the output of {@link analyseModule} can change for the same input. */
export const ANALYSER_VERSION = 1;

export type ModuleFormat = 'module' | 'commonjs';

/** `presence`: only tested (`typeof x`), satisfied by any grant of the path or below it. */
export type GlobalAccess = 'read' | 'write' | 'presence';

export type ImportKind = 'import' | 'require' | 'resolve';

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
  requireLike = false;
  /** References to it matter (imports of builtins, require, global aliases); others are not recorded. */
  special = false;
  /** Initialised with an expression that may evaluate to the global object. */
  aliasSources?: CalleeRef[];
  directGlobalAlias = false;
  isGlobalAlias = false;
  constructor(
    readonly name: string,
    readonly kind: BindingKind,
  ) {}
}

type Consumer = 'alias' | 'passed' | 'assigned' | 'other';

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
  return undefined;
}

/** The property name of a member expression when it is static. */
function memberKey(node: Node): string | undefined {
  const property = node.property;
  if (!node.computed) return property.type === 'Identifier' ? property.name : undefined;
  if (property.type === 'Literal' && (typeof property.value === 'string' || typeof property.value === 'number')) {
    return String(property.value);
  }
  return staticString(property);
}

function propertyKey(prop: Node): string | undefined {
  const key = prop.key;
  if (!prop.computed) {
    if (key.type === 'Identifier') return key.name;
    if (key.type === 'Literal') return String(key.value);
    return undefined;
  }
  if (key.type === 'Literal' && (typeof key.value === 'string' || typeof key.value === 'number')) return String(key.value);
  return staticString(key);
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

const SKIPPED = new Set([
  'Literal',
  'ThisExpression',
  'Super',
  'EmptyStatement',
  'DebuggerStatement',
  'TemplateElement',
  'PrivateIdentifier',
  'MetaProperty',
  'BreakStatement',
  'ContinueStatement',
]);

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
  private readonly createRequireBindings: Binding[] = [];
  private readonly importBindings: Binding[] = [];
  private readonly importOffsets = new Map<ImportRecord, number>();
  private wrapperRequire: Binding | undefined;
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
  private consumerOf(top: Node, parentIndex: number): { consumer: Consumer; assignment?: number } {
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
        case 'ArrayExpression':
        case 'ReturnStatement':
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
      const { consumer, assignment } = this.consumerOf(chain.top, chain.parentIndex);
      ref.consumer = consumer;
      if (assignment !== undefined) this.assignmentAlias(name, assignment);
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
      (target.aliasSources ??= []).push({ name: source, scope: this.scope });
      if (!target.special) {
        target.special = true;
        this.aliasBindings.push(target);
      }
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

  private addImport(specifier: string, kind: ImportKind, offset: number): ImportRecord {
    const record: ImportRecord = { specifier, kind, ...this.position(offset) };
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

  private withScope(scope: Scope, fn: () => void): void {
    const previous = this.scope;
    this.scope = scope;
    fn();
    this.scope = previous;
  }

  visit(node: Node): void {
    if (node === null || node === undefined) return;
    const type: string = node.type;
    switch (type) {
      case 'Identifier':
        this.reference(node);
        return;
      case 'MemberExpression':
        this.stack.push(node);
        this.visit(node.object);
        if (node.computed) this.visit(node.property);
        this.stack.pop();
        return;
      case 'Property':
        this.stack.push(node);
        if (node.computed) this.visit(node.key);
        this.visit(node.value);
        this.stack.pop();
        return;
      case 'MethodDefinition':
      case 'PropertyDefinition':
      case 'AccessorProperty':
        this.stack.push(node);
        if (node.decorators) for (const d of node.decorators) this.visit(d);
        if (node.computed) this.visit(node.key);
        if (node.value) this.visit(node.value);
        this.stack.pop();
        return;
      case 'LabeledStatement':
        this.stack.push(node);
        this.visit(node.body);
        this.stack.pop();
        return;
      case 'VariableDeclaration':
        this.visitVariableDeclaration(node);
        return;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        this.visitFunction(node);
        return;
      case 'ClassDeclaration':
      case 'ClassExpression':
        this.visitClass(node);
        return;
      case 'BlockStatement':
        this.withScope(new Scope(this.scope, false), () => this.visitStatements(node.body, node));
        return;
      case 'StaticBlock':
        this.withScope(new Scope(this.scope, true), () => this.visitStatements(node.body, node));
        return;
      case 'ForStatement':
        this.withScope(new Scope(this.scope, false), () => {
          this.stack.push(node);
          this.visit(node.init);
          this.visit(node.test);
          this.visit(node.update);
          this.visit(node.body);
          this.stack.pop();
        });
        return;
      case 'ForInStatement':
      case 'ForOfStatement':
        this.withScope(new Scope(this.scope, false), () => {
          this.stack.push(node);
          if (node.left.type === 'VariableDeclaration') this.visitVariableDeclaration(node.left);
          else this.visitTarget(node.left);
          this.visit(node.right);
          this.visit(node.body);
          this.stack.pop();
        });
        return;
      case 'CatchClause':
        this.withScope(new Scope(this.scope, false), () => {
          this.stack.push(node);
          if (node.param) this.declarePattern(node.param, 'catch');
          this.visitStatements(node.body.body, node.body);
          this.stack.pop();
        });
        return;
      case 'SwitchStatement':
        this.stack.push(node);
        this.visit(node.discriminant);
        this.withScope(new Scope(this.scope, false), () => {
          for (const c of node.cases) this.visit(c);
        });
        this.stack.pop();
        return;
      case 'AssignmentExpression':
        this.stack.push(node);
        if (node.left.type === 'ObjectPattern' || node.left.type === 'ArrayPattern') this.visitTarget(node.left);
        else this.visit(node.left);
        this.visit(node.right);
        this.stack.pop();
        return;
      case 'ImportDeclaration':
        this.visitImportDeclaration(node);
        return;
      case 'ExportNamedDeclaration':
        this.visitExportNamed(node);
        return;
      case 'ExportDefaultDeclaration':
        this.stack.push(node);
        this.visit(node.declaration);
        this.stack.pop();
        return;
      case 'ExportAllDeclaration': {
        const specifier = staticString(node.source);
        if (specifier !== undefined) {
          const record = this.addImport(specifier, 'import', node.start);
          this.use(record, [], node.start);
        }
        return;
      }
      case 'ImportExpression':
        this.visitImportExpression(node);
        return;
      case 'CallExpression':
        this.visitCall(node);
        this.generic(node, type);
        return;
      case 'NewExpression':
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
        if (SKIPPED.has(type)) return;
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
      if (declarator.init) {
        if (declarator.id.type === 'Identifier') this.noteInitialiser(declarator.id, declarator.init);
        this.visit(declarator.init);
      }
      this.stack.pop();
    }
    this.stack.pop();
  }

  /** Variables that may hold the global object or a `createRequire` result. */
  private noteInitialiser(id: Node, init: Node): void {
    const binding = this.scope.lookup(id.name);
    if (!binding) return;
    // const require = createRequire(import.meta.url) / module.createRequire(...)
    if (init.type === 'CallExpression') {
      const callee = init.callee;
      if (callee.type === 'Identifier' && callee.name === 'createRequire') {
        binding.requireFrom = { name: callee.name, scope: this.scope };
      } else if (callee.type === 'MemberExpression' && callee.object.type === 'Identifier' && memberKey(callee) === 'createRequire') {
        binding.requireFrom = { name: callee.object.name, scope: this.scope, member: 'createRequire' };
      }
      if (binding.requireFrom) {
        binding.special = true;
        this.createRequireBindings.push(binding);
        this.requireNames.add(id.name);
      }
    }
    const sources: CalleeRef[] = [];
    let direct = false;
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
    if (direct || sources.some((s) => this.aliasNames.has(s.name))) {
      binding.aliasSources = sources;
      binding.directGlobalAlias = direct;
      binding.special = true;
      this.aliasBindings.push(binding);
      this.aliasNames.add(id.name);
    }
  }

  private visitFunction(node: Node): void {
    if (node.type === 'FunctionDeclaration' && node.id) this.declare(node.id.name, 'function');
    this.stack.push(node);
    this.withScope(new Scope(this.scope, true), () => {
      if (node.type === 'FunctionExpression' && node.id) this.declare(node.id.name, 'function');
      for (const param of node.params) this.declarePattern(param, 'param');
      const body = node.body;
      if (body.type === 'BlockStatement') this.visitStatements(body.body, body);
      else this.visit(body);
    });
    this.stack.pop();
  }

  private visitClass(node: Node): void {
    if (node.type === 'ClassDeclaration' && node.id) this.declare(node.id.name, 'class');
    this.stack.push(node);
    if (node.decorators) for (const d of node.decorators) this.visit(d);
    this.withScope(new Scope(this.scope, false), () => {
      if (node.id) this.declare(node.id.name, 'class');
      this.visit(node.superClass);
      this.visit(node.body);
    });
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
        'import() with a computed specifier: the module it loads is not known statically; ' +
          'name its package in policy-override.json if it is needed',
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

  private visitCall(node: Node): void {
    const callee = node.callee;
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
    }
    if (!kind || !ref) return;
    const specifier = staticString(node.arguments[0]);
    const candidate: CallCandidate = { kind, callee: ref, specifier, start: node.start };
    if (kind === 'Function') {
      candidate.returnThis = node.arguments.length === 1 && /^\s*return\s+this\s*;?\s*$/.test(specifier ?? '');
    }
    if (kind === 'require' && specifier !== undefined && builtinName(specifier) !== undefined) {
      candidate.result = this.resultUse(node);
      for (const { binding, path } of candidate.result.bindings) binding.pending = { candidate, base: path };
    }
    this.candidates.push(candidate);
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
    // Global object aliases, to a fixed point (`root = freeGlobal || freeSelf`).
    for (let changed = true; changed; ) {
      changed = false;
      for (const binding of this.aliasBindings) {
        if (binding.isGlobalAlias) continue;
        const isAlias =
          binding.directGlobalAlias ||
          binding.aliasSources!.some((source) => {
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
    return binding !== undefined && (binding === this.wrapperRequire || binding.requireLike);
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
        `${kind === 'resolve' ? 'require.resolve' : 'require'}() with a computed argument: the module it loads is not known statically; ` +
          'name its package in policy-override.json if it is needed',
        start,
      );
      return;
    }
    const record = this.addImport(specifier, kind, start);
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

const PARSE_OPTIONS = {
  module: { sourceType: 'module', next: true, ranges: true, validateRegex: false },
  strictScript: {
    sourceType: 'script',
    next: true,
    ranges: true,
    validateRegex: false,
    globalReturn: true,
    webcompat: true,
    impliedStrict: true,
  },
  sloppyScript: { sourceType: 'script', next: true, ranges: true, validateRegex: false, globalReturn: true, webcompat: true },
} as const;

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
    analyser.warn(`cannot parse as ${format === 'module' ? 'an ES module' : 'CommonJS'}: ${parseErrorMessage(error)}`, parseErrorOffset(error));
    return { imports: [], globals: [], warnings: analyser.warnings };
  }
  analyser.run(program);
  return { imports: analyser.imports, globals: analyser.globals, warnings: analyser.warnings };
}

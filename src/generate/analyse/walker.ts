/**
 * The walk: one pass over the module's tree that keeps a stack of ancestors (the context
 * of every reference is read from it), enters and leaves scopes, and hands each node to
 * the part of the analysis it concerns; then the resolution after the walk, in the order
 * its steps depend on each other. The Analyser holds the state all parts share: they are
 * free functions of this folder that take it as first argument, and read and write its
 * fields directly (it is not exported beyond the folder).
 */
import { GLOBAL_OBJECT_NAMES } from '../intrinsics.js';
import { K, NODE_KIND, type Node, VISITOR_KEYS, memberKey } from './ast.js';
import { globalMutation, globalReference, noteAliasInitialiser, noteGlobalDefinition, resolveGlobalAliases } from './globals.js';
import {
  notePathJoin,
  noteHelperLoad,
  notePathURL,
  notePathConcat,
  noteImportMetaResolve,
  resolveImportUses,
  visitExportAll,
  visitExportNamed,
  visitImportDeclaration,
  visitImportExpression,
} from './imports.js';
import { findLineStarts, lineColumn } from './positions.js';
import {
  type CallCandidate,
  checkRequireRef,
  noteCallCandidate,
  noteFunctionConstructor,
  noteRequireInitialiser,
  resolveCandidate,
  resolveRequireFunctions,
} from './requires.js';
import { Binding, type BindingKind, type Ref, Scope, declare, declarePattern, reference, visitTarget } from './scope.js';
import {
  noteDestructuredSources,
  noteFactoryCall,
  noteImmediateCall,
  noteParameters,
  noteValueSources,
  resolveMutations,
  sourcesOf,
  type ValueSource,
} from './mutations.js';
import type { AnalysisWarning, AnalysisWarningKind, GlobalChange, GlobalUse, HelperLoad, ImportRecord, ModuleFormat } from './types.js';

export class Analyser {
  // -- the walk
  readonly stack: Node[] = [];
  scope: Scope;
  private readonly moduleScope: Scope;
  /** References that may matter, resolved after the walk (scope.ts). */
  readonly refs: Ref[] = [];
  /** Calls that are requires, eval or Function if their callee is what it seems (requires.ts). */
  readonly candidates: CallCandidate[] = [];
  /** Names of variables that may hold a require function or the global object, seen so far. */
  readonly requireNames = new Set<string>(['require']);
  readonly aliasNames = new Set<string>(GLOBAL_OBJECT_NAMES);
  readonly aliasBindings: Binding[] = [];
  /** Functions that may return the global object (`getGlobal()`, UMD helpers). */
  readonly returnsGlobal = new Set<Node>();
  readonly createRequireBindings: Binding[] = [];
  readonly requireAliasBindings: Binding[] = [];
  /** Variables holding (a member of) a builtin module, whose references are its uses (imports.ts). */
  readonly importBindings: Binding[] = [];
  readonly importOffsets = new Map<ImportRecord, number>();
  /** Variables that may hold an object global or a module's value, and what calls and parameters pass them on (mutations.ts). */
  readonly valueBindings: Binding[] = [];
  readonly candidateByNode = new Map<Node, CallCandidate>();
  readonly paramSources = new Map<Node, Array<{ index: number; sources: ValueSource[] }>>();
  readonly functionParams = new Map<Node, Array<{ index: number; fn: Node }>>();
  wrapperRequire: Binding | undefined;
  wrapperModule: Binding | undefined;
  // -- the result
  readonly imports: ImportRecord[] = [];
  readonly warnings: AnalysisWarning[] = [];
  readonly helperLoads: HelperLoad[] = [];
  readonly globals: GlobalUse[] = [];
  readonly globalChanges: GlobalChange[] = [];
  /** ES module exports of a module-scope name (`export const x = ...`, `export { x as y }`, `export default x`). */
  readonly exportedLocals: Array<{ local: string; exported: string }> = [];
  /** Properties of variables assigned the global object (`util.global`), if it is. */
  readonly memberAliases: Array<{ owner: Binding; key: string; alias: Binding }> = [];
  /** Those whose value is the global object. */
  readonly globalExports: string[] = [];
  private lineStarts: number[] | undefined;

  constructor(
    private readonly source: string,
    readonly format: ModuleFormat,
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

  position(offset: number): { line: number; column: number } {
    this.lineStarts ??= findLineStarts(this.source);
    return lineColumn(this.lineStarts, offset);
  }

  warn(kind: AnalysisWarningKind, message: string, offset: number): void {
    this.warnings.push({ kind, message, ...this.position(offset) });
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
        reference(this, node);
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
        notePathJoin(this, node);
        noteHelperLoad(this, node);
        noteGlobalDefinition(this, node);
        noteImmediateCall(this, node);
        noteFactoryCall(this, node);
        if (!noteImportMetaResolve(this, node)) noteCallCandidate(this, node);
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
        notePathConcat(this, node);
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
        else visitTarget(this, node.left);
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
        if (node.param) declarePattern(this, node.param, 'catch');
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
        if (node.operator === '=' && node.left.type === 'Identifier') {
          const binding = this.scope.lookup(node.left.name);
          if (binding) noteValueSources(this, binding, sourcesOf(this, node.right));
        }
        if (node.operator === '=') this.noteMemberAlias(node);
        stack.push(node);
        if (node.left.type === 'ObjectPattern' || node.left.type === 'ArrayPattern') visitTarget(this, node.left);
        else this.visit(node.left);
        this.visit(node.right);
        stack.pop();
        return;
      case K.ImportDeclaration:
        visitImportDeclaration(this, node);
        return;
      case K.ExportNamed:
        visitExportNamed(this, node);
        return;
      case K.ExportDefault:
        if (node.declaration?.type === 'Identifier') this.exportedLocals.push({ local: node.declaration.name, exported: 'default' });
        stack.push(node);
        this.visit(node.declaration);
        stack.pop();
        return;
      case K.ExportAll:
        visitExportAll(this, node);
        return;
      case K.ImportExpression:
        visitImportExpression(this, node);
        return;
      case K.New:
        notePathURL(this, node);
        noteFunctionConstructor(this, node);
        this.generic(node, type);
        return;
      default:
        this.generic(node, type);
    }
  }

  generic(node: Node, type: string): void {
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
      declarePattern(this, declarator.id, kind);
      // `var root;` may be assigned the global object later, after uses in functions
      // written above the assignment: keep its references to find out at the end.
      if (!declarator.init && declarator.id.type === 'Identifier') {
        const binding = this.scope.lookup(declarator.id.name);
        if (binding) binding.special = true;
      }
      if (declarator.init) {
        if (declarator.id.type === 'Identifier') this.noteInitialiser(declarator.id, declarator.init);
        else noteDestructuredSources(this, declarator.id, declarator.init);
        this.visit(declarator.init);
      }
      this.stack.pop();
    }
    this.stack.pop();
  }

  /** Variables that may hold the global object or a require function. */
  private noteInitialiser(id: Node, init: Node): void {
    const binding = this.scope.lookup(id.name);
    if (!binding) return;
    if (init.type === 'FunctionExpression' || init.type === 'ArrowFunctionExpression') binding.fn = init;
    if (init.type === 'CallExpression') noteRequireInitialiser(this, binding, init);
    noteAliasInitialiser(this, binding, init);
    noteValueSources(this, binding, sourcesOf(this, init));
  }

  private visitFunction(node: Node): void {
    if (node.type === 'FunctionDeclaration' && node.id) declare(this, node.id.name, 'function').fn = node;
    this.stack.push(node);
    const outer = this.scope;
    this.scope = new Scope(outer, true);
    if (node.type === 'FunctionExpression' && node.id) declare(this, node.id.name, 'function');
    for (const param of node.params) declarePattern(this, param, 'param');
    noteParameters(this, node);
    const body = node.body;
    if (body.type === 'BlockStatement') this.visitStatements(body.body, body);
    else this.visit(body);
    this.scope = outer;
    this.stack.pop();
  }

  private visitClass(node: Node): void {
    if (node.type === 'ClassDeclaration' && node.id) declare(this, node.id.name, 'class');
    this.stack.push(node);
    if (node.decorators) for (const d of node.decorators) this.visit(d);
    const outer = this.scope;
    this.scope = new Scope(outer, false);
    if (node.id) declare(this, node.id.name, 'class');
    this.visit(node.superClass);
    this.visit(node.body);
    this.scope = outer;
    this.stack.pop();
  }

  /**
   * `util.global = util.isNode && global || ...` (protobufjs): a property of a variable
   * that may hold the global object; `util.global.Buffer` is then the global `Buffer`.
   * Noted as an alias of its own, confirmed with the others (resolveGlobalAliases).
   */
  private noteMemberAlias(node: Node): void {
    const left = node.left;
    if (left.type !== 'MemberExpression' || left.object.type !== 'Identifier') return;
    const key = memberKey(left);
    if (key === undefined) return;
    const owner = this.scope.lookup(left.object.name);
    if (!owner) return;
    const alias = new Binding(`${owner.name}.${key}`, 'var');
    noteAliasInitialiser(this, alias, node.right);
    if (!alias.aliasSources && !alias.directGlobalAlias) return;
    // Its references are recorded from now on (refs.ts records only those that matter).
    owner.special = true;
    this.memberAliases.push({ owner, key, alias });
  }

  // -- resolution, after the walk

  /**
   * The order is what each step needs: a candidate is a require only once the require
   * functions are known; a reference reaches globals through aliases known to a fixed
   * point; requires confirmed here add the variables whose uses the last step follows.
   */
  private resolve(): void {
    resolveRequireFunctions(this);
    resolveGlobalAliases(this);
    // Calls: require, require.resolve, eval, Function
    for (const candidate of this.candidates) resolveCandidate(this, candidate);
    // References
    for (const ref of this.refs) {
      const binding = ref.scope.lookup(ref.name);
      if (binding) {
        binding.refs.push(ref);
        if (binding.isGlobalAlias) globalReference(this, ref, ref.path, true);
        if (binding === this.wrapperRequire) checkRequireRef(this, ref);
      } else {
        globalReference(this, ref, [ref.name, ...ref.path], false);
      }
    }
    for (const { owner, key, alias } of this.memberAliases) {
      if (!alias.isGlobalAlias || owner.isGlobalAlias) continue;
      for (const ref of owner.refs) {
        if (ref.computed && ref.path.length === 0) continue;
        if (ref.path[0] !== key || ref.path.length < 2) continue;
        globalReference(this, { ...ref, path: ref.path.slice(1) }, ref.path.slice(1), true);
      }
    }
    resolveImportUses(this);
    for (const { local, exported } of this.exportedLocals) {
      const binding = this.moduleScope.lookup(local);
      if (binding ? binding.isGlobalAlias : GLOBAL_OBJECT_NAMES.has(local)) this.globalExports.push(exported);
    }
    resolveMutations(this, (path, kind, offset) => globalMutation(this, path, kind, offset));
  }
}

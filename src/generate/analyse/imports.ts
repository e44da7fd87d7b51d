/**
 * Module edges named by syntax: import declarations, `export ... from`, `import()`,
 * `import.meta.resolve()`, and scripts of the package named by a path (worker entries);
 * the import records they make (require calls add theirs through requires.ts), and the
 * members of builtin modules each record's value is used for (`fs.promises.readFile`),
 * followed through the variables that hold it.
 */
import { builtinName } from '../../graph/resolve.js';
import { type Node, memberKey, propertyKey, staticString } from './ast.js';
import { chainUp } from './context.js';
import { type Binding, declare, reference } from './scope.js';
import { noteValueSources } from './mutations.js';
import type { ImportKind, ImportRecord } from './types.js';
import type { Analyser } from './walker.js';

/** The remedy (an override grant, or `include`) is for the report to give: see ../warnings.ts. */
export const UNKNOWN_TARGET = 'what it loads is not known statically, so neither is what that code uses';

/** How a module's value is used: member paths taken directly, and variables that hold a path of it. */
export interface ResultUse {
  uses: string[][];
  bindings: Array<{ binding: Binding; path: string[] }>;
}

// -- records

/** Whether the node being visited is inside the block of a `try` statement. */
export function inTryBlock(a: Analyser): boolean {
  const stack = a.stack;
  for (let i = stack.length - 2; i >= 0; i -= 1) {
    if (stack[i].type === 'TryStatement' && stack[i].block === stack[i + 1]) return true;
  }
  return false;
}

export function addImport(
  a: Analyser,
  specifier: string,
  kind: ImportKind,
  offset: number,
  optional = inTryBlock(a),
): ImportRecord {
  const record: ImportRecord = { specifier, kind, ...a.position(offset) };
  if (optional) record.optional = true;
  if (builtinName(specifier) !== undefined || (kind === 'import' && isRelative(specifier))) record.uses = [];
  a.imports.push(record);
  a.importOffsets.set(record, offset);
  return record;
}

const isRelative = (specifier: string): boolean => specifier.startsWith('./') || specifier.startsWith('../');

export function use(a: Analyser, record: ImportRecord, path: string[], offset: number): void {
  record.uses?.push({ path, ...a.position(offset) });
}

// -- import syntax

export function visitImportDeclaration(a: Analyser, node: Node): void {
  const specifier = staticString(node.source);
  if (specifier === undefined) return;
  const record = addImport(a, specifier, 'import', node.start);
  for (const s of node.specifiers) {
    const binding = declare(a, s.local.name, 'import');
    let base: string[] = [];
    let imported: string | undefined;
    if (s.type === 'ImportSpecifier') {
      const name: string = s.imported.type === 'Identifier' ? s.imported.name : String(s.imported.value);
      imported = name;
      base = name === 'default' ? [] : [name];
    } else if (s.type === 'ImportDefaultSpecifier') {
      imported = 'default';
    }
    const builtin = builtinName(specifier) !== undefined;
    if (!builtin) {
      // Another module's value: what this module changes of it (mutations.ts).
      noteValueSources(a, binding, [{ kind: 'import', record, path: base }]);
    }
    if (!record.uses) continue;
    binding.special = true;
    binding.importRecord = record;
    // A module of the package's own: paths from its namespace (`default` named), so that
    // an export that is the global object is told by its name.
    binding.importBase = builtin || imported === undefined ? base : [imported];
    a.importBindings.push(binding);
  }
  if (record.uses && node.specifiers.length === 0) use(a, record, [], node.start);
}

export function visitExportNamed(a: Analyser, node: Node): void {
  if (node.declaration?.type === 'VariableDeclaration') {
    for (const d of node.declaration.declarations) {
      if (d.id.type === 'Identifier') a.exportedLocals.push({ local: d.id.name, exported: d.id.name });
    }
  }
  if (!node.source) {
    for (const s of node.specifiers ?? []) {
      if (s.local.type !== 'Identifier') continue;
      a.exportedLocals.push({ local: s.local.name, exported: s.exported.type === 'Identifier' ? s.exported.name : String(s.exported.value) });
    }
  }
  if (node.declaration) {
    a.stack.push(node);
    a.visit(node.declaration);
    a.stack.pop();
    return;
  }
  const specifier = node.source ? staticString(node.source) : undefined;
  if (node.source) {
    if (specifier === undefined) return;
    const record = addImport(a, specifier, 'import', node.start);
    for (const s of node.specifiers) {
      const local = s.local.type === 'Identifier' ? s.local.name : String(s.local.value);
      use(a, record, local === 'default' ? [] : [local], s.start);
    }
    if (node.specifiers.length === 0) use(a, record, [], node.start);
    return;
  }
  a.stack.push(node);
  for (const s of node.specifiers) {
    a.stack.push(s);
    if (s.local.type === 'Identifier') reference(a, s.local);
    a.stack.pop();
  }
  a.stack.pop();
}

export function visitExportAll(a: Analyser, node: Node): void {
  const specifier = staticString(node.source);
  if (specifier !== undefined) {
    const record = addImport(a, specifier, 'import', node.start);
    use(a, record, [], node.start);
  }
}

export function visitImportExpression(a: Analyser, node: Node): void {
  const specifier = staticString(node.source);
  if (specifier === undefined) {
    a.warn(
      'dynamic-load',
      `import() with a computed specifier: ${UNKNOWN_TARGET}`,
      node.start,
    );
  } else {
    const record = addImport(a, specifier, 'import', node.start);
    if (record.uses) {
      const parent = a.stack[a.stack.length - 1];
      let result: ResultUse = { uses: [[]], bindings: [] };
      if (parent?.type === 'AwaitExpression' && parent.argument === node) {
        // Look at how the awaited namespace is used, from the await's own parent.
        a.stack.pop();
        try {
          result = resultUse(a, parent);
        } finally {
          a.stack.push(parent);
        }
      }
      for (const path of result.uses) use(a, record, path, node.start);
      for (const { binding, path } of result.bindings) {
        binding.importRecord = record;
        binding.importBase = path;
        a.importBindings.push(binding);
      }
    }
  }
  a.generic(node, 'ImportExpression');
}

/** `import.meta.resolve('x')`: true when the call is one, and so nothing else. */
export function noteImportMetaResolve(a: Analyser, node: Node): boolean {
  const callee = node.callee;
  if (
    callee.type === 'MemberExpression' &&
    callee.object.type === 'MetaProperty' &&
    callee.object.meta.name === 'import' &&
    memberKey(callee) === 'resolve'
  ) {
    const specifier = staticString(node.arguments[0]);
    if (specifier === undefined) {
      a.warn('dynamic-load', `import.meta.resolve() with a computed specifier: ${UNKNOWN_TARGET}`, node.start);
    } else {
      const record = addImport(a, specifier, 'import-resolve', node.start);
      use(a, record, [], node.start);
    }
    return true;
  }
  return false;
}

// -- require helpers

/**
 * Packages whose function requires the name its caller passes, from the helper's own
 * package (`@protobufjs/inquire`, "require a module only if available": protobufjs calls
 * `util.inquire('buffer')`, `util.inquire('long')`, `util.inquire('fs')`), by the name
 * their callers give the function. The helper's own `require(moduleName)` is computed,
 * so what it loads is known only at its callers.
 */
const REQUIRE_HELPERS: ReadonlyMap<string, string> = new Map([['inquire', '@protobufjs/inquire']]);

/** `inquire('buffer')` or `util.inquire('buffer')`: a load the helper makes for this module. */
export function noteHelperLoad(a: Analyser, node: Node): void {
  if (node.arguments.length !== 1) return;
  const callee = node.callee;
  const name = callee.type === 'Identifier' ? callee.name : callee.type === 'MemberExpression' ? memberKey(callee) : undefined;
  const helper = name === undefined ? undefined : REQUIRE_HELPERS.get(name);
  if (helper === undefined) return;
  const specifier = staticString(node.arguments[0]);
  if (specifier === undefined) return;
  a.helperLoads.push({ helper, specifier, ...a.position(node.start) });
}

// -- scripts named by path

/** `join(__dirname, 'lib', 'worker.js')` (also `path.resolve`, `import.meta.dirname`). */
export function notePathJoin(a: Analyser, node: Node): void {
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
  addScriptPath(a, parts.join('/'), node.start);
}

/** `new URL('./worker.js', import.meta.url)`. */
export function notePathURL(a: Analyser, node: Node): void {
  if (node.callee.type !== 'Identifier' || node.callee.name !== 'URL' || node.arguments.length !== 2) return;
  const base = node.arguments[1];
  if (base.type !== 'MemberExpression' || base.object.type !== 'MetaProperty' || memberKey(base) !== 'url') return;
  const relative = staticString(node.arguments[0]);
  if (relative !== undefined && /^\.\.?\//.test(relative)) addScriptPath(a, relative, node.start);
}

/**
 * `__dirname + '/worker.js'`, `import.meta.dirname + '/worker.js'`, and bundlers' output
 * `import.meta.url + '/../entry/worker.js'` (tinypool, which starts its workers on it).
 */
export function notePathConcat(a: Analyser, node: Node): void {
  if (node.type !== 'BinaryExpression' || node.operator !== '+') return;
  const base = node.left;
  const tail = staticString(node.right);
  if (tail === undefined) return;
  const isDirname =
    (base.type === 'Identifier' && base.name === '__dirname') ||
    (base.type === 'MemberExpression' && base.object.type === 'MetaProperty' && memberKey(base) === 'dirname');
  if (isDirname) {
    if (tail.startsWith('/')) addScriptPath(a, tail.slice(1), node.start);
    return;
  }
  const isURL = base.type === 'MemberExpression' && base.object.type === 'MetaProperty' && memberKey(base) === 'url';
  if (isURL && tail.startsWith('/../')) addScriptPath(a, tail.slice(4), node.start);
}

export function addScriptPath(a: Analyser, relative: string, offset: number): void {
  if (!/\.[cm]?js$/.test(relative) || relative.startsWith('/')) return;
  addImport(a, relative.startsWith('.') ? relative : `./${relative}`, 'file', offset, false);
}

// -- the members a value is used for

/** How the value of `base` (a call or `await import()`) is used, for builtin member tracking. */
export function resultUse(a: Analyser, base: Node): ResultUse {
  const chain = chainUp(a, base);
  const result: ResultUse = { uses: [], bindings: [] };
  if (chain.computed) {
    result.uses.push(chain.path);
    return result;
  }
  const parent = a.stack[chain.parentIndex];
  if (parent?.type === 'VariableDeclarator' && parent.init === chain.top) {
    patternTargets(a, parent.id, chain.path, result);
    return result;
  }
  result.uses.push(chain.path);
  return result;
}

export function patternTargets(a: Analyser, pattern: Node, base: string[], result: ResultUse): void {
  switch (pattern.type) {
    case 'Identifier': {
      const binding = a.scope.lookup(pattern.name);
      if (binding) {
        binding.special = true;
        result.bindings.push({ binding, path: base });
      }
      else result.uses.push(base);
      return;
    }
    case 'AssignmentPattern':
      patternTargets(a, pattern.left, base, result);
      return;
    case 'ObjectPattern': {
      for (const prop of pattern.properties) {
        if (prop.type !== 'Property' || propertyKey(prop) === undefined) {
          result.uses.push(base);
          return;
        }
      }
      for (const prop of pattern.properties) patternTargets(a, prop.value, [...base, propertyKey(prop)!], result);
      return;
    }
    default:
      result.uses.push(base);
  }
}

// -- after the walk

/** Members of builtin modules used through variables; a record nothing was taken from is used whole. */
export function resolveImportUses(a: Analyser): void {
  for (const binding of a.importBindings) {
    const record = binding.importRecord!;
    const base = binding.importBase!;
    if (binding.refs.length === 0) {
      use(a, record, base, a.importOffsets.get(record)!);
      continue;
    }
    for (const ref of binding.refs) {
      if (ref.access === 'write') continue;
      if (ref.patterns) for (const p of ref.patterns) use(a, record, [...base, ...ref.path, ...p], ref.start);
      else use(a, record, [...base, ...ref.path], ref.start);
    }
  }
  for (const record of a.imports) {
    if (record.uses && record.uses.length === 0) record.uses.push({ path: [], line: record.line, column: record.column });
  }
}

// Part of the runtime bundle's build (bundle-runtime.mjs). esbuild's `keepNames` wraps
// every function and class in `__name(fn, "name")`, because bundling renames bindings
// whose names collide (SES's tamed `Error` would become `Error4`). Most of those calls
// restore the name the function has anyway (`var foo = () => {}` is named `foo` by the
// language), yet each one redefines `name` on a new closure: measured ~2.5 MB of the
// warm service's heap and ~15 ms of its start-up, plus a property definition for every
// closure made on a hot path. This removes exactly the calls that change nothing:
// - `__name(foo, "foo");` after a declaration of `foo`;
// - `__name(<anonymous function, arrow or class>, "foo")` where the language names it
//   `foo` anyway: the initializer of `var/let/const foo`, the value of a `foo:` property;
// - `__name(function foo() {}, "foo")` (and the class equivalent) anywhere;
// - `static { __name(this, "Foo") }` in `class Foo`.
// Every other call stays (a renamed binding, a name the language would not give).
import { parseModule } from 'meriyah';

const isNameCall = (node) =>
  node?.type === 'CallExpression' &&
  node.callee.type === 'Identifier' &&
  node.callee.name === '__name' &&
  node.arguments.length === 2 &&
  node.arguments[1].type === 'Literal' &&
  typeof node.arguments[1].value === 'string';

const ANONYMOUS = new Set(['ArrowFunctionExpression', 'FunctionExpression', 'ClassExpression']);

/** Whether `fn`, evaluated where `parent` puts it, is named `name` by the language itself. */
function namedAnyway(fn, name, parent, key) {
  if (!ANONYMOUS.has(fn.type)) return false;
  // A class with a static `name` member decides its own name; leave it alone.
  if (fn.type === 'ClassExpression' && fn.body.body.some((m) => m.static && !m.computed && m.key?.name === 'name')) return false;
  if (fn.id) return fn.id.name === name;
  if (parent.type === 'VariableDeclarator' && key === 'init') return parent.id.type === 'Identifier' && parent.id.name === name;
  if (parent.type === 'AssignmentExpression' && key === 'right') {
    return parent.operator === '=' && parent.left.type === 'Identifier' && parent.left.name === name;
  }
  if (parent.type === 'Property' && key === 'value') {
    return !parent.computed && !parent.method && parent.kind === 'init' && parent.key.type === 'Identifier' && parent.key.name === name;
  }
  return false;
}

/** An anonymous function, arrow or class, whose name a property key would give. */
function nameableByKey(fn) {
  if (!ANONYMOUS.has(fn.type) || fn.id) return false;
  return !(fn.type === 'ClassExpression' && fn.body.body.some((m) => m.static && (m.computed || m.key?.name === 'name' || m.key?.value === 'name')));
}

export function stripNoOpNames(source) {
  const ast = parseModule(source, { next: true, ranges: true });
  const edits = [];
  const classNames = [];
  const visit = (node, parent, key) => {
    if (!node || typeof node.type !== 'string') return;
    if (node.type === 'ExpressionStatement' && isNameCall(node.expression)) {
      const [target, literal] = node.expression.arguments;
      // `__name(foo, "foo")`, or `static { __name(this, "Foo") }` in `class Foo`.
      const same =
        (target.type === 'Identifier' && target.name === literal.value) ||
        (target.type === 'ThisExpression' && parent?.type === 'StaticBlock' && classNames.at(-1) === literal.value);
      if (same) {
        edits.push([node.start, node.end, '']);
        return;
      }
    }
    if (node.type === 'ClassDeclaration' || node.type === 'ClassExpression') {
      const own = node.body.body.some((m) => m.static && !m.computed && m.key?.name === 'name');
      classNames.push(own ? undefined : node.id?.name);
      for (const [childKey, child] of Object.entries(node)) {
        if (Array.isArray(child)) for (const item of child) visit(item, node, childKey);
        else if (child && typeof child.type === 'string') visit(child, node, childKey);
      }
      classNames.pop();
      return;
    }
    if (isNameCall(node) && namedAnyway(node.arguments[0], node.arguments[1].value, parent, key)) {
      // Two cuts around the function (`__name(` and `, "foo")`), so that edits inside
      // it stay valid.
      const fn = node.arguments[0];
      edits.push([node.start, fn.start, ''], [fn.end, node.end, '']);
      visit(fn, node, 'arguments');
      return;
    }
    if (isNameCall(node) && nameableByKey(node.arguments[0])) {
      // A renamed binding (`const notify2 = __name((u) => ..., "notify")`, SES's module
      // records make three per export of every module): the language names an
      // anonymous function after the key it is the value of, so `({ "notify": fn }).notify`
      // is the same function with the same `name`, with no property definition (and no
      // out-of-object property storage) for each closure made.
      const fn = node.arguments[0];
      const name = JSON.stringify(node.arguments[1].value);
      edits.push([node.start, fn.start, `({ ${name}: `], [fn.end, node.end, ` })[${name}]`]);
      visit(fn, node, 'arguments');
      return;
    }
    for (const [childKey, child] of Object.entries(node)) {
      if (childKey === 'parent') continue;
      if (Array.isArray(child)) for (const item of child) visit(item, node, childKey);
      else if (child && typeof child.type === 'string') visit(child, node, childKey);
    }
  };
  visit(ast, null, null);
  // No two edits overlap.
  edits.sort((a, b) => a[0] - b[0]);
  const pieces = [];
  let at = 0;
  for (const [start, end, text] of edits) {
    if (start < at) throw new Error(`strip-names: overlapping edits at ${start}`);
    pieces.push(source.slice(at, start), text);
    at = end;
  }
  pieces.push(source.slice(at));
  return { code: pieces.join(''), removed: edits.length };
}

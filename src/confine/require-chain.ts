/**
 * Instrumentation preloaded before the loader (OpenTelemetry, Datadog, Elastic, Sentry:
 * everything built on require-in-the-middle) watches CommonJS loading by replacing
 * `Module.prototype.require`: each `require()` passes through its function, which calls
 * the one it replaced and hands what came back to its hooks, `onrequire(exports, name,
 * basedir)`, whose result is what the caller gets (and what every later `require()` of
 * that file gets: it keeps it, keyed by file name). A package's `require()` runs in its
 * compartment (formats/cjs.ts) and never calls `Module.prototype.require`, so such hooks
 * never saw a dependency's modules.
 *
 * This passes a confined `require()` through that chain, as Node's `require` would pass
 * it, once the module has loaded: `Module.prototype.require` (whatever the preloads made
 * of it) is called with the request as the package wrote it and, as `this`, a parent
 * standing for the requiring file (its `filename` and `paths`, so that the hooks resolve
 * the request to the same file, and name it and its package directory as Node's would).
 * At the end of the chain, Node's require calls `Module._load`, whose first wrapper is
 * the loader's (loader/require-hook.ts): it recognises the parent and answers with the
 * exports the compartment produced, loading nothing. What the chain returns is what the
 * package's `require()` returns.
 *
 * What a package can get from this, beyond its own exports: what the instrumentation's
 * hooks return, and the functions they install on its exports (they run with the
 * instrumentation's authority, as under plain node, where the user trusted it by
 * preloading it). The parents never leave this module and Node's chain: they are frozen
 * objects with no prototype, holding strings only; a hook receives exports, a name and a
 * directory. A request answered here loads nothing natively: the one answer is the value
 * the compartment made, and a request the chain changed on the way down is refused.
 *
 * The hooks resolve the request themselves (RITM with `Module._resolveFilename` from the
 * parent), and name the module, and key their cache, by the file they find: the runtime's
 * `require` resolved it the same way, with `createRequire(requirer).resolve`, which is
 * that same function from a parent with the same `filename` and `paths`, so both find the
 * same file (the request is kept as written, so that hooks matching a package's `exports`
 * subpath, and observers of Node's `module.require` channel, see what they see under
 * plain node). Only a package that can write where packages live could make the two
 * differ, and such a grant is as strong as the process anyway (docs/design.md).
 */
import Module from 'node:module';
import path from 'node:path';

/** What the chain's `this` is: Node's resolver reads `filename`, `id`, `paths` (and `path` for its cache). */
interface ChainParent {
  readonly id: string;
  readonly filename: string;
  readonly path: string;
  readonly paths: readonly string[];
  readonly loaded: true;
}

interface ModuleStatics {
  _nodeModulePaths(from: string): string[];
}

const parents = new Map<string, ChainParent>();
const ours = new WeakSet<object>();
/** Requests on their way through the chain, innermost last (a hook may require in turn). */
const inFlight: { parent: ChainParent; request: string; value: unknown }[] = [];

function parentFor(filename: string): ChainParent {
  let parent = parents.get(filename);
  if (!parent) {
    const dir = path.dirname(filename);
    const paths = Object.freeze((Module as unknown as ModuleStatics)._nodeModulePaths(dir));
    parent = Object.freeze(Object.assign(Object.create(null) as object, { id: filename, filename, path: dir, paths, loaded: true as const }));
    parents.set(filename, parent);
    ours.add(parent);
  }
  return parent;
}

/**
 * What `require(request)` from `requirer` (a file of a confined package) returns, given
 * `value`, what the module it loaded exports: `value` itself when no preload hooks
 * `require`, what the hooks made of it otherwise.
 */
export function throughRequireChain(request: string, requirer: string, value: unknown): unknown {
  const parent = parentFor(requirer);
  inFlight.push({ parent, request, value });
  try {
    return Reflect.apply(Module.prototype.require, parent, [request]) as unknown;
  } finally {
    inFlight.pop();
  }
}

/**
 * For the loader's `Module._load`: when `parent` is one of this module's, the exports to
 * answer with (boxed); undefined for every other load.
 */
export function chainAnswer(request: string, parent: unknown): { value: unknown } | undefined {
  if (typeof parent !== 'object' || parent === null || !ours.has(parent)) return undefined;
  for (let i = inFlight.length - 1; i >= 0; i--) {
    const entry = inFlight[i]!;
    if (entry.parent === parent && entry.request === request) return entry;
  }
  // A hook replaced the request on its way down: what it asks for would be loaded for a
  // package that did not ask for it, natively. No instrumentation needs that.
  throw new Error(
    `LavaMoat: a require hook turned a package's require() into require('${request}') from ${(parent as ChainParent).filename}; ` +
      'a confined package gets the module it required, or what the hooks make of it, and nothing else.',
  );
}

/**
 * `require()` from the app's own code (a CommonJS app, or `createRequire` in an ESM
 * one) does not pass through the ESM hooks on Node 20. This wraps Node's CommonJS
 * loader so that a require of a dependency module returns the module evaluated in its
 * compartment, exactly as an import does; everything else is left to Node.
 */
import Module, { isBuiltin } from 'node:module';
import path from 'node:path';
import { hasNodeModulesSegment, ROOT_NAME, type PackageMap } from '../graph/package-map.js';
import type { Runtime } from '../confine/runtime.js';
import { hardenRequiredBuiltin, sweepLoaded } from '../confine/boundary.js';
import { chainAnswer } from '../confine/require-chain.js';
import { agentAfterLoader, hooksModuleLoading } from '../report/agents.js';
import { APP_GLOBALS_SPECIFIER, appGlobalsModuleSource, bindCjsAppGlobals, bindEsmAppGlobals, stripTypeScript } from '../formats/app-scope.js';
import { formatOf, resolveSpecifier } from '../graph/resolve.js';
import { parse as parseEsm } from 'es-module-lexer';
import fs from 'node:fs';
import process from 'node:process';
import type { AppGlobalScope } from '../confine/app-globals.js';

interface InternalModule {
  filename?: string | null;
  /** Node's (deprecated, still kept) link to the module that first required this one. */
  parent?: InternalModule | null;
}
type Load = (request: string, parent: InternalModule | undefined, isMain: boolean) => unknown;
interface ModuleInternals {
  _load: Load;
  _cache: Record<string, InternalModule | undefined>;
  _resolveFilename(request: string, parent: InternalModule | undefined, isMain: boolean): string;
}

export function installRequireHook(
  runtime: Runtime,
  packageMap: PackageMap,
  selfDir: string,
  rootConfined: boolean,
  /** Under scuttling: the names the app's CommonJS modules get bindings for (formats/app-scope.ts). */
  appGlobals?: { names: readonly string[]; scope: () => AppGlobalScope; bridgeURL: string },
): void {
  const internals = Module as unknown as ModuleInternals;
  const originalLoad = internals._load;
  const isAppFile = (file: string): boolean => {
    if (file.startsWith(selfDir + path.sep)) return false;
    const owner = packageMap.packageForPath(file);
    if (owner === undefined) return !hasNodeModulesSegment(file);
    return owner.name === ROOT_NAME && !rootConfined;
  };
  // A require whose parent is a module Node loaded natively outside the app (this
  // runtime's own dependencies, an agent preloaded with --require) is left to Node. A
  // parent Node never loaded is a require the app made with `createRequire(path)`, even
  // one rooted inside a package: what it loads is confined like any other app require.
  const leftToNode = (parent: InternalModule): boolean =>
    parent.filename!.startsWith(selfDir + path.sep) ||
    (!isAppFile(parent.filename!) && internals._cache[parent.filename!] === parent);
  const isConfinedFile = (file: string): string | undefined => {
    const owner = packageMap.packageForPath(file);
    if (owner) return owner.name !== ROOT_NAME || rootConfined ? `package "${owner.name}"` : undefined;
    return hasNodeModulesSegment(file) ? 'no package of the dependency tree' : undefined;
  };
  if (appGlobals || REQUIRE_ESM_SKIPS_HOOKS) patchCompile(isAppFile, isConfinedFile, appGlobals);
  internals._load = function load(this: unknown, request, parent, isMain) {
    // The end of the require chain a confined package's require() was passed through,
    // for the hooks of preloaded instrumentation: what the compartment produced.
    const answer = chainAnswer(request, parent);
    if (answer) return answer.value;
    if (appGlobals && request === APP_GLOBALS_SPECIFIER && parent?.filename && isAppFile(parent.filename)) {
      return appGlobals.scope();
    }
    // A parent with no file name (`new Module(id)` made by the app, whose `require()`
    // Node runs as any other) is no module Node loaded: its requires are the app's, as
    // those of a `createRequire` rooted anywhere. Left to Node, they ran a dependency
    // natively (case 93). No parent at all is Node loading CommonJS for an ES module
    // that imported it, which the hooks decided.
    if (isMain || !parent || (parent.filename && leftToNode(parent))) {
      return Reflect.apply(originalLoad, this, [request, parent, isMain]);
    }
    let filename: string;
    try {
      filename = internals._resolveFilename(request, parent, isMain);
    } catch {
      return Reflect.apply(originalLoad, this, [request, parent, isMain]);
    }
    if (!path.isAbsolute(filename)) {
      // A builtin: if this loaded it, its classes are hardened before the app can hand
      // its objects to a package (confine/boundary.ts). Named, not only swept: a load
      // Node could not list (out of stack at its push onto the list, where a package
      // recursing deep called the app's function that requires it) is on no list to sweep,
      // and the app's next require of it comes here (docs/attacks.md, case 242).
      const builtin: unknown = Reflect.apply(originalLoad, this, [request, parent, isMain]);
      sweepLoaded();
      hardenRequiredBuiltin(filename);
      return builtin;
    }
    const owner = packageMap.packageForPath(filename);
    if (owner && (owner.name !== ROOT_NAME || rootConfined)) {
      if (hooksModuleLoading(owner.packageName)) throw agentAfterLoader(`the app's ${parent.filename}`, owner.packageName, filename);
      return runtime.requireModule(filename, () => requireStack(parent));
    }
    if (!owner && hasNodeModulesSegment(filename)) {
      throw new Error(
        `LavaMoat: '${request}' resolves to ${filename}, which belongs to no package in the app's dependency tree; ` +
          'it cannot be confined, so it is not loaded: declare it in the dependencies of the package that uses it.',
      );
    }
    return Reflect.apply(originalLoad, this, [request, parent, isMain]);
  };
}

/**
 * Node 20 loads the static imports of an ES module that `require()` loads (require(esm),
 * unflagged in 20.19) with its default resolver and loader: the hooks never see them, so
 * an import of a dependency there would load it natively, unconfined. Node 22 and later
 * run the hooks for them.
 */
const REQUIRE_ESM_SKIPS_HOOKS = Number(process.versions.node.split('.')[0]) < 22;

/**
 * Where the static import graph of the app's ES module `file` (through the app's own ES
 * modules) reaches a confined file, described; undefined if it does not.
 */
function confinedImportOf(file: string, source: string, isAppFile: (file: string) => boolean, isConfinedFile: (file: string) => string | undefined): string | undefined {
  const queue: [string, string][] = [[file, source]];
  const seen = new Set<string>([file]);
  while (queue.length > 0) {
    const [importer, text] = queue.shift()!;
    let imports: ReturnType<typeof parseEsm>[0];
    try {
      imports = parseEsm(text)[0];
    } catch {
      continue; // Node reports the syntax error
    }
    for (const entry of imports) {
      // Static imports and re-exports only: `import()` goes through the hooks.
      if ((entry.type !== 'static' && entry.type !== 'reexport-star') || entry.typeOnly) continue;
      const specifier = entry.specifier;
      // A package name: whatever its package.json's `exports` say, Node's answer is a file
      // of the first `node_modules/<name>` directory it finds (targets cannot leave it),
      // so that directory decides, not the runtime's reading of the package's fields,
      // which the package writes (attack case 90).
      const packageDir = isBareSpecifier(specifier) ? nodePackageDir(specifier, importer) : undefined;
      const dirOwner = packageDir && isConfinedFile(path.join(packageDir, 'package.json'));
      if (dirOwner) return `its import of '${specifier}' (in ${importer}) loads a module of ${dirOwner} (${packageDir})`;
      let target: string;
      try {
        const resolved = resolveSpecifier(specifier, importer, 'import');
        if (resolved.kind !== 'file') continue;
        target = resolved.path;
      } catch (error) {
        // A package map of the app's own (`#name`) the runtime cannot follow: where Node's
        // answer goes is unknown here, so the require is refused rather than guessed.
        if (specifier.startsWith('#')) return `its import of '${specifier}' (in ${importer}) could not be followed (${(error as Error).message})`;
        continue; // Node reports it
      }
      const owner = isConfinedFile(target);
      if (owner) return `its import of '${specifier}' (in ${importer}) loads ${target}, of ${owner}`;
      if (seen.has(target) || !isAppFile(target)) continue;
      seen.add(target);
      let next: string;
      try {
        next = fs.readFileSync(target, 'utf8');
      } catch {
        continue;
      }
      // Every app file reached is followed, whatever format the runtime would give it:
      // CommonJS has no static imports to find, and a file Node runs as a module whose
      // format the runtime misjudged would otherwise hide its imports.
      queue.push([target, next]);
    }
  }
  return undefined;
}

/** A specifier Node resolves by package name (not a path, URL, `#` import or builtin). */
function isBareSpecifier(specifier: string): boolean {
  if (specifier === '' || specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('#')) return false;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier)) return false;
  return isBuiltin(specifier) === false;
}

/**
 * The real directory Node's ES module resolver takes a package name to from `importer`:
 * the first `node_modules/<name>` directory that exists, walking up (Node does not skip
 * `node_modules/node_modules`), before any package.json is read. (A self-reference, the
 * app's own package by name, is tried by Node first; a `node_modules` directory of that
 * name as well is judged here all the same, which can only refuse more.)
 */
function nodePackageDir(specifier: string, importer: string): string | undefined {
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  for (let dir = path.dirname(importer); ; ) {
    const candidate = path.join(dir, 'node_modules', name);
    try {
      if (fs.statSync(candidate).isDirectory()) return fs.realpathSync(candidate);
    } catch {
      // not here
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Node's CommonJS loader compiles every CommonJS module of the app (required, imported,
 * the entry), and the app's ES modules that CommonJS code requires (`require(esm)`: a
 * `.mjs` file, a `.js` file of a `"type": "module"` package, or one whose syntax Node
 * detects as a module). Under scuttling, each gets its bindings of the scuttled names it
 * uses (a CommonJS module its wrapper, an ES module its import line). On Node 20, a
 * required ES module whose imports reach a dependency is refused (REQUIRE_ESM_SKIPS_HOOKS).
 */
function patchCompile(
  isAppFile: (file: string) => boolean,
  isConfinedFile: (file: string) => string | undefined,
  appGlobals: { names: readonly string[]; bridgeURL: string } | undefined,
): void {
  // On Node 20 the imports of a required ES module see no hooks: its bindings come from
  // a `data:` module (which Node's own loader loads) importing the bridge by its URL.
  const dataModule = (bind: readonly string[]): string =>
    `data:text/javascript,${encodeURIComponent(appGlobalsModuleSource(bind, appGlobals!.bridgeURL))}`;
  const proto = Module.prototype as unknown as { _compile(content: string, filename: string, ...rest: unknown[]): unknown };
  const originalCompile = proto._compile;
  proto._compile = function compile(this: unknown, content: string, filename: string, ...rest: unknown[]) {
    if (typeof content !== 'string' || typeof filename !== 'string' || !isAppFile(filename)) {
      return Reflect.apply(originalCompile, this, [content, filename, ...rest]);
    }
    // Node 20.19+ and 22+ pass the format: TypeScript is stripped first, so that the
    // bindings go into what Node would run (type-only syntax is only allowed at the top level).
    let [format, ...more] = rest;
    let source = content;
    if (typeof format === 'string' && format.endsWith('-typescript')) {
      const stripped = stripTypeScript(content);
      if (stripped !== undefined) {
        source = stripped;
        format = format.slice(0, -'-typescript'.length);
      }
    }
    const esm = format === 'module' || (format === undefined && formatOf(filename, source) === 'module');
    if (esm && REQUIRE_ESM_SKIPS_HOOKS) {
      const reached = confinedImportOf(filename, source, isAppFile, isConfinedFile);
      if (reached) {
        throw Object.assign(
          new Error(
            `LavaMoat: require() of the ES module ${filename} cannot be confined on Node ${process.versions.node}: ${reached}, ` +
              "and Node 20 loads the imports of a required ES module without the loader's hooks, so that code would run " +
              'unconfined. Load the module with import() instead, or run on Node 22 or later.',
          ),
          { code: 'LAVAMOAT_REQUIRE_ESM_UNCONFINABLE' },
        );
      }
    }
    if (!appGlobals) return Reflect.apply(originalCompile, this, [content, filename, ...rest]);
    const { names } = appGlobals;
    // A format left undecided stays so: Node's own detection (and its warning) sees the
    // module with its import line, which parses as a module only.
    const bound = esm
      ? bindEsmAppGlobals(source, names, REQUIRE_ESM_SKIPS_HOOKS ? dataModule : undefined)
      : bindCjsAppGlobals(source, names);
    if (bound === content) return Reflect.apply(originalCompile, this, [content, filename, ...rest]);
    return Reflect.apply(originalCompile, this, [bound, filename, ...(rest.length > 0 ? [format, ...more] : [])]);
  };
}

/** The requiring module's file, then its parent's, as Node lists them in errors. */
function requireStack(parent: InternalModule): string[] {
  const stack: string[] = [];
  for (let cursor: InternalModule | null | undefined = parent; cursor?.filename && !stack.includes(cursor.filename); cursor = cursor.parent) {
    stack.push(cursor.filename);
  }
  return stack;
}

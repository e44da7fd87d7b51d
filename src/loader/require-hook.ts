/**
 * `require()` from the app's own code (a CommonJS app, or `createRequire` in an ESM
 * one) does not pass through the ESM hooks on Node 20. This wraps Node's CommonJS
 * loader so that a require of a dependency module returns the module evaluated in its
 * compartment, exactly as an import does; everything else is left to Node.
 */
import Module from 'node:module';
import path from 'node:path';
import { ROOT_NAME, type PackageMap } from '../graph/package-map.js';
import type { Runtime } from '../confine/runtime.js';
import { sweepLoaded } from '../confine/boundary.js';
import { APP_GLOBALS_SPECIFIER, bindCjsAppGlobals, stripTypeScript } from '../formats/app-scope.js';
import type { AppGlobalScope } from '../confine/app-globals.js';

interface InternalModule {
  filename?: string | null;
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
  appGlobals?: { names: readonly string[]; scope: () => AppGlobalScope },
): void {
  const internals = Module as unknown as ModuleInternals;
  const originalLoad = internals._load;
  const isAppFile = (file: string): boolean => {
    if (file.startsWith(selfDir + path.sep)) return false;
    const owner = packageMap.packageForPath(file);
    if (owner === undefined) return !file.includes(`${path.sep}node_modules${path.sep}`);
    return owner.name === ROOT_NAME && !rootConfined;
  };
  // A require whose parent is a module Node loaded natively outside the app (this
  // runtime's own dependencies, an agent preloaded with --require) is left to Node. A
  // parent Node never loaded is a require the app made with `createRequire(path)`, even
  // one rooted inside a package: what it loads is confined like any other app require.
  const leftToNode = (parent: InternalModule): boolean =>
    parent.filename!.startsWith(selfDir + path.sep) ||
    (!isAppFile(parent.filename!) && internals._cache[parent.filename!] === parent);
  if (appGlobals) bindAppGlobals(isAppFile, appGlobals.names);
  internals._load = function load(this: unknown, request, parent, isMain) {
    if (appGlobals && request === APP_GLOBALS_SPECIFIER && parent?.filename && isAppFile(parent.filename)) {
      return appGlobals.scope();
    }
    if (isMain || !parent?.filename || leftToNode(parent)) {
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
      // its objects to a package (confine/boundary.ts).
      const builtin: unknown = Reflect.apply(originalLoad, this, [request, parent, isMain]);
      sweepLoaded();
      return builtin;
    }
    const owner = packageMap.packageForPath(filename);
    if (owner && (owner.name !== ROOT_NAME || rootConfined)) return runtime.requireModule(filename);
    if (!owner && filename.includes(`${path.sep}node_modules${path.sep}`)) {
      throw new Error(
        `LavaMoat: '${request}' resolves to ${filename}, which belongs to no package in the app's dependency tree; ` +
          'it cannot be confined, so it is not loaded: declare it in the dependencies of the package that uses it.',
      );
    }
    return Reflect.apply(originalLoad, this, [request, parent, isMain]);
  };
}

/**
 * Every CommonJS module Node compiles for the app (required, imported, the entry) gets
 * its bindings of the scuttled names it uses.
 */
function bindAppGlobals(isAppFile: (file: string) => boolean, names: readonly string[]): void {
  const proto = Module.prototype as unknown as { _compile(content: string, filename: string, ...rest: unknown[]): unknown };
  const originalCompile = proto._compile;
  proto._compile = function compile(this: unknown, content: string, filename: string, ...rest: unknown[]) {
    if (typeof content !== 'string' || typeof filename !== 'string' || !isAppFile(filename)) {
      return Reflect.apply(originalCompile, this, [content, filename, ...rest]);
    }
    // Node 22+ passes the format: TypeScript is stripped first, so that the wrapper goes
    // around what Node would run (type-only syntax is only allowed at the top level).
    const [format, ...more] = rest;
    if (typeof format === 'string' && format.endsWith('-typescript')) {
      const stripped = stripTypeScript(content);
      if (stripped !== undefined) {
        return Reflect.apply(originalCompile, this, [bindCjsAppGlobals(stripped, names), filename, format.slice(0, -'-typescript'.length), ...more]);
      }
    }
    return Reflect.apply(originalCompile, this, [bindCjsAppGlobals(content, names), filename, ...rest]);
  };
}

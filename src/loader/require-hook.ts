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

export function installRequireHook(runtime: Runtime, packageMap: PackageMap, selfDir: string, rootConfined: boolean): void {
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
  internals._load = function load(this: unknown, request, parent, isMain) {
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
    if (owner && (owner.name !== ROOT_NAME || rootConfined)) return runtime.requireModule(filename, () => requireStack(parent));
    if (!owner && filename.includes(`${path.sep}node_modules${path.sep}`)) {
      throw new Error(
        `LavaMoat: '${request}' resolves to ${filename}, which belongs to no package in the app's dependency tree; ` +
          'it cannot be confined, so it is not loaded: declare it in the dependencies of the package that uses it.',
      );
    }
    return Reflect.apply(originalLoad, this, [request, parent, isMain]);
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

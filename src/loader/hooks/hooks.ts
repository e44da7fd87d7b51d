/**
 * Hooks thread: Node's resolve and load hooks (module.register). The app's own package
 * runs natively; whenever its code imports a module of another package, the import is
 * answered with a facade bound to the module the runtime evaluated in that package's
 * compartment. No dependency code is ever evaluated by Node's loader.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PackageMap, ROOT_NAME, type PackageMapData } from '../../graph/package-map.js';
import { facadeSource, facadeURL, parseFacadeURL } from './facade.js';
import { exportNamesOf, lexersReady } from '../../graph/module-names.js';
import { esmGraphAwaits } from '../../graph/async-graph.js';
import { ModuleCache } from '../../cache/module-cache.js';
import { formatOf } from '../../graph/resolve.js';

export interface HooksData {
  packageMap: PackageMapData;
  /** URL of bridge.js, which facades import to reach the runtime. */
  bridgeURL: string;
  /** Directory URL of this project's compiled code, which always runs natively. */
  selfURL: string;
  /** `root.usePolicy` is set: the app's own package is confined too. */
  rootConfined: boolean;
  /** The module cache, for what the lexers find (undefined when caching is off). */
  cache: { dir: string; salt: string; readOnly: boolean } | undefined;
}

interface ResolveContext {
  parentURL?: string;
  conditions?: string[];
  importAttributes?: Record<string, string>;
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
  importAttributes?: Record<string, string>;
}
type NextResolve = (specifier: string, context?: ResolveContext) => Promise<ResolveResult> | ResolveResult;
interface LoadResult {
  format: string;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: unknown) => Promise<LoadResult> | LoadResult;

let packageMap: PackageMap;
let bridgeURL: string;
let selfURL: string;
let rootConfined: boolean;
let cache: ModuleCache | undefined;

export function initialize(data: HooksData): void {
  packageMap = new PackageMap(data.packageMap);
  bridgeURL = data.bridgeURL;
  selfURL = data.selfURL;
  rootConfined = data.rootConfined;
  cache = data.cache && new ModuleCache(data.cache);
}

const isConfined = (name: string): boolean => name !== ROOT_NAME || rootConfined;

/** Whether code at `url` is the app's own (trusted, native) code. */
function isAppCode(url: string | undefined): boolean {
  if (url === undefined) return true; // the entry point
  if (url.startsWith(selfURL)) return false;
  // A module the app made (`data:` and the like) is the app's; a facade imports only
  // the bridge, which is this project's own code.
  if (!url.startsWith('file:')) return true;
  const owner = packageMap.packageForPath(fileURLToPath(url));
  return owner === undefined ? !url.includes('/node_modules/') : !isConfined(owner.name);
}

export class UnconfinableModuleError extends Error {
  readonly code = 'LAVAMOAT_UNKNOWN_PACKAGE';
}

let entryResolved = false;

/** What the app's import of `specifier` becomes, given where Node resolved it. */
function decide(specifier: string, context: ResolveContext, result: ResolveResult): ResolveResult {
  // This project's own code (the bridge a facade imports) always runs natively.
  if (result.url.startsWith(selfURL)) return result;
  if (context.parentURL === undefined) {
    // The first load without a parent is the entry point. Later ones are Node loading
    // CommonJS for an ES module that imported it, which was decided for that import.
    if (entryResolved) return result;
    entryResolved = true;
  }
  if (!result.url.startsWith('file:') || !isAppCode(context.parentURL)) {
    return result;
  }
  const path = fileURLToPath(result.url);
  const owner = packageMap.packageForPath(path);
  if (owner && isConfined(owner.name)) {
    return { url: facadeURL(result.url, context.parentURL === undefined), format: 'module', shortCircuit: true };
  }
  if (!owner && result.url.includes('/node_modules/')) {
    throw new UnconfinableModuleError(
      `LavaMoat: '${specifier}' resolves to ${path}, which belongs to no package in the app's dependency tree ` +
        `(a dependency not declared in any package.json). It cannot be confined, so it is not loaded: ` +
        `declare it in the dependencies of the package that uses it.`,
    );
  }
  return result;
}

function facadeLoad(url: string): LoadResult | undefined {
  const facade = parseFacadeURL(url);
  if (!facade) return undefined;
  const path = fileURLToPath(facade.fileURL);
  const source = readFileSync(path, 'utf8');
  const format = formatOf(path, source);
  const names = exportNamesOf(path, format, undefined, cache, source);
  const awaits =
    format === 'module' &&
    esmGraphAwaits(path, source, { cache, root: packageMap.data.root, packageDirOf: (file) => packageMap.packageForPath(file)?.dir });
  return { format: 'module', source: facadeSource(facade.fileURL, names, bridgeURL, facade.main, awaits), shortCircuit: true };
}

/** Off-thread hooks, for `module.register()` (Node 20). */
export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<ResolveResult> {
  return decide(specifier, context, await nextResolve(specifier, context));
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  await lexersReady;
  return facadeLoad(url) ?? nextLoad(url, context);
}

/**
 * In-thread synchronous hooks, for `module.registerHooks()` (Node 22.15+, 23.5+): no
 * hooks thread to start and no message round trip per module. Await `lexersReady`
 * before installing them.
 */
export function syncHooks(data: HooksData) {
  initialize(data);
  return {
    resolve(specifier: string, context: ResolveContext, nextResolve: (s: string, c?: ResolveContext) => ResolveResult) {
      return decide(specifier, context, nextResolve(specifier, context));
    },
    load(url: string, context: unknown, nextLoad: (u: string, c?: unknown) => LoadResult) {
      return facadeLoad(url) ?? nextLoad(url, context);
    },
  };
}

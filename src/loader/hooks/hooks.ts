/**
 * Hooks thread: Node's resolve and load hooks (module.register). The app's own package
 * runs natively; whenever its code imports a module of another package, the import is
 * answered with a facade bound to the module the runtime evaluated in that package's
 * compartment. No dependency code is ever evaluated by Node's loader.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { hasNodeModulesSegment, PackageMap, ROOT_NAME, type PackageMapData } from '../../graph/package-map.js';
import { resolvingForRuntime } from '../../graph/resolve.js';
import { facadeSource, facadeURL, parseFacadeURL } from './facade.js';
import { lexersReady } from '../../graph/module-names.js';
import { facadeFacts } from './facade-facts.js';
import { esmGraphAwaits } from '../../graph/async-graph.js';
import { ModuleCache } from '../../cache/module-cache.js';
import { APP_GLOBALS_IMPORT, APP_GLOBALS_SPECIFIER, appGlobalsModuleSource, bindEsmAppGlobals, requestedNames, stripTypeScript } from '../../formats/app-scope.js';
import { hasIitmMark, instrumentedURL, isIitmRuntime, noteRuntimeImport, parseInstrumentedURL, wrappedURL, wrapperSource } from './instrumented.js';
import { agentAfterLoader, hooksModuleLoading } from '../../report/agents.js';
import { withPlainMetaResolve } from './meta-resolve.js';

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
  /** Under scuttling: the names the app's ES modules get bindings for (formats/app-scope.ts). */
  appGlobals: string[] | undefined;
  /**
   * The modules `--import` runs after this loader, as written, and the parent URL Node
   * imports them from (loader/preloads.ts): the user's preloads, loaded natively.
   */
  preloads: { parentURL: string; specifiers: string[] };
  /**
   * A tool is preloaded before this loader (`--require`, or an `--import` ahead of it):
   * its modules were loaded before these hooks, so which modules run natively outside
   * the app is not all known here (see {@link nativelyLoaded}).
   */
  toolsBefore?: boolean;
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
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: unknown) => Promise<LoadResult> | LoadResult;

let packageMap: PackageMap;
let bridgeURL: string;
let selfURL: string;
let rootConfined: boolean;
let cache: ModuleCache | undefined;
let appGlobals: string[] | undefined;
let preloadParentURL: string;
/** The preloads after this loader not imported yet: each is let through once. */
let pendingPreloads: string[] = [];
let toolsBefore = false;
/**
 * The modules outside the app that these hooks let Node load natively (a preload after
 * this loader, what it imports, import-in-the-middle's runtime): the only modules
 * besides the app's and this runtime's whose own imports are left to Node. A parent URL
 * is only what the importing code claims to be: a script the app runs through `vm`
 * with Node's default loader names its own `filename`, which may lie in a dependency's
 * directory or elsewhere under `node_modules`. An import from a module Node never
 * loaded natively is the app's, wherever it claims to be (as `createRequire(path)` is
 * for the require hook). Leaving it to Node ran the dependency natively (case 92).
 */
const nativelyLoaded = new Set<string>();

export function initialize(data: HooksData): void {
  appGlobals = data.appGlobals;
  preloadParentURL = data.preloads.parentURL;
  pendingPreloads = [...data.preloads.specifiers];
  toolsBefore = data.toolsBefore === true;
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
  const file = fileURLToPath(url);
  const owner = packageMap.packageForPath(file);
  return owner === undefined ? !hasNodeModulesSegment(file) : !isConfined(owner.name);
}

export class UnconfinableModuleError extends Error {
  readonly code = 'LAVAMOAT_UNKNOWN_PACKAGE';
}

let entryResolved = false;

/**
 * Whether an import from `parentURL`, which is not the app's code, is left to Node: from
 * this runtime's own code, or from a module these hooks let Node load natively. Where a
 * tool was preloaded before this loader, its modules (loaded before these hooks) are
 * not known: every parent outside the app is taken for one (docs/attacks.md, case 92).
 */
function nativeParent(parentURL: string | undefined): boolean {
  return parentURL !== undefined && (toolsBefore || parentURL.startsWith(selfURL) || nativelyLoaded.has(parentURL));
}

/** Node will load `result` natively for a module outside the app: its own imports are left to Node too. */
function native(result: ResolveResult): ResolveResult {
  if (result.url.startsWith('file:')) nativelyLoaded.add(result.url);
  return result;
}

/** What the app's import of `specifier` becomes, given where Node resolved it. */
function decide(specifier: string, context: ResolveContext, result: ResolveResult): ResolveResult {
  // This project's own code (the bridge a facade imports) always runs natively.
  if (result.url.startsWith(selfURL)) return result;
  // The runtime's own `require.resolve` for a package (Node 24 runs these hooks for it):
  // Node's answer, which the runtime checks against the package's policy; nothing loads.
  if (resolvingForRuntime()) return result;
  if (!entryResolved && context.parentURL === preloadParentURL) {
    // A module `--import` runs after this loader (`--import lavamoat/loader --import
    // tsx`): chosen by the user like one before it, so it runs natively, and what it
    // imports with it (the imports of a module that is not the app's are left to Node).
    // Only before the entry, only from the parent Node gives `--import` modules (a
    // directory's URL, which no module has), and once per `--import`: an import the app
    // makes of the same package is decided as any other.
    const at = pendingPreloads.indexOf(specifier);
    if (at !== -1) {
      pendingPreloads.splice(at, 1);
      return native(result);
    }
  }
  if (context.parentURL === undefined) {
    // The first load without a parent is the entry point. Loads without a parent from
    // the CommonJS loader (no `import` condition) are Node loading CommonJS for an ES
    // module that imported it, which was decided for that import; in-thread hooks also
    // see those before the entry, when a preload after this loader imports CommonJS
    // (tsx's own). The CommonJS loader never loads the entry (`--import` sends it
    // through the ESM loader).
    if (!context.conditions?.includes('import')) return result;
    // An `import()` without a parent after the entry comes from code with no module of
    // its own that uses Node's default loader: a script the app runs through `vm` with
    // `USE_MAIN_CONTEXT_DEFAULT_LOADER` and no filename. Only the app (or a trusted
    // preload) can run such code: it is decided as the app's import. Leaving it to Node
    // ran the dependency natively, unconfined (docs/attacks.md, case 91).
    entryResolved = true;
  }
  if (!result.url.startsWith('file:')) return result;
  if (!isAppCode(context.parentURL) && nativeParent(context.parentURL)) return native(result);
  // import-in-the-middle's wrappers (of the app's modules, of builtins, of dependencies
  // below) import its own module, where the agent's hooks are registered: the agent's
  // code, which runs natively, as when the agent loaded it. Only the module a wrapper
  // imports as that runtime (instrumented.ts), never another file of a package that
  // calls itself import-in-the-middle: a wrapper also imports modules of the wrapped
  // package by URL, which are decided below like any other.
  if (hasIitmMark(context.parentURL) && isIitmRuntime(result.url)) return native(result);
  const path = fileURLToPath(result.url);
  const owner = packageMap.packageForPath(path);
  if (owner && isConfined(owner.name)) {
    if (hooksModuleLoading(owner.packageName)) {
      const importer = context.parentURL?.startsWith('file:') ? fileURLToPath(context.parentURL) : context.parentURL;
      throw agentAfterLoader(importer ? `the app's ${importer}` : 'the entry point', owner.packageName, path);
    }
    const main = context.parentURL === undefined;
    // import-in-the-middle will wrap this import (instrumented.ts): the app gets its wrapper.
    if (!main && hasIitmMark(result.url)) {
      instrumentedFormats.set(result.url, result.format);
      return { url: instrumentedURL(result.url), format: 'module', shortCircuit: true };
    }
    return { url: facadeURL(result.url, main), format: 'module', shortCircuit: true };
  }
  if (!owner && hasNodeModulesSegment(path)) {
    throw new UnconfinableModuleError(
      `LavaMoat: '${specifier}' resolves to ${path}, which belongs to no package in the app's dependency tree ` +
        `(a dependency not declared in any package.json). It cannot be confined, so it is not loaded: ` +
        `declare it in the dependencies of the package that uses it.`,
    );
  }
  return result;
}

/**
 * The module of bindings an app module imports under scuttling. Only the app's own
 * modules may import it (it is no secret, but nothing else has a use for it).
 */
function appGlobalsResolve(specifier: string, context: ResolveContext): ResolveResult | undefined {
  if (!specifier.startsWith(APP_GLOBALS_SPECIFIER) && !specifier.startsWith(`${APP_GLOBALS_IMPORT}?`)) return undefined;
  const names = appGlobals && requestedNames(specifier, appGlobals);
  if (names && context.parentURL !== undefined && isAppCode(context.parentURL)) {
    return { url: `${APP_GLOBALS_SPECIFIER}?${names.join(',')}`, format: 'module', shortCircuit: true };
  }
  throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' });
}

/** Under scuttling: the module of bindings, or an app ES module with its import of them. */
function appGlobalsLoad(url: string, result: LoadResult | undefined): LoadResult | undefined {
  if (!appGlobals) return result;
  const names = requestedNames(url, appGlobals);
  if (names) return { format: 'module', source: appGlobalsModuleSource(names, bridgeURL), shortCircuit: true };
  const typescript = result?.format === 'module-typescript';
  if (!result || (result.format !== 'module' && !typescript) || result.source === undefined || !isAppCode(url) || parseFacadeURL(url)) {
    return result;
  }
  let text = typeof result.source === 'string' ? result.source : new TextDecoder().decode(result.source);
  if (typescript) {
    // The bindings go into what Node would run: the module with its types stripped.
    const stripped = stripTypeScript(text);
    if (stripped === undefined) return result;
    text = stripped;
  }
  return { ...result, format: 'module', source: bindEsmAppGlobals(text, appGlobals) };
}

/** The format Node's resolution gave each module import-in-the-middle wraps for the app (its load needs it). */
const instrumentedFormats = new Map<string, string | null | undefined>();

/**
 * What the load hooks below are asked for an instrumented URL: its marked URL, in the
 * format Node resolved it to (the context Node gives this hook says `module`, the
 * facade's format, which would make import-in-the-middle read CommonJS as ESM).
 */
function instrumentedRequest(marked: string, context: unknown): unknown {
  return { ...(context as object), format: instrumentedFormats.get(marked) };
}

/**
 * The app's import of a dependency module that import-in-the-middle wraps: its wrapper,
 * as the load hooks below answered the URL it marked, or the plain facade when what
 * came back is not its wrapper (instrumented.ts).
 */
function instrumentedLoad(marked: string, result: LoadResult): LoadResult {
  const real = wrappedURL(marked);
  const wrapper = wrapperSource(result, real);
  if ('source' in wrapper) return { format: 'module', source: wrapper.source, shortCircuit: true };
  process.stderr.write(
    `LavaMoat: import-in-the-middle's wrapper of ${real} is not used (${wrapper.refused}): the agent's import hooks do not see that module\n`,
  );
  return facadeLoad(facadeURL(real))!;
}

function facadeLoad(url: string): LoadResult | undefined {
  const facade = parseFacadeURL(url);
  if (!facade) return undefined;
  const path = fileURLToPath(facade.fileURL);
  const context = { root: packageMap.data.root, packageDirOf: (file: string) => packageMap.packageForPath(file)?.dir };
  const { format, names, source } = facadeFacts(path, cache, context);
  const awaits = format === 'module' && esmGraphAwaits(path, source ?? readFileSync(path, 'utf8'), { cache, ...context });
  return { format: 'module', source: facadeSource(facade.fileURL, names, bridgeURL, facade.main, awaits), shortCircuit: true };
}

/**
 * A CommonJS TypeScript module of the app that the ESM loader loads (the entry, which
 * `--import` sends through the ESM loader, or a `.cts` an ES module imports). Node 22
 * compiles it with the ESM loader's own `require`, which cannot require a facade (the
 * facade's import of the bridge is not linked yet: ERR_VM_MODULE_LINK_FAILURE). A null
 * source hands it to Node's CommonJS loader instead, as Node does for `.js` CommonJS:
 * that loader strips the types itself, and its `require` is the one the runtime serves.
 * On Node 23+ the source is given stripped of its types instead (see below).
 * Off-thread hooks see only the ESM loader's loads; in-thread ones also see the CommonJS
 * loader's own (a `require` condition and no `import`), which need the source.
 */
// Node 23+ sends a CommonJS source given by the hooks through its CommonJS loader (with
// its own require, and the named exports Node lexes from that source). Node 22 compiles
// it with the ES module loader's require instead, which cannot require a facade: there
// the file goes to the CommonJS loader as a file, and its named exports are not seen
// (cjs-module-lexer reads the TypeScript text): use a default import on Node 22.
const STRIPPED_SOURCE_REACHES_CJS_LOADER = Number(process.versions.node.split('.')[0]) >= 23;

function typeScriptToCommonJsLoader(result: LoadResult, context: unknown, inThread: boolean): LoadResult {
  if (result.format !== 'commonjs-typescript') return result;
  if (inThread) {
    const conditions = (context as { conditions?: unknown } | undefined)?.conditions;
    if (!Array.isArray(conditions) || !conditions.includes('import')) return result;
  }
  if (STRIPPED_SOURCE_REACHES_CJS_LOADER) {
    const text = typeof result.source === 'string' ? result.source : new TextDecoder().decode(result.source as Uint8Array);
    const stripped = stripTypeScript(text);
    if (stripped !== undefined) return { format: 'commonjs', source: stripped, shortCircuit: true };
  }
  return { format: 'commonjs', source: null, shortCircuit: true };
}

/** A module Node loads as it is: the app's own get their global bindings (scuttling) and a plain `import.meta.resolve`. */
function appLoad(url: string, result: LoadResult): LoadResult {
  const loaded = appGlobals ? appGlobalsLoad(url, result)! : result;
  return isAppCode(url) && !parseFacadeURL(url) ? withPlainMetaResolve(loaded) : loaded;
}

/** Off-thread hooks, for `module.register()` (Node 20). */
export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<ResolveResult> {
  return appGlobalsResolve(specifier, context) ?? decide(specifier, context, await nextResolve(specifier, context));
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  await lexersReady;
  if (appGlobals && url.startsWith(APP_GLOBALS_SPECIFIER)) return appGlobalsLoad(url, undefined)!;
  const facade = facadeLoad(url);
  if (facade) return facade;
  const marked = parseInstrumentedURL(url);
  if (marked !== undefined) return instrumentedLoad(marked, await nextLoad(marked, instrumentedRequest(marked, context)));
  const result = typeScriptToCommonJsLoader(await nextLoad(url, context), context, false);
  if (hasIitmMark(url)) noteRuntimeImport(result);
  return appLoad(url, result);
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
      return appGlobalsResolve(specifier, context) ?? decide(specifier, context, nextResolve(specifier, context));
    },
    load(url: string, context: unknown, nextLoad: (u: string, c?: unknown) => LoadResult) {
      if (appGlobals && url.startsWith(APP_GLOBALS_SPECIFIER)) return appGlobalsLoad(url, undefined)!;
      const facade = facadeLoad(url);
      if (facade) return facade;
      const marked = parseInstrumentedURL(url);
      if (marked !== undefined) return instrumentedLoad(marked, nextLoad(marked, instrumentedRequest(marked, context)));
      const result = typeScriptToCommonJsLoader(nextLoad(url, context), context, true);
      if (hasIitmMark(url)) noteRuntimeImport(result);
      return appLoad(url, result);
    },
  };
}

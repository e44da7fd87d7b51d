/**
 * What a module record needs from the runtime while it runs inside a compartment:
 * Node-accurate resolution with the package's policy applied, and the place to load
 * the result from. The main-thread runtime implements it.
 */
import type { PackageInfo } from '../graph/package-map.js';
import type { ResolveKind } from '../graph/resolve.js';
import type { ModuleCache } from '../cache/module-cache.js';
import type { ViewOwner } from '../confine/export-views.js';

export interface CompartmentLike {
  evaluate(source: string, options?: Record<string, unknown>): unknown;
  importNow(specifier: string): Record<string, unknown>;
  import(specifier: string): Promise<Record<string, unknown>>;
}

export interface CjsModule {
  exports: unknown;
  loaded: boolean;
}

export interface ModuleContext {
  /** The package a compartment location (file URL with trailing slash) belongs to. */
  packageAt(location: string): PackageInfo;
  /**
   * Resolves `specifier` from the module at `parentPath` in package `from`, denies what
   * the policy does not grant, and returns the specifier to load in `from`'s compartment.
   */
  link(from: PackageInfo, specifier: string, parentPath: string, kind: ResolveKind): LinkTarget;
  /** CommonJS modules by URL, so `require` follows Node's caching and cycles exactly. */
  cjsRegistry: Map<string, CjsModule>;
  /** The file that first required each file, for Node's require stack in errors. */
  requireParents: Map<string, string>;
  /** `filename`, the file that required it, and so on (Node's require stack). */
  requireStack(filename: string): string[];
  /** URL of the process's entry point when it is a dependency's module (a bin). */
  mainURL: string | undefined;
  /** That module's `module` object once it runs: `require.main` everywhere. */
  mainModule: CjsModule | undefined;
  /** `require()` of a module of the trusted app (a `kind: 'app'` link): Node loads it natively. */
  requireAppModule(url: string): unknown;
  /** Whether package `info` may load native addons (denies with a helpful error if not). */
  assertNative(info: PackageInfo, file: string): void;
  /** Compiled modules from earlier runs, if caching is on. */
  cache: ModuleCache | undefined;
  /**
   * Runs (and returns) the CommonJS module at `target` in its package's compartment, for
   * `require` from CommonJS; undefined when the file is not CommonJS.
   */
  requireCommonJs(target: { url: string; path: string }): CjsModule | undefined;
  /**
   * Throws unless `compartment` is package `info`'s own: a module record of the runtime's
   * (CommonJS, JSON, addon) runs only there. A child compartment's `{ source }` module
   * descriptor instantiates a record of its parent's in the child, whose globals and
   * hooks the package that made it chooses (docs/attacks.md, case 211).
   */
  assertOwnCompartment(info: PackageInfo, compartment: unknown, file: string): void;
  /** Adds the policy hint to errors that reach the runtime. */
  explain(error: unknown, info: PackageInfo): void;
  /**
   * What a `require(request)` from `requirer` returns once the module it loaded has
   * loaded, `exports` being that module's: what the require hooks of preloaded
   * instrumentation make of it, as Node's `require` would (confine/require-chain.ts).
   */
  requireHooks(request: string, requirer: string, exports: unknown): unknown;
  /** Set only when recording (confine/usage.ts): an ES module's source, for its named imports of builtins. */
  noteEsmSource?: ((info: PackageInfo, source: string) => void) | undefined;
}

/**
 * `view` (strict mode): the importer gets read-only views of what the target exports,
 * whose owner this is (confine/export-views.ts); unset when it gets the exports
 * themselves (its own package, a package its policy grants "write", or strict mode off).
 */
export type LinkTarget =
  | { kind: 'builtin'; specifier: string; name: string }
  | { kind: 'file'; specifier: string; url: string; path: string; view?: ViewOwner }
  /** A module of the trusted app, which runs natively (confine/app-modules.ts). */
  | { kind: 'app'; specifier: string; url: string; path: string; view?: ViewOwner };

/** The record SES links for an ES module (the shape @endo/module-source makes). */
export interface PrecompiledRecord {
  imports: string[];
  exports: string[];
  reexports: string[];
  __syncModuleProgram__: string;
  __liveExportMap__: Record<string, unknown>;
  __reexportMap__: Record<string, unknown>;
  __fixedExportMap__: Record<string, unknown>;
  __needsImport__: boolean;
  __needsImportMeta__: boolean;
  /**
   * The module awaits at its top level: its program is an async function, and the
   * runtime's patched SES module instances evaluate it as an async module.
   */
  __hasTopLevelAwait__?: boolean;
}

/**
 * The analysis's public shape: what `analyseModule` returns for one module (its imports,
 * with the members of builtin modules it uses; the globals it reaches; its warnings), and
 * the version that keys the parse cache. The result is plain JSON so that the cache can
 * store it as is and worker threads can send it back unchanged.
 */

/** Bump whenever the output of {@link analyseModule} can change for the same input. */
export const ANALYSER_VERSION = 12;

export type ModuleFormat = 'module' | 'commonjs';

/**
 * `presence`: only tested (`typeof x`), satisfied by any grant of the path or below it;
 * `redefine`: defined with `Object.defineProperty(globalThis, 'x', ...)`.
 */
export type GlobalAccess = 'read' | 'write' | 'presence' | 'redefine';

/**
 * `resolve`: require.resolve(); `import-resolve`: import.meta.resolve() (the loader checks
 * both, loads neither); `file`: a script of the module's own package named by a path
 * (`join(__dirname, 'lib', 'worker.js')`, `new URL('./worker.js', import.meta.url)`,
 * `__dirname + '/worker.js'`, `import.meta.url + '/../worker.js'`): how
 * worker threads and child processes are started, so it is analysed too.
 */
export type ImportKind = 'import' | 'require' | 'resolve' | 'import-resolve' | 'file';

export interface GlobalUse {
  /** Dotted path as granted: a global and at most one member (`process.env`). */
  path: string;
  access: GlobalAccess;
  line: number;
  column: number;
  /** The longer path the code used, when it was shortened (`process.env.HOME`). */
  full?: string;
}

/**
 * The code changes the object global at `path` (`process.env.X = 1`, `delete env.X`,
 * `Object.assign(process.env, ...)`: `changes`), or hands it to a function that may
 * (`passed`): strict mode grants it `"write"` (analyse/mutations.ts). `path` is the path
 * as granted, which the code reads too.
 */
export interface GlobalChange {
  path: string;
  kind: 'changes' | 'passed';
  line: number;
  column: number;
  full?: string;
}

export interface ImportUse {
  /** Member path inside the module (`['promises', 'readFile']`); empty for the whole module. */
  path: string[];
  line: number;
  column: number;
}

export interface ImportRecord {
  specifier: string;
  kind: ImportKind;
  line: number;
  column: number;
  /**
   * For builtin modules, the members the module uses; for an ES import of a relative
   * specifier (a module of the same package), the paths it uses of that module's exports,
   * which are globals if the export is the global object (`globalExports`).
   */
  uses?: ImportUse[];
  /** Inside a `try` block: the code expects that it may fail (an optional dependency). */
  optional?: true;
  /**
   * The code changes what it imports (`moment.fn.tz = ...`): for another package, strict
   * mode grants it `"write"` (analyse/mutations.ts).
   */
  mutates?: true;
}

/**
 * What a warning is about, which decides what it costs at run time (see
 * ../warnings.ts): `dynamic-load`, `dynamic-global` and `runtime-code` hide uses the
 * policy then lacks; `frozen-intrinsic` and `sloppy` fail under the loader whatever the
 * policy says; `unparsed` is a module with no analysis at all; `esm-detected` and
 * `typescript-transform` are about how Node runs the file.
 */
export type AnalysisWarningKind =
  | 'dynamic-load'
  | 'dynamic-global'
  | 'runtime-code'
  | 'frozen-intrinsic'
  | 'sloppy'
  | 'unparsed'
  | 'esm-detected'
  | 'typescript-transform';

export interface AnalysisWarning {
  kind: AnalysisWarningKind;
  message: string;
  line: number;
  column: number;
}

export interface ModuleAnalysis {
  imports: ImportRecord[];
  globals: GlobalUse[];
  /** Object globals the module changes (strict mode's `"write"`); absent when none. */
  globalChanges?: GlobalChange[];
  warnings: AnalysisWarning[];
  /**
   * ES module exports whose value is the global object (engine.io-client's `export const
   * globalThisShim = global`): what the package's modules that import them use through
   * them is globals (generate/index.ts). Absent when none.
   */
  globalExports?: string[];
  /** The module could not be read as code (an `unparsed` warning says why): it yields nothing. */
  failed?: true;
  /**
   * Names passed to a require helper (`util.inquire('buffer')`, `@protobufjs/inquire`):
   * the helper requires them from its own package (generate/index.ts). Absent when none.
   */
  helperLoads?: HelperLoad[];
}

export interface HelperLoad {
  /** The helper package (its `name`), which does the `require`. */
  helper: string;
  specifier: string;
  line: number;
  column: number;
}

/**
 * The analysis's public shape: what `analyseModule` returns for one module (its imports,
 * with the members of builtin modules it uses; the globals it reaches; its warnings), and
 * the version that keys the parse cache. The result is plain JSON so that the cache can
 * store it as is and worker threads can send it back unchanged.
 */

/** Bump whenever the output of {@link analyseModule} can change for the same input. */
export const ANALYSER_VERSION = 6;

export type ModuleFormat = 'module' | 'commonjs';

/**
 * `presence`: only tested (`typeof x`), satisfied by any grant of the path or below it;
 * `redefine`: defined with `Object.defineProperty(globalThis, 'x', ...)`.
 */
export type GlobalAccess = 'read' | 'write' | 'presence' | 'redefine';

/**
 * `resolve`: require.resolve(); `import-resolve`: import.meta.resolve() (the loader checks
 * both, loads neither); `file`: a script of the module's own package named by a path
 * (`join(__dirname, 'lib', 'worker.js')`, `new URL('./worker.js', import.meta.url)`): how
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
  /** For builtin modules only: the members the module uses. */
  uses?: ImportUse[];
  /** Inside a `try` block: the code expects that it may fail (an optional dependency). */
  optional?: true;
}

export interface AnalysisWarning {
  message: string;
  line: number;
  column: number;
}

export interface ModuleAnalysis {
  imports: ImportRecord[];
  globals: GlobalUse[];
  warnings: AnalysisWarning[];
}

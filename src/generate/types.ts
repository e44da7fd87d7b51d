/** The generator's options, results and errors (index.ts walks the graph). */
import type { IncludeEntry, LavaMoatPolicy } from '../policy/types.js';
import type { AnalysisCache } from './cache.js';
import type { ResourceDebug } from './policy.js';
import type { GenerateWarning } from './warnings.js';

export interface GenerateOptions {
  /** Project root: the directory of the app's package.json. */
  root: string;
  /** Entry modules (absolute, or relative to the working directory). */
  entries: string[];
  /** Include the root's devDependencies in the package map. */
  dev?: boolean;
  /** Parse cache; undefined to analyse everything. */
  cache?: AnalysisCache;
  /** `root.usePolicy`: the resource that confines the root package (the root gets none otherwise). */
  usePolicy?: string;
  /** `include` entries: packages (and modules) walked even if no static import reaches them. */
  include?: IncludeEntry[];
  /** Worker threads for parsing (0: all on the main thread); default one per spare core. */
  jobs?: number;
  /** Record where each grant comes from (for policy-debug.json); default true. */
  evidence?: boolean;
  /**
   * Walk the modules of this package only (by canonical name): the loads of other
   * packages are granted but not followed (`lavamoat explain`, which starts from the
   * package's entry modules through `include`).
   */
  only?: string;
  /**
   * Strict mode (config `strict`): grant `"write"` where the code changes an object
   * global (`process.env`) or another package's exports (analyse/mutations.ts).
   */
  strict?: boolean;
  /** Called after each module, for progress display. */
  onProgress?: (progress: { modules: number; pending: number }) => void;
}

export interface GenerateStats {
  modules: number;
  packages: number;
  grants: number;
  warnings: number;
  parsed: number;
  cached: number;
  ms: number;
}

export interface PolicyDebug {
  resources: LavaMoatPolicy['resources'];
  debugInfo: Record<string, ResourceDebug>;
  warnings: GenerateWarning[];
}

export interface GenerateResult {
  /** `resources` only; the caller adds `root`, `include`, ... from the existing policy. */
  policy: LavaMoatPolicy;
  debug: PolicyDebug;
  warnings: GenerateWarning[];
  stats: GenerateStats;
}

export class GenerateError extends Error {
  readonly code = 'LAVAMOAT_GENERATE';
}

/**
 * The app's own modules (or an entry) could not be analysed: a policy made without
 * them would lack whatever they lead to, so there is none.
 */
export class AppAnalysisError extends GenerateError {
  constructor(readonly failures: GenerateWarning[]) {
    super(
      `LavaMoat: cannot analyse the app's own code, so no policy was generated:\n` +
        failures.map((f) => `  ${f.file}:${f.line}:${f.column} ${f.message}`).join('\n'),
    );
  }
}

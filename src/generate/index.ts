/**
 * Policy generation: walks the module graph the runtime loads, from the entry points,
 * with the runtime's own resolver and package map, analyses every JavaScript module,
 * and turns what each package uses into its LavaMoat resource policy.
 *
 * The graph is the one Node loads: ESM imports (`import`, `export ... from`, literal
 * `import()`) resolve with the `import` conditions, `require()` and `require.resolve()`
 * with the `require` ones, JSON modules are part of the graph, `.node` addons mark
 * their package `native`. Every file belongs to the package `PackageMap.packageForPath`
 * says, under the same canonical name the runtime uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildPackageMap, PackageMap, ROOT_NAME, type PackageInfo } from '../package-map.js';
import { formatOf, resolveSpecifier, type Resolved, type ResolveKind } from '../resolve.js';
import type { IncludeEntry, LavaMoatPolicy } from '../policy/types.js';
import { analyseModule, type ModuleAnalysis, type ModuleFormat } from './analyse.js';
import { AnalysisCache, cacheKey } from './cache.js';
import { builtinKey } from './builtin-members.js';
import { buildResources, PackageUsage, type Evidence, type ResourceDebug } from './policy.js';

export { ANALYSER_VERSION, analyseModule } from './analyse.js';
export type { ModuleAnalysis, GlobalUse, ImportRecord, AnalysisWarning } from './analyse.js';
export { stringifyPolicy, sortKeys } from './policy.js';
export { AnalysisCache, defaultCacheDir } from './cache.js';

/** Packages that find and load a `.node` addon for their caller. */
const ADDON_LOADERS = new Set([
  'bindings',
  'node-gyp-build',
  'node-gyp-build-optional-packages',
  '@mapbox/node-pre-gyp',
  'node-pre-gyp',
]);

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
  /** Called after each module, for progress display. */
  onProgress?: (progress: { modules: number; pending: number }) => void;
}

export interface GenerateWarning {
  /** Canonical name of the package whose code is concerned, when it belongs to one. */
  package?: string;
  file: string;
  line: number;
  column: number;
  message: string;
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

const decoder = new TextDecoder();

interface QueueItem {
  file: string;
}

export class GenerateError extends Error {
  readonly code = 'LAVAMOAT_GENERATE';
}

export function generatePolicy(options: GenerateOptions): GenerateResult {
  const started = performance.now();
  const packageMap = new PackageMap(buildPackageMap(options.root, { includeDev: options.dev ?? false }));
  const root = packageMap.data.root;
  const rel = (file: string): string => {
    const r = path.relative(root, file);
    return r.startsWith('..') || path.isAbsolute(r) ? file : r.split(path.sep).join('/');
  };
  const where = (file: string, line: number, column: number): Evidence => `${rel(file)}:${line}:${column}`;

  const usages = new Map<string, PackageUsage>();
  const usageOf = (info: PackageInfo): PackageUsage => {
    let usage = usages.get(info.name);
    if (!usage) {
      usage = new PackageUsage();
      usages.set(info.name, usage);
    }
    return usage;
  };
  const warnings: GenerateWarning[] = [];
  const warn = (info: PackageInfo | undefined, file: string, line: number, column: number, message: string): void => {
    warnings.push({
      ...(info && info.name !== ROOT_NAME ? { package: info.name } : {}),
      file: rel(file),
      line,
      column,
      message,
    });
  };

  const seen = new Set<string>();
  const queue: QueueItem[] = [];
  const enqueue = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    queue.push({ file });
  };
  for (const entry of options.entries) {
    const absolute = path.resolve(entry);
    let real: string;
    try {
      real = fs.realpathSync(absolute);
    } catch {
      throw new GenerateError(`LavaMoat: entry ${entry} not found`);
    }
    if (!fs.statSync(real).isFile()) throw new GenerateError(`LavaMoat: entry ${entry} is not a file`);
    if (!packageMap.packageForPath(real)) {
      throw new GenerateError(
        `LavaMoat: entry ${entry} belongs to no package of the project at ${root} (outside it, or in an undeclared dependency); use --root`,
      );
    }
    enqueue(real);
  }
  for (const file of includedFiles(options.include ?? [], packageMap, root)) enqueue(file);

  const resolveCache = new Map<string, Resolved | Error>();
  const resolve = (specifier: string, parent: string, kind: ResolveKind): Resolved => {
    const key = `${kind}\0${path.dirname(parent)}\0${specifier}`;
    let result = resolveCache.get(key);
    if (result === undefined) {
      try {
        result = resolveSpecifier(specifier, parent, kind);
      } catch (error) {
        result = error instanceof Error ? error : new Error(String(error));
      }
      resolveCache.set(key, result);
    }
    if (result instanceof Error) throw result;
    return result;
  };

  let parsed = 0;
  const cache = options.cache;
  for (let index = 0; index < queue.length; index += 1) {
    const { file } = queue[index]!;
    const owner = packageMap.packageForPath(file)!;
    const usage = usageOf(owner);
    usage.modules.add(rel(file));
    const format = formatOf(file);
    if (format === 'json') continue;
    if (format === 'addon') {
      usage.native.add(`${rel(file)} (addon)`);
      continue;
    }
    if (format === 'wasm') {
      warn(owner, file, 1, 1, 'WebAssembly modules are not supported in compartments: the loader cannot run this module');
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (error) {
      warn(owner, file, 1, 1, `cannot read: ${(error as Error).message}`);
      continue;
    }
    const jsFormat: ModuleFormat = format;
    let analysis: ModuleAnalysis | undefined;
    const key = cache ? cacheKey(bytes, jsFormat) : '';
    if (cache) analysis = cache.get(key);
    if (!analysis) {
      analysis = analyseModule(decoder.decode(bytes), jsFormat);
      parsed += 1;
      cache?.set(key, analysis);
    }

    for (const w of analysis.warnings) warn(owner, file, w.line, w.column, w.message);
    for (const g of analysis.globals) {
      usage.addGlobal(g.path, g.access, where(file, g.line, g.column) + (g.full ? ` ${g.full}` : ''));
    }
    for (const record of analysis.imports) {
      const kind: ResolveKind = record.kind === 'import' ? 'import' : 'require';
      let resolved: Resolved;
      try {
        resolved = resolve(record.specifier, file, kind);
      } catch (error) {
        warn(
          owner,
          file,
          record.line,
          record.column,
          `cannot resolve '${record.specifier}' (${(error as { code?: string }).code ?? 'error'}): ${(error as Error).message}` +
            '; if the code tolerates its absence (an optional dependency) this is expected',
        );
        continue;
      }
      if (resolved.kind === 'builtin') {
        const uses = record.uses ?? [{ path: [], line: record.line, column: record.column }];
        for (const use of uses) {
          const key = builtinKey(resolved.name, use.path);
          const full = use.path.length > 0 ? `${resolved.name}.${use.path.join('.')}` : resolved.name;
          usage.addBuiltin(key, where(file, use.line, use.column) + (full !== key ? ` ${full}` : ''));
        }
        continue;
      }
      const target = packageMap.packageForPath(resolved.path);
      const evidence = `${where(file, record.line, record.column)} ${record.kind} '${record.specifier}'`;
      if (!target) {
        warn(
          owner,
          file,
          record.line,
          record.column,
          `'${record.specifier}' resolves to ${rel(resolved.path)}, which belongs to no package in the dependency tree ` +
            '(an undeclared dependency, or a file outside the project): the loader refuses to load it',
        );
        continue;
      }
      if (target !== owner) {
        if (target.name === ROOT_NAME) {
          warn(
            owner,
            file,
            record.line,
            record.column,
            `'${record.specifier}' loads ${rel(resolved.path)}, a file of the app itself: a dependency may not load the app's files, so the loader refuses it`,
          );
          continue;
        }
        usage.addPackage(target.name, evidence);
        if (ADDON_LOADERS.has(target.packageName)) usage.native.add(`${evidence} (addon loader)`);
      }
      enqueue(resolved.path);
    }
    options.onProgress?.({ modules: index + 1, pending: queue.length - index - 1 });
  }

  const { resources, debug, grants } = buildResources(usages, ROOT_NAME, options.usePolicy);
  warnings.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
  const packagesSeen = [...usages.keys()].filter((name) => name !== ROOT_NAME).length;
  return {
    policy: { resources },
    debug: { resources, debugInfo: debug, warnings },
    warnings,
    stats: {
      modules: seen.size,
      packages: packagesSeen,
      grants,
      warnings: warnings.length,
      parsed,
      cached: cache ? cache.hits : 0,
      ms: performance.now() - started,
    },
  };
}

/**
 * Files named by `include` entries: a package's entry module (as `require` and
 * `import` of its name would find it) and any `modules` listed, relative to it.
 */
function includedFiles(include: IncludeEntry[], packageMap: PackageMap, root: string): string[] {
  const files: string[] = [];
  for (const entry of include) {
    let info: PackageInfo | undefined;
    let modules: string[] | undefined;
    if (typeof entry === 'string') info = packageMap.byName.get(entry);
    else if ('name' in entry) {
      info = packageMap.byName.get(entry.name);
      modules = entry.modules;
    } else {
      const dir = path.resolve(root, entry.location);
      try {
        info = packageMap.byDir.get(fs.realpathSync(dir));
      } catch {
        info = undefined;
      }
      modules = entry.modules;
    }
    if (!info) continue;
    if (modules && modules.length > 0) {
      for (const m of modules) {
        const file = path.resolve(info.dir, m);
        try {
          files.push(fs.realpathSync(file));
        } catch {
          // A missing module is reported by nothing: include is a hint.
        }
      }
      continue;
    }
    const manifestPath = path.join(info.dir, 'package.json');
    for (const kind of ['import', 'require'] as const) {
      try {
        // `import` finds the entry through self-reference ("exports"); `require` of the directory through "main".
        const specifier = kind === 'import' ? info.packageName : info.dir;
        const resolved = resolveSpecifier(specifier, manifestPath, kind);
        if (resolved.kind === 'file' && packageMap.packageForPath(resolved.path) === info) files.push(resolved.path);
      } catch {
        // A package without an entry for this kind of load.
      }
    }
  }
  return files;
}

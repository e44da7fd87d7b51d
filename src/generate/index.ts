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
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildPackageMap, PackageMap, ROOT_NAME, type PackageInfo } from '../graph/package-map.js';
import { formatOf, resolveSpecifier, type Resolved, type ResolveKind } from '../graph/resolve.js';
import type { IncludeEntry, LavaMoatPolicy } from '../policy/types.js';
import { analyseModule, type ModuleAnalysis, type ModuleFormat } from './analyse/index.js';
import { AnalysisCache, cacheKey, type CachedResolution } from './cache.js';
import { builtinKey } from './builtin-members.js';
import { buildResources, PackageUsage, type Evidence, type ResourceDebug } from './policy.js';
import { AnalysisPool, defaultJobs, type PoolResult } from './pool.js';

/** Cache misses before the worker pool starts: small graphs are done before it would be up. */
const POOL_THRESHOLD = 24;

export { ANALYSER_VERSION, analyseModule } from './analyse/index.js';
export type { ModuleAnalysis, GlobalUse, ImportRecord, AnalysisWarning } from './analyse/index.js';
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
  /** Worker threads for parsing (0: all on the main thread); default one per spare core. */
  jobs?: number;
  /** Record where each grant comes from (for policy-debug.json); default true. */
  evidence?: boolean;
  /** Called after each module, for progress display. */
  onProgress?: (progress: { modules: number; pending: number }) => void;
}

export interface GenerateWarning {
  /** Canonical name of the package whose code is concerned, when it belongs to one. */
  package?: string;
  /** `info`: expected, such as an optional dependency (a require in a try block) that is not installed. */
  level?: 'info';
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

export async function generatePolicy(options: GenerateOptions): Promise<GenerateResult> {
  const started = performance.now();
  const packageMap = new PackageMap(buildPackageMap(options.root, { includeDev: options.dev ?? false }));
  const root = packageMap.data.root;
  const rel = (file: string): string => {
    const r = path.relative(root, file);
    return r.startsWith('..') || path.isAbsolute(r) ? file : r.split(path.sep).join('/');
  };
  const withEvidence = options.evidence ?? true;

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
  const warn = (info: PackageInfo | undefined, file: string, line: number, column: number, message: string, level?: 'info'): void => {
    warnings.push({
      ...(info && info.name !== ROOT_NAME ? { package: info.name } : {}),
      ...(level ? { level } : {}),
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

  // Resolution: cached for the run by importing directory; and, for modules of installed
  // packages (not the app's own files, not linked or workspace packages, which change
  // under the user's hands), across runs while the dependency tree stays the same.
  const cache = options.cache;
  cache?.useTree(treeFingerprint(packageMap));
  const resolveCache = new Map<string, Resolved | Error>();
  const resolve = (specifier: string, parent: string, kind: ResolveKind, persist: boolean): Resolved => {
    const key = `${kind}\0${path.dirname(parent)}\0${specifier}`;
    let result = resolveCache.get(key);
    if (result === undefined) {
      const cached = persist ? cache?.getResolution(key) : undefined;
      if (cached) {
        result = fromCachedResolution(cached);
      } else {
        try {
          result = resolveSpecifier(specifier, parent, kind);
        } catch (error) {
          result = error instanceof Error ? error : new Error(String(error));
        }
        if (persist) cache?.setResolution(key, toCachedResolution(result));
      }
      resolveCache.set(key, result);
    }
    if (result instanceof Error) throw result;
    return result;
  };

  let parsed = 0;
  let processed = 0;
  const jobs = options.jobs ?? defaultJobs();
  let pool: AnalysisPool | undefined;
  let misses = 0;
  let poolFailed = false;
  const sent = new Map<number, { file: string; format: ModuleFormat; key: string }>();

  /** What each module uses, into its package's usage; its imports into the queue. */
  const processModule = (file: string, analysis: ModuleAnalysis): void => {
    const owner = packageMap.packageForPath(file)!;
    const usage = usageOf(owner);
    const relFile = rel(file);
    const persist = owner.name !== ROOT_NAME && owner.dir.includes(`${path.sep}node_modules${path.sep}`);
    const where = withEvidence
      ? (line: number, column: number, detail?: string): Evidence => `${relFile}:${line}:${column}${detail ? ` ${detail}` : ''}`
      : (): Evidence => '';
    for (const w of analysis.warnings) warn(owner, file, w.line, w.column, w.message);
    for (const g of analysis.globals) usage.addGlobal(g.path, g.access, where(g.line, g.column, g.full));
    for (const record of analysis.imports) {
      if (record.kind === 'file') {
        // A script of the same package started by path (a worker): analysed as one of its
        // modules. Only the package's own files, and only if they are there.
        const script = path.resolve(path.dirname(file), record.specifier);
        let real: string;
        try {
          real = fs.realpathSync(script);
          if (!fs.statSync(real).isFile()) continue;
        } catch {
          continue;
        }
        if (packageMap.packageForPath(real) === owner) enqueue(real);
        continue;
      }
      const kind: ResolveKind = record.kind === 'import' || record.kind === 'import-resolve' ? 'import' : 'require';
      let resolved: Resolved;
      try {
        resolved = resolve(record.specifier, file, kind, persist);
      } catch (error) {
        warn(
          owner,
          file,
          record.line,
          record.column,
          record.optional
            ? `optional module '${record.specifier}' is not installed (required in a try block): ${(error as Error).message}`
            : `cannot resolve '${record.specifier}' (${(error as { code?: string }).code ?? 'error'}): ${(error as Error).message}` +
                '; if the code tolerates its absence (an optional dependency) this is expected',
          record.optional ? 'info' : undefined,
        );
        continue;
      }
      if (resolved.kind === 'builtin') {
        const uses = record.uses ?? [{ path: [], line: record.line, column: record.column }];
        for (const use of uses) {
          const key = builtinKey(resolved.name, use.path);
          const full = use.path.length > 0 ? `${resolved.name}.${use.path.join('.')}` : resolved.name;
          usage.addBuiltin(key, where(use.line, use.column, full !== key ? full : undefined));
        }
        continue;
      }
      const target = packageMap.packageForPath(resolved.path);
      const evidence = where(record.line, record.column, `${record.kind} '${record.specifier}'`);
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
        if (ADDON_LOADERS.has(target.packageName)) usage.native.add(withEvidence ? `${evidence} (addon loader)` : '');
      }
      enqueue(resolved.path);
    }
    processed += 1;
    options.onProgress?.({ modules: processed, pending: queue.length - processed });
  };

  /** JSON, addons and unreadable files are done here; JavaScript is a cache hit or a miss. */
  type Prepared = { kind: 'done' } | { kind: 'hit'; analysis: ModuleAnalysis } | { kind: 'miss'; format: ModuleFormat; key: string; bytes?: Buffer };
  const prepare = (file: string): Prepared => {
    const owner = packageMap.packageForPath(file)!;
    const usage = usageOf(owner);
    const relFile = rel(file);
    usage.modules.add(relFile);
    const format = formatOf(file);
    const done = (): Prepared => {
      processed += 1;
      return { kind: 'done' };
    };
    if (format === 'json') return done();
    if (format === 'addon') {
      usage.native.add(withEvidence ? `${relFile} (addon)` : '');
      return done();
    }
    if (format === 'wasm') {
      warn(owner, file, 1, 1, 'WebAssembly modules are not supported in compartments: the loader cannot run this module');
      return done();
    }
    if (!cache) return { kind: 'miss', format, key: '' };
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (error) {
      warn(owner, file, 1, 1, `cannot read: ${(error as Error).message}`);
      return done();
    }
    const key = cacheKey(bytes, format);
    const analysis = cache.get(key);
    return analysis ? { kind: 'hit', analysis } : { kind: 'miss', format, key, bytes };
  };

  const analyseHere = (file: string, format: ModuleFormat, key: string, bytes?: Buffer): ModuleAnalysis | undefined => {
    let text: string;
    try {
      text = decoder.decode(bytes ?? fs.readFileSync(file));
    } catch (error) {
      warn(packageMap.packageForPath(file), file, 1, 1, `cannot read: ${(error as Error).message}`);
      processed += 1;
      return undefined;
    }
    const analysis = analyseModule(text, format);
    parsed += 1;
    cache?.set(key, analysis);
    return analysis;
  };

  const answered = (result: PoolResult): void => {
    const request = sent.get(result.id)!;
    sent.delete(result.id);
    let analysis = result.analysis;
    if (analysis) {
      parsed += 1;
      cache?.set(request.key, analysis);
    } else {
      analysis = analyseHere(request.file, request.format, request.key);
    }
    if (analysis) processModule(request.file, analysis);
  };

  let index = 0;
  try {
    while (index < queue.length || sent.size > 0) {
      for (let result = pool?.poll(); result; result = pool?.poll()) answered(result);
      if (index >= queue.length) {
        // Nothing left to send: wait for a worker, unless the answers just taken were the last.
        if (sent.size > 0) answered(await pool!.next());
        continue;
      }
      const { file } = queue[index]!;
      index += 1;
      const prepared = prepare(file);
      if (prepared.kind === 'done') continue;
      if (prepared.kind === 'hit') {
        processModule(file, prepared.analysis);
        continue;
      }
      misses += 1;
      // Workers pay for themselves on big graphs only.
      if (!pool && !poolFailed && jobs > 0 && misses >= POOL_THRESHOLD) {
        try {
          pool = new AnalysisPool(jobs);
        } catch {
          // No threads here (a restricted environment): the main thread does it all.
          poolFailed = true;
        }
      }
      const id = pool?.trySend(file, prepared.format);
      if (id !== undefined) {
        sent.set(id, { file, format: prepared.format, key: prepared.key });
        continue;
      }
      const analysis = analyseHere(file, prepared.format, prepared.key, prepared.bytes);
      if (analysis) processModule(file, analysis);
      // Let the workers' answers in (they arrive as events), so that they get more work.
      if (pool) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    await pool?.close();
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
      warnings: warnings.filter((w) => w.level !== 'info').length,
      parsed,
      cached: cache ? cache.hits : 0,
      ms: performance.now() - started,
    },
  };
}

/**
 * What the installed dependency tree is: the packages of the map (directory and version),
 * the root's package.json, and the lockfiles and install markers package managers
 * rewrite on every install. Persisted resolutions are dropped when it changes.
 */
function treeFingerprint(packageMap: PackageMap): string {
  const hash = crypto.createHash('sha256');
  for (const info of packageMap.data.packages) hash.update(`${info.name}\0${info.dir}\0${info.version}\n`);
  const root = packageMap.data.root;
  try {
    hash.update(fs.readFileSync(path.join(root, 'package.json')));
  } catch {
    hash.update('no package.json');
  }
  for (const name of [
    'package-lock.json',
    'npm-shrinkwrap.json',
    'yarn.lock',
    'pnpm-lock.yaml',
    'node_modules/.package-lock.json',
    'node_modules/.modules.yaml',
    'node_modules/.yarn-state.yml',
  ]) {
    try {
      const stat = fs.statSync(path.join(root, name));
      hash.update(`${name}\0${stat.size}\0${stat.mtimeMs}\n`);
    } catch {
      hash.update(`${name}\0-\n`);
    }
  }
  return hash.digest('base64url');
}

function toCachedResolution(result: Resolved | Error): CachedResolution {
  if (result instanceof Error) return { e: (result as { code?: string }).code ?? 'ERR', m: result.message };
  return result.kind === 'builtin' ? { b: result.name } : { f: result.path };
}

function fromCachedResolution(cached: CachedResolution): Resolved | Error {
  if ('b' in cached) return { kind: 'builtin', name: cached.b };
  if ('f' in cached) return { kind: 'file', path: cached.f, url: pathToFileURL(cached.f).href };
  return Object.assign(new Error(cached.m), { code: cached.e });
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
    else if (entry === null || typeof entry !== 'object') continue;
    else if ('name' in entry && typeof entry.name === 'string') {
      info = packageMap.byName.get(entry.name);
      modules = entry.modules;
    } else if ('location' in entry && typeof entry.location === 'string') {
      const dir = path.resolve(root, entry.location);
      try {
        info = packageMap.byDir.get(fs.realpathSync(dir));
      } catch {
        info = undefined;
      }
      modules = entry.modules;
    }
    if (!info) continue;
    if (Array.isArray(modules) && modules.length > 0) {
      for (const m of modules) {
        if (typeof m !== 'string') continue;
        try {
          const file = fs.realpathSync(path.resolve(info.dir, m));
          // Only the package's own modules: `include` cannot pull in another package's files.
          if (fs.statSync(file).isFile() && packageMap.packageForPath(file) === info) files.push(file);
        } catch {
          // A missing module: include is a hint.
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

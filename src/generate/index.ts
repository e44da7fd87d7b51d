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
import { buildPackageMap, PackageMap, ROOT_NAME, type PackageInfo } from '../graph/package-map.js';
import { formatOf, resolveSpecifier, type Resolved, type ResolveKind } from '../graph/resolve.js';
import { analyseModule, isTypeScriptFile, type HelperLoad, type ModuleAnalysis, type ModuleFormat } from './analyse/index.js';
import { AnalysisCache, cacheKey, fromCachedResolution, toCachedResolution, treeFingerprint } from './cache.js';
import { builtinKey } from './builtin-members.js';
import { isProvidedGlobal } from './intrinsics.js';
import { includedFiles } from './include.js';
import { buildResources, PackageUsage, type Evidence } from './policy.js';
import { AnalysisPool, defaultJobs, type PoolResult } from './pool.js';
import type { GenerateWarning, GenerateWarningKind } from './warnings.js';
import { ADDON_LOADERS, holdsAddon, manifestOf, PlatformPackages } from './platform-packages.js';
import { AppAnalysisError, GenerateError, type GenerateOptions, type GenerateResult } from './types.js';

/** Cache misses before the worker pool starts: small graphs are done before it would be up. */
const POOL_THRESHOLD = 24;

export { ANALYSER_VERSION, analyseModule } from './analyse/index.js';
export type { ModuleAnalysis, GlobalUse, ImportRecord, AnalysisWarning } from './analyse/index.js';
export { consequenceOf, fixFor, fixGroup, summaryPhrase, type Consequence, type GenerateWarning, type GenerateWarningKind } from './warnings.js';
export { stringifyPolicy, sortKeys } from './policy.js';
export { AnalysisCache, defaultCacheDir } from './cache.js';
export { AppAnalysisError, GenerateError, type GenerateOptions, type GenerateResult, type GenerateStats, type PolicyDebug } from './types.js';

const decoder = new TextDecoder();

interface QueueItem {
  file: string;
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
  const makeWarning = (
    info: PackageInfo | undefined,
    file: string,
    line: number,
    column: number,
    kind: GenerateWarningKind,
    message: string,
    extra: { level?: 'info'; specifier?: string } = {},
  ): GenerateWarning => ({
    kind,
    ...(info && info.name !== ROOT_NAME ? { package: info.name } : {}),
    ...(extra.level ? { level: extra.level } : {}),
    file: rel(file),
    line,
    column,
    message,
    ...(extra.specifier !== undefined ? { specifier: extra.specifier } : {}),
  });
  const warn = (...args: Parameters<typeof makeWarning>): void => {
    warnings.push(makeWarning(...args));
  };
  // The app's own modules and the entries: one that cannot be analysed stops generation.
  const failures: GenerateWarning[] = [];
  const entryFiles = new Set<string>();
  const isAppModule = (owner: PackageInfo, file: string): boolean => owner.name === ROOT_NAME || entryFiles.has(file);
  const rootConfined = options.usePolicy !== undefined;
  const unreadable = (file: string, error: unknown): void => {
    const owner = packageMap.packageForPath(file)!;
    const warning = makeWarning(owner, file, 1, 1, 'unreadable', `cannot read: ${(error as Error).message}`);
    if (isAppModule(owner, file)) failures.push(warning);
    else warnings.push(warning);
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
    entryFiles.add(real);
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

  // Modules that export the global object, and what the package's modules use of the
  // exports of its own modules: joined once every module is analysed.
  const globalExports = new Map<string, ReadonlySet<string>>();
  const ownModuleUses: Array<{ usage: PackageUsage; target: string; uses: NonNullable<ModuleAnalysis['imports'][number]['uses']>; where: (line: number, column: number, detail?: string) => Evidence }> = [];

  const platformPackages = new PlatformPackages(packageMap);

  /** `info`'s platform packages, granted to `grantee` (the package itself, or its addon loader), and `native` if they hold an addon. */
  const grantPlatformPackages = (info: PackageInfo, grantee: PackageInfo, evidence: Evidence): void => {
    for (const platform of platformPackages.of(info)) {
      usageOf(grantee).addPackage(platform.name, withEvidence ? `${evidence} (platform package of ${info.name})` : '');
      if (holdsAddon(platform.dir)) usageOf(platform).native.add(withEvidence ? `${evidence} (its addon)` : '');
    }
  };
  const platformsSeen = new Set<string>();

  /**
   * An addon loader (`require('node-gyp-build')(__dirname)`, `require('bindings')('x.node')`)
   * requires the addon of the package that calls it, by a path it computes (the caller's
   * `package.json`, then `build/Release/*.node` or `prebuilds/<platform>/*.node`), or the
   * addon of the caller's platform package (node-gyp-build-optional-packages): the loader
   * is granted the caller and its platform packages, what plain node loads on that call.
   */
  const grantAddonLoader = (loader: PackageInfo, caller: PackageInfo, evidence: Evidence): void => {
    usageOf(loader).addPackage(caller.name, withEvidence ? `${evidence} (loads the addon of ${caller.name})` : '');
    grantPlatformPackages(caller, loader, evidence);
  };

  /**
   * `util.inquire('buffer')` in a package that depends on `@protobufjs/inquire`: the helper
   * requires the name from its own module, so it is the helper that plain node lets load
   * it; it is granted what that `require` resolves to there (a builtin module, or a
   * package, which is walked). A name that does not resolve is left out: the helper
   * returns null for it, under the loader as under plain node.
   */
  const grantHelperLoad = (owner: PackageInfo, file: string, load: HelperLoad, where: (line: number, column: number, detail?: string) => Evidence): void => {
    const manifest = manifestOf(owner.dir) as { dependencies?: unknown; optionalDependencies?: unknown; peerDependencies?: unknown } | undefined;
    const declared = [manifest?.dependencies, manifest?.optionalDependencies, manifest?.peerDependencies].some(
      (deps) => typeof deps === 'object' && deps !== null && Object.hasOwn(deps, load.helper),
    );
    if (!declared) return;
    let helperFile: string;
    let resolved: Resolved;
    try {
      const found = resolve(load.helper, file, 'require', false);
      if (found.kind === 'builtin') return;
      helperFile = found.path;
    } catch {
      return;
    }
    const helper = packageMap.packageForPath(helperFile);
    if (!helper || helper === owner || helper.packageName !== load.helper || helper.name === ROOT_NAME) return;
    try {
      resolved = resolve(load.specifier, helperFile, 'require', false);
    } catch {
      return;
    }
    const evidence = where(load.line, load.column, `${load.helper}('${load.specifier}'), which ${helper.name} requires`);
    if (resolved.kind === 'builtin') {
      usageOf(helper).addBuiltin(builtinKey(resolved.name, []), evidence);
      return;
    }
    const target = packageMap.packageForPath(resolved.path);
    if (!target || target.name === ROOT_NAME) return;
    if (target !== helper) usageOf(helper).addPackage(target.name, evidence);
    if (options.only === undefined || target.name === options.only) enqueue(resolved.path);
  };

  /** What each module uses, into its package's usage; its imports into the queue. */
  const processModule = (file: string, analysis: ModuleAnalysis): void => {
    const owner = packageMap.packageForPath(file)!;
    const usage = usageOf(owner);
    const relFile = rel(file);
    const persist = owner.name !== ROOT_NAME && owner.dir.includes(`${path.sep}node_modules${path.sep}`);
    const where = withEvidence
      ? (line: number, column: number, detail?: string): Evidence => `${relFile}:${line}:${column}${detail ? ` ${detail}` : ''}`
      : (): Evidence => '';
    const appModule = isAppModule(owner, file);
    if (owner.name !== ROOT_NAME && !platformsSeen.has(owner.name)) {
      platformsSeen.add(owner.name);
      grantPlatformPackages(owner, owner, withEvidence ? `${rel(path.join(owner.dir, 'package.json'))} optionalDependencies` : '');
    }
    if (analysis.globalExports) globalExports.set(file, new Set(analysis.globalExports));
    for (const w of analysis.warnings) {
      const warning = makeWarning(owner, file, w.line, w.column, w.kind, w.message);
      if (analysis.failed && appModule) failures.push(warning);
      // The app's own code runs natively, as Node runs it, unless the root is confined.
      else if (w.kind === 'sloppy' && owner.name === ROOT_NAME && !rootConfined) continue;
      else warnings.push(warning);
    }
    for (const g of analysis.globals) usage.addGlobal(g.path, g.access, where(g.line, g.column, g.full));
    for (const c of analysis.globalChanges ?? []) {
      usage.addGlobalChange(c.path, c.kind, c.full ?? c.path, where(c.line, c.column, `${c.full ?? c.path} ${c.kind === 'changes' ? '(changed)' : '(passed to a function)'}`));
    }
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
          record.optional ? 'optional-missing' : 'unresolved',
          record.optional
            ? `optional module '${record.specifier}' is not installed (required in a try block): ${(error as Error).message}`
            : `cannot resolve '${record.specifier}' (${(error as { code?: string }).code ?? 'error'}): ${(error as Error).message}` +
                '; if the code tolerates its absence (an optional dependency) this is expected',
          { specifier: record.specifier, ...(record.optional ? { level: 'info' as const } : {}) },
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
          'no-package',
          `'${record.specifier}' resolves to ${rel(resolved.path)}, which belongs to no package in the dependency tree ` +
            '(an undeclared dependency, or a file outside the project): the loader refuses to load it',
        );
        continue;
      }
      if (target === owner && record.uses) ownModuleUses.push({ usage, target: resolved.path, uses: record.uses, where });
      if (target !== owner) {
        if (target.name === ROOT_NAME) {
          warn(
            owner,
            file,
            record.line,
            record.column,
            'app-file',
            `'${record.specifier}' loads ${rel(resolved.path)}, a file of the app itself: a dependency may not load the app's files, so the loader refuses it`,
          );
          continue;
        }
        usage.addPackage(target.name, evidence);
        if (record.mutates) usage.addPackageChange(target.name, `${evidence} (changes its exports)`);
        if (ADDON_LOADERS.has(target.packageName)) {
          usage.native.add(withEvidence ? `${evidence} (addon loader)` : '');
          if (owner.name !== ROOT_NAME) grantAddonLoader(target, owner, evidence);
        }
      }
      if (options.only === undefined || target.name === options.only) enqueue(resolved.path);
    }
    for (const load of analysis.helperLoads ?? []) grantHelperLoad(owner, file, load, where);
    processed += 1;
    options.onProgress?.({ modules: processed, pending: queue.length - processed });
  };

  /** JSON, addons and unreadable files are done here; JavaScript is a cache hit or a miss. */
  type Prepared =
    | { kind: 'done' }
    | { kind: 'hit'; analysis: ModuleAnalysis }
    | { kind: 'miss'; format: ModuleFormat; typescript: boolean; key: string; bytes?: Buffer };
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
      warn(owner, file, 1, 1, 'wasm', 'WebAssembly modules are not supported in compartments: the loader cannot run this module');
      return done();
    }
    // Node runs TypeScript with its types stripped, and so it is analysed; but only the
    // app's own unconfined code runs natively: compartments run JavaScript only (and Node
    // itself refuses to strip types under node_modules).
    const typescript = isTypeScriptFile(file);
    if (typescript && (owner.name !== ROOT_NAME || rootConfined)) {
      warn(
        owner,
        file,
        1,
        1,
        'typescript-dependency',
        `TypeScript in ${owner.name === ROOT_NAME ? 'the app, which root.usePolicy confines' : 'a confined package'}: ` +
          'compartments do not strip types, so this module fails under the loader; build it to JavaScript ' +
          '(its policy is generated from the stripped code all the same)',
      );
    }
    if (!cache) return { kind: 'miss', format, typescript, key: '' };
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (error) {
      unreadable(file, error);
      return done();
    }
    const key = cacheKey(bytes, format, typescript);
    const analysis = cache.get(key);
    return analysis ? { kind: 'hit', analysis } : { kind: 'miss', format, typescript, key, bytes };
  };

  const analyseHere = (file: string, format: ModuleFormat, typescript: boolean, key: string, bytes?: Buffer): ModuleAnalysis | undefined => {
    let text: string;
    try {
      text = decoder.decode(bytes ?? fs.readFileSync(file));
    } catch (error) {
      unreadable(file, error);
      processed += 1;
      return undefined;
    }
    const analysis = analyseModule(text, format, typescript);
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
      analysis = analyseHere(request.file, request.format, false, request.key);
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
      // TypeScript stays on this thread: each worker would pay for loading Node's type
      // stripper (measured: 40 .ts files took 2.2 s on two workers, 0.3-0.5 s here).
      if (!prepared.typescript) misses += 1;
      // Workers pay for themselves on big graphs only.
      if (!pool && !poolFailed && jobs > 0 && misses >= POOL_THRESHOLD) {
        try {
          pool = new AnalysisPool(jobs);
        } catch {
          // No threads here (a restricted environment): the main thread does it all.
          poolFailed = true;
        }
      }
      const id = prepared.typescript ? undefined : pool?.trySend(file, prepared.format);
      if (id !== undefined) {
        sent.set(id, { file, format: prepared.format, key: prepared.key });
        continue;
      }
      const analysis = analyseHere(file, prepared.format, prepared.typescript, prepared.key, prepared.bytes);
      if (analysis) processModule(file, analysis);
      // Let the workers' answers in (they arrive as events), so that they get more work.
      if (pool) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    await pool?.close();
  }
  // `import { globalThisShim as globalThis } from './globals.node.js'`, then
  // `globalThis.setTimeout.bind(...)`: globals, as if read from the global object.
  for (const { usage, target, uses, where } of ownModuleUses) {
    const names = globalExports.get(target);
    if (!names) continue;
    for (const use of uses) {
      if (use.path.length < 2 || !names.has(use.path[0]!)) continue;
      const path = use.path.slice(1);
      if (isProvidedGlobal(path[0]!)) continue;
      let granted = path.length > 2 ? path.slice(0, 2) : path;
      if (granted.length === 2 && ['call', 'apply', 'bind'].includes(granted[1]!)) granted = [path[0]!];
      usage.addGlobal(granted.join('.'), 'read', where(use.line, use.column, `${path.join('.')} (through ${use.path[0]}, the global object)`));
    }
  }
  if (failures.length > 0) {
    failures.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line);
    throw new AppAnalysisError(failures);
  }

  const { resources, debug, grants } = buildResources(usages, ROOT_NAME, options.usePolicy, options.strict === true);
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

/**
 * `lavamoat explain <package> [resource]`: why a package has each grant. Reads the
 * policy and its override (validated and merged as the loader does), the evidence the
 * generator keeps (policy-debug.json), or, without it, runs the generator's analysis
 * (for the package alone, or from `--entry` for the whole app) without writing anything;
 * and walks the dependency tree for the paths that reach the package. The explanation
 * itself is src/report/explain.ts; the text and JSON are src/cli/explain-render.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.js';
import { AnalysisCache, generatePolicy, type GenerateWarning } from '../generate/index.js';
import { buildDependencyGraph, dependentsOf, pathsTo, relativeDir } from '../graph/dependency-paths.js';
import { buildPackageMap, PackageMap, ROOT_NAME, type PackageInfo } from '../graph/package-map.js';
import { loadPolicy, mergePolicy, type LavaMoatPolicy, type LavaMoatPolicyOverride, type ResourcePolicy } from '../policy/index.js';
import { evidenceFromDebug, explainGrants, type EvidenceLookup, type GrantsExplanation } from '../report/explain.js';
import { grantedAncestor, grantId, grantsOf, indexGrants, matchesQuery, parseGrantQuery, type GrantQuery } from '../report/grants.js';
import type { GrantField } from '../report/risk.js';
import { UsageError, type CliArgs } from './args.js';
import { renderExplanation, toJson } from './explain-render.js';
import { displayPath } from './output.js';
import { configFor } from './paths.js';

export interface EvidenceSource {
  /** `policy-debug.json`: the file; `analysis`: computed now; `none`: the package is not installed. */
  kind: 'policy-debug.json' | 'analysis' | 'none';
  file?: string;
  /** `analysis`: the package's own modules from its entry points, or the app's walk from `entry`. */
  scope?: 'package' | 'app';
  entry?: string;
  /** The modules the evidence covers. */
  modules?: string[];
  /** policy-debug.json was written for another policy.json than the one on disk (for this package). */
  stale?: boolean;
  note?: string;
}

export interface DependencyPaths {
  /** The best path, which is the canonical name. */
  canonical: string[];
  /** Other paths by which the app reaches the package, shortest first. */
  others: string[][];
  /** There are more paths than those shown (or the search stopped at its budget). */
  more: boolean;
  /** Packages whose package.json declares it: canonical name (`$root$` for the app), the name and field. */
  declaredBy: { package: string; name: string; field: string }[];
}

export interface Explanation extends GrantsExplanation {
  name: string;
  query?: GrantQuery;
  root: string;
  info?: PackageInfo;
  /** Whether the package has a resource in the merged policy. */
  inPolicy: boolean;
  policyFiles: string[];
  evidenceSource: EvidenceSource;
  paths?: DependencyPaths;
  /** Packages the policy lets load it. */
  grantedTo: string[];
  /** Uses the evidence records that neither policy.json nor the override grants. */
  ungranted: { field: GrantField; key: string; evidence: string[] }[];
  warnings: GenerateWarning[];
  /** The package map was built with devDependencies (asked, or needed to find the package). */
  dev: boolean;
}

const readJson = (file: string): unknown => {
  const text = fs.readFileSync(file, 'utf8');
  return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
};

/** The canonical name `wanted` means: itself, or the one package (in the policy or the tree) of that name. */
function resolveName(wanted: string, policy: LavaMoatPolicy, map: PackageMap): string | undefined {
  if (Object.hasOwn(policy.resources, wanted) || map.byName.has(wanted)) return wanted;
  const candidates = new Set<string>();
  for (const name of [...Object.keys(policy.resources), ...map.byName.keys()]) {
    if (name === ROOT_NAME) continue;
    if (name.slice(name.lastIndexOf('>') + 1) === wanted || map.byName.get(name)?.packageName === wanted) candidates.add(name);
  }
  if (candidates.size > 1) {
    const list = [...candidates].sort();
    throw new UsageError(`'${wanted}' names ${list.length} packages; give the canonical name of one: ${list.join(', ')}`);
  }
  return candidates.size === 1 ? [...candidates][0] : undefined;
}

export async function explainCommand(args: CliArgs, stdout: NodeJS.WritableStream, cwd = process.cwd()): Promise<number> {
  const [wanted, resource] = args.operands!;
  const query = resource === undefined ? undefined : parseGrantQuery(resource);
  const entry = args.entry === undefined ? undefined : path.resolve(cwd, args.entry);
  if (entry !== undefined && !fs.existsSync(entry)) throw new UsageError(`--entry ${args.entry}: no such file`);

  const config = configFor(args, process.env, cwd, entry);
  const root = fs.realpathSync(config.projectRoot);

  const { policy: merged, files } = loadPolicy({ policyPath: config.policyPath, overridePath: config.overridePath });
  // Both files are valid by now (loadPolicy checked them); read as they are written.
  const rawPolicy = readJson(config.policyPath) as LavaMoatPolicy;
  const rawOverride = (files.length > 1 ? readJson(config.overridePath) : {}) as LavaMoatPolicyOverride;
  const base = mergePolicy(rawPolicy);

  let dev = args.dev;
  let map = new PackageMap(buildPackageMap(root, { includeDev: dev }));
  let name = resolveName(wanted!, merged, map);
  if (name === undefined && !dev) {
    // A devDependency's bin has its policy generated with --dev.
    const withDev = new PackageMap(buildPackageMap(root, { includeDev: true }));
    name = resolveName(wanted!, merged, withDev);
    if (name !== undefined) {
      dev = true;
      map = withDev;
    }
  }
  if (name === undefined) {
    throw new UsageError(`no package '${wanted}' in ${displayPath(config.policyPath)} or in the dependency tree of ${displayPath(root)}`);
  }
  const info = map.byName.get(name);
  const inPolicy = Object.hasOwn(merged.resources, name);

  const evidence = await findEvidence({ args, config, root, name, info, entry, dev, rawPolicy, rawOverride });
  const explained = explainGrants({
    base: base.resources[name],
    merged: merged.resources[name],
    override: rawOverride.resources?.[name],
    evidence: evidence.lookup,
    ...(query ? { query } : {}),
  });

  const explanation: Explanation = {
    name,
    ...(query ? { query } : {}),
    root,
    ...(info ? { info } : {}),
    inPolicy,
    policyFiles: files.map(displayPath),
    evidenceSource: evidence.source,
    ...(info && name !== ROOT_NAME ? { paths: dependencyPaths(root, info, map, dev) } : {}),
    grantedTo: Object.keys(merged.resources)
      .filter((other) => merged.resources[other]!.packages?.[name!] === true)
      .sort(),
    ungranted: ungranted(evidence.found, base.resources[name], merged.resources[name], evidence.lookup, query),
    warnings: evidence.warnings.filter((w) => w.package === name && (query === undefined || w.level !== 'info')),
    dev,
    ...explained,
  };
  stdout.write(args.json ? `${JSON.stringify(toJson(explanation), null, 2)}\n` : renderExplanation(explanation, { verbose: args.verbose }));
  return 0;
}

/** How many paths besides the canonical one `explain` lists. */
const OTHER_PATHS = 5;

function dependencyPaths(root: string, info: PackageInfo, map: PackageMap, dev: boolean): DependencyPaths {
  const graph = buildDependencyGraph(root, { includeDev: dev });
  const { paths, truncated } = pathsTo(graph, info.dir, { limit: OTHER_PATHS + 2 });
  const canonical = info.name.split('>');
  const all = paths.filter((p) => p.join('>') !== info.name);
  const others = all.slice(0, OTHER_PATHS);
  const declaredBy = dependentsOf(graph, info.dir)
    .map((d) => ({ package: map.byDir.get(d.dir)?.name ?? relativeDir(root, d.dir), name: d.name, field: d.field }))
    .sort((a, b) => (a.package === ROOT_NAME ? -1 : b.package === ROOT_NAME ? 1 : a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
  return { canonical, others, more: truncated || all.length > others.length, declaredBy };
}

interface FoundEvidence {
  source: EvidenceSource;
  lookup: EvidenceLookup;
  /** The resource the evidence is for (what the generator granted), when known. */
  found?: ResourcePolicy;
  warnings: GenerateWarning[];
}

const none: EvidenceLookup = () => undefined;

async function findEvidence(options: {
  args: CliArgs;
  config: Config;
  root: string;
  name: string;
  info: PackageInfo | undefined;
  entry: string | undefined;
  dev: boolean;
  rawPolicy: LavaMoatPolicy;
  rawOverride: LavaMoatPolicyOverride;
}): Promise<FoundEvidence> {
  const { args, config, root, name, info, entry, dev, rawPolicy, rawOverride } = options;
  const debugFile = args.policyDebug !== undefined ? path.resolve(root, args.policyDebug) : path.join(path.dirname(config.policyPath), 'policy-debug.json');
  let note: string | undefined;
  if (entry === undefined && fs.existsSync(debugFile)) {
    let debug: { resources?: Record<string, unknown>; debugInfo?: Record<string, unknown>; warnings?: unknown } | undefined;
    try {
      debug = readJson(debugFile) as typeof debug;
    } catch (error) {
      note = `${displayPath(debugFile)} is not valid JSON (${(error as Error).message}), so the evidence was computed`;
    }
    const infoOf = debug?.debugInfo && Object.hasOwn(debug.debugInfo, name) ? debug.debugInfo[name] : undefined;
    if (debug && infoOf && typeof infoOf === 'object') {
      const recorded = debug.resources && Object.hasOwn(debug.resources, name) ? debug.resources[name] : undefined;
      const current = Object.hasOwn(rawPolicy.resources, name) ? rawPolicy.resources[name] : undefined;
      const stale = JSON.stringify(sortedGrants(recorded as ResourcePolicy | undefined)) !== JSON.stringify(sortedGrants(current));
      const modules = (infoOf as { modules?: unknown }).modules;
      return {
        source: {
          kind: 'policy-debug.json',
          file: displayPath(debugFile),
          ...(Array.isArray(modules) ? { modules: modules.filter((m): m is string => typeof m === 'string') } : {}),
          ...(stale ? { stale: true } : {}),
        },
        lookup: evidenceFromDebug(infoOf),
        ...(recorded && typeof recorded === 'object' ? { found: recorded as ResourcePolicy } : {}),
        warnings: Array.isArray(debug.warnings) ? (debug.warnings as GenerateWarning[]) : [],
      };
    }
    if (debug) note = `${displayPath(debugFile)} has no record of ${name}, so the evidence was computed`;
  }
  if (!info) return { source: { kind: 'none', note: `${name} is not installed, so there is no code to analyse` }, lookup: none, warnings: [] };

  // The generator's analysis, with evidence, writing nothing (the parse cache is only read).
  let cache: AnalysisCache | undefined;
  if (args.cache && config.cacheDir !== undefined) {
    cache = new AnalysisCache(path.join(config.cacheDir, 'generate'));
    cache.load();
  }
  const include = [...(rawPolicy.include ?? []), ...(rawOverride.include ?? [])];
  const usePolicy = rawOverride.root?.usePolicy ?? rawPolicy.root?.usePolicy;
  const result = await generatePolicy({
    root,
    dev,
    evidence: true,
    ...(cache ? { cache } : {}),
    ...(usePolicy !== undefined ? { usePolicy } : {}),
    ...(entry !== undefined ? { entries: [entry], include } : { entries: [], include: [name], only: name }),
  });
  const debugInfo = result.debug.debugInfo[name];
  const modules = debugInfo?.modules ?? [];
  if (entry === undefined && modules.length === 0) {
    note = `${note ? `${note}; ` : ''}no entry module of ${name} was found (import and require of its name load nothing): use --entry <app entry>`;
  }
  return {
    source: {
      kind: 'analysis',
      scope: entry === undefined ? 'package' : 'app',
      ...(entry !== undefined ? { entry: displayPath(entry) } : {}),
      modules,
      ...(note ? { note } : {}),
    },
    lookup: debugInfo ? evidenceFromDebug(debugInfo) : none,
    ...(result.policy.resources[name] ? { found: result.policy.resources[name] } : {}),
    warnings: result.warnings,
  };
}

/** A resource's grants as sorted ids and values, to compare two records of it. */
function sortedGrants(resource: ResourcePolicy | undefined): string[] {
  return grantsOf(resource)
    .map((g) => `${grantId(g.field, g.key)}=${JSON.stringify(g.value)}`)
    .sort();
}

/** Uses the evidence found that neither policy.json (as generated or edited) nor the merge grants. */
function ungranted(
  found: ResourcePolicy | undefined,
  base: ResourcePolicy | undefined,
  merged: ResourcePolicy | undefined,
  lookup: EvidenceLookup,
  query: GrantQuery | undefined,
): Explanation['ungranted'] {
  const baseIndex = indexGrants(grantsOf(base));
  const mergedIndex = indexGrants(grantsOf(merged));
  const covered = (index: ReturnType<typeof indexGrants>, field: GrantField, key: string): boolean =>
    index.has(grantId(field, key)) || grantedAncestor(index, field, key) !== undefined;
  return grantsOf(found)
    .filter((g) => !covered(baseIndex, g.field, g.key) && !covered(mergedIndex, g.field, g.key))
    .filter((g) => query === undefined || matchesQuery(query, g.field, g.key))
    .map((g) => ({ field: g.field, key: g.key, evidence: lookup(g.field, g.key) ?? [] }));
}

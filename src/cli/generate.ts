/** `lavamoat generate`: analyse, write the policy (and the debug policy), report. */
import fs from 'node:fs';
import path from 'node:path';
import { assertValidPolicy, loadPolicy, PolicyError } from '../policy/index.js';
import type { LavaMoatPolicy } from '../policy/types.js';
import {
  AnalysisCache,
  generatePolicy,
  stringifyPolicy,
  type GenerateResult,
  type GenerateWarning,
} from '../generate/index.js';
import type { CliArgs } from './args.js';
import { diffPolicies, displayPath, Progress, type Output } from './output.js';
import type { Paths } from './paths.js';

/** A JSON file read leniently: undefined when absent or unreadable, with a note when malformed. */
function readJson(file: string, out: Output): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch (error) {
    out.warn(`LavaMoat: ignoring ${displayPath(file)}: not valid JSON (${(error as Error).message})`);
    return undefined;
  }
}

function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, file);
}

const MAX_WARNINGS = 20;
const MAX_CHANGES = 40;

export interface GenerateCommandResult {
  result: GenerateResult;
  policy: LavaMoatPolicy;
}

export async function generateCommand(
  args: CliArgs,
  paths: Paths,
  out: Output,
  stdout: NodeJS.WritableStream,
): Promise<GenerateCommandResult> {
  const previous = readJson(paths.policy, out) as LavaMoatPolicy | undefined;
  const override = readJson(paths.override, out) as Partial<LavaMoatPolicy> | undefined;
  const usePolicy =
    (override?.root as LavaMoatPolicy['root'] | undefined)?.usePolicy ?? (previous?.root as LavaMoatPolicy['root'] | undefined)?.usePolicy;
  const include = [
    ...(Array.isArray(previous?.include) ? previous!.include! : []),
    ...(Array.isArray(override?.include) ? override!.include! : []),
  ];

  // The parse cache lives in the loader's cache directory (LAVAMOAT_CACHE, package.json
  // "lavamoat.cache"), under generate/; turning that cache off turns this one off too.
  let cache: AnalysisCache | undefined;
  const cacheDir = args.cacheDir
    ? path.resolve(args.cacheDir)
    : paths.config.cacheDir !== undefined
      ? path.join(paths.config.cacheDir, 'generate')
      : undefined;
  if (args.cache && cacheDir !== undefined) {
    cache = new AnalysisCache(cacheDir);
    cache.load();
  }

  const progress = new Progress(process.stderr, process.stderr.isTTY === true && !out.quiet);
  let result: GenerateResult;
  try {
    result = await generatePolicy({
      root: paths.root,
      entries: [paths.entry],
      dev: args.dev,
      ...(cache ? { cache } : {}),
      ...(typeof usePolicy === 'string' ? { usePolicy } : {}),
      include,
      evidence: args.debug,
      ...(args.jobs !== undefined ? { jobs: args.jobs } : {}),
      onProgress: ({ modules, pending }) =>
        progress.update(() => `LavaMoat: analysing the module graph: ${modules} modules done, ${pending} queued`),
    });
  } finally {
    progress.done();
  }

  // Fields the generator does not own are kept from the existing policy.
  const policy: LavaMoatPolicy = { resources: result.policy.resources };
  if (previous) {
    if (typeof previous.$schema === 'string') policy.$schema = previous.$schema;
    if (previous.root && typeof previous.root === 'object') policy.root = previous.root;
    if (Array.isArray(previous.include)) policy.include = previous.include;
    if (previous.resolutions && typeof previous.resolutions === 'object') policy.resolutions = previous.resolutions;
  }
  assertValidPolicy(policy, 'policy', paths.policy);
  const text = stringifyPolicy(policy);

  if (args.write) {
    writeFileAtomic(paths.policy, text);
  } else {
    stdout.write(text);
  }
  if (args.debug) {
    writeFileAtomic(paths.debug, stringifyPolicy(result.debug));
  }
  cache?.save();

  // Warnings, one line per file and message: the first ones, all of them with --verbose.
  const { warnings, stats } = result;
  const groups = new Map<string, GenerateWarning[]>();
  const infos = warnings.filter((w) => w.level === 'info');
  for (const w of out.verbose ? warnings : warnings.filter((x) => x.level !== 'info')) {
    const key = `${w.file}\0${w.message}`;
    const group = groups.get(key);
    if (group) group.push(w);
    else groups.set(key, [w]);
  }
  const lines = [...groups.values()].map((group) => {
    const [w] = group as [GenerateWarning];
    const more = group.length > 1 ? ` (also at ${group.slice(1).map((g) => `${g.line}:${g.column}`).join(', ')})` : '';
    return `warning: ${w.file}:${w.line}:${w.column}${w.package ? ` [${w.package}]` : ''} ${w.message}${more}`;
  });
  const shown = out.verbose ? lines : lines.slice(0, MAX_WARNINGS);
  for (const line of shown) out.warn(line);
  if (infos.length > 0 && !out.verbose) {
    out.info(`note: ${infos.length} optional modules (required in try blocks) are not installed; --verbose lists them`);
  }
  if (shown.length < lines.length) {
    out.warn(
      `... and ${lines.length - shown.length} more (--verbose lists them all${args.debug ? '' : '; --debug writes them to policy-debug.json'})`,
    );
  }

  if (args.write) {
    const changes = previous ? diffPolicies(previous, policy) : [];
    if (previous && changes.length > 0) {
      out.info(`LavaMoat: changes from the previous ${displayPath(paths.policy)}:`);
      const list = out.verbose ? changes : changes.slice(0, MAX_CHANGES);
      for (const line of list) out.info(`  ${line}`);
      if (list.length < changes.length) out.info(`  ... and ${changes.length - list.length} more`);
    }
    // The override must still merge cleanly over what was just written.
    try {
      loadPolicy({ policyPath: paths.policy, overridePath: paths.override });
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      out.warn(`warning: the policy was written, but the loader will reject it with the override:\n${error.message}`);
    }
  }

  const seconds = stats.ms / 1000;
  const rate = stats.modules / Math.max(seconds, 1e-3);
  out.info(
    `LavaMoat: ${args.write ? `wrote ${displayPath(paths.policy)}` : 'generated the policy'}` +
      `${args.debug ? ` and ${displayPath(paths.debug)}` : ''}: ` +
      `${stats.packages} packages, ${stats.modules} modules, ${stats.grants} grants, ${stats.warnings} warnings ` +
      `in ${seconds.toFixed(2)} s (${Math.round(rate)} modules/s${cache ? `, ${stats.cached} from cache` : ''})`,
  );
  return { result, policy };
}

/** `lavamoat generate`: analyse, write the policy (and the debug policy), report. */
import fs from 'node:fs';
import path from 'node:path';
import { assertValidPolicy, loadPolicy, PolicyError } from '../policy/index.js';
import type { LavaMoatPolicy } from '../policy/types.js';
import { AnalysisCache, AppAnalysisError, GenerateError, generatePolicy, stringifyPolicy, type GenerateResult } from '../generate/index.js';
import type { CliArgs } from './args.js';
import { diffPolicies, displayPath, Progress, type Output } from './output.js';
import type { Paths } from './paths.js';
import { reportWarnings } from './warnings.js';

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
      strict: paths.config.strict,
      ...(args.jobs !== undefined ? { jobs: args.jobs } : {}),
      onProgress: ({ modules, pending }) =>
        progress.update(() => `LavaMoat: analysing the module graph: ${modules} modules done, ${pending} queued`),
    });
  } catch (error) {
    if (error instanceof AppAnalysisError) {
      // Said outright: the file the user may have been about to lose is safe.
      const policy = displayPath(paths.policy);
      const kept = !args.write ? 'Nothing was printed.' : fs.existsSync(paths.policy) ? `${policy} is unchanged.` : `${policy} was not written.`;
      throw new GenerateError(`${error.message}\n${kept}`);
    }
    throw error;
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

  const { stats } = result;
  reportWarnings(
    result.warnings,
    {
      verbose: out.verbose,
      ...(typeof usePolicy === 'string' ? { usePolicy } : {}),
      overrideFile: displayPath(paths.override),
    },
    out,
  );

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

/**
 * `lavamoat trim --recording <file> [--recording <file> ...] [--policy p] [--out file]`:
 * the policy with only the grants the recordings saw used (policy/trim.ts), written in
 * place of the policy (or to `--out`, `-` for stdout), and a report on stderr of what
 * was removed, what the override grants unused, and what was denied. The override is
 * read, never written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type ConfigOverrides } from '../config/index.js';
import { assertValidPolicy, loadPolicy, mergePolicy, PolicyError, validateMergeResult, formatIssues } from '../policy/index.js';
import type { LavaMoatPolicy } from '../policy/types.js';
import { trimPolicy, type TrimRemoval } from '../policy/trim.js';
import { readRecording } from '../report/recording.js';
import { printable } from '../report/caught-denials.js';
import { stringifyPolicy } from '../generate/policy.js';
import type { CliArgs } from './args.js';
import { displayPath, type Output } from './output.js';

const MAX_LISTED = 40;

export const TRIM_WARNING =
  'LavaMoat: a grant unused in the recorded runs may still be needed on a path they did not take ' +
  '(error handling, another platform or Node version, a feature or worker the runs did not exercise). ' +
  'Review what was removed, and put back what the app needs in policy-override.json.';

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\ufeff/, '')) as unknown;
}

const grantLine = (r: TrimRemoval): string =>
  r.field === 'native' ? `${printable(r.resource)} native` : `${printable(r.resource)} ${r.field} ${printable(r.key)}`;

export function trimCommand(args: CliArgs, out: Output, stdout: NodeJS.WritableStream, cwd = process.cwd()): number {
  const overrides: ConfigOverrides = {};
  if (args.root !== undefined) overrides.projectRoot = args.root;
  if (args.policy !== undefined) overrides.policy = args.policy;
  if (args.policyOverride !== undefined) overrides.policyOverride = args.policyOverride;
  const config = loadConfig({ cwd, entry: undefined, overrides });
  // Both files valid, and valid together, as the loader checks them.
  loadPolicy({ policyPath: config.policyPath, overridePath: config.overridePath });
  const policy = readJson(config.policyPath) as LavaMoatPolicy;
  const override = fs.existsSync(config.overridePath) ? (readJson(config.overridePath) as Partial<LavaMoatPolicy>) : undefined;

  const files = (args.recordings ?? []).map((file) => path.resolve(config.projectRoot, file));
  const recordings = files.map((file) => readRecording(file));
  const result = trimPolicy(policy, recordings, { keepUnloaded: args.keepUnloaded === true, override });

  // The trimmed policy must load as the loader loads it, with the override on top.
  const target = args.out === '-' ? undefined : path.resolve(config.projectRoot, args.out ?? config.policyPath);
  const label = target ?? 'the trimmed policy';
  assertValidPolicy(result.policy, 'policy', label);
  const merged = mergePolicy(result.policy, override);
  const issues = validateMergeResult(merged, override);
  if (issues.length > 0) throw new PolicyError('LAVAMOAT_POLICY_INVALID', label, formatIssues(`${label} merged with ${displayPath(config.overridePath)}`, issues), { issues });

  const report: string[] = [];
  const runs = result.recording.runs;
  const kept = countGrants(result.policy);
  report.push(
    `LavaMoat: trim ${displayPath(config.policyPath)} with ${files.length} recording${files.length === 1 ? '' : 's'} ` +
      `(${runs.length} process${runs.length === 1 ? '' : 'es'} and threads): ${result.removed.length} grant${result.removed.length === 1 ? '' : 's'} removed, ${kept} kept`,
  );
  for (const recording of recordings) {
    if (recording.policy !== undefined && path.resolve(recording.policy) !== config.policyPath) {
      report.push(`  note: a recording was made with ${displayPath(recording.policy)}, not ${displayPath(config.policyPath)}`);
      break;
    }
  }
  const unfinished = runs.filter((run) => !run.exited).length;
  if (unfinished > 0) {
    report.push(
      `  note: ${unfinished} process${unfinished === 1 ? '' : 'es'} or thread${unfinished === 1 ? '' : 's'} had not exited when last written ` +
        '(killed by a signal, a worker terminated, or still running): what they used in their last second may be missing',
    );
  }
  if (result.notLoaded.length > 0) {
    report.push(
      args.keepUnloaded
        ? `  kept as they are (--keep-unloaded), packages that never ran: ${result.notLoaded.map((n) => printable(n)).join(', ')}`
        : `  every grant removed, packages that never ran: ${result.notLoaded.map((n) => printable(n)).join(', ')}`,
    );
  }
  const unused = result.removed.filter((r) => r.reason === 'unused');
  if (unused.length > 0) {
    report.push('  removed, not used by packages that ran:');
    const listed = args.verbose ? unused : unused.slice(0, MAX_LISTED);
    for (const r of listed) report.push(`    - ${grantLine(r)}`);
    if (listed.length < unused.length) report.push(`    ... and ${unused.length - listed.length} more (--verbose lists them)`);
  }
  if (result.unusedInOverride.length > 0) {
    report.push(`  unused grants of ${displayPath(config.overridePath)} (not changed: edit it yourself):`);
    for (const r of result.unusedInOverride.slice(0, MAX_LISTED)) report.push(`    - ${grantLine(r)}`);
    if (result.unusedInOverride.length > MAX_LISTED) report.push(`    ... and ${result.unusedInOverride.length - MAX_LISTED} more`);
  }
  if (args.verbose && result.wholeModules.length > 0) {
    report.push('  whole builtin modules kept, and the members the runs read (a policy may name members instead):');
    for (const m of result.wholeModules) {
      report.push(`    ${printable(m.resource)} builtin ${m.module}: ${m.members.length > 0 ? m.members.map((x) => printable(x)).join(', ') : '(none seen)'}`);
    }
  }
  if (result.denials.length > 0) {
    report.push(`  denied during the recorded runs (trim grants nothing; see lavamoat's denial messages for the override entries):`);
    for (const d of result.denials.slice(0, MAX_LISTED)) report.push(`    ${printable(d.package)} ${d.kind} ${printable(d.resource)}`);
    if (result.denials.length > MAX_LISTED) report.push(`    ... and ${result.denials.length - MAX_LISTED} more`);
  }
  for (const line of report) out.info(line);

  const text = stringifyPolicy(result.policy);
  if (target === undefined) stdout.write(text);
  else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, text);
    fs.renameSync(temporary, target);
    out.info(`LavaMoat: wrote ${displayPath(target)}`);
  }
  out.error(TRIM_WARNING);
  return 0;
}

function countGrants(policy: LavaMoatPolicy): number {
  let count = 0;
  for (const resource of Object.values(policy.resources ?? {})) {
    for (const field of ['globals', 'builtin', 'packages'] as const) {
      count += Object.values(resource[field] ?? {}).filter((v) => v !== false).length;
    }
    if (resource.native === true) count += 1;
  }
  return count;
}

/**
 * `lavamoat diff <old> [new]`: the powers added and removed between two policies, per
 * package and ranked by risk (src/report/policy-diff.ts, src/report/risk.ts), as text, as
 * Markdown for a pull-request comment, or as JSON; `--fail-on <level>` makes the exit code
 * fail a CI job. Exit codes: 0 compared, 1 an added power at or above `--fail-on`, 2 usage
 * or input error (a bad option, an argument that is neither a file nor a revision, a
 * missing or invalid policy).
 */
import { ConfigError } from '../config/index.js';
import { PolicyError } from '../policy/index.js';
import { grantLabel } from '../report/grants.js';
import { addedAtOrAbove, comparePolicies, type PackageDiff, type PolicyDiff, type PowerChange } from '../report/policy-diff.js';
import { parseRiskLevel, RISK_LEVELS, riskRank, type RiskLevel } from '../report/risk.js';
import { UsageError, type CliArgs } from './args.js';
import { configFor } from './paths.js';
import { PolicySourceError, readPolicySource, workingTreeSource, type PolicySource } from './policy-source.js';

export type DiffFormat = 'text' | 'markdown' | 'json';
const FORMATS: readonly DiffFormat[] = ['text', 'markdown', 'json'];

export interface DiffReport {
  old: PolicySource;
  new: PolicySource;
  diff: PolicyDiff;
  failOn?: RiskLevel;
  /** `--fail-on` as given (`any` is the level `other`). */
  failOnText?: string;
  /** How many added powers are at or above `failOn`. */
  failing: number;
}

export function diffCommand(args: CliArgs, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, cwd = process.cwd()): number {
  const format = args.json ? 'json' : (args.format ?? 'text');
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: expected ${FORMATS.join(', ')}`);
  if (args.json && args.format !== undefined && args.format !== 'json') throw new UsageError(`--json and --format ${args.format} contradict each other`);
  let failOn: RiskLevel | undefined;
  if (args.failOn !== undefined) {
    failOn = parseRiskLevel(args.failOn);
    if (failOn === undefined) throw new UsageError(`--fail-on ${args.failOn}: expected one of ${RISK_LEVELS.filter((l) => l !== 'other').join(', ')}, any`);
  }

  let report: DiffReport;
  try {
    const config = configFor(args, process.env, cwd, undefined);
    const project = { root: config.projectRoot, policyPath: config.policyPath, overridePath: config.overridePath };
    const [oldArg, newArg] = args.operands!;
    const before = readPolicySource(oldArg!, project, cwd);
    const after = newArg === undefined ? workingTreeSource(project) : readPolicySource(newArg, project, cwd);
    const diff = comparePolicies(before.policy, after.policy);
    report = { old: before, new: after, diff, failing: failOn === undefined ? 0 : addedAtOrAbove(diff, failOn), ...(failOn ? { failOn, failOnText: args.failOn! } : {}) };
  } catch (error) {
    // Input errors: exit 2, so that CI can tell a broken input from a risky change.
    if (error instanceof PolicyError || error instanceof PolicySourceError || error instanceof ConfigError) {
      stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }

  stdout.write(format === 'json' ? `${JSON.stringify(toJson(report), null, 2)}\n` : format === 'markdown' ? renderMarkdown(report) : renderText(report));
  if (report.failOn !== undefined && report.failing > 0) {
    if (format !== 'json') {
      stderr.write(`lavamoat diff: ${count(report.failing, 'added power')} at or above ${report.failOn} (--fail-on ${args.failOn})\n`);
    }
    return 1;
  }
  return 0;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

function sourceLine(source: PolicySource): string {
  const what = source.commit ? `${source.label} (${source.commit.slice(0, 12)})` : source.label;
  if (source.missing) return `${what}: no policy (counted as empty)`;
  return source.files[0] === source.label || source.files[0] === undefined ? source.files.join(' + ') || what : `${what}: ${source.files.join(' + ')}`;
}

/** `3 powers (1 process, 2 network)`. */
function levelCounts(counts: Record<RiskLevel, number>): string {
  const total = RISK_LEVELS.reduce((sum, level) => sum + counts[level], 0);
  const parts = levelParts(counts);
  return `${count(total, 'power')}${parts ? ` (${parts})` : ''}`;
}

/** `1 process, 2 network`. */
const levelParts = (counts: Record<RiskLevel, number>): string =>
  RISK_LEVELS.filter((level) => counts[level] > 0)
    .map((level) => `${counts[level]} ${level}`)
    .join(', ');

function changeNote(change: PowerChange): string {
  const notes: string[] = [];
  if (change.before !== undefined) notes.push(`was ${JSON.stringify(change.before)}`);
  if (change.replaces) notes.push(`replaces ${change.replaces.join(', ')}`);
  if (change.narrowedTo) notes.push(`narrowed to ${change.narrowedTo.join(', ')}`);
  if (change.reason) notes.push(change.reason);
  return notes.join('; ');
}

function packageHeading(pkg: PackageDiff): string {
  if (pkg.status === 'added') return `new package ${pkg.name}${pkg.maybeRenamedFrom ? ` (perhaps ${pkg.maybeRenamedFrom}, renamed: its shortest dependency path changed)` : ''}`;
  if (pkg.status === 'removed') return `removed package ${pkg.name}`;
  return pkg.name;
}

function rootLine(diff: PolicyDiff): string | undefined {
  const root = diff.root;
  if (!root) return undefined;
  if (root.change === 'added') return `the app's own code is no longer confined (root.usePolicy was "${root.before}"): it has every power`;
  if (root.change === 'removed') return `the app's own code is now confined by resources["${root.after}"] (root.usePolicy)`;
  return `the app's own code is now confined by resources["${root.after}"] instead of resources["${root.before}"] (root.usePolicy)`;
}

export function renderText(report: DiffReport): string {
  const { diff } = report;
  const lines = ['LavaMoat policy diff', `  old: ${sourceLine(report.old)}`, `  new: ${sourceLine(report.new)}`, ''];
  const root = rootLine(diff);
  if (root) lines.push(`${diff.root!.change === 'added' ? '+ process ' : '- process '} ${root}`, '');
  const width = Math.max(0, ...diff.packages.flatMap((p) => [...p.added, ...p.removed]).map((c) => grantLabel(c).length));
  for (const pkg of diff.packages) {
    lines.push(packageHeading(pkg));
    for (const change of [...pkg.added, ...pkg.removed]) {
      const note = changeNote(change);
      lines.push(`  ${change.change === 'added' ? '+' : '-'} ${change.level.padEnd(8)}  ${grantLabel(change).padEnd(width)}${note ? `  ${note}` : ''}`.trimEnd());
    }
  }
  if (diff.packages.length > 0) lines.push('');
  const { summary } = diff;
  if (diff.packages.length === 0 && !diff.root) {
    lines.push('No change in powers.');
  } else {
    const changed = (which: 'added' | 'removed'): number => diff.packages.filter((p) => p[which].length > 0).length;
    lines.push(
      `Added: ${levelCounts(summary.added)} in ${count(changed('added'), 'package')}` +
        (summary.addedPackages.length > 0 ? `; new packages: ${summary.addedPackages.join(', ')}` : ''),
      `Removed: ${levelCounts(summary.removed)} in ${count(changed('removed'), 'package')}` +
        (summary.removedPackages.length > 0 ? `; removed packages: ${summary.removedPackages.join(', ')}` : ''),
    );
  }
  if (report.failOn !== undefined) {
    lines.push(
      report.failing > 0
        ? `Fails --fail-on ${report.failOnText}: ${count(report.failing, 'added power')} at or above ${report.failOn}.`
        : `Passes --fail-on ${report.failOnText}: nothing added at or above ${report.failOn}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (text: string): string => `\`${text.replace(/`/g, "'")}\``;

function markdownRow(pkg: PackageDiff, change: PowerChange): string {
  const name = `${code(pkg.name)}${pkg.status === 'added' ? ' (new)' : pkg.status === 'removed' ? ' (removed)' : ''}`;
  const grant = change.field === 'native' ? code('native') : `${change.field} ${code(grantLabel(change).slice(change.field.length + 1))}`;
  const level = change.change === 'added' && change.level !== 'other' ? `**${change.level}**` : change.level;
  return `| ${level} | ${cell(name)} | ${cell(grant)} | ${cell(changeNote(change))} |`;
}

export function renderMarkdown(report: DiffReport): string {
  const { diff } = report;
  const { summary } = diff;
  const from = report.old.commit ? `${code(report.old.label)} (${report.old.commit.slice(0, 12)})` : code(report.old.label);
  const to = report.new.commit ? `${code(report.new.label)} (${report.new.commit.slice(0, 12)})` : report.new.label === 'working tree' ? 'the working tree' : code(report.new.label);
  const out: string[] = ['### LavaMoat policy changes', ''];
  const addedTotal = RISK_LEVELS.reduce((sum, level) => sum + summary.added[level], 0);
  const removedTotal = RISK_LEVELS.reduce((sum, level) => sum + summary.removed[level], 0);
  if (diff.packages.length === 0 && !diff.root) {
    out.push(`${from} → ${to}: no change in powers.`);
    return `${out.join('\n')}\n`;
  }
  const parts = [
    `**${count(addedTotal, 'power')} added**${addedTotal > 0 ? ` (${levelParts(summary.added)})` : ''}`,
    `${removedTotal} removed`,
  ];
  if (summary.addedPackages.length > 0) parts.push(`new packages: ${summary.addedPackages.map(code).join(', ')}`);
  if (summary.removedPackages.length > 0) parts.push(`removed packages: ${summary.removedPackages.map(code).join(', ')}`);
  out.push(`${from} → ${to}: ${parts.join('; ')}.`, '');
  const root = rootLine(diff);
  if (root) out.push(`> **${diff.root!.change === 'added' ? 'process' : 'note'}:** ${root}`, '');
  if (report.failOn !== undefined) {
    out.push(
      report.failing > 0
        ? `**Fails \`--fail-on ${report.failOnText}\`:** ${count(report.failing, 'added power')} at or above ${report.failOn}.`
        : `Passes \`--fail-on ${report.failOnText}\`.`,
      '',
    );
  }
  const header = ['| risk | package | grant | note |', '|---|---|---|---|'];
  // One table each, riskiest first across packages (the packages are already ranked: a stable sort keeps that order within a level).
  const rows = (which: 'added' | 'removed'): string[] =>
    diff.packages
      .flatMap((p) => p[which].map((c) => ({ p, c })))
      .sort((a, b) => riskRank(a.c.level) - riskRank(b.c.level))
      .map(({ p, c }) => markdownRow(p, c));
  const added = rows('added');
  if (added.length > 0) out.push('#### Added', '', ...header, ...added, '');
  const removed = rows('removed');
  if (removed.length > 0) out.push('<details><summary>Removed (' + removed.length + ')</summary>', '', ...header, ...removed, '', '</details>', '');
  out.push('<sub>Ranked by risk: process (child processes, vm, workers, native addons, the whole `process`), fs-write, network, other. Generated by `lavamoat diff`.</sub>');
  return `${out.join('\n')}\n`;
}

function toJson(report: DiffReport): unknown {
  const source = (s: PolicySource) => ({
    label: s.label,
    files: s.files,
    ...(s.commit ? { commit: s.commit } : {}),
    ...(s.missing ? { missing: true } : {}),
  });
  return {
    old: source(report.old),
    new: source(report.new),
    packages: report.diff.packages,
    ...(report.diff.root ? { root: report.diff.root } : {}),
    summary: report.diff.summary,
    ...(report.failOn !== undefined ? { failOn: report.failOn, failing: report.failing } : {}),
  };
}

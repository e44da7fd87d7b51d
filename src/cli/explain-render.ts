/** `lavamoat explain` as people read it, and as JSON. */
import path from 'node:path';
import { ROOT_NAME } from '../graph/package-map.js';
import type { ExplainedGrant, OverrideEffect } from '../report/explain.js';
import { grantLabel } from '../report/grants.js';
import type { Explanation } from './explain.js';
import { displayPath } from './output.js';

const EVIDENCE_SHOWN = 3;

/**
 * An evidence string (`file:line:column detail`, the file relative to the project root
 * or absolute) with its file relative to the working directory, as the other commands
 * print paths.
 */
export function showEvidence(evidence: string, root: string): string {
  const m = /^(.+?):(\d+):(\d+)(.*)$/.exec(evidence) ?? /^(.+?)( \(.*\))$/.exec(evidence);
  if (!m) return evidence;
  const file = displayPath(path.resolve(root, m[1]!));
  return m.length === 5 ? `${file}:${m[2]}:${m[3]}${m[4]}` : `${file}${m[2]}`;
}

function evidenceLines(evidence: readonly string[] | undefined, root: string, verbose: boolean, indent: string, none: string): string[] {
  if (evidence === undefined || evidence.length === 0) return [`${indent}${none}`];
  const shown = verbose ? evidence : evidence.slice(0, EVIDENCE_SHOWN);
  const lines = shown.map((e) => `${indent}${showEvidence(e, root)}`);
  if (shown.length < evidence.length) lines.push(`${indent}... and ${evidence.length - shown.length} more (--verbose)`);
  return lines;
}

const pathText = (names: readonly string[]): string => names.join('>');

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

function effectText(effect: OverrideEffect): string {
  const value = effect.field === 'native' ? `native: ${JSON.stringify(effect.value)}` : `${effect.field} ${effect.key}: ${JSON.stringify(effect.value)}`;
  switch (effect.effect) {
    case 'added':
      return `${value}  adds it${effect.replaces ? `, replacing policy.json's ${effect.replaces.join(', ')}` : ''}`;
    case 'removed':
      return `${value}  takes away ${effect.removes!.map((r) => r.key).join(', ')}`;
    case 'narrowed':
      return `${value}  narrows it: takes away ${effect.removes!.map((r) => r.key).join(', ')}, keeps ${effect.narrowedTo!.join(', ')}`;
    case 'changed':
      return `${value}  changes policy.json's ${JSON.stringify(effect.before)}`;
    case 'restated':
      return `${value}  already in policy.json (no change)`;
    case 'no-effect':
      return effect.coveredBy !== undefined
        ? `${value}  no effect: ${effect.field} ${effect.coveredBy} already gives it`
        : `${value}  no effect: policy.json does not grant it`;
  }
}

export function renderExplanation(e: Explanation, { verbose = false } = {}): string {
  const out: string[] = [];
  const where = e.info ? ` (${e.info.packageName}@${e.info.version || '?'}, ${displayPath(e.info.dir)})` : '';
  out.push(`${e.name}${where}${e.query ? `: about ${e.query.text}` : ''}`);
  out.push(`  policy:   ${e.policyFiles.join(' + ')}`);
  const s = e.evidenceSource;
  const evidenceText =
    s.kind === 'policy-debug.json'
      ? `${s.file}${s.stale ? ' (written for another version of this package\'s policy: run lavamoat generate --debug again)' : ''}`
      : s.kind === 'analysis'
        ? s.scope === 'app'
          ? `analysed now, walking the app from ${s.entry} (${plural(s.modules?.length ?? 0, 'module')} of the package)`
          : `analysed now, from the package's entry points (${plural(s.modules?.length ?? 0, 'module')}; modules the app reaches otherwise are not seen: --entry <app entry> walks the app)`
        : 'none';
  out.push(`  evidence: ${evidenceText}`);
  if (s.note) out.push(`  note:     ${s.note}`);
  if (e.dev) out.push('  tree:     with the root\'s devDependencies');
  out.push('');

  if (!e.info) {
    out.push(`Not installed: no package of the dependency tree has this canonical name, so its resource in the policy applies to nothing.`, '');
  } else if (e.paths) {
    const p = e.paths;
    out.push('Dependency paths (the shortest one is the canonical name):');
    out.push(`  ${pathText(p.canonical)}  <- canonical name`);
    for (const other of p.others) out.push(`  ${pathText(other)}`);
    if (p.others.length === 0) out.push('  (no other path reaches it)');
    else if (p.more) out.push('  (and more)');
    const declared = p.declaredBy.map((d) => `${d.package === ROOT_NAME ? 'the app' : d.package} (${d.field}${d.name !== e.info!.packageName ? ` as ${d.name}` : ''})`);
    out.push(`  declared by: ${declared.join(', ') || 'nothing (found through a parent directory)'}`);
    const byApp = p.declaredBy.some((d) => d.package === ROOT_NAME) ? ' (the app, which is not confined, loads it)' : '';
    out.push(`  granted to (policy packages): ${e.grantedTo.length > 0 ? e.grantedTo.join(', ') : `none${byApp}`}`);
    out.push('');
  }

  if (!e.inPolicy) {
    out.push(`No resource in the policy: ${e.name} is granted nothing (no globals beyond the language's, no builtins, no packages).`);
  } else {
    out.push(`Grants in effect${e.query ? ` about ${e.query.text}` : ''} (${e.grants.length}), riskiest first:`);
    if (e.grants.length === 0) out.push(`  (none${e.query ? `: ${e.name} is not granted ${e.query.text}` : ''})`);
    const width = Math.max(0, ...e.grants.map((g) => grantLabel(g).length));
    for (const grant of e.grants) out.push(...grantLines(grant, e, verbose, width));
  }
  out.push('');

  const overrideFile = e.policyFiles[1];
  if (overrideFile === undefined) out.push('Override: none (no policy-override.json)');
  else if (e.override.length === 0) out.push(`Override (${overrideFile}): nothing${e.query ? ` about ${e.query.text}` : ''} for ${e.name}`);
  else {
    out.push(`Override (${overrideFile}):`);
    for (const effect of e.override) {
      out.push(`  ${effect.effect.padEnd(9)} ${effectText(effect)}`);
      for (const removed of effect.removes ?? []) {
        if (!removed.evidence?.length) continue;
        out.push(`            ${removed.key} is used at (denied at run time):`);
        out.push(...evidenceLines(removed.evidence, e.root, verbose, '              ', ''));
      }
    }
  }

  if (e.ungranted.length > 0) {
    out.push('', `Used by the code but granted by neither file (policy.json is older than the code?):`);
    for (const u of e.ungranted) {
      out.push(`  ${grantLabel(u)}`);
      out.push(...evidenceLines(u.evidence, e.root, verbose, '      ', '(no place recorded)'));
    }
  }
  if (e.warnings.length > 0) {
    const shown = verbose ? e.warnings : e.warnings.slice(0, 5);
    out.push('', `Warnings of the analysis for ${e.name} (what it could not see):`);
    for (const w of shown) out.push(`  ${showEvidence(`${w.file}:${w.line}:${w.column}`, e.root)} [${w.kind}] ${w.message}`);
    if (shown.length < e.warnings.length) out.push(`  ... and ${e.warnings.length - shown.length} more (--verbose)`);
  }
  return `${out.join('\n')}\n`;
}

function grantLines(grant: ExplainedGrant, e: Explanation, verbose: boolean, width: number): string[] {
  const origin = grant.origin === 'policy' ? 'policy.json' : 'override';
  const lines = [`  ${grant.level.padEnd(8)}  ${grantLabel(grant).padEnd(width)}  ${`[${origin}]`.padEnd(13)}${grant.reason ? ` ${grant.reason}` : ''}`.trimEnd()];
  const none =
    grant.origin === 'override'
      ? '(granted by the override, not found by the analysis)'
      : e.evidenceSource.kind === 'none'
        ? '(no evidence)'
        : e.evidenceSource.kind === 'analysis' && e.evidenceSource.scope === 'package'
          ? "(not used from the package's entry points: try --entry <app entry>)"
          : '(no place recorded: added to policy.json by hand, or the evidence is older)';
  lines.push(...evidenceLines(grant.evidence, e.root, verbose, '      ', none));
  return lines;
}

/** The explanation for machines: evidence strings as policy-debug.json has them (relative to `root`). */
export function toJson(e: Explanation): unknown {
  return {
    package: e.name,
    ...(e.query ? { resource: e.query.text } : {}),
    root: e.root,
    installed: e.info !== undefined,
    ...(e.info ? { packageName: e.info.packageName, version: e.info.version, dir: e.info.dir } : {}),
    inPolicy: e.inPolicy,
    policyFiles: e.policyFiles,
    evidenceSource: e.evidenceSource,
    ...(e.paths ? { paths: e.paths } : {}),
    grantedTo: e.grantedTo,
    grants: e.grants,
    override: e.override,
    ungranted: e.ungranted,
    warnings: e.warnings,
    dev: e.dev,
  };
}

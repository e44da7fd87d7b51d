/**
 * What changed in power between two effective policies (each a `policy.json` merged with
 * its override, as the runtime merges them): per package, the grants added and removed,
 * each with its risk (src/report/risk.ts), and the packages that appeared or went away.
 *
 * Changes are in power, not in text: a grant of `fs` replacing `fs.readFileSync` is one
 * added power (`fs`, which replaces the narrower grant), not an addition and a removal; a
 * grant narrowed from `fs` to `fs.readFileSync` is one removed power (`fs`, narrowed to
 * `fs.readFileSync`). A global that becomes `"write"` is an added power (assignments now
 * reach every package granted it); `true`, `"read"` and `"redefine"` give the same here.
 */
import type { LavaMoatPolicy } from '../policy/types.js';
import {
  compareGrants,
  compareStrings,
  grantedAncestor,
  grantId,
  grantsOf,
  indexGrants,
  isDescendant,
  powerOf,
  type Grant,
} from './grants.js';
import { classifyGrant, riskRank, RISK_LEVELS, type GrantField, type RiskLevel } from './risk.js';

export interface PowerChange {
  change: 'added' | 'removed';
  field: GrantField;
  key: string;
  /** The value in the policy that has it: the new one for an addition, the old one for a removal. */
  value: unknown;
  /** For a changed value (a global made writable, or no longer), the other policy's value. */
  before?: unknown;
  level: RiskLevel;
  reason: string;
  /** An added grant that covers narrower grants of the old policy (`fs` for `fs.readFileSync`). */
  replaces?: string[];
  /** A removed grant of which the new policy keeps narrower grants (`fs` to `fs.readFileSync`). */
  narrowedTo?: string[];
}

export interface PackageDiff {
  name: string;
  status: 'added' | 'removed' | 'changed';
  added: PowerChange[];
  removed: PowerChange[];
  /** The highest risk among the added powers, else among the removed ones. */
  highest: RiskLevel;
  /** A new package whose last name part matches a removed one: its canonical name may just have changed. */
  maybeRenamedFrom?: string;
}

export interface RootChange {
  /** `root.usePolicy` before and after (undefined: the app's own code is not confined). */
  before?: string;
  after?: string;
  /** `added` when the app's code stops being confined: it then has every power. */
  change: 'added' | 'removed' | 'changed';
  level: RiskLevel;
}

export interface PolicyDiff {
  /** Ranked: packages with the riskiest added power first, then by the riskiest removed; then by name. */
  packages: PackageDiff[];
  root?: RootChange;
  summary: {
    added: Record<RiskLevel, number>;
    removed: Record<RiskLevel, number>;
    addedPackages: string[];
    removedPackages: string[];
    /** The highest risk of any added power (the root becoming unconfined counts as `process`). */
    highestAdded?: RiskLevel;
  };
}

const emptyCounts = (): Record<RiskLevel, number> => ({ process: 0, 'fs-write': 0, network: 0, other: 0 });

const lastPart = (name: string): string => name.slice(name.lastIndexOf('>') + 1);

/** The power changes of one package, ranked by risk. */
export function diffResource(before: readonly Grant[], after: readonly Grant[]): { added: PowerChange[]; removed: PowerChange[] } {
  const oldIndex = indexGrants(before);
  const newIndex = indexGrants(after);
  const added: PowerChange[] = [];
  const removed: PowerChange[] = [];
  /** Narrower grants kept of a removed one, by the removed grant's id. */
  const narrowed = new Map<string, string[]>();

  for (const grant of after) {
    const id = grantId(grant.field, grant.key);
    const old = oldIndex.get(id);
    const risk = classifyGrant(grant.field, grant.key, grant.value);
    if (old) {
      if (powerOf(old) === powerOf(grant)) continue;
      const change: PowerChange = { change: 'added', field: grant.field, key: grant.key, value: grant.value, before: old.value, ...risk };
      if (powerOf(grant) === 'write') added.push(change);
      else removed.push({ ...change, change: 'removed', value: old.value, before: grant.value, ...classifyGrant(old.field, old.key, old.value) });
      continue;
    }
    const ancestor = grantedAncestor(oldIndex, grant.field, grant.key);
    if (ancestor !== undefined) {
      // Already given by the old policy's wider grant: part of a narrowing.
      const key = grantId(grant.field, ancestor);
      narrowed.set(key, [...(narrowed.get(key) ?? []), grant.key]);
      continue;
    }
    const replaces = before
      .filter((g) => g.field === grant.field && isDescendant(g.field, g.key, grant.key) && !newIndex.has(grantId(g.field, g.key)))
      .map((g) => g.key);
    added.push({ change: 'added', field: grant.field, key: grant.key, value: grant.value, ...risk, ...(replaces.length > 0 ? { replaces } : {}) });
  }
  for (const grant of before) {
    const id = grantId(grant.field, grant.key);
    if (newIndex.has(id)) continue;
    // Covered by a wider grant of the new policy: listed with that grant's `replaces`.
    if (grantedAncestor(newIndex, grant.field, grant.key) !== undefined) continue;
    const narrowedTo = narrowed.get(id);
    removed.push({
      change: 'removed',
      field: grant.field,
      key: grant.key,
      value: grant.value,
      ...classifyGrant(grant.field, grant.key, grant.value),
      ...(narrowedTo ? { narrowedTo } : {}),
    });
  }
  const order = (a: PowerChange, b: PowerChange): number => riskRank(a.level) - riskRank(b.level) || compareGrants(a, b);
  return { added: added.sort(order), removed: removed.sort(order) };
}

const highestOf = (changes: readonly PowerChange[]): RiskLevel | undefined =>
  changes.reduce<RiskLevel | undefined>((best, c) => (best === undefined || riskRank(c.level) < riskRank(best) ? c.level : best), undefined);

/** Compares two effective (merged) policies. */
export function comparePolicies(before: LavaMoatPolicy, after: LavaMoatPolicy): PolicyDiff {
  const names = [...new Set([...Object.keys(before.resources), ...Object.keys(after.resources)])];
  const packages: PackageDiff[] = [];
  const summary: PolicyDiff['summary'] = { added: emptyCounts(), removed: emptyCounts(), addedPackages: [], removedPackages: [] };
  for (const name of names) {
    const inOld = Object.hasOwn(before.resources, name);
    const inNew = Object.hasOwn(after.resources, name);
    const { added, removed } = diffResource(
      grantsOf(inOld ? before.resources[name] : undefined),
      grantsOf(inNew ? after.resources[name] : undefined),
    );
    const status = inOld && inNew ? 'changed' : inNew ? 'added' : 'removed';
    if (status === 'changed' && added.length === 0 && removed.length === 0) continue;
    if (status === 'added') summary.addedPackages.push(name);
    if (status === 'removed') summary.removedPackages.push(name);
    for (const c of added) summary.added[c.level] += 1;
    for (const c of removed) summary.removed[c.level] += 1;
    packages.push({ name, status, added, removed, highest: highestOf(added) ?? highestOf(removed) ?? 'other' });
  }
  summary.addedPackages.sort(compareStrings);
  summary.removedPackages.sort(compareStrings);
  for (const pkg of packages) {
    if (pkg.status !== 'added') continue;
    const match = summary.removedPackages.find((old) => lastPart(old) === lastPart(pkg.name));
    if (match !== undefined) pkg.maybeRenamedFrom = match;
  }
  // A package with an added power outranks any with removals only.
  const rank = (p: PackageDiff): number => (p.added.length > 0 ? riskRank(p.highest) : RISK_LEVELS.length + riskRank(p.highest));
  packages.sort((a, b) => rank(a) - rank(b) || compareStrings(a.name, b.name));

  const diff: PolicyDiff = { packages, summary };
  const oldRoot = before.root?.usePolicy;
  const newRoot = after.root?.usePolicy;
  if (oldRoot !== newRoot) {
    const change = newRoot === undefined ? 'added' : oldRoot === undefined ? 'removed' : 'changed';
    diff.root = { ...(oldRoot !== undefined ? { before: oldRoot } : {}), ...(newRoot !== undefined ? { after: newRoot } : {}), change, level: 'process' };
  }
  const highest = highestOf(packages.flatMap((p) => p.added));
  summary.highestAdded = diff.root?.change === 'added' ? 'process' : highest;
  if (summary.highestAdded === undefined) delete summary.highestAdded;
  return diff;
}

/** The added powers at or above a level (the root's code becoming unconfined counts as `process`). */
export function addedAtOrAbove(diff: PolicyDiff, threshold: RiskLevel): number {
  let count = diff.root?.change === 'added' ? 1 : 0;
  for (const level of RISK_LEVELS) {
    if (riskRank(level) <= riskRank(threshold)) count += diff.summary.added[level];
  }
  return count;
}

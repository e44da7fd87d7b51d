/**
 * The grants of one package, explained: for each grant in effect, whether `policy.json`
 * or the override gave it and the places in the code that made the generator grant it;
 * for each entry of the override, what it changed (added, removed, narrowed, changed the
 * value of, or nothing). Pure: the CLI (src/cli/explain.ts) reads the files and the
 * evidence and prints the result.
 */
import type { ResourcePolicy } from '../policy/types.js';
import {
  ancestorsOf,
  compareGrants,
  entriesOf,
  grantedAncestor,
  grantId,
  grantsOf,
  indexGrants,
  isDescendant,
  matchesQuery,
  type Grant,
  type GrantQuery,
} from './grants.js';
import { classifyGrant, riskRank, type GrantField, type RiskLevel } from './risk.js';

/** `file:line:column [detail]` strings, as in policy-debug.json. */
export type EvidenceLookup = (field: GrantField, key: string) => string[] | undefined;

export interface ExplainedGrant {
  field: GrantField;
  key: string;
  value: unknown;
  /** `policy`: policy.json grants it as it is; `override`: the override added it or changed its value. */
  origin: 'policy' | 'override';
  level: RiskLevel;
  reason: string;
  /** Where the code uses it; undefined when there is no record (not generated, or older evidence). */
  evidence?: string[];
}

export type OverrideEffectKind = 'added' | 'removed' | 'narrowed' | 'changed' | 'restated' | 'no-effect';

export interface OverrideEffect {
  /** The override's entry. */
  field: GrantField;
  key: string;
  value: unknown;
  effect: OverrideEffectKind;
  level: RiskLevel;
  reason: string;
  /** `changed`: policy.json's value. */
  before?: unknown;
  /** `added`: narrower grants of policy.json that this one replaces. */
  replaces?: string[];
  /** `removed`, `narrowed`: the grants of policy.json taken away, with the code that uses them. */
  removes?: { key: string; evidence?: string[] }[];
  /** `narrowed`: the narrower grants the override keeps. */
  narrowedTo?: string[];
  /** `no-effect` of a grant: the wider grant that already gives it. */
  coveredBy?: string;
}

export interface GrantsExplanation {
  grants: ExplainedGrant[];
  override: OverrideEffect[];
}

export interface ExplainInput {
  /** The package's resource in policy.json (normalised, as merging without an override gives). */
  base: ResourcePolicy | undefined;
  /** Its resource in the merge of policy.json and the override. */
  merged: ResourcePolicy | undefined;
  /** Its resource in the override. */
  override: ResourcePolicy | undefined;
  evidence: EvidenceLookup;
  query?: GrantQuery;
}

const byRiskThenGrant = (a: { level: RiskLevel; field: GrantField; key: string }, b: { level: RiskLevel; field: GrantField; key: string }): number =>
  riskRank(a.level) - riskRank(b.level) || compareGrants(a, b);

export function explainGrants({ base, merged, override, evidence, query }: ExplainInput): GrantsExplanation {
  const baseGrants = grantsOf(base);
  const mergedGrants = grantsOf(merged);
  const baseIndex = indexGrants(baseGrants);
  const mergedIndex = indexGrants(mergedGrants);
  const overrideEntries = entriesOf(override);

  const grants: ExplainedGrant[] = mergedGrants.map((g) => {
    const old = baseIndex.get(grantId(g.field, g.key));
    // A wider grant of the override takes the evidence of the narrower ones it replaces,
    // as the generator lists a folded key's evidence under the key it was folded into.
    const replaced = baseGrants.filter((b) => b.field === g.field && isDescendant(g.field, b.key, g.key) && !mergedIndex.has(grantId(b.field, b.key)));
    const found = evidence(g.field, g.key) ?? (replaced.length > 0 ? replaced.flatMap((b) => evidence(b.field, b.key) ?? []) : undefined);
    return {
      field: g.field,
      key: g.key,
      value: g.value,
      origin: old && old.value === g.value ? 'policy' : 'override',
      ...classifyGrant(g.field, g.key, g.value),
      ...(found ? { evidence: found } : {}),
    };
  });

  const removal = (g: Grant): { key: string; evidence?: string[] } => {
    const found = evidence(g.field, g.key);
    return { key: g.key, ...(found ? { evidence: found } : {}) };
  };
  /** What a denial of the override takes from policy.json: the key and, for dotted fields, the keys below it. */
  const removedBy = (field: GrantField, key: string): Grant[] =>
    baseGrants.filter(
      (g) =>
        g.field === field &&
        (g.key === key || isDescendant(field, g.key, key)) &&
        !mergedIndex.has(grantId(g.field, g.key)) &&
        grantedAncestor(mergedIndex, g.field, g.key) === undefined,
    );
  // Denials that narrow: they take something away while the override grants keys below them.
  const narrowing = new Set<string>();
  for (const { field, key, value } of overrideEntries) {
    if (value !== false || removedBy(field, key).length === 0) continue;
    if (mergedGrants.some((g) => g.field === field && isDescendant(field, g.key, key))) narrowing.add(grantId(field, key));
  }

  const effects: OverrideEffect[] = [];
  for (const { field, key, value } of overrideEntries) {
    const risk = classifyGrant(field, key, value);
    const effect = (kind: OverrideEffectKind, extra: Partial<OverrideEffect> = {}): void => {
      effects.push({ field, key, value, effect: kind, ...risk, ...extra });
    };
    const id = grantId(field, key);
    if (value === false) {
      const removes = removedBy(field, key).map(removal);
      if (removes.length === 0) effect('no-effect');
      else if (narrowing.has(id)) {
        const narrowedTo = mergedGrants.filter((g) => g.field === field && isDescendant(field, g.key, key)).map((g) => g.key);
        effect('narrowed', { removes, narrowedTo });
      } else effect('removed', { removes });
      continue;
    }
    const now = mergedIndex.get(id);
    const old = baseIndex.get(id);
    if (!now) {
      const coveredBy = grantedAncestor(mergedIndex, field, key);
      effect('no-effect', coveredBy !== undefined ? { coveredBy } : {});
      continue;
    }
    if (old) {
      if (old.value === now.value) effect('restated');
      else effect('changed', { before: old.value });
      continue;
    }
    // A grant below a narrowing denial is shown with it.
    if (ancestorsOf(key).some((a) => narrowing.has(grantId(field, a)))) continue;
    const replaces = baseGrants
      .filter((g) => g.field === field && isDescendant(field, g.key, key) && !mergedIndex.has(grantId(g.field, g.key)))
      .map((g) => g.key);
    effect('added', replaces.length > 0 ? { replaces } : {});
  }

  const selected = query
    ? {
        grants: grants.filter((g) => matchesQuery(query, g.field, g.key)),
        override: effects.filter(
          (e) =>
            matchesQuery(query, e.field, e.key) ||
            [...(e.removes ?? []).map((r) => r.key), ...(e.narrowedTo ?? []), ...(e.replaces ?? [])].some((k) => matchesQuery(query, e.field, k)),
        ),
      }
    : { grants, override: effects };
  return { grants: selected.grants.sort(byRiskThenGrant), override: selected.override.sort(byRiskThenGrant) };
}

/** Looks evidence up in a package's entry of policy-debug.json (`debugInfo[name]`). */
export function evidenceFromDebug(info: unknown): EvidenceLookup {
  const record = (info && typeof info === 'object' ? info : {}) as Record<string, unknown>;
  return (field, key) => {
    if (field === 'native') return stringArray(record.native);
    const byKey = record[field];
    if (!byKey || typeof byKey !== 'object' || !Object.hasOwn(byKey, key)) return undefined;
    return stringArray((byKey as Record<string, unknown>)[key]);
  };
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

/**
 * A resource policy as a flat list of grants (`builtin fs.readFile`, `globals process.env`,
 * `packages a>b`, `native`), what `lavamoat explain` and `lavamoat diff` work on, and the
 * `[resource]` argument of `explain` that picks some of them.
 */
import type { ResourcePolicy } from '../policy/types.js';
import type { GrantField } from './risk.js';

export interface Grant {
  field: GrantField;
  /** The key under the field; `native` for the native flag. */
  key: string;
  /** The value in the policy (`true`, `"write"`, ...). */
  value: unknown;
}

export const FIELD_ORDER: readonly GrantField[] = ['builtin', 'globals', 'native', 'packages'];

export const grantId = (field: GrantField, key: string): string => `${field} ${key}`;

/** `builtin fs.readFile`, `globals process.env: "write"`, `native`. */
export function grantLabel(grant: { field: GrantField; key: string; value?: unknown }): string {
  if (grant.field === 'native') return 'native';
  const value = grant.field === 'globals' && typeof grant.value === 'string' && grant.value !== 'read' ? `: ${JSON.stringify(grant.value)}` : '';
  return `${grant.field} ${grant.key}${value}`;
}

/**
 * What a grant hands over, for comparing two values of one key: globals are read or
 * written; a package is loaded, or (strict mode's `"write"`) loaded with the right to
 * change its exports.
 */
export function powerOf(grant: Grant): string {
  if (grant.field === 'globals') return grant.value === 'write' ? 'write' : 'read';
  if (grant.field === 'packages') return grant.value === 'write' ? 'write' : 'granted';
  return 'granted';
}

/** The granted entries of a resource (`false` entries grant nothing and are left out). */
export function grantsOf(resource: ResourcePolicy | undefined): Grant[] {
  const grants: Grant[] = [];
  if (!resource) return grants;
  for (const field of ['builtin', 'globals', 'packages'] as const) {
    const record = resource[field] as Record<string, unknown> | undefined;
    if (!record) continue;
    for (const key of Object.keys(record)) if (record[key] !== false) grants.push({ field, key, value: record[key] });
  }
  if (resource.native === true) grants.push({ field: 'native', key: 'native', value: true });
  return grants;
}

/** Every entry of a resource, `false` ones too (what an override says). */
export function entriesOf(resource: ResourcePolicy | undefined): Grant[] {
  const entries: Grant[] = [];
  if (!resource) return entries;
  for (const field of ['builtin', 'globals', 'packages'] as const) {
    const record = resource[field] as Record<string, unknown> | undefined;
    if (!record) continue;
    for (const key of Object.keys(record)) entries.push({ field, key, value: record[key] });
  }
  if (resource.native !== undefined) entries.push({ field: 'native', key: 'native', value: resource.native });
  return entries;
}

/** Whether dotted keys nest: `fs` is an ancestor of `fs.readFile` (globals and builtin only). */
export const isDescendant = (field: GrantField, key: string, ancestor: string): boolean =>
  (field === 'globals' || field === 'builtin') && key.startsWith(`${ancestor}.`);

/** The proper ancestors of a dotted key, nearest first: `a.b.c` → `a.b`, `a`. */
export function ancestorsOf(key: string): string[] {
  const out: string[] = [];
  for (let i = key.lastIndexOf('.'); i > 0; i = key.lastIndexOf('.', i - 1)) out.push(key.slice(0, i));
  return out;
}

/** A map from grant id to grant. */
export function indexGrants(grants: readonly Grant[]): Map<string, Grant> {
  return new Map(grants.map((g) => [grantId(g.field, g.key), g]));
}

/** The nearest ancestor of `key` granted in `index` (same field), if any. */
export function grantedAncestor(index: ReadonlyMap<string, Grant>, field: GrantField, key: string): string | undefined {
  if (field !== 'globals' && field !== 'builtin') return undefined;
  return ancestorsOf(key).find((a) => index.has(grantId(field, a)));
}

export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Field order, then key. */
export const compareGrants = (a: { field: GrantField; key: string }, b: { field: GrantField; key: string }): number =>
  FIELD_ORDER.indexOf(a.field) - FIELD_ORDER.indexOf(b.field) || compareStrings(a.key, b.key);

/** The `[resource]` of `lavamoat explain`: `fs`, `fs.readFile`, `process.env`, `a>b`, `native`, `builtin:fs`. */
export interface GrantQuery {
  field?: GrantField;
  key: string;
  text: string;
}

const FIELD_PREFIXES: Readonly<Record<string, GrantField>> = {
  builtin: 'builtin',
  builtins: 'builtin',
  global: 'globals',
  globals: 'globals',
  package: 'packages',
  packages: 'packages',
};

export function parseGrantQuery(text: string): GrantQuery {
  if (text === 'native') return { field: 'native', key: 'native', text };
  const colon = text.indexOf(':');
  if (colon > 0) {
    const prefix = text.slice(0, colon);
    if (prefix === 'node') return { field: 'builtin', key: text.slice(colon + 1), text };
    const field = FIELD_PREFIXES[prefix];
    if (field) {
      const key = text.slice(colon + 1);
      return { field, key: field === 'builtin' && key.startsWith('node:') ? key.slice(5) : key, text };
    }
  }
  return { key: text, text };
}

/**
 * Whether a grant is about what the query names: the same key, one below it (`fs` asks
 * about `fs.readFile` too) or one above it (`fs.readFile` is given by a grant of `fs`); a
 * package by its canonical name or its last part (`debug` is `express>debug`).
 */
export function matchesQuery(query: GrantQuery, field: GrantField, key: string): boolean {
  if (query.field !== undefined && query.field !== field) return false;
  switch (field) {
    case 'native':
      return query.key === 'native';
    case 'packages':
      return key === query.key || key.endsWith(`>${query.key}`);
    default:
      return key === query.key || key.startsWith(`${query.key}.`) || query.key.startsWith(`${key}.`);
  }
}

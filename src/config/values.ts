/**
 * Checks of single configuration values, each failing with a message that says where
 * the value came from (the variable, or the package.json key and file) and what is
 * allowed; and the did-you-mean used for unknown keys and variable names.
 */
import {
  LOCKDOWN_OPTION_NAMES,
  lockdownValueProblem,
  refusedLockdownOption,
  type LockdownOptionName,
  type LockdownOptions,
} from '../confine/lockdown-options.js';
import { exceptionProblem } from '../confine/scuttle.js';
import { ConfigError, SCUTTLE_KEYS, type ScuttleGlobalThisConfig } from './types.js';

// ---------------------------------------------------------------------------------
// Where a value came from

export interface Origin {
  kind: 'env' | 'package.json' | 'override';
  /** `LAVAMOAT_LOCKDOWN`, `package.json#lavamoat.lockdown`, `--lockdown`. */
  label: string;
  file?: string;
}

export type PathPart = string | number;

export function describe(origin: Origin, at: readonly PathPart[] = []): string {
  if (origin.kind === 'package.json') {
    const suffix = at.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`)).join('');
    return `${origin.label}${suffix} (in ${origin.file})`;
  }
  if (at.length === 0) return origin.label;
  const inner = at.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
  return `${origin.label} at ${inner}`;
}

export function fail(origin: Origin, at: readonly PathPart[], problem: string): never {
  throw new ConfigError(`LavaMoat: invalid configuration: ${describe(origin, at)}: ${problem}`);
}

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

export const show = (value: unknown): string => {
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
};

// ---------------------------------------------------------------------------------
// Did you mean

export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest of `names` to `input`, if it is close enough to be a likely typo. */
export function didYouMean(input: string, names: readonly string[]): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = distance(lower, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(best.length / 3));
  if (bestDistance <= limit) return best;
  // `debugMode` for `debug`, `policyPath` for `policy`.
  const prefixed = names.find((name) => lower.startsWith(name.toLowerCase()) || name.toLowerCase().startsWith(lower));
  return prefixed;
}

export function unknownKey(origin: Origin, at: readonly PathPart[], key: string, allowed: readonly string[], what: string): never {
  const guess = didYouMean(key, allowed);
  fail(
    origin,
    [...at, key],
    `unknown ${what}${guess ? `; did you mean "${guess}"?` : '.'} Allowed: ${allowed.join(', ')}`,
  );
}

// ---------------------------------------------------------------------------------
// Values

export function parseJson(origin: Origin, text: string, expected: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    fail(origin, [], `not valid JSON (${(error as Error).message}); expected ${expected}`);
  }
}

export const SCUTTLE_EXPECTED = 'a JSON object such as {"enabled":true,"exceptions":["fetch","/^on/"],"scuttlerName":"SCUTTLER"}, or true/false';
export const LOCKDOWN_EXPECTED = 'a JSON object of SES lockdown options such as {"errorTaming":"safe","stackFiltering":"concise"}';

export function envFlag(origin: Origin, value: string): boolean {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  fail(origin, [], `${show(value)} is not allowed; expected 1, true, 0 or false`);
}

export function pathValue(origin: Origin, value: unknown, at: readonly PathPart[] = []): string {
  if (typeof value !== 'string' || value === '') fail(origin, at, `${show(value)} is not allowed; expected a non-empty path`);
  if (value.includes('\0')) fail(origin, at, 'a path cannot contain a NUL character');
  return value;
}

export function booleanValue(origin: Origin, value: unknown, at: readonly PathPart[] = []): boolean {
  if (typeof value !== 'boolean') fail(origin, at, `${show(value)} is not allowed; expected true or false`);
  return value;
}

/** `false` = off, `true` = default directory, a string = that directory. */
export type CacheSetting = string | boolean;

export function cacheValue(origin: Origin, value: unknown): CacheSetting {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && value !== '') return pathValue(origin, value);
  fail(origin, [], `${show(value)} is not allowed; expected a directory path, or false to disable the cache (true: the default directory)`);
}

export function scuttleValue(origin: Origin, value: unknown): Partial<ScuttleGlobalThisConfig> {
  if (typeof value === 'boolean') return { enabled: value };
  if (!isPlainObject(value)) fail(origin, [], `${show(value)} is not allowed; expected ${SCUTTLE_EXPECTED}`);
  const result: Partial<ScuttleGlobalThisConfig> = {};
  for (const [key, item] of Object.entries(value)) {
    switch (key) {
      case 'enabled':
        result.enabled = booleanValue(origin, item, [key]);
        break;
      case 'exceptions': {
        if (!Array.isArray(item)) {
          fail(origin, [key], `${show(item)} is not allowed; expected an array of property names and "/pattern/flags" strings`);
        }
        item.forEach((exception, i) => {
          const problem = exceptionProblem(exception);
          if (problem) fail(origin, [key, i], problem);
        });
        result.exceptions = [...(item as string[])];
        break;
      }
      case 'scuttlerName':
        if (typeof item !== 'string') {
          fail(origin, [key], `${show(item)} is not allowed; expected the name of a global function (a string)`);
        }
        result.scuttlerName = item === '' ? undefined : item;
        break;
      default:
        unknownKey(origin, [], key, SCUTTLE_KEYS, 'scuttleGlobalThis option');
    }
  }
  return result;
}

export function lockdownValue(origin: Origin, value: unknown): Partial<LockdownOptions> {
  if (!isPlainObject(value)) fail(origin, [], `${show(value)} is not allowed; expected ${LOCKDOWN_EXPECTED}`);
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const refused = refusedLockdownOption(key);
    if (refused) fail(origin, [key], refused);
    if (!(LOCKDOWN_OPTION_NAMES as readonly string[]).includes(key)) {
      unknownKey(origin, [], key, LOCKDOWN_OPTION_NAMES, 'lockdown option');
    }
    const problem = lockdownValueProblem(key as LockdownOptionName, item);
    if (problem) fail(origin, [key], problem);
    result[key] = Array.isArray(item) ? [...item] : item;
  }
  return result as Partial<LockdownOptions>;
}


/**
 * Applies `policy-override.json` on top of `policy.json` the way LavaMoat does,
 * with two deliberate differences that the validator then enforces:
 *
 * - a denial under a granted path (`"a": true` with `"a.b": false`) is kept in
 *   the result so validation can reject it; LavaMoat drops it silently, which
 *   leaves the user believing `a.b` is denied while the package receives it;
 * - a redundant grant under a granted path (`"a": true` with `"a.b": true`) is
 *   collapsed to `"a"` instead of failing, since `"a"` already hands over all
 *   of `a`; LavaMoat throws on this for overrides since 2025.
 *
 * The inputs are never modified. To keep start-up cheap, a resource the
 * override does not mention and that needs no collapsing is reused as is
 * rather than copied, so treat both the inputs and the result as read-only.
 */
import type {
  GlobalPolicyValue,
  IncludeEntry,
  LavaMoatPolicy,
  LavaMoatPolicyOverride,
  Resolutions,
  ResourcePolicy,
  Resources,
} from './types.js';

const { hasOwn, keys } = Object;

/**
 * Merges `override` into `policy`. Without an override the policy is still
 * normalised (redundant dotted grants collapsed), so callers always get the
 * same shape of result.
 *
 * Per resource: `globals`, `builtin`, `packages` and `meta` merge key by key
 * with the override winning; `native` is taken from the override when it sets
 * it. For `globals` and `builtin`, a `false` in the override also removes the
 * dotted sub-keys the policy granted beneath it, while sub-keys the override
 * grants itself stay. `root` merges key by key, `include` is concatenated
 * without duplicates and `resolutions` merge per package.
 */
export function mergePolicy(policy: LavaMoatPolicy, override?: LavaMoatPolicyOverride): LavaMoatPolicy {
  const merged: LavaMoatPolicy = { resources: mergeResources(policy.resources, override?.resources) };
  const root = policy.root || override?.root ? { ...policy.root, ...override?.root } : undefined;
  if (root) merged.root = root;
  const include = mergeInclude(policy.include, override?.include);
  if (include) merged.include = include;
  const resolutions = mergeResolutions(policy.resolutions, override?.resolutions);
  if (resolutions) merged.resolutions = resolutions;
  return merged;
}

function mergeResources(base: Resources, override: Resources | undefined): Resources {
  // Entries then fromEntries, not assignment: a resource named "__proto__"
  // must stay a key.
  const entries: [string, ResourcePolicy][] = [];
  for (const name of keys(base)) {
    const changes = override && hasOwn(override, name) ? override[name] : undefined;
    entries.push([name, changes ? mergeResource(base[name], changes) : normaliseResource(base[name]!)]);
  }
  if (override) {
    for (const name of keys(override)) {
      if (!hasOwn(base, name)) entries.push([name, mergeResource(undefined, override[name])]);
    }
  }
  return Object.fromEntries(entries);
}

/** The resource itself unless it holds redundant dotted grants or `node:`-spelled builtins. */
function normaliseResource(resource: ResourcePolicy): ResourcePolicy {
  const collapseGlobals = resource.globals !== undefined && hasNestedKeys(resource.globals);
  const collapseBuiltin = resource.builtin !== undefined && (hasNestedKeys(resource.builtin) || hasNodePrefix(resource.builtin));
  if (!collapseGlobals && !collapseBuiltin) return resource;
  const copy = { ...resource };
  if (collapseGlobals) copy.globals = mergeDotted(resource.globals, undefined);
  if (collapseBuiltin) copy.builtin = mergeDotted(bareBuiltins(resource.builtin), undefined);
  return copy;
}

const hasNodePrefix = (record: Record<string, unknown>): boolean => {
  for (const key in record) if (hasOwn(record, key) && key.startsWith('node:')) return true;
  return false;
};

/**
 * `builtin` with every `node:` prefix dropped: `"node:fs.readFile"` and `"fs.readFile"`
 * are the same grant to the runtime (confine/builtins.ts), so they must be the same key
 * to the merge too. Kept apart, an override's `"child_process": false` left the policy's
 * `"node:child_process": true` in place, and the package kept the module the override
 * took away (attack case 140). Where one file spells a key both ways with different
 * values, the denial wins.
 */
function bareBuiltins(record: Record<string, boolean> | undefined): Record<string, boolean> | undefined {
  if (record === undefined || !hasNodePrefix(record)) return record;
  const entries = new Map<string, boolean>();
  for (const key of keys(record)) {
    const bare = key.startsWith('node:') ? key.slice(5) : key;
    const value = record[key]!;
    entries.set(bare, entries.get(bare) === false ? false : value);
  }
  return Object.fromEntries(entries);
}

/** Whether some key has one of its ancestors in the same record (`"a"` and `"a.b"`). */
function hasNestedKeys(record: Record<string, unknown>): boolean {
  // for-in: much cheaper than Object.keys in cold code (this runs once per start).
  for (const key in record) {
    if (!hasOwn(record, key)) continue;
    for (let end = key.indexOf('.'); end !== -1; end = key.indexOf('.', end + 1)) {
      if (hasOwn(record, key.slice(0, end))) return true;
    }
  }
  return false;
}

function mergeResource(base: ResourcePolicy | undefined, override: ResourcePolicy): ResourcePolicy {
  const result: ResourcePolicy = {};
  if (base?.globals || override.globals) {
    result.globals = mergeDotted<GlobalPolicyValue>(base?.globals, override.globals);
  }
  if (base?.builtin || override.builtin) {
    result.builtin = mergeDotted<boolean>(bareBuiltins(base?.builtin), bareBuiltins(override.builtin));
  }
  if (base?.packages || override.packages) {
    // `false` stays in the result: it documents that the override took the
    // package away, and the runtime treats it as not granted.
    result.packages = { ...base?.packages, ...override.packages };
  }
  if (hasOwn(override, 'native')) result.native = override.native!;
  else if (base && hasOwn(base, 'native')) result.native = base.native!;
  if (base?.meta || override.meta) {
    result.meta = Object.fromEntries(
      Object.entries({ ...base?.meta, ...override.meta }).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]),
    );
  }
  return result;
}

/**
 * Merges two dotted-path records (`globals` or `builtin`).
 *
 * Each path is judged against those of its ancestors that are themselves kept:
 * - under a granted ancestor, a grant is redundant and dropped; a denial is
 *   kept for the validator to reject (allow-list only);
 * - under denied ancestors only, a denial is redundant and dropped; a grant is
 *   dropped if the policy granted it and the override denied the ancestor
 *   (the override's denial wins over generated sub-keys), and kept when the
 *   override grants it or the deny and the grant come from the same file.
 *
 * Written for the interpreter as much as the JIT: this runs once per start,
 * over every resource, so it avoids sorting and per-key allocations.
 */
function mergeDotted<V extends GlobalPolicyValue>(
  base: Record<string, V> | undefined,
  override: Record<string, V> | undefined,
): Record<string, V> {
  const values = new Map<string, V>();
  if (base) for (const key of keys(base)) values.set(key, base[key]!);
  if (override) for (const key of keys(override)) values.set(key, override[key]!);
  const overrideHas = (key: string): boolean => override !== undefined && hasOwn(override, key);

  const decided = new Map<string, boolean>();
  const isKept = (key: string): boolean => {
    let end = key.indexOf('.');
    if (end === -1) return true;
    const known = decided.get(key);
    if (known !== undefined) return known;
    let grantedAbove = false;
    let deniedAbove = false;
    let deniedByOverride = false;
    for (; end !== -1; end = key.indexOf('.', end + 1)) {
      const ancestor = key.slice(0, end);
      const above = values.get(ancestor);
      if (above === undefined || !isKept(ancestor)) continue;
      if (above === false) {
        deniedAbove = true;
        if (overrideHas(ancestor)) deniedByOverride = true;
      } else {
        grantedAbove = true;
      }
    }
    const value = values.get(key);
    let kept: boolean;
    if (grantedAbove) kept = value === false;
    else if (deniedAbove) kept = value !== false && !(deniedByOverride && !overrideHas(key));
    else kept = true;
    decided.set(key, kept);
    return kept;
  };

  // Keep the files' own order (policy first), which is what users read.
  // fromEntries, not assignment, so that no key can reach a prototype.
  const entries: [string, V][] = [];
  for (const [key, value] of values) if (isKept(key)) entries.push([key, value]);
  return Object.fromEntries(entries);
}

function mergeInclude(
  base: readonly IncludeEntry[] | undefined,
  override: readonly IncludeEntry[] | undefined,
): IncludeEntry[] | undefined {
  if (!base && !override) return undefined;
  const seen = new Set<string>();
  const result: IncludeEntry[] = [];
  for (const item of [...(base ?? []), ...(override ?? [])]) {
    const id = includeIdentity(item);
    if (seen.has(id)) continue;
    seen.add(id);
    result.push(typeof item === 'string' ? item : { ...item, ...(item.modules ? { modules: [...item.modules] } : {}) });
  }
  return result;
}

/**
 * The order of `modules` does not make two entries different; a bare string
 * stays distinct from `{ name }` because LavaMoat reads it as the package's
 * entry module only.
 */
function includeIdentity(item: IncludeEntry): string {
  if (typeof item === 'string') return `string:${item}`;
  const modules = item.modules ? [...item.modules].sort().join('\0') : '';
  return 'name' in item ? `name:${item.name}\0${modules}` : `location:${item.location}\0${modules}`;
}

function mergeResolutions(
  base: Resolutions | undefined,
  override: Resolutions | undefined,
): Resolutions | undefined {
  if (!base && !override) return undefined;
  const names = new Set([...keys(base ?? {}), ...keys(override ?? {})]);
  return Object.fromEntries(
    [...names].map((name) => [
      name,
      { ...(base ? ownValue(base, name) : undefined), ...(override ? ownValue(override, name) : undefined) },
    ]),
  );
}

/** Reads only own keys, so names like "constructor" never reach Object.prototype. */
function ownValue<T>(record: Record<string, T>, key: string): T | undefined {
  return hasOwn(record, key) ? record[key] : undefined;
}

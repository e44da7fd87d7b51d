/**
 * From what each package's modules use to its LavaMoat resource policy, with the
 * evidence for every grant (for `policy-debug.json`).
 *
 * - `globals`: a path is granted `true`, or `"write"` when some module assigns exactly
 *   that path. A path below a granted one is redundant and folded into it (never both
 *   `"a"` and `"a.b"`). A path only tested with `typeof` is satisfied by any grant at,
 *   above or below it; only when nothing else grants it is it granted itself, so that
 *   the test sees what it sees under plain Node.
 * - `builtin`: `"fs"` for a whole module, `"fs.readFile"` for members, folded the same way.
 * - `packages`: canonical names; `native: true` for addon loaders.
 * - strict mode only: `"write"` for an object global the code changes (`process.env`,
 *   dotenv) and for a package whose exports it changes (moment-timezone's `moment`);
 *   without strict mode a read grant lets it change them anyway (LavaMoat's semantics),
 *   and the policy stays as LavaMoat's own tools read it.
 * Output is sorted at every level, so the same app always gives the same bytes.
 */
import type { GlobalPolicyValue, LavaMoatPolicy, PackagePolicyValue, ResourcePolicy, Resources } from '../policy/types.js';
import type { GlobalAccess } from './analyse/index.js';

/** `file:line:column`, plus the longer path the code used when it differs from the grant. */
export type Evidence = string;

export interface ResourceDebug {
  modules: string[];
  globals?: Record<string, Evidence[]>;
  builtin?: Record<string, Evidence[]>;
  packages?: Record<string, Evidence[]>;
  native?: Evidence[];
}

interface GlobalEntry {
  read: Set<Evidence>;
  write: Set<Evidence>;
  presence: Set<Evidence>;
  redefine: Set<Evidence>;
}

type GlobalAccessKind = 'read' | 'write' | 'presence' | 'redefine';

export class PackageUsage {
  readonly globals = new Map<string, GlobalEntry>();
  readonly builtin = new Map<string, Set<Evidence>>();
  readonly packages = new Map<string, Set<Evidence>>();
  /** Object globals the code changes (`process.env`), or passes to functions; packages whose exports it changes. */
  readonly globalChanges = new Map<string, Set<Evidence>>();
  /** Handed to functions: by the path granted, the full paths handed (only an object can be changed there). */
  readonly globalsPassed = new Map<string, Map<string, Set<Evidence>>>();
  readonly packageChanges = new Map<string, Set<Evidence>>();
  readonly native = new Set<Evidence>();
  readonly modules = new Set<string>();

  addGlobal(path: string, access: GlobalAccess, evidence: Evidence): void {
    let entry = this.globals.get(path);
    if (!entry) {
      entry = { read: new Set(), write: new Set(), presence: new Set(), redefine: new Set() };
      this.globals.set(path, entry);
    }
    entry[access].add(evidence);
  }

  addBuiltin(key: string, evidence: Evidence): void {
    addTo(this.builtin, key, evidence);
  }

  addPackage(name: string, evidence: Evidence): void {
    addTo(this.packages, name, evidence);
  }

  addGlobalChange(path: string, kind: 'changes' | 'passed', full: string, evidence: Evidence): void {
    if (kind === 'changes') {
      addTo(this.globalChanges, path, evidence);
      return;
    }
    let byFull = this.globalsPassed.get(path);
    if (!byFull) this.globalsPassed.set(path, (byFull = new Map()));
    addTo(byFull, full, evidence);
  }

  addPackageChange(name: string, evidence: Evidence): void {
    addTo(this.packageChanges, name, evidence);
  }

  /** Adds everything `other` uses (for `root.usePolicy` naming an existing resource). */
  merge(other: PackageUsage): void {
    for (const [path, entry] of other.globals) {
      for (const access of ['read', 'write', 'presence', 'redefine'] as const) for (const e of entry[access]) this.addGlobal(path, access, e);
    }
    for (const [key, set] of other.builtin) for (const e of set) this.addBuiltin(key, e);
    for (const [key, set] of other.packages) for (const e of set) this.addPackage(key, e);
    for (const [key, set] of other.globalChanges) for (const e of set) this.addGlobalChange(key, 'changes', key, e);
    for (const [key, byFull] of other.globalsPassed) {
      for (const [full, set] of byFull) for (const e of set) this.addGlobalChange(key, 'passed', full, e);
    }
    for (const [key, set] of other.packageChanges) for (const e of set) this.addPackageChange(key, e);
    for (const e of other.native) this.native.add(e);
    for (const m of other.modules) this.modules.add(m);
  }
}

function addTo(map: Map<string, Set<Evidence>>, key: string, evidence: Evidence): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(evidence);
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Proper ancestors of a dotted key, shortest first: `a.b.c` → `a`, `a.b`. */
function ancestors(key: string): string[] {
  const out: string[] = [];
  for (let i = key.indexOf('.'); i !== -1; i = key.indexOf('.', i + 1)) out.push(key.slice(0, i));
  return out;
}

/** Folds keys that have a granted ancestor into that ancestor (evidence included). */
function collapse<V>(entries: Map<string, { value: V; evidence: Set<Evidence> }>): void {
  for (const key of [...entries.keys()].sort(compare)) {
    const entry = entries.get(key);
    if (!entry) continue;
    const ancestor = ancestors(key).find((a) => entries.has(a));
    if (ancestor !== undefined) {
      for (const e of entry.evidence) entries.get(ancestor)!.evidence.add(e);
      entries.delete(key);
    }
  }
}

function sortedEvidence(set: Set<Evidence>): Evidence[] {
  return [...set].sort(compareEvidence);
}

/** By file, then numerically by line and column. */
function compareEvidence(a: string, b: string): number {
  const pa = /^(.*):(\d+):(\d+)(.*)$/.exec(a);
  const pb = /^(.*):(\d+):(\d+)(.*)$/.exec(b);
  if (!pa || !pb) return compare(a, b);
  return (
    compare(pa[1]!, pb[1]!) ||
    Number(pa[2]) - Number(pb[2]) ||
    Number(pa[3]) - Number(pb[3]) ||
    compare(pa[4]!, pb[4]!)
  );
}

/**
 * Whether the global at a dotted path is, in this Node process, an object that strict
 * mode makes read-only under a read grant: `process.env`, or plain data. (Other host
 * objects, `process.stdout`, are read-only views under any grant.)
 */
function isHostObject(path: string): boolean {
  const value = hostValueAt(path);
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return value === process.env || proto === Object.prototype || proto === null || Array.isArray(value);
}

/** Whether the global at a dotted path is a function in this Node process. */
function isHostFunction(path: string): boolean {
  return typeof hostValueAt(path) === 'function';
}

/** The value at a dotted path of this process's global object; undefined where a step fails. */
function hostValueAt(path: string): unknown {
  let value: unknown = globalThis;
  for (const part of path.split('.')) {
    if (value === null || value === undefined) return undefined;
    try {
      value = (value as Record<string, unknown>)[part];
    } catch {
      return undefined;
    }
  }
  return value;
}

function finishGlobals(usage: PackageUsage, strict: boolean): Map<string, { value: GlobalPolicyValue; evidence: Set<Evidence> }> {
  const granted = new Map<string, { value: GlobalPolicyValue; evidence: Set<Evidence> }>();
  for (const [path, entry] of usage.globals) {
    // Handed to a function, only an object can be changed there (`process.env`, not a
    // string, a function or a host object of this Node's, see isHostObject).
    const passed = strict
      ? [...(usage.globalsPassed.get(path) ?? [])].filter(([full]) => isHostObject(full)).flatMap(([, evidence]) => [...evidence])
      : [];
    const changed = strict ? usage.globalChanges.get(path) : undefined;
    const changes = changed || passed.length > 0 ? new Set([...(changed ?? []), ...passed]) : undefined;
    if (entry.redefine.size > 0) {
      granted.set(path, { value: 'redefine', evidence: new Set([...entry.redefine, ...entry.write, ...entry.read]) });
    } else if (entry.write.size > 0 || changes) {
      granted.set(path, { value: 'write', evidence: new Set([...entry.write, ...(changes ?? []), ...entry.read]) });
    } else if (entry.read.size > 0) granted.set(path, { value: true, evidence: new Set(entry.read) });
  }
  collapse(granted);
  // Presence checks, shortest first so that `typeof a` granted covers `typeof a.b`.
  const presenceOnly = [...usage.globals].filter(([, e]) => e.presence.size > 0).sort(([a], [b]) => compare(a, b));
  for (const [path, entry] of presenceOnly) {
    // A grant below a function (`Buffer.from`) gives an object in its place: `typeof`
    // would say "object" where Node says "function", so only the function itself will do.
    const satisfiedBy =
      (granted.has(path) ? path : undefined) ??
      ancestors(path).find((a) => granted.has(a)) ??
      // The first in sorted order: analyses finish in any order (worker threads), and
      // the debug file must not depend on it.
      (isHostFunction(path) ? undefined : [...granted.keys()].sort(compare).find((k) => k.startsWith(`${path}.`)));
    const evidence = [...entry.presence].map((e) => `${e} (typeof)`);
    if (satisfiedBy !== undefined) {
      for (const e of evidence) granted.get(satisfiedBy)!.evidence.add(e);
    } else {
      granted.set(path, { value: true, evidence: new Set(evidence) });
    }
  }
  // A presence grant can cover paths granted below it (`typeof Buffer` with `Buffer.from`).
  collapse(granted);
  return granted;
}

function finishRecord(map: Map<string, Set<Evidence>>): Map<string, { value: true; evidence: Set<Evidence> }> {
  const entries = new Map<string, { value: true; evidence: Set<Evidence> }>();
  for (const [key, evidence] of map) entries.set(key, { value: true, evidence: new Set(evidence) });
  collapse(entries);
  return entries;
}

export interface BuiltPolicy {
  resources: Resources;
  debug: Record<string, ResourceDebug>;
  grants: number;
}

/**
 * Builds the `resources` of a policy. `usages` is keyed by canonical name; the root's
 * usage (`$root$`) becomes the resource named by `usePolicy`, and is dropped otherwise.
 */
export function buildResources(usages: Map<string, PackageUsage>, rootName: string, usePolicy?: string, strict = false): BuiltPolicy {
  const byName = new Map<string, PackageUsage>();
  for (const [name, usage] of usages) {
    let target = name;
    if (name === rootName) {
      if (usePolicy === undefined) continue;
      target = usePolicy;
    }
    const existing = byName.get(target);
    if (existing) existing.merge(usage);
    else if (name === rootName) {
      const copy = new PackageUsage();
      copy.merge(usage);
      byName.set(target, copy);
    } else byName.set(target, usage);
  }

  const resources: Resources = {};
  const debug: Record<string, ResourceDebug> = {};
  let grants = 0;
  for (const name of [...byName.keys()].sort(compare)) {
    const usage = byName.get(name)!;
    const resource: ResourcePolicy = {};
    const info: ResourceDebug = { modules: [...usage.modules].sort(compare) };

    const globals = finishGlobals(usage, strict);
    if (globals.size > 0) {
      resource.globals = {};
      info.globals = {};
      for (const key of [...globals.keys()].sort(compare)) {
        const { value, evidence } = globals.get(key)!;
        resource.globals[key] = value;
        info.globals[key] = sortedEvidence(evidence);
      }
    }
    const builtin = finishRecord(usage.builtin);
    if (builtin.size > 0) {
      resource.builtin = {};
      info.builtin = {};
      for (const key of [...builtin.keys()].sort(compare)) {
        resource.builtin[key] = true;
        info.builtin[key] = sortedEvidence(builtin.get(key)!.evidence);
      }
    }
    if (usage.packages.size > 0) {
      resource.packages = {};
      info.packages = {};
      for (const key of [...usage.packages.keys()].sort(compare)) {
        const changes = strict ? usage.packageChanges.get(key) : undefined;
        resource.packages[key] = (changes ? 'write' : true) satisfies PackagePolicyValue;
        info.packages[key] = sortedEvidence(new Set([...usage.packages.get(key)!, ...(changes ?? [])]));
      }
    }
    if (usage.native.size > 0) {
      resource.native = true;
      info.native = sortedEvidence(usage.native);
    }
    const count =
      Object.keys(resource.globals ?? {}).length +
      Object.keys(resource.builtin ?? {}).length +
      Object.keys(resource.packages ?? {}).length +
      (resource.native ? 1 : 0);
    debug[name] = info;
    if (count === 0) continue;
    grants += count;
    // Field order as LavaMoat writes it after sorting: builtin, globals, native, packages.
    resources[name] = sortKeys(resource) as ResourcePolicy;
  }
  return { resources, debug, grants };
}

/** A copy of a JSON value with every object's keys sorted (what `json-stable-stringify` gives). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort(compare)
    .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])] as const);
  return Object.fromEntries(entries);
}

/** 2-space JSON with sorted keys and a final newline: the bytes written to disk. */
export function stringifyPolicy(policy: LavaMoatPolicy | object): string {
  return `${JSON.stringify(sortKeys(policy), null, 2)}\n`;
}

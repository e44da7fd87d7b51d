/**
 * `lavamoat trim`: a policy keeping only the grants that recordings (report/recording.ts)
 * saw used, and what was taken out. A grant is kept when:
 *
 * - globals: its key was read or written (`process.env`), or the compartment's own
 *   intrinsics meet it (unobservable: `Object.keys`), or it is a dotted grant whose object
 *   the package read without reading any granted member (`typeof process`);
 * - builtin: a whole module (`"fs"`) when the package linked it (imported, required or
 *   resolved it: without the grant that link fails, used or not); a member
 *   (`"fs.readFile"`) when read, when every member counts (`import * as`), or when the
 *   package linked the module and read none of its granted members (so that the link
 *   still succeeds);
 * - packages: when the package linked to it; native: when it loaded an addon.
 *
 * A resource whose package never ran in any recording loses every grant (unless
 * `keepUnloaded`). Values that grant nothing (`false`) stay. Nothing is ever added:
 * denials in the recordings are reported, not granted.
 */
import type { BuiltinPolicy, GlobalPolicy, LavaMoatPolicy, PackagePolicy, ResourcePolicy } from './types.js';
import { mergeRecordings, type RecordedDenial, type RecordedResource, type RecordingFile } from '../report/recording.js';

export type TrimField = 'globals' | 'builtin' | 'packages' | 'native';

export interface TrimRemoval {
  resource: string;
  field: TrimField;
  /** The grant's key (`process.env`, `fs.readFile`, a canonical name); `native` for native. */
  key: string;
  /** Why it is gone: not used in the recordings, or the package never ran. */
  reason: 'unused' | 'not-loaded';
}

export interface TrimResult {
  policy: LavaMoatPolicy;
  removed: TrimRemoval[];
  /** Grants of the override that were not used either (the override is not changed). */
  unusedInOverride: TrimRemoval[];
  /** Resources of packages that never ran in any recording. */
  notLoaded: string[];
  /** Whole builtin modules kept, with the members the recordings saw read (for narrowing by hand). */
  wholeModules: { resource: string; module: string; members: string[] }[];
  denials: RecordedDenial[];
  /** The recordings, merged. */
  recording: RecordingFile;
}

export interface TrimOptions {
  /** Keep the resources of packages that never ran in any recording as they are. */
  keepUnloaded?: boolean;
  /** The override, for the report of its unused grants. */
  override?: Partial<LavaMoatPolicy> | undefined;
}

const isGrant = (value: unknown): boolean => value === true || value === 'read' || value === 'write' || value === 'redefine';

const bareBuiltin = (key: string): string => (key.startsWith('node:') ? key.slice(5) : key);

function keepGlobal(key: string, used: RecordedResource): boolean {
  const globals = new Set(used.globals ?? []);
  if (globals.has(key) || (used.unobserved ?? []).includes(key)) return true;
  for (const path of globals) if (path.startsWith(`${key}.`)) return true;
  const dot = key.indexOf('.');
  if (dot === -1) return false;
  // The object holding dotted grants read without any of them (`typeof process`).
  const root = key.slice(0, dot);
  return globals.has(root) && ![...globals].some((path) => path.startsWith(`${root}.`));
}

/** The builtin keys of `builtin` that `used` needs. */
function keptBuiltins(builtin: BuiltinPolicy, used: RecordedResource): Set<string> {
  const kept = new Set<string>();
  const linked = used.builtin ?? {};
  const memberGrants = new Map<string, string[]>();
  for (const [key, value] of Object.entries(builtin)) {
    if (value !== true) continue;
    const bare = bareBuiltin(key);
    const dot = bare.indexOf('.');
    const module = dot === -1 ? bare : bare.slice(0, dot);
    if (!Object.prototype.hasOwnProperty.call(linked, module)) continue;
    if (dot === -1) {
      kept.add(key);
      continue;
    }
    const member = bare.slice(dot + 1);
    const read = linked[module]!;
    if (read.some((m) => m === '*' || m === member || member.startsWith(`${m}.`) || m.startsWith(`${member}.`))) kept.add(key);
    else {
      const list = memberGrants.get(module) ?? [];
      list.push(key);
      memberGrants.set(module, list);
    }
  }
  // A module linked with none of its granted members read keeps them all: the link needs one.
  for (const [module, keys] of memberGrants) {
    const anyKept = [...kept].some((key) => {
      const bare = bareBuiltin(key);
      return bare === module || bare.startsWith(`${module}.`);
    });
    if (!anyKept) for (const key of keys) kept.add(key);
  }
  return kept;
}

/** The grants of `resource` that `used` does not need, field by field. */
function unusedGrants(name: string, resource: ResourcePolicy, used: RecordedResource | undefined, reasonIfAny: TrimRemoval['reason']): TrimRemoval[] {
  const out: TrimRemoval[] = [];
  const reason = used?.loaded ? 'unused' : reasonIfAny;
  for (const [key, value] of Object.entries(resource.globals ?? {})) {
    if (isGrant(value) && !(used?.loaded && keepGlobal(key, used))) out.push({ resource: name, field: 'globals', key, reason });
  }
  const kept = used?.loaded ? keptBuiltins(resource.builtin ?? {}, used) : new Set<string>();
  for (const [key, value] of Object.entries(resource.builtin ?? {})) {
    if (value === true && !kept.has(key)) out.push({ resource: name, field: 'builtin', key, reason });
  }
  for (const [key, value] of Object.entries(resource.packages ?? {})) {
    if (value === true && !(used?.loaded && (used.packages ?? []).includes(key))) out.push({ resource: name, field: 'packages', key, reason });
  }
  if (resource.native === true && !(used?.loaded && used.native)) out.push({ resource: name, field: 'native', key: 'native', reason });
  return out;
}

export function trimPolicy(policy: LavaMoatPolicy, recordings: readonly RecordingFile[], options: TrimOptions = {}): TrimResult {
  const recording = recordings.reduce(mergeRecordings, { lavamoatRecording: 1, runs: [], resources: {}, denials: [] } as RecordingFile);
  const resources: Record<string, ResourcePolicy> = {};
  const removed: TrimRemoval[] = [];
  const notLoaded: string[] = [];
  const wholeModules: TrimResult['wholeModules'] = [];
  for (const [name, resource] of Object.entries(policy.resources ?? {})) {
    const used = recording.resources[name];
    if (!used?.loaded) {
      const grants = unusedGrants(name, resource, undefined, 'not-loaded');
      if (grants.length > 0) notLoaded.push(name);
      if (options.keepUnloaded) {
        resources[name] = resource;
        continue;
      }
    }
    const gone = unusedGrants(name, resource, used, 'not-loaded');
    removed.push(...gone);
    const drop = (field: TrimField, key: string) => gone.some((r) => r.field === field && r.key === key);
    const next: ResourcePolicy = { ...resource };
    const filter = <T extends GlobalPolicy | BuiltinPolicy | PackagePolicy>(field: 'globals' | 'builtin' | 'packages', value: T | undefined) => {
      if (value === undefined) return;
      const kept = Object.fromEntries(Object.entries(value).filter(([key]) => !drop(field, key))) as T;
      if (Object.keys(kept).length > 0) (next as Record<string, unknown>)[field] = kept;
      else delete (next as Record<string, unknown>)[field];
    };
    filter('globals', resource.globals);
    filter('builtin', resource.builtin);
    filter('packages', resource.packages);
    if (drop('native', 'native')) delete next.native;
    // A resource left with nothing is dropped (it grants what an absent one grants).
    const left = Object.keys(next).filter((key) => key !== 'meta');
    if (gone.length > 0 && left.length === 0) continue;
    resources[name] = next;
    for (const [key, value] of Object.entries(next.builtin ?? {})) {
      const bare = bareBuiltin(key);
      if (value === true && !bare.includes('.') && used?.builtin?.[bare]) {
        wholeModules.push({ resource: name, module: bare, members: used.builtin[bare]! });
      }
    }
  }
  const unusedInOverride: TrimRemoval[] = [];
  for (const [name, resource] of Object.entries(options.override?.resources ?? {})) {
    if (resource) unusedInOverride.push(...unusedGrants(name, resource as ResourcePolicy, recording.resources[name], 'not-loaded'));
  }
  return {
    policy: { ...policy, resources },
    removed,
    unusedInOverride,
    notLoaded,
    wholeModules,
    denials: recording.denials,
    recording,
  };
}

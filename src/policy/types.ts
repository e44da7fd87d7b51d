/**
 * The LavaMoat policy format, as users already have it on disk
 * (`lavamoat/node/policy.json` and `lavamoat/node/policy-override.json`).
 *
 * These follow `@lavamoat/types` (LavaMoat's own TypeScript description of the
 * format), not the older `lavamoat-policy.v0-0-1.schema.json`, which predates
 * `native`, `root`, `include` and `meta` and spells the builtin field
 * `builtins`: policies LavaMoat generates today would not pass it.
 */

/**
 * A package's shortest path from the root through the dependency tree, names
 * joined by `>` (`some-package>entropoetry>bn.js`).
 */
export type CanonicalName = string;

/**
 * `true` reads the global; `"read"` is the old spelling of `true`; `"write"`
 * makes it assignable (the write is seen by every package that reads it);
 * `"redefine"` also allows `Object.defineProperty` on it; `false` denies it
 * (meant for overrides that take back a generated grant).
 */
export type GlobalPolicyValue = boolean | 'read' | 'write' | 'redefine';

/** Keys are global names, or dotted paths that narrow to members (`"Buffer.from"`). */
export type GlobalPolicy = Record<string, GlobalPolicyValue>;

/** Keys are builtin module names (`"fs"`) or dotted members (`"fs.readFile"`). */
export type BuiltinPolicy = Record<string, boolean>;

/**
 * Keys are canonical names of packages this package may import. `"write"` (this
 * runtime's extension; LavaMoat's values are booleans) grants the package and, in
 * strict mode, lets this package change what that package exports (moment-timezone
 * extending moment). Outside strict mode it is the same as `true`.
 */
export type PackagePolicyValue = boolean | 'write';
export type PackagePolicy = Record<CanonicalName, PackagePolicyValue>;

/** Free-form notes about a resource; LavaMoat marks this field experimental. */
export type ResourceMetadata = Record<string, string | string[]>;

export interface ResourcePolicy {
  globals?: GlobalPolicy;
  builtin?: BuiltinPolicy;
  packages?: PackagePolicy;
  /** May load `.node` addons. */
  native?: boolean;
  meta?: ResourceMetadata;
  /** LavaMoat's request for an unfrozen global object; compartment globals are never frozen here. */
  env?: 'unfrozen';
}

export type Resources = Record<CanonicalName, ResourcePolicy>;

export interface RootPolicy {
  /** Confines the root package with this resource's policy (the root is trusted otherwise). */
  usePolicy?: CanonicalName;
}

/** Force a package (and optionally some of its modules) into the generated policy. */
export interface IncludeEntryByName {
  name: CanonicalName;
  modules?: string[];
}

/** Same, by a location relative to the project root that must not leave it. */
export interface IncludeEntryByLocation {
  location: string;
  modules?: string[];
}

/** A bare string is a canonical name, as if `{ name }`. */
export type IncludeEntry = CanonicalName | IncludeEntryByName | IncludeEntryByLocation;

/**
 * Run-time module substitutions per package: original specifier to a path
 * relative to that package's root. Deprecated in LavaMoat, still read.
 */
export type Resolutions = Record<CanonicalName, Record<string, string>>;

/** `policy.json`, and the result of merging an override into it. */
export interface LavaMoatPolicy {
  /** Lets editors find `schema/policy.schema.json`; ignored otherwise. */
  $schema?: string;
  resources: Resources;
  root?: RootPolicy;
  include?: IncludeEntry[];
  resolutions?: Resolutions;
}

/** `policy-override.json`: the same shape, but it may leave `resources` out. */
export interface LavaMoatPolicyOverride extends Omit<LavaMoatPolicy, 'resources'> {
  resources?: Resources;
}

/**
 * What a value is validated as: a standalone `policy.json`, an override (which
 * may point at resources that only exist in the policy), or the merge of both
 * (complete, so every reference must resolve).
 */
export type PolicyKind = 'policy' | 'override' | 'merged';

/** One problem found by validation; `path` is a JSON path such as `resources["a>b"].globals["fetch"]`. */
export interface PolicyIssue {
  path: string;
  message: string;
}

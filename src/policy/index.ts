/** The policy module: LavaMoat policy types, validation, merging and loading. */
export type {
  BuiltinPolicy,
  CanonicalName,
  GlobalPolicy,
  GlobalPolicyValue,
  IncludeEntry,
  IncludeEntryByLocation,
  IncludeEntryByName,
  LavaMoatPolicy,
  LavaMoatPolicyOverride,
  PackagePolicy,
  PolicyIssue,
  PolicyKind,
  Resolutions,
  ResourceMetadata,
  ResourcePolicy,
  Resources,
  RootPolicy,
} from './types.js';
export { formatIssues, isCanonicalName, validateMergeResult, validatePolicy } from './validate.js';
export { mergePolicy } from './merge.js';
export { PolicyError, assertValidPolicy, loadPolicy, policyFromTexts } from './load.js';
export type { LoadPolicyOptions, LoadedPolicy, PolicyErrorCode, PolicyTexts } from './load.js';

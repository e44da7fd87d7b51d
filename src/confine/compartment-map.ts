/**
 * From LavaMoat's policy to @endo/compartment-mapper's compartment map.
 *
 * compartment-mapper enforces its own policy format at every link between
 * compartments: `packages` (canonical names, as LavaMoat's), `builtins` (LavaMoat
 * spells it `builtin`, and grants dotted members where compartment-mapper grants
 * whole modules) and `globals` (a list of top-level names copied from one shared
 * object). The converter keeps compartment-mapper's checks as a second line of
 * defence: a package's compartment policy allows exactly the packages and builtin
 * modules its LavaMoat policy names. Member narrowing of builtins and globals, which
 * compartment-mapper cannot express without attenuator packages, is done by this
 * project's exit hooks and endowments, and compartment-mapper's global list is left
 * empty.
 */
import type { LavaMoatPolicy, ResourcePolicy } from '../policy/types.js';
import type { PackageInfo, PackageMap } from '../graph/package-map.js';
import { ROOT_NAME } from '../graph/package-map.js';

/** compartment-mapper's package policy, the fields this project uses. */
export interface EndoPackagePolicy {
  packages: Record<string, true>;
  builtins: Record<string, true>;
  globals: Record<string, true>;
  /** LavaMoat lets a package add its own globals; they stay in its compartment. */
  noGlobalFreeze: true;
  options: { native: boolean };
}

/** The language every file is given; the parser picks the format the way Node does. */
export const NODE_LANGUAGE = 'node';
/** Extensions the compartments parse; others fail with a clear error, as in Node's ESM loader. */
export const PARSED_EXTENSIONS = ['js', 'cjs', 'mjs', 'json', 'node', 'wasm', ''] as const;
/**
 * Entry of the compartment map: an empty exit module in a compartment of its own, at a
 * location that holds no files, which only makes compartment-mapper link the others.
 */
export const ENTRY_SPECIFIER = 'lavamoat:entry';
export const ENTRY_LOCATION = 'file:///%00lavamoat-entry/';

export function convertResourcePolicy(resource: ResourcePolicy | undefined): EndoPackagePolicy {
  const packages: Record<string, true> = {};
  for (const [name, allowed] of Object.entries(resource?.packages ?? {})) {
    if (allowed === true || allowed === 'write') packages[name] = true;
  }
  const builtins: Record<string, true> = {};
  for (const [key, allowed] of Object.entries(resource?.builtin ?? {})) {
    if (allowed !== true) continue;
    const bare = key.startsWith('node:') ? key.slice(5) : key;
    const moduleName = bare.split('.')[0]!;
    builtins[moduleName] = true;
    builtins[`node:${moduleName}`] = true;
  }
  return { packages, builtins, globals: {}, noGlobalFreeze: true, options: { native: resource?.native === true } };
}

export interface CompartmentDescriptor {
  name: string;
  label: string;
  location: string;
  modules: Record<string, unknown>;
  scopes: Record<string, unknown>;
  parsers: Record<string, string>;
  types: Record<string, string>;
  policy: EndoPackagePolicy | undefined;
  version: string;
  sourceDirname: string;
}

export interface CompartmentMap {
  tags: string[];
  entry: { compartment: string; module: string };
  compartments: Record<string, CompartmentDescriptor>;
}

const parsers = Object.fromEntries(PARSED_EXTENSIONS.map((ext) => [ext, NODE_LANGUAGE]));

/** The resource policy that confines `info`, or undefined for the trusted root. */
export function resourceFor(info: PackageInfo, policy: LavaMoatPolicy): ResourcePolicy | undefined {
  if (info.name === ROOT_NAME) {
    const usePolicy = policy.root?.usePolicy;
    return usePolicy === undefined ? undefined : (policy.resources[usePolicy] ?? {});
  }
  return policy.resources[info.name] ?? {};
}

export function buildCompartmentMap(packageMap: PackageMap, policy: LavaMoatPolicy): CompartmentMap {
  const compartments: Record<string, CompartmentDescriptor> = {};
  for (const info of packageMap.data.packages) {
    const resource = resourceFor(info, policy);
    const isTrustedRoot = info.name === ROOT_NAME && resource === undefined;
    compartments[info.location] = {
      name: info.packageName,
      label: info.name,
      location: info.location,
      modules: {},
      scopes: {},
      parsers: { ...parsers },
      types: {},
      policy: isTrustedRoot ? undefined : convertResourcePolicy(resource),
      version: info.version,
      sourceDirname: info.packageName,
    };
  }
  compartments[ENTRY_LOCATION] = {
    name: 'lavamoat-entry',
    label: 'lavamoat-entry',
    location: ENTRY_LOCATION,
    modules: {},
    scopes: {},
    parsers: {},
    types: {},
    policy: undefined,
    version: '',
    sourceDirname: 'lavamoat-entry',
  };
  return {
    tags: [],
    entry: { compartment: ENTRY_LOCATION, module: ENTRY_SPECIFIER },
    compartments,
  };
}

/**
 * The package map: every package the app can reach, keyed by its real directory, with
 * LavaMoat's canonical name (the shortest dependency path from the root, names joined
 * by `>`). Both threads use it: the hooks thread to tell root code from dependency code,
 * the main thread to build one compartment per package.
 *
 * Canonical names follow @lavamoat/aa so that policies written for LavaMoat apply as
 * they are: a breadth-first walk over `dependencies`, `optionalDependencies` and
 * `peerDependencies` (plus the root's `devDependencies` when asked), each resolved the
 * way Node resolves `<name>/package.json` from the depending package's directory; the
 * best path is the one with fewest parts, ties broken part by part by the shorter name,
 * then the alphabetically smaller one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { realDirectory } from './real-paths.js';

export const ROOT_NAME = '$root$';

export interface PackageInfo {
  /** Canonical name (`$root$` for the app's own package). */
  name: string;
  /** Real directory, no trailing separator. */
  dir: string;
  /** Directory as a file URL with a trailing slash (compartment-mapper's location). */
  location: string;
  /** `name` field of package.json (may differ from the last part of the canonical name). */
  packageName: string;
  version: string;
  /** `"module"` when package.json says so; `.js` files are CommonJS otherwise. */
  type: 'module' | 'commonjs';
}

export interface PackageMapData {
  root: string;
  packages: PackageInfo[];
}

interface Manifest {
  name?: unknown;
  version?: unknown;
  type?: unknown;
  dependencies?: Record<string, unknown>;
  optionalDependencies?: Record<string, unknown>;
  peerDependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

/**
 * Every package.json {@link readManifest} parsed, by directory: resolution reads the same
 * files again (resolve.ts `manifestAt`), and parsing them twice was ~5 ms of the bench
 * service's start.
 */
export const parsedManifests = new Map<string, Manifest>();

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'package.json');
  const text = fs.readFileSync(file, 'utf8');
  try {
    const manifest = JSON.parse(text) as Manifest;
    parsedManifests.set(dir, manifest);
    return manifest;
  } catch (error) {
    throw new Error(`LavaMoat: cannot parse ${file}: ${(error as Error).message}`);
  }
}

const keysOf = (record: unknown): string[] =>
  record && typeof record === 'object' ? Object.keys(record) : [];

/** Shorter name first, then alphabetical: @lavamoat/aa's preference between names. */
export function comparePreferredName(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareLogicalPaths(a: readonly string[], b: readonly string[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i += 1) {
    const order = comparePreferredName(a[i]!, b[i]!);
    if (order !== 0) return order;
  }
  return 0;
}

/**
 * Where Node would find `<name>/package.json` from `fromDir`, as a real directory.
 * `seen` remembers each candidate directory's answer (real directory, or null when it
 * has no package.json) within one walk: most dependency edges end in the same few
 * `node_modules` directories.
 */
export function findDependencyDir(name: string, fromDir: string, seen?: Map<string, string | null>): string | undefined {
  let dir = fromDir;
  for (;;) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', name);
      let found = seen?.get(candidate);
      if (found === undefined) {
        found = fs.existsSync(path.join(candidate, 'package.json')) ? realDirectory(candidate) : null;
        seen?.set(candidate, found);
      }
      if (found !== null) return found;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * A dependency name as npm spells one: `name` or `@scope/name`, with no `>` (which joins
 * canonical names) and no path segment (`.`, `..`, a second `/`, a backslash). A manifest key of
 * another shape names nothing npm installs, and is skipped: looked up as a directory
 * below `node_modules`, a dependency's `"../../../lib"` made a directory of the app a
 * package of its own (the app's modules there confined under the dependency's name, and
 * a parent directory's files a package's), and `"a>b"` a second package named as its
 * dependency's dependency.
 */
const DEPENDENCY_NAME = /^(?:@[A-Za-z0-9~'!()*-][\w.~'!()*-]*\/)?[A-Za-z0-9~'!()*-][\w.~'!()*-]*$/;
export const isDependencyName = (name: string): boolean => DEPENDENCY_NAME.test(name);

function dependencyNames(manifest: Manifest, includeDev: boolean): string[] {
  const names = new Set([
    ...keysOf(manifest.dependencies),
    ...keysOf(manifest.optionalDependencies),
    ...keysOf(manifest.peerDependencies),
    ...(includeDev ? keysOf(manifest.devDependencies) : []),
  ]);
  return [...names].filter(isDependencyName).sort(comparePreferredName);
}

function toInfo(name: string, dir: string, manifest: Manifest): PackageInfo {
  return {
    name,
    dir,
    location: pathToFileURL(dir + path.sep).href,
    packageName: typeof manifest.name === 'string' ? manifest.name : path.basename(dir),
    version: typeof manifest.version === 'string' ? manifest.version : '',
    type: manifest.type === 'module' ? 'module' : 'commonjs',
  };
}

/**
 * Walks the dependency tree level by level. At each level a package keeps the best
 * path found so far; only packages whose best path improved are expanded again, so
 * the result is the least path under {@link compareLogicalPaths} for every package.
 *
 * Below the root, a package directory that is not right inside a `node_modules` folder
 * (a workspace, a `file:` dependency of the app's) is one the app declares, or a package
 * outside `node_modules` does (a workspace's workspaces). A dependency installed under
 * `node_modules` that declares one (`"lib": "file:../../lib"`, which npm installs as a
 * link there) would make a directory of the app a package of its own, loadable by its
 * name with a grant, its modules the app's no more (docs/attacks.md, case 183), and
 * `"x": "file:../victim/dist"` a folder of another package its own: such an edge is
 * skipped, and the directory stays the app's (or that package's).
 */
/** A directory right inside a `node_modules` folder, as a path relative to the root. */
const INSTALLED_DIR = /(?:^|[\\/])node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+$/iu;

export function buildPackageMap(rootDir: string, { includeDev = false } = {}): PackageMapData {
  const root = fs.realpathSync(rootDir);
  // What a package installed under `node_modules` may name below the root: a directory
  // right inside a `node_modules` folder (`node_modules/x`, `node_modules/@s/x`, pnpm's
  // `.pnpm/x@1/node_modules/x`), not a directory of the app's nor a folder inside
  // another package. (Above the root, a linked checkout: `npm link`.)
  const installable = (dir: string): boolean =>
    !dir.startsWith(root + path.sep) || INSTALLED_DIR.test(dir.slice(root.length + 1));
  const manifests = new Map<string, Manifest>([[root, readManifest(root)]]);
  const best = new Map<string, string[]>([[root, []]]);
  const seen = new Map<string, string | null>();
  let frontier = [root];
  while (frontier.length > 0) {
    const next = new Set<string>();
    for (const dir of frontier) {
      const manifest = manifests.get(dir)!;
      const logical = best.get(dir)!;
      // A dependency installed under `node_modules` names no package outside every
      // `node_modules` (see below).
      const installed = dir !== root && hasNodeModulesSegment(dir.startsWith(root + path.sep) ? dir.slice(root.length + 1) : dir);
      for (const dep of dependencyNames(manifest, includeDev && dir === root)) {
        const depDir = findDependencyDir(dep, dir, seen);
        if (depDir === undefined || depDir === root) continue;
        if (installed && !installable(depDir)) continue;
        const candidate = [...logical, dep];
        const current = best.get(depDir);
        if (current !== undefined && compareLogicalPaths(candidate, current) >= 0) continue;
        if (!manifests.has(depDir)) manifests.set(depDir, readManifest(depDir));
        best.set(depDir, candidate);
        next.add(depDir);
      }
    }
    frontier = [...next];
  }
  const packages: PackageInfo[] = [];
  for (const [dir, logical] of best) {
    packages.push(toInfo(dir === root ? ROOT_NAME : logical.join('>'), dir, manifests.get(dir)!));
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { root, packages };
}

/**
 * Whether a path has a `node_modules` segment, in any case: macOS's file systems ignore
 * case (and fold `ſ` to `s`), so there `/app/NODE_MODULES/pkg/x.js` is a file of a
 * package, which a case-sensitive test took for a file of the app (case 141).
 */
const NODE_MODULES_SEGMENT = /(?:^|[\\/])node_modules(?:[\\/]|$)/iu;
export const hasNodeModulesSegment = (file: string): boolean => NODE_MODULES_SEGMENT.test(file);

/** A path as a case-insensitive file system compares it: composed, case folded. */
const fold = (file: string): string => file.normalize('NFC').toUpperCase().toLowerCase();

/** No owner: the file is below a `node_modules` folder of the package that holds it. */
const NESTED = Symbol('nested');

/**
 * Lookup of the package that owns a file: the deepest known package directory that
 * contains it. A file inside a `node_modules` folder below that directory belongs to a
 * package the walk never reached (not declared anywhere), which is not this package's
 * code: it gets no owner, and everything that asks for it is denied.
 *
 * Paths are compared as they are written, as Node gives them (its real paths keep the
 * case of the request). Where the project's file system ignores case, a path that names
 * a package's directory in another case is a file of that package too: found by the
 * exact walk as the app's (or as no package's), it is looked up again case-folded. Taken
 * for the app's, a dependency's `main` of `"../Evil/payload.js"` (a package outside
 * `node_modules`: a workspace, a `file:` dependency) ran natively (case 141).
 */
export class PackageMap {
  readonly root: PackageInfo;
  readonly byDir = new Map<string, PackageInfo>();
  readonly byName = new Map<string, PackageInfo>();
  /** Case-folded directories, where the file system ignores case (null: it does not); made on first need. */
  private folded: Map<string, PackageInfo> | null | undefined;

  constructor(readonly data: PackageMapData) {
    for (const info of data.packages) {
      this.byDir.set(info.dir, info);
      this.byName.set(info.name, info);
    }
    const root = this.byDir.get(data.root);
    if (!root) throw new Error(`LavaMoat: package map has no root package at ${data.root}`);
    this.root = root;
  }

  /** The package that owns an absolute real file path, or undefined. */
  packageForPath(file: string): PackageInfo | undefined {
    const found = ownerIn(this.byDir, file);
    if (found !== undefined && found !== NESTED && found !== this.root) return found;
    const folded = this.foldedDirs();
    const again = folded === null ? undefined : ownerIn(folded, fold(file));
    if (again !== undefined && again !== NESTED && again !== this.root) return again;
    return found === NESTED || again === NESTED ? undefined : found;
  }

  /**
   * `file`, a file of `info` (as {@link packageForPath} says), spelled from `info.dir`:
   * where the file system ignores case the two may be spelled differently, and the
   * runtime names a module by its package's location (the compartment it loads in).
   */
  pathIn(info: PackageInfo, file: string): string {
    if (file.startsWith(info.dir + path.sep)) return file;
    const depth = info.dir === path.sep ? 1 : info.dir.split(path.sep).length;
    return path.join(info.dir, ...file.split(path.sep).slice(depth));
  }

  /**
   * The case-folded directory map when the project's file system ignores case: judged
   * once, by whether the root's `node_modules` and `NODE_MODULES` are one directory
   * (without a `node_modules` there, no package directory lies below the root).
   */
  private foldedDirs(): Map<string, PackageInfo> | null {
    if (this.folded !== undefined) return this.folded;
    this.folded = null;
    if (this.byDir.size > 1) {
      try {
        const lower = fs.statSync(path.join(this.data.root, 'node_modules'));
        const upper = fs.statSync(path.join(this.data.root, 'NODE_MODULES'));
        if (lower.ino === upper.ino && lower.dev === upper.dev) {
          const folded = new Map<string, PackageInfo>();
          for (const [dir, info] of this.byDir) folded.set(fold(dir), info);
          this.folded = folded;
        }
      } catch {
        // No NODE_MODULES: the file system tells case apart.
      }
    }
    return this.folded;
  }
}

function ownerIn(dirs: ReadonlyMap<string, PackageInfo>, file: string): PackageInfo | typeof NESTED | undefined {
  let dir = path.dirname(file);
  for (;;) {
    const info = dirs.get(dir);
    if (info) return hasNodeModulesSegment(file.slice(dir.length + 1)) ? NESTED : info;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

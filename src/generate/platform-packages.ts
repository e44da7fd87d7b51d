/**
 * What the generator knows of native addons beyond the import graph: the packages that
 * load an addon for their caller, and the platform packages (an optional dependency per
 * OS and CPU) a package loads by a name it computes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_NAME, type PackageInfo, type PackageMap } from '../graph/package-map.js';

/** Packages that find and load a `.node` addon for their caller. */
export const ADDON_LOADERS = new Set([
  'bindings',
  'node-gyp-build',
  'node-gyp-build-optional-packages',
  '@mapbox/node-pre-gyp',
  'node-pre-gyp',
]);

/**
 * The real directory of package `name` as `require` finds it from `from` (the nearest
 * `node_modules/<name>` with a package.json): its `exports` may not export package.json.
 */
function installedDir(from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) {
      try {
        return fs.realpathSync(candidate);
      } catch {
        return undefined;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The package.json in `dir`, or undefined if it cannot be read (also the generator's check of declared helpers). */
export function manifestOf(dir: string): { optionalDependencies?: unknown; os?: unknown; cpu?: unknown } | undefined {
  try {
    const manifest: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    return typeof manifest === 'object' && manifest !== null ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `dir` holds a `.node` file (at its top or one directory down, as platform packages ship them). */
export function holdsAddon(dir: string, depth = 0): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith('.node')) return true;
    if (depth === 0 && entry.isDirectory() && entry.name !== 'node_modules' && holdsAddon(path.join(dir, entry.name), 1)) return true;
  }
  return false;
}

/**
 * The platform packages a package declares: installed optional dependencies whose manifest
 * names an `os` or `cpu` (npm installs only the one for this machine). A package loads
 * its own by a name it computes (`@esbuild/${platform}`, `@img/sharp-libvips-${arch}`,
 * the `.node` of `@msgpackr-extract/msgpackr-extract-linux-x64`), which the analysis
 * cannot follow; plain node loads the installed one.
 */
export class PlatformPackages {
  readonly #found = new Map<string, PackageInfo[]>();

  constructor(private readonly packageMap: PackageMap) {}

  of(info: PackageInfo): PackageInfo[] {
    let found = this.#found.get(info.name);
    if (found) return found;
    found = [];
    this.#found.set(info.name, found);
    const optional = manifestOf(info.dir)?.optionalDependencies;
    if (!optional || typeof optional !== 'object') return found;
    for (const name of Object.keys(optional)) {
      const dir = installedDir(info.dir, name);
      if (dir === undefined) continue; // not installed on this platform
      const target = this.packageMap.packageForPath(path.join(dir, 'package.json'));
      if (!target || target === info || target.name === ROOT_NAME) continue;
      const manifest = manifestOf(target.dir);
      if (Array.isArray(manifest?.os) || Array.isArray(manifest?.cpu)) found.push(target);
    }
    return found;
  }
}

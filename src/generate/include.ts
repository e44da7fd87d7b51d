/**
 * `include`: packages, and modules of packages, that generation walks as if an entry
 * imported them, for code that static analysis cannot follow to them (a computed
 * `require`, a plugin loaded by name). The runtime never reads `include`; it only
 * widens what generation analyses.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PackageInfo, PackageMap } from '../graph/package-map.js';
import { resolveSpecifier } from '../graph/resolve.js';
import type { IncludeEntry } from '../policy/types.js';

/**
 * Files named by `include` entries: a package's entry module (as `require` and
 * `import` of its name would find it) and any `modules` listed, relative to it.
 */
export function includedFiles(include: IncludeEntry[], packageMap: PackageMap, root: string): string[] {
  const files: string[] = [];
  for (const entry of include) {
    let info: PackageInfo | undefined;
    let modules: string[] | undefined;
    if (typeof entry === 'string') info = packageMap.byName.get(entry);
    else if (entry === null || typeof entry !== 'object') continue;
    else if ('name' in entry && typeof entry.name === 'string') {
      info = packageMap.byName.get(entry.name);
      modules = entry.modules;
    } else if ('location' in entry && typeof entry.location === 'string') {
      const dir = path.resolve(root, entry.location);
      try {
        info = packageMap.byDir.get(fs.realpathSync(dir));
      } catch {
        info = undefined;
      }
      modules = entry.modules;
    }
    if (!info) continue;
    if (Array.isArray(modules) && modules.length > 0) {
      for (const m of modules) {
        if (typeof m !== 'string') continue;
        try {
          const file = fs.realpathSync(path.resolve(info.dir, m));
          // Only the package's own modules: `include` cannot pull in another package's files.
          if (fs.statSync(file).isFile() && packageMap.packageForPath(file) === info) files.push(file);
        } catch {
          // A missing module: include is a hint.
        }
      }
      continue;
    }
    const manifestPath = path.join(info.dir, 'package.json');
    for (const kind of ['import', 'require'] as const) {
      try {
        // `import` finds the entry through self-reference ("exports"); `require` of the directory through "main".
        const specifier = kind === 'import' ? info.packageName : info.dir;
        const resolved = resolveSpecifier(specifier, manifestPath, kind);
        if (resolved.kind === 'file' && packageMap.packageForPath(resolved.path) === info) files.push(resolved.path);
      } catch {
        // A package without an entry for this kind of load.
      }
    }
  }
  return files;
}

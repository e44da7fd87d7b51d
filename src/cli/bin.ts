/**
 * `--bin <name>`: the file a bin of one of the root's dependencies runs, found the way
 * npm links it (`bin` of the dependency's package.json: a string names a bin called
 * after the package, without its scope; an object maps names to files), falling back
 * to the `node_modules/.bin/<name>` link npm made.
 */
import fs from 'node:fs';
import path from 'node:path';
import { findDependencyDir, readManifest } from '../graph/package-map.js';

export class BinNotFoundError extends Error {
  readonly code = 'LAVAMOAT_BIN_NOT_FOUND';
}

export interface ResolvedBin {
  name: string;
  /** Real path of the script. */
  file: string;
  /** The package that declares it. */
  packageDir: string;
}

const keysOf = (record: unknown): string[] => (record && typeof record === 'object' ? Object.keys(record) : []);

function binsOf(manifest: Record<string, unknown>): Map<string, string> {
  const bins = new Map<string, string>();
  const { bin, name } = manifest;
  if (typeof bin === 'string' && typeof name === 'string') {
    bins.set(name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name, bin);
  } else if (bin && typeof bin === 'object') {
    for (const [key, value] of Object.entries(bin as Record<string, unknown>)) {
      if (typeof value === 'string') bins.set(key, value);
    }
  }
  return bins;
}

export function resolveBin(name: string, root: string): ResolvedBin {
  const manifest = readManifest(root) as Record<string, unknown>;
  const deps = new Set([
    ...keysOf(manifest.dependencies),
    ...keysOf(manifest.optionalDependencies),
    ...keysOf(manifest.devDependencies),
    ...keysOf(manifest.peerDependencies),
  ]);
  const available: string[] = [];
  for (const dep of [...deps].sort()) {
    const dir = findDependencyDir(dep, root);
    if (!dir) continue;
    let depManifest: Record<string, unknown>;
    try {
      depManifest = readManifest(dir) as Record<string, unknown>;
    } catch {
      continue;
    }
    const bins = binsOf(depManifest);
    const target = bins.get(name);
    if (target !== undefined) {
      const file = path.resolve(dir, target);
      try {
        return { name, file: fs.realpathSync(file), packageDir: dir };
      } catch {
        throw new BinNotFoundError(`LavaMoat: bin '${name}' of ${dep} points at ${file}, which does not exist`);
      }
    }
    available.push(...bins.keys());
  }
  // A bin of a package the root does not declare (a transitive one npm linked anyway).
  const link = path.join(root, 'node_modules', '.bin', name);
  try {
    const file = fs.realpathSync(link);
    if (file.includes(`${path.sep}node_modules${path.sep}`)) {
      return { name, file, packageDir: path.dirname(file) };
    }
  } catch {
    // not linked
  }
  const list = available.length > 0 ? ` Bins of the root's dependencies: ${[...new Set(available)].sort().join(', ')}.` : '';
  throw new BinNotFoundError(`LavaMoat: no dependency of ${path.join(root, 'package.json')} has a bin named '${name}'.${list}`);
}

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PackageMap } from '../graph/package-map.js';
import { realFile } from '../graph/real-paths.js';

/**
 * What compartment-mapper reads module sources with. A location is read only when its real
 * path lies in the same package as the location itself: module locations normally come
 * from `link()`, which resolves symlinks before its policy check, but a child
 * compartment's module descriptor (`{ namespace: './x.js' }`, `{ source: ... }`) names a
 * module of the package's own compartment directly, which compartment-mapper finds under
 * the package's location with no resolve hook in between: a symlink there (into another
 * package, the app, or any file on disk) would load that file as the package's own
 * (docs/attacks.md, case 210). The real path is asked alongside the asynchronous read (one
 * more system call per module, no added latency); a synchronous read takes it from the
 * resolver's memo (graph/real-paths.ts).
 */
export function makeReadPowers(packageMap: PackageMap) {
  const sameOwner = (given: string, real: string): boolean => {
    const file = path.resolve(given);
    if (real === file) return true;
    const owner = packageMap.packageForPath(file);
    return owner !== undefined && packageMap.packageForPath(real) === owner;
  };
  // Thrown, not taken for a missing file: the package is told why.
  const refused = (file: string, real: string): Error =>
    new Error(`LavaMoat: ${file} is a link to ${real}, outside its package's directory: no module loads through it`);
  const pathOf = (location: string): string | undefined => {
    try {
      return fileURLToPath(location);
    } catch {
      return undefined;
    }
  };
  const read = async (location: string): Promise<Uint8Array | undefined> => {
    const file = pathOf(location);
    if (file === undefined) return undefined;
    const [real, bytes] = await Promise.allSettled([fs.promises.realpath(file), fs.promises.readFile(file)]);
    if (real.status === 'rejected' || bytes.status === 'rejected') return undefined;
    if (!sameOwner(file, real.value)) throw refused(file, real.value);
    return bytes.value;
  };
  return {
    read: async (location: string) => {
      const bytes = await read(location);
      if (bytes === undefined) return fs.promises.readFile(fileURLToPath(location)); // its own error
      return bytes;
    },
    maybeRead: read,
    maybeReadNow: (location: string) => {
      const file = pathOf(location);
      if (file === undefined) return undefined;
      let real: string;
      try {
        real = realFile(file);
      } catch {
        return undefined;
      }
      if (!sameOwner(file, real)) throw refused(file, real);
      try {
        return fs.readFileSync(file);
      } catch {
        return undefined;
      }
    },
    fileURLToPath,
    pathToFileURL: (p: string) => pathToFileURL(p),
    isAbsolute: (p: string) => p.startsWith('/'),
  };
}

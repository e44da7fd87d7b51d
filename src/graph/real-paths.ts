/**
 * Real paths, remembered for the life of the thread, as Node's own loaders remember them
 * (the CommonJS loader's and the ES module resolver's realpath caches are never cleared
 * either): a file's real path is its directory's real path and its name, unless the file
 * itself is a link.
 *
 * Why not `fs.realpathSync` per file: it takes every component of the path in turn (one
 * `lstat` each, in JavaScript), and the runtime asks for every module twice (resolving
 * it, then reading it through compartment-mapper, which must not read through a link out
 * of the package: runtime.ts). On the bench's service that was ~2,900 `lstat` and ~1,000
 * `readlink` calls for 390 modules; with the memo each directory is looked at once and
 * each file once.
 *
 * What a link made after a path was first taken does: nothing for that path, as under
 * plain node. Only a package allowed to write into `node_modules` can make one, and such
 * a package can rewrite the files themselves (docs/design.md).
 */
import fs from 'node:fs';
import path from 'node:path';

const realDirectories = new Map<string, string>();
const realFiles = new Map<string, string>();

/** The real path of an absolute, normalised directory path; throws as `fs.realpathSync` does. */
export function realDirectory(dir: string): string {
  const known = realDirectories.get(dir);
  if (known !== undefined) return known;
  const parent = path.dirname(dir);
  let real: string;
  if (parent === dir) real = dir;
  else if (fs.lstatSync(dir).isSymbolicLink()) real = fs.realpathSync(dir);
  else real = path.join(realDirectory(parent), path.basename(dir));
  realDirectories.set(dir, real);
  return real;
}

/**
 * The real path of an absolute, normalised path to an existing file (or directory), and
 * whether it is a file (following a link). Throws as `fs.lstatSync` does when it does
 * not exist.
 */
export function realEntry(file: string): { real: string; isFile: boolean } {
  const known = realFiles.get(file);
  if (known !== undefined) return { real: known, isFile: true };
  const stat = fs.lstatSync(file);
  if (stat.isSymbolicLink()) {
    const real = fs.realpathSync(file);
    const isFile = fs.statSync(real).isFile();
    if (isFile) realFiles.set(file, real);
    return { real, isFile };
  }
  const isFile = stat.isFile();
  const real = path.join(realDirectory(path.dirname(file)), path.basename(file));
  if (isFile) realFiles.set(file, real);
  return { real, isFile };
}

/** The real path of an existing file (a directory's is {@link realDirectory}'s). */
export const realFile = (file: string): string => realEntry(file).real;

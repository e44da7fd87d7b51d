/**
 * When a cache may be used at all. What the compiled-module cache and Node's compile
 * cache hold is code: whoever can write them decides what runs, as whoever can write
 * `node_modules` does. No secret can change that for the package this runtime confines:
 * a package granted file reads can read any file this process can (a key kept next to
 * the cache, or `/proc/self/environ`), and on Linux one granted file writes can write
 * `/proc/self/mem` and so is as strong as the process.
 *
 * So a cache is trusted exactly as far as the code it caches: it is used, read and
 * written, when this process can write that code anyway (a development checkout; a
 * container running as the owner of its files); it is used read-only when this process
 * cannot write the cache (built ahead of time, at image-build time, and deployed
 * read-only like `node_modules`); and it is not used at all when this process could write
 * the cache but not the code (a package could plant code there that the files on disk do
 * not contain).
 */
import fs from 'node:fs';

export type CacheMode = 'read-write' | 'read-only' | 'off';

const writable = (dir: string): boolean => {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/** The nearest existing directory at or above `dir` (a cache not made yet is judged by where it would go). */
function existing(dir: string): string {
  let current = dir;
  for (;;) {
    if (fs.existsSync(current)) return current;
    const parent = current.slice(0, Math.max(current.lastIndexOf('/'), 1));
    if (parent === current) return current;
    current = parent;
  }
}

/**
 * How a cache at `cacheDir` may be used, given the directories holding the code it
 * caches, with the reason when it is not used read-write.
 */
export function cacheMode(cacheDir: string, codeDirs: readonly string[]): { mode: CacheMode; reason?: string } {
  if (!writable(existing(cacheDir))) return { mode: 'read-only', reason: `${cacheDir} is not writable by this process` };
  const locked = codeDirs.filter((dir) => fs.existsSync(dir) && !writable(dir));
  if (locked.length === 0) return { mode: 'read-write' };
  return {
    mode: 'off',
    reason:
      `${cacheDir} is writable by this process but ${locked.join(', ')} ${locked.length === 1 ? 'is' : 'are'} not: ` +
      'a package could plant code in the cache that the files do not contain. Build the cache ahead of time ' +
      '(run the app once) and deploy it read-only, or point LAVAMOAT_CACHE elsewhere, or set it to 0',
  };
}

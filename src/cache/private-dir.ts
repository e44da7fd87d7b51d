/**
 * The runtime's cache directories (compiled modules, and Node's compile cache of the
 * runtime's own code) hold what decides the code that runs: they must be the user's
 * alone.
 */
import process from 'node:process';
import fs from 'node:fs';

/**
 * Creates `dir` private to this user (0700), or checks that an existing one is: owned by
 * the user and writable by no one else. Throws otherwise.
 */
export function ensurePrivateDirectory(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.statSync(dir);
  const uid = process.getuid?.();
  if ((uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0) {
    throw new Error(`LavaMoat: cache directory ${dir} is not private to this user; not using it`);
  }
}

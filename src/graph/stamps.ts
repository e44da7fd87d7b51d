/**
 * Answers the module cache keeps across runs without keying them by a file's text (the
 * top-level-await walk of a graph, a facade's export names): valid while the size and
 * modification time of every file they depend on are unchanged. Those files are the
 * modules read, their packages' package.json (and the nearer one that decides a file's
 * format), and the package manager's install marker, which every install rewrites (an
 * install may move what a specifier resolves to). A warm start checks them with stat alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageScope } from './resolve.js';

// npm, pnpm, Yarn Berry and Yarn classic rewrite one of these on every install.
export const INSTALL_MARKERS = ['.package-lock.json', '.modules.yaml', '.yarn-state.yml', '.yarn-integrity'];

/** What an answer depends on: [file, size, mtime] (-1 for a missing file). */
export type Stamps = [string, number, number][];

export function stamp(file: string): [string, number, number] {
  try {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    return stat === undefined ? [file, -1, -1] : [file, stat.size, stat.mtimeMs];
  } catch {
    // Unreadable (EACCES, ...): counts as missing, so an answer made with it readable is redone.
    return [file, -1, -1];
  }
}

/** Whether every stamp still holds; anything that is not a list of stamps does not. */
export const unchanged = (stamps: unknown): stamps is Stamps =>
  Array.isArray(stamps) &&
  stamps.every((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 3 || typeof entry[0] !== 'string') return false;
    const [, nowSize, nowMtime] = stamp(entry[0]);
    return nowSize === entry[1] && nowMtime === entry[2];
  });

export interface StampContext {
  /** The project's root directory, where the package manager leaves its install marker. */
  root: string;
  /** The directory of the package `file` belongs to, if any. */
  packageDirOf(file: string): string | undefined;
}

/** The stamps of `files`, their packages' package.json files and the install markers. */
export function stampsOf(files: Iterable<string>, context: StampContext, { scopes = false } = {}): Stamps {
  const all = new Set<string>(INSTALL_MARKERS.map((marker) => path.join(context.root, 'node_modules', marker)));
  for (const file of files) {
    all.add(file);
    const dir = context.packageDirOf(file);
    if (dir !== undefined) all.add(path.join(dir, 'package.json'));
    if (scopes) {
      const scope = packageScope(path.dirname(file));
      if (scope !== undefined) all.add(path.join(scope.dir, 'package.json'));
    }
  }
  return [...all].map(stamp);
}

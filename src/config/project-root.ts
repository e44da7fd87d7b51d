/**
 * Where the app is: the project root (the directory of the app's package.json, found
 * from the entry script or set explicitly) and its `"lavamoat"` options.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './types.js';
import { fail, isPlainObject, show, type Origin } from './values.js';


/**
 * Where to look for the app's package.json: next to the entry script, or, for an entry
 * inside `node_modules` (a dependency's bin, run directly or through `.bin`), in the
 * project that holds that `node_modules`.
 */
export function entryStart(entry: string | undefined, cwd: string): string {
  if (!entry || !fs.existsSync(entry)) return cwd;
  const absolute = path.resolve(cwd, entry);
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = absolute.indexOf(marker);
  if (at !== -1 && fs.existsSync(path.join(absolute.slice(0, at), 'package.json'))) return absolute.slice(0, at);
  return path.dirname(fs.realpathSync(entry));
}

/** Nearest directory at or above `start` with a package.json. */
export function findProjectRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new ConfigError(`LavaMoat: no package.json found at or above ${start}; set LAVAMOAT_PROJECT_ROOT`);
    }
    dir = parent;
  }
}

export function projectRootFrom(origin: Origin, value: string, cwd: string): string {
  const root = path.resolve(cwd, value);
  if (!fs.existsSync(path.join(root, 'package.json'))) {
    fail(origin, [], `${show(value)}: no package.json in ${root}; expected the directory of the app's package.json`);
  }
  return root;
}

export function readPackageJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`LavaMoat: cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`LavaMoat: ${file} is not valid JSON (${(error as Error).message}), so its "lavamoat" options cannot be read`);
  }
  return isPlainObject(json) ? json.lavamoat : undefined;
}


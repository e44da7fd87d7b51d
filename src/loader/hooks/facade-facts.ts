/**
 * What a facade is made from: its module's format and export names. Finding them reads
 * the module and every module its re-exports lead to, and lexes them (the lexers'
 * answers are cached by text, but the text must still be read and hashed): ~50 ms of a
 * warm service start-up on Node 24, where the hooks run on the main thread. So the answer
 * is kept in the module cache with the stamps of what it depends on (graph/stamps.ts: the
 * files read, their package.json and package scope, the install marker), and a warm start
 * checks those with stat alone.
 *
 * A stale answer would give the app's import a wrong list of names (a missing name is a
 * link error, as for a name the module does not export; the values are always the
 * runtime's). It takes a file changed with its size and modification time kept, or a file
 * added where resolution would now find it, without an install. Whether an ES module's
 * graph awaits is not kept here: the hooks ask async-graph.ts each time, whose answer the
 * runtime corrects when it finds it wrong.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import type { ModuleCache } from '../../cache/module-cache.js';
import { exportNamesOf } from '../../graph/module-names.js';
import { formatOf, type Format } from '../../graph/resolve.js';
import { stampsOf, unchanged, type StampContext } from '../../graph/stamps.js';

const FACADE_KIND = 'facade';
const NODE_VERSION = process.version;

export interface FacadeFacts {
  format: Format;
  names: string[];
  /** The module's text, when it had to be read (an ES module's facade also asks whether its graph awaits). */
  source?: string;
}

const FORMATS = new Set<unknown>(['module', 'commonjs', 'json', 'addon', 'wasm']);

const isFacts = (record: { stamps?: unknown; format?: unknown; names?: unknown }): record is { stamps: unknown; format: Format; names: string[] } =>
  FORMATS.has(record.format) && Array.isArray(record.names) && record.names.every((name) => typeof name === 'string');

/** `nodeVersion`: this Node's (a parameter for tests). */
export function facadeFacts(file: string, cache: ModuleCache | undefined, context: StampContext, nodeVersion = NODE_VERSION): FacadeFacts {
  const url = pathToFileURL(file).href;
  // Keyed by the file and Node's version (Node 23+ gives a CommonJS namespace a
  // 'module.exports' name; a cache directory may serve several Nodes): the stamps say
  // whether the answer still holds.
  const remembered = cache?.get<{ stamps?: unknown; format?: unknown; names?: unknown }>(FACADE_KIND, url, nodeVersion);
  // A record of any other shape is not this cache's: made again.
  if (remembered && isFacts(remembered) && unchanged(remembered.stamps)) return { format: remembered.format, names: remembered.names };
  const source = readFileSync(file, 'utf8');
  const format = formatOf(file, source);
  const seen = new Set<string>();
  const names = [...exportNamesOf(file, format, seen, cache, source)];
  cache?.set(FACADE_KIND, url, nodeVersion, { stamps: stampsOf([file, ...seen], context, { scopes: true }), format, names });
  return { format, names, source };
}

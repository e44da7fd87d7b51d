/**
 * Whether the app's import of an ES module must wait for it: true when the module, or
 * one it imports statically through ES modules, awaits at its top level. The hooks ask
 * this for every facade of an ES module, before any of it runs, so it is kept cheap:
 * es-module-lexer for the imports, and a parse (meriyah, as the runtime's compiler, its
 * answer kept in the module cache) only for the few files that say `await` at all.
 * CommonJS, JSON and builtins end a path (their imports are not static); resolution is
 * Node's, as the runtime's; a specifier that does not resolve is left for the real load.
 *
 * Walking a graph still reads, lexes and resolves all of it (zod's 120 modules: some
 * 35 ms, on the start-up path). So the answer is remembered in the module cache, with
 * the stamps of every file it depends on (stamps.ts): the graph's modules, their
 * packages' package.json, and the package manager's install marker. A stale answer
 * cannot go unnoticed: a facade that does not await a graph that turns out to await is
 * refused by the runtime, which then records that it awaits (`rememberAwaiting`) for the
 * next run; one that awaits a synchronous graph only costs a few ticks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseEsm } from 'es-module-lexer';
import { formatOf, resolveSpecifier } from './resolve.js';
import { awaitsAtTopLevel } from '../formats/esm-scopes.js';
import type { ModuleCache } from '../cache/module-cache.js';
import { stampsOf, unchanged, type StampContext, type Stamps } from './stamps.js';

const NOT_ESM = new Set(['.cjs', '.json', '.node', '.wasm']);

function staticImports(source: string, file: string): string[] {
  const specifiers: string[] = [];
  try {
    for (const entry of parseEsm(source, file)[0]) {
      const evaluated = entry.type === 'static' || entry.type === 'reexport-star';
      if (evaluated && !entry.typeOnly && typeof entry.specifier === 'string') specifiers.push(entry.specifier);
    }
  } catch {
    // The real load reports what does not lex.
  }
  return specifiers;
}

/**
 * The compiler's answer for one module. One meriyah cannot parse counts as awaiting: its
 * facade then awaits a graph that may turn out synchronous, which costs a few ticks,
 * where the opposite mistake would refuse the module.
 */
function awaits(file: string, source: string, cache: ModuleCache | undefined): boolean {
  if (!source.includes('await')) return false;
  const url = pathToFileURL(file).href;
  const known = cache?.get<{ awaits: boolean }>('esm-await', url, source);
  if (known) return known.awaits;
  const judged = awaitsAtTopLevel(source) ?? true;
  cache?.set('esm-await', url, source, { awaits: judged });
  return judged;
}

const answers = new Map<string, boolean>();

export interface GraphContext extends StampContext {
  cache: ModuleCache | undefined;
}

const GRAPH_KIND = 'esm-graph';

/**
 * For the runtime, which found that `file`'s graph awaits where the hooks had answered it
 * did not: the next run's facade awaits. No stamps: the answer stays until `file` itself
 * changes (an await that is not needed costs a few ticks).
 */
export function rememberAwaiting(cache: ModuleCache, file: string, source: string): void {
  cache.set(GRAPH_KIND, pathToFileURL(file).href, source, { stamps: [], awaits: true });
}

/** `source`: the text of `file`. Wait for es-module-lexer before asking. */
export function esmGraphAwaits(file: string, source: string, context: GraphContext): boolean {
  const known = answers.get(file);
  if (known !== undefined) return known;
  const url = pathToFileURL(file).href;
  const remembered = context.cache?.get<{ stamps: Stamps; awaits: boolean }>(GRAPH_KIND, url, source);
  if (remembered && unchanged(remembered.stamps)) {
    answers.set(file, remembered.awaits);
    return remembered.awaits;
  }
  const { found, seen } = walk(file, source, context.cache);
  answers.set(file, found);
  if (context.cache) context.cache.set(GRAPH_KIND, url, source, { stamps: stampsOf(seen, context), awaits: found });
  return found;
}

/**
 * Every module of the graph is visited, even one an earlier walk covered: the stamps of
 * an answer must name every file it depends on.
 */
function walk(file: string, source: string, cache: ModuleCache | undefined): { found: boolean; seen: Set<string> } {
  // Modules walked, and the other files they import (a CommonJS file that became an ES
  // module changes the answer too).
  const seen = new Set<string>();
  const leaves = new Set<string>();
  const work: [string, string | undefined][] = [[file, source]];
  while (work.length > 0) {
    const [next, text] = work.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    let body: string;
    try {
      body = text ?? fs.readFileSync(next, 'utf8');
    } catch {
      continue;
    }
    if (awaits(next, body, cache)) return { found: true, seen: new Set([...seen, ...leaves]) };
    for (const specifier of staticImports(body, next)) {
      try {
        const target = resolveSpecifier(specifier, next, 'import');
        if (target.kind !== 'file' || seen.has(target.path)) continue;
        if (NOT_ESM.has(path.extname(target.path))) {
          leaves.add(target.path);
          continue;
        }
        const targetSource = fs.readFileSync(target.path, 'utf8');
        if (formatOf(target.path, targetSource) === 'module') work.push([target.path, targetSource]);
        else leaves.add(target.path);
      } catch {
        // Left for the real load to report.
      }
    }
  }
  return { found: false, seen: new Set([...seen, ...leaves]) };
}

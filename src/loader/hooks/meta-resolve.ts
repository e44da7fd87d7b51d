/**
 * `import.meta.resolve()` in the app's ES modules answers as under plain node. The resolve
 * hook names a dependency's module by a URL of the runtime's own scheme (facade.ts:
 * `lavamoat-confined:file:///…/node_modules/pkg/index.js`), which keeps it apart from a
 * preloaded tool's native copy of the same file; `import.meta.resolve` returned that URL,
 * and the app's `fileURLToPath(import.meta.resolve('pkg/package.json'))` threw. An app
 * module that uses it gets, at the start of its first line (after a hashbang), a wrapper
 * that drops the scheme; importing the plain URL gives the same confined module.
 */
import { FACADE_SCHEME } from './facade.js';

interface LoadResult {
  format?: string | null;
  source?: unknown;
}

const PROLOGUE =
  `import.meta.resolve=((original)=>function resolve(...args){const url=Reflect.apply(original,this,args);` +
  `return typeof url==='string'&&url.startsWith(${JSON.stringify(FACADE_SCHEME)})?url.slice(${FACADE_SCHEME.length}):url})(import.meta.resolve);`;

/** `result` of the app's module `url`, with the prologue where its text uses `import.meta.resolve`. */
export function withPlainMetaResolve<T extends LoadResult>(result: T): T {
  if (result.format !== 'module' || result.source === undefined || result.source === null) return result;
  const text = typeof result.source === 'string' ? result.source : new TextDecoder().decode(result.source as Uint8Array);
  if (!text.includes('import.meta.resolve')) return result;
  // A hashbang must stay first; the prologue goes on the next line's start, so that no
  // line moves (columns of that one line shift).
  const at = text.startsWith('#!') ? text.indexOf('\n') + 1 : 0;
  if (at === 0 && text.startsWith('#!')) return result; // a hashbang and nothing else
  return { ...result, source: text.slice(0, at) + PROLOGUE + text.slice(at) };
}

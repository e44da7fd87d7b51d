/**
 * `require()` of an ES module graph with top-level await: Node refuses it before any of
 * the graph runs (ERR_REQUIRE_ASYNC_MODULE), also after the graph was evaluated through
 * `import()`, on every supported version (20.19+ has require(esm)). The compartments
 * refuse at the same point (module-evaluation.ts); this gives the refusal the words of
 * the running Node, with the module required and the modules requiring it.
 */
import process from 'node:process';
import { REQUIRE_ASYNC_MODULE } from './module-evaluation.js';

// Node 24 lists the require stack; 20 and 22 name the requiring module alone.
const LISTS_REQUIRE_STACK = Number(process.versions.node.split('.')[0]) >= 24;

/** `requireStack`: the requiring module first, then the module that required it, and so on. */
export function requireAsyncModuleError(filename: string, requireStack: readonly string[]): Error {
  let message =
    'require() cannot be used on an ESM graph with top-level await. Use import() instead. ' +
    'To see where the top-level await comes from, use --experimental-print-required-tla.';
  if (LISTS_REQUIRE_STACK) {
    message += `\nRequired module: ${filename}`;
    if (requireStack.length > 0) message += `\nRequire stack:\n- ${requireStack.join('\n- ')}`;
  } else {
    if (requireStack.length > 0) message += `\n  From ${requireStack[0]} `;
    message += `\n  Requiring ${filename} `;
  }
  return Object.assign(new Error(message), { code: REQUIRE_ASYNC_MODULE });
}

/**
 * The source transforms every compartment applies to code it evaluates (modules, and
 * code built at run time through the Function constructor or eval).
 */
import { CJS_WRAPPER_HEAD } from '../formats/cjs.js';
import { evadeSesRejections } from '../formats/evasion.js';

/**
 * Module sources were evaded when they were compiled (and cached so): only code built at
 * run time (the Function constructor, eval) is evaded here. A look-alike of a module
 * source skips this, and then meets SES's own rejection, which runs last.
 */
const COMPILED_ESM_HEAD = /^\(\{imports:\$h\u034f_imports,/;
export function evadeRunTimeCode(source: string): string {
  if (source.startsWith(CJS_WRAPPER_HEAD) || COMPILED_ESM_HEAD.test(source)) return source;
  return evadeSesRejections(source);
}

/**
 * `Function('return this')()` (and `(0, eval)('this')`) is how much older code finds the
 * global object: sloppy functions get it as `this`. Compartments evaluate strict code
 * only, where `this` is undefined, and such code crashes (ejs, regenerator-runtime).
 * These exact sources are rewritten to the compartment's own global object, which is
 * what they mean there.
 */
const FUNCTION_RETURNING_THIS = /^\(function anonymous\(\n\) \{\n\s*return\s+this\s*;?\s*\n\}\)$/;
export function globalThisIdiom(source: string): string {
  // Every module passes here: its text is not scanned (nor copied by `trim`) unless it is
  // short enough to be one of these.
  if (source.length > 200) return source;
  if (FUNCTION_RETURNING_THIS.test(source)) return '(function anonymous(\n) {\nreturn globalThis;\n})';
  if (source.trim() === 'this') return 'globalThis';
  return source;
}

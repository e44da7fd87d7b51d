/**
 * SES refuses to evaluate any text that looks like `import(`, an HTML comment
 * (`<!--`, `-->`) or, in ES modules and code built at run time, a direct `eval(`, and
 * the runtime, where V8 parses phase imports, `import.` not before `meta` (see
 * {@link rejectPhaseImports}), wherever it stands: in code, comments, strings or regular expressions. Real packages
 * carry such text all the time (JSDoc `import('x')` types, HTML in template strings, a
 * CLI's `/--import(?:=|\s+)(\S+)/`). SES's own regexp evasions rewrite every match,
 * which changes the value of strings; this pass works on tokens instead, so that:
 * - in comments the text is broken up (no meaning changes);
 * - in strings, templates and regular expressions one character is escaped so that the
 *   literal means what it meant (see ./evasion-literals.ts for which one, and the one
 *   thing that shows: a tagged template's raw strings);
 * - in code, `import(` becomes `__import__(` (see {@link evadeSesRejections}), and
 *   `import.source(` `__import__.source(`, which refuses; `-->` and
 *   `<!--` are spaced out (`a-- > b`, `a < !--b`), which parses the same in a module;
 *   a name SES would misread (`$import(`, `obj. eval(`) has its last letter escaped,
 *   which is the same name.
 * Only sources that the cheap test flags are tokenized.
 */
import jsTokens from 'js-tokens';
import { breakInComment, escapeInRegExp, escapeInString, splitInRawTemplate } from './evasion-literals.js';

const suspicious = /(?:^|[^.]|\.\.\.)\bimport\s*(?:\(|\/[/*]|\.(?!\s*meta\b))|<!--|-->|(?:^|[^.])\beval\s*\(/;

/**
 * `import` then `.` (not `import.meta`): V8's phase imports, `import.source(x)` (Node 24
 * parses it in scripts and modules alike; `import.defer(x)` is next). Like `import(x)`,
 * such a call goes to the host: Node's own module loader, which resolves and loads from
 * the runtime's file (the caller of SES's evaluator), with no policy, and hands back a
 * `WebAssembly.Module` of any `.wasm` file or `data:` URL (docs/attacks.md, case 180).
 * SES's own check looks for `import(` only: the runtime bundle gives every compartment
 * (a package's child compartments too, whatever their options) a last shim transform
 * that refuses text holding this form (scripts/bundle-runtime.mjs), as SES refuses
 * `import(`. The evasion below turns such code into `__import__.source(x)`, which
 * refuses ({@link refusePhaseImports}), and escapes the text in literals, so that only
 * text built to skip it meets that refusal.
 */
const PHASE_IMPORT = /(?:^|[^.]|\.\.\.)\bimport\s*\.(?!\s*meta\b)/;
const SOURCE_URL_LINE = /\n\/\/# sourceURL=[\w\-./@+~%:, ]*\n?$/;

/**
 * The refusal the bundle adds to every compartment (its pattern is the same), as a
 * function: the evasion's tests check their output against it.
 */
export function rejectPhaseImports(source: string): string {
  // Not in a last line '//# sourceURL=<a path>' (the runtime's, after a CommonJS module's
  // text; a path may name `import.js`), which runs nothing: see the bundle's check.
  const match = PHASE_IMPORT.exec(source.replace(SOURCE_URL_LINE, '\n'));
  if (match) {
    const line = source.slice(0, match.index).split(/\r\n?|[\n\u2028\u2029]/).length;
    throw new SyntaxError(`LavaMoat: possible source-phase import (import.source) rejected at line ${line}: compartments load modules only through the package's policy`);
  }
  return source;
}

/**
 * What the evasion's `__import__.source(x)` and `__import__.defer(x)` call: a refusal,
 * as a rejected promise (what the call returns in Node).
 */
export function refusePhaseImports<T extends object>(importFn: T, packageName: string): T {
  const refuse = (phase: string) => () =>
    Promise.reject(
      Object.assign(
        new Error(
          `LavaMoat: package "${packageName}" used a ${phase}-phase import (import.${phase}()), which Node's loader would answer outside the package's compartment and policy; it is not supported in compartments`,
        ),
        { code: 'LAVAMOAT_PHASE_IMPORT' },
      ),
    );
  for (const phase of ['source', 'defer']) {
    Object.defineProperty(importFn, phase, { value: refuse(phase), writable: false, enumerable: false, configurable: false });
  }
  return importFn;
}

export const needsEvasion = (source: string): boolean => suspicious.test(source);

const isTrivia = (type: string): boolean =>
  type === 'WhiteSpace' || type === 'LineTerminatorSequence' || type.endsWith('Comment');

const methodPrefix = new Set(['{', ',', ';', '}', 'static', 'async', 'get', 'set', '*']);

type Tok = { type: string; value: string };

/** Index of the next non-trivia token after `i`, or -1. */
function nextSignificant(tokens: Tok[], i: number): number {
  for (let j = i + 1; j < tokens.length; j += 1) if (!isTrivia(tokens[j]!.type)) return j;
  return -1;
}

/** Whether the token after the `.` at `dot`, past whitespace only, is `meta` (`import.meta`, as {@link PHASE_IMPORT} reads it). */
function metaAfter(tokens: Tok[], dot: number): boolean {
  for (let j = dot + 1; j < tokens.length; j += 1) {
    const { type, value } = tokens[j]!;
    if (type === 'WhiteSpace' || type === 'LineTerminatorSequence') continue;
    return value === 'meta';
  }
  return false;
}

/**
 * Whether SES (or {@link rejectPhaseImports}) reads the text after token `i` as
 * completing `import` (whitespace, then `(`, a comment, or a `.` not before `meta`) or
 * `eval` (whitespace, then `(`).
 */
function completesPattern(tokens: Tok[], i: number, word: 'import' | 'eval'): boolean {
  for (let j = i + 1; j < tokens.length; j += 1) {
    const { type, value } = tokens[j]!;
    if (type === 'WhiteSpace' || type === 'LineTerminatorSequence') continue;
    if (word === 'import' && value === '.') return !metaAfter(tokens, j);
    return value === '(' || (word === 'import' && (type === 'MultiLineComment' || type === 'SingleLineComment'));
  }
  return false;
}

/**
 * A name that ends in `import` or `eval` where SES sees a word boundary: inside the name
 * (`$eval`, `#import`, `ñimport`), or at its start when the character before is not the
 * `.` that SES lets pass (`obj. eval(`, across a line break). Returns the word.
 */
function misreadWord(value: string, before: string): 'import' | 'eval' | undefined {
  const word = /\b(import|eval)$/.exec(value);
  if (!word) return undefined;
  if (word.index === 0 && before === '.') return undefined;
  return word[1] as 'import' | 'eval';
}

/** For `import` or `eval` at `i` followed by `(`: is it a method name (`eval(a) {`) rather than a call? */
function isMethodName(tokens: Tok[], open: number, previous: string): boolean {
  if (!methodPrefix.has(previous)) return false;
  let depth = 0;
  for (let j = open; j < tokens.length; j += 1) {
    const { type, value } = tokens[j]!;
    if (type !== 'Punctuator') continue;
    if (value === '(') depth += 1;
    else if (value === ')') {
      depth -= 1;
      if (depth === 0) {
        const after = nextSignificant(tokens, j);
        return after !== -1 && tokens[after]!.value === '{';
      }
    }
  }
  return false;
}

/** Whether the significant tokens before a template are the tag `String.raw`. */
function taggedByStringRaw(recent: string[]): boolean {
  const n = recent.length;
  return recent[n - 1] === 'raw' && recent[n - 2] === '.' && recent[n - 3] === 'String' && recent[n - 4] !== '.' && recent[n - 4] !== '?.';
}

/**
 * Rewrites `source` so that SES accepts it. A real `import(` call becomes `__import__(`,
 * which the CommonJS wrapper binds to the package's confined dynamic import; a method
 * named `import` is quoted (`'import'(a) {}`), which defines the same method.
 */
export function evadeSesRejections(source: string): string {
  if (!needsEvasion(source)) return source;
  const tokens = [...jsTokens(source)] as Tok[];
  let out = '';
  let at = 0;
  // What the previous token became.
  let last = '';
  // The last few significant tokens (for a member name and for a String.raw tag), and
  // for each open template whether String.raw is its tag.
  const recent: string[] = [];
  const rawTemplates: boolean[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const { type, value } = tokens[i]!;
    const previous = recent[recent.length - 1] ?? '';
    let piece: string;
    switch (type) {
      case 'StringLiteral':
        piece = escapeInString(value);
        break;
      case 'NoSubstitutionTemplate':
      case 'TemplateHead':
      case 'TemplateMiddle':
      case 'TemplateTail': {
        let raw: boolean;
        if (type === 'NoSubstitutionTemplate') raw = taggedByStringRaw(recent);
        else if (type === 'TemplateHead') rawTemplates.push((raw = taggedByStringRaw(recent)));
        else if (type === 'TemplateMiddle') raw = rawTemplates[rawTemplates.length - 1] ?? false;
        else raw = rawTemplates.pop() ?? false;
        piece = raw ? splitInRawTemplate(value) : escapeInString(value);
        break;
      }
      case 'RegularExpressionLiteral':
        piece = escapeInRegExp(value, source[at + value.length] ?? '');
        break;
      case 'MultiLineComment':
      case 'SingleLineComment':
      case 'HashbangComment':
        piece = breakInComment(value);
        break;
      case 'IdentifierName':
      case 'PrivateIdentifier': {
        const member = previous === '.' || previous === '?.';
        const next = (value === 'import' || value === 'eval') && !member ? nextSignificant(tokens, i) : -1;
        const word = next === -1 ? misreadWord(value, source[at - 1] ?? '') : undefined;
        if (value === 'import' && next !== -1 && tokens[next]!.value === '.' && !metaAfter(tokens, next)) {
          // A phase import (`import.source(x)`): `__import__.source(x)`, which refuses.
          piece = '__import__';
        } else if (next !== -1 && tokens[next]!.value === '(') {
          // A method named so is quoted (same method); a call of `eval` becomes an
          // indirect one, which is what it is in a compartment anyway (the compartment's
          // own `eval` is never the intrinsic, so never direct).
          if (isMethodName(tokens, next, previous)) piece = `'${value}'`;
          else piece = value === 'import' ? '__import__' : '(0, eval)';
        } else if (word && (value !== word || member) && completesPattern(tokens, i, word)) {
          // `$eval(` (puppeteer's method), `#import(`, `obj.\n  import(`: the same name with
          // its last letter escaped. The bare keyword `import` is left: escaped, it would
          // not be the keyword, and no script or compiled module holds it unrewritten.
          piece = `${value.slice(0, -1)}${word === 'import' ? '\\u0074' : '\\u006c'}`;
        } else {
          piece = value;
        }
        break;
      }
      case 'Punctuator':
        // `-->` and `<!--` only arise from adjacent punctuators (`x-->0`, `x-->>1`,
        // `a<!--b`). The previous token is asked, not `out`: `out.endsWith` would flatten
        // the whole output built so far, at every `>`.
        if (value.startsWith('>') && last.endsWith('--')) piece = ` ${value}`;
        else if (value === '!' && last.endsWith('<') && tokens[i + 1]?.value === '--') piece = ' !';
        else piece = value;
        break;
      default:
        piece = value;
    }
    out += piece;
    last = piece;
    at += value.length;
    if (!isTrivia(type)) {
      recent.push(value);
      if (recent.length > 4) recent.shift();
    }
  }
  return out;
}

/**
 * SES refuses to evaluate any text that looks like `import(`, an HTML comment
 * (`<!--`, `-->`) or, in ES modules and code built at run time, a direct `eval(`,
 * wherever it stands: in code, comments, strings or regular expressions. Real packages carry such text all the time (JSDoc `import('x')` types,
 * HTML in template strings). SES's own regexp evasions rewrite every match, which
 * changes the value of strings; this pass works on tokens instead, so that:
 * - in comments the text is broken up (no meaning changes);
 * - in strings and templates a character is escaped (`impor\u0074(`), same value;
 * - in regular expressions the same escape (`\u0074` matches `t`);
 * - in code, `import(` becomes `__import__(` (see {@link evadeSesRejections}); `-->` and
 *   `<!--` are spaced out (`a-- > b`, `a < !--b`), which parses the same.
 * Only sources that the cheap test flags are tokenized.
 */
import jsTokens from 'js-tokens';

const suspicious = /(?:^|[^.]|\.\.\.)\bimport\s*(?:\(|\/[/*])|<!--|-->|(?:^|[^.])\beval\s*\(/;
const importInText = /\bimport(\s*)(\(|\/[/*])/g;
// SES also rejects what looks like a direct eval: `eval(` not after a dot.
const evalInText = /(?<!\.)\beval(\s*)\(/g;

export const needsEvasion = (source: string): boolean => suspicious.test(source);

function escapeInLiteral(text: string): string {
  return text
    .replace(importInText, 'impor\\u0074$1$2')
    .replace(evalInText, 'eva\\u006c$1(')
    .replace(/<!--/g, '<\\u0021--')
    .replace(/-->/g, '-\\u002d>');
}

function escapeInRegExp(text: string): string {
  return text
    .replace(importInText, (_m, space: string, open: string) => `impor\\u0074${space}${open === '(' ? '\\(' : open}`)
    .replace(evalInText, 'eva\\u006c$1(')
    .replace(/<!--/g, '<\\u0021--')
    .replace(/-->/g, '-\\u002d>');
}

function breakInComment(text: string): string {
  return text
    .replace(importInText, '__import__$1$2')
    // A line comment ending in "import", and the next line starting with `//`: SES reads
    // `import` followed by a comment, across the two.
    .replace(/\bimport(\s*)$/, '__import__$1')
    .replace(evalInText, 'eval_$1(')
    .replace(/<!--/g, '< !--')
    .replace(/-->/g, '-- >');
}

const isTrivia = (type: string): boolean =>
  type === 'WhiteSpace' || type === 'LineTerminatorSequence' || type.endsWith('Comment');

const methodPrefix = new Set(['{', ',', ';', '}', 'static', 'async', 'get', 'set', '*']);

type Tok = { type: string; value: string };

/** Index of the next non-trivia token after `i`, or -1. */
function nextSignificant(tokens: Tok[], i: number): number {
  for (let j = i + 1; j < tokens.length; j += 1) if (!isTrivia(tokens[j]!.type)) return j;
  return -1;
}

/** Whether the token after `i`, past whitespace only, is `(`. */
function nextIsCall(tokens: Tok[], i: number): boolean {
  for (let j = i + 1; j < tokens.length; j += 1) {
    const { type, value } = tokens[j]!;
    if (type === 'WhiteSpace' || type === 'LineTerminatorSequence') continue;
    return value === '(';
  }
  return false;
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

/**
 * Rewrites `source` so that SES accepts it. A real `import(` call becomes `__import__(`,
 * which the CommonJS wrapper binds to the package's confined dynamic import; a method
 * named `import` is quoted (`'import'(a) {}`), which defines the same method.
 */
export function evadeSesRejections(source: string): string {
  if (!needsEvasion(source)) return source;
  const tokens = [...jsTokens(source)] as Tok[];
  let out = '';
  let previous = '';
  for (let i = 0; i < tokens.length; i += 1) {
    const { type, value } = tokens[i]!;
    switch (type) {
      case 'StringLiteral':
      case 'NoSubstitutionTemplate':
      case 'TemplateHead':
      case 'TemplateMiddle':
      case 'TemplateTail':
        out += escapeInLiteral(value);
        break;
      case 'RegularExpressionLiteral':
        out += escapeInRegExp(value);
        break;
      case 'MultiLineComment':
      case 'SingleLineComment':
      case 'HashbangComment':
        out += breakInComment(value);
        break;
      case 'IdentifierName': {
        const member = previous === '.' || previous === '?.';
        const next = (value === 'import' || value === 'eval') && !member ? nextSignificant(tokens, i) : -1;
        if (next !== -1 && tokens[next]!.value === '(') {
          // A method named so is quoted (same method); a call of `eval` becomes an
          // indirect one, which is what it is in a compartment anyway (the compartment's
          // own `eval` is never the intrinsic, so never direct).
          if (isMethodName(tokens, next, previous)) out += `'${value}'`;
          else out += value === 'import' ? '__import__' : '(0, eval)';
        } else if (value.endsWith('$eval') && nextIsCall(tokens, i)) {
          // `$eval(` (puppeteer's method): SES sees `eval(` after the `$`. An empty
          // comment before the parenthesis keeps the code and breaks the pattern.
          out += `${value}/**/`;
        } else {
          out += value;
        }
        break;
      }
      case 'Punctuator':
        // `-->` and `<!--` only arise from adjacent punctuators.
        if (value === '>' && out.endsWith('--')) out += ' ';
        if (value === '--' && out.endsWith('<!')) out = `${out.slice(0, -1)} !`;
        out += value;
        break;
      default:
        out += value;
    }
    if (!isTrivia(type)) previous = value;
  }
  return out;
}

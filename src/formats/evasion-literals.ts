/**
 * The text inside literals and comments, changed so that SES's patterns
 * (node_modules/ses/src/transforms.js) no longer match it while each literal keeps its
 * meaning. A problem sequence (`import(`, `import //`, `import /*`, `import.` not before
 * `meta`, `eval(`, `<!--`, `-->`) is broken by writing one of its characters as an escape that the literal reads
 * as that same character. Which character depends on the literal: in a regular
 * expression some of them are syntax (`(?<!--)` is a lookbehind, `[-->]` a range), and
 * an escape there would change the pattern.
 */

// As SES matches them, with the character before `import` left out: a literal escaped
// after a `.` (which SES would pass) reads the same, so there is nothing to gain in
// copying that part.
// `import.` not before `meta` is a phase import (`import.source(`: evasion.ts).
const importInText = /\bimport(\s*)(\(|\/[/*]|\.(?!\s*meta\b))/g;
const evalInText = /(?<!\.)\beval(\s*)\(/g;

/**
 * Strings and templates other than String.raw's: a letter becomes its `\u` escape, which
 * leaves the value (a template's cooked strings) as it was. The escaped letter always
 * follows another letter of the sequence, so it can never be part of an escape that
 * began before it.
 */
export function escapeInString(text: string): string {
  return text
    .replace(importInText, (_m, space: string, open: string) => `impor\\u0074${space}${open}`)
    .replace(evalInText, (_m, space: string) => `eva\\u006c${space}(`)
    .replace(/<!--/g, '<\\u0021--')
    .replace(/-->/g, '-\\u002d>');
}

/**
 * A template tagged with `String.raw`: its raw text is the source text, so no escape can
 * keep it. An empty substitution splits the sequence instead; String.raw joins the
 * pieces with the substitution's value, `''`, and returns exactly what it did.
 */
export function splitInRawTemplate(text: string): string {
  const hole = "${''}";
  return text
    .replace(importInText, (_m, space: string, open: string) => `impor${hole}t${space}${open}`)
    .replace(evalInText, (_m, space: string) => `eva${hole}l${space}(`)
    .replace(/<!--/g, () => `<${hole}!--`)
    .replace(/-->/g, () => `-${hole}->`);
}

/**
 * Which positions of a regular expression's body stand inside a character class. With
 * the `v` flag classes nest; without it a `[` inside a class is a plain character.
 */
function classPositions(body: string, nested: boolean): boolean[] {
  const inside: boolean[] = [];
  let depth = 0;
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i];
    inside[i] = depth > 0;
    if (c === '\\') {
      i += 1;
      inside[i] = depth > 0;
    } else if (c === '[' && (depth === 0 || nested)) depth += 1;
    else if (c === ']' && depth > 0) depth -= 1;
  }
  return inside;
}

/**
 * A regular expression literal. Only characters that are plain pattern characters where
 * they stand are escaped (`\uXXXX` means that character in every mode, in and out of
 * classes); the syntax around them is left alone:
 * - `import(`: the `t` (the `(` may open a group: `/--import(?:=|\s+)(\S+)/`);
 * - `eval(`: the `l`;
 * - `<!--`: outside a class the first `-` (`<` and `!` may be a lookbehind's `(?<!`),
 *   inside one the `!` (the first `-` is a range's operator there: `[<!--]` is `<` and
 *   `!`–`-`; with `v` it is the subtraction operator, which stays a syntax error);
 * - `-->`: the `>`, a plain character in and out of classes (a `-` could be a range's or a
 *   subtraction's operator: `[a-->]`).
 */
export function escapeInRegExp(token: string, follower: string): string {
  const close = token.lastIndexOf('/');
  const body = token.slice(1, close);
  const flags = token.slice(close + 1);
  const escapes = new Map<number, string>();
  // The closing slash and the character after the literal: `/import//* c */` reads as
  // `import/*` to SES.
  const closed = flags === '' && (follower === '/' || follower === '*');
  const importAt = closed ? /\bimpor(?=t\s*(?:\(|\/[/*]|\.(?!\s*meta\b)|$))/g : /\bimpor(?=t\s*(?:\(|\/[/*]|\.(?!\s*meta\b)))/g;
  for (const m of body.matchAll(importAt)) escapes.set(m.index + 5, '\\u0074');
  for (const m of body.matchAll(/(?<!\.)\beva(?=l\s*\()/g)) escapes.set(m.index + 3, '\\u006c');
  if (body.includes('<!--') || body.includes('-->')) {
    const inClass = classPositions(body, flags.includes('v'));
    for (const m of body.matchAll(/<!--/g)) {
      if (inClass[m.index]) escapes.set(m.index + 1, '\\u0021');
      else escapes.set(m.index + 2, '\\u002d');
    }
    for (const m of body.matchAll(/-->/g)) escapes.set(m.index + 2, '\\u003e');
  }
  if (escapes.size === 0) return token;
  let out = '';
  for (let i = 0; i < body.length; i += 1) out += escapes.get(i) ?? body[i];
  return `/${out}/${flags}`;
}

/** Comments: the text is broken up; nothing reads it. */
export function breakInComment(text: string): string {
  return text
    .replace(importInText, '__import__$1$2')
    // A line comment ending in "import" or "eval", and the next line starting with `//`,
    // `/*` or `(`: SES reads `import //` or `eval(` across the two.
    .replace(/\bimport(\s*)$/, '__import__$1')
    .replace(/(?<!\.)\beval(\s*)$/, 'eval_$1')
    .replace(evalInText, 'eval_$1(')
    .replace(/<!--/g, '< !--')
    .replace(/-->/g, '-- >');
}

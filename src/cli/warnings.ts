/**
 * How `lavamoat generate` reports its warnings: by what they cost at run time
 * (src/generate/warnings.ts). First where a package will be denied something the
 * analysis could not see, with the override entry that grants it; then code that fails
 * under the loader whatever the policy grants; the rest in one line per package.
 * `--verbose` lists every warning.
 */
import {
  consequenceOf,
  fixFor,
  fixGroup,
  summaryPhrase,
  type Consequence,
  type GenerateWarning,
  type GenerateWarningKind,
} from '../generate/index.js';
import type { Output } from './output.js';

/** Lines per section before "... and N more": enough for the ones that matter, not a wall. */
const MAX_LINES = 30;

export interface WarningReportOptions {
  verbose: boolean;
  /** `root.usePolicy`: the app's own code is confined under that name. */
  usePolicy?: string;
  /** The override file as shown to the user. */
  overrideFile: string;
}

/** Warnings of one file with the same message, shown as one line. */
interface Line {
  first: GenerateWarning;
  more: GenerateWarning[];
}

function collapse(warnings: GenerateWarning[]): Line[] {
  const lines = new Map<string, Line>();
  for (const w of warnings) {
    const key = `${w.file}\0${w.message}`;
    const line = lines.get(key);
    if (line) line.more.push(w);
    else lines.set(key, { first: w, more: [] });
  }
  return [...lines.values()];
}

function render({ first: w, more }: Line): string {
  const also = more.length > 0 ? ` (also at ${more.map((m) => `${m.line}:${m.column}`).join(', ')})` : '';
  return `${w.level === 'info' ? 'note' : 'warning'}: ${w.file}:${w.line}:${w.column}${w.package ? ` [${w.package}]` : ''} ${w.message}${also}`;
}

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;

export function reportWarnings(warnings: GenerateWarning[], options: WarningReportOptions, out: Output): void {
  const rootConfined = options.usePolicy !== undefined;
  const by: Record<Consequence, GenerateWarning[]> = { denied: [], fails: [], other: [] };
  for (const w of warnings) by[consequenceOf(w, rootConfined)].push(w);

  const capped = (lines: string[], count: number): void => {
    let shown = 0;
    for (const line of lines) {
      if (!options.verbose && shown >= MAX_LINES) {
        out.warn(`  ... and ${count - shown} more (--verbose lists them all)`);
        return;
      }
      out.warn(line);
      if (!line.startsWith('  ')) shown += 1;
    }
  };

  if (by.denied.length > 0) {
    out.warn(
      `LavaMoat: ${plural(by.denied.length, 'warning')} where a package will be denied what the analysis could not see; ` +
        `each is followed by what to add to ${options.overrideFile}:`,
    );
    // One fix per package and kind of remedy, after that package's lines of that kind.
    const groups = new Map<string, Line[]>();
    for (const line of collapse(by.denied)) {
      const key = `${line.first.package ?? ''}\0${fixGroup(line.first.kind)}`;
      const group = groups.get(key);
      if (group) group.push(line);
      else groups.set(key, [line]);
    }
    const lines: string[] = [];
    for (const group of groups.values()) {
      const { kind, package: packageName } = group[0]!.first;
      lines.push(...group.map(render));
      const resource = packageName ?? options.usePolicy;
      for (const fix of fixFor(kind, resource, packageName)) lines.push(`  ${fix}`);
    }
    capped(lines, collapse(by.denied).length);
  }

  if (by.fails.length > 0) {
    out.warn(`LavaMoat: ${plural(by.fails.length, 'warning')} where code fails under the loader whatever the policy grants:`);
    const lines = collapse(by.fails).map(render);
    capped(lines, lines.length);
  }

  if (by.other.length === 0) return;
  if (options.verbose) {
    out.warn(`LavaMoat: ${plural(by.other.length, 'other warning')} (optional modules, specifiers that resolve to nothing, ...):`);
    for (const line of collapse(by.other)) out.warn(render(line));
    return;
  }
  out.info(`LavaMoat: ${plural(by.other.length, 'other warning')}, by package (--verbose lists each):`);
  const perPackage = new Map<string, Map<GenerateWarningKind, GenerateWarning[]>>();
  for (const w of by.other) {
    const name = w.package ?? 'the app';
    let kinds = perPackage.get(name);
    if (!kinds) perPackage.set(name, (kinds = new Map()));
    const list = kinds.get(w.kind);
    if (list) list.push(w);
    else kinds.set(w.kind, [w]);
  }
  for (const [name, kinds] of perPackage) {
    const parts = [...kinds].map(([kind, list]) => {
      const specifiers = [...new Set(list.map((w) => w.specifier).filter((s): s is string => s !== undefined))];
      const named = specifiers.length > 0 ? ` (${specifiers.slice(0, 3).map((s) => `'${s}'`).join(', ')}${specifiers.length > 3 ? ', ...' : ''})` : '';
      return summaryPhrase(kind, list.length) + named;
    });
    out.info(`  ${name}: ${parts.join('; ')}`);
  }
}

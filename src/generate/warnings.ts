/**
 * Generation's warnings, and what each costs at run time. A real app gets dozens, most
 * of them harmless (an optional dependency not installed, a file Node reads as ESM by
 * its syntax); the few that matter are those where the policy lacks something a package
 * will ask for (`denied`), and code that fails under the loader whatever the policy
 * grants (`fails`). The report shows those first, each `denied` one with the override
 * entry that grants what is missing, and sums up the rest.
 */
import type { AnalysisWarningKind } from './analyse/index.js';

/**
 * Besides the analysis's own kinds: `unreadable` (a module that could not be read),
 * `unresolved` (a specifier that resolves to nothing), `optional-missing` (the same in a
 * `try` block), `no-package` (a file of no package in the tree), `app-file` (a dependency
 * loading a file of the app), `wasm`, and `typescript-dependency` (TypeScript in a
 * package the loader confines).
 */
export type GenerateWarningKind =
  | AnalysisWarningKind
  | 'unreadable'
  | 'unresolved'
  | 'optional-missing'
  | 'no-package'
  | 'app-file'
  | 'wasm'
  | 'typescript-dependency';

export interface GenerateWarning {
  kind: GenerateWarningKind;
  /** Canonical name of the package whose code is concerned; absent for the app's own code. */
  package?: string;
  /** `info`: expected, such as an optional dependency (a require in a try block) that is not installed. */
  level?: 'info';
  file: string;
  line: number;
  column: number;
  message: string;
  /** The specifier, for `unresolved` and `optional-missing`. */
  specifier?: string;
}

/** `denied`: the policy lacks what the code will ask for; `fails`: no policy helps; `other`: neither. */
export type Consequence = 'denied' | 'fails' | 'other';

const FAILS = new Set<GenerateWarningKind>(['frozen-intrinsic', 'sloppy', 'no-package', 'app-file', 'wasm', 'typescript-dependency']);

/**
 * `rootConfined`: the policy sets `root.usePolicy`. Otherwise the app's own code runs
 * natively with everything, and only what it loads dynamically matters: a package it
 * loads that way is never walked, so that package's own grants are missing.
 */
export function consequenceOf(warning: GenerateWarning, rootConfined: boolean): Consequence {
  if (FAILS.has(warning.kind)) return 'fails';
  const confined = warning.package !== undefined || rootConfined;
  switch (warning.kind) {
    case 'dynamic-load':
      return 'denied';
    case 'dynamic-global':
    case 'runtime-code':
    case 'unparsed':
    case 'unreadable':
      return confined ? 'denied' : 'other';
    default:
      return 'other';
  }
}

/** The kinds whose remedy is the same, so that one fix line serves a package's warnings of the group. */
export function fixGroup(kind: GenerateWarningKind): string {
  return kind === 'unparsed' || kind === 'unreadable' ? 'unanalysed' : kind;
}

const json = (value: unknown): string => JSON.stringify(value);

/**
 * What would grant what a `denied` warning says is missing: entries of the override
 * (`resource` is the package's canonical name, or `root.usePolicy` for the app's own
 * code; undefined for an unconfined app). Names the code computes at run time are
 * placeholders in angle brackets.
 */
export function fixFor(kind: GenerateWarningKind, resource: string | undefined, packageName?: string): string[] {
  switch (fixGroup(kind)) {
    case 'dynamic-load': {
      const include = [json(['<package>'])];
      if (packageName !== undefined) include.push(json([{ name: packageName, modules: ['<path of its own module>'] }]));
      const lines = [];
      if (resource !== undefined) {
        lines.push(`grant what it loads: ${json({ resources: { [resource]: { packages: { '<package>': true }, builtin: { '<builtin module>': true } } } })}`);
      }
      lines.push(`have generation analyse what it loads: "include": ${include.join(' or ')}`);
      return lines;
    }
    case 'dynamic-global':
      return resource === undefined ? [] : [`grant the globals it reaches: ${json({ resources: { [resource]: { globals: { '<global>': true } } } })}`];
    case 'runtime-code':
      return resource === undefined
        ? []
        : [`grant what the code built at run time uses: ${json({ resources: { [resource]: { globals: { '<global>': true } } } })}`];
    case 'unanalysed':
      return resource === undefined
        ? []
        : [
            'nothing this module uses is in the policy; grant it: ' +
              json({ resources: { [resource]: { globals: { '<global>': true }, builtin: { '<builtin module>': true }, packages: { '<package>': true } } } }),
          ];
    default:
      return [];
  }
}

/** One phrase per kind for the per-package summary of the warnings that are neither denied nor failing. */
export function summaryPhrase(kind: GenerateWarningKind, count: number): string {
  const s = count === 1 ? '' : 's';
  switch (kind) {
    case 'optional-missing':
      return `${count} optional module${s} not installed`;
    case 'unresolved':
      return `${count} specifier${s} that resolve${count === 1 ? 's' : ''} to nothing`;
    case 'esm-detected':
      return `${count} file${s} that Node runs as ESM by ${count === 1 ? 'its' : 'their'} syntax`;
    case 'typescript-transform':
      return `${count} TypeScript file${s} that need${count === 1 ? 's' : ''} --experimental-transform-types`;
    case 'dynamic-load':
      return `${count} computed load${s}`;
    case 'dynamic-global':
      return `${count} dynamic use${s} of the global object`;
    case 'runtime-code':
      return `${count} use${s} of eval or Function`;
    default:
      return `${count} ${kind} warning${s}`;
  }
}

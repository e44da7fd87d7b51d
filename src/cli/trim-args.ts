/**
 * The arguments and help of `lavamoat trim` (kept apart from args.ts, which only routes
 * to them).
 */
import type { CliArgs } from './args.js';

interface TrimValues {
  recording?: string[] | undefined;
  out?: string | undefined;
  'keep-unloaded'?: boolean | undefined;
}

/** Sets trim's arguments on `result`; returns a usage problem, if any. (No import of args.ts: it imports this.) */
export function applyTrimArgs(result: CliArgs, values: TrimValues, positionals: string[]): string | undefined {
  if (positionals.length > 0) return `lavamoat trim takes recordings as --recording <file>, got also: ${positionals.join(' ')}`;
  const recordings = [...(values.recording ?? [])];
  if (recordings.length === 0) return 'lavamoat trim needs at least one --recording <file> (written by lavamoat run --record)';
  result.recordings = recordings;
  if (values.out !== undefined) result.out = values.out;
  result.keepUnloaded = values['keep-unloaded'] === true;
  return undefined;
}

export const TRIM_HELP = `Usage: lavamoat trim --recording <file> [--recording <file> ...] [options]

Writes the policy with only the grants that one or more recordings saw used, and reports
what it removed. Record runs first (lavamoat run --record <file> <entry>, or
LAVAMOAT_RECORD=<file> with NODE_OPTIONS="--import lavamoat/loader"): the app's tests,
a staging run. Trim never adds a grant, and never changes policy-override.json (its
unused grants are listed).

A grant unused in the recorded runs may still be needed on a path they did not take
(error handling, another platform, a feature the runs did not exercise): review what
was removed, and put back what the app needs in policy-override.json.

Options:
      --recording <file>        A recording (repeatable; recordings are joined). Relative to the project root
  -p, --policy <file>           Policy to trim       [default: lavamoat/node/policy.json]
  -o, --policy-override <file>  Override (read for the report)
                                [default: lavamoat/node/policy-override.json]
      --out <file>              Where to write the trimmed policy, relative to the project root;
                                "-" for stdout      [default: the policy itself]
      --keep-unloaded           Keep the grants of packages that never ran in any recording
      --root <dir>              Project root         [default: the working directory's package]
      --verbose                 List every removed grant (otherwise up to 40)
  -q, --quiet                   Only errors and the warning
`;

/**
 * Denials that say what to do: which package asked, for what, which policy decided, and
 * the override entry that would allow it.
 */
export interface PolicyFiles {
  policy: string;
  override: string;
}

export type DeniedKind = 'builtin' | 'package' | 'native' | 'global' | 'file';

export class LavaMoatDenied extends Error {
  readonly code = 'LAVAMOAT_DENIED';
  constructor(
    message: string,
    readonly packageName: string,
    readonly kind: DeniedKind,
    readonly resource: string,
  ) {
    super(message);
    this.name = 'LavaMoatDenied';
  }
}

/**
 * Who hears of every denial as it is made, whether or not the package catches it: the
 * caught-denial report (caught-denials.ts) and the recording (recording.ts). Set once by
 * the preload; nothing else may listen.
 */
export interface DenialEvent {
  packageName: string;
  kind: DeniedKind;
  resource: string;
  /** The policy entry that would allow it, as JSON; undefined for what no entry can allow. */
  entry: string | undefined;
  /** The error the package received (for the error printer to tell it was printed). */
  error: Error;
}

let denialListener: ((event: DenialEvent) => void) | undefined;

export function onDenial(listener: ((event: DenialEvent) => void) | undefined): void {
  denialListener = listener;
}

function notify(event: DenialEvent): void {
  if (!denialListener) return;
  try {
    denialListener(event);
  } catch {
    // Reporting never changes what the package gets.
  }
}

export function overrideEntry(packageName: string, kind: DeniedKind, resource: string): string {
  const field =
    kind === 'builtin'
      ? { builtin: { [resource]: true } }
      : kind === 'package'
        ? { packages: { [resource]: true } }
        : kind === 'global'
          ? { globals: { [resource]: true } }
          : { native: true };
  return JSON.stringify({ resources: { [packageName]: field } });
}

const what: Record<DeniedKind, (resource: string) => string> = {
  builtin: (r) => `the builtin module "${r}"`,
  package: (r) => (r === '$root$' ? `the app's own modules ("$root$")` : `the package "${r}"`),
  native: (r) => `the native addon ${r}`,
  global: (r) => `the global "${r}"`,
  file: (r) => r,
};

export function denied(
  packageName: string,
  kind: DeniedKind,
  resource: string,
  files: PolicyFiles,
  detail?: string,
): LavaMoatDenied {
  const lines = [`LavaMoat: package "${packageName}" is not allowed ${what[kind](resource)}${detail ? ` (${detail})` : ''}.`];
  lines.push(`  policy: ${files.policy} (override: ${files.override})`);
  if (kind === 'file') {
    lines.push('  no policy entry can allow this: a package may only load its own files and the packages its policy lists.');
  } else {
    lines.push(`  to allow it, add to ${files.override}:`);
    lines.push(`    ${overrideEntry(packageName, kind, resource)}`);
  }
  const error = new LavaMoatDenied(lines.join('\n'), packageName, kind, resource);
  notify({ packageName, kind, resource, entry: kind === 'file' ? undefined : overrideEntry(packageName, kind, resource), error });
  return error;
}

/**
 * An ungranted global does not exist in a compartment (reads give undefined, as in
 * LavaMoat), so code fails later with a plain TypeError or ReferenceError. When such an
 * error reaches the runtime, this finds the global the failing expression used (from
 * the message, or from the source at the top stack frame inside the package) and, if
 * the host has it and the package was not granted it, adds which package it was and
 * the policy entry that would grant it.
 */
export interface GlobalHintContext {
  packageName: string;
  files: PolicyFiles;
  /** Whether the package's policy grants `path` (or a parent of it). */
  isGranted(path: string): boolean;
  /** Whether the host has this global at all. */
  hostHas(name: string): boolean;
  /** Source line `line` (1-based) of `file` (a file URL or path), if readable. */
  sourceLine(file: string, line: number): string | undefined;
}

const identifierBefore = /([A-Za-z_$][\w$]*)\s*\??\.\s*$/;

function missingGlobal(error: Error, ctx: GlobalHintContext): string | undefined {
  const { message } = error;
  let m = /^([A-Za-z_$][\w$]*) is not (?:defined|a function|a constructor)$/.exec(message);
  if (m) return m[1];
  m = /^Cannot read properties of undefined \(reading '([^']+)'\)$/.exec(message);
  if (!m) return undefined;
  const prop = m[1]!;
  const frame = /\n\s+at (?:.*?\()?((?:file:\/\/|\/)[^():]+):(\d+):(\d+)\)?/.exec(String(error.stack ?? ''));
  if (!frame) return undefined;
  const text = ctx.sourceLine(frame[1]!, Number(frame[2]));
  if (text === undefined) return undefined;
  const column = Number(frame[3]);
  // V8 points at the property access; look for `.prop` around that column.
  const at = text.lastIndexOf(`.${prop}`, column + prop.length);
  if (at === -1) return undefined;
  const before = identifierBefore.exec(text.slice(0, at + 1));
  return before ? `${before[1]}.${prop}` : undefined;
}

export function explainMissingGlobal(error: unknown, ctx: GlobalHintContext): void {
  if (!(error instanceof Error) || (error as { lavamoatExplained?: boolean }).lavamoatExplained) return;
  let path: string | undefined;
  try {
    path = missingGlobal(error, ctx);
  } catch {
    return;
  }
  if (!path) return;
  const root = path.split('.')[0]!;
  if (!ctx.hostHas(root) || ctx.isGranted(path) || ctx.isGranted(root)) return;
  const entry = overrideEntry(ctx.packageName, 'global', path);
  const hint = `\n  LavaMoat: package "${ctx.packageName}" was not granted the global "${path}" (policy: ${ctx.files.policy}).\n  to allow it, add to ${ctx.files.override}:\n    ${entry}`;
  try {
    // The stack first: V8 writes it out on first read, with the message of that moment,
    // and a hint already in the message would then be in it twice.
    const stack: unknown = error.stack;
    const before = `${error.name}: ${error.message}`;
    error.message += hint;
    Object.defineProperty(error, 'lavamoatExplained', { value: true });
    if (typeof stack === 'string') {
      const head = `${error.name}: ${error.message}`;
      if (stack.startsWith(before)) error.stack = head + stack.slice(before.length);
      else {
        const firstLine = stack.indexOf('\n');
        error.stack = firstLine === -1 ? head : head + stack.slice(firstLine);
      }
    }
  } catch {
    // A frozen error keeps its message.
    return;
  }
  notify({ packageName: ctx.packageName, kind: 'global', resource: path, entry, error });
}

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

function overrideEntry(packageName: string, kind: DeniedKind, resource: string): string {
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
  package: (r) => `the package "${r}"`,
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
  return new LavaMoatDenied(lines.join('\n'), packageName, kind, resource);
}

/** Host globals that packages commonly need; a ReferenceError naming one gets a hint. */
const HOST_GLOBAL_HINTS = new Set([
  'process', 'Buffer', 'console', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
  'setImmediate', 'clearImmediate', 'queueMicrotask', 'fetch', 'URL', 'URLSearchParams',
  'TextEncoder', 'TextDecoder', 'AbortController', 'AbortSignal', 'crypto', 'performance',
  'structuredClone', 'atob', 'btoa', 'EventTarget', 'Event', 'Blob', 'Headers', 'Request',
  'Response', 'FormData', 'WebAssembly', 'global',
]);

/**
 * An ungranted global simply does not exist in a compartment, as in LavaMoat, so code
 * fails with a plain ReferenceError. When such an error reaches the runtime, this adds
 * which package it came from and the entry that would grant the global.
 */
export function explainMissingGlobal(error: unknown, packageName: string, files: PolicyFiles): void {
  if (!(error instanceof ReferenceError)) return;
  const match = /^(\S+) is not defined$/.exec(error.message);
  if (!match || !HOST_GLOBAL_HINTS.has(match[1]!)) return;
  const name = match[1]!;
  try {
    error.message += `\n  LavaMoat: the global "${name}" is not granted to package "${packageName}" (policy: ${files.policy}).\n  to allow it, add to ${files.override}:\n    ${overrideEntry(packageName, 'global', name)}`;
  } catch {
    // A frozen error keeps its message.
  }
}

/**
 * What strict mode says when it refuses a change (src/confine/export-views.ts, the
 * read-only `process.env`): which package tried, what it may not change and why, and
 * the policy entry that would allow it.
 */
import type { ViewOwner } from '../confine/export-views.js';
import type { PolicyFiles } from './denials.js';

/** The override entry that lets `writer` change what `owner` is. */
function writeEntry(writer: string, owner: ViewOwner): string {
  const field = owner.kind === 'package' ? { packages: { [owner.name]: 'write' } } : { globals: { [owner.name]: 'write' } };
  return JSON.stringify({ resources: { [writer]: field } });
}

/**
 * The message for a refused change: `action` (assign, define, delete, ...) of `key` on
 * an object that belongs to `owner` (a package's exports, or a global granted read),
 * attempted by `writer` (the package whose code is on the stack, when it can be told).
 */
export function strictRefusal(
  owner: ViewOwner,
  action: string,
  key: PropertyKey | undefined,
  writer: string | undefined,
  files: PolicyFiles,
): string {
  const what = key === undefined ? '' : ` ${typeof key === 'symbol' ? key.toString() : JSON.stringify(key)}`;
  const whose =
    owner.kind === 'global'
      ? `the global "${owner.name}"`
      : owner.name === '$root$'
        ? "what the app's modules export"
        : `what package "${owner.name}" exports`;
  const who = writer === undefined ? 'code outside the exporting package' : `package "${writer}"`;
  const lines = [
    `LavaMoat (strict mode): ${who} may not ${action}${what} on ${whose}` +
      (owner.kind === 'package'
        ? ': a package\'s exports change only through its own code, or by packages whose policy grants "write" on it.'
        : ': its policy grants it read, which does not change what the app and other packages see.'),
  ];
  if (writer !== undefined && writer !== owner.name) {
    lines.push(`  policy: ${files.policy} (override: ${files.override})`);
    lines.push(`  if the change is intended, add to ${files.override}:`);
    lines.push(`    ${writeEntry(writer, owner)}`);
  }
  return lines.join('\n');
}

/** The message for a refused change of `process.env.<name>` by a package granted it read. */
export function envRefusal(packageName: string, action: string, name: PropertyKey, files: PolicyFiles): string {
  return [
    `LavaMoat (strict mode): package "${packageName}" may not ${action} process.env.${String(name)}: ` +
      'its policy grants process.env read, which does not change what the app and other packages see.',
    `  policy: ${files.policy} (override: ${files.override})`,
    `  if the change is intended, add to ${files.override}:`,
    `    ${JSON.stringify({ resources: { [packageName]: { globals: { 'process.env': 'write' } } } })}`,
  ].join('\n');
}

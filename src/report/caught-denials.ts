/**
 * Denials a package swallows: lightningcss catches the denial of its native addon and
 * reports "Cannot find module '../lightningcss.linux-x64-gnu.node'", msgpackr catches
 * one and runs without its accelerator. Each distinct denial (package, kind, resource)
 * is printed once on stderr, with the override entry that would allow it, unless the
 * error printer prints it anyway as (part of) an uncaught error.
 *
 * When: a denial is held until the event loop's next check phase (an unref'd
 * `setImmediate`), by which time a denial that is not caught has reached the error
 * printer (a synchronous throw at once, a rejection once the microtasks ran); what is
 * still held at exit is printed then. The error printer takes the denials its error
 * shows (the error itself, its causes, an AggregateError's errors, or a message that
 * quotes the denial), and prints those still held before its error, since they may
 * explain it ("Cannot find module" after a denied addon).
 *
 * What a package controls here: its name (from its package.json and directory), the
 * specifiers it asks for and the file names it ships. So every printed value has its
 * control and bidirectional-formatting characters escaped (`\u001b`, valid JSON in the
 * override entry), is cut at 300 characters, and a package gets at most
 * {@link PER_PACKAGE} lines (then one saying the rest are not printed), the process at
 * most {@link IN_ALL}.
 */
import process from 'node:process';
import type { DenialEvent, PolicyFiles } from './denials.js';

const PER_PACKAGE = 10;
const IN_ALL = 100;
const LONGEST = 300;

// C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and
// isolates, and the zero-width marks that reorder or hide text.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** A package-controlled string made safe to print on a terminal, on one line. */
export function printable(text: string, longest = LONGEST): string {
  const escaped = text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > longest ? `${escaped.slice(0, longest - 3)}...` : escaped;
}

const WHAT: Record<DenialEvent['kind'], (resource: string) => string> = {
  builtin: (r) => `the builtin module "${r}"`,
  package: (r) => (r === '$root$' ? `the app's own modules ("$root$")` : `the package "${r}"`),
  native: (r) => `the native addon ${r}`,
  global: (r) => `the global "${r}"`,
  file: (r) => r,
};

/** The one line printed for a caught denial. */
export function caughtDenialLine(event: Pick<DenialEvent, 'packageName' | 'kind' | 'resource' | 'entry'>, files: PolicyFiles): string {
  const name = printable(event.packageName, 120);
  const what = WHAT[event.kind](printable(event.resource));
  const allow =
    event.entry === undefined
      ? 'no policy entry can allow this'
      : `to allow it, add to ${printable(files.override)}: ${printable(event.entry, 600)}`;
  return `LavaMoat: package "${name}" was not allowed ${what} (the error was caught; shown once). ${allow}`;
}

export const denialKey = (event: Pick<DenialEvent, 'packageName' | 'kind' | 'resource'>): string =>
  `${event.kind}\u0000${event.packageName}\u0000${event.resource}`;

export interface CaughtDenialReport {
  /** Hears every denial (denials.ts' listener). */
  denied(event: DenialEvent): void;
  /**
   * Called by the error printer with the uncaught error it is about to print: the
   * denials that error shows are not printed again; the others held are printed now.
   */
  beforeUncaught(error: unknown): void;
}

interface Held {
  event: DenialEvent;
  /** The first line of the denial's message, to find it quoted in another error. */
  firstLine: string;
}

export function makeCaughtDenialReport(
  files: PolicyFiles,
  write: (text: string) => void = (text) => {
    process.stderr.write(text);
  },
): CaughtDenialReport {
  const done = new Set<string>();
  const held = new Map<string, Held>();
  const perPackage = new Map<string, number>();
  let printedInAll = 0;
  let scheduled = false;
  let quietedAll = false;

  const print = (event: DenialEvent): void => {
    const count = (perPackage.get(event.packageName) ?? 0) + 1;
    perPackage.set(event.packageName, count);
    if (count > PER_PACKAGE + 1) return;
    if (printedInAll >= IN_ALL) {
      if (!quietedAll) write(`LavaMoat: ${IN_ALL} caught denials printed; further ones are not.\n`);
      quietedAll = true;
      return;
    }
    printedInAll += 1;
    if (count === PER_PACKAGE + 1) {
      write(`LavaMoat: package "${printable(event.packageName, 120)}" was denied more; its further caught denials are not printed.\n`);
      return;
    }
    write(`${caughtDenialLine(event, files)}\n`);
  };

  const flush = (): void => {
    scheduled = false;
    const pending = [...held.values()];
    held.clear();
    for (const { event } of pending) print(event);
  };

  process.on('exit', flush);

  const errorsIn = (error: unknown): unknown[] => {
    const found: unknown[] = [];
    const walk = (value: unknown, depth: number): void => {
      if (depth > 4 || found.length > 50 || value === null || typeof value !== 'object' || found.includes(value)) return;
      found.push(value);
      try {
        walk((value as { cause?: unknown }).cause, depth + 1);
        const errors = (value as { errors?: unknown }).errors;
        if (Array.isArray(errors)) for (const item of errors.slice(0, 20)) walk(item, depth + 1);
      } catch {
        // A getter that throws shows nothing.
      }
    };
    walk(error, 0);
    return found;
  };

  return {
    denied(event) {
      const key = denialKey(event);
      if (done.has(key)) return;
      done.add(key);
      const message = event.error.message;
      held.set(key, { event, firstLine: message.slice(0, message.indexOf('\n') === -1 ? undefined : message.indexOf('\n')) });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush).unref();
      }
    },
    beforeUncaught(error) {
      if (held.size === 0) return;
      const shown = errorsIn(error);
      let text = '';
      for (const value of shown) {
        try {
          text += `${String((value as { stack?: unknown }).stack)}\n${String((value as { message?: unknown }).message)}\n`;
        } catch {
          // nothing to read
        }
      }
      for (const [key, { event, firstLine }] of held) {
        if (shown.includes(event.error) || text.includes(firstLine)) held.delete(key);
      }
      flush();
    },
  };
}

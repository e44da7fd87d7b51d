/** stderr output for the CLI: messages, a progress line for big graphs, and policy diffs. */
import path from 'node:path';
import type { LavaMoatPolicy } from '../policy/types.js';

export interface Output {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  verbose: boolean;
  quiet: boolean;
}

export function makeOutput(stream: NodeJS.WritableStream, { verbose = false, quiet = false } = {}): Output {
  return {
    verbose,
    quiet,
    info: (message) => {
      if (!quiet) stream.write(`${message}\n`);
    },
    warn: (message) => {
      if (!quiet) stream.write(`${message}\n`);
    },
    error: (message) => stream.write(`${message}\n`),
  };
}

/**
 * A single self-rewriting line on a terminal, shown only once the work has taken long
 * enough to be worth watching (small graphs finish before it ever appears).
 */
export class Progress {
  private shown = false;
  private last = 0;
  private readonly started = performance.now();

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly enabled: boolean,
    private readonly delayMs = 300,
    private readonly intervalMs = 100,
  ) {}

  update(text: () => string): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.started < this.delayMs || now - this.last < this.intervalMs) return;
    this.last = now;
    const columns = this.stream.columns || 80;
    this.stream.write(`\r\x1b[K${text().slice(0, columns - 1)}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}

/** Relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

/** One line per grant: `name globals process.env=true`. */
function flatten(policy: LavaMoatPolicy | undefined): Map<string, string> {
  const lines = new Map<string, string>();
  for (const [name, resource] of Object.entries(policy?.resources ?? {})) {
    for (const field of ['globals', 'builtin', 'packages'] as const) {
      for (const [key, value] of Object.entries(resource[field] ?? {})) {
        lines.set(`${name} ${field} ${key}`, JSON.stringify(value));
      }
    }
    if (resource.native !== undefined) lines.set(`${name} native`, JSON.stringify(resource.native));
  }
  return lines;
}

/** What changed between two policies, as `+`/`-`/`~` lines. */
export function diffPolicies(before: LavaMoatPolicy | undefined, after: LavaMoatPolicy): string[] {
  const a = flatten(before);
  const b = flatten(after);
  const out: string[] = [];
  for (const [key, value] of b) {
    if (!a.has(key)) out.push(`+ ${key}: ${value}`);
    else if (a.get(key) !== value) out.push(`~ ${key}: ${a.get(key)} -> ${value}`);
  }
  for (const [key, value] of a) if (!b.has(key)) out.push(`- ${key}: ${value}`);
  return out.sort((x, y) => (x.slice(2) < y.slice(2) ? -1 : x.slice(2) > y.slice(2) ? 1 : 0));
}

/**
 * The recording file (`lavamoat run --record <file>`, `LAVAMOAT_RECORD=<file>`): what
 * each package used while the app ran (confine/usage.ts observes it) and every denial,
 * for `lavamoat trim` to keep only the grants that were used. The format, version 1:
 *
 * ```json
 * {
 *   "lavamoatRecording": 1,
 *   "policy": "/srv/app/lavamoat/node/policy.json",
 *   "policyOverride": "/srv/app/lavamoat/node/policy-override.json",
 *   "runs": [{ "pid": 4242, "threadId": 0, "entry": "/srv/app/app.mjs", "node": "v20.20.2",
 *              "started": "2025-01-01T10:00:00.000Z", "written": "...", "exited": true }],
 *   "resources": {
 *     "express": {
 *       "loaded": true,
 *       "globals": ["process.env", "setImmediate"],
 *       "unobserved": ["Object.keys"],
 *       "builtin": { "fs": ["readFileSync", "statSync"], "path": ["*"], "events": [] },
 *       "packages": ["express>body-parser"],
 *       "native": true
 *     }
 *   },
 *   "denials": [{ "package": "sneaky", "kind": "builtin", "resource": "fs",
 *                 "allow": { "resources": { "sneaky": { "builtin": { "fs": true } } } } }]
 * }
 * ```
 *
 * - `resources` is keyed by the policy's resource names (the app's own, when
 *   `root.usePolicy` confines it, by that name); a package that never ran is absent.
 * - `globals`: grant keys read or written, as the policy spells them (`process.env`), and
 *   the name of an object that holds dotted grants when the package read the object
 *   itself (`process`, for `typeof process`). `unobserved`: grants the compartment's own
 *   intrinsics meet (`Object.keys`), which no accessor sees: trim keeps them.
 * - `builtin`: each builtin module linked (imported, required, resolved), with the
 *   members read: top-level names of a whole module, the granted member paths
 *   (`promises.readFile`) of a member-granted one, `*` for every member (a namespace
 *   import, `export *`, `import()`), `[]` when none was seen (a module object passed on
 *   without being read, or a module that is a function, such as `events`).
 * - `packages`: canonical names linked to; `native`: an addon was loaded.
 * - `denials`: each distinct denial (package, kind, resource), with the policy entry that
 *   would allow it (`allow`; absent for loads no entry can allow).
 * - `runs`: one entry per process and worker thread that wrote to the file; `exited` is
 *   false for one that has not written at its exit (still running, killed by a signal,
 *   or a worker terminated while it ran: what it recorded up to a second before is in).
 *
 * Every process and worker thread of the run writes its own usage into the same file,
 * merged with what is there (sets joined), under a lock (a `<file>.lock` directory):
 * at exit (`process.exit` and uncaught errors included) and a second after it recorded
 * something new. The top process (not a child or worker of a recorded run) starts the
 * file afresh.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as hostSetTimeout } from 'node:timers';
import { createRequire } from 'node:module';
import { makeUsage, type PackageUsage, type UsageRecorder } from '../confine/usage.js';
import type { DeniedKind, DenialEvent } from './denials.js';

export const RECORDING_VERSION = 1;

export interface RecordedResource {
  loaded?: boolean;
  globals?: string[];
  unobserved?: string[];
  builtin?: Record<string, string[]>;
  packages?: string[];
  native?: boolean;
}

export interface RecordedDenial {
  package: string;
  kind: DeniedKind;
  resource: string;
  allow?: unknown;
}

export interface RecordedRun {
  pid: number;
  threadId: number;
  entry: string | undefined;
  node: string;
  started: string;
  written: string;
  exited: boolean;
}

export interface RecordingFile {
  lavamoatRecording: typeof RECORDING_VERSION;
  policy?: string;
  policyOverride?: string;
  runs: RecordedRun[];
  resources: Record<string, RecordedResource>;
  denials: RecordedDenial[];
}

export class RecordingError extends Error {
  readonly code = 'LAVAMOAT_RECORDING_INVALID';
}

const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();

function usageToJson(usage: PackageUsage): RecordedResource {
  const out: RecordedResource = {};
  if (usage.loaded) out.loaded = true;
  if (usage.globals.size > 0) out.globals = sorted(usage.globals);
  if (usage.unobserved.size > 0) out.unobserved = sorted(usage.unobserved);
  if (usage.builtin.size > 0) {
    out.builtin = Object.fromEntries([...usage.builtin.keys()].sort().map((name) => [name, sorted(usage.builtin.get(name)!)]));
  }
  if (usage.packages.size > 0) out.packages = sorted(usage.packages);
  if (usage.native) out.native = true;
  return out;
}

const denialKey = (d: Pick<RecordedDenial, 'package' | 'kind' | 'resource'>): string => `${d.kind}\u0000${d.package}\u0000${d.resource}`;

function mergeResource(a: RecordedResource | undefined, b: RecordedResource): RecordedResource {
  if (!a) return b;
  const out: RecordedResource = {};
  if (a.loaded || b.loaded) out.loaded = true;
  for (const field of ['globals', 'unobserved', 'packages'] as const) {
    const joined = sorted([...(a[field] ?? []), ...(b[field] ?? [])]);
    if (joined.length > 0) out[field] = joined;
  }
  const modules = sorted([...Object.keys(a.builtin ?? {}), ...Object.keys(b.builtin ?? {})]);
  if (modules.length > 0) {
    out.builtin = Object.fromEntries(modules.map((name) => [name, sorted([...(a.builtin?.[name] ?? []), ...(b.builtin?.[name] ?? [])])]));
  }
  if (a.native || b.native) out.native = true;
  return out;
}

/** Two recordings as one: sets joined, runs listed once each (the later entry of one wins). */
export function mergeRecordings(a: RecordingFile, b: RecordingFile): RecordingFile {
  const resources: Record<string, RecordedResource> = {};
  for (const name of sorted([...Object.keys(a.resources), ...Object.keys(b.resources)])) {
    const merged = b.resources[name] ? mergeResource(a.resources[name], b.resources[name]!) : a.resources[name]!;
    resources[name] = merged;
  }
  const denials = new Map<string, RecordedDenial>();
  for (const denial of [...a.denials, ...b.denials]) if (!denials.has(denialKey(denial))) denials.set(denialKey(denial), denial);
  const runs = new Map<string, RecordedRun>();
  for (const run of [...a.runs, ...b.runs]) runs.set(`${run.pid}:${run.threadId}:${run.started}`, run);
  return {
    lavamoatRecording: RECORDING_VERSION,
    ...((a.policy ?? b.policy) !== undefined && { policy: a.policy ?? b.policy }),
    ...((a.policyOverride ?? b.policyOverride) !== undefined && { policyOverride: a.policyOverride ?? b.policyOverride }),
    runs: [...runs.values()],
    resources,
    denials: [...denials.values()].sort((x, y) => (denialKey(x) < denialKey(y) ? -1 : 1)),
  };
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Checks a parsed recording; throws {@link RecordingError} naming `label` and what is wrong. */
export function checkRecording(value: unknown, label: string): RecordingFile {
  const fail = (problem: string): never => {
    throw new RecordingError(`LavaMoat: ${label} is not a LavaMoat recording: ${problem}`);
  };
  if (!isObject(value)) return fail('expected a JSON object');
  if (value.lavamoatRecording !== RECORDING_VERSION) {
    return fail(`"lavamoatRecording" is ${JSON.stringify(value.lavamoatRecording)}, expected ${RECORDING_VERSION} (written by lavamoat run --record)`);
  }
  if (!isObject(value.resources)) fail('"resources" must be an object');
  for (const [name, resource] of Object.entries(value.resources as Record<string, unknown>)) {
    if (!isObject(resource)) fail(`resources["${name}"] must be an object`);
    const r = resource as Record<string, unknown>;
    for (const field of ['globals', 'unobserved', 'packages']) {
      if (r[field] !== undefined && !isStrings(r[field])) fail(`resources["${name}"].${field} must be an array of strings`);
    }
    if (r.builtin !== undefined) {
      if (!isObject(r.builtin) || !Object.values(r.builtin).every(isStrings)) {
        fail(`resources["${name}"].builtin must map module names to arrays of member names`);
      }
    }
    for (const field of ['loaded', 'native']) {
      if (r[field] !== undefined && typeof r[field] !== 'boolean') fail(`resources["${name}"].${field} must be true or false`);
    }
  }
  if (!Array.isArray(value.denials)) fail('"denials" must be an array');
  if (!Array.isArray(value.runs)) fail('"runs" must be an array');
  return value as unknown as RecordingFile;
}

export function readRecording(file: string): RecordingFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RecordingError(`LavaMoat: cannot read the recording ${file}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RecordingError(`LavaMoat: ${file} is not valid JSON: ${(error as Error).message}`);
  }
  return checkRecording(value, file);
}

// ---------------------------------------------------------------------------------
// Writing, under a lock shared by every process and thread of the run

let sleeper: Int32Array | undefined;
const sleep = (ms: number): void => {
  sleeper ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleeper, 0, 0, ms);
};

/** Runs `fn` holding `<file>.lock` (a directory); a lock older than 10 s is taken as stale. */
function withLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 10_000) fs.rmdirSync(lock);
      } catch {
        // gone meanwhile
      }
      if (Date.now() > deadline) throw new Error(`${lock} stayed locked for 5 seconds`);
      sleep(5);
    }
  }
  try {
    return fn();
  } finally {
    try {
      fs.rmdirSync(lock);
    } catch {
      // removed as stale by another writer
    }
  }
}

function writeMerged(file: string, mine: RecordingFile, fresh: boolean): void {
  withLock(file, () => {
    let merged = mine;
    if (!fresh) {
      let existing: RecordingFile | undefined;
      try {
        existing = checkRecording(JSON.parse(fs.readFileSync(file, 'utf8')), file);
      } catch {
        existing = undefined; // absent, or not a recording: replaced
      }
      if (existing) merged = mergeRecordings(existing, mine);
    }
    const temporary = `${file}.${process.pid}.${threadId()}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify(merged, null, 2)}\n`);
    fs.renameSync(temporary, file);
  });
}

let cachedThreadId: number | undefined;
function threadId(): number {
  cachedThreadId ??= (createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')).threadId;
  return cachedThreadId;
}

export interface RecordingOptions {
  file: string;
  policy: string;
  policyOverride: string;
  /** The top process of the run: the file starts afresh. */
  fresh: boolean;
  /** For a problem writing it (once). */
  warn?: (message: string) => void;
  /** Milliseconds between something new and the write; default 1000. */
  delay?: number;
}

/** This process's (or thread's) recording: the usage recorder, the denial listener, the writes. */
export class Recording implements UsageRecorder {
  private readonly usage = new Map<string, PackageUsage>();
  private readonly denials = new Map<string, RecordedDenial>();
  private readonly started = new Date().toISOString();
  private timer: ReturnType<typeof hostSetTimeout> | undefined;
  private warned = false;

  constructor(private readonly options: RecordingOptions) {}

  /** Creates the file (afresh for the top process) and writes at exit from then on. Throws if it cannot. */
  start(): void {
    fs.mkdirSync(path.dirname(this.options.file), { recursive: true });
    writeMerged(this.options.file, this.toJSON(false), this.options.fresh);
    process.on('exit', () => this.write(true));
  }

  of(resourceName: string): PackageUsage {
    let usage = this.usage.get(resourceName);
    if (!usage) {
      usage = makeUsage();
      this.usage.set(resourceName, usage);
    }
    return usage;
  }

  changed(): void {
    if (this.timer !== undefined) return;
    this.timer = hostSetTimeout(() => {
      this.timer = undefined;
      this.write(false);
    }, this.options.delay ?? 1_000);
    this.timer.unref();
  }

  denied(event: DenialEvent): void {
    const denial: RecordedDenial = { package: event.packageName, kind: event.kind, resource: event.resource };
    if (event.entry !== undefined) denial.allow = JSON.parse(event.entry) as unknown;
    const key = denialKey(denial);
    if (this.denials.has(key) || this.denials.size >= 10_000) return;
    this.denials.set(key, denial);
    this.changed();
  }

  toJSON(exited: boolean): RecordingFile {
    const resources: Record<string, RecordedResource> = {};
    for (const name of [...this.usage.keys()].sort()) {
      const used = usageToJson(this.usage.get(name)!);
      if (Object.keys(used).length > 0) resources[name] = used;
    }
    return {
      lavamoatRecording: RECORDING_VERSION,
      policy: this.options.policy,
      policyOverride: this.options.policyOverride,
      runs: [
        {
          pid: process.pid,
          threadId: threadId(),
          entry: process.argv[1],
          node: process.version,
          started: this.started,
          written: new Date().toISOString(),
          exited,
        },
      ],
      resources,
      denials: [...this.denials.values()],
    };
  }

  write(exited: boolean): void {
    try {
      writeMerged(this.options.file, this.toJSON(exited), false);
    } catch (error) {
      if (this.warned) return;
      this.warned = true;
      (this.options.warn ?? ((m) => process.stderr.write(`${m}\n`)))(
        `LavaMoat: cannot write the recording ${this.options.file}: ${(error as Error).message}`,
      );
    }
  }
}

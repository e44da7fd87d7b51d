/**
 * The parse cache: module analyses keyed by a hash of the module's bytes, its format,
 * the analyser's version and the Node major (whose builtin list the analysis uses);
 * and the resolutions made from modules of installed packages, valid while the
 * dependency tree's fingerprint is unchanged (see `treeFingerprint` in index.ts).
 *
 * One file per analyser version (not one per module): a warm run reads and writes a
 * single JSON file instead of a thousand small ones. Writes go to a temporary file that
 * is renamed into place, so a concurrent run sees the old file or the new one, never a
 * torn one. A file that is unreadable, corrupt or of another version is ignored: the
 * cache can only change how fast generation is, never its result.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PackageMap } from '../graph/package-map.js';
import type { Resolved } from '../graph/resolve.js';
import { ANALYSER_VERSION, stripperVersion, type ModuleAnalysis, type ModuleFormat } from './analyse/index.js';

/** Entries kept from earlier runs besides those this run used (other entry points, branches). */
const MAX_ENTRIES = 50_000;

/**
 * The analyser's identity: its version, a hash of its own compiled code (so that a change
 * to the analysis invalidates the cache even if nobody bumps the version), and the Node
 * major, whose builtin list the analysis consults.
 *
 * The analyser is every file of the analyse/ folder, listed rather than named: a file
 * added there later is hashed too, without anyone having to remember this list.
 */
const SALT = (() => {
  const hash = crypto.createHash('sha256');
  let parts: string[];
  try {
    parts = fs
      .readdirSync(new URL('./analyse/', import.meta.url))
      .filter((name) => name.endsWith('.js'))
      .sort()
      .map((name) => `analyse/${name}`);
  } catch {
    parts = ['analyse/'];
  }
  for (const name of [...parts, 'intrinsics.js']) {
    hash.update(name);
    try {
      hash.update(fs.readFileSync(new URL(`./${name}`, import.meta.url)));
    } catch {
      hash.update(name);
    }
  }
  return `${ANALYSER_VERSION}:${hash.digest('base64url').slice(0, 16)}:${process.versions.node.split('.')[0]}`;
})();

/** A resolution as stored: a builtin, a file, or the error (code and message). */
export type CachedResolution = { b: string } | { f: string } | { e: string; m: string };

interface CacheFile {
  salt: string;
  entries: Record<string, ModuleAnalysis>;
  /** Fingerprint of the installed dependency tree the resolutions were made in. */
  tree?: string;
  resolutions?: Record<string, CachedResolution>;
}

/** A TypeScript module's key also has the version of the stripper that made the JavaScript analysed. */
export function cacheKey(bytes: Uint8Array, format: ModuleFormat, typescript = false): string {
  const kind = typescript ? `${format}+${stripperVersion()}` : format;
  return crypto.createHash('sha256').update(kind).update('\0').update(bytes).digest('base64url');
}

const isAnalysis = (value: unknown): value is ModuleAnalysis => {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return Array.isArray(v.imports) && Array.isArray(v.globals) && Array.isArray(v.warnings);
};

export class AnalysisCache {
  private previous: Record<string, ModuleAnalysis> = Object.create(null);
  private readonly used = new Map<string, ModuleAnalysis>();
  private previousResolutions: Record<string, CachedResolution> = Object.create(null);
  private readonly newResolutions = new Map<string, CachedResolution>();
  private loadedTree: string | undefined;
  private tree: string | undefined;
  private dirty = false;
  hits = 0;
  misses = 0;

  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, `analysis-v${ANALYSER_VERSION}.json`);
  }

  load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return;
    }
    try {
      const data = JSON.parse(text) as CacheFile;
      if (data && data.salt === SALT && data.entries && typeof data.entries === 'object') {
        this.previous = Object.assign(Object.create(null), data.entries);
        if (typeof data.tree === 'string' && data.resolutions && typeof data.resolutions === 'object') {
          this.loadedTree = data.tree;
          this.previousResolutions = Object.assign(Object.create(null), data.resolutions);
        }
      }
    } catch {
      // Corrupt: start over.
    }
  }

  get(key: string): ModuleAnalysis | undefined {
    const found = this.used.get(key) ?? this.previous[key];
    if (found !== undefined && isAnalysis(found)) {
      this.hits += 1;
      this.used.set(key, found);
      return found;
    }
    this.misses += 1;
    return undefined;
  }

  set(key: string, analysis: ModuleAnalysis): void {
    this.used.set(key, analysis);
    this.dirty = true;
  }

  /**
   * Resolutions are only valid in the dependency tree they were made in: a different
   * fingerprint (an install, an upgrade, a removal) drops them all.
   */
  useTree(fingerprint: string): void {
    this.tree = fingerprint;
    if (this.loadedTree !== fingerprint) this.previousResolutions = Object.create(null);
  }

  getResolution(key: string): CachedResolution | undefined {
    if (this.tree === undefined) return undefined;
    const found = this.newResolutions.get(key) ?? this.previousResolutions[key];
    if (found === undefined || found === null || typeof found !== 'object') return undefined;
    if (typeof (found as { f?: unknown }).f === 'string' || typeof (found as { b?: unknown }).b === 'string') return found;
    if (typeof (found as { e?: unknown }).e === 'string' && typeof (found as { m?: unknown }).m === 'string') return found;
    return undefined;
  }

  setResolution(key: string, value: CachedResolution): void {
    if (this.tree === undefined) return;
    this.newResolutions.set(key, value);
    this.dirty = true;
  }

  /** Writes the cache if this run added to it. Failures are not errors: the cache is optional. */
  save(): void {
    if (!this.dirty) return;
    const entries: Record<string, ModuleAnalysis> = Object.create(null);
    let count = 0;
    for (const key of Object.keys(this.previous)) {
      if (count >= MAX_ENTRIES - this.used.size) break;
      if (!this.used.has(key)) {
        entries[key] = this.previous[key]!;
        count += 1;
      }
    }
    for (const [key, value] of this.used) entries[key] = value;
    const data: CacheFile = { salt: SALT, entries };
    if (this.tree !== undefined) {
      data.tree = this.tree;
      data.resolutions = Object.assign(Object.create(null), this.previousResolutions, Object.fromEntries(this.newResolutions));
    }
    const temp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(temp, JSON.stringify(data), { mode: 0o600 });
      fs.renameSync(temp, this.file);
      this.dirty = false;
    } catch {
      try {
        fs.rmSync(temp, { force: true });
      } catch {
        // ignore
      }
    }
  }
}

/** Default location: `<root>/node_modules/.cache/lavamoat/generate`, as other tools do. */
export function defaultCacheDir(root: string): string {
  return path.join(root, 'node_modules', '.cache', 'lavamoat', 'generate');
}

/**
 * What the installed dependency tree is: the packages of the map (directory and version),
 * the root's package.json, and the lockfiles and install markers package managers
 * rewrite on every install. Persisted resolutions are dropped when it changes.
 */
export function treeFingerprint(packageMap: PackageMap): string {
  const hash = crypto.createHash('sha256');
  for (const info of packageMap.data.packages) hash.update(`${info.name}\0${info.dir}\0${info.version}\n`);
  const root = packageMap.data.root;
  try {
    hash.update(fs.readFileSync(path.join(root, 'package.json')));
  } catch {
    hash.update('no package.json');
  }
  for (const name of [
    'package-lock.json',
    'npm-shrinkwrap.json',
    'yarn.lock',
    'pnpm-lock.yaml',
    'node_modules/.package-lock.json',
    'node_modules/.modules.yaml',
    'node_modules/.yarn-state.yml',
  ]) {
    try {
      const stat = fs.statSync(path.join(root, name));
      hash.update(`${name}\0${stat.size}\0${stat.mtimeMs}\n`);
    } catch {
      hash.update(`${name}\0-\n`);
    }
  }
  return hash.digest('base64url');
}

export function toCachedResolution(result: Resolved | Error): CachedResolution {
  if (result instanceof Error) return { e: (result as { code?: string }).code ?? 'ERR', m: result.message };
  return result.kind === 'builtin' ? { b: result.name } : { f: result.path };
}

export function fromCachedResolution(cached: CachedResolution): Resolved | Error {
  if ('b' in cached) return { kind: 'builtin', name: cached.b };
  if ('f' in cached) return { kind: 'file', path: cached.f, url: pathToFileURL(cached.f).href };
  return Object.assign(new Error(cached.m), { code: cached.e });
}

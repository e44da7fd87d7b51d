/**
 * On-disk cache of compiled modules, so that a warm start neither parses nor loads
 * the compiler.
 *
 * Trust: a cache entry is code, so the cache is used only as far as the code it caches
 * could be rewritten by this process anyway (trust.ts decides read-write, read-only or
 * off). Integrity against accidents, not against an attacker (whom trust.ts handles): an
 * entry is keyed by a hash of everything the compiled output depends on (format version,
 * compiler version, module URL, source text) and carries a hash of its payload, so a
 * corrupt, truncated or stale entry fails the check and is recompiled. The directory is
 * private to the user (0700). Entries are written in the background straight to their
 * name, only if no process made the file first: a file cut short (a writer killed
 * half-way, or read while it is written) fails the check, is not used, and is removed so
 * that it is made again. At exit, entries still pending are written to a temporary file
 * and renamed into place. What a module may do is decided by the package its file belongs
 * to and that package's policy, never by anything in the cache.
 */
import process from 'node:process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDirectory } from './private-dir.js';

/** Bump when the shape or meaning of cached records changes. */
// 2: ES modules compiled by esm-transform.ts; 3: payload hash, no secret; 4: the evasion
// keeps regular expressions and String.raw as written (entries hold the evaded text, and
// the salt names package versions only, so older entries would keep the old text);
// 5: top-level await (compiled records, lexed imports); 6: a record's program text kept
// after its JSON as it is, not as a JSON string (parsing escaped text was a third of a
// warm read), and CommonJS records without the source when the wrapper changed nothing;
// 7: the evasion also rewrites phase imports (`import.source(`) and escapes `import.` in
// literals (entries hold the evaded text); 8: CommonJS bodies with `eval('require')` read
// the wrapper's name (formats/cjs.ts); 9: and `eval("quire".replace(/^/,"re"))`
// (@protobufjs/inquire 1.1.0) its `require`.
export const CACHE_FORMAT = 9;

/**
 * What an entry is keyed by: the module's text, or its bytes as read (a kind is always
 * keyed the same way: the two hash the same except for a BOM or invalid UTF-8).
 */
export type Source = string | Uint8Array;

export interface CacheOptions {
  dir: string;
  /** Folded into every key: versions of the compiler and of this runtime. */
  salt: string;
  /** `read-only`: entries are read, never written (a cache built ahead of time). Default read-write. */
  readOnly?: boolean;
}

/** A file that is there but is no record of this cache's (cut short, corrupt). */
const BAD = Symbol('bad record');

export class ModuleCache {
  private prepared = false;
  private usable = true;
  /** Records written by this process whose files have not landed yet: file → contents. */
  private readonly pending = new Map<string, string>();
  private flushOnExit = false;

  constructor(private readonly options: CacheOptions) {}

  private prepare(): boolean {
    if (this.prepared) return true;
    if (!this.usable) return false;
    try {
      if (this.options.readOnly) {
        const stat = fs.statSync(this.options.dir);
        if (!stat.isDirectory()) throw new Error(`${this.options.dir} is not a directory`);
      } else {
        ensurePrivateDirectory(this.options.dir);
        this.sweep();
      }
      this.prepared = true;
      return true;
    } catch (error) {
      this.usable = false;
      if (process.env.LAVAMOAT_DEBUG === '1') process.stderr.write(`LavaMoat: cache disabled: ${(error as Error).message}\n`);
      return false;
    }
  }

  private keyOf(kind: string, url: string, source: Source): string {
    return crypto
      .createHash('sha256')
      .update(`${CACHE_FORMAT}\0${this.options.salt}\0${kind}\0${url}\0`)
      .update(source)
      .digest('hex');
  }

  private check(key: string, payload: string): string {
    return crypto.createHash('sha256').update(key).update('\0').update(payload).digest('hex');
  }

  private fileOf(key: string): string {
    // One flat directory: creating a subdirectory per key prefix cost more than the
    // writes themselves on a cold start. (`key` is hex: no normalising needed.)
    this.dirPrefix ??= path.join(this.options.dir, path.sep);
    return `${this.dirPrefix}${key}.json`;
  }

  private dirPrefix: string | undefined;

  /**
   * The record stored for (kind, url, source). A record's `textField`, when `set` named
   * one, is stored after the JSON as it is: a file is `<check>\n<json>\n<text>`, and the
   * JSON (which never holds a raw newline) is `[textField or null, the other fields]`.
   */
  get<T>(kind: string, url: string, source: Source): T | undefined {
    if (!this.prepare()) return undefined;
    const key = this.keyOf(kind, url, source);
    const file = this.fileOf(key);
    const record = this.pending.has(file) ? this.fromText<T>(key, this.pending.get(file)!) : this.fromFile<T>(key, file);
    if (record !== BAD) return record;
    // Cut short or corrupt: never used, and removed so that it is made again.
    if (!this.options.readOnly) {
      try {
        fs.unlinkSync(file);
      } catch {
        // Gone already.
      }
    }
    return undefined;
  }

  /**
   * A record from its file, checked on the bytes as read: hashing the decoded payload
   * would encode it back to UTF-8 first (megabytes on a service's start).
   */
  private fromFile<T>(key: string, file: string): T | undefined | typeof BAD {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      return undefined;
    }
    if (bytes.length < 65 || bytes[64] !== 0x0a) return BAD;
    const check = crypto.createHash('sha256').update(key).update('\0').update(bytes.subarray(65)).digest('hex');
    if (bytes.toString('latin1', 0, 64) !== check) return BAD;
    return this.parse<T>(bytes.toString('utf8', 65));
  }

  private fromText<T>(key: string, text: string): T | typeof BAD {
    const newline = text.indexOf('\n');
    const payload = text.slice(newline + 1);
    if (newline !== 64 || text.slice(0, 64) !== this.check(key, payload)) return BAD;
    return this.parse<T>(payload);
  }

  private parse<T>(payload: string): T | typeof BAD {
    try {
      const end = payload.indexOf('\n');
      const [field, value] = JSON.parse(end === -1 ? payload : payload.slice(0, end)) as [string | null, Record<string, unknown>];
      if (field !== null) {
        if (end === -1) return BAD;
        value[field] = payload.slice(end + 1);
      }
      return value as T;
    } catch {
      // A good hash over bad JSON: not written by this cache.
      return BAD;
    }
  }

  /**
   * Stores a record. The file is written in the background (creating ~400 files took a
   * quarter of a cold start on the main thread), straight to its name and only if no
   * process made it first; a reader rejects (and removes) a file cut short by a killed
   * writer, since its hash does not match. Until the file lands, `get` answers from
   * memory; what is still pending when the process exits is written then, atomically.
   */
  set(kind: string, url: string, source: Source, value: unknown, textField?: string): void {
    if (this.options.readOnly || !this.prepare()) return;
    const key = this.keyOf(kind, url, source);
    const file = this.fileOf(key);
    const text = textField === undefined ? undefined : (value as Record<string, unknown>)[textField];
    let payload: string;
    if (typeof text === 'string') {
      const rest = { ...(value as Record<string, unknown>) };
      delete rest[textField!];
      payload = `${JSON.stringify([textField, rest])}\n${text}`;
    } else {
      payload = JSON.stringify([null, value]);
    }
    const data = `${this.check(key, payload)}\n${payload}`;
    this.pending.set(file, data);
    if (!this.flushOnExit) {
      this.flushOnExit = true;
      process.once('exit', () => this.flush());
    }
    const done = (): void => {
      if (this.pending.get(file) === data) this.pending.delete(file);
    };
    fs.writeFile(file, data, { mode: 0o600, flag: 'wx' }, (error) => {
      if ((error as NodeJS.ErrnoException | null)?.code !== 'EEXIST') {
        // Written, or not writable: done either way.
        done();
        return;
      }
      // A record under this key already (one whose stamps no longer hold, which the caller
      // made again, or another process's): replaced whole. Left in place, a stale answer
      // was made again on every start (every install rewrites the marker all stamps hold).
      const temp = this.tempOf(file);
      fs.writeFile(temp, data, { mode: 0o600, flag: 'wx' }, (tempError) => {
        if (tempError) {
          done();
          return;
        }
        fs.rename(temp, file, (renameError) => {
          if (renameError) fs.unlink(temp, () => {});
          done();
        });
      });
    });
  }

  /**
   * Writes every pending record now, through a temporary file and a rename: a background
   * write of the same file still running is replaced whole, never mixed with this one.
   */
  flush(): void {
    for (const [file, data] of this.pending) {
      const temp = this.tempOf(file);
      try {
        fs.writeFileSync(temp, data, { mode: 0o600, flag: 'wx' });
        fs.renameSync(temp, file);
      } catch {
        try {
          fs.unlinkSync(temp);
        } catch {
          // Nothing was written.
        }
      }
    }
    this.pending.clear();
  }

  private tempOf(file: string): string {
    return `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  }

  /**
   * Once a day at most: temporary files an hour old are left by processes that were
   * killed while writing; they are removed.
   */
  private sweep(): void {
    const marker = path.join(this.options.dir, 'swept');
    const now = Date.now();
    try {
      if (now - fs.statSync(marker).mtimeMs < 24 * 3600 * 1000) return;
    } catch {
      // Never swept.
    }
    try {
      fs.writeFileSync(marker, '', { mode: 0o600 });
      for (const name of fs.readdirSync(this.options.dir)) {
        if (!name.endsWith('.tmp')) continue;
        const file = path.join(this.options.dir, name);
        if (now - fs.statSync(file).mtimeMs > 3600 * 1000) fs.unlinkSync(file);
      }
    } catch {
      // Only tidiness is lost.
    }
  }

}

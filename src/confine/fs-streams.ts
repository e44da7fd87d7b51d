/**
 * What an `fs` stream holds: the file it streams, not the file system.
 *
 * Node keeps in every `fs.ReadStream` and `fs.WriteStream` the module it does its I/O
 * with (`stream[kFs]`, the real `fs` unless the app passed `options.fs`), and streams
 * travel: `readable.pipe(dest)` hands the source to `dest`'s `'pipe'` listeners, a
 * destination's `_readableState.pipes` lists it. A package granted nothing but `stream`,
 * given a file stream by the app (a CSV parser the app pipes a file into), would hold
 * `fs.readFileSync` and `fs.writeFileSync` for every path.
 *
 * So `kFs` becomes an accessor on both stream prototypes, installed before any stream
 * exists: Node's constructors assign it (the setter keeps the value per stream), and
 * whoever reads it (Node's own stream code, or a package) gets, in place of the real
 * module, the stream's own I/O (and no one replaces it afterwards): `open` of the stream's own path while it has no
 * descriptor, and `read`, `write`, `writev`, `fsync`, `close` on the descriptors it
 * opened or was given. An `options.fs` of the app's (memfs, a FileHandle's operations) is
 * given back as it is.
 */
import { createRequire } from 'node:module';

const hostRequire = createRequire(import.meta.url);

type Callback = (...args: unknown[]) => void;
type FsLike = Record<string, (...args: unknown[]) => unknown>;

interface StreamLike {
  fd?: unknown;
  path?: unknown;
  flags?: unknown;
  mode?: unknown;
}

export class StreamFileSystemError extends TypeError {
  readonly code = 'LAVAMOAT_STREAM_FS';
}

const refuse = (what: string): never => {
  throw new StreamFileSystemError(`LavaMoat: a file stream's I/O ${what}: it reaches only the stream's own file`);
};

/** The I/O of one stream: its own file, through the real module. */
function streamIO(stream: StreamLike, fs: FsLike): object {
  const fds = new Set<unknown>();
  let opened = false;
  if (typeof stream.fd === 'number') fds.add(stream.fd);
  const onFd =
    (name: string) =>
    (fd: unknown, ...rest: unknown[]): unknown => {
      if (!fds.has(fd)) refuse(`${name}(${String(fd)}) is refused for a descriptor the stream did not open`);
      return fs[name]!(fd, ...rest);
    };
  const io: Record<string, unknown> = {
    open(path: unknown, flags: unknown, mode: unknown, callback: Callback): unknown {
      // Once, as Node opens a stream's file (again, it would truncate a `'w'` stream's).
      if (opened || (stream.fd !== null && stream.fd !== undefined)) refuse('open is refused once the stream has opened its file');
      if (path !== stream.path || flags !== stream.flags || mode !== stream.mode) refuse("open is refused for anything but the stream's own path");
      opened = true;
      return fs.open!(path, flags, mode, (error: unknown, fd: unknown) => {
        if (!error) fds.add(fd);
        callback(error, fd);
      });
    },
  };
  for (const name of ['read', 'write', 'writev', 'fsync']) {
    if (typeof fs[name] === 'function') io[name] = onFd(name);
  }
  // A closed descriptor's number goes to the next file the process opens.
  io.close = (fd: unknown, callback: Callback): unknown => {
    if (!fds.has(fd)) refuse(`close(${String(fd)}) is refused for a descriptor the stream did not open`);
    fds.delete(fd);
    return fs.close!(fd, callback);
  };
  return Object.freeze(io);
}

/**
 * Installs the accessor on `ReadStream.prototype` and `WriteStream.prototype` (their
 * subclasses inherit it). Before any `fs` stream is made and before `fs` is hardened.
 */
export function confineFileStreams(): void {
  const fs = hostRequire('node:fs') as typeof import('node:fs') & FsLike;
  // The key is Node's private symbol: read off a stream made with an `fs` of ours that
  // does nothing (no file is opened; descriptor 0 is neither read nor closed).
  const ReadStream = fs.ReadStream as unknown as new (path: string, options: object) => import('node:stream').Readable;
  const sample = new ReadStream('', { fd: 0, autoClose: false, fs: { read() {}, close() {} } });
  const kFs = Object.getOwnPropertySymbols(sample).find((symbol) => symbol.description === 'kFs');
  sample.destroy();
  if (kFs === undefined) throw new Error("LavaMoat: this Node's fs streams keep no kFs: the runtime needs updating");
  const given = new WeakMap<object, unknown>();
  const prototypes = new Set<object>([fs.ReadStream.prototype, fs.WriteStream.prototype]);
  const views = new WeakMap<object, object>();
  const descriptor: PropertyDescriptor = {
    get(this: object): unknown {
      const value = given.get(this);
      if (value !== fs) return value;
      let io = views.get(this);
      if (!io) {
        io = streamIO(this as StreamLike, fs);
        views.set(this, io);
      }
      return io;
    },
    set(this: object, value: unknown): void {
      // Node sets it once, as it makes the stream; after that it is the stream's.
      if (given.has(this) || prototypes.has(this)) refuse('is set when the stream is made and cannot be replaced');
      given.set(this, value);
    },
    enumerable: false,
    configurable: false,
  };
  for (const prototype of prototypes) Object.defineProperty(prototype, kFs, descriptor);
}

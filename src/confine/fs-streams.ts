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
import { callerSitesOf } from './stack-traces.js';
import { nativeBinding } from './native-handles.js';
import { callerChecked } from './frameless-calls.js';

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

/** What Node set on a stream as it made it: the file it is for. */
interface Made {
  /** The descriptor it was made with (`fd` option), or null when it opens a path. */
  fd?: unknown;
}

/** The I/O of one stream: its own file, through the real module. */
function streamIO(stream: StreamLike, made: Made, fs: FsLike): object {
  const fds = new Set<unknown>();
  if (typeof made.fd === 'number') fds.add(made.fd);
  let opened = false;
  const onFd =
    (name: string) =>
    (fd: unknown, ...rest: unknown[]): unknown => {
      if (!fds.has(fd)) refuse(`${name}(${String(fd)}) is refused for a descriptor the stream did not open`);
      return fs[name]!(fd, ...rest);
    };
  const io: Record<string, unknown> = {
    open(path: unknown, flags: unknown, mode: unknown, callback: Callback): unknown {
      // Once, for a stream made to open a path, with the path, flags and mode Node set
      // as it made the stream (read-only since): a second open would truncate a `'w'`
      // stream's file again.
      if (opened || made.fd !== null || (stream.fd !== null && stream.fd !== undefined)) {
        refuse('open is refused once the stream has a file');
      }
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
 * Installs accessors on `ReadStream.prototype` and `WriteStream.prototype` (their
 * subclasses inherit them) through which Node's constructors set, on each new stream:
 * `kFs` (an own accessor giving the stream's I/O, which no one can replace; Node 22+
 * checks that the stream owns it), `path`, `flags` and `mode` (own and read-only: what
 * the stream opens cannot be changed before it opens it), and `fd` (own and writable, as
 * Node updates it; the first value says whether the stream was given a descriptor).
 * Before any `fs` stream is made and before `fs` is hardened.
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
  const prototypes = new Set<object>([fs.ReadStream.prototype, fs.WriteStream.prototype]);
  const made = new WeakMap<object, Made>();
  const madeOf = (stream: object): Made => {
    let record = made.get(stream);
    if (!record) {
      record = {};
      made.set(stream, record);
    }
    return record;
  };
  const own = (stream: object, key: PropertyKey, descriptor: PropertyDescriptor): void => {
    if (prototypes.has(stream)) refuse(`${String(key)} is set on a stream, not on its class`);
    Object.defineProperty(stream, key, { enumerable: true, ...descriptor });
  };
  const accessors: Record<PropertyKey, (this: object, value: unknown) => void> = {
    [kFs](this: object, value: unknown): void {
      if (value !== fs) {
        // The app's own `fs` (memfs) or a FileHandle's operations: the stream's as given.
        own(this, kFs, { value, writable: true, configurable: true });
        return;
      }
      const record = madeOf(this);
      let io: object | undefined;
      own(this, kFs, {
        get: (): object => (io ??= streamIO(this as StreamLike, record, fs)),
        set: (): never => refuse('is set when the stream is made and cannot be replaced'),
        configurable: false,
      });
    },
    path(this: object, value: unknown): void {
      own(this, 'path', { value, writable: false, configurable: false });
    },
    flags(this: object, value: unknown): void {
      own(this, 'flags', { value, writable: false, configurable: false });
    },
    mode(this: object, value: unknown): void {
      own(this, 'mode', { value, writable: false, configurable: false });
    },
    fd(this: object, value: unknown): void {
      const record = madeOf(this);
      if (!('fd' in record)) record.fd = value;
      own(this, 'fd', { value, writable: true, configurable: true });
    },
  };
  for (const prototype of prototypes) {
    for (const key of Reflect.ownKeys(accessors)) {
      Object.defineProperty(prototype, key, {
        // Read before Node set it (a subclass's constructor): not there yet.
        get: () => undefined,
        set: accessors[key as string],
        enumerable: false,
        configurable: false,
      });
    }
  }
}

/**
 * The standard output and error when they are files: Node's internal SyncWriteStream,
 * which writes each chunk to `this.fd` (`writeSync`) and, destroyed, closes it. Handed to
 * a package (a logger's destination), its `fd` pointed at another descriptor wrote any
 * file the app had open, and its prototype's `_write` and `_destroy`, called on an
 * object of the package's with an `fd` of its choosing, wrote or closed any descriptor
 * (attack case 152). So each such stream's `fd` is pinned as Node set it, and the two
 * methods run only on the streams Node made (the class's constructor is disarmed:
 * capability-classes.ts), with that descriptor. Called when the stream is first read,
 * before its classes are hardened (samples.ts).
 */
const syncStreams = new WeakMap<object, unknown>();
const confinedSyncPrototypes = new WeakSet<object>();
/** The guards {@link confineStdioFileStream} put in place (not guarded twice). */
const syncGuards = new WeakSet<Function>();

export function confineStdioFileStream(stream: object): void {
  if ((stream as { _type?: unknown })._type !== 'fs') return;
  const prototype = Object.getPrototypeOf(stream) as object | null;
  const fd = Reflect.getOwnPropertyDescriptor(stream, 'fd');
  if (prototype === null || !fd || !('value' in fd)) return;
  syncStreams.set(stream, fd.value);
  if (fd.configurable) Object.defineProperty(stream, 'fd', { value: fd.value, writable: false, enumerable: fd.enumerable, configurable: false });
  if (confinedSyncPrototypes.has(prototype)) return;
  for (const name of ['_write', '_destroy']) {
    const descriptor = Reflect.getOwnPropertyDescriptor(prototype, name);
    if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable || syncGuards.has(descriptor.value)) continue;
    const real = descriptor.value as Function;
    const guarded = {
      [name](this: unknown, ...args: unknown[]): unknown {
        if (typeof this !== 'object' || this === null || !syncStreams.has(this) || (this as StreamLike).fd !== syncStreams.get(this)) {
          throw new StreamFileSystemError(`LavaMoat: the standard output's ${name} runs only on the streams Node made, with the descriptor Node gave them`);
        }
        return Reflect.apply(real, this, args);
      },
    }[name]!;
    Object.defineProperty(guarded, 'length', { value: real.length });
    syncGuards.add(guarded);
    Object.defineProperty(prototype, name, { ...descriptor, value: callerChecked(guarded) });
  }
  // Marked once both are guarded: a pass cut short (out of stack, the first read of the
  // standard output from deep recursion) is finished by the next, not skipped.
  confinedSyncPrototypes.add(prototype);
}

/**
 * Node 24's `fs.Utf8Stream` (sonic-boom's port, a logger's destination): `reopen(file)`
 * opens `file`, any path, with the stream's flags (creating its directory with `mkdir`),
 * and writes there from then on. Handed the app's stream, a package granted nothing
 * created and wrote any file (attack case 153). A `file` is taken only from code that is
 * not a package's (the app's, the runtime's, Node's own deferred call in the stream's
 * module); anyone holding the stream may still `reopen()` its own file (log rotation).
 * Told from V8's call sites (a package's frames name no file: stack-traces.ts). Before
 * the class is hardened, when its module loads (boundary.ts).
 */
export function confineUtf8Streams(Utf8Stream: unknown): void {
  if (typeof Utf8Stream !== 'function') return;
  const prototype = (Utf8Stream as { prototype?: unknown }).prototype;
  if (typeof prototype !== 'object' || prototype === null) return;
  const descriptor = Reflect.getOwnPropertyDescriptor(prototype, 'reopen');
  if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable) return;
  const real = descriptor.value as Function;
  const reopen = {
    reopen(this: unknown, ...args: unknown[]): unknown {
      if (args[0]) {
        const file = callerSitesOf(globalThis.Error as never, reopen, 1)[0]?.file;
        if (file === undefined || (file.startsWith('node:') && file !== 'node:internal/streams/fast-utf8-stream')) {
          throw new StreamFileSystemError("LavaMoat: a Utf8Stream reopens another file only for the app (a package may reopen() the stream's own file)");
        }
      }
      return Reflect.apply(real, this, args);
    },
  }.reopen;
  Object.defineProperty(reopen, 'length', { value: real.length });
  Object.defineProperty(prototype, 'reopen', { ...descriptor, value: callerChecked(reopen) });
}

/**
 * fs/promises' FileHandle (exported by nothing, made by `fs.promises.open`): its methods do
 * their I/O on `this.fd`, which is `this[kFd]`, an ordinary property. Handed one (a file
 * the app opened, given to a parser), a package set `fh[kFd]` to any descriptor of the app's
 * and read or wrote it, called the prototype's methods on an object of its own with such
 * an `fd`, or made one with `new fh.constructor({ fd })` (attack case 154). So the handles
 * `open` returns are noted, each with its descriptor held by an accessor that Node can only
 * clear (`close` sets -1) and its `fd` an own accessor of it (not to be shadowed by an own
 * property of a package's); the prototype's methods run only on noted handles; the
 * constructor is disarmed (samples.ts, from the first handle, before the class is hardened).
 */
const fileHandles = new WeakSet<object>();
let fileHandleKeys: { kFd: symbol; prototype: object } | undefined;

export function noteFileHandle(handle: unknown): void {
  if (typeof handle !== 'object' || handle === null) return;
  const kFd = Object.getOwnPropertySymbols(handle).find((symbol) => symbol.description === 'kFd');
  if (kFd === undefined) return;
  if (fileHandleKeys === undefined) {
    const kHandle = Object.getOwnPropertySymbols(handle).find((symbol) => symbol.description === 'kHandle');
    const native: unknown = kHandle === undefined ? undefined : (handle as Record<symbol, unknown>)[kHandle];
    if (typeof native === 'object' && native !== null) nativeFdGetter = Reflect.getOwnPropertyDescriptor(Object.getPrototypeOf(native) as object, 'fd')?.get;
    guardFileHandleMethods(kFd, Object.getPrototypeOf(handle) as object);
  }
  const descriptor = Reflect.getOwnPropertyDescriptor(handle, kFd);
  if (!descriptor || !('value' in descriptor) || !descriptor.configurable) return;
  let fd: unknown = descriptor.value;
  Object.defineProperty(handle, kFd, {
    get: () => fd,
    set: (value: unknown): void => {
      if (value !== -1) throw new StreamFileSystemError("LavaMoat: a file handle's descriptor is set when it is opened and only cleared when it closes");
      fd = -1;
    },
    enumerable: descriptor.enumerable,
    configurable: false,
  });
  // What Node's code reads (`handle.fd`), so that no own property of a package's shadows it.
  Object.defineProperty(handle, 'fd', { get: () => fd, enumerable: false, configurable: false });
  fileHandles.add(handle);
}

/**
 * The class guarded from an instance Node's deserializer made (forged-clones.ts), when
 * fs/promises loads: before any handle is opened, since the deserializer makes a handle
 * of any descriptor for whoever asks. The native handle's `fd` getter comes from the fs
 * binding's class, so that a real transfer is still told from a forged one.
 */
export function sampleFileHandleClass(instance: object): void {
  if (fileHandleKeys !== undefined) return;
  const kFd = Object.getOwnPropertySymbols(instance).find((symbol) => symbol.description === 'kFd');
  if (kFd === undefined) return;
  const native = (nativeBinding('fs') as { FileHandle?: { prototype?: object } } | undefined)?.FileHandle?.prototype;
  if (native !== undefined) nativeFdGetter ??= Reflect.getOwnPropertyDescriptor(native, 'fd')?.get;
  guardFileHandleMethods(kFd, Object.getPrototypeOf(instance) as object);
}

function guardFileHandleMethods(kFd: symbol, prototype: object): void {
  fileHandleKeys = { kFd, prototype };
  noteDeserializedFileHandles(prototype);
  for (const key of [...Object.getOwnPropertyNames(prototype), Symbol.asyncDispose]) {
    if (key === 'constructor') continue;
    const descriptor = Reflect.getOwnPropertyDescriptor(prototype, key);
    if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable) continue;
    const real = descriptor.value as Function;
    const name = typeof key === 'symbol' ? `[${String(key.description)}]` : key;
    const guarded = {
      [name](this: unknown, ...args: unknown[]): unknown {
        if (typeof this !== 'object' || this === null || !fileHandles.has(this)) {
          throw new StreamFileSystemError(`LavaMoat: FileHandle.prototype.${name} runs only on the file handles fs.promises.open made`);
        }
        return Reflect.apply(real, this, args);
      },
    }[name]!;
    Object.defineProperty(guarded, 'length', { value: real.length });
    Object.defineProperty(prototype, key, { ...descriptor, value: callerChecked(guarded) });
  }
}

/**
 * A FileHandle transferred to a worker is made there by Node's deserializer, which calls
 * the prototype's `messaging_deserialize_symbol` method with the native handle: noted once
 * that method has run, if what it was given is a native file handle (its `fd` getter, a
 * native one, refuses anything else).
 */
function noteDeserializedFileHandles(prototype: object): void {
  const key = Object.getOwnPropertySymbols(prototype).find((symbol) => symbol.description === 'messaging_deserialize_symbol');
  const descriptor = key === undefined ? undefined : Reflect.getOwnPropertyDescriptor(prototype, key);
  if (!descriptor || typeof descriptor.value !== 'function' || !descriptor.configurable) return;
  const real = descriptor.value as Function;
  const deserialize = {
    deserialize(this: unknown, ...args: unknown[]): unknown {
      const result: unknown = Reflect.apply(real, this, args);
      if (typeof this === 'object' && this !== null && isNativeFileHandle((args[0] as { handle?: unknown } | undefined)?.handle)) noteFileHandle(this);
      return result;
    },
  }.deserialize;
  Object.defineProperty(prototype, key!, { ...descriptor, value: deserialize });
}

/** The native file handle's `fd` getter, from the first handle `open` made (native: it checks its receiver). */
let nativeFdGetter: Function | undefined;

function isNativeFileHandle(handle: unknown): boolean {
  if (typeof handle !== 'object' || handle === null || nativeFdGetter === undefined) return false;
  try {
    return typeof Reflect.apply(nativeFdGetter, handle, []) === 'number';
  } catch {
    return false;
  }
}

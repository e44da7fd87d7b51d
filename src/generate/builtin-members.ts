/**
 * How deep a builtin grant goes. `fs.promises.readFile` names a function inside a
 * namespace object and is a useful narrowing; `stream.Readable.from` would hand the
 * package an object holding `from` where it expects the `Readable` class, so a path
 * goes down through namespace objects only and stops at the first other member.
 * `process` is a builtin too, and like the `process` global it stops one level down
 * (`process.env.HOME` needs `process.env`, a live object, not a copy of one key).
 *
 * The namespaces are listed rather than discovered by loading each builtin: loading
 * `http2` or `inspector` just to look at it costs start-up time and prints experimental
 * warnings for some, and a fixed list gives the same policy on every Node version. A
 * test checks that each entry is a plain object on the Node running it, and that no
 * plain-object member of a builtin is missing (live registries such as `cluster.workers`
 * and `module._cache` are deliberately not namespaces: a copy of them would be stale).
 */

/** Dotted paths (module name first) of plain objects a grant may go into. */
export const BUILTIN_NAMESPACES: ReadonlySet<string> = new Set([
  'buffer.constants',
  'crypto.constants',
  'dns.promises',
  'fs.constants',
  'fs.promises',
  'fs.promises.constants',
  'fs/promises.constants',
  'http2.constants',
  'os.constants',
  'os.constants.dlopen',
  'os.constants.errno',
  'os.constants.priority',
  'os.constants.signals',
  'path.posix',
  'path.win32',
  'path/posix.posix',
  'path/posix.win32',
  'path/win32.posix',
  'path/win32.win32',
  'perf_hooks.constants',
  'punycode.ucs2',
  'readline.promises',
  'stream.promises',
  'timers.promises',
  'util.types',
  'v8.promiseHooks',
  'v8.startupSnapshot',
  'vm.constants',
  'zlib.codes',
  'zlib.constants',
]);

/** Plain-object members that are live data, not namespaces (see above). */
export const BUILTIN_LIVE_OBJECTS: ReadonlySet<string> = new Set([
  'async_hooks.asyncWrapProviders',
  'cluster._events',
  'cluster.settings',
  'cluster.workers',
  'http.STATUS_CODES',
  'inspector/promises.Network',
  'module._cache',
  'module._extensions',
  'module._pathCache',
  'worker_threads.resourceLimits',
]);

/** The part of `path` (members of builtin `name`) that a grant should name. */
export function grantedBuiltinPath(name: string, path: readonly string[]): string[] {
  if (path.length <= 1) return [...path];
  if (name === 'process') return path.slice(0, 1);
  const out: string[] = [];
  let prefix = name;
  for (const part of path) {
    out.push(part);
    prefix = `${prefix}.${part}`;
    if (!BUILTIN_NAMESPACES.has(prefix)) break;
  }
  return out;
}

/** The policy key: `fs`, `fs.readFile`, `fs.promises.readFile`. */
export function builtinKey(name: string, path: readonly string[]): string {
  const granted = grantedBuiltinPath(name, path);
  return granted.length === 0 ? name : `${name}.${granted.join('.')}`;
}

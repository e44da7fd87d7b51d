import { createRequire } from 'node:module';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { URL, fileURLToPath } from 'node:url';

const hostRequire = createRequire(import.meta.url);

/**
 * `process.env` as packages see it (boundary.ts, docs/design.md): LavaMoat's semantics,
 * except the variables that decide how the next process starts; in strict mode, read-only.
 *
 * Variables that decide which program a child process runs, or what it loads before its
 * own code: the runtime's and the app's, never a package's. Node's own (`NODE_OPTIONS`,
 * `NODE_TLS_REJECT_UNAUTHORIZED`, ... but not the `NODE_ENV` convention), the runtime's,
 * libuv's and OpenSSL's, the dynamic loader's and glibc's (`GCONV_PATH` loads shared
 * objects; `HOSTALIASES`, `LOCALDOMAIN`, `RES_OPTIONS` redirect this process's own name
 * lookups), the command search path, what shells, git, npm, Python, Perl, Ruby, Lua, PHP
 * and Java read to run code at start-up (bash's exported functions, `BASH_FUNC_name%%`,
 * run whenever a bash script calls `name`), where programs find the configuration files
 * that run commands (`HOME`: git's aliases and pager, npm's `.npmrc`; `XDG_CONFIG_HOME`;
 * `ZDOTDIR`), the programs tools start for the app (editor, pager, `LESSOPEN`, askpass,
 * browser), TLS trust and key logs of other programs, and proxies (a child's or, on
 * Node 24, this process's traffic). (attack cases 55 and 101)
 */
const PROTECTED_ENV = new RegExp(
  '^(?:' +
    [
      'NODE_(?!ENV$)', 'LAVAMOAT_', 'UV_', 'OPENSSL_', 'SSL_CERT_', 'SSLKEYLOGFILE$', 'CURL_CA_BUNDLE$', 'REQUESTS_CA_BUNDLE$', 'CURL_HOME$',
      'LD_', 'DYLD_', 'GCONV_PATH$', 'LOCPATH$', 'HOSTALIASES$', 'LOCALDOMAIN$', 'RES_OPTIONS$',
      'PATH$', 'PATHEXT$', 'SHELL$', 'COMSPEC$', 'BASH_ENV$', 'BASH_FUNC_', 'ENV$', 'IFS$', 'PS4$', 'PROMPT_COMMAND$', 'SHELLOPTS$', 'BASHOPTS$',
      'HOME$', 'XDG_CONFIG_(?:HOME|DIRS)$', 'ZDOTDIR$', 'INPUTRC$',
      'EDITOR$', 'VISUAL$', 'PAGER$', 'MANPAGER$', 'LESSOPEN$', 'LESSCLOSE$', 'BROWSER$', 'SSH_ASKPASS', 'SUDO_ASKPASS$',
      'GIT_', 'NPM_CONFIG_', 'YARN_', 'COREPACK_', 'PYTHON', 'PERL5', 'PERLLIB$', 'RUBYOPT$', 'RUBYLIB$', 'LUA_(?:INIT|PATH|CPATH)', 'PHPRC$', 'PHP_INI_SCAN_DIR$',
      'JAVA_TOOL_OPTIONS$', '_JAVA_OPTIONS$', 'JDK_JAVA_OPTIONS$', '(?:HTTPS?|ALL|NO)_PROXY$',
    ].join('|') +
    ')',
  'i',
);

/**
 * The string Node's `process.env` setter would store for `value`, computed once: the
 * views check that string and hand Node that string, never the value itself, whose
 * `toString` could answer the check one thing and Node's own conversion another (attack
 * case 100). A symbol is passed on as it is, for Node to refuse.
 */
const envString = (value: unknown): unknown => (typeof value === 'symbol' ? value : String(value));

export class ProtectedEnvironmentError extends TypeError {
  readonly code = 'LAVAMOAT_PROTECTED_ENV';
}

/**
 * The variable Node reads or writes for a property name: the name up to its first NUL
 * (Node hands the name to the C environment, whose strings end there), so that
 * `process.env['PATH\0x'] = ...` is judged as the write of `PATH` it is (attack case 102).
 */
const envName = (name: PropertyKey): PropertyKey => (typeof name === 'string' ? name.split('\0', 1)[0]! : name);

export const isProtectedEnvName = (name: PropertyKey): boolean => {
  const cut = envName(name);
  return typeof cut === 'string' && PROTECTED_ENV.test(cut);
};

let envView: object | undefined;
let envTarget: object | undefined;

/**
 * `process.env` as a package sees it: LavaMoat's semantics (a read grant may write, as
 * dotenv does), except for the variables that decide how the next process starts, which
 * only the app may change.
 */
export function envFor(env: object): object {
  // (`PROTECTED_ENV` lists them; see there.)
  if (envView && envTarget === env) return envView;
  const refuse = (key: PropertyKey): never => {
    throw new ProtectedEnvironmentError(
      `LavaMoat: packages may not change process.env.${String(envName(key))}: it decides how the next process starts, ` +
        "and only the app's own code may set it",
    );
  };
  envTarget = env;
  // Setting a protected variable to the value it has changes nothing (debug re-saves DEBUG).
  const same = (target: object, key: PropertyKey, text: unknown): boolean =>
    typeof key === 'string' && (target as Record<string, unknown>)[key] === text;
  envView = new Proxy(env, {
    set: (target, key, value) => {
      const text = envString(value);
      return isProtectedEnvName(key) && !same(target, key, text) ? refuse(key) : Reflect.set(target, key, text);
    },
    defineProperty: (target, key, descriptor) => (isProtectedEnvName(key) ? refuse(key) : Reflect.defineProperty(target, key, descriptor)),
    deleteProperty: (target, key) => (isProtectedEnvName(key) ? refuse(key) : Reflect.deleteProperty(target, key)),
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });
  return envView;
}

const readOnlyEnvViews = new Map<string, object>();

/**
 * Strict mode: `process.env` for a package granted it read. Reads are live; writes,
 * definitions and deletions are refused with `refusal` (which says what to grant),
 * except setting a variable to the value it has, which changes nothing (debug re-saves
 * DEBUG).
 */
export function readOnlyEnvFor(env: object, packageName: string, refusal: (action: string, key: PropertyKey) => string): object {
  let view = readOnlyEnvViews.get(packageName);
  if (view) return view;
  const refuse = (action: string, key: PropertyKey): never => {
    throw new ProtectedEnvironmentError(refusal(action, key));
  };
  view = new Proxy(env, {
    set: (target, key, value) => {
      const text = envString(value);
      return typeof key === 'string' && (target as Record<string, unknown>)[key] === text ? true : refuse('set', key);
    },
    defineProperty: (_target, key) => refuse('define', key),
    deleteProperty: (target, key) => (typeof key === 'string' && !(key in target) ? true : refuse('delete', key)),
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });
  readOnlyEnvViews.set(packageName, view);
  return view;
}

const envFileLoaders = new WeakMap<Function, Function>();

/**
 * `process.loadEnvFile(path)` as a package gets it (a dotted grant of `process`):
 * Node's reads the file and sets, natively, each variable it names that is not set yet,
 * past the env view: a file of the package's own naming `NODE_TLS_REJECT_UNAUTHORIZED=0`
 * turned off certificate checks for every HTTPS request of the app, `GIT_SSH_COMMAND`
 * chose what the app's git runs (docs/attacks.md, case 196). This one reads and parses
 * the file as Node does (`util.parseEnv`), refuses it, before setting anything, if it
 * would set a variable the env view protects, and sets the others itself, as Node would
 * (a variable already set keeps its value).
 */
const urlHref = Object.getOwnPropertyDescriptor(URL.prototype, 'href')!.get!;

/**
 * The file `loadEnvFile(path)` reads, as Node's own takes it: a string, a `Buffer` (a
 * copy), or a `URL` (by its internal state, converted once). Node refuses anything else,
 * and so does this: `fs.readFileSync` would take a number for a descriptor, and a
 * package's `loadEnvFile(fd)` read (and used up) a file, pipe or socket the app has open
 * (docs/attacks.md, case 262).
 */
function envFilePath(path: unknown): string | Buffer {
  if (typeof path === 'string') return path;
  if (ArrayBuffer.isView(path)) return Buffer.from(path as Uint8Array);
  if (typeof path === 'object' && path !== null) {
    let href: string | undefined;
    try {
      href = Reflect.apply(urlHref, path, []) as string;
    } catch {
      // Not a URL.
    }
    if (href !== undefined) return fileURLToPath(href);
  }
  const error = new TypeError(
    `The "path" argument must be of type string or an instance of Buffer or URL. Received ${path === null ? 'null' : typeof path}`,
  );
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  throw error;
}

/**
 * The text of the file `loadEnvFile` names: a regular file, named by its own path. A path
 * can name a descriptor the process has open (`/dev/stdin`, `/dev/fd/<n>`,
 * `/proc/self/fd/<n>`), and for a pipe that opens the app's own pipe: a package's read took
 * the app's standard input in a shell pipeline to its end (docs/attacks.md, case 302).
 * So whatever is not a regular file once opened (opened without blocking, so a FIFO does
 * not stall the process) is refused: a pipe, a socket, a device; and so is a path that
 * resolves into `/proc` or `/dev` (`/proc/self/environ`). Read from the descriptor it was
 * checked on.
 */
function readEnvFile(fs: typeof import('node:fs'), file: string | Buffer): string {
  const refuse = (what: string): never => {
    throw new TypeError(`LavaMoat: process.loadEnvFile reads a regular file, not ${what} (${String(file)})`);
  };
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    if (!fs.fstatSync(fd).isFile()) refuse('a pipe, socket or device');
    if (/^\/(?:proc|dev)(?:\/|$)/.test(fs.realpathSync(file).toString())) refuse("the process's descriptors or a device");
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

export function envFileLoaderFor(real: Function): Function {
  let loader = envFileLoaders.get(real);
  if (loader !== undefined) return loader;
  loader = {
    loadEnvFile(path: unknown = '.env'): void {
      const file = envFilePath(path);
      const fs = hostRequire('node:fs') as typeof import('node:fs');
      const { parseEnv } = hostRequire('node:util') as { parseEnv: (text: string) => Record<string, string> };
      const parsed = parseEnv(readEnvFile(fs, file));
      const env = process.env;
      const added = Object.entries(parsed).filter(([key]) => env[key] === undefined);
      const refused = added.filter(([key]) => isProtectedEnvName(key)).map(([key]) => key);
      if (refused.length > 0) {
        throw new ProtectedEnvironmentError(
          `LavaMoat: process.loadEnvFile would set ${refused.join(', ')}: packages may not set variables that decide how the next process starts, ` +
            "and only the app's own code may set them",
        );
      }
      for (const [key, value] of added) env[key] = value;
    },
  }.loadEnvFile;
  Object.defineProperty(loader, 'length', { value: real.length });
  envFileLoaders.set(real, Object.freeze(loader));
  return loader;
}

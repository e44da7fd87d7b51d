/**
 * `process.env` as packages see it (boundary.ts, docs/design.md): LavaMoat's semantics,
 * except the variables that decide how the next process starts; in strict mode, read-only.
 *
 * Variables that decide which program a child process runs, or what it loads before its
 * own code: the runtime's and the app's, never a package's. Node's own (`NODE_OPTIONS`,
 * `NODE_TLS_REJECT_UNAUTHORIZED`, ... but not the `NODE_ENV` convention), the runtime's,
 * libuv's and OpenSSL's, the dynamic loader's, the command search path, what shells, git,
 * npm, Python, Perl, Ruby and Java read to run code at start-up, and proxies (a child's
 * or, on Node 24, this process's traffic).
 */
const PROTECTED_ENV =
  /^(?:NODE_(?!ENV$)|LAVAMOAT_|UV_|OPENSSL_|SSL_CERT_|LD_|DYLD_|PATH$|PATHEXT$|SHELL$|COMSPEC$|BASH_ENV$|ENV$|IFS$|PS4$|PROMPT_COMMAND$|GIT_|NPM_CONFIG_|PYTHON|PERL5|PERLLIB$|RUBYOPT$|RUBYLIB$|JAVA_TOOL_OPTIONS$|_JAVA_OPTIONS$|JDK_JAVA_OPTIONS$|(?:HTTPS?|ALL|NO)_PROXY$)/i;

export class ProtectedEnvironmentError extends TypeError {
  readonly code = 'LAVAMOAT_PROTECTED_ENV';
}

export const isProtectedEnvName = (name: PropertyKey): boolean => typeof name === 'string' && PROTECTED_ENV.test(name);

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
      `LavaMoat: packages may not change process.env.${String(key)}: it decides how the next process starts, ` +
        "and only the app's own code may set it",
    );
  };
  envTarget = env;
  // Setting a protected variable to the value it has changes nothing (debug re-saves DEBUG).
  const same = (target: object, key: PropertyKey, value: unknown): boolean =>
    typeof key === 'string' && (target as Record<string, unknown>)[key] === String(value);
  envView = new Proxy(env, {
    set: (target, key, value) => (isProtectedEnvName(key) && !same(target, key, value) ? refuse(key) : Reflect.set(target, key, value)),
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
  const same = (target: object, key: PropertyKey, value: unknown): boolean =>
    typeof key === 'string' && (target as Record<string, unknown>)[key] === String(value);
  view = new Proxy(env, {
    set: (target, key, value) => (same(target, key, value) ? true : refuse('set', key)),
    defineProperty: (_target, key) => refuse('define', key),
    deleteProperty: (target, key) => (typeof key === 'string' && !(key in target) ? true : refuse('delete', key)),
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });
  readOnlyEnvViews.set(packageName, view);
  return view;
}

/**
 * A package's Web Locks (Node 24: `navigator.locks`, `worker_threads.locks`). A lock is
 * named, and one manager serves the whole process (every thread): a package granted the
 * `navigator` global (or `worker_threads`) read the names and modes of the app's held and
 * pending locks (`query()`), took the app's lock from it while the app's callback still
 * ran (`request(<the app's name>, { steal: true })`: the app's request rejected with an
 * `AbortError`, its mutual exclusion broken), or held the app's name for good, so that
 * the app's callbacks never ran (docs/attacks.md, case 290).
 *
 * So, as for `BroadcastChannel` (broadcast-channels.ts), a package's locks are named in a
 * namespace of its own: the manager it receives is an object of `LockManager`'s prototype
 * (`instanceof` holds) that the prototype's `request` and `query` know as the package's:
 * `request` prefixes the name (`lavamoat:<package>:`), hands the callback a copy of the
 * `Lock` that reads the name it asked for, and `query` lists the package's own locks
 * only, by the names it gave. The prototype's methods, which Node calls on any receiver
 * (`request` never checks `this`), run only on Node's manager (the app's) or a package's:
 * any other receiver throws, as a browser's does. The manager Node makes reaches no
 * package: its `navigator` is one of its own whose `locks` is the package's manager.
 */

import { hardenPrototypeChain } from './host-hardening.js';
import { PerPackage } from './per-package.js';

const PREFIX = 'lavamoat:';

/** A package's manager → its name prefix. */
const prefixes = new WeakMap<object, string>();
/** Per package, per real manager (one per thread). */
const managers = new PerPackage<object, object>();
/** Real managers whose prototype's methods were replaced here. */
const namespaced = new WeakSet<object>();

/**
 * Replaces `request` and `query` on the prototype of `manager` (Node's, before it is
 * frozen) with the versions that tell Node's manager from a package's. The first `Lock`
 * Node hands a callback has its prototype hardened before the callback has it (a class
 * no global names, made when a lock is granted: case 120; samples.ts `hardenFirstLock`).
 */
export function namespaceLockManager(manager: object): boolean {
  if (namespaced.has(manager)) return true;
  let first = true;
  const wrapCallback = (callback: Function): Function =>
    first
      ? function (this: unknown, lock: unknown, ...rest: unknown[]): unknown {
          if (first && typeof lock === 'object' && lock !== null) {
            hardenPrototypeChain(lock);
            first = false;
          }
          return Reflect.apply(callback, this, [lock, ...rest]);
        }
      : callback;
  const proto: unknown = Object.getPrototypeOf(manager);
  if (typeof proto !== 'object' || proto === null) return false;
  const requestDescriptor = Reflect.getOwnPropertyDescriptor(proto, 'request');
  const queryDescriptor = Reflect.getOwnPropertyDescriptor(proto, 'query');
  const request: unknown = requestDescriptor?.value;
  const query: unknown = queryDescriptor?.value;
  if (typeof request !== 'function' || typeof query !== 'function' || !requestDescriptor!.configurable || !queryDescriptor!.configurable) return false;
  const prefixOf = (receiver: unknown, method: string): string | undefined => {
    if (receiver === manager) return undefined;
    const prefix = typeof receiver === 'object' && receiver !== null ? prefixes.get(receiver) : undefined;
    if (prefix === undefined) throw new TypeError(`LockManager.prototype.${method}: Illegal invocation`);
    return prefix;
  };
  const wrappers = {
    request(this: unknown, ...args: unknown[]): unknown {
      let prefix: string | undefined;
      try {
        prefix = prefixOf(this, 'request');
      } catch (error) {
        return Promise.reject(error);
      }
      if (prefix !== undefined) args = packageRequest(args, prefix);
      const index = callbackIndex(args);
      if (typeof args[index] === 'function') args[index] = wrapCallback(args[index] as Function);
      return Reflect.apply(request, manager, args);
    },
    query(this: unknown): unknown {
      let prefix: string | undefined;
      try {
        prefix = prefixOf(this, 'query');
      } catch (error) {
        return Promise.reject(error);
      }
      const result = Reflect.apply(query, manager, []) as Promise<unknown>;
      return prefix === undefined ? result : result.then((snapshot) => packageSnapshot(snapshot, prefix));
    },
  };
  Object.defineProperty(wrappers.request, 'length', { value: request.length });
  Object.defineProperty(proto, 'request', { ...requestDescriptor, value: wrappers.request });
  Object.defineProperty(proto, 'query', { ...queryDescriptor, value: wrappers.query });
  namespaced.add(manager);
  return true;
}

/** Where `request(name, callback)` and `request(name, options, callback)` take the callback (as Node reads them). */
const callbackIndex = (args: readonly unknown[]): number => (args.length >= 3 && args[2] !== undefined ? 2 : 1);

/** `request(name, [options], callback)`'s arguments for a package: its name prefixed, its callback given locks by that name. */
function packageRequest(args: unknown[], prefix: string): unknown[] {
  if (args.length === 0) return args;
  // The name converted once, as Node converts it (a symbol throws there too).
  const name = `${args[0] as string}`;
  // Node refuses a name that starts with `-` (reserved): it sees the name as given.
  if (name.startsWith('-')) return [name, ...args.slice(1)];
  const given = [`${prefix}${name}`, ...args.slice(1)];
  const index = callbackIndex(given);
  const callback = given[index];
  if (typeof callback === 'function') {
    given[index] = function (this: unknown, lock: unknown, ...rest: unknown[]): unknown {
      return Reflect.apply(callback, this, [packageLock(lock, `${prefix}${name}`, name), ...rest]);
    };
  }
  return given;
}

/** A copy of Node's `lock` (of its hardened class) whose name is the one the package gave. */
function packageLock(lock: unknown, prefixed: string, name: string): unknown {
  if (typeof lock !== 'object' || lock === null) return lock;
  const copy = Object.create(Object.getPrototypeOf(lock) as object | null) as object;
  for (const key of Reflect.ownKeys(lock)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(lock, key)!;
    if ('value' in descriptor && descriptor.value === prefixed) descriptor.value = name;
    Object.defineProperty(copy, key, descriptor);
  }
  return Object.freeze(copy);
}

/** `query()`'s answer for a package: its own held and pending locks, by the names it gave. */
function packageSnapshot(snapshot: unknown, prefix: string): unknown {
  const own = (list: unknown): unknown[] => {
    if (!Array.isArray(list)) return [];
    const kept: unknown[] = [];
    for (const info of list as unknown[]) {
      const name = (info as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && name.startsWith(prefix)) kept.push({ ...(info as object), name: name.slice(prefix.length) });
    }
    return kept;
  };
  const { held, pending } = (snapshot ?? {}) as { held?: unknown; pending?: unknown };
  return { held: own(held), pending: own(pending) };
}

/**
 * The lock manager package `packageName` receives for Node's `manager` (`worker_threads.locks`,
 * `navigator.locks`): an object of its prototype that the prototype's methods know as the
 * package's. Throws where the prototype could not be made to tell it (fails closed).
 */
export function locksFor(manager: unknown, packageName: string): unknown {
  if (typeof manager !== 'object' || manager === null) return manager;
  const known = managers.get(packageName, manager);
  if (known !== undefined) return known;
  if (!namespaceLockManager(manager)) throw new TypeError('LavaMoat: Web Locks are not available to packages here (the lock manager could not be given a namespace per package)');
  const made = Object.freeze(Object.create(Object.getPrototypeOf(manager) as object | null) as object);
  prefixes.set(made, `${PREFIX}${packageName}:`);
  managers.set(packageName, manager, made);
  return made;
}

/** Per package, per real navigator. */
const navigators = new PerPackage<object, object>();

/**
 * The `navigator` package `packageName` receives for Node's (hardened) `navigator`: where it
 * has `locks` (Node 24), an object of its prototype whose getters answer as Node's on
 * Node's navigator, except `locks`: the package's manager ({@link locksFor}). Elsewhere
 * Node's navigator itself.
 */
export function navigatorFor(navigator: unknown, packageName: string): unknown {
  if (typeof navigator !== 'object' || navigator === null || !('locks' in navigator)) return navigator;
  const known = navigators.get(packageName, navigator);
  if (known !== undefined) return known;
  const proto = Object.getPrototypeOf(navigator) as object | null;
  const made = Object.create(proto) as object;
  for (let p = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const key of Reflect.ownKeys(p)) {
      if (key === 'constructor' || Object.hasOwn(made, key)) continue;
      const descriptor = Reflect.getOwnPropertyDescriptor(p, key)!;
      const get = descriptor.get;
      if (get === undefined) continue;
      const name = typeof key === 'string' ? key : String(key.description);
      Object.defineProperty(made, key, {
        get: {
          [name](): unknown {
            const value: unknown = Reflect.apply(get, navigator, []);
            return key === 'locks' ? locksFor(value, packageName) : value;
          },
        }[name],
        enumerable: descriptor.enumerable,
        configurable: false,
      });
    }
  }
  Object.freeze(made);
  navigators.set(packageName, navigator, made);
  return made;
}

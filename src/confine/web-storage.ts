/**
 * A package's Web Storage (`localStorage`, `sessionStorage`: Node 22 and 24 with
 * `--experimental-webstorage`, on by default from Node 25). Node has one `Storage` of each
 * kind for the process, `localStorage` kept in the file `--localstorage-file` names, and
 * every key is the app's and every package's alike: a package granted `localStorage` read
 * the app's keys (a session token, a cached credential), overwrote them and cleared the
 * store (docs/attacks.md, case 292).
 *
 * So, as for `BroadcastChannel` names and Web Locks (broadcast-channels.ts,
 * lock-managers.ts), a package's keys live in a namespace of its own: it receives a proxy
 * whose methods (`getItem`, `setItem`, `removeItem`, `key`, `clear`, `length`) and named
 * properties (`localStorage.token`, `Object.keys(localStorage)`, `delete`) work on the keys
 * Node's store holds under the package's prefix (`lavamoat:<package>:`), by the names it
 * gave. Its prototype is an object of its own holding those methods, not `Storage`'s:
 * Node 22's `Storage.prototype` natives (its `length` getter, not configurable) read any
 * receiver's internal field as a store's (the process aborts on a plain object), so a
 * package's store leads to none of them (`instanceof Storage` is false for it). The app's
 * store is Node's own.
 */
import { PerPackage } from './per-package.js';

const PREFIX = 'lavamoat:';

/** Per package, per real store. */
const stores = new PerPackage<object, object>();

type StorageMethods = {
  getItem: Function;
  setItem: Function;
  removeItem: Function;
  key: Function;
  length: Function;
};

/** Node's `Storage.prototype` methods, or undefined if `proto` is not one. */
function methodsOf(proto: object): StorageMethods | undefined {
  const method = (name: string): Function | undefined => {
    const value: unknown = Reflect.getOwnPropertyDescriptor(proto, name)?.value;
    return typeof value === 'function' ? value : undefined;
  };
  const length = Reflect.getOwnPropertyDescriptor(proto, 'length')?.get;
  const getItem = method('getItem');
  const setItem = method('setItem');
  const removeItem = method('removeItem');
  const key = method('key');
  if (!getItem || !setItem || !removeItem || !key || typeof length !== 'function') return undefined;
  return { getItem, setItem, removeItem, key, length };
}

/**
 * The `localStorage` or `sessionStorage` package `packageName` receives for Node's store
 * `real` (anything else as it is).
 */
export function storageFor(real: unknown, packageName: string): unknown {
  if (typeof real !== 'object' || real === null) return real;
  const proto = Object.getPrototypeOf(real) as object | null;
  const methods = proto === null ? undefined : methodsOf(proto);
  if (methods === undefined) return real;
  const known = stores.get(packageName, real);
  if (known !== undefined) return known;
  const prefix = `${PREFIX}${packageName}:`;
  const call = (method: Function, args: unknown[]): unknown => Reflect.apply(method, real, args);
  /** The package's keys, by the names it gave, in the store's order. */
  const ownKeys = (): string[] => {
    const count = call(methods.length, []) as number;
    const keys: string[] = [];
    for (let index = 0; index < count; index++) {
      const key = call(methods.key, [index]);
      if (typeof key === 'string' && key.startsWith(prefix)) keys.push(key.slice(prefix.length));
    }
    return keys;
  };
  const read = (name: string): string | null => call(methods.getItem, [`${prefix}${name}`]) as string | null;
  const write = (name: string, value: unknown): void => {
    call(methods.setItem, [`${prefix}${name}`, `${value as string}`]);
  };
  const remove = (name: string): void => {
    call(methods.removeItem, [`${prefix}${name}`]);
  };
  const needs = (count: number, given: number, method: string): void => {
    if (given < count) throw new TypeError(`Failed to execute '${method}' on 'Storage': ${count} argument${count > 1 ? 's' : ''} required, but only ${given} present.`);
  };
  const api: Record<string, Function> = {
    getItem(...args: unknown[]): string | null {
      needs(1, args.length, 'getItem');
      return read(`${args[0] as string}`);
    },
    setItem(...args: unknown[]): void {
      needs(2, args.length, 'setItem');
      write(`${args[0] as string}`, args[1]);
    },
    removeItem(...args: unknown[]): void {
      needs(1, args.length, 'removeItem');
      remove(`${args[0] as string}`);
    },
    key(...args: unknown[]): string | null {
      needs(1, args.length, 'key');
      const index = Number(args[0]) >>> 0;
      const keys = ownKeys();
      return index < keys.length ? keys[index]! : null;
    },
    clear(): void {
      for (const name of ownKeys()) remove(name);
    },
  };
  for (const name of Object.keys(api)) Object.freeze(api[name]);
  // The store's prototype: its methods and `length` (of the store it is read on).
  const shadow = Object.freeze(
    Object.create(Object.prototype, {
      ...Object.fromEntries(Object.keys(api).map((name) => [name, { value: api[name], writable: false, enumerable: true, configurable: false }])),
      length: { get: Object.freeze({ length: (): number => ownKeys().length }).length, enumerable: true, configurable: false },
    }) as object,
  );
  /** What the prototype answers for `key`. */
  const fromPrototype = (key: PropertyKey): { value: unknown } | undefined => {
    if (key === 'length') return { value: ownKeys().length };
    return Reflect.has(shadow, key) ? { value: Reflect.get(shadow, key) } : undefined;
  };
  const made = new Proxy(
    {},
    {
      get: (_target, key) => {
        const inherited = fromPrototype(key);
        if (inherited !== undefined) return inherited.value;
        return read(key as string) ?? undefined;
      },
      // A named property is an item, as on Node's store (`localStorage.token = x`).
      set: (_target, key, value) => {
        if (typeof key === 'symbol') return false;
        write(key, value);
        return true;
      },
      has: (_target, key) => fromPrototype(key) !== undefined || (typeof key === 'string' && read(key) !== null),
      deleteProperty: (_target, key) => {
        if (typeof key === 'string') remove(key);
        return true;
      },
      ownKeys: () => ownKeys(),
      getOwnPropertyDescriptor: (_target, key) => {
        if (typeof key !== 'string') return undefined;
        const value = read(key);
        return value === null ? undefined : { value, writable: true, enumerable: true, configurable: true };
      },
      defineProperty: (_target, key, descriptor) => {
        if (typeof key === 'symbol' || !('value' in descriptor) || descriptor.configurable === false) return false;
        write(key, descriptor.value);
        return true;
      },
      getPrototypeOf: () => shadow,
      setPrototypeOf: () => false,
      preventExtensions: () => false,
      isExtensible: () => true,
    },
  );
  stores.set(packageName, real, made);
  return made;
}

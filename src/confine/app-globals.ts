/**
 * Main thread. Under scuttling, the app's own code keeps its globals, as the root
 * package keeps them under LavaMoat (which gives it a compartment whose global holds
 * everything before it scuttles the real one). The app runs natively here, so instead
 * its modules are compiled with bindings of their own for the scuttled names they
 * use (formats/app-scope.ts): `process`, `Buffer`, `fetch` and also `globalThis` and
 * `global`, which name the app's global object made here. Nothing is put back on the
 * real global: code that reaches it still finds the throwing accessors.
 *
 * The app's global object reads and writes the host's globals through the holder
 * (scuttle.ts `makeHostGlobals`): the values scuttling took away, and the real global
 * for the rest, so a global the app sets up is still seen by the packages granted it.
 * Writes to a scuttled name reach every app module's binding of that name (listeners).
 */
import type { HostGlobalsHolder } from './scuttle.js';

export interface AppGlobalScope {
  /** The app's `globalThis` (and `global`). */
  readonly global: object;
  /** The current values of `names`, in order. */
  values(names: readonly string[]): unknown[];
  /** Called on every write of a scuttled name, to update a module's bindings. */
  subscribe(listener: (name: string, value: unknown) => void): void;
}

const GLOBAL_NAMES = new Set(['globalThis', 'global']);

export function makeAppGlobalScope(realGlobal: object, holder: HostGlobalsHolder, scuttled: readonly string[]): AppGlobalScope {
  const host = holder.globals;
  const scuttledSet = new Set(scuttled);
  const isScuttled = (key: PropertyKey): boolean => typeof key === "string" && scuttledSet.has(key);
  const listeners: ((name: string, value: unknown) => void)[] = [];
  holder.onWrite((name, value) => {
    if (typeof name !== 'string') return;
    for (const listener of listeners) listener(name, value);
  });
  let appGlobal: object;
  const read = (key: PropertyKey): unknown => (typeof key === 'string' && GLOBAL_NAMES.has(key) ? appGlobal : Reflect.get(host, key));
  appGlobal = new Proxy(Object.create(null) as object, {
    get: (_target, key) => read(key),
    set(_target, key, value) {
      if (typeof key === 'string' && GLOBAL_NAMES.has(key)) return false;
      return Reflect.set(host, key, value);
    },
    has: (_target, key) => Reflect.has(host, key),
    ownKeys: () => Reflect.ownKeys(host),
    getOwnPropertyDescriptor(_target, key) {
      const descriptor = Reflect.getOwnPropertyDescriptor(host, key);
      // Reported configurable: the proxy's target holds none of these properties.
      return descriptor && ('value' in descriptor ? { ...descriptor, value: read(key), configurable: true } : { ...descriptor, configurable: true });
    },
    defineProperty(_target, key, descriptor) {
      if (isScuttled(key)) {
        // The holder keeps values only: an accessor is read once, as it is defined.
        const value = 'value' in descriptor ? descriptor.value : descriptor.get ? Reflect.apply(descriptor.get, appGlobal, []) : undefined;
        return Reflect.set(host, key, value);
      }
      if (typeof key === 'string' && GLOBAL_NAMES.has(key)) return false;
      return Reflect.defineProperty(realGlobal, key, descriptor);
    },
    deleteProperty(_target, key) {
      if (isScuttled(key)) return Reflect.set(host, key, undefined);
      return Reflect.deleteProperty(realGlobal, key);
    },
    getPrototypeOf: () => Object.getPrototypeOf(realGlobal) as object | null,
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });
  return Object.freeze({
    global: appGlobal,
    values: (names: readonly string[]) => names.map((name) => read(name)),
    subscribe(listener: (name: string, value: unknown) => void) {
      listeners.push(listener);
    },
  });
}

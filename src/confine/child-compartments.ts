/**
 * Strict mode: a package's `Compartment` constructor, whose child compartments get views
 * of other packages' modules (see {@link childCompartments}).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PackageInfo, PackageMap } from '../graph/package-map.js';
import { ownerOf, viewFor, type ViewOwner } from './export-views.js';
import { isStackOverflow } from './stack-overflow.js';

export type ChildCompartmentCtor = (new (...args: unknown[]) => object) & { prototype: object };

interface ParentCompartment {
  importNow(specifier: string): unknown;
  import(specifier: string): Promise<unknown>;
}

/**
 * Strict mode: the `Compartment` constructor of package `info`'s compartment. A child
 * compartment's descriptor `{ namespace: '<file URL>' }` (without `compartment`) links
 * to that module of the package's compartment, its parent, with no resolve hook in
 * between: for another package's module, the child gets a module whose values are the
 * views this package gets of it, unless its policy grants "write" on that package.
 */
export function childCompartments(
  info: PackageInfo,
  parent: ParentCompartment,
  Child: ChildCompartmentCtor,
  { packageMap, writes }: { packageMap: PackageMap; writes: (target: PackageInfo) => boolean },
): ChildCompartmentCtor {
  const ownerFor = (specifier: string): ViewOwner | undefined => {
    // Read as compartment-mapper reads it: a URL relative to the package's location,
    // so that `../other/index.js`, `file://localhost/...` and `.../pkg/../other/...`
    // name the other package's module as its plain file URL does.
    let target: PackageInfo | undefined;
    try {
      const url = new URL(specifier, info.location);
      if (url.protocol !== 'file:') return undefined;
      target = packageMap.packageForPath(path.resolve(fileURLToPath(url)));
    } catch (error) {
      // Out of stack (a package recursing deep first): not "no package's", which would
      // let the descriptor through unviewed.
      if (isStackOverflow(error)) throw error;
      return undefined;
    }
    if (!target || target === info || writes(target)) return undefined;
    return ownerOf('package', target.name);
  };
  // A descriptor is read once, here, into a plain copy that SES then reads: one whose
  // getters (or proxy traps) answer differently the second time would otherwise name
  // another package's module past the check.
  const KEYS = ['namespace', 'compartment', 'source', 'specifier', 'importMeta', 'record', 'archive'];
  const isNamespaceObject = (value: unknown): boolean =>
    value !== null && typeof value === 'object' && Object.prototype.toString.call(value) === '[object Module]';
  const snapshot = (descriptor: unknown): unknown => {
    if (descriptor === null || typeof descriptor !== 'object') return descriptor;
    // A module namespace stands for the module it is (SES links to that instance): which
    // package's it is cannot be told from the object, so none is taken.
    if (isNamespaceObject(descriptor)) throw namespaceRefusal();
    const copy: Record<PropertyKey, unknown> = {};
    for (const key of new Set<PropertyKey>([...KEYS, ...Reflect.ownKeys(descriptor)])) {
      const value = (descriptor as Record<PropertyKey, unknown>)[key];
      if (value !== undefined) copy[key] = value;
    }
    if (isNamespaceObject(copy.namespace)) throw namespaceRefusal();
    return copy;
  };
  const namespaceRefusal = (): Error =>
    new TypeError(
      `LavaMoat (strict mode): package "${info.name}" gave a child compartment a module namespace object as a module descriptor; ` +
        "name the module by its specifier instead ({ namespace: '<specifier>' })",
    );
  const aliasOf = (descriptor: unknown): { specifier: string; owner: ViewOwner } | undefined => {
    if (descriptor === null || typeof descriptor !== 'object') return undefined;
    const { namespace, compartment } = descriptor as { namespace?: unknown; compartment?: unknown };
    if (typeof namespace !== 'string' || compartment !== undefined) return undefined;
    const owner = ownerFor(namespace);
    return owner ? { specifier: new URL(namespace, info.location).href, owner } : undefined;
  };
  const viewNow = (given: unknown): unknown => {
    const descriptor = snapshot(given);
    const alias = aliasOf(descriptor);
    return alias ? { namespace: viewFor(parent.importNow(alias.specifier), alias.owner) } : descriptor;
  };
  const viewLater = async (given: unknown): Promise<unknown> => {
    const descriptor = snapshot(await given);
    const alias = aliasOf(descriptor);
    return alias ? { namespace: viewFor(await parent.import(alias.specifier), alias.owner) } : descriptor;
  };
  const wrapOptions = (options: unknown): unknown => {
    if (options === null || typeof options !== 'object') return options;
    const given = options as Record<string, unknown>;
    const wrapped: Record<string, unknown> = { ...given };
    const { importHook, importNowHook, moduleMapHook } = given;
    if (typeof importHook === 'function') wrapped.importHook = (...args: unknown[]) => viewLater(Reflect.apply(importHook, given, args));
    if (typeof importNowHook === 'function') wrapped.importNowHook = (...args: unknown[]) => viewNow(Reflect.apply(importNowHook, given, args));
    if (typeof moduleMapHook === 'function') wrapped.moduleMapHook = (...args: unknown[]) => viewNow(Reflect.apply(moduleMapHook, given, args));
    for (const key of ['modules', 'moduleMap']) {
      const map = given[key];
      if (map !== null && typeof map === 'object') {
        wrapped[key] = Object.fromEntries(Object.entries(map).map(([name, descriptor]) => [name, viewNow(descriptor)]));
      }
    }
    return wrapped;
  };
  const Wrapped = function Compartment(this: unknown, ...args: unknown[]): object {
    if (new.target === undefined) throw new TypeError("Class constructor Compartment cannot be invoked without 'new'");
    const first = args[0] as { __options__?: unknown } | undefined;
    // `new Compartment({ __options__: true, ... })`, or the legacy (globals, modules, options).
    const given =
      first !== null && typeof first === 'object' && first.__options__ === true
        ? [wrapOptions(first), ...args.slice(1)]
        : [args[0], args[1] !== undefined ? (wrapOptions({ modules: args[1] }) as { modules: unknown }).modules : args[1], wrapOptions(args[2]), ...args.slice(3)];
    return Reflect.construct(Child, given, (new.target as unknown) === Wrapped ? Child : new.target) as object;
  } as unknown as ChildCompartmentCtor;
  Object.defineProperty(Wrapped, 'prototype', { value: Child.prototype, writable: false, enumerable: false, configurable: false });
  return Object.freeze(Wrapped);
}

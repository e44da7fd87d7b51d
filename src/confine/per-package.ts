/**
 * What the runtime makes once per package for one host object (a package's own
 * `BroadcastChannel` class, lock manager, `navigator`, Web Storage): by package name, then
 * by the host object, which it does not keep alive.
 */
export class PerPackage<K extends object, V> {
  private readonly byPackage = new Map<string, WeakMap<K, V>>();

  get(packageName: string, host: K): V | undefined {
    return this.byPackage.get(packageName)?.get(host);
  }

  set(packageName: string, host: K, value: V): V {
    let own = this.byPackage.get(packageName);
    if (own === undefined) {
      own = new WeakMap();
      this.byPackage.set(packageName, own);
    }
    own.set(host, value);
    return value;
  }
}

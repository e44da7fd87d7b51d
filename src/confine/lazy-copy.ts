/**
 * Copies of builtin module objects that leave Node's lazy exports lazy.
 *
 * A module's getters and, on Node 22+, its V8 lazy data properties load code when read:
 * `http.WebSocket` loads undici (with http2, tls, perf_hooks and the web streams: tens of
 * milliseconds, and every class there to harden), `crypto.webcrypto` WebCrypto,
 * `timers.promises` timers/promises. A package's copy of a module (builtins.ts) or its
 * adaptation (builtin-adapters.ts) made by reading every export would load all of that
 * for a package that asked for `http.request`. So each such export becomes an accessor
 * of the copy that reads the real one when the package first reads it, then holds it as
 * an ordinary property of the copy (the package's to change, as the rest of the copy).
 */
import { lazyExportModule } from './lazy-globals.js';

/** Whether `key` of builtin `module` loads code when read (an accessor, or a lazy data property). */
export function isLazyExport(module: string, source: object, key: string): boolean {
  if (lazyExportModule(module, key) !== undefined) return true;
  const descriptor = Reflect.getOwnPropertyDescriptor(source, key);
  return descriptor !== undefined && !('value' in descriptor);
}

/**
 * Defines `key` on `target` as an accessor that computes its value once, when first read
 * (or takes the value assigned first), then becomes a writable data property.
 */
export function defineLazy(target: object, key: string, compute: () => unknown): void {
  const settle = (value: unknown): void => {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(target, key, {
    get(): unknown {
      const value = compute();
      settle(value);
      return value;
    },
    set(value: unknown): void {
      settle(value);
    },
    enumerable: true,
    configurable: true,
  });
}

/**
 * `{ ...real, ...overrides }` for builtin `module`, except that its lazy exports are read
 * from `real` (as its receiver) only when first read from the copy.
 */
export function spreadLazily(module: string, real: object, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(real)) {
    if (Object.hasOwn(overrides, key)) continue;
    if (isLazyExport(module, real, key)) defineLazy(copy, key, () => Reflect.get(real, key, real));
    else copy[key] = (real as Record<string, unknown>)[key];
  }
  return Object.assign(copy, overrides);
}

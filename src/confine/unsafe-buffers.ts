/**
 * Buffers of uninitialized memory. `Buffer.allocUnsafe(n)`, `Buffer.allocUnsafeSlow(n)`
 * and buffer's deprecated `SlowBuffer(n)` hand out memory as the allocator had it: what
 * the process's freed buffers held (the app's request bodies, tokens, decrypted data) is
 * still there. `Buffer` is granted to nearly every package: allocating and scanning read
 * the app's bytes (docs/attacks.md, case 195). They are made to return zero-filled memory
 * (what Node's `--zero-fill-buffers` does), for the whole process, before lockdown
 * freezes `Buffer`: an allocation is as fast zero-filled (the allocator's `calloc`) but
 * for small buffers, where the cost is a few nanoseconds. The functions keep their names
 * and validation (`Buffer.alloc`'s: the same `size` checks).
 */
import { createRequire } from 'node:module';

const hostRequire = createRequire(import.meta.url);

export function zeroFillUnsafeBuffers(): void {
  const alloc = Buffer.alloc;
  Buffer.allocUnsafe = { allocUnsafe: (size: number) => alloc(size) }.allocUnsafe;
  Buffer.allocUnsafeSlow = { allocUnsafeSlow: (size: number) => alloc(size) }.allocUnsafeSlow;
  const buffer = hostRequire('node:buffer') as Record<string, unknown>;
  const descriptor = Reflect.getOwnPropertyDescriptor(buffer, 'SlowBuffer');
  const real = descriptor?.value as ((this: unknown, ...args: unknown[]) => Buffer) | undefined;
  if (typeof real !== 'function' || !descriptor!.writable) return;
  // Node's own (on Node 22+ its deprecation wrapper, which warns), then zero-filled.
  const SlowBuffer = function (this: unknown, ...args: unknown[]): Buffer {
    const made = new.target ? Reflect.construct(real, args, new.target) : Reflect.apply(real, this, args);
    return Buffer.isBuffer(made) ? made.fill(0) : made;
  };
  Object.defineProperty(SlowBuffer, 'name', { value: real.name });
  Object.defineProperty(SlowBuffer, 'length', { value: real.length });
  Object.defineProperty(SlowBuffer, 'prototype', { value: real.prototype, writable: false });
  Object.setPrototypeOf(SlowBuffer, Object.getPrototypeOf(real));
  Object.defineProperty(buffer, 'SlowBuffer', { ...descriptor, value: SlowBuffer });
}

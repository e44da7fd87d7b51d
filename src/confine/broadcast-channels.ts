/**
 * A package's `BroadcastChannel`. A channel is joined by name, and every channel of that
 * name in the process (any thread) hears every message posted on another: a package
 * granted the class (the global, or `worker_threads.BroadcastChannel`) could join the
 * app's channels and other packages' by their names, read what they broadcast (a job
 * queue's jobs, a cache's invalidations) and post into them (docs/attacks.md, case 232).
 *
 * So a package's channels are named in a namespace of its own: the class it receives
 * constructs Node's with the name prefixed by the package's (`lavamoat:<package>:`), so
 * its channels meet only its own (in any thread where its code runs as that package),
 * never the app's (whose names are as given) or another package's (npm names hold no
 * `:`, so no name of one package's is another's). The instance reads the
 * name it was given. Instances lead to no unprefixed constructor: the prototype's
 * `constructor` is an inert twin (capability-classes.ts, a global capability class).
 */
import { PerPackage } from './per-package.js';

const PREFIX = 'lavamoat:';

/** Per package, per real class (a thread has one). */
const made = new PerPackage<Function, Function>();

export function broadcastChannelFor(Real: unknown, packageName: string): unknown {
  if (typeof Real !== 'function') return Real;
  const known = made.get(packageName, Real);
  if (known !== undefined) return known;
  const prefix = `${PREFIX}${packageName}:`;
  const BroadcastChannel = function BroadcastChannel(this: unknown, ...args: unknown[]): object {
    if (new.target === undefined) throw new TypeError("Class constructor BroadcastChannel cannot be invoked without 'new'");
    // No name: Node's own error. A name is converted once, as Node converts it.
    if (args.length === 0) return Reflect.construct(Real, [], new.target === BroadcastChannel ? Real : new.target) as object;
    const name = `${args[0] as string}`;
    const channel = Reflect.construct(Real, [`${prefix}${name}`], new.target === BroadcastChannel ? Real : new.target) as object;
    Object.defineProperty(channel, 'name', { value: name, writable: false, enumerable: false, configurable: false });
    return channel;
  };
  Object.defineProperty(BroadcastChannel, 'prototype', { value: (Real as { prototype: unknown }).prototype, writable: false, enumerable: false, configurable: false });
  Object.defineProperty(BroadcastChannel, 'length', { value: Real.length });
  // Its parent's statics (Node tells an EventTarget by `constructor[kIsEventTarget]`).
  Object.setPrototypeOf(BroadcastChannel, Object.getPrototypeOf(Real) as object);
  Object.freeze(BroadcastChannel);
  made.set(packageName, Real, BroadcastChannel);
  return BroadcastChannel;
}

/**
 * Calls with no frame of their caller's own: what the checks of "called by the app's code"
 * (stack-traces.ts) cannot tell from the app's call.
 *
 * A check reads the frame below the guarded function. The engine calls functions from the
 * app's frame that the app never named: a getter it reads (`const { ready } = result`), a
 * `toString` its template literal converts, a Proxy trap of an object it touches, an
 * iterator's `next`, a `Symbol.hasInstance`. A package puts a guarded function there with
 * arguments and receiver of its choosing and no frame of its own in between through three
 * kinds of objects only: a bound function (`Function.prototype.bind`), a Proxy (whose
 * `[[Call]]` forwards to its target, and whose traps may be the engine's own frameless
 * invokers: `get: Reflect.apply` over a guarded target calls it with the receiver's
 * elements), and a builtin that calls what it is given without a frame
 * (`Function.prototype.call`/`apply`, `Reflect.apply`/`construct`/`get`/`set`), itself
 * reachable that way only when bound or proxied.
 *
 * So, before lockdown freezes them: `Function.prototype.bind` gives a function with a
 * frame of its own, evaluated code that names no file (a package's frame, for every
 * check), when the function it binds is a guarded one or a `Reflect` invoker, or its
 * receiver or an argument is a guarded function or any of those invokers; and `new Proxy` / `Proxy.revocable` refuse one as
 * target or handler (but for the runtime's own views, which become guarded functions in
 * turn). Everything else binds and proxies as before (a WeakSet look-up).
 * docs/attacks.md, case 370.
 */
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile } from './performance-observation.js';

const guardedFunctions = new WeakSet<object>();
/** Builtins that call a function they are handed (or an accessor of an object they are handed) with no frame. */
const invokers = new WeakSet<object>();
/** Of those, the ones whose function comes in their arguments (`Reflect.*`), not their receiver. */
const argumentInvokers = new WeakSet<object>();

/** Registers `fn`, a function whose check reads its caller, and returns it. */
export function callerChecked<T extends Function>(fn: T): T {
  guardedFunctions.add(fn);
  return fn;
}

const isLever = (value: unknown): boolean => typeof value === 'function' && (guardedFunctions.has(value) || invokers.has(value));

export class FramelessCallError extends TypeError {
  readonly code = 'LAVAMOAT_FRAMELESS_CALL';
}

let installed = false;

/** Installs the bind and Proxy rules above. Before lockdown; once. */
export function guardFramelessCalls(): void {
  if (installed) return;
  installed = true;
  const FunctionPrototype = Function.prototype as unknown as Record<string, Function>;
  const realBind = FunctionPrototype.bind!;
  for (const invoker of [Reflect.apply, Reflect.construct, Reflect.get, Reflect.set]) argumentInvokers.add(invoker);
  for (const invoker of [Reflect.apply, Reflect.construct, Reflect.get, Reflect.set, FunctionPrototype.call!, FunctionPrototype.apply!, realBind]) invokers.add(invoker);
  // Evaluated code: V8 names no file for its frames (stack-traces.ts siteOf), as for a
  // package's code. Without code generation (--disallow-code-generation-from-strings),
  // no such bind is made at all.
  let makeFramed: ((target: Function, thisArg: unknown, bound: unknown[]) => Function) | undefined;
  try {
    makeFramed = (0, eval)(
      `(function (apply, construct, defineProperty) {
        'use strict';
        return function (target, thisArg, bound) {
          const framed = function () {
            const args = [...bound, ...arguments];
            return new.target === undefined ? apply(target, thisArg, args) : construct(target, args, new.target === framed ? target : new.target);
          };
          defineProperty(framed, 'prototype', { value: target.prototype });
          return framed;
        };
      })`,
    )(Reflect.apply, Reflect.construct, Object.defineProperty) as typeof makeFramed;
  } catch {
    makeFramed = undefined;
  }
  const bind = {
    bind(this: unknown, thisArg: unknown, ...bound: unknown[]): unknown {
      // `Function.prototype.call.bind(fn)` (the uncurry-this of call-bind, es-abstract) stays
      // a native bound function unless `fn` is one: the function it calls is fixed here.
      if (typeof this === 'function' && (guardedFunctions.has(this) || argumentInvokers.has(this) || isLever(thisArg) || bound.some(isLever))) {
        if (makeFramed === undefined) throw new FramelessCallError('LavaMoat: this function cannot be bound here (its check reads its caller); call it from a function instead');
        const framed = makeFramed(this, thisArg, bound);
        const name: unknown = Reflect.get(this, 'name');
        const length: unknown = Reflect.get(this, 'length');
        Object.defineProperty(framed, 'name', { value: `bound ${typeof name === 'string' ? name : ''}` });
        Object.defineProperty(framed, 'length', { value: typeof length === 'number' ? Math.max(0, length - bound.length) : 0 });
        return framed;
      }
      return Reflect.apply(realBind, this, [thisArg, ...bound]);
    },
  }.bind;
  Object.defineProperty(bind, 'length', { value: 1 });
  invokers.add(bind);
  Object.defineProperty(FunctionPrototype, 'bind', { value: bind });

  const RealProxy = Proxy;
  // The runtime's own views of a function (a package's `process.send`) are proxies of it:
  // made by the runtime's code (its frame right below), they are allowed, and are levers
  // in turn (a bind of one is framed, a Proxy of one refused).
  const byTheRuntime = (trap: Function): boolean => {
    const [caller] = callerSitesOf(globalThis.Error as never, trap, 1);
    return isRuntimeFile(caller?.file);
  };
  const check = (target: unknown, handler: unknown, trap: Function): boolean => {
    if (!isLever(target) && !isLever(handler)) return false;
    if (byTheRuntime(trap)) return true;
    throw new FramelessCallError("LavaMoat: a Proxy of this function would call it with no caller's frame (its check reads its caller): wrap it in a function instead");
  };
  const realRevocable = RealProxy.revocable;
  const revocable = {
    revocable(target: object, handler: ProxyHandler<object>): unknown {
      const runtimes = check(target, handler, revocable);
      const made = Reflect.apply(realRevocable, RealProxy, [target, handler]) as { proxy: object };
      if (runtimes) guardedFunctions.add(made.proxy);
      return made;
    },
  }.revocable;
  Object.defineProperty(RealProxy, 'revocable', { value: revocable });
  const handler: ProxyHandler<ProxyConstructor> & { construct: NonNullable<ProxyHandler<ProxyConstructor>['construct']> } = {
    construct(target, args, newTarget): object {
      const runtimes = check(args[0], args[1], construct);
      const made = Reflect.construct(target, args, newTarget === GuardedProxy ? target : newTarget) as object;
      if (runtimes) guardedFunctions.add(made);
      return made;
    },
  };
  const construct = handler.construct;
  const GuardedProxy: ProxyConstructor = new RealProxy(RealProxy, handler);
  invokers.add(revocable);
  Object.defineProperty(globalThis, 'Proxy', { value: GuardedProxy });
}

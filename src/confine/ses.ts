/**
 * Installs SES (`lockdown`, `harden`, `Compartment`) on the global. Imported first by
 * the preload, since compartment-mapper reads `Compartment` when it loads.
 *
 * SES's `overrideTaming` turns chosen data properties of the frozen intrinsics into
 * accessors, so that code assigning a method on an instance or a derived prototype is
 * not refused by the override mistake in strict code. Its plans leave out some that
 * real packages assign; they are added here, before lockdown reads the plans:
 * - `constructor` of every error prototype (mathjs: `DimensionError.prototype =
 *   new RangeError(); DimensionError.prototype.constructor = RangeError`);
 * - `String.prototype.valueOf`/`toString` (nunjucks' SafeString, a String subclass
 *   built by assignment);
 * - `Date.UTC`, `Date.now`, `Date.parse` (@sinonjs/fake-timers' and vitest's subclass of
 *   `Date`, whose statics they assign: `ClockDate.now = ...`).
 * `ses/src/enablements.js` is not in SES's exports map: the runtime bundle
 * (scripts/bundle-runtime.mjs) resolves it to the module SES itself uses, and the build
 * fails if SES moves it.
 *
 * `Promise.prototype` keeps its data properties, as under LavaMoat: execa (and much code
 * built on it) reads `Reflect.getOwnPropertyDescriptor(Promise.prototype, 'catch').value`,
 * which an accessor would not have, and V8 keeps `await` fast only while `then` is
 * untouched. The cost: mongoose's `Model.init` assigns `promise.catch` on a native
 * promise, which strict code cannot do (docs/design.md, known limits).
 */
import 'ses';
import { moderateEnablements, severeEnablements } from 'ses/src/enablements.js';

const ADDED: Record<string, string[]> = {
  '%StringPrototype%': ['valueOf', 'toString'],
  '%ErrorPrototype%': ['constructor'],
  '%TypeErrorPrototype%': ['constructor'],
  '%RangeErrorPrototype%': ['constructor'],
  '%SyntaxErrorPrototype%': ['constructor'],
  '%ReferenceErrorPrototype%': ['constructor'],
  '%URIErrorPrototype%': ['constructor'],
  '%EvalErrorPrototype%': ['constructor'],
  '%AggregateErrorPrototype%': ['constructor'],
  '%InitialDate%': ['UTC', 'now', 'parse'],
};

for (const plan of [moderateEnablements, severeEnablements]) {
  for (const [intrinsic, names] of Object.entries(ADDED)) {
    const current = plan[intrinsic];
    if (current === '*') continue;
    plan[intrinsic] = { ...(current ?? {}), ...Object.fromEntries(names.map((name) => [name, true])) };
  }
}

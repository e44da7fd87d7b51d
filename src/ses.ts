/**
 * Installs SES (`lockdown`, `harden`, `Compartment`) on the global. Imported first by
 * the preload, since compartment-mapper reads `Compartment` when it loads.
 *
 * SES's `overrideTaming` turns chosen data properties of the frozen intrinsics into
 * accessors, so that code assigning a method on an instance or a derived prototype is
 * not refused by the override mistake in strict code. Its plans leave out some that
 * real packages assign; they are added here, before lockdown reads the plans:
 * - `Promise.prototype.catch`/`finally` (mongoose assigns `promise.catch`);
 * - `constructor` of every error prototype (mathjs: `DimensionError.prototype =
 *   new RangeError(); DimensionError.prototype.constructor = RangeError`);
 * - `String.prototype.valueOf`/`toString` (nunjucks' SafeString, a String subclass
 *   built by assignment).
 * `ses/src/enablements.js` is not in SES's exports map: the runtime bundle
 * (scripts/bundle-runtime.mjs) resolves it to the module SES itself uses, and the build
 * fails if SES moves it. `then` stays a data property: V8 keeps `await` fast only while
 * it is untouched.
 */
import 'ses';
import { moderateEnablements, severeEnablements } from 'ses/src/enablements.js';

const ADDED: Record<string, string[]> = {
  '%PromisePrototype%': ['catch', 'finally'],
  '%StringPrototype%': ['valueOf', 'toString'],
  '%ErrorPrototype%': ['constructor'],
  '%TypeErrorPrototype%': ['constructor'],
  '%RangeErrorPrototype%': ['constructor'],
  '%SyntaxErrorPrototype%': ['constructor'],
  '%ReferenceErrorPrototype%': ['constructor'],
  '%URIErrorPrototype%': ['constructor'],
  '%EvalErrorPrototype%': ['constructor'],
  '%AggregateErrorPrototype%': ['constructor'],
};

for (const plan of [moderateEnablements, severeEnablements]) {
  for (const [intrinsic, names] of Object.entries(ADDED)) {
    const current = plan[intrinsic];
    if (current === '*') continue;
    plan[intrinsic] = { ...(current ?? {}), ...Object.fromEntries(names.map((name) => [name, true])) };
  }
}

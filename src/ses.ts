/**
 * Installs SES (`lockdown`, `harden`, `Compartment`) on the global. Imported first by
 * the preload, since compartment-mapper reads `Compartment` when it loads.
 *
 * SES's `overrideTaming` turns chosen data properties of the frozen intrinsics into
 * accessors, so that code assigning a method on an instance (`promise.catch = ...`,
 * as mongoose does) is not refused by the override mistake in strict code. Its plans
 * leave out `Promise.prototype.catch` and `finally`; they are added here, before
 * lockdown reads the plans. `ses/src/enablements.js` is not in SES's exports map: the
 * runtime bundle (scripts/bundle-runtime.mjs) resolves it to the module SES itself
 * uses, and the build fails if SES moves it.
 * `then` stays a data property: V8 keeps `await` fast only while it is untouched.
 */
import 'ses';
import { moderateEnablements, severeEnablements } from 'ses/src/enablements.js';

for (const plan of [moderateEnablements, severeEnablements]) {
  const promise = plan['%PromisePrototype%'];
  if (promise !== '*') plan['%PromisePrototype%'] = { ...(promise ?? {}), catch: true, finally: true };
}

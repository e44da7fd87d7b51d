/**
 * Installs SES (`lockdown`, `harden`, `Compartment`) on the global. Imported first by
 * the preload, since compartment-mapper reads `Compartment` when it loads.
 *
 * SES's `overrideTaming` turns chosen data properties of the frozen intrinsics into
 * accessors, so that code assigning a method on an instance (`promise.catch = ...`,
 * as mongoose does) is not refused by the override mistake in strict code. Its plans
 * leave out `Promise.prototype.catch` and `finally`; they are added here, before
 * lockdown reads the plans (SES's own module, so this uses SES's ES-module build).
 * `then` stays a data property: V8 keeps `await` fast only while it is untouched.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import 'ses';

type Plan = Record<string, Record<string, boolean> | '*' | undefined>;

const sesDir = path.dirname(createRequire(import.meta.url).resolve('ses/package.json'));
try {
  // Not part of SES's exported API: when a version moves it, only this repair is lost.
  const plans = (await import(pathToFileURL(path.join(sesDir, 'src', 'enablements.js')).href)) as Record<string, Plan>;
  for (const name of ['moderateEnablements', 'severeEnablements']) {
    const plan = plans[name];
    const promise = plan?.['%PromisePrototype%'];
    if (plan && promise !== '*') plan['%PromisePrototype%'] = { ...(promise ?? {}), catch: true, finally: true };
  }
} catch {
  // Without the repair, such assignments throw in compartments, as under LavaMoat.
}

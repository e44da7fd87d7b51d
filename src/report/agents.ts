/**
 * Instrumentation and APM agents work by hooking Node's module loading
 * (require-in-the-middle on `Module.prototype.require`, import-in-the-middle's loader
 * hooks): they are trusted like the app when they are preloaded before the loader
 * (`node --import ./otel-register.mjs --import lavamoat/loader app.mjs`), and then see
 * the confined packages' modules (confine/require-chain.ts, loader/hooks/instrumented.ts).
 * Loaded after the loader, by the app's code or a later `--import`, they would be
 * dependencies like any other, confined: they could neither hook Node's loader nor see a
 * module, and would fail on the first grant their set-up needs (or, granted, instrument
 * nothing). The runtime refuses to load them so, with this message, instead of a denial
 * that would send the user to the policy.
 */

/**
 * Packages whose only use is to hook module loading (the two libraries agents are built
 * on), or whose entry point sets such hooks up (OpenTelemetry's instrumentation base and
 * SDK, the agents that are loaded by a `require` at the top of the app). Packages an app
 * also uses for their API once an agent is preloaded (`@opentelemetry/api`,
 * `@sentry/node`) are not listed.
 */
const MODULE_HOOKING_PACKAGES = new Set([
  'require-in-the-middle',
  'import-in-the-middle',
  '@opentelemetry/instrumentation',
  '@opentelemetry/sdk-node',
  '@opentelemetry/auto-instrumentations-node',
  'dd-trace',
  'newrelic',
  'elastic-apm-node',
]);

/** Whether package `packageName` (its package.json name) hooks module loading. */
export const hooksModuleLoading = (packageName: string): boolean => MODULE_HOOKING_PACKAGES.has(packageName);

export class AgentAfterLoaderError extends Error {
  readonly code = 'LAVAMOAT_AGENT_AFTER_LOADER';
}

/** `who` loads package `packageName` (one of the above) after the loader has started. */
export function agentAfterLoader(who: string, packageName: string, file: string): AgentAfterLoaderError {
  return new AgentAfterLoaderError(
    `LavaMoat: ${who} loads ${packageName} (${file}), which instruments modules by hooking Node's module loading. ` +
      'Loaded after the loader, it would be a confined dependency: it could not hook the loader nor see any module. ' +
      'Preload it before the loader, where it is trusted like the app and sees every package\'s modules: ' +
      '`node --import ./otel-register.mjs --import lavamoat/loader app.mjs` (for an agent started by a require at the top of the app: ' +
      '`node --require <agent> --import lavamoat/loader app.mjs`).',
  );
}

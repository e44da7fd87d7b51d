/**
 * SES `lockdown()` options: the values SES 2.x accepts, the service defaults this
 * runtime uses, and what debug mode changes.
 *
 * Defaults, and why:
 * - `errorTaming: 'unsafe'`: `error.stack` stays readable for every package (Node's
 *   own logging, and packages that parse stacks, need it). `'unsafe-debug'` would also
 *   hand the real V8 stack API (`Error.captureStackTrace`/`prepareStackTrace` with
 *   structured call sites) to every compartment, which leaks functions and `this`
 *   values across compartments: debug mode only.
 * - `stackFiltering: 'verbose'`: full stacks, as plain Node prints them.
 * - `overrideTaming: 'severe'`: real packages assign `constructor`, `name`, `message`,
 *   `toString` on objects that inherit from the frozen intrinsics (node-fetch,
 *   TypeScript's ES5 classes, readable-stream); without override taming those
 *   assignments throw. `'moderate'` covers the common cases; `'severe'` covers every
 *   intrinsic property, at some start-up cost (see src/report/error-printing.ts for what it
 *   means for printing errors).
 * - `consoleTaming: 'unsafe'`, `localeTaming: 'unsafe'`, `domainTaming: 'unsafe'`:
 *   Node's own console, locale methods and domains, as the app expects them.
 * - `errorTrapping: 'none'`, `unhandledRejectionTrapping: 'none'`: Node's own
 *   `uncaughtException` / `unhandledRejection` handling (exit codes, `--unhandled-
 *   rejections`, the app's handlers) stays in charge.
 * - `evalTaming: 'safe-eval'`, `regExpTaming: 'safe'`, `reporting: 'platform'`,
 *   `legacyRegeneratorRuntimeTaming: 'safe'`, `overrideDebug: []`: SES's defaults,
 *   passed explicitly so that SES's `LOCKDOWN_*` environment variables cannot change
 *   them behind the configuration's back.
 *
 * Nothing here can weaken confinement below SES's guarantees: SES's own escape
 * hatches that are not lockdown options for users (`__hardenTaming__: 'unsafe'`,
 * which turns `harden` into a no-op) are refused.
 */

export interface LockdownOptions {
  errorTaming: 'safe' | 'unsafe' | 'unsafe-debug';
  errorTrapping: 'platform' | 'exit' | 'abort' | 'report' | 'none';
  reporting: 'platform' | 'console' | 'none';
  unhandledRejectionTrapping: 'report' | 'none';
  regExpTaming: 'safe' | 'unsafe';
  localeTaming: 'safe' | 'unsafe';
  consoleTaming: 'safe' | 'unsafe';
  overrideTaming: 'moderate' | 'min' | 'severe';
  overrideDebug: string[];
  stackFiltering: 'concise' | 'omit-frames' | 'shorten-paths' | 'verbose';
  domainTaming: 'safe' | 'unsafe';
  evalTaming: 'safe-eval' | 'unsafe-eval' | 'no-eval';
  legacyRegeneratorRuntimeTaming: 'safe' | 'unsafe-ignore';
}

export type LockdownOptionName = keyof LockdownOptions;

/** The values SES 2.x accepts for each option taking a string (SES's own first value is its default). */
export const LOCKDOWN_CHOICES: { readonly [K in Exclude<LockdownOptionName, 'overrideDebug'>]: readonly LockdownOptions[K][] } = {
  errorTaming: ['safe', 'unsafe', 'unsafe-debug'],
  errorTrapping: ['platform', 'exit', 'abort', 'report', 'none'],
  reporting: ['platform', 'console', 'none'],
  unhandledRejectionTrapping: ['report', 'none'],
  regExpTaming: ['safe', 'unsafe'],
  localeTaming: ['safe', 'unsafe'],
  consoleTaming: ['safe', 'unsafe'],
  overrideTaming: ['moderate', 'min', 'severe'],
  stackFiltering: ['concise', 'omit-frames', 'shorten-paths', 'verbose'],
  domainTaming: ['safe', 'unsafe'],
  evalTaming: ['safe-eval', 'unsafe-eval', 'no-eval'],
  legacyRegeneratorRuntimeTaming: ['safe', 'unsafe-ignore'],
};

export const LOCKDOWN_OPTION_NAMES: readonly LockdownOptionName[] = [
  ...(Object.keys(LOCKDOWN_CHOICES) as LockdownOptionName[]),
  'overrideDebug',
];

/** The service defaults (see the module comment). */
export const DEFAULT_LOCKDOWN: Readonly<LockdownOptions> = Object.freeze({
  errorTaming: 'unsafe',
  errorTrapping: 'none',
  reporting: 'platform',
  unhandledRejectionTrapping: 'none',
  regExpTaming: 'safe',
  localeTaming: 'unsafe',
  consoleTaming: 'unsafe',
  overrideTaming: 'severe',
  overrideDebug: [],
  stackFiltering: 'verbose',
  domainTaming: 'unsafe',
  evalTaming: 'safe-eval',
  legacyRegeneratorRuntimeTaming: 'safe',
});

/** What debug mode sets: errors as readable as SES can make them. Not for production. */
export const DEBUG_LOCKDOWN: Readonly<Partial<LockdownOptions>> = Object.freeze({
  errorTaming: 'unsafe-debug',
  stackFiltering: 'verbose',
});

/** Options SES has, or had, that a user may not set, and why. */
const REFUSED: Record<string, string> = {
  __hardenTaming__: 'it turns harden() into a no-op, which would let packages modify shared objects',
  dateTaming: "SES deprecated it and it does nothing (Date.now() is given to packages from the host as LavaMoat does)",
  mathTaming: 'SES deprecated it and it does nothing (Math.random() is given to packages from the host as LavaMoat does)',
};

/** SES's older camelCase spellings of `evalTaming` values. */
const DEPRECATED_EVAL: Record<string, string> = { safeEval: 'safe-eval', unsafeEval: 'unsafe-eval', noEval: 'no-eval' };

const quote = (value: string): string => JSON.stringify(value);

/** Why `name` is not a lockdown option a user may set, or undefined when it is one. */
export function refusedLockdownOption(name: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(REFUSED, name)) return `${name} cannot be set: ${REFUSED[name]}`;
  return undefined;
}

/**
 * Checks one option value. Returns the problem (what is wrong and what is allowed), or
 * undefined when the value is valid. `name` must be one of {@link LOCKDOWN_OPTION_NAMES}.
 */
export function lockdownValueProblem(name: LockdownOptionName, value: unknown): string | undefined {
  if (name === 'overrideDebug') {
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
      return 'expected an array of property names (strings), e.g. ["constructor"]';
    }
    return undefined;
  }
  const choices = LOCKDOWN_CHOICES[name] as readonly string[];
  if (typeof value === 'string' && choices.includes(value)) return undefined;
  const shown = typeof value === 'string' ? quote(value) : JSON.stringify(value) ?? String(value);
  const hint =
    name === 'evalTaming' && typeof value === 'string' && DEPRECATED_EVAL[value] !== undefined
      ? ` (SES's deprecated spelling: write ${quote(DEPRECATED_EVAL[value]!)})`
      : '';
  return `${shown} is not allowed${hint}; expected one of ${choices.map(quote).join(', ')}`;
}

/**
 * The options to pass to `lockdown()`: defaults, then the user's settings from
 * lower to higher precedence; debug mode's changes go between the layers given in
 * `beforeDebug` and those in `afterDebug` (so an explicit environment variable or flag
 * still wins over debug mode, and debug mode wins over package.json).
 */
export function resolveLockdown(
  beforeDebug: readonly Partial<LockdownOptions>[],
  debug: boolean,
  afterDebug: readonly Partial<LockdownOptions>[],
): LockdownOptions {
  const layers = [DEFAULT_LOCKDOWN, ...beforeDebug, ...(debug ? [DEBUG_LOCKDOWN] : []), ...afterDebug];
  const result = {} as Record<string, unknown>;
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined) result[key] = Array.isArray(value) ? [...value] : value;
    }
  }
  return result as unknown as LockdownOptions;
}

/** Whether these options expose more than the service defaults for the sake of debugging. */
export function isDebugLockdown(options: LockdownOptions): boolean {
  return options.errorTaming === 'unsafe-debug';
}

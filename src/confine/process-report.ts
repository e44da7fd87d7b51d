/**
 * `process.report` as a package gets it from a read grant (`"process.report": true`, which
 * generated policies give detect-libc and the loaders napi-rs generates: they read
 * `getReport().header.glibcVersionRuntime` and `sharedObjects` to tell glibc from musl).
 * Node's object reports on, and configures reports of, the whole process:
 * - `getReport()` returns every environment variable of the process (the app's secrets,
 *   with no `process.env` grant) and its command line: a package's report has neither
 *   (nor has the report of each worker thread in it; only the sections Node 20 to 24
 *   have: a section added later is not handed out);
 * - `writeReport(file)` writes a file of the package's naming, anywhere, with no `fs`
 *   grant (and the environment in it): given only to a policy that names
 *   `"process.report.writeReport"`;
 * - its settings (`directory`, `filename`, `reportOnSignal`, ...) are the process's: read
 *   only; `excludeNetwork` (which detect-libc sets around its call) is the package's own,
 *   for its own `getReport()`.
 * (docs/attacks.md, case 261.) A dotted grant of `process.report.getReport` gets the same
 * `getReport`; a whole `process` grant, or `"process.report": "write"`, is Node's.
 */

type RealReport = Record<string, unknown> & { getReport(...args: unknown[]): unknown };

/** The report's sections a package gets (Node 20, 22, 24). */
const SECTIONS = new Set([
  'header',
  'javascriptStack',
  'javascriptHeap',
  'nativeStack',
  'resourceUsage',
  'uvthreadResourceUsage',
  'libuv',
  'workers',
  'userLimits',
  'sharedObjects',
]);

/** The process's command line (`process.argv` and `execArgv`, which may hold tokens). */
const HEADER_OMITTED = new Set(['commandLine']);

function withoutProcessSecrets(report: unknown): unknown {
  if (typeof report !== 'object' || report === null) return report;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(report)) {
    if (!SECTIONS.has(key)) continue;
    if (key === 'header' && typeof value === 'object' && value !== null) {
      out[key] = Object.fromEntries(Object.entries(value).filter(([field]) => !HEADER_OMITTED.has(field)));
    } else if (key === 'workers' && Array.isArray(value)) {
      // Each worker's own report (a running thread's, the loader's hooks thread on Node
      // 20), with its copy of the environment.
      out[key] = value.map(withoutProcessSecrets);
    } else out[key] = value;
  }
  return out;
}

function freezeFunction<T extends Function>(fn: T): T {
  return Object.freeze(fn);
}

/** `getReport` for a package: the report without the environment and the command line. */
export function reportGetterFor(real: RealReport, getReport: Function, excludeNetwork?: () => boolean | undefined): Function {
  const getter = {
    getReport(...args: unknown[]): unknown {
      const own = excludeNetwork?.();
      const before = own === undefined ? undefined : real.excludeNetwork;
      // The package's own setting, for this call only (Node reads it as it reports).
      if (own !== undefined && own !== before) real.excludeNetwork = own;
      try {
        return withoutProcessSecrets(Reflect.apply(getReport, real, args));
      } finally {
        if (own !== undefined && own !== before) real.excludeNetwork = before;
      }
    },
  }.getReport;
  Object.defineProperty(getter, 'length', { value: getReport.length });
  return freezeFunction(getter);
}

function refusedWriter(packageName: string): Function {
  return freezeFunction(
    {
      writeReport(): never {
        throw new TypeError(
          `LavaMoat: process.report.writeReport writes a file of the caller's naming, with the process's environment in it: ` +
            `package "${packageName}" needs "process.report.writeReport": true in its policy`,
        );
      },
    }.writeReport,
  );
}

/** The package's `process.report`: see above. */
export function reportFor(real: RealReport, packageName: string, namesWriter: boolean): object {
  let excludeNetwork: boolean | undefined;
  const report: Record<string, unknown> = {};
  const getReport = reportGetterFor(real, real.getReport, () => excludeNetwork);
  for (const key of Object.keys(real)) {
    if (key === 'getReport') report.getReport = getReport;
    else if (key === 'writeReport') report.writeReport = namesWriter ? real.writeReport : refusedWriter(packageName);
    else if (key === 'excludeNetwork') {
      Object.defineProperty(report, key, {
        get: freezeFunction(() => excludeNetwork ?? real.excludeNetwork),
        set: freezeFunction((value: unknown) => {
          if (typeof value !== 'boolean') throw new TypeError(`The "excludeNetwork" property must be of type boolean. Received ${typeof value}`);
          excludeNetwork = value;
        }),
        enumerable: true,
      });
    } else {
      // The process's settings: read, not written.
      Object.defineProperty(report, key, { get: freezeFunction(() => real[key]), enumerable: true });
    }
  }
  return Object.freeze(report);
}

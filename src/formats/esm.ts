/**
 * ES modules inside a compartment, compiled to the record SES links (imports, exports,
 * and a program that takes its bindings): by this project's light compiler
 * (esm-transform.ts) when it handles the module, else by @endo/module-source, which
 * loads Babel and so is imported only when a module actually needs it.
 */
import process from 'node:process';
import { createRequire } from 'node:module';
import { evadeSesRejections } from './evasion.js';
import type { ModuleCache } from '../cache/module-cache.js';
import { runUnscuttled } from '../confine/scuttle.js';
import { ASYNC_PROGRAM_HEAD, awaitsAtTopLevel, PROGRAM_HEAD, transformModule } from './esm-transform.js';
import type { PrecompiledRecord } from './context.js';

export type { PrecompiledRecord } from './context.js';


type ModuleSourceCtor = new (source: string, options?: { sourceUrl?: string }) => PrecompiledRecord;

let ModuleSource: ModuleSourceCtor | undefined;
const load = createRequire(import.meta.url);
// Only where meriyah cannot judge a module (rare): vm is not loaded at every start.
const hostVm = (): typeof import('node:vm') => load('node:vm') as typeof import('node:vm');

/**
 * Loading the compiler must not change the app's process: Babel's `debug` dependency
 * deletes an empty `DEBUG` variable from the environment when it loads, so the
 * environment is put back as it was.
 */
function withEnvironmentKept<T>(fn: () => T): T {
  const saved = { ...process.env };
  try {
    return fn();
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    for (const [key, value] of Object.entries(saved)) if (process.env[key] !== value) process.env[key] = value;
  }
}

function moduleSourceClass(): ModuleSourceCtor {
  // module-source is ESM; Node 20.19+ can require it synchronously, which a parser
  // called from `require()` inside a compartment needs.
  ModuleSource ??= withEnvironmentKept(
    () => (load('@endo/module-source') as { ModuleSource: ModuleSourceCtor }).ModuleSource,
  );
  return ModuleSource;
}

/** The precompiled record SES accepts for an ES module, from the cache when it has it. */
export function compileEsm(
  bytes: Uint8Array,
  source: () => string,
  url: string,
  packageName: string,
  cache: ModuleCache | undefined,
): PrecompiledRecord {
  // Keyed by the bytes: a warm start neither decodes the module's text nor encodes it
  // again to hash it.
  const cached = cache?.get<PrecompiledRecord>('esm', url, bytes);
  if (cached) return cached;
  // Babel, loaded and run here by Node, reads globals such as `process` by name.
  const record = runUnscuttled(() => compile(source(), url, packageName));
  cache?.set('esm', url, bytes, record, '__syncModuleProgram__');
  return record;
}

function compile(source: string, url: string, packageName: string): PrecompiledRecord {
  const light = transformModule(source, url);
  if (light) return finish(light);
  const Ctor = moduleSourceClass();
  let record: PrecompiledRecord;
  try {
    record = new Ctor(source, { sourceUrl: url });
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    throw new SyntaxError(`LavaMoat: cannot compile ${url} (package "${packageName}"): ${message}`);
  }
  // Babel accepts top-level await and leaves it in a program written as a plain
  // function: such a module's program becomes the async function the runtime evaluates
  // as an async module.
  const program = record.__syncModuleProgram__;
  if (!awaitsInProgram(source, program, url)) return finish(record);
  if (!program.startsWith(PROGRAM_HEAD)) {
    throw new SyntaxError(`LavaMoat: cannot compile ${url} (package "${packageName}"): unexpected program from @endo/module-source`);
  }
  return finish(record, ASYNC_PROGRAM_HEAD + program.slice(PROGRAM_HEAD.length));
}

/**
 * meriyah's answer, as for every module; where meriyah cannot parse the module, V8's:
 * a program it refuses as a plain function and accepts as an async one awaits (V8 only
 * parses here, nothing runs).
 */
function awaitsInProgram(source: string, program: string, url: string): boolean {
  const judged = awaitsAtTopLevel(source);
  if (judged !== undefined) return judged;
  const parses = (text: string) => {
    try {
      new (hostVm().Script)(text, { filename: url });
      return true;
    } catch {
      return false;
    }
  };
  return !parses(program) && parses(ASYNC_PROGRAM_HEAD + program.slice(PROGRAM_HEAD.length));
}

/** A plain copy of `record` (a ModuleSource is a class instance); `asyncProgram` replaces a program that awaits at its top level. */
function finish(record: PrecompiledRecord, asyncProgram?: string): PrecompiledRecord {
  return {
    imports: [...record.imports],
    exports: [...record.exports],
    reexports: [...record.reexports],
    // Real `import()` calls are rewritten already; what is left is in comments and strings.
    __syncModuleProgram__: evadeSesRejections(asyncProgram ?? record.__syncModuleProgram__),
    __liveExportMap__: record.__liveExportMap__,
    __reexportMap__: record.__reexportMap__,
    __fixedExportMap__: record.__fixedExportMap__,
    __needsImport__: record.__needsImport__,
    __needsImportMeta__: record.__needsImportMeta__,
    __hasTopLevelAwait__: asyncProgram !== undefined || record.__hasTopLevelAwait__ === true,
  };
}

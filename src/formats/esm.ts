/**
 * ES modules inside a compartment, compiled to the record SES links (imports, exports,
 * and a program that takes its bindings): by this project's light compiler
 * (esm-transform.ts) when it handles the module, else by @endo/module-source, which
 * loads Babel and so is imported only when a module actually needs it.
 */
import process from 'node:process';
import { createRequire } from 'node:module';
import vm from 'node:vm';
import { evadeSesRejections } from './evasion.js';
import type { ModuleCache } from '../cache/module-cache.js';
import { runUnscuttled } from '../confine/scuttle.js';
import { TopLevelAwaitFound, transformModule } from './esm-transform.js';
import type { PrecompiledRecord } from './context.js';

export type { PrecompiledRecord } from './context.js';


type ModuleSourceCtor = new (source: string, options?: { sourceUrl?: string }) => PrecompiledRecord;

let ModuleSource: ModuleSourceCtor | undefined;
const load = createRequire(import.meta.url);

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

export class TopLevelAwaitError extends SyntaxError {
  readonly code = 'LAVAMOAT_TOP_LEVEL_AWAIT';
}

/** The precompiled record SES accepts for an ES module, from the cache when it has it. */
export function compileEsm(source: string, url: string, packageName: string, cache: ModuleCache | undefined): PrecompiledRecord {
  const cached = cache?.get<PrecompiledRecord>('esm', url, source);
  if (cached) return cached;
  // Babel, loaded and run here by Node, reads globals such as `process` by name.
  const record = runUnscuttled(() => compile(source, url, packageName));
  cache?.set('esm', url, source, record);
  return record;
}

const isAwaitError = (message: string): boolean =>
  /await is only valid|Unexpected reserved word 'await'|top-level await/i.test(message);

function topLevelAwait(url: string, packageName: string): TopLevelAwaitError {
  return new TopLevelAwaitError(
    `LavaMoat: ${url} (package "${packageName}") uses top-level await, which SES compartments cannot run yet (endojs/endo#306). ` +
      (packageName === '$root$'
        ? 'With root.usePolicy the app package runs in a compartment too: move the await into an async function.'
        : 'Move the await into an async function, or into the app package, which runs natively.'),
  );
}

function compile(source: string, url: string, packageName: string): PrecompiledRecord {
  let record: PrecompiledRecord | undefined;
  try {
    record = transformModule(source, url);
  } catch (error) {
    if (error instanceof TopLevelAwaitFound) throw topLevelAwait(url, packageName);
    throw error;
  }
  if (record) return finish(record);
  const Ctor = moduleSourceClass();
  try {
    record = new Ctor(source, { sourceUrl: url });
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (isAwaitError(message)) throw topLevelAwait(url, packageName);
    throw new SyntaxError(`LavaMoat: cannot compile ${url} (package "${packageName}"): ${message}`);
  }
  // Babel accepts top-level await and leaves it in a program SES runs as a plain
  // function; V8 only parses it here (nothing runs), so the error can name the module.
  try {
    new vm.Script(record.__syncModuleProgram__, { filename: url });
  } catch (error) {
    if (isAwaitError(String((error as Error).message))) throw topLevelAwait(url, packageName);
  }
  return finish(record);
}

function finish(record: PrecompiledRecord): PrecompiledRecord {
  return {
    imports: [...record.imports],
    exports: [...record.exports],
    reexports: [...record.reexports],
    // Real `import()` calls are rewritten already; what is left is in comments and strings.
    __syncModuleProgram__: evadeSesRejections(record.__syncModuleProgram__),
    __liveExportMap__: record.__liveExportMap__,
    __reexportMap__: record.__reexportMap__,
    __fixedExportMap__: record.__fixedExportMap__,
    __needsImport__: record.__needsImport__,
    __needsImportMeta__: record.__needsImportMeta__,
  };
}

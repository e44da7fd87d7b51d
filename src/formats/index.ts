/**
 * The one parser every compartment uses. compartment-mapper picks parsers by file
 * extension per package; Node decides a file's format by its extension and the nearest
 * package.json `type` (a `dist/esm/package.json` saying `"type": "module"` is common),
 * and ignores bundler fields such as `module`. So the format is decided here, per file,
 * by the same rules as Node.
 */
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { formatOf } from '../graph/resolve.js';
import { makeCjsRecord } from './cjs.js';
import { compileEsm } from './esm.js';
import type { CompartmentLike, ModuleContext } from './context.js';
import { noteJsonValue } from '../confine/export-views.js';

const decoder = new TextDecoder();

/** A module's text as the loader reads it (a BOM is dropped). */
export const decodeSource = (bytes: Uint8Array): string => decoder.decode(bytes);

/**
 * The format of `file`, by Node's rules; `source` is read only when the extension does
 * not decide (a `.js` file in a package without "type" may be ESM by its syntax).
 */
export function fileFormat(file: string, source: () => string) {
  return formatOf(file, /\.js$|\/[^./]*$/.test(file) ? source() : undefined);
}

/**
 * What a parse hands back as the module's bytes. compartment-mapper keeps them, for
 * every module, for the life of the process (its `sources`, which only archiving reads);
 * the runtime never archives, and the records hold all a module needs.
 */
const NO_BYTES = new Uint8Array(0);

interface ParseResult {
  parser: string;
  bytes: Uint8Array;
  record: object;
}

export function makeNodeParser(ctx: ModuleContext) {
  const parse = (
    bytes: Uint8Array,
    _specifier: string,
    location: string,
    packageLocation: string,
  ): ParseResult => {
    const info = ctx.packageAt(packageLocation);
    const file = fileURLToPath(location);
    let text: string | undefined;
    const source = () => (text ??= decodeSource(bytes));
    const format = fileFormat(file, source);
    switch (format) {
      case 'module':
        ctx.noteEsmSource?.(info, source());
        return { parser: 'pre-mjs-json', bytes: NO_BYTES, record: compileEsm(bytes, source, location, info.name, ctx.cache) };
      case 'commonjs':
        return { parser: 'cjs', bytes: NO_BYTES, record: makeCjsRecord(source(), bytes, location, info, ctx) };
      case 'json': {
        const text = decoder.decode(bytes);
        return {
          parser: 'json',
          bytes: NO_BYTES,
          record: {
            imports: [],
            exports: ['default'],
            execute(env: Record<string, unknown>, compartment: CompartmentLike) {
              ctx.assertOwnCompartment(info, compartment, file);
              let value: unknown;
              try {
                value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
              } catch (error) {
                throw new SyntaxError(`${file}: ${(error as Error).message}`);
              }
              // Strict mode: other packages see it as a frozen copy (export-views.ts).
              noteJsonValue(value);
              ctx.cjsRegistry.set(location, { exports: value, loaded: true });
              env.default = value;
            },
          },
        };
      }
      case 'addon':
        return {
          parser: 'native',
          bytes: NO_BYTES,
          record: {
            imports: [],
            exports: ['default'],
            execute(env: Record<string, unknown>, compartment: CompartmentLike) {
              ctx.assertOwnCompartment(info, compartment, file);
              ctx.assertNative(info, file);
              const module = { exports: {} as unknown };
              // Captured before scuttling; the policy check above is what guards it.
              hostDlopen(module, file);
              ctx.cjsRegistry.set(location, { exports: module.exports, loaded: true });
              env.default = module.exports;
            },
          },
        };
      default:
        throw new Error(`LavaMoat: cannot load ${file} (package "${info.name}"): ${format} modules are not supported in compartments`);
    }
  };
  return { parse, heuristicImports: false, synchronous: true };
}

const hostDlopen = process.dlopen.bind(process) as (module: { exports: unknown }, file: string) => void;

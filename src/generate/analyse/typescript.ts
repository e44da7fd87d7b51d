/**
 * TypeScript as Node runs it: the generator must analyse the JavaScript Node executes,
 * which for `.ts`, `.mts` and `.cts` files is the source with its types stripped. Node
 * strips them with its bundled `amaro` (swc), and exposes the same function as
 * `module.stripTypeScriptTypes` (Node 22.13+, 23.2+), used here so that generation reads
 * exactly what the running Node would. Older Nodes have no such function; they get a
 * failure that says which Node is needed, rather than a second TypeScript parser that
 * could disagree with Node's.
 *
 * Strip-only mode replaces every type with spaces, so lines and columns stay those of
 * the file. Syntax that needs code generated (`enum`, `namespace`, parameter
 * properties, `import x = require()`) runs in Node only under
 * `--experimental-transform-types`; it is analysed transformed, with a warning.
 */
import module from 'node:module';
import process from 'node:process';

type Strip = (code: string, options?: { mode?: 'strip' | 'transform' }) => string;

const strip = (module as unknown as { stripTypeScriptTypes?: Strip }).stripTypeScriptTypes;

export const TYPESCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts'] as const;

export function isTypeScriptFile(file: string): boolean {
  return TYPESCRIPT_EXTENSIONS.some((ext) => file.endsWith(ext));
}

/** What stripping gives: the JavaScript, or why there is none and where. */
export type StripResult =
  | { code: string; /** Why strip-only mode refused it, when the code was transformed instead. */ transformed?: string }
  | { error: string; line: number; column: number };

/**
 * Node announces the function as experimental once per process, on stderr: noise for
 * the user of a CLI, who asked for a policy. Only that one warning is held back.
 */
function quietly<T>(run: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type;
    if (type === 'ExperimentalWarning' && typeof text === 'string' && text.startsWith('stripTypeScriptTypes')) return;
    return Reflect.apply(emitWarning, process, [warning, ...rest]);
  } as typeof process.emitWarning;
  try {
    return run();
  } finally {
    process.emitWarning = emitWarning;
  }
}

/**
 * Node decorates a TypeScript syntax error's stack with the line number, source lines
 * ending with the one at fault, and a caret under the column (`:3\n<line 2>\n<line 3>\n   ^`),
 * and gives the position nowhere else.
 */
function errorPosition(error: unknown): { line: number; column: number } {
  const lines = String((error as { stack?: unknown })?.stack ?? '').split('\n', 12);
  const line = /:(\d+)$/.exec(lines[0] ?? '');
  const caret = lines.findIndex((text, i) => i > 1 && /^ *\^+ *$/.test(text));
  return line && caret !== -1 ? { line: Number(line[1]), column: lines[caret]!.indexOf('^') + 1 } : { line: 1, column: 1 };
}

const errorMessage = (error: unknown): string => String((error as Error)?.message ?? error).split('\n')[0]!;

export function stripTypes(source: string): StripResult {
  if (typeof strip !== 'function') {
    return {
      error:
        `this Node (${process.version}) cannot strip TypeScript types: reading TypeScript needs ` +
        'module.stripTypeScriptTypes, in Node 22.13+ and 23.2+ (Node itself runs TypeScript from 22.6); run lavamoat generate with a newer Node',
      line: 1,
      column: 1,
    };
  }
  try {
    return { code: quietly(() => strip(source)) };
  } catch (error) {
    if ((error as { code?: unknown })?.code !== 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
      return { error: `cannot parse as TypeScript: ${errorMessage(error)}`, ...errorPosition(error) };
    }
    try {
      return { code: quietly(() => strip(source, { mode: 'transform' })), transformed: errorMessage(error) };
    } catch (transformError) {
      return { error: `cannot parse as TypeScript: ${errorMessage(transformError)}`, ...errorPosition(transformError) };
    }
  }
}

/** What the cache key of a TypeScript module includes: the stripper's version decides the text analysed. */
export function stripperVersion(): string {
  return `ts:${typeof strip === 'function' ? (process.versions as Record<string, string | undefined>).amaro ?? process.version : 'none'}`;
}

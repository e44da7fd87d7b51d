/**
 * CommonJS modules inside a compartment, with Node's semantics rather than
 * compartment-mapper's:
 * - `require` returns the required module's current `module.exports` (also in a cycle,
 *   where Node hands out the partly built exports, and after it was replaced);
 * - named exports for ESM importers are the names cjs-module-lexer finds, read once
 *   after the module ran, with getters that throw ignored, as Node does (no getter of a
 *   replaced `module.exports` runs just to build a namespace);
 * - `require.resolve`, `require.cache`, `module.id/filename/loaded/path`, `__filename`,
 *   `__dirname`, top-level `this === module.exports`, a hashbang line, a final
 *   `//# sourceMappingURL` comment without a newline;
 * - `import()` from CommonJS goes through the same policy as `require`.
 * Compartments evaluate strict code only, so sloppy-mode-only code fails (documented).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CJS_MODULE_EXPORTS_NAME, cjsExportNames, lexCjs, type CjsLexed } from '../graph/module-names.js';
import { evadeSesRejections, refusePhaseImports } from './evasion.js';
import type { PackageInfo } from '../graph/package-map.js';
import type { CjsModule, CompartmentLike, ModuleContext } from './context.js';
import { isAsyncGraphRefusal } from '../confine/module-evaluation.js';
import { requireAsyncModuleError } from '../confine/require-async.js';
import { viewFor } from '../confine/export-views.js';

const hasOwn = (value: unknown, key: string): boolean =>
  value !== null && value !== undefined && Object.prototype.hasOwnProperty.call(value, key);

/** How every wrapped CommonJS source starts (its text is evaded already). */
export const CJS_WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname, __import__) {';

/**
 * Source text of the function a CommonJS module (its body: see plainBody) is wrapped in.
 * Its frames are named by the module's path, as Node names a CommonJS module's (an ES
 * module's by its URL): stack traces read as under plain node, and code that finds its
 * caller's file from a call site (bindings, which locates the caller's addon; callsites)
 * compares it with `__filename` or joins paths to it.
 */
function wrapBody(body: string, url: string): string {
  // The newline ends a trailing line comment (a source map URL) before the wrapper closes.
  return `${CJS_WRAPPER_HEAD}${body}\n})\n//# sourceURL=${fileURLToPath(url)}\n`;
}

function invalidArg(id: unknown): TypeError {
  const error = new TypeError(`The "id" argument must be of type string. Received ${typeof id}`);
  (error as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

/** What is worth keeping between runs: the lexer's findings and the wrapped source. */
interface CjsAnalysis {
  lexed: CjsLexed;
  wrapped: string;
}

/**
 * As cached: the evaded body only when evasion changed the source (rarely: most modules
 * are stored without their text, which the loader has read anyway).
 */
interface CachedCjsAnalysis {
  lexed: CjsLexed;
  body?: string;
}

/**
 * `require` for code of package `info` at `filename`, with Node's semantics and the
 * package's policy: used by CommonJS modules, and by `module.createRequire` when a
 * package is granted the `module` builtin.
 */
export function makeRequire(ctx: ModuleContext, info: PackageInfo, filename: string, compartment: CompartmentLike) {
  const { cjsRegistry } = ctx;
  const require = (id: unknown): unknown => {
    if (typeof id !== 'string') throw invalidArg(id);
    const target = ctx.link(info, id, filename, 'require');
    if (target.kind === 'builtin') return compartment.importNow(target.specifier).default;
    // Strict mode: another package's exports, as a read-only view (confine/export-views.ts).
    const owner = target.view;
    const shown = owner === undefined ? (value: unknown) => value : (value: unknown) => viewFor(value, owner);
    if (target.kind === 'app') return shown(ctx.requireAppModule(target.url));
    const known = cjsRegistry.get(target.url);
    // A module still loading (a cycle) is handed out as it is: the hooks of preloaded
    // instrumentation see modules once they have loaded (and see the real exports; the
    // package gets what they return, as a view in strict mode).
    if (known) return shown(known.loaded ? ctx.requireHooks(id, filename, known.exports) : known.exports);
    if (!ctx.requireParents.has(target.path)) ctx.requireParents.set(target.path, filename);
    // CommonJS requiring CommonJS runs the module straight in its compartment; anything
    // else (ESM, JSON, addons) goes through the compartment's module loader.
    const direct = ctx.requireCommonJs(target);
    if (direct) return shown(ctx.requireHooks(id, filename, direct.exports));
    let namespace: Record<string, unknown>;
    try {
      namespace = compartment.importNow(target.specifier);
    } catch (error) {
      if (isAsyncGraphRefusal(error)) throw requireAsyncModuleError(target.path, ctx.requireStack(filename));
      throw error;
    }
    const loaded = cjsRegistry.get(target.url);
    if (loaded) return shown(loaded.loaded ? ctx.requireHooks(id, filename, loaded.exports) : loaded.exports);
    // require(esm), as Node 20.19+ does it.
    return shown(ctx.requireHooks(id, filename, hasOwn(namespace, 'module.exports') ? namespace['module.exports'] : namespace));
  };
  const resolve = (id: unknown): string => {
    if (typeof id !== 'string') throw invalidArg(id);
    const target = ctx.link(info, id, filename, 'require');
    return target.kind === 'builtin' ? id : target.path;
  };
  Object.defineProperty(require, 'main', {
    // The app's own entry module (native) is never handed to a package.
    get: () => mainModuleFor(ctx.mainModule, info),
    enumerable: true,
  });
  return Object.assign(require, {
    resolve: Object.assign(resolve, { paths: () => null }),
    cache: Object.create(null) as Record<string, unknown>,
    // Node's deprecated loader registry. Packages still add to it (handlebars registers
    // `.handlebars`); here it is the package's own and loads nothing.
    extensions: packageExtensions(info),
  });
}

/** The package of each CommonJS module object the runtime made (for `require.main`). */
const moduleOwners = new WeakMap<object, PackageInfo>();
const mainViews = new WeakMap<object, object>();

/**
 * `require.main` for code of package `info`, when the process's entry is a dependency's
 * CommonJS module (a package's bin run as the entry: `lavamoat run --bin`). Node's is
 * that module object, whose `require` loads with the entry's package's authority: given
 * to every package, any of them loaded what the bin's policy grants (case 182). The
 * bin's own package gets it (`require.main === module` holds there); another gets a
 * frozen record of where it is (`id`, `filename`, `path`, `loaded`), with no `require`,
 * `exports` or `children`.
 */
function mainModuleFor(main: CjsModule | undefined, info: PackageInfo): unknown {
  if (main === undefined || moduleOwners.get(main) === info) return main;
  let view = mainViews.get(main);
  if (!view) {
    const { id, filename, path: dir } = main as CjsModule & { id?: unknown; filename?: unknown; path?: unknown };
    view = Object.freeze({
      id,
      filename,
      path: dir,
      get loaded() {
        return main.loaded;
      },
    });
    mainViews.set(main, view);
  }
  return view;
}

const SLOPPY_ONLY = /strict mode|with statement|octal|Unexpected eval or arguments|Delete of an unqualified identifier/i;

/**
 * Node runs CommonJS in sloppy mode unless it says 'use strict'; compartments can only
 * evaluate strict code. Say so when that is why a module does not compile.
 */
function strictModeHint(error: unknown, filename: string, packageName: string): unknown {
  if (error instanceof SyntaxError && SLOPPY_ONLY.test(error.message)) {
    return new SyntaxError(
      `LavaMoat: ${filename} (package "${packageName}") needs sloppy mode (${error.message}); ` +
        'SES compartments evaluate strict-mode code only, so this module cannot run confined.',
    );
  }
  return error;
}

const extensionRegistries = new WeakMap<PackageInfo, Record<string, unknown>>();

function packageExtensions(info: PackageInfo): Record<string, unknown> {
  let registry = extensionRegistries.get(info);
  if (!registry) {
    const unsupported = () => {
      throw new Error('LavaMoat: require.extensions handlers are not used by this runtime');
    };
    registry = { '.js': unsupported, '.json': unsupported, '.node': unsupported };
    extensionRegistries.set(info, registry);
  }
  return registry;
}

export interface CjsRecord {
  imports: string[];
  exports: string[];
  execute(env: Record<string, unknown>, compartment: CompartmentLike): void;
}

/** The cached analysis of a CommonJS source (made and stored on a cache miss). */
function analyse(source: string, bytes: Uint8Array, url: string, filename: string, ctx: ModuleContext): CjsAnalysis {
  // Keyed by the bytes as read: hashing the text would encode it back to UTF-8 first.
  const cached = ctx.cache?.get<CachedCjsAnalysis>('cjs', url, bytes);
  if (cached) return { lexed: cached.lexed, wrapped: wrapBody(cached.body ?? plainBody(source), url) };
  const plain = plainBody(source);
  const body = evadeSesRejections(wrapperEvals(plain));
  const analysis = { lexed: lexCjs(source, filename), wrapped: wrapBody(body, url) };
  const record: CachedCjsAnalysis = body === plain ? { lexed: analysis.lexed } : { lexed: analysis.lexed, body };
  ctx.cache?.set('cjs', url, bytes, record, 'body');
  return analysis;
}

/**
 * `eval('require')` (threads, and code hiding its require from bundlers) is a direct eval
 * under Node, which reads the wrapper's `require`; in a compartment eval reaches only the
 * global, where there is none. The call is rewritten to the name itself (padded to the
 * same length, so positions in stack traces stay), which is what it reads: the module's
 * own `require`, `module`, `exports`, `__filename` or `__dirname`.
 */
const WRAPPER_EVAL = /(?<![\w$.])eval\(\s*(["'])(require|module|exports|__filename|__dirname)\1\s*\)/g;
/**
 * `eval("quire".replace(/^/,"re"))`: `@protobufjs/inquire` 1.1.0 (under protobufjs 6 and
 * 7, Apollo Server's usage reporting, gRPC's loaders), which spells `require` so that no
 * bundler sees it. It reads the wrapper's `require` as `eval('require')` does.
 */
const INQUIRE_EVAL = /(?<![\w$.])eval\(\s*(["'])quire\1\s*\.\s*replace\(\s*\/\^\/\s*,\s*(["'])re\2\s*\)\s*\)/g;
function wrapperEvals(body: string): string {
  if (!body.includes('eval(')) return body;
  return body
    .replace(WRAPPER_EVAL, (call: string, _quote: string, name: string) => `(${name})`.padEnd(call.length))
    .replace(INQUIRE_EVAL, (call: string) => '(require)'.padEnd(call.length));
}

/** A module's body before evasion: its text without a BOM, a `#!` line made a comment. */
function plainBody(source: string): string {
  const body = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  return body.startsWith('#!') ? `//${body.slice(2)}` : body;
}

/**
 * Runs a CommonJS module in `compartment` (its package's) and registers it, as Node's
 * loader would: registered before it runs (cycles see its partial exports), removed
 * again if it throws (the next require runs it again).
 */
function runCommonJs(
  ctx: ModuleContext,
  info: PackageInfo,
  url: string,
  wrapped: string,
  compartment: CompartmentLike,
): CjsModule {
  const { cjsRegistry } = ctx;
  const filename = fileURLToPath(url);
  const dirname = path.dirname(filename);
  const requireFn = makeRequire(ctx, info, filename, compartment);
  const importFn = refusePhaseImports((id: unknown): Promise<unknown> => {
    try {
      const target = ctx.link(info, String(id), filename, 'import');
      const owner = target.kind === 'builtin' ? undefined : target.view;
      if (owner !== undefined) return compartment.import(target.specifier).then((namespace) => viewFor(namespace, owner));
      return compartment.import(target.specifier);
    } catch (error) {
      return Promise.reject(error);
    }
  }, info.name);
  const module: CjsModule & Record<string, unknown> = {
    id: filename,
    filename,
    path: dirname,
    exports: {},
    loaded: false,
    children: [],
    paths: [],
    require: requireFn,
  };
  cjsRegistry.set(url, module);
  moduleOwners.set(module, info);
  if (url === ctx.mainURL) ctx.mainModule = module;
  try {
    let fn: Function;
    try {
      // SES rejects text that looks like a direct `eval(`: it cannot give eval the
      // caller's scope. Such code (depd 1.x, under koa) runs, with eval reaching only
      // the compartment's global, as an indirect eval would; SES counts this as a
      // compatibility matter, not a security one.
      fn = compartment.evaluate(wrapped, { __rejectSomeDirectEvalExpressions__: false }) as Function;
    } catch (error) {
      throw strictModeHint(error, filename, info.name);
    }
    fn.call(module.exports, module.exports, requireFn, module, filename, dirname, importFn);
  } catch (error) {
    cjsRegistry.delete(url);
    ctx.explain(error, info);
    throw error;
  }
  module.loaded = true;
  return module;
}

/** `require` of a CommonJS file by CommonJS code: no module record, no export-name analysis. */
export function requireCommonJs(
  ctx: ModuleContext,
  info: PackageInfo,
  url: string,
  source: string,
  bytes: Uint8Array,
  compartment: CompartmentLike,
): CjsModule {
  return runCommonJs(ctx, info, url, analyse(source, bytes, url, fileURLToPath(url), ctx).wrapped, compartment);
}

export interface CjsRecord {
  imports: string[];
  exports: string[];
  execute(env: Record<string, unknown>, compartment: CompartmentLike): void;
}

/** The module record through which ES modules (and the app) import a CommonJS module. */
export function makeCjsRecord(source: string, bytes: Uint8Array, url: string, info: PackageInfo, ctx: ModuleContext): CjsRecord {
  const filename = fileURLToPath(url);
  const { lexed, wrapped } = analyse(source, bytes, url, filename, ctx);
  const names = cjsExportNames(filename, source, new Set(), lexed, ctx.cache);
  names.delete('default');
  names.delete('module.exports');
  const exportNames = [...names];

  const execute = (env: Record<string, unknown>, compartment: CompartmentLike): void => {
    ctx.assertOwnCompartment(info, compartment, filename);
    // A module that CommonJS code required already ran; an import only reads it.
    const module = ctx.cjsRegistry.get(url) ?? runCommonJs(ctx, info, url, wrapped, compartment);
    const exportsValue = module.exports;
    env.default = exportsValue;
    if (CJS_MODULE_EXPORTS_NAME) env['module.exports'] = exportsValue;
    for (const name of exportNames) {
      if (!hasOwn(exportsValue, name)) continue;
      try {
        env[name] = (exportsValue as Record<string, unknown>)[name];
      } catch {
        // Node leaves the binding undefined when the getter throws.
      }
    }
  };

  // A namespace lists its names sorted (SES keeps a record's order).
  const exports = [...exportNames, 'default', ...(CJS_MODULE_EXPORTS_NAME ? ['module.exports'] : [])].sort();
  return { imports: [], exports, execute };
}

/**
 * Module resolution with Node's semantics, for code that Node's own loader never sees:
 * modules evaluated inside compartments, and the static walk of the policy generator.
 *
 * `require` resolution is Node's own (`createRequire().resolve`), so it is exact by
 * construction. `import` resolution follows Node's ESM algorithm: no extension search,
 * `exports`/`imports` maps with the import conditions, self-reference, and the legacy
 * `main` lookup for packages without `exports`. Results are real paths, as Node's are.
 */
import process from 'node:process';
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exports as resolveExports, imports as resolveImports } from 'resolve.exports';
import { parse as lexModule } from 'es-module-lexer';
import { parsedManifests } from './package-map.js';
import { realEntry } from './real-paths.js';

/** Whether a source has import/export statements or `import.meta` (the lexer must be ready). */
function hasModuleSyntax(source: string): boolean {
  // A cheap test first: most CommonJS files have none of these words.
  if (!/\b(?:import|export)\b/.test(source)) return false;
  try {
    return lexModule(source)[3];
  } catch {
    return false;
  }
}

export type ResolveKind = 'import' | 'require';

export type Resolved =
  | { kind: 'builtin'; name: string }
  | { kind: 'file'; path: string; url: string };

const builtinSet = new Set(builtinModules);

/** `node:fs` and `fs` name the same builtin; `node:test` exists only with its prefix. */
export function builtinName(specifier: string): string | undefined {
  if (specifier.startsWith('node:')) {
    const bare = specifier.slice(5);
    return builtinSet.has(bare) || isPrefixOnlyBuiltin(bare) ? bare : undefined;
  }
  return builtinSet.has(specifier) ? specifier : undefined;
}

const prefixOnly = new Set(['test', 'test/reporters', 'sqlite', 'sea']);
function isPrefixOnlyBuiltin(name: string): boolean {
  return prefixOnly.has(name);
}

function conditionsFromArgv(): string[] {
  const found: string[] = [];
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const m = /^(?:--conditions|-C)(?:=(.*))?$/.exec(arg);
    if (m) {
      const value = m[1] ?? args[i + 1];
      if (m[1] === undefined) i += 1;
      if (value) found.push(value);
    }
  }
  return found;
}

/**
 * Node matches `module-sync` for both kinds of load exactly where `require()` can load
 * ES modules: 20.19+, 22.10+ (unflagged in 22.12) and 23+, unless
 * `--no-experimental-require-module`, which `process.features.require_module` reflects.
 * Node 20.19+ counts: the runtime's answer decides whether a required app ES module
 * reaches a dependency (loader/require-hook.ts), so it must be Node's.
 */
const moduleSync = (process.features as { require_module?: boolean }).require_module === true;

export function conditionsFor(kind: ResolveKind): string[] {
  return [
    'node',
    kind,
    ...(moduleSync ? ['module-sync'] : []),
    ...(process.execArgv.includes('--no-addons') ? [] : ['node-addons']),
    ...conditionsFromArgv(),
  ];
}

export class ResolveError extends Error {
  code: string;
  constructor(message: string, code = 'ERR_MODULE_NOT_FOUND') {
    super(message);
    this.code = code;
  }
}

const manifestCache = new Map<string, Record<string, unknown> | null>();

/** package.json of a directory, cached; null when absent. */
export function manifestAt(dir: string): Record<string, unknown> | null {
  let manifest: Record<string, unknown> | null | undefined = manifestCache.get(dir);
  if (manifest !== undefined) return manifest;
  manifest = parsedManifests.get(dir) as Record<string, unknown> | undefined;
  if (manifest !== undefined) return manifest;
  const file = path.join(dir, 'package.json');
  // Most directories a scope walk passes have none: asked first, since a failed read
  // throws, and an error (its stack) costs ten times the question.
  if (!fs.existsSync(file)) {
    manifestCache.set(dir, null);
    return null;
  }
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') {
      manifest = null;
    } else {
      throw new ResolveError(`Invalid package config ${file}: ${(error as Error).message}`, 'ERR_INVALID_PACKAGE_CONFIG');
    }
  }
  manifestCache.set(dir, manifest);
  return manifest;
}

/** Nearest directory at or above `dir` holding a package.json (Node's package scope). */
export function packageScope(dir: string): { dir: string; manifest: Record<string, unknown> } | undefined {
  for (;;) {
    const manifest = manifestAt(dir);
    if (manifest) return { dir, manifest };
    if (path.basename(dir) === 'node_modules') return undefined;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export type Format = 'module' | 'commonjs' | 'json' | 'addon' | 'wasm';

/**
 * The format Node would give a file: by extension, then by the package scope's `type`.
 * A `.js` or extensionless file in a scope without `type` is CommonJS unless it has ES
 * module syntax (Node 20.19+ detects it): pass `source` to decide those as Node does.
 * TypeScript follows the same rules (`.mts`, `.cts`, `.ts` by `type`); a typeless `.ts`
 * file is left to the caller, which must strip its types before looking at its syntax.
 */
export function formatOf(file: string, source?: string): Format {
  const ext = path.extname(file);
  switch (ext) {
    case '.mjs':
    case '.mts':
      return 'module';
    case '.cjs':
    case '.cts':
      return 'commonjs';
    case '.json':
      return 'json';
    case '.node':
      return 'addon';
    case '.wasm':
      return 'wasm';
    default: {
      const scope = packageScope(path.dirname(file));
      const type = scope?.manifest.type;
      if (type === 'module') return 'module';
      if (type === undefined && source !== undefined && (ext === '.js' || ext === '') && hasModuleSyntax(source)) {
        return 'module';
      }
      return 'commonjs';
    }
  }
}

const isFile = (file: string): boolean => {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

function finish(file: string, specifier: string, parentPath: string): Resolved {
  let real: string;
  try {
    const entry = realEntry(path.resolve(file));
    // `path.resolve` drops a trailing slash, which names a directory (as Node takes it).
    if (!entry.isFile || file.endsWith('/')) {
      throw new ResolveError(
        `Directory import '${file}' is not supported resolving ES modules imported from ${parentPath}`,
        'ERR_UNSUPPORTED_DIR_IMPORT',
      );
    }
    real = entry.real;
  } catch (error) {
    if (error instanceof ResolveError) throw error;
    throw new ResolveError(`Cannot find module '${file}' (from '${specifier}') imported from ${parentPath}`);
  }
  return { kind: 'file', path: real, url: pathToFileURL(real).href };
}

function splitPackageSpecifier(specifier: string): { name: string; subpath: string } {
  const parts = specifier.split('/');
  const count = specifier.startsWith('@') ? 2 : 1;
  if (parts.length < count || parts.slice(0, count).some((p) => p === '')) {
    throw new ResolveError(`Invalid module specifier '${specifier}'`, 'ERR_INVALID_MODULE_SPECIFIER');
  }
  const name = parts.slice(0, count).join('/');
  const rest = parts.slice(count).join('/');
  return { name, subpath: rest ? `./${rest}` : '.' };
}

/** Node's segments no `exports` or `imports` target may hold after its `./`: `.`, `..`, `node_modules`, also percent-encoded. */
const invalidTargetSegment =
  /(^|\\|\/)((\.|%2e)(\.|%2e)?|(n|%6e|%4e)(o|%6f|%4f)(d|%64|%44)(e|%65|%45)(_|%5f)(m|%6d|%4d)(o|%6f|%4f)(d|%64|%44)(u|%75|%55)(l|%6c|%4c)(e|%65|%45)(s|%73|%53))(\\|\/|$)/i;

/** Whether a target is a bare package specifier, which only `imports` may map to. */
function isBareTarget(target: string): boolean {
  if (target.startsWith('./') || target.startsWith('../') || target.startsWith('/')) return false;
  return !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(target);
}

/**
 * The target Node takes: the first valid one of the list (an array's later entries are
 * fallbacks for invalid targets only, as in Node's `resolvePackageTarget`). Valid is
 * `./` followed by no `.`, `..` or `node_modules` segment, or for `imports` a bare
 * package specifier. Taking the first entry as it was let a package's
 * `["invalid", "./index.js"]` resolve here to another file than Node's (attack case 90).
 */
function firstTarget(targets: readonly string[] | void, what: string, imports = false): string {
  let invalid: string | undefined;
  for (const target of targets ?? []) {
    if (typeof target !== 'string') continue;
    if (target.startsWith('./') ? !invalidTargetSegment.test(target.slice(2)) : imports && isBareTarget(target)) return target;
    invalid ??= target;
  }
  if (invalid !== undefined) throw new ResolveError(`Invalid "exports" or "imports" target ${JSON.stringify(invalid)}: ${what}`, 'ERR_INVALID_PACKAGE_TARGET');
  throw new ResolveError(what, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
}

function exportsTarget(dir: string, manifest: Record<string, unknown>, subpath: string, kind: ResolveKind): string {
  let targets;
  try {
    targets = resolveExports(manifest, subpath, { conditions: conditionsFor(kind), unsafe: true });
  } catch (error) {
    throw new ResolveError(
      `Package subpath '${subpath}' is not defined by "exports" in ${path.join(dir, 'package.json')}`,
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
    );
  }
  const target = firstTarget(
    targets,
    `Package subpath '${subpath}' is not defined by "exports" in ${path.join(dir, 'package.json')}`,
  );
  return path.join(dir, target);
}

const legacyMainSuffixes = ['', '.js', '.json', '.node', '/index.js', '/index.json', '/index.node'];

function legacyMain(dir: string, manifest: Record<string, unknown>): string | undefined {
  const main = manifest.main;
  if (typeof main === 'string' && main !== '') {
    for (const suffix of legacyMainSuffixes) {
      const candidate = path.join(dir, main + suffix);
      if (isFile(candidate)) return candidate;
    }
  }
  for (const index of ['index.js', 'index.json', 'index.node']) {
    const candidate = path.join(dir, index);
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

function resolvePackage(specifier: string, parentPath: string, kind: ResolveKind): string {
  const { name, subpath } = splitPackageSpecifier(specifier);
  // Self-reference: a package may import itself by name when it has "exports".
  const scope = packageScope(path.dirname(parentPath));
  if (scope && scope.manifest.name === name && scope.manifest.exports !== undefined) {
    return exportsTarget(scope.dir, scope.manifest, subpath, kind);
  }
  let dir = path.dirname(parentPath);
  for (;;) {
    if (path.basename(dir) !== 'node_modules') {
      const packageDir = path.join(dir, 'node_modules', name);
      const manifest = manifestAt(packageDir);
      if (manifest) {
        if (manifest.exports !== undefined && manifest.exports !== null) {
          return exportsTarget(packageDir, manifest, subpath, kind);
        }
        if (subpath === '.') {
          const main = legacyMain(packageDir, manifest);
          if (main) return main;
          throw new ResolveError(`Cannot find package '${packageDir}' imported from ${parentPath}`);
        }
        return path.join(packageDir, subpath);
      }
      // A directory without package.json can still hold a deep import target.
      if (subpath !== '.' && fs.existsSync(packageDir)) return path.join(packageDir, subpath);
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ResolveError(`Cannot find package '${name}' imported from ${parentPath}`);
}

function resolveHash(specifier: string, parentPath: string, kind: ResolveKind): Resolved {
  const scope = packageScope(path.dirname(parentPath));
  if (!scope || scope.manifest.imports === undefined) {
    throw new ResolveError(
      `Package import specifier '${specifier}' is not defined imported from ${parentPath}`,
      'ERR_PACKAGE_IMPORT_NOT_DEFINED',
    );
  }
  let targets;
  try {
    targets = resolveImports(scope.manifest, specifier, { conditions: conditionsFor(kind), unsafe: true });
  } catch {
    targets = undefined;
  }
  const target = firstTarget(
    targets,
    `Package import specifier '${specifier}' is not defined in ${path.join(scope.dir, 'package.json')}`,
    true,
  );
  if (target.startsWith('./')) return finish(path.join(scope.dir, target), specifier, parentPath);
  return resolveSpecifier(target, parentPath, kind);
}

const requireCache = new Map<string, NodeJS.Require>();

let runtimeResolutions = 0;
/**
 * Whether Node's `require.resolve` is running for this runtime (a package's `require`,
 * resolved from the package's own file). Node 24 runs the in-thread resolve hooks for it;
 * they answer it as Node would (loader/hooks/hooks.ts): it loads nothing, and the policy
 * check is made on what it returns.
 */
export const resolvingForRuntime = (): boolean => runtimeResolutions > 0;

function resolveWithRequire(specifier: string, parentPath: string): Resolved {
  let req = requireCache.get(parentPath);
  if (!req) {
    req = createRequire(parentPath);
    requireCache.set(parentPath, req);
  }
  let file: string;
  runtimeResolutions += 1;
  try {
    file = req.resolve(specifier);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    throw new ResolveError(err.message.split('\n')[0] ?? String(err), err.code ?? 'MODULE_NOT_FOUND');
  } finally {
    runtimeResolutions -= 1;
  }
  const builtin = builtinName(file);
  if (builtin !== undefined && !path.isAbsolute(file)) return { kind: 'builtin', name: builtin };
  return { kind: 'file', path: file, url: pathToFileURL(file).href };
}

/**
 * Resolves `specifier` as Node would from the module at `parentPath` (a real path).
 * Throws ResolveError with Node's error codes.
 */
export function resolveSpecifier(specifier: string, parentPath: string, kind: ResolveKind): Resolved {
  const builtin = builtinName(specifier);
  if (builtin !== undefined) return { kind: 'builtin', name: builtin };
  if (specifier.startsWith('node:')) {
    throw new ResolveError(`No such built-in module: ${specifier}`, 'ERR_UNKNOWN_BUILTIN_MODULE');
  }
  if (kind === 'require') {
    if (specifier.startsWith('file:')) specifier = fileURLToPath(specifier);
    return resolveWithRequire(specifier, parentPath);
  }
  if (specifier.startsWith('file:')) return finish(fileURLToPath(specifier), specifier, parentPath);
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier)) {
    throw new ResolveError(`Unsupported URL scheme in '${specifier}'`, 'ERR_UNSUPPORTED_ESM_URL_SCHEME');
  }
  if (specifier.startsWith('/')) return finish(specifier, specifier, parentPath);
  if (specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.' || specifier === '..') {
    return finish(fileURLToPath(new URL(specifier, pathToFileURL(parentPath))), specifier, parentPath);
  }
  if (specifier.startsWith('#')) return resolveHash(specifier, parentPath, kind);
  return finish(resolvePackage(specifier, parentPath, kind), specifier, parentPath);
}

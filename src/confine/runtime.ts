/**
 * The main-thread runtime: one compartment per package, linked by compartment-mapper
 * from the compartment map the policy gives, and the entry points through which the
 * app (which runs natively) reaches its confined dependencies.
 *
 * Why one file of about 800 lines: `Runtime` is the one object compartment-mapper's
 * hooks, the parsers (formats/) and the app's `require` call into, and its methods share
 * its per-package state (the compartments, the builtin grants, the links made and the
 * views owed); split apart, that state would have to be handed between files, and every
 * policy decision of a link is easiest to review in one place. What stands alone is
 * apart: reading module sources (read-powers.ts), strict mode's child compartments
 * (child-compartments.ts), the builtins a package gets (builtins.ts, builtin-adapters.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadFromMap } from '@endo/compartment-mapper/import-lite.js';
import type { LavaMoatPolicy } from '../policy/types.js';
import { PackageMap, type PackageInfo, ROOT_NAME } from '../graph/package-map.js';
import { buildCompartmentMap, ENTRY_SPECIFIER, NODE_LANGUAGE, resourceFor } from './compartment-map.js';
import { defineEndowments, makeEndowments, mutableGlobalNames, pinGlobals, universalEndowments, type HostGlobals } from './endowments.js';
import { builtinFor, builtinGrants, hostBuiltin, type BuiltinGrant } from './builtins.js';
import { builtinName, resolveSpecifier, type ResolveKind } from '../graph/resolve.js';
import { denied, explainMissingGlobal, type PolicyFiles } from '../report/denials.js';
import { decodeSource, fileFormat, makeNodeParser } from '../formats/index.js';
import { refusePhaseImports } from '../formats/evasion.js';
import { makeRequire, requireCommonJs } from '../formats/cjs.js';
import { confineModuleBuiltin, realRoot } from './module-builtin.js';
import { evadeRunTimeCode, globalThisIdiom } from './compartment-transforms.js';
import { adaptBuiltin } from './builtin-adapters.js';
import { timersFor } from './shared-globals.js';
import { hardenForPackage, sweepLoaded } from './boundary.js';
import { makeCompartmentError } from './stack-traces.js';
import type { ModuleCache } from '../cache/module-cache.js';
import { APP_MODULE_SCHEME, appModuleRecord, appModuleRecordNow, appModuleSpecifier, isAppModuleSpecifier, requireAppModule } from './app-modules.js';
import type { CjsModule, CompartmentLike, LinkTarget, ModuleContext } from '../formats/context.js';
import { compartmentInternals, isAsyncGraphRefusal } from './module-evaluation.js';
import { requireAsyncModuleError } from './require-async.js';
import { rememberAwaiting } from '../graph/async-graph.js';
import { throughRequireChain } from './require-chain.js';
import { agentAfterLoader, hooksModuleLoading } from '../report/agents.js';
import { adder, builtinImportNames, observedModule, recordBuiltin, type UsageRecorder } from './usage.js';
import { parse as lexEsm } from 'es-module-lexer';
import { ownerOf, setRefusalMessage, viewFor, type ViewOwner } from './export-views.js';
import { setImportTransform } from './import-views.js';
import { envRefusal, strictRefusal } from '../report/strict-denials.js';
import { childCompartments, type ChildCompartmentCtor } from './child-compartments.js';
import { makeReadPowers } from './read-powers.js';

interface SesCompartment extends CompartmentLike {
  globalThis: Record<PropertyKey, unknown>;
}

type CompartmentCtor = new (options: Record<string, unknown>) => SesCompartment;

declare const Compartment: CompartmentCtor;

export interface RuntimeOptions {
  packageMap: PackageMap;
  cache?: ModuleCache;
  policy: LavaMoatPolicy;
  files: PolicyFiles;
  host: HostGlobals;
  /** Set only when recording (usage.ts): the runtime then observes what each package uses. */
  usage?: UsageRecorder;
  /**
   * Strict mode (config `strict`): what a package gets of another package's exports is a
   * read-only view unless its policy grants `"write"` on it (export-views.ts), and read
   * grants of object globals are read-only (endowments.ts).
   */
  strict?: boolean;
}

export class Runtime implements ModuleContext {
  readonly cjsRegistry = new Map<string, CjsModule>();
  readonly requireParents = new Map<string, string>();
  /** Dependency files the app required first: the app's require stack to them, when asked. */
  private readonly appRequirers = new Map<string, () => string[]>();
  /** Per compartment location: defines its granted globals, once, before its first module. */
  private readonly pendingGlobals = new Map<string, () => void>();
  mainURL: string | undefined;
  mainModule: CjsModule | undefined;
  private readonly compartments = new Map<string, SesCompartment>();
  private readonly byLocation = new Map<string, PackageInfo>();
  private readonly grants = new Map<string, Map<string, BuiltinGrant>>();
  /**
   * Per compartment location: the `lavamoat-app:` specifiers `link()` made for it (each
   * checked against its policy). Its import hooks answer no other: a child compartment's
   * module descriptor (`{ namespace: 'lavamoat-app:data:...' }`) names a specifier in
   * its parent compartment directly, without the resolve hook.
   */
  private readonly appLinks = new Map<string, Set<string>>();
  /**
   * Strict mode, per compartment location: the specifiers `link()` made for modules of
   * other packages whose exports that compartment sees as views, and whose they are.
   */
  private readonly viewLinks = new Map<string, Map<string, ViewOwner>>();
  private readonly locationOf = new WeakMap<object, string>();
  private started: Promise<void> | undefined;
  /** Recording only: see {@link Runtime.noteEsm}. */
  readonly noteEsmSource: ((info: PackageInfo, source: string) => void) | undefined;

  constructor(private readonly options: RuntimeOptions) {
    this.noteEsmSource = options.usage && ((info, source) => this.noteEsm(info, source));
    for (const info of options.packageMap.data.packages) this.byLocation.set(info.location, info);
    // LavaMoat's (deprecated) module substitutions change what code runs: refuse them
    // rather than run the app with them silently ignored.
    const resolutions = options.policy.resolutions;
    if (resolutions && Object.values(resolutions).some((entries) => Object.keys(entries ?? {}).length > 0)) {
      throw new Error(
        `LavaMoat: ${options.files.policy}: "resolutions" (module substitutions, deprecated in LavaMoat) are not supported by this runtime; ` +
          'remove them, or replace the modules they name in the packages themselves.',
      );
    }
    if (options.strict) this.startStrictMode();
  }

  /** Strict mode: the hooks through which what one package imports of another is viewed. */
  private startStrictMode(): void {
    const transforms = new Map<ViewOwner, (value: unknown) => unknown>();
    setImportTransform((compartment, specifier) => {
      const location = this.locationOf.get(compartment);
      const owner = location === undefined ? undefined : this.viewLinks.get(location)?.get(specifier);
      if (owner === undefined) return undefined;
      let transform = transforms.get(owner);
      if (!transform) transforms.set(owner, (transform = (value: unknown) => viewFor(value, owner)));
      return transform;
    });
    setRefusalMessage((owner, action, key) => strictRefusal(owner, action, key, this.writerOf(), this.options.files));
  }

  /**
   * The package whose code is changing a view, for the refusal's message only (a stack
   * can be made to say anything; nothing is decided by it): the closest frame in a
   * package's file.
   */
  private writerOf(): string | undefined {
    const stack = String(new Error().stack);
    for (const match of stack.matchAll(/\n\s+at (?:.*?\()?(file:\/\/[^():]+|\/[^():]+):\d+:\d+/g)) {
      let file = match[1]!;
      try {
        if (file.startsWith('file:')) file = fileURLToPath(file);
      } catch {
        continue;
      }
      if (file.startsWith(RUNTIME_DIR)) continue;
      const info = this.packageMap.packageForPath(file);
      if (info) return info.name;
    }
    return undefined;
  }

  /**
   * Strict mode: whose read-only views `from` gets of what `target` exports; undefined
   * when it gets the exports themselves (its own package, the trusted app, a package its
   * policy grants "write").
   */
  private viewOwner(from: PackageInfo, target: PackageInfo, specifier: string): ViewOwner | undefined {
    if (!this.options.strict || target === from) return undefined;
    const resource = this.resource(from);
    if (resource === undefined || resource.packages?.[target.name] === 'write') return undefined;
    const owner = ownerOf('package', target.name);
    let links = this.viewLinks.get(from.location);
    if (!links) this.viewLinks.set(from.location, (links = new Map()));
    links.set(specifier, owner);
    return owner;
  }

  /** `root.usePolicy` is set: the app's own package runs in a compartment too. */
  get rootConfined(): boolean {
    return this.options.policy.root?.usePolicy !== undefined;
  }

  get cache(): ModuleCache | undefined {
    return this.options.cache;
  }

  get packageMap(): PackageMap {
    return this.options.packageMap;
  }

  packageAt(location: string): PackageInfo {
    const info = this.byLocation.get(location);
    if (!info) throw new Error(`LavaMoat: no package at ${location}`);
    const pending = this.pendingGlobals.get(location);
    if (pending) {
      this.pendingGlobals.delete(location);
      pending();
      const usage = this.options.usage;
      if (usage && this.resource(info) !== undefined) {
        const record = usage.of(this.resourceName(info));
        if (!record.loaded) {
          record.loaded = true;
          usage.changed();
        }
      }
    }
    return info;
  }

  private resource(info: PackageInfo) {
    return resourceFor(info, this.options.policy);
  }

  /** The policy's name for `info`'s resource (the app's own is `root.usePolicy`'s). */
  private resourceName(info: PackageInfo): string {
    return info.name === ROOT_NAME ? (this.options.policy.root?.usePolicy ?? ROOT_NAME) : info.name;
  }

  /** Recording: `info` linked to package `target`. */
  private recordPackage(info: PackageInfo, target: string): void {
    const usage = this.options.usage;
    if (!usage || this.resource(info) === undefined) return;
    adder(usage.of(this.resourceName(info)).packages, usage)(target);
  }

  link(from: PackageInfo, specifier: string, parentPath: string, kind: ResolveKind): LinkTarget {
    const resolved = resolveSpecifier(specifier, parentPath, kind);
    if (resolved.kind === 'builtin') {
      this.builtinGrant(from, resolved.name);
      return { kind: 'builtin', specifier: `node:${resolved.name}`, name: resolved.name };
    }
    const target = this.packageMap.packageForPath(resolved.path);
    if (target !== from) {
      const resource = this.resource(from);
      if (!target) {
        throw denied(from.name, 'file', `to load ${resolved.path}`, this.options.files, `from '${specifier}'`);
      }
      if (resource !== undefined && !isGranted(resource.packages?.[target.name])) {
        // An agent loaded by a package: the denial would send the user to the policy, where
        // no grant makes it work (report/agents.ts).
        if (hooksModuleLoading(target.packageName)) throw agentAfterLoader(`package "${from.name}"`, target.packageName, resolved.path);
        const detail = target.name === ROOT_NAME ? `the app's module ${resolved.path}, from '${specifier}'` : `'${specifier}' from ${parentPath}`;
        throw denied(from.name, 'package', target.name, this.options.files, detail);
      }
      if (this.options.usage) this.recordPackage(from, target.name);
      if (target.name === ROOT_NAME && !this.rootConfined) {
        // LavaMoat's `"packages": { "$root$": true }`: the app's module runs as app code.
        const specifier = appModuleSpecifier(resolved.url);
        let linked = this.appLinks.get(from.location);
        if (!linked) this.appLinks.set(from.location, (linked = new Set()));
        linked.add(specifier);
        const view = this.viewOwner(from, target, specifier);
        return { kind: 'app', specifier, url: resolved.url, path: resolved.path, ...(view ? { view } : {}) };
      }
    }
    // Spelled from the target's directory (a file system that ignores case lets a path name
    // it otherwise): compartment-mapper finds a module's compartment by that prefix.
    const file = this.packageMap.pathIn(target!, resolved.path);
    const url = file === resolved.path ? resolved.url : pathToFileURL(file).href;
    const specifierInTarget = target === from ? `./${url.slice(from.location.length)}` : url;
    const view = target === from ? undefined : this.viewOwner(from, target!, specifierInTarget);
    return { kind: 'file', specifier: specifierInTarget, url, path: file, ...(view ? { view } : {}) };
  }

  private builtinGrant(info: PackageInfo, name: string): BuiltinGrant {
    const resource = this.resource(info);
    if (resource === undefined) return { whole: true };
    let grants = this.grants.get(info.name);
    if (!grants) {
      grants = builtinGrants(resource.builtin);
      this.grants.set(info.name, grants);
    }
    const grant = grants.get(name);
    if (!grant) throw denied(info.name, 'builtin', name, this.options.files);
    if (this.options.usage) recordBuiltin(this.options.usage, this.resourceName(info), name);
    return grant;
  }

  requireCommonJs(target: { url: string; path: string }): CjsModule | undefined {
    const info = this.packageMap.packageForPath(target.path);
    const compartment = info && this.compartments.get(info.location);
    if (!info || !compartment) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(target.path);
    } catch {
      return undefined; // the module loader reports it
    }
    const source = decodeSource(bytes);
    if (fileFormat(target.path, () => source) !== 'commonjs') return undefined;
    this.packageAt(info.location); // its granted globals, before its first module runs
    return requireCommonJs(this, info, target.url, source, bytes, compartment);
  }

  assertOwnCompartment(info: PackageInfo, compartment: unknown, file: string): void {
    if (compartment === undefined || compartment !== this.compartments.get(info.location)) {
      throw new Error(
        `LavaMoat: ${file} (package "${info.name}") runs only in its own package's compartment, not in a compartment a package made: ` +
          'a child compartment links to it with a { namespace } module descriptor, not { source }',
      );
    }
  }

  requireAppModule(url: string): unknown {
    return requireAppModule(url);
  }

  requireHooks(request: string, requirer: string, exports: unknown): unknown {
    return throughRequireChain(request, requirer, exports);
  }

  /**
   * A `lavamoat-app:` specifier reaching the import hooks of `location`'s compartment:
   * only one `link()` made there (so checked against its policy) is loaded.
   */
  private appModuleLinked(location: string, specifier: string): void {
    if (this.appLinks.get(location)?.has(specifier)) return;
    const info = this.byLocation.get(location);
    const url = specifier.slice(APP_MODULE_SCHEME.length);
    throw denied(info?.name ?? location, 'file', `to load ${url}`, this.options.files, `'${specifier}' was not linked by this package's policy`);
  }

  /**
   * Where a module specifier reaching the import hooks of `info`'s compartment (at
   * `location`) names a file of another package: that package's compartment, as a
   * redirect, once `info`'s policy grants the package; undefined for `info`'s own files
   * and for everything that is not a file. compartment-mapper's asynchronous import hook
   * (every `import()`) took any file under the compartment's own directory for its own,
   * so a package's nested dependency (`a/node_modules/b`, canonical name `a>b`) ran in
   * `a`'s compartment, with `a`'s grants, when `a` imported it (docs/attacks.md, case
   * 310); a relative specifier into `node_modules/` (a child compartment's module
   * descriptor) did so in both hooks. The owner is the package map's.
   */
  foreignModule(info: PackageInfo, location: string, specifier: string): { specifier: string; compartment: SesCompartment } | undefined {
    // Most modules are the package's own, named from its location without `node_modules`
    // (below the root, a package inside another's directory is in a `node_modules` folder
    // of it: graph/package-map.ts; the app's directory also holds its workspaces).
    // (The URL parser drops tabs and line breaks and reads a backslash as `/`: such text is looked up.)
    const plain = (rest: string): boolean => info.name !== ROOT_NAME && !/node_modules|\.\.|%|[\t\n\r\\]/i.test(rest);
    if (specifier.startsWith('./') && plain(specifier)) return undefined;
    let url: URL;
    try {
      if (specifier.startsWith('/')) url = pathToFileURL(specifier);
      else if (specifier.startsWith('file:') || specifier.startsWith('./') || specifier.startsWith('../')) url = new URL(specifier, location);
      else return undefined;
    } catch {
      return undefined;
    }
    if (url.protocol !== 'file:') return undefined;
    if (url.href.startsWith(location) && plain(url.href.slice(location.length))) return undefined;
    let file: string;
    try {
      file = fileURLToPath(url);
    } catch {
      return undefined;
    }
    const owner = this.packageMap.packageForPath(file);
    if (owner === undefined || owner === info || (owner.name === ROOT_NAME && !this.rootConfined)) return undefined;
    const compartment = this.compartments.get(owner.location);
    if (!compartment) return undefined;
    const resource = this.resource(info);
    if (resource !== undefined && !isGranted(resource.packages?.[owner.name])) {
      throw denied(info.name, 'package', owner.name, this.options.files, `'${specifier}' from its compartment's import hook`);
    }
    const href = pathToFileURL(this.packageMap.pathIn(owner, file)).href;
    return { specifier: `./${href.slice(owner.location.length)}`, compartment };
  }

  assertNative(info: PackageInfo, file: string): void {
    const resource = this.resource(info);
    if (resource !== undefined && resource.native !== true) {
      throw denied(info.name, 'native', file, this.options.files);
    }
    const usage = this.options.usage;
    if (usage && resource !== undefined) {
      const record = usage.of(this.resourceName(info));
      if (!record.native) {
        record.native = true;
        usage.changed();
      }
    }
  }

  /**
   * Recording: the names an ES module of `info` imports from builtins (its bindings are
   * copied when it links, so reading them cannot be observed). Only for builtins its
   * policy grants; a denied one fails at the link.
   */
  private noteEsm(info: PackageInfo, source: string): void {
    const usage = this.options.usage;
    if (!usage || this.resource(info) === undefined) return;
    let imports;
    try {
      imports = lexEsm(source)[0];
    } catch {
      return;
    }
    const found = builtinImportNames(source, imports, (specifier) => builtinName(specifier));
    for (const [module, names] of found) {
      try {
        this.builtinGrant(info, module);
      } catch {
        continue;
      }
      for (const name of names) recordBuiltin(usage, this.resourceName(info), module, name);
    }
  }

  explain(error: unknown, info: PackageInfo): void {
    const globals = this.resource(info)?.globals;
    if (globals === undefined && info.name === ROOT_NAME) return;
    explainMissingGlobal(error, {
      packageName: info.name,
      files: this.options.files,
      isGranted: (path) => {
        const parts = path.split('.');
        return parts.some((_, i) => {
          const value = globals?.[parts.slice(0, i + 1).join('.')];
          return value !== undefined && value !== false;
        });
      },
      hostHas: (name) => name in this.options.host,
      // Only the package's own files: the frame is read from the error's `stack`, which
      // the package may have written (a file of the app's, any file of the machine: its
      // lines were an oracle read with the runtime's file system).
      // Judged by the real path, and read there: a symlink in the package's directory
      // names by such a path any file it points at (case 311).
      sourceLine: (file, line) => {
        const real = isFileIn(info.dir, file) ? realFileOf(file) : undefined;
        return real !== undefined && this.packageMap.packageForPath(real) === info ? sourceLine(real, line) : undefined;
      },
    });
  }

  /**
   * `import()` from code built at run time (the Function constructor), which has no
   * module of its own: specifiers resolve from the closest module of the package on the
   * call stack, as they would from the code that built it; the policy is the package's.
   */
  dynamicImport(info: PackageInfo, specifier: string, compartment: SesCompartment): Promise<unknown> {
    try {
      let parentPath = `${info.dir}/package.json`;
      for (const match of String(new Error().stack).matchAll(/(file:\/\/[^\s():]+):\d+:\d+/g)) {
        const file = fileURLToPath(match[1]!);
        if (this.packageMap.packageForPath(file) === info) {
          parentPath = file;
          break;
        }
      }
      const target = this.link(info, specifier, parentPath, 'import');
      const owner = target.kind === 'builtin' ? undefined : target.view;
      if (owner !== undefined) return compartment.import(target.specifier).then((namespace) => viewFor(namespace, owner));
      return compartment.import(target.specifier);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `module.createRequire(filename)` for package `info`: a require rooted in `info` itself
   * or in a package its policy lists, resolving as Node would from there, and loading only
   * what `info` may load (`link()` checks each result against `info`'s policy; every
   * module runs in its own package's compartment). Rooted in the app's package (or given
   * the app's directory itself, as config 5 gives `process.cwd()`, which Node roots in
   * the directory above) only with LavaMoat's `"$root$"` grant, the policy's way of
   * listing the app: then the app's files it loads run as app code, as they do for a
   * package granted `$root$`. Rooted anywhere else it is refused: in an ungranted
   * package (or the app) with the entry that would grant it, in no package with no entry,
   * since none can allow loading those.
   */
  private requireFor(info: PackageInfo, filename: string): unknown {
    const real = realRoot(filename);
    let root = this.packageMap.packageForPath(real);
    const given = root?.name === ROOT_NAME || !path.isAbsolute(filename) ? undefined : this.packageMap.packageForPath(path.join(filename, 'package.json'));
    if (given?.name === ROOT_NAME && path.resolve(filename) === given.dir) root = given;
    if (root !== info) {
      // Where `..` or a symlink moved it, the message says where it really is.
      const shown = real === filename ? filename : `${filename}, that is ${real}`;
      if (!root) {
        throw denied(info.name, 'file', `to create a require for ${shown}`, this.options.files, 'module.createRequire: in no package of the dependency tree');
      }
      const resource = this.resource(info);
      if (resource !== undefined && !isGranted(resource.packages?.[root.name])) {
        throw denied(info.name, 'package', root.name, this.options.files, `module.createRequire(${shown})`);
      }
      if (this.options.usage) this.recordPackage(info, root.name);
    }
    const compartment = this.compartments.get(info.location);
    if (!compartment) throw new Error(`LavaMoat: no compartment for ${info.name}`);
    return makeRequire(this, info, filename, compartment);
  }

  /** Adds a policy hint to an error thrown by dependency code, found from its stack. */
  explainError(error: Error): void {
    const stack = typeof error.stack === 'string' ? error.stack : '';
    for (const match of stack.matchAll(/\n\s+at (?:.*?\()?(file:\/\/[^():]+|\/[^():]+):\d+:\d+/g)) {
      const file = match[1]!.startsWith('file:') ? fileURLToPath(match[1]!) : match[1]!;
      const info = this.packageMap.packageForPath(file);
      if (info && info.name !== ROOT_NAME) {
        this.explain(error, info);
        return;
      }
    }
  }

  /** The exit module for a builtin, narrowed to what the importing package was granted. */
  private exitModule(specifier: string, packageLocation: string) {
    const name = builtinName(specifier);
    if (name === undefined) return undefined;
    const info = this.packageAt(packageLocation);
    const grant = this.builtinGrant(info, name);
    const confined = this.resource(info) !== undefined;
    // Recording: the members the package reads (not while its bindings are made, below).
    const usage = confined ? this.options.usage : undefined;
    let linking = false;
    const observe =
      usage &&
      ((member: string): boolean => {
        if (linking) return false;
        recordBuiltin(usage, this.resourceName(info), name, member);
        return true;
      });
    // Its classes (and those of the modules whose objects it hands out) are hardened first.
    hardenForPackage(name);
    let value: object;
    if (grant.whole && !confined) value = hostBuiltin(name);
    else {
      const source = adaptBuiltin(name, hostBuiltin(name), {
        packageName: info.name,
        native: this.resource(info)?.native === true,
        timers: () => timersFor(this.options.host),
        namesMember: (member) => {
          const builtin = this.resource(info)?.builtin;
          return builtin?.[`${name}.${member}`] === true || builtin?.[`node:${name}.${member}`] === true;
        },
        grants: (member) => {
          const builtin = this.resource(info)?.builtin;
          return grant.whole || builtin?.[`${name}.${member}`] === true || builtin?.[`node:${name}.${member}`] === true;
        },
        // A package may start workers on its own files and on packages it is granted.
        mayRun: (file) => {
          const target = this.packageMap.packageForPath(file);
          // The app's files too, with `"packages": { "$root$": true }` (worker pools): the
          // worker then runs them as app code, as the app's own worker would.
          return target === info || (target !== undefined && isGranted(this.resource(info)?.packages?.[target.name]));
        },
      });
      value = builtinFor(name, grant, source, observe, {
        packageName: info.name,
        // A builtin grant names `process` members as `process.<member>`, as globals do.
        names: (key) => {
          const builtin = this.resource(info)?.builtin;
          return builtin?.[key] === true || builtin?.[`node:${key}`] === true;
        },
      });
    }
    if (name === 'module' && confined) {
      value = confineModuleBuiltin(
        hostBuiltin('module') as Record<string, unknown>,
        value,
        grant.whole,
        (filename) => this.requireFor(info, filename),
        // Source maps (their sources' text) of files the package may load: its own, and
        // its granted packages' (not the app's, even with `$root$`: its modules' text is not
        // what that grant hands out).
        (file) => {
          let real: string;
          try {
            real = realRoot(file);
          } catch {
            return false;
          }
          const target = this.packageMap.packageForPath(real);
          return target === info || (target !== undefined && target !== this.packageMap.root && isGranted(this.resource(info)?.packages?.[target.name]));
        },
      );
    }
    const names = typeof value === 'object' || typeof value === 'function' ? Object.keys(value) : [];
    // Recording: a whole module's own copy (not `process`, nor a module that is a
    // function) is handed out behind a proxy that records the members read.
    const handed =
      observe && grant.whole && name !== 'process' && typeof value === 'object' && value !== null ? observedModule(value, observe) : value;
    // A namespace lists its names sorted (SES keeps a record's order).
    const exportNames = [...new Set([...names.filter((n) => n !== 'default'), 'default'])].sort();
    return Object.freeze({
      imports: [],
      exports: exportNames,
      execute(env: Record<string, unknown>) {
        // Named bindings are copied now: what an ES module imports by name is recorded
        // from its import statements (noteEsm), not here.
        linking = true;
        try {
          for (const key of names) if (key !== 'default') env[key] = (value as Record<string, unknown>)[key];
        } finally {
          linking = false;
        }
        env.default = handed;
      },
    });
  }

  private makeCompartmentClass(): CompartmentCtor {
    const runtime = this;
    return function LavaMoatCompartment(options: Record<string, unknown>) {
      const location = options.name as string;
      const info = runtime.byLocation.get(location);
      const importHook = options.importHook as (specifier: string) => Promise<unknown>;
      const importNowHook = options.importNowHook as (specifier: string) => unknown;
      const resolved = new Map<string, string>();
      const compartment = new Compartment({
        ...options,
        transforms: [...((options.transforms as unknown[]) ?? []), globalThisIdiom, evadeRunTimeCode],
        __noNamespaceBox__: true,
        // compartment-mapper's asynchronous exit hook is not told which package imports
        // (it passes the entry compartment), so builtins always take the synchronous
        // path, which is, and which enforces the same policy.
        // A file of another package is loaded in that package's compartment, decided here
        // (runtime.foreignModule), not by compartment-mapper's hooks.
        importHook: async (specifier: string) =>
          builtinName(specifier) !== undefined
            ? importNowHook(specifier)
            : isAppModuleSpecifier(specifier)
              ? (runtime.appModuleLinked(location, specifier), appModuleRecord(specifier))
              : (info && runtime.foreignModule(info, location, specifier)) ?? importHook(specifier),
        importNowHook: (specifier: string) =>
          isAppModuleSpecifier(specifier)
            ? (runtime.appModuleLinked(location, specifier), appModuleRecordNow(specifier))
            : (info && builtinName(specifier) === undefined && runtime.foreignModule(info, location, specifier)) || importNowHook(specifier),
        resolveHook: (specifier: unknown, referrer: string) => {
          if (!info) throw new Error(`LavaMoat: no package at ${location}`);
          if (referrer === ENTRY_SPECIFIER) throw new Error('LavaMoat: the entry module imports nothing');
          // `import(x)` converts x to a string; SES hands it over as it was given.
          const request = String(specifier);
          // Strict mode asks again when the module runs (import-views.ts): the answer is
          // remembered (resolution and the policy check give the same answer every time).
          const key = `${referrer}\n${request}`;
          const known = resolved.get(key);
          if (known !== undefined) return known;
          const parentPath = fileURLToPath(new URL(referrer, location));
          const full = runtime.link(info, request, parentPath, 'import').specifier;
          if (runtime.options.strict) resolved.set(key, full);
          return full;
        },
        importMetaHook: (specifier: string, meta: Record<string, unknown>) => {
          if (!info || typeof meta.url !== 'string' || !meta.url.startsWith('file:')) return;
          const filename = fileURLToPath(meta.url);
          meta.filename = filename;
          meta.dirname = filename.slice(0, filename.lastIndexOf('/')) || '/';
          // Node 22.18+ and 24.2+: whether this module is the process's entry (a bin's).
          if (HAS_IMPORT_META_MAIN) meta.main = meta.url === runtime.mainURL;
          meta.resolve = (request: string) => {
            const target = runtime.link(info, String(request), filename, 'import');
            return target.kind === 'builtin' ? `node:${target.name}` : target.url;
          };
          void specifier;
        },
      }) as SesCompartment;
      if (info) {
        const resource = runtime.resource(info);
        const own = compartment.globalThis;
        Object.defineProperties(own, universalEndowments(runtime.options.host));
        Object.defineProperty(own, 'Error', {
          value: makeCompartmentError(runtime.options.host.Error as never, own.Error as never),
          writable: true,
          enumerable: false,
          configurable: true,
        });
        // Node code reaches its global as `global`; it is the compartment's own.
        Object.defineProperty(own, 'global', { value: own, writable: true, enumerable: false, configurable: true });
        // `new Function('m', 'return import(m)')` (how CommonJS code that TypeScript or a
        // bundler emits reaches ES modules): the evasion transform turns that `import(`
        // into a call of this, the package's own confined dynamic import.
        Object.defineProperty(own, '__import__', {
          value: refusePhaseImports((specifier: unknown) => runtime.dynamicImport(info, String(specifier), compartment), info.name),
          writable: false,
          enumerable: false,
          configurable: false,
        });
        // Strict mode: a child compartment's module descriptor can name a module of this
        // package's compartment, which may be another package's (its exports): it gets
        // the view this package would.
        if (runtime.options.strict) {
          Object.defineProperty(own, 'Compartment', {
            value: childCompartments(info, compartment, own.Compartment as ChildCompartmentCtor, {
              packageMap: runtime.packageMap,
              writes: (target) => runtime.resource(info)?.packages?.[target.name] === 'write',
            }),
            writable: true,
            enumerable: false,
            configurable: true,
          });
        }
        pinGlobals(own, mutableGlobalNames(resource?.globals));
        const usage = resource === undefined ? undefined : runtime.options.usage;
        const record = usage && usage.of(runtime.resourceName(info));
        const observe = usage && record && { use: adder(record.globals, usage), unobserved: adder(record.unobserved, usage) };
        // The granted globals are made when the package's first module loads.
        runtime.pendingGlobals.set(location, () =>
          defineEndowments(
            own,
            makeEndowments(
              resource?.globals,
              runtime.options.host,
              (name) => Object.prototype.hasOwnProperty.call(own, name),
              observe,
              runtime.options.strict
                ? { packageName: info.name, envRefusal: (action, key) => envRefusal(info.name, action, key, runtime.options.files) }
                : undefined,
              info.name,
            ),
            runtime.options.host,
          ),
        );
        runtime.compartments.set(location, compartment);
        runtime.locationOf.set(compartment, location);
      }
      return compartment;
    } as unknown as CompartmentCtor;
  }

  /** Creates and links the compartments; runs no package code. */
  start(): Promise<void> {
    this.started ??= (async () => {
      const compartmentMap = buildCompartmentMap(this.packageMap, this.options.policy);
      const exitHook = (specifier: string, packageLocation: string) => this.exitModule(specifier, packageLocation);
      const application = await loadFromMap(makeReadPowers(this.packageMap) as never, compartmentMap as never, {
        parserForLanguage: { [NODE_LANGUAGE]: makeNodeParser(this) } as never,
        Compartment: this.makeCompartmentClass() as never,
        importNowHook: exitHook as never,
      });
      await application.import({
        modules: { [ENTRY_SPECIFIER]: {} },
        importHook: (async (specifier: string, packageLocation: string) => exitHook(specifier, packageLocation)) as never,
      } as never);
    })();
    return this.started;
  }

  private compartmentFor(path: string): { compartment: SesCompartment; info: PackageInfo; specifier: string } {
    const info = this.packageMap.packageForPath(path);
    if (!info || (info.name === ROOT_NAME && !this.rootConfined)) {
      throw new Error(`LavaMoat: ${path} does not belong to a confined package`);
    }
    const compartment = this.compartments.get(info.location);
    if (!compartment) throw new Error(`LavaMoat: the runtime has not started (no compartment for ${info.name})`);
    const url = pathToFileURL(this.packageMap.pathIn(info, path)).href;
    return { compartment, info, specifier: `./${url.slice(info.location.length)}` };
  }

  /**
   * The namespace of a dependency module, for an `import` from the app. Synchronous, so
   * that the app's imports evaluate one after the other in source order, as under Node
   * (an awaiting facade would let sibling imports interleave).
   */
  importModule(url: string, main = false): Record<string, unknown> {
    const { compartment, info, specifier } = this.entryFor(url, main);
    try {
      return compartment.importNow(specifier);
    } catch (error) {
      if (isAsyncGraphRefusal(error)) {
        // The hooks found no top-level await in this graph, the compiler did: the hooks'
        // answer was stale. This facade cannot wait; the next run's will.
        const file = fileURLToPath(url);
        if (this.cache) rememberAwaiting(this.cache, file, fs.readFileSync(file, 'utf8'));
        throw new Error(
          `LavaMoat: ${file} (package "${info.name}") imports a module with top-level await that the loader's hooks did not see ` +
            '(a file changed in a way their remembered answer missed); its facade cannot wait for it. The next run will.',
        );
      }
      this.explain(error, info);
      throw error;
    }
  }

  /**
   * For the facade of a module whose graph awaits at its top level: its evaluation
   * starts now, where Node would start it, and the facade awaits it (the graph may turn
   * out synchronous, then it is done at once). The namespace comes boxed: a module that
   * exports `then` is not a thenable to a static import.
   */
  importModuleAsync(url: string, main = false): Promise<{ namespace: Record<string, unknown> }> | { namespace: Record<string, unknown> } {
    const { compartment, info, specifier } = this.entryFor(url, main);
    let started: ReturnType<ReturnType<typeof compartmentInternals>['importNowAsync']>;
    try {
      started = compartmentInternals().importNowAsync(compartment, specifier);
    } catch (error) {
      this.explain(error, info);
      throw error;
    }
    const { namespace, evaluation } = started;
    if (!evaluation) return { namespace };
    return evaluation.then(
      () => ({ namespace }),
      (error: unknown) => {
        this.explain(error, info);
        throw error;
      },
    );
  }

  private entryFor(url: string, main: boolean) {
    if (!this.started) throw new Error('LavaMoat: the runtime has not started');
    const entry = this.compartmentFor(fileURLToPath(url));
    if (main) this.mainURL = `${entry.info.location}${entry.specifier.slice(2)}`;
    return entry;
  }

  requireStack(filename: string): string[] {
    const stack = [filename];
    for (let cursor = filename; ; ) {
      const parent = this.requireParents.get(cursor);
      if (parent === undefined || stack.includes(parent)) {
        stack.push(...(this.appRequirers.get(cursor)?.() ?? []));
        return stack;
      }
      stack.push(parent);
      cursor = parent;
    }
  }

  /**
   * What `require()` of a dependency module gives the app; `requireStack` lists the
   * requiring module and those that required it (for Node's error on an async graph).
   */
  requireModule(path: string, requireStack: () => string[] = () => []): unknown {
    if (!this.started) throw new Error('LavaMoat: the runtime has not started');
    // What the app loaded since: hardened before a package's code runs (boundary.ts).
    sweepLoaded();
    const { compartment, info, specifier } = this.compartmentFor(path);
    path = this.packageMap.pathIn(info, path);
    const url = pathToFileURL(path).href;
    const known = this.cjsRegistry.get(url);
    if (known) return known.exports;
    if (!this.requireParents.has(path) && !this.appRequirers.has(path)) this.appRequirers.set(path, requireStack);
    let namespace: Record<string, unknown>;
    try {
      const direct = this.requireCommonJs({ url, path });
      if (direct) return direct.exports;
      namespace = compartment.importNow(specifier);
    } catch (error) {
      if (isAsyncGraphRefusal(error)) throw requireAsyncModuleError(path, requireStack());
      this.explain(error, info);
      throw error;
    }
    const loaded = this.cjsRegistry.get(url);
    if (loaded) return loaded.exports;
    return Object.prototype.hasOwnProperty.call(namespace, 'module.exports') ? namespace['module.exports'] : namespace;
  }
}

/** `true` or this runtime's `"write"` (see policy/types.ts). */
const isGranted = (value: unknown): boolean => value === true || value === 'write';

/** Node gives ES modules `import.meta.main` (22.18+, 24.2+): so does the runtime, for packages' modules. */
const HAS_IMPORT_META_MAIN = typeof (import.meta as { main?: unknown }).main === 'boolean';

/** The runtime's own files (they never change a view themselves). */
const RUNTIME_DIR = fileURLToPath(new URL('../', import.meta.url));

const sourceLines = new Map<string, string[]>();
/** Whether `file` (a path or a file URL, as a stack frame names it) is inside directory `dir`. */
function isFileIn(dir: string, file: string): boolean {
  try {
    const resolved = path.resolve(file.startsWith('file:') ? fileURLToPath(file) : file);
    return resolved.startsWith(path.resolve(dir) + path.sep);
  } catch {
    return false;
  }
}

/** The real path of `file` (a path or a file URL), undefined when it does not exist. */
function realFileOf(file: string): string | undefined {
  try {
    return fs.realpathSync(path.resolve(file.startsWith('file:') ? fileURLToPath(file) : file));
  } catch {
    return undefined;
  }
}

function sourceLine(file: string, line: number): string | undefined {
  let lines = sourceLines.get(file);
  if (!lines) {
    try {
      lines = fs.readFileSync(file.startsWith('file:') ? fileURLToPath(file) : file, 'utf8').split('\n');
    } catch {
      return undefined;
    }
    sourceLines.set(file, lines);
  }
  return lines[line - 1];
}

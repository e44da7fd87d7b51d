/**
 * The app's own modules, loaded by a package whose policy grants LavaMoat's
 * `"packages": { "$root$": true }`: worker pools and task runners (piscina, tinypool,
 * workerpool, bree, log transports) that `import()` or `require()` a file the app
 * names. The module runs natively as app code, exactly as if the app had imported it
 * (its own imports of dependencies go through the facades as usual), and the package
 * receives its exports, as it would under plain node. Without the grant the link is
 * denied (runtime.ts `link`).
 *
 * A compartment reaches such a module under a specifier of its own scheme, which no
 * file or package specifier can spell (the resolver returns file URLs and `node:`
 * names only), and the compartment's import hooks answer it from here.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const APP_MODULE_SCHEME = 'lavamoat-app:';

export const appModuleSpecifier = (fileURL: string): string => `${APP_MODULE_SCHEME}${fileURL}`;

export const isAppModuleSpecifier = (specifier: string): boolean => specifier.startsWith(APP_MODULE_SCHEME);

/** The file URL a `lavamoat-app:` specifier names (runtime.ts makes only these). */
function fileURLOf(specifier: string): string {
  const url = specifier.slice(APP_MODULE_SCHEME.length);
  if (!url.startsWith('file:///')) throw new Error(`LavaMoat: ${specifier} does not name a file of the app`);
  return url;
}

interface ExitRecord {
  imports: string[];
  exports: string[];
  execute(env: Record<string, unknown>): void;
}

/** A record whose bindings are the values of `namespace` (a snapshot, as a facade's are). */
function recordOf(namespace: object): ExitRecord {
  const names = Object.keys(namespace);
  return Object.freeze({
    imports: [],
    exports: [...names].sort(),
    execute(env: Record<string, unknown>) {
      for (const name of names) env[name] = (namespace as Record<string, unknown>)[name];
    },
  });
}



/** For `import()` and the asynchronous module loader: Node's own `import()`. */
export async function appModuleRecord(specifier: string): Promise<ExitRecord> {
  // Imported from this runtime's own code, the hooks leave the module to Node: it runs
  // natively, as the app's (loader/hooks/hooks.ts `decide`).
  const namespace = (await import(fileURLOf(specifier))) as object;
  return recordOf(namespace);
}

/** The module's `module.exports` (or, for an ES module, its namespace where Node can require it). */
export function requireAppModule(fileURL: string): unknown {
  const file = fileURLToPath(fileURL);
  // A require rooted at the app's file: the require hook treats it as the app's own
  // require (loader/require-hook.ts), so the module runs natively.
  return createRequire(file)(file);
}

/** For the synchronous loader (a static import reached through `importNow`). */
export function appModuleRecordNow(specifier: string): ExitRecord {
  const value = requireAppModule(fileURLOf(specifier));
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) {
    return Object.freeze({ imports: [], exports: ['default'], execute: (env: Record<string, unknown>) => void (env.default = value) });
  }
  // What Node's ES module loader makes of a CommonJS module: its exports as names, and
  // `default`, unless the value is a namespace already (require of an ES module).
  if (Object.prototype.toString.call(value) === '[object Module]') return recordOf(value);
  const names = Object.keys(value).filter((name) => name !== 'default');
  return Object.freeze({
    imports: [],
    exports: [...names, 'default'].sort(),
    execute(env: Record<string, unknown>) {
      for (const name of names) env[name] = (value as Record<string, unknown>)[name];
      env.default = value;
    },
  });
}

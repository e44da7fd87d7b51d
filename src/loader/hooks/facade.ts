/**
 * Facade modules: what the app's native code gets when it imports a dependency. A
 * facade has the dependency's export names (known statically, as Node knows them) and
 * takes their values from the module the runtime evaluated in the package's
 * compartment. Bindings are a snapshot taken when the module finished evaluating, as
 * with Node's own CommonJS facades. A facade evaluates the dependency when Node evaluates
 * the facade, so imports run in the order Node would run them: synchronously, or, when
 * the dependency's module graph awaits at its top level, started synchronously and
 * awaited (the facade is then an async module itself, and delays only its importers).
 */
export const FACADE_SCHEME = 'lavamoat-confined:';
/** The process's entry point is in a dependency (a package's bin): it is `require.main`. */
export const MAIN_FACADE_SCHEME = 'lavamoat-confined-main:';

export const facadeURL = (fileURL: string, main = false): string =>
  `${main ? MAIN_FACADE_SCHEME : FACADE_SCHEME}${fileURL}`;

/** The file URL behind a facade URL, and whether it is the entry point; undefined for other URLs. */
export function parseFacadeURL(url: string): { fileURL: string; main: boolean } | undefined {
  if (url.startsWith(FACADE_SCHEME)) return { fileURL: url.slice(FACADE_SCHEME.length), main: false };
  if (url.startsWith(MAIN_FACADE_SCHEME)) return { fileURL: url.slice(MAIN_FACADE_SCHEME.length), main: true };
  return undefined;
}

export function facadeSource(fileURL: string, names: Iterable<string>, bridgeURL: string, main = false, awaits = false): string {
  const call = `(${JSON.stringify(fileURL)}${main ? ', true' : ''})`;
  const lines = awaits
    ? [`import { importModuleAsync } from ${JSON.stringify(bridgeURL)};`, `const { namespace: ns } = await importModuleAsync${call};`]
    : [`import { importModule } from ${JSON.stringify(bridgeURL)};`, `const ns = importModule${call};`];
  let i = 0;
  for (const name of names) {
    const local = `$${i++}`;
    lines.push(`const ${local} = ns[${JSON.stringify(name)}];`);
    lines.push(`export { ${local} as ${JSON.stringify(name)} };`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Facade modules: what the app's native code gets when it imports a dependency. A
 * facade has the dependency's export names (known statically, as Node knows them) and
 * takes their values from the module the runtime evaluated in the package's
 * compartment. Bindings are a snapshot taken when the module finished evaluating, as
 * with Node's own CommonJS facades. The facade has no top-level await: it evaluates the
 * dependency synchronously, so imports run in the order Node would run them.
 */
export const FACADE_SCHEME = 'lavamoat-confined:';

export const facadeURL = (fileURL: string): string => `${FACADE_SCHEME}${fileURL}`;

export function facadeSource(fileURL: string, names: Iterable<string>, bridgeURL: string): string {
  const lines = [
    `import { importModule } from ${JSON.stringify(bridgeURL)};`,
    `const ns = importModule(${JSON.stringify(fileURL)});`,
  ];
  let i = 0;
  for (const name of names) {
    const local = `$${i++}`;
    lines.push(`const ${local} = ns[${JSON.stringify(name)}];`);
    lines.push(`export { ${local} as ${JSON.stringify(name)} };`);
  }
  return `${lines.join('\n')}\n`;
}

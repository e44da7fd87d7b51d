/** `lavamoat help explain` (apart from src/cli/explain.ts, which args.ts need not load). */
export const EXPLAIN_HELP = `Usage: lavamoat explain <package> [resource] [options]

Says why <package> has each grant of its policy: the code that made the generator grant
it (file:line:column), the dependency paths that give the package its canonical name,
and what policy-override.json added, removed or narrowed. <package> is a canonical name
(express>debug), or a package name that only one package of the policy or the tree has.
[resource] narrows it to one grant: a builtin module or member (fs, fs.readFile, node:fs),
a global (process.env), a package (express>debug, or just debug), or native; the prefixes
builtin:, globals: and packages: pick the field.

The evidence is read from policy-debug.json (lavamoat generate --debug) when it exists;
otherwise the package's own modules are analysed as the generator analyses them, from the
package's entry points (what import and require of its name load). --entry walks the app
from its entry instead, as generate does, to find every module of the package the app
loads. Nothing is written.

Options:
      --json                    Machine-readable output on stdout
      --entry <file>            Evidence from a walk of the app from <file> (policy-debug.json is not read)
      --policy-debug <file>     Evidence file        [default: policy-debug.json next to the policy]
  -p, --policy <file>           Policy file          [default: lavamoat/node/policy.json]
  -o, --policy-override <file>  Override file        [default: lavamoat/node/policy-override.json]
      --root <dir>              Project root         [default: nearest package.json above the working directory]
      --dev                     Include the root's devDependencies in the dependency tree
      --no-cache                Analyse without the parse cache
      --verbose                 All the evidence (otherwise the first 3 places per grant)

Exit codes: 0 explained; 1 the policy cannot be loaded or the analysis failed; 2 usage
error (no such package, an ambiguous name, a bad option).
`;

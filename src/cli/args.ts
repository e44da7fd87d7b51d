/**
 * Command-line parsing for `lavamoat`, on `util.parseArgs`. Option names follow
 * @lavamoat/node's CLI (`--policy`/`-p`, `--policy-override`/`-o`, `--policy-debug`,
 * `--root`, `--bin`/`-b`, `--dev`, `--debug`, `--write`, `--verbose`, `--quiet`);
 * everything after `--` goes to the app untouched, as with Node.
 */
// By the module: `parseArgs` is a lazy export on Node 22+ (it loads its module when read),
// and the runtime's bundle reads every name imported from a builtin when it starts.
import util from 'node:util';
import { applyTrimArgs, TRIM_HELP } from './trim-args.js';
import { DIFF_HELP } from './diff-help.js';
import { EXPLAIN_HELP } from './explain-help.js';

export class UsageError extends Error {
  readonly code = 'LAVAMOAT_USAGE';
}

export type Command = 'run' | 'generate' | 'validate' | 'explain' | 'diff' | 'trim' | 'help' | 'version';

export interface CliArgs {
  command: Command;
  /** Entry module, bin name (with `--bin`) or, for `validate`, the policy file. */
  target?: string;
  /** Arguments for the app: what follows `--`, and positionals after the entry for `run`. */
  appArgs: string[];
  bin: boolean;
  root?: string;
  policy?: string;
  policyOverride?: string;
  policyDebug?: string;
  dev: boolean;
  debug: boolean;
  write: boolean;
  cache: boolean;
  cacheDir?: string;
  /** Worker threads for parsing; undefined for one per spare core. */
  jobs?: number;
  verbose: boolean;
  quiet: boolean;
  /** `help <command>` or `<command> --help`. */
  helpFor?: Command;
  /** `run --record <file>`: the recording file (cli/record-run.ts). */
  record?: string;
  /** `trim --recording <file>` (repeatable), `--out <file>`, `--keep-unloaded` (cli/trim.ts). */
  recordings?: string[];
  out?: string;
  keepUnloaded?: boolean;
  /** `explain <package> [resource]`, `diff <old> [new]`: the arguments after the command. */
  operands?: string[];
  /** `explain --json`, `diff --json` (= `--format json`). */
  json?: boolean;
  /** `diff --format text|markdown|json`, checked by the command. */
  format?: string;
  /** `diff --fail-on <level>`, checked by the command. */
  failOn?: string;
  /** `explain --entry <file>`: compute the evidence by walking the app from this entry. */
  entry?: string;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  bin: { type: 'boolean', short: 'b' },
  root: { type: 'string' },
  policy: { type: 'string', short: 'p' },
  'policy-override': { type: 'string', short: 'o' },
  'policy-debug': { type: 'string' },
  dev: { type: 'boolean' },
  debug: { type: 'boolean' },
  write: { type: 'boolean' },
  'no-write': { type: 'boolean' },
  cache: { type: 'boolean' },
  'no-cache': { type: 'boolean' },
  'cache-dir': { type: 'string' },
  jobs: { type: 'string', short: 'j' },
  verbose: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  record: { type: 'string' },
  recording: { type: 'string', multiple: true },
  out: { type: 'string' },
  'keep-unloaded': { type: 'boolean' },
  json: { type: 'boolean' },
  format: { type: 'string' },
  'fail-on': { type: 'string' },
  entry: { type: 'string' },
} as const;

const COMMANDS: Record<string, Command> = {
  run: 'run',
  generate: 'generate',
  gen: 'generate',
  validate: 'validate',
  trim: 'trim',
  explain: 'explain',
  diff: 'diff',
  help: 'help',
  version: 'version',
};

/** Which options each command accepts (the rest are usage errors, not silently ignored). */
const ALLOWED: Record<Command, ReadonlySet<string>> = {
  run: new Set(['help', 'bin', 'root', 'policy', 'policy-override', 'dev', 'verbose', 'quiet', 'record']),
  generate: new Set([
    'help',
    'bin',
    'root',
    'policy',
    'policy-override',
    'policy-debug',
    'dev',
    'debug',
    'write',
    'no-write',
    'cache',
    'no-cache',
    'cache-dir',
    'jobs',
    'verbose',
    'quiet',
  ]),
  validate: new Set(['help', 'root', 'policy', 'policy-override', 'verbose', 'quiet']),
  trim: new Set(['help', 'root', 'policy', 'policy-override', 'recording', 'out', 'keep-unloaded', 'verbose', 'quiet']),
  explain: new Set(['help', 'root', 'policy', 'policy-override', 'policy-debug', 'entry', 'dev', 'json', 'cache', 'no-cache', 'verbose', 'quiet']),
  diff: new Set(['help', 'root', 'policy', 'policy-override', 'format', 'json', 'fail-on', 'verbose', 'quiet']),
  help: new Set(['help']),
  version: new Set(['version']),
};

export function parseCli(argv: readonly string[]): CliArgs {
  const dashDash = argv.indexOf('--');
  const own = dashDash === -1 ? [...argv] : argv.slice(0, dashDash);
  const passthrough = dashDash === -1 ? [] : argv.slice(dashDash + 1);

  // `--bin=name` is accepted as a spelling of `--bin name`.
  const normalised: string[] = [];
  for (const arg of own) {
    const m = /^--bin=(.+)$/.exec(arg);
    if (m) normalised.push('--bin', m[1]!);
    else normalised.push(arg);
  }

  let parsed;
  try {
    parsed = util.parseArgs({ args: normalised, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const { values } = parsed;
  const positionals = [...parsed.positionals];

  let command: Command;
  const first = positionals[0];
  if (first !== undefined && Object.hasOwn(COMMANDS, first)) {
    command = COMMANDS[first]!;
    positionals.shift();
  } else if (values.version) {
    command = 'version';
  } else if (first === undefined) {
    command = 'help';
  } else {
    // `lavamoat app.mjs`: run, as LavaMoat's CLI does.
    command = 'run';
  }

  const result: CliArgs = {
    command,
    appArgs: [],
    bin: values.bin === true,
    dev: values.dev === true,
    debug: values.debug === true,
    write: values['no-write'] !== true,
    cache: values['no-cache'] !== true,
    verbose: values.verbose === true,
    quiet: values.quiet === true,
  };
  if (values.write === true && values['no-write'] === true) throw new UsageError('--write and --no-write contradict each other');
  if (values.cache === true && values['no-cache'] === true) throw new UsageError('--cache and --no-cache contradict each other');
  if (values.verbose && values.quiet) throw new UsageError('--verbose and --quiet contradict each other');

  if (command === 'help') {
    const topic = positionals[0];
    if (topic !== undefined) {
      if (!Object.hasOwn(COMMANDS, topic)) throw new UsageError(`unknown command '${topic}'`);
      result.helpFor = COMMANDS[topic];
    }
    return result;
  }
  if (values.help) {
    result.helpFor = command;
    result.command = 'help';
    return result;
  }

  for (const name of Object.keys(values)) {
    if (!ALLOWED[command].has(name)) throw new UsageError(`option --${name} does not apply to '${command}'`);
  }
  if (values.root !== undefined) result.root = values.root;
  if (values.policy !== undefined) result.policy = values.policy;
  if (values['policy-override'] !== undefined) result.policyOverride = values['policy-override'];
  if (values['policy-debug'] !== undefined) result.policyDebug = values['policy-debug'];
  if (values['cache-dir'] !== undefined) result.cacheDir = values['cache-dir'];
  if (values.jobs !== undefined) {
    const jobs = Number(values.jobs);
    if (!Number.isInteger(jobs) || jobs < 0) throw new UsageError(`--jobs ${values.jobs}: expected a whole number (0 parses on the main thread only)`);
    result.jobs = jobs;
  }

  switch (command) {
    case 'run':
      result.target = positionals.shift();
      if (result.target === undefined) {
        throw new UsageError(result.bin ? 'lavamoat run --bin needs the name of a bin' : 'lavamoat run needs an entry module');
      }
      // Node passes arguments after the entry to the app; so does `lavamoat run`.
      result.appArgs = [...positionals, ...passthrough];
      break;
    case 'generate':
      result.target = positionals.shift();
      if (result.target === undefined) {
        throw new UsageError(result.bin ? 'lavamoat generate --bin needs the name of a bin' : 'lavamoat generate needs an entry module');
      }
      if (positionals.length > 0 || passthrough.length > 0) {
        throw new UsageError(`lavamoat generate takes one entry, got also: ${[...positionals, ...passthrough].join(' ')}`);
      }
      break;
    case 'validate':
      result.target = positionals.shift() ?? result.policy;
      if (positionals.length > 0) throw new UsageError(`lavamoat validate takes one policy file, got also: ${positionals.join(' ')}`);
      break;
    case 'trim': {
      const problem = applyTrimArgs(result, values, positionals);
      if (problem !== undefined) throw new UsageError(problem);
      break;
    }
    case 'explain':
    case 'diff': {
      const [min, max, usage] = command === 'explain' ? [1, 2, '<package> [resource]'] : [1, 2, '<old> [new]'];
      const operands = [...positionals, ...passthrough];
      if (operands.length < min || operands.length > max) throw new UsageError(`usage: lavamoat ${command} ${usage}`);
      result.operands = operands;
      result.json = values.json === true;
      if (values.format !== undefined) result.format = values.format;
      if (values['fail-on'] !== undefined) result.failOn = values['fail-on'];
      if (values.entry !== undefined) result.entry = values.entry;
      break;
    }
    default:
      break;
  }
  if (values.record !== undefined) result.record = values.record;
  return result;
}

export const HELP: Record<Command | 'main', string> = {
  main: `Usage: lavamoat <command> [options]

Commands:
  lavamoat run <entry> [-- args]       Run an app with every dependency confined by its policy
  lavamoat run --bin <name> [-- args]  Run a dependency's bin (a build tool, say) confined
  lavamoat generate <entry>            Write lavamoat/node/policy.json for the app (alias: gen)
  lavamoat generate --bin <name>       Write the policy a dependency's bin needs
  lavamoat validate [policy]           Check a policy (merged with its override)
  lavamoat run --record <file> <entry> Run, and record what each package used (for trim)
  lavamoat trim --recording <file>     Keep only the grants recordings saw used
  lavamoat explain <package> [res]     Why a package has each grant: code, dependency paths, override
  lavamoat diff <old> [new]            Powers added and removed between two policies or git revisions
  lavamoat <entry> [-- args]           Same as lavamoat run <entry>

Options:
  -p, --policy <file>           Policy file          [default: lavamoat/node/policy.json]
  -o, --policy-override <file>  Override file        [default: lavamoat/node/policy-override.json]
      --root <dir>              Project root: the app's package.json directory
                                [default: nearest package.json above the entry]
  -b, --bin                     The target is the name of a bin of the root's dependencies
      --dev                     Include devDependencies
  -h, --help                    Show help (lavamoat help <command> for a command's options)
  -V, --version                 Show the version
      --verbose | -q, --quiet   More or less output on stderr

Relative policy paths are relative to the project root, as LAVAMOAT_POLICY is.
Environment: LAVAMOAT_PROJECT_ROOT, LAVAMOAT_POLICY, LAVAMOAT_POLICY_OVERRIDE (flags win).
`,
  run: `Usage: lavamoat run <entry> [args] [-- args]
       lavamoat run --bin <name> [-- args]

Runs \`node --import <lavamoat loader> <entry> args\` with the same Node binary, passing
the policy paths and project root to the loader through LAVAMOAT_* variables. The exit
code (or signal) of the app is lavamoat's own.

Options:
  -b, --bin                     Resolve <name> among the bins of the root's dependencies
  -p, --policy <file>           Policy file          [default: lavamoat/node/policy.json]
  -o, --policy-override <file>  Override file        [default: lavamoat/node/policy-override.json]
      --root <dir>              Project root         [default: nearest package.json above the entry]
      --dev                     Include devDependencies (for a bin from a devDependency)
      --record <file>           Record what each package uses, and every denial, in <file>
                                (JSON, written at exit; for lavamoat trim). Relative to the
                                project root. The same as LAVAMOAT_RECORD=<file>.
`,
  generate: `Usage: lavamoat generate <entry> [options]
       lavamoat generate --bin <name> [options]

Walks the module graph the loader would load from <entry>, analyses every module and
writes the policy the app needs. policy-override.json is read (for root.usePolicy) but
never written. TypeScript (.ts, .mts, .cts) is read with its types stripped, as Node
runs it (Node 22.13+). If a module of the app cannot be analysed, nothing is written and
the exit code is 1. Warnings come ranked: where a package will be denied something the
analysis could not see (with the override entry that grants it), code that fails under
the loader, then the rest in one line per package.

Options:
  -b, --bin                     Resolve <name> among the bins of the root's dependencies
  -p, --policy <file>           Where to write       [default: lavamoat/node/policy.json]
  -o, --policy-override <file>  Override to check the result against
                                [default: lavamoat/node/policy-override.json]
      --debug                   Also write policy-debug.json: for every grant, the file:line:column that caused it
      --policy-debug <file>     Where to write it    [default: policy-debug.json next to the policy]
      --root <dir>              Project root         [default: nearest package.json above the entry]
      --dev                     Include devDependencies
      --no-write                Print the policy to stdout instead of writing it
      --no-cache                Analyse every module again (no parse cache)
      --cache-dir <dir>         Parse cache location [default: node_modules/.cache/lavamoat/generate]
  -j, --jobs <n>                Worker threads that parse modules [default: one per core beyond two; 0: none]
      --verbose                 List every warning (otherwise the rest are summed up per package)
  -q, --quiet                   Only errors
`,
  validate: `Usage: lavamoat validate [policy] [options]

Validates a policy file and, when it exists, its override merged on top, exactly as the
loader does at start-up.

Options:
  -o, --policy-override <file>  Override file        [default: lavamoat/node/policy-override.json]
      --root <dir>              Project root         [default: the working directory's package]
`,
  trim: TRIM_HELP,
  explain: EXPLAIN_HELP,
  diff: DIFF_HELP,
  help: '',
  version: '',
};

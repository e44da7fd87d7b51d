/**
 * The `lavamoat` command (bin/lavamoat.mjs is a thin entry into {@link main}).
 *
 *   lavamoat run <entry> [-- args]        lavamoat generate <entry>
 *   lavamoat run --bin <name> [-- args]   lavamoat generate --bin <name>
 *   lavamoat validate [policy]            lavamoat <entry> (= run)
 *   lavamoat run --record <file> <entry>  lavamoat trim --recording <file>
 *   lavamoat explain <package> [resource] lavamoat diff <old> [new]
 *
 * Exit codes: the app's own for `run`; 0 on success, 1 on failure, 2 on a usage error
 * (`diff`: 1 when --fail-on trips, 2 also for a missing or invalid policy).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type ConfigOverrides } from '../config/index.js';
import { loadPolicy, PolicyError } from '../policy/index.js';
import { GenerateError } from '../generate/index.js';
import { HELP, parseCli, UsageError, type CliArgs } from './args.js';
import { BinNotFoundError } from './bin.js';
import { diffCommand } from './diff.js';
import { explainCommand } from './explain.js';
import { generateCommand } from './generate.js';
import { displayPath, makeOutput } from './output.js';
import { resolvePaths } from './paths.js';
import { runCommand } from './run.js';
import { trimCommand } from './trim.js';
import { RecordingError } from '../report/recording.js';

export { parseCli } from './args.js';
export { resolveBin } from './bin.js';

const packageJson = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');

export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function validateCommand(args: CliArgs, cwd: string): number {
  const out = makeOutput(process.stderr, args);
  const overrides: ConfigOverrides = {};
  if (args.root !== undefined) overrides.projectRoot = args.root;
  if (args.target !== undefined) overrides.policy = args.target;
  if (args.policyOverride !== undefined) overrides.policyOverride = args.policyOverride;
  const config = loadConfig({ cwd, entry: undefined, overrides });
  const { files } = loadPolicy({ policyPath: config.policyPath, overridePath: config.overridePath });
  out.info(`LavaMoat: ${files.map(displayPath).join(' + ')}: valid`);
  return 0;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`lavamoat: ${error.message}\nRun 'lavamoat --help' for usage.\n`);
      return 2;
    }
    throw error;
  }
  const out = makeOutput(process.stderr, args);
  try {
    switch (args.command) {
      case 'help':
        process.stdout.write(HELP[args.helpFor && args.helpFor !== 'help' && args.helpFor !== 'version' ? args.helpFor : 'main']);
        return 0;
      case 'version':
        process.stdout.write(`${version()}\n`);
        return 0;
      case 'validate':
        return validateCommand(args, process.cwd());
      case 'explain':
        return await explainCommand(args, process.stdout);
      case 'diff':
        return diffCommand(args, process.stdout, process.stderr);
      case 'generate': {
        const paths = resolvePaths(args);
        if (paths.bin) out.info(`LavaMoat: bin '${paths.bin}' is ${displayPath(paths.entry)}`);
        await generateCommand(args, paths, out, process.stdout);
        return 0;
      }
      case 'trim':
        return trimCommand(args, out, process.stdout);
      case 'run': {
        const paths = resolvePaths(args);
        if (paths.bin && args.verbose) out.info(`LavaMoat: bin '${paths.bin}' is ${displayPath(paths.entry)}`);
        return await runCommand(args, paths);
      }
      default:
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`lavamoat: ${error.message}\nRun 'lavamoat --help' for usage.\n`);
      return 2;
    }
    if (
      error instanceof PolicyError ||
      error instanceof ConfigError ||
      error instanceof BinNotFoundError ||
      error instanceof GenerateError ||
      error instanceof RecordingError
    ) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

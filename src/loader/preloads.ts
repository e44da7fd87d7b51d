/**
 * The modules `--import` runs before the app, in Node's order: those in `NODE_OPTIONS`,
 * then those on the command line (`--require` modules all run before any of them).
 *
 * Those after this loader (`node --import lavamoat/loader --import tsx app.ts`) are
 * preloads the user chose, as much as those before it: the hooks let exactly them load
 * natively (hooks/hooks.ts), instead of taking `tsx` for a dependency the app imports.
 * Node imports each of them once, before the entry, with the working directory's URL as
 * parent; no module has that URL, so no import of the app's can look the same.
 */
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { isThisLoader, splitNodeOptions } from '../confine/child-processes.js';

/** The `--import` values of `args` (an execArgv, or NODE_OPTIONS split as Node splits it), in order. */
export function importsOf(args: readonly string[]): string[] {
  const imports: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = String(args[i]);
    if (arg === '--import' && i + 1 < args.length) imports.push(String(args[++i]));
    else if (arg.startsWith('--import=')) imports.push(arg.slice('--import='.length));
  }
  return imports;
}

/**
 * The `--import` specifiers Node runs after this loader, as written (Node resolves them
 * as written); empty when the loader is not among them (a `lavamoat run` child names
 * it by URL, which {@link isThisLoader} recognises too).
 */
export function importsAfterLoader(
  loaderURL: string,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
  execArgv: readonly string[] = process.execArgv,
): string[] {
  const imports = [...importsOf(splitNodeOptions(nodeOptions ?? '')), ...importsOf(execArgv)];
  const at = imports.findIndex((specifier) => isThisLoader(specifier, loaderURL));
  return at === -1 ? [] : imports.slice(at + 1).filter((specifier) => !isThisLoader(specifier, loaderURL));
}

/** Whether `args` (an execArgv, or NODE_OPTIONS split) has a `--require` (`-r`) module. */
function requiresIn(args: readonly string[]): boolean {
  return args.some((arg) => arg === '--require' || arg === '-r' || String(arg).startsWith('--require='));
}

/**
 * Whether a module the user preloaded runs before this loader: any `--require` (they all
 * run before any `--import`), or an `--import` ahead of it. Such a module (an APM agent,
 * OpenTelemetry's register) may patch Node's modules when they first load, which the
 * boundary then leaves it time to do (confine/boundary.ts).
 */
export function preloadsBeforeLoader(
  loaderURL: string,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
  execArgv: readonly string[] = process.execArgv,
): boolean {
  const options = splitNodeOptions(nodeOptions ?? '');
  if (requiresIn(options) || requiresIn(execArgv)) return true;
  const imports = [...importsOf(options), ...importsOf(execArgv)];
  return imports.findIndex((specifier) => isThisLoader(specifier, loaderURL)) > 0;
}

/** The parent URL Node gives `--import` modules: the working directory's, with a trailing slash. */
export function preloadParentURL(): string {
  return pathToFileURL(process.cwd() + path.sep).href;
}

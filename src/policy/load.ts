/**
 * Reads `policy.json` and the optional `policy-override.json`, validates both,
 * merges them and validates the result. Synchronous on purpose: it runs once
 * at start-up, before anything else can usefully happen.
 */
import process from 'node:process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { mergePolicy } from './merge.js';
import type { LavaMoatPolicy, LavaMoatPolicyOverride, PolicyIssue, PolicyKind } from './types.js';
import { formatIssues, validateMergeResult, validatePolicy } from './validate.js';

export type PolicyErrorCode =
  /** `policy.json` does not exist. */
  | 'LAVAMOAT_POLICY_MISSING'
  /** A file exists but cannot be read (permissions, a directory, ...). */
  | 'LAVAMOAT_POLICY_UNREADABLE'
  /** A file is not valid JSON. */
  | 'LAVAMOAT_POLICY_PARSE'
  /** A file, or the merge of both, is not a valid policy. */
  | 'LAVAMOAT_POLICY_INVALID';

export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  /** The file at fault; for problems that only appear after merging, the override. */
  readonly file: string;
  /** The validation problems, when `code` is `LAVAMOAT_POLICY_INVALID`. */
  declare readonly issues: readonly PolicyIssue[];

  constructor(
    code: PolicyErrorCode,
    file: string,
    message: string,
    options: { issues?: readonly PolicyIssue[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = file;
    // Not enumerable: Node prints an uncaught error's own fields, and the
    // message already lists every issue.
    Object.defineProperty(this, 'issues', { value: options.issues ?? [] });
  }
}
// On the prototype for the same reason.
Object.defineProperty(PolicyError.prototype, 'name', { value: 'PolicyError', writable: true, configurable: true });

export interface LoadPolicyOptions {
  /** Usually `lavamoat/node/policy.json`; required to exist. */
  policyPath: string;
  /** Usually `lavamoat/node/policy-override.json`; used when it exists. */
  overridePath?: string;
}

export interface LoadedPolicy {
  /** The validated merge of the policy and the override. */
  policy: LavaMoatPolicy;
  /** Absolute paths of the files that were read, the policy first. */
  files: string[];
}

/**
 * Loads, validates and merges the policy files.
 * @throws {PolicyError} on a missing policy, unreadable or malformed JSON, or an invalid policy.
 */
export function loadPolicy({ policyPath, overridePath }: LoadPolicyOptions): LoadedPolicy {
  const policyFile = resolve(policyPath);
  const overrideFile = overridePath === undefined ? undefined : resolve(overridePath);

  const policyText = readPolicyText(policyFile);
  if (policyText === undefined) throw missingPolicyError(policyFile, overrideFile);
  const overrideText = overrideFile === undefined ? undefined : readPolicyText(overrideFile);
  return policyFromTexts({
    policyFile,
    policyText,
    ...(overrideFile !== undefined && overrideText !== undefined ? { overrideFile, overrideText } : {}),
  });
}

export interface PolicyTexts {
  /** Where the policy came from, for messages (a path, or `rev:path` for a file read from git). */
  policyFile: string;
  policyText: string;
  overrideFile?: string;
  /** Undefined when there is no override. */
  overrideText?: string;
}

/**
 * What {@link loadPolicy} does once it has read the files: parses, validates and merges
 * the texts, for callers that read them elsewhere (`lavamoat diff` reads them from git).
 * @throws {PolicyError} on malformed JSON or an invalid policy.
 */
export function policyFromTexts({ policyFile, policyText, overrideFile, overrideText }: PolicyTexts): LoadedPolicy {
  const policy: unknown = parseJson(policyText, policyFile);
  assertValidPolicy(policy, 'policy', policyFile);

  // Both inputs are valid by now, so the merge only needs the checks that
  // merging can newly fail (see validateMergeResult), not a second full walk.
  if (overrideFile === undefined || overrideText === undefined) {
    const merged = mergePolicy(policy);
    const issues = validateMergeResult(merged);
    if (issues.length > 0) throw invalidError(policyFile, displayPath(policyFile), issues);
    return { policy: merged, files: [policyFile] };
  }
  const override: unknown = parseJson(overrideText, overrideFile);
  assertValidPolicy(override, 'override', overrideFile);

  const merged = mergePolicy(policy, override);
  const issues = validateMergeResult(merged, override);
  if (issues.length > 0) {
    const label = `${displayPath(policyFile)} merged with ${displayPath(overrideFile)}`;
    throw invalidError(overrideFile, label, issues);
  }
  return { policy: merged, files: [policyFile, overrideFile] };
}

/**
 * Throws a `PolicyError` naming `file` unless `value` is a valid policy of
 * the given kind. For callers that build or receive policies in memory.
 */
export function assertValidPolicy(value: unknown, kind: 'override', file: string): asserts value is LavaMoatPolicyOverride;
export function assertValidPolicy(value: unknown, kind: 'policy' | 'merged', file: string): asserts value is LavaMoatPolicy;
export function assertValidPolicy(value: unknown, kind: PolicyKind, file: string): void {
  const issues = validatePolicy(value, kind);
  if (issues.length > 0) throw invalidError(file, displayPath(file), issues);
}

function invalidError(file: string, label: string, issues: readonly PolicyIssue[]): PolicyError {
  return new PolicyError('LAVAMOAT_POLICY_INVALID', file, formatIssues(label, issues), { issues });
}

/** The file's text, or undefined when there is no such file. */
function readPolicyText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new PolicyError(
      'LAVAMOAT_POLICY_UNREADABLE',
      file,
      `${displayPath(file)}: cannot read the policy file (${(error as Error).message})`,
      { cause: error },
    );
  }
}

function missingPolicyError(policyFile: string, overrideFile: string | undefined): PolicyError {
  const shown = displayPath(policyFile);
  const onlyOverride =
    overrideFile !== undefined && existsSync(overrideFile)
      ? ` ${displayPath(overrideFile)} exists, but an override only adjusts policy.json and cannot replace it.`
      : '';
  return new PolicyError(
    'LAVAMOAT_POLICY_MISSING',
    policyFile,
    `${shown}: no LavaMoat policy found.${onlyOverride} ` +
      'Run `npx lavamoat generate <entry>` (for example `npx lavamoat generate app.mjs`) to create it, ' +
      'review it, and commit it.',
  );
}

function parseJson(text: string, file: string): unknown {
  // Editors on Windows like to start files with a byte-order mark.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(source);
  } catch (error) {
    throw new PolicyError(
      'LAVAMOAT_POLICY_PARSE',
      file,
      `${displayPath(file)}: invalid JSON, ${describeJsonError(source)}`,
      { cause: error },
    );
  }
}

/**
 * Where and what the first syntax error is. V8 only sometimes puts a
 * position in its message (Node 20 often says `"..." is not valid JSON`,
 * quoting the whole file), so the text is scanned again; this only runs on
 * the error path.
 */
function describeJsonError(text: string): string {
  const offset = findJsonErrorOffset(text);
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  const what = offset >= text.length ? 'unexpected end of file' : `unexpected ${JSON.stringify(text[offset])}`;
  return `${what} at line ${line}, column ${offset - lineStart + 1}`;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4})/y;

/** Offset of the first character that makes `text` invalid JSON. */
function findJsonErrorOffset(text: string): number {
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i += 1;
  };
  const string = (): boolean => {
    i += 1; // opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i += 1;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        ESCAPE.lastIndex = i;
        if (!ESCAPE.test(text)) return false;
        i = ESCAPE.lastIndex;
      } else {
        i += 1;
      }
    }
    return false;
  };
  const value = (): boolean => {
    skipSpace();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i += 1;
      skipSpace();
      if (text[i] === close) {
        i += 1;
        return true;
      }
      for (;;) {
        if (c === '{') {
          skipSpace();
          if (text[i] !== '"' || !string()) return false;
          skipSpace();
          if (text[i] !== ':') return false;
          i += 1;
        }
        if (!value()) return false;
        skipSpace();
        if (text[i] === ',') i += 1;
        else if (text[i] === close) {
          i += 1;
          return true;
        } else return false;
      }
    }
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return true;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return true;
    }
    return false;
  };
  try {
    if (value()) {
      skipSpace();
    }
  } catch {
    // Nesting deep enough to overflow the stack: point at where we got to.
  }
  return i;
}

/** Relative to the working directory when inside it: shorter, and what users typed. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  const outside = rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
  return outside ? file : rel;
}

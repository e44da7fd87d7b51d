#!/usr/bin/env node
// `npm run bench`: on each Node of BENCH_NODES, the same apps under plain `node`, under a
// lockdown-only control (`--import bench/lib/lockdown-only.mjs`: SES loaded and locked
// down, nothing else) and under `node --import <repo>/loader.mjs`, alternating,
// BENCH_RUNS runs each; medians and both ratios; writes bench/RESULTS.md.
// See bench/README.md for what each measure is and the environment variables.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { killAll, run, start, usageMethod } from './lib/proc.mjs';
import { summarise } from './lib/modules.mjs';
import { summariseProfiles } from './lib/profile.mjs';
import { benchNodes } from './lib/nodes.mjs';
import { writeSynthApp } from './lib/synth.mjs';
import { fmt, median, mib, spread, times } from './lib/stats.mjs';
import { writeReport } from './lib/report.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.dirname(benchDir);
const loader = path.resolve(process.env.BENCH_LOADER || path.join(projectDir, 'loader.mjs'));
const control = path.join(benchDir, 'lib', 'lockdown-only.mjs');
const cli = path.join(projectDir, 'bin', 'lavamoat.mjs');
const workRoot = path.join(benchDir, '.work');

const int = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`${name} must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
};
const SECTIONS = ['tiny', 'service', 'synth', 'cpu', 'http', 'profile'];
const config = {
  runs: int('BENCH_RUNS', 7),
  // Cold start-ups are the slowest runs by far: fewer of them by default keeps the whole run short.
  coldRuns: Math.min(int('BENCH_COLD_RUNS', 5), int('BENCH_RUNS', 7)),
  requests: int('BENCH_REQUESTS', 2000),
  concurrency: int('BENCH_CONCURRENCY', 10),
  httpWarmup: int('BENCH_HTTP_WARMUP', 300),
  cpuIterations: int('BENCH_CPU_ITERATIONS', 600),
  cpuWarmup: int('BENCH_CPU_WARMUP', 150),
  synthPackages: int('BENCH_SYNTH_PACKAGES', 100),
  synthModules: int('BENCH_SYNTH_MODULES', 40),
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
// Environment for every child: the same for every variant, nothing inherited that changes
// how node starts (NODE_OPTIONS, Node's own compile cache), LAVAMOAT_CACHE set.

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

/** The Node the measures of the current section run on (set per BENCH_NODES entry). */
let node;

/** Node arguments and environment of one variant: 'plain', 'lockdown' (the control), 'warm' or 'cold'. */
function variant(kind, app) {
  if (kind === 'plain') return { nodeArgs: [], env: { ...baseEnv, LAVAMOAT_CACHE: '0' } };
  if (kind === 'lockdown') return { nodeArgs: ['--import', pathToFileURL(control).href], env: { ...baseEnv, LAVAMOAT_CACHE: '0' } };
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
// Set-up: fresh copies of the fixtures (the synthetic tree written), policies generated,
// modules counted, warm caches filled; once per Node.

function preflight() {
  if (!fs.existsSync(loader)) fail(`BENCH_LOADER: ${loader} does not exist`);
  if (!fs.existsSync(path.join(path.dirname(loader), 'dist', 'runtime', 'preload.js'))) fail(`${path.relative(process.cwd(), path.join(path.dirname(loader), 'dist'))} is missing: run \`npm ci\` (or \`npm run build\`) first`);
  if (!fs.existsSync(path.join(projectDir, 'dist', 'confine', 'lockdown-options.js'))) fail('dist/ is missing: run `npm ci` (or `npm run build`) first');
  for (const name of ['express', 'zod', 'pino', 'helmet', 'nanoid', 'ses']) {
    if (!fs.existsSync(path.join(projectDir, 'node_modules', name, 'package.json'))) fail(`node_modules/${name} is missing: run \`npm ci\` first`);
  }
}

async function prepareApp(name, workDir) {
  const dir = path.join(workDir, name);
  if (name === 'synth') {
    writeSynthApp(dir, { packages: config.synthPackages, modulesPerPackage: config.synthModules });
  } else {
    const source = path.join(benchDir, 'fixtures', name);
    // Leave out what a hand run of the fixture may have left there: its policy and caches.
    const leftOver = new Set([path.join(source, 'lavamoat'), path.join(source, 'node_modules', '.cache')]);
    fs.cpSync(source, dir, { recursive: true, filter: (file) => !leftOver.has(file) });
  }
  log(`  ${name}: lavamoat generate app.mjs`);
  const generated = await run({ label: `lavamoat generate (${name})`, cwd: dir, node, args: [cli, 'generate', 'app.mjs', '--quiet'], env: { ...baseEnv }, timeoutMs: T_GENERATE, readyPattern: /./ });
  const policy = JSON.parse(fs.readFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), 'utf8'));
  const listFile = path.join(tempDir('modules'), 'modules.txt');
  await run({
    label: `module count (${name}, plain node)`,
    cwd: dir,
    node,
    nodeArgs: ['--import', pathToFileURL(path.join(benchDir, 'lib', 'count-modules.mjs')).href],
    args: ['app.mjs'],
    env: { ...baseEnv, BENCH_MODULES_FILE: listFile },
    timeoutMs: T_START,
  });
  const app = { name, dir, generateMs: generated.wallMs, policyPackages: Object.keys(policy.resources ?? {}).length, graph: summarise(listFile), warmCache: tempDir(`${name}-warm`) };
  // The first loader run fills the warm cache and checks that the app runs under the loader;
  // the control is checked too, and must print what plain node prints.
  log(`  ${name}: priming the warm cache (one loader run), checking the control`);
  const primed = await run({ label: `${name} under the loader (priming the cache)`, cwd: dir, node, args: ['app.mjs'], ...variant('warm', app), timeoutMs: T_START });
  const plain = await run({ label: `${name} under plain node`, cwd: dir, node, args: ['app.mjs'], ...variant('plain', app), timeoutMs: T_START });
  const controlled = await run({ label: `${name} under the lockdown-only control`, cwd: dir, node, args: ['app.mjs'], ...variant('lockdown', app), timeoutMs: T_START });
  // The service prints its port after "ready": only the rest of the line must match.
  const comparable = (line) => (name === 'service' ? line?.split(' ')[0] : line);
  for (const [label, r] of [['the loader', primed], ['the control', controlled]]) {
    if (comparable(r.readyLine) !== comparable(plain.readyLine)) throw new Error(`${name}: under ${label} the app printed ${JSON.stringify(r.readyLine)}, under plain node ${JSON.stringify(plain.readyLine)}`);
  }
  app.cacheEntries = countFiles(app.warmCache, (f) => f.endsWith('.json'));
  return app;
}

function countFiles(dir, predicate) {
  let count = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile() && predicate(entry.name)) count += 1;
  return count;
}

// ---------------------------------------------------------------------------------------
// Measures. Each adds rows to the current Node's table and lines to its details.

let current; // { node, rows, details, failures, apps, profiles } of the Node being measured

/**
 * One row: values per variant (plain, lockdown, lavamoat), the ratios against plain and
 * against the control. `lowerIsBetter` for times and sizes; throughput rows give
 * plain/lavamoat as `time` values and say so with `throughput`.
 */
function row(measure, { plain, lockdown, lavamoat, show, throughput = false, target, met }) {
  const ratio = (base) => (base === undefined ? '—' : throughput ? `${times(base / lavamoat)} throughput` : times(lavamoat / base));
  current.rows.push({
    measure,
    plain: show(plain),
    lockdown: lockdown === undefined ? '—' : show(lockdown),
    lavamoat: show(lavamoat),
    vsPlain: ratio(plain),
    vsControl: ratio(lockdown),
    target,
    met,
  });
}

async function startupSeries(app, kinds) {
  const samples = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let i = 0; i < config.runs; i += 1) {
    for (const kind of rotate(kinds, i)) {
      if (kind === 'cold' && samples.cold.length >= config.coldRuns) continue;
      const v = variant(kind, app);
      const result = await run({ label: `${app.name} start-up (${kind}, run ${i + 1})`, cwd: app.dir, node, args: ['app.mjs'], nodeArgs: v.nodeArgs, env: v.env, timeoutMs: T_START });
      if (kind === 'cold') fs.rmSync(v.cache, { recursive: true, force: true });
      samples[kind].push(result);
    }
    log(`    run ${i + 1}/${config.runs}: ${kinds.filter((k) => samples[k].length === i + 1).map((k) => `${k} ${fmt(samples[k].at(-1).wallMs)} ms`).join(', ')}`);
  }
  const stat = (kind, pick) => median(samples[kind].map(pick));
  return {
    wall: (kind) => stat(kind, (r) => r.wallMs),
    ready: (kind) => stat(kind, (r) => r.readyMs),
    cpu: (kind) => stat(kind, (r) => r.usage.userMs + r.usage.sysMs),
    rss: (kind) => stat(kind, (r) => r.usage.maxRssKb),
    spread: (kind) => spread(samples[kind].map((r) => r.wallMs)),
  };
}

const ms = (n) => `${fmt(n)} ms`;
const STARTUP_KINDS = ['plain', 'lockdown', 'warm', 'cold'];

async function benchStartup(app, title, { cpuTarget, coldTarget, tinyTarget }) {
  log(`${title}: ${config.runs} runs each of plain, lockdown-only and loader (warm cache), ${config.coldRuns} of loader (cold cache)`);
  const s = await startupSeries(app, STARTUP_KINDS);
  const [p, l, w, c] = STARTUP_KINDS.map((k) => s.wall(k));
  if (tinyTarget) {
    row(`${title}, wall (warm cache)`, { plain: p, lockdown: l, lavamoat: w, show: ms, target: `≤ plain + ${tinyTarget} ms`, met: w - p <= tinyTarget });
  } else {
    row(`${title}, wall (warm cache)`, { plain: p, lockdown: l, lavamoat: w, show: ms, target: '—' });
  }
  row(`${title}, wall (cold cache)`, { plain: p, lockdown: l, lavamoat: c, show: ms, target: '—' });
  const [cp, cl, cw, cc] = STARTUP_KINDS.map((k) => s.cpu(k));
  row(`${title}, CPU user+sys (warm cache)`, { plain: cp, lockdown: cl, lavamoat: cw, show: ms, target: cpuTarget ? `≤ ${cpuTarget}× plain` : '—', met: cpuTarget ? cw / cp <= cpuTarget : undefined });
  row(`${title}, CPU user+sys (cold cache)`, { plain: cp, lockdown: cl, lavamoat: cc, show: ms, target: coldTarget ? `≤ ${coldTarget}× plain` : '—', met: coldTarget ? cc / cp <= coldTarget : undefined });
  const [rp, rl, rw] = ['plain', 'lockdown', 'warm'].map((k) => s.rss(k));
  row(`${title}, peak RSS (warm cache)`, { plain: rp, lockdown: rl, lavamoat: rw, show: mib, target: '≤ 1.4× plain', met: rw / rp <= 1.4 });
  current.details.push(
    `- **${title}** wall ms (min–max): plain ${s.spread('plain')}, lockdown-only ${s.spread('lockdown')}, warm ${s.spread('warm')}, cold ${s.spread('cold')}; ` +
      `time to the "ready" line (medians): plain ${fmt(s.ready('plain'))} ms, lockdown-only ${fmt(s.ready('lockdown'))} ms, warm ${fmt(s.ready('warm'))} ms, cold ${fmt(s.ready('cold'))} ms.`,
  );
}

const STEADY_KINDS = ['plain', 'lockdown', 'warm'];

async function benchCpu(app) {
  log(`CPU workload in a confined package: ${config.runs} runs each of plain, lockdown-only and loader (warm cache), ${config.cpuIterations} units after ${config.cpuWarmup} warm-up units`);
  const samples = { plain: [], lockdown: [], warm: [] };
  const checksums = new Set();
  for (let i = 0; i < config.runs; i += 1) {
    for (const kind of rotate(STEADY_KINDS, i)) {
      const v = variant(kind, app);
      const result = await run({ label: `CPU workload (${kind}, run ${i + 1})`, cwd: app.dir, node, args: ['cpu.mjs', String(config.cpuIterations), String(config.cpuWarmup)], nodeArgs: v.nodeArgs, env: v.env, timeoutMs: T_CPU, readyPattern: /^\{/ });
      const out = JSON.parse(result.readyLine);
      checksums.add(out.checksum);
      samples[kind].push({ ms: out.ms, rss: result.usage.maxRssKb });
    }
    log(`    run ${i + 1}/${config.runs}: ${STEADY_KINDS.map((k) => `${k} ${fmt(samples[k].at(-1).ms)} ms`).join(', ')}`);
  }
  if (checksums.size !== 1) throw new Error(`CPU workload: results differ between runs or variants (checksums ${[...checksums].join(', ')})`);
  const [p, l, w] = STEADY_KINDS.map((k) => median(samples[k].map((x) => x.ms)));
  row(`CPU workload, time for ${config.cpuIterations} units`, { plain: p, lockdown: l, lavamoat: w, show: ms, throughput: true, target: '≥ 0.97× lockdown-only', met: l / w >= 0.97 });
  const [rp, rl, rw] = STEADY_KINDS.map((k) => median(samples[k].map((x) => x.rss)));
  row('CPU workload, peak RSS', { plain: rp, lockdown: rl, lavamoat: rw, show: mib, target: '≤ 1.4× plain', met: rw / rp <= 1.4 });
  current.details.push(`- **CPU workload** ms (min–max): ${STEADY_KINDS.map((k) => `${k} ${spread(samples[k].map((x) => x.ms))}`).join(', ')}; same checksum in every run (${[...checksums][0]}).`);
}

async function benchHttp(app) {
  log(`HTTP on 127.0.0.1: ${config.runs} runs each of plain, lockdown-only and loader (warm cache), ${config.requests} requests at concurrency ${config.concurrency} after ${config.httpWarmup} warm-up requests`);
  const samples = { plain: [], lockdown: [], warm: [] };
  const load = path.join(benchDir, 'lib', 'load.mjs');
  for (let i = 0; i < config.runs; i += 1) {
    for (const kind of rotate(STEADY_KINDS, i)) {
      const v = variant(kind, app);
      const server = start({ label: `HTTP server (${kind}, run ${i + 1})`, cwd: app.dir, node, args: ['app.mjs', 'serve'], nodeArgs: v.nodeArgs, env: v.env, timeoutMs: T_SERVER, keepStdinOpen: true });
      let out;
      try {
        const ready = await Promise.race([server.ready, server.done.then(() => Promise.reject(new Error('HTTP server exited before it was ready')))]);
        const port = ready.line.split(/\s+/)[1];
        // The load generator is always the harness's own node, so that only the server changes.
        const client = await run({ label: `HTTP load (${kind}, run ${i + 1})`, cwd: benchDir, args: [load, port, String(config.requests), String(config.concurrency), String(config.httpWarmup), String(T_LOAD)], env: { ...baseEnv }, timeoutMs: T_LOAD + 10_000, readyPattern: /^\{/ });
        out = JSON.parse(client.readyLine);
      } finally {
        server.stdin.end();
      }
      const result = await server.done;
      samples[kind].push({ rps: out.rps, rss: result.usage.maxRssKb });
    }
    log(`    run ${i + 1}/${config.runs}: ${STEADY_KINDS.map((k) => `${k} ${fmt(samples[k].at(-1).rps)} req/s`).join(', ')}`);
  }
  // Requests per second: higher is better, so the ratios are lavamoat / base directly.
  const [p, l, w] = STEADY_KINDS.map((k) => median(samples[k].map((x) => x.rps)));
  row(`HTTP service, ${config.requests} requests at concurrency ${config.concurrency}`, { plain: 1 / p, lockdown: 1 / l, lavamoat: 1 / w, show: (x) => `${fmt(1 / x)} req/s`, throughput: true, target: '≥ 0.97× lockdown-only', met: w / l >= 0.97 });
  const [rp, rl, rw] = STEADY_KINDS.map((k) => median(samples[k].map((x) => x.rss)));
  row('HTTP service, peak RSS', { plain: rp, lockdown: rl, lavamoat: rw, show: mib, target: '≤ 1.4× plain', met: rw / rp <= 1.4 });
  current.details.push(`- **HTTP** req/s (min–max): ${STEADY_KINDS.map((k) => `${k} ${spread(samples[k].map((x) => x.rps))}`).join(', ')}.`);
}

async function profileRuns(service, tiny) {
  const runs = [
    { title: 'Service start-up under the loader, warm cache', app: service, kind: 'warm', args: ['app.mjs'] },
    { title: 'Service start-up under the loader, cold cache', app: service, kind: 'cold', args: ['app.mjs'] },
    { title: 'Service start-up under plain node (for comparison)', app: service, kind: 'plain', args: ['app.mjs'] },
    { title: 'Tiny app start-up under the loader, warm cache (the fixed cost)', app: tiny, kind: 'warm', args: ['app.mjs'] },
    { title: `CPU workload under the loader (${config.cpuIterations} units)`, app: service, kind: 'warm', args: ['cpu.mjs', String(config.cpuIterations), String(config.cpuWarmup)] },
  ].filter((r) => r.app);
  const root = path.join(current.workDir, 'profile');
  fs.rmSync(root, { recursive: true, force: true });
  for (const [i, r] of runs.entries()) {
    log(`profile: ${r.title} (node --cpu-prof)`);
    const dir = path.join(root, String(i + 1));
    fs.mkdirSync(dir, { recursive: true });
    const v = variant(r.kind, r.app);
    const result = await run({ label: `profile: ${r.title}`, cwd: r.app.dir, node, args: r.args, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, ...v.nodeArgs], env: v.env, timeoutMs: T_CPU, readyPattern: /./ });
    current.profiles.push({ title: r.title, wallMs: result.wallMs, dir: path.relative(projectDir, dir), threads: summariseProfiles(dir, projectDir, path.dirname(loader)) });
  }
}

// ---------------------------------------------------------------------------------------

async function benchOneNode(target, first) {
  node = target.binary;
  const workDir = path.join(workRoot, `node-${target.major}`);
  current = { node: target, workDir, rows: [], details: [], failures: [], apps: {}, profiles: [] };
  log(`\n== ${target.version} (${target.binary})`);
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  log('set-up: fixtures copied to bench/.work, the synthetic tree written, policies generated, modules counted');
  const setupFailed = {};
  const need = (names) => names.some((n) => config.only.has(n));
  for (const [name, users] of [['tiny', ['tiny', 'profile']], ['service', ['service', 'cpu', 'http', 'profile']], ['synth', ['synth']]]) {
    if (!need(users)) continue;
    try {
      current.apps[name] = await prepareApp(name, workDir);
    } catch (error) {
      log(`bench: set-up of ${name} FAILED:\n${error.message}`);
      setupFailed[name] = true;
      current.failures.push({ section: `Set-up of the ${name} app`, message: error.message });
    }
  }
  const { apps } = current;
  const graph = apps.service?.graph;
  if (graph && (graph.modules < 300 || graph.packages < 20)) fail(`the service must load at least 300 modules from 20 packages; it loads ${graph.modules} from ${graph.packages}`);
  const sections = [
    ['tiny', 'tiny', 'Tiny app start-up', () => benchStartup(apps.tiny, 'Tiny app start-up', { tinyTarget: 80 })],
    ['service', 'service', 'Service start-up', () => benchStartup(apps.service, 'Service start-up', { cpuTarget: 1.3, coldTarget: 2.5 })],
    ['synth', 'synth', 'Synthetic tree start-up', () => benchStartup(apps.synth, `Synthetic tree (${config.synthPackages * config.synthModules} modules) start-up`, { cpuTarget: 1.3 })],
    ['cpu', 'service', 'CPU workload', () => benchCpu(apps.service)],
    ['http', 'service', 'HTTP service', () => benchHttp(apps.service)],
    // Profiles explain the first Node's numbers; one set is enough to read and keeps the run short.
    ['profile', 'service', 'Profiles', () => (first ? profileRuns(apps.service, apps.tiny) : undefined)],
  ];
  for (const [key, appName, title, fn] of sections) {
    if (!config.only.has(key)) continue;
    if (setupFailed[appName]) {
      current.failures.push({ section: title, notRun: `set-up of the ${appName} app failed` });
      continue;
    }
    try {
      await fn();
    } catch (error) {
      log(`bench: ${title} FAILED:\n${error.message}`);
      current.failures.push({ section: title, message: error.message });
    }
  }
  return current;
}

async function main() {
  const t0 = Date.now();
  const startedAt = new Date();
  const loadBefore = os.loadavg()[0];
  preflight();
  let nodes;
  try {
    nodes = benchNodes(process.env.BENCH_NODES, path.join(benchDir, '.nodes'), log);
  } catch (error) {
    fail(error.message);
  }
  log(`bench: ${config.runs} runs per variant; nodes: ${nodes.map((n) => n.version).join(', ')}; usage by ${usageMethod}; sections: ${[...config.only].join(', ')}`);
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  if (loadBefore > cores) log(`bench: warning: load average ${loadBefore.toFixed(2)} on ${cores} cores: other work will slow and scatter every measure`);
  fs.rmSync(workRoot, { recursive: true, force: true });
  const results = [];
  for (const [i, target] of nodes.entries()) results.push(await benchOneNode(target, i === 0));
  const seconds = (Date.now() - t0) / 1000;
  const lines = writeReport({ file: config.results, projectDir, loader, config, usageMethod, results, startedAt, loadBefore, loadAfter: os.loadavg()[0], seconds });
  const table = lines.slice(lines.indexOf('## Results'), lines.indexOf('## Apps'));
  process.stdout.write(`${table.join('\n')}\nwritten: ${path.relative(process.cwd(), config.results)} (${Math.round(seconds)} s)\n`);
  if (results.some((r) => r.failures.length)) process.exit(1);
}

main().catch((error) => fail(error.stack || String(error)));

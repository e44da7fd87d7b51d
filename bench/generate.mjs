#!/usr/bin/env node
// Throughput of `lavamoat generate`: modules per second, cold (no parse cache) and warm
// (cache filled), with and without worker threads, on the biggest app at hand; and the
// same CommonJS entry through LavaMoat v11's own generator, when it is installed.
//
//   npm run bench:generate [-- --runs 5] [-- --app <dir> --entry <file>]
//
// The app: a service-like ESM app importing 30 popular npm packages (express, mongoose,
// winston, axios, pg, socket.io, sequelize, ... about 1,800 modules), installed once
// into the system's temporary folder; offline, the repository's real-package fixture
// (test/fixtures/real-app, about 360 modules, from this project's devDependencies).
// Each configuration runs in fresh processes, alternating, and the medians are reported
// with the machine's load, which on a shared machine moves every number.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const projectDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(projectDir, 'bin', 'lavamoat.mjs');

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, app: { type: 'string' }, entry: { type: 'string', default: 'app.mjs' } },
});
const runs = Number(values.runs);

const SERVICE_DEPENDENCIES = {
  express: '^4', mongoose: '^8', winston: '^3', axios: '^1', joi: '^17', jsonwebtoken: '^9', yargs: '^17',
  pino: '^9', ioredis: '^5', pg: '^8', 'body-parser': '^1', cors: '^2', helmet: '^7', uuid: '^9', dayjs: '^1',
  lodash: '^4', zod: '^3', ws: '^8', 'node-fetch': '^3', 'socket.io': '^4', nodemailer: '^6', bcryptjs: '^2',
  multer: '^1', compression: '^1', 'cookie-parser': '^1', morgan: '^1', dotenv: '^16', sequelize: '^6', ajv: '^8',
  graphql: '^16',
};

function serviceApp() {
  const dir = path.join(os.tmpdir(), 'lavamoat-bench-generate-service');
  const names = Object.keys(SERVICE_DEPENDENCIES);
  if (!fs.existsSync(path.join(dir, 'node_modules', 'express'))) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'bench-service', version: '1.0.0', private: true, type: 'module', dependencies: SERVICE_DEPENDENCIES }, null, 2),
    );
    process.stderr.write(`installing ${names.length} packages into ${dir} ...\n`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const result = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (result.status !== 0) {
      process.stderr.write(`npm install failed (offline?): ${(result.stderr ?? '').trim().split('\n').pop()}\n`);
      return undefined;
    }
  }
  const lines = names.map((name, i) => `import * as m${i} from '${name}';`);
  lines.push(`console.log(${names.map((_, i) => `typeof m${i}`).join(', ')});`);
  fs.writeFileSync(path.join(dir, 'app.mjs'), `${lines.join('\n')}\n`);
  return { dir, entry: 'app.mjs', name: `service app (${names.length} direct dependencies)` };
}

function pickApp() {
  if (values.app) return { dir: path.resolve(values.app), entry: values.entry, name: values.app };
  const service = serviceApp();
  if (service) return service;
  return { dir: path.join(projectDir, 'test', 'fixtures', 'real-app'), entry: 'app.mjs', name: 'test/fixtures/real-app' };
}

const app = pickApp();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-bench-generate-'));
const policy = path.join(work, 'policy.json');
const cacheDir = path.join(work, 'cache');

function generate(extra) {
  const started = performance.now();
  const result = spawnSync(process.execPath, [cli, 'generate', app.entry, '--policy', policy, ...extra], {
    cwd: app.dir,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const wall = performance.now() - started;
  if (result.status !== 0) throw new Error(`lavamoat generate failed:\n${result.stderr}`);
  const m = /(\d+) packages, (\d+) modules, (\d+) grants, (\d+) warnings in ([\d.]+) s/.exec(result.stderr);
  if (!m) throw new Error(`no summary in:\n${result.stderr}`);
  return { wall, internal: Number(m[5]) * 1000, packages: Number(m[1]), modules: Number(m[2]), grants: Number(m[3]) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const configurations = {
  'cold (no cache), default threads': () => ['--no-cache'],
  'cold, main thread only (--jobs 0)': () => ['--no-cache', '--jobs', '0'],
  'cold, one worker thread (--jobs 1)': () => ['--no-cache', '--jobs', '1'],
  'warm cache': () => ['--cache-dir', cacheDir],
};

let bytes = 0;
try {
  // Fill the cache, and count the JavaScript that is analysed.
  const first = generate(['--cache-dir', cacheDir, '--debug', '--policy-debug', path.join(work, 'debug.json')]);
  const debug = JSON.parse(fs.readFileSync(path.join(work, 'debug.json'), 'utf8'));
  for (const info of Object.values(debug.debugInfo)) {
    for (const m of info.modules) {
      if (!/\.(c|m)?js$/.test(m)) continue;
      try {
        bytes += fs.statSync(path.isAbsolute(m) ? m : path.join(app.dir, m)).size;
      } catch {
        // outside
      }
    }
  }
  const samples = Object.fromEntries(Object.keys(configurations).map((k) => [k, []]));
  for (let i = 0; i < runs; i += 1) {
    for (const [name, args] of Object.entries(configurations)) samples[name].push(generate(args()));
  }
  const compared = compareWithLavaMoat();
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`# lavamoat generate: ${app.name}`);
  console.log(`${first.modules} modules (${(bytes / 1e6).toFixed(1)} MB of JavaScript), ${first.packages} packages, ${first.grants} grants`);
  console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load average ${load}; median of ${runs} runs`);
  console.log('');
  console.log('| configuration | wall (process) | generation | modules/s | MB/s |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [name, list] of Object.entries(samples)) {
    const wall = median(list.map((s) => s.wall));
    const internal = median(list.map((s) => s.internal));
    console.log(
      `| ${name} | ${(wall / 1000).toFixed(2)} s | ${(internal / 1000).toFixed(2)} s | ${Math.round(first.modules / (internal / 1000))} | ${(bytes / 1e6 / (internal / 1000)).toFixed(1)} |`,
    );
  }
  if (compared) {
    console.log('');
    console.log(`## Against LavaMoat v11's generator (\`lavamoat app.cjs --autopolicy\`), same CommonJS entry, cold`);
    console.log(`${compared.modules} modules (the packages a CommonJS entry can require); median of ${runs} runs, alternating`);
    console.log('');
    console.log('| generator | wall (process) | peak RSS |');
    console.log('| --- | ---: | ---: |');
    for (const [name, list] of Object.entries(compared.samples)) {
      console.log(`| ${name} | ${(median(list.map((x) => x.wall)) / 1000).toFixed(2)} s | ${Math.round(median(list.map((x) => x.rss)) / 1024)} MiB |`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

/**
 * Both generators on the same CommonJS entry, when the service app is the subject and
 * LavaMoat v11 is installed (the compatibility test installs it into the temporary folder).
 */
function compareWithLavaMoat() {
  const lavamoatCli = path.join(os.tmpdir(), 'lavamoat-compat-v11', 'node_modules', 'lavamoat', 'src', 'cli.js');
  if (!app.name.startsWith('service app') || !fs.existsSync(lavamoatCli)) return undefined;
  const names = Object.keys(SERVICE_DEPENDENCIES).filter((n) => n !== 'node-fetch'); // ESM only
  fs.writeFileSync(path.join(app.dir, 'app.cjs'), `${names.map((n, i) => `const m${i} = require('${n}');`).join('\n')}\n`);
  const timed = (args) => {
    // /usr/bin/time gives the peak RSS of the child.
    const result = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { cwd: app.dir, encoding: 'utf8' });
    const rss = Number(result.stderr.trim().split('\n').pop());
    return { ok: result.status === 0, stderr: result.stderr, rss };
  };
  const samples = { 'lavamoat generate (this project)': [], 'LavaMoat v11 --autopolicy': [] };
  let modules = 0;
  for (let i = 0; i < runs; i += 1) {
    let started = performance.now();
    const ours = timed([cli, 'generate', 'app.cjs', '--no-cache', '--policy', path.join(work, 'ours.json')]);
    if (!ours.ok) return undefined;
    samples['lavamoat generate (this project)'].push({ wall: performance.now() - started, rss: ours.rss });
    modules = Number(/(\d+) modules/.exec(ours.stderr)?.[1] ?? 0);
    started = performance.now();
    const theirs = timed([lavamoatCli, 'app.cjs', '--autopolicy', '--policy', path.join(work, 'theirs.json')]);
    if (!theirs.ok) return undefined;
    samples['LavaMoat v11 --autopolicy'].push({ wall: performance.now() - started, rss: theirs.rss });
  }
  return { samples, modules };
}

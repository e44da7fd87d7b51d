// `npm run bench:calls`: what a confined package pays per call of what its policy grants,
// against plain node and the lockdown-only control, on the current node (or `BENCH_NODE`).
// Each probe is a package under a hand-written policy, as generated policies grant:
//   - hrtime:   `process.hrtime()` with the global grant `process.hrtime` (morgan, per request);
//   - zlib-instanceof: destroy's `stream instanceof zlib.Gzip` (seven classes) with dotted
//     `zlib.*` grants (compression, per response);
//   - createHash: `crypto.createHash('sha1').update(s).digest('base64')` with the dotted
//     grant `crypto.createHash` (etag, per response);
//   - override: an instance's own `write`/`end` over a hardened prototype's (on-headers,
//     compression, per response): the app's code, with no grant.
// Prints, per probe, the best of ROUNDS medians in ns per call and the two ratios. Not part
// of `npm test`; the numbers are for docs/performance.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const node = process.env.BENCH_NODE ?? process.execPath;
const rounds = Number(process.env.BENCH_RUNS ?? 5);
const dir = path.join(repo, 'bench', '.work', `calls-${path.basename(path.dirname(path.dirname(node)))}`);

const PACKAGES = {
  hrtime: {
    policy: { globals: { 'process.hrtime': true } },
    code: 'module.exports = (n) => { let x = 0; for (let i = 0; i < n; i++) x += process.hrtime()[1] & 1; return x; };',
  },
  'zlib-instanceof': {
    policy: { builtin: Object.fromEntries(['Gzip', 'Gunzip', 'Deflate', 'DeflateRaw', 'Inflate', 'InflateRaw', 'Unzip'].map((name) => [`zlib.${name}`, true])) },
    code: [
      "const Zlib = require('zlib');",
      'const isZlib = (s) => s instanceof Zlib.Gzip || s instanceof Zlib.Gunzip || s instanceof Zlib.Deflate || s instanceof Zlib.DeflateRaw || s instanceof Zlib.Inflate || s instanceof Zlib.InflateRaw || s instanceof Zlib.Unzip;',
      'module.exports = (n, stream) => { let x = 0; for (let i = 0; i < n; i++) x += isZlib(stream) ? 1 : 0; return x; };',
    ].join('\n'),
  },
  createHash: {
    policy: { builtin: { 'crypto.createHash': true } },
    code: [
      "const crypto = require('crypto');",
      "module.exports = (n) => { let x = 0; for (let i = 0; i < n; i++) x += crypto.createHash('sha1').update('etag' + i, 'utf8').digest('base64').length; return x; };",
    ].join('\n'),
  },
};

const APP = `
import { PassThrough, Writable } from 'node:stream';
${Object.keys(PACKAGES).map((name) => `import ${name.replace(/\W/g, '_')} from 'probe-${name}';`).join('\n')}
const f = () => {};
const PROBES = {
  hrtime: [200000, (n) => hrtime(n)],
  'zlib-instanceof': [200000, (n) => zlib_instanceof(n, new PassThrough())],
  createHash: [50000, (n) => createHash(n)],
  override: [50000, (n) => { const objects = []; for (let i = 0; i < n; i++) objects.push(new Writable()); const t = performance.now(); for (const o of objects) { o.write = f; o.end = f; } return performance.now() - t; }],
};
const out = {};
for (const [name, [n, run]] of Object.entries(PROBES)) {
  run(n / 10);
  const times = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    const inner = run(n);
    times.push(name === 'override' ? inner / 2 : performance.now() - t);
  }
  times.sort((a, b) => a - b);
  out[name] = (times[2] * 1e6) / n;
}
console.log('CALLS ' + JSON.stringify(out));
`;

function setUp() {
  fs.rmSync(dir, { recursive: true, force: true });
  const resources = {};
  for (const [name, { policy, code }] of Object.entries(PACKAGES)) {
    const pkg = path.join(dir, 'node_modules', `probe-${name}`);
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: `probe-${name}`, version: '1.0.0', main: 'index.js' }));
    fs.writeFileSync(path.join(pkg, 'index.js'), `${code}\n`);
    resources[`probe-${name}`] = policy;
  }
  const dependencies = Object.fromEntries(Object.keys(PACKAGES).map((name) => [`probe-${name}`, '1.0.0']));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'bench-calls', version: '1.0.0', private: true, type: 'module', dependencies }));
  fs.mkdirSync(path.join(dir, 'lavamoat', 'node'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), `${JSON.stringify({ resources }, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'app.mjs'), APP);
}

const VARIANTS = {
  plain: [],
  'lockdown only': ['--import', path.join(repo, 'bench', 'lib', 'lockdown-only.mjs')],
  // BENCH_LOADER: another build's loader.mjs, to compare two builds in the same minutes.
  lavamoat: ['--import', process.env.BENCH_LOADER ?? path.join(repo, 'loader.mjs')],
};

function run(args) {
  const result = spawnSync(node, [...args, 'app.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const line = result.stdout.split('\n').find((l) => l.startsWith('CALLS '));
  if (result.status !== 0 || !line) throw new Error(`${node} ${args.join(' ')} app.mjs failed (${result.status}):\n${result.stderr}`);
  return JSON.parse(line.slice(6));
}

setUp();
run(VARIANTS.lavamoat); // fills the cache
const best = {};
for (let round = 0; round < rounds; round++) {
  for (const [variant, args] of Object.entries(VARIANTS)) {
    for (const [probe, ns] of Object.entries(run(args))) {
      best[probe] ??= {};
      best[probe][variant] = Math.min(best[probe][variant] ?? Infinity, ns);
    }
  }
}
const format = (ns) => (ns < 10 ? ns.toFixed(1) : ns.toFixed(0));
console.log(`Node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}, best of ${rounds} runs (each the median of 5), ns per call`);
console.log('| probe | plain | lockdown only | lavamoat | vs plain | vs lockdown only |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [probe, values] of Object.entries(best)) {
  const { plain, 'lockdown only': control, lavamoat } = values;
  console.log(`| ${probe} | ${format(plain)} | ${format(control)} | ${format(lavamoat)} | ${(lavamoat / plain).toFixed(1)}× | ${(lavamoat / control).toFixed(1)}× |`);
}

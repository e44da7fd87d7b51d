// Compatibility with LavaMoat's own policy generator (the published `lavamoat` package,
// v11, `lavamoat app.js --autopolicy`) on the CommonJS fixture apps. Every difference
// must be one that docs/generate.md explains: each expected difference below carries the
// id of its section there, and the test fails on any other difference.
//
// Our package is also named `lavamoat`, so npm cannot install the published one as a
// devDependency of this one: it is installed with `npm install --prefix` into a
// directory of the system's temporary folder (kept between runs), and the test is
// skipped, saying why, when that cannot be done (offline).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, projectDir } from '../helpers.mjs';

const VERSION = '11';
const installDir = path.join(os.tmpdir(), `lavamoat-compat-v${VERSION}`);
const lavamoatCli = path.join(installDir, 'node_modules', 'lavamoat', 'src', 'cli.js');
const ourCli = path.join(projectDir, 'bin', 'lavamoat.mjs');
const docs = fs.readFileSync(path.join(projectDir, 'docs', 'generate.md'), 'utf8');

let skipReason;
before(() => {
  if (fs.existsSync(lavamoatCli)) return;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(
    npm,
    ['install', '--prefix', installDir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `lavamoat@${VERSION}`],
    { encoding: 'utf8', timeout: 240_000, env: { ...process.env, NODE_OPTIONS: '' } },
  );
  if (result.status !== 0 || !fs.existsSync(lavamoatCli)) {
    const why = (result.error?.message ?? result.stderr ?? '').trim().split('\n').slice(-3).join(' / ');
    skipReason = `lavamoat@${VERSION} could not be installed with npm (offline?): ${why}`;
  }
});

function copyFixture(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lavamoat-compat-${name}-`));
  fs.cpSync(fixture(name), dir, { recursive: true, verbatimSymlinks: true });
  return fs.realpathSync(dir);
}

/** One line per grant, as `name field key=value`. */
function flatten(policy) {
  const lines = new Set();
  for (const [name, resource] of Object.entries(policy.resources ?? {})) {
    for (const field of ['globals', 'builtin', 'packages']) {
      for (const [key, value] of Object.entries(resource[field] ?? {})) lines.add(`${name} ${field} ${key}=${JSON.stringify(value)}`);
    }
    if (resource.native) lines.add(`${name} native`);
  }
  return lines;
}

function compare(name, entry) {
  const dir = copyFixture(name);
  try {
    const theirs = spawnSync(process.execPath, [lavamoatCli, entry, '--autopolicy', '--policy', 'lavamoat-v11/policy.json'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    assert.equal(theirs.status, 0, theirs.stderr);
    const ours = spawnSync(process.execPath, [ourCli, 'generate', entry, '--no-cache'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(ours.status, 0, ours.stderr);
    const a = flatten(JSON.parse(fs.readFileSync(path.join(dir, 'lavamoat-v11', 'policy.json'), 'utf8')));
    const b = flatten(JSON.parse(fs.readFileSync(path.join(dir, 'lavamoat', 'node', 'policy.json'), 'utf8')));
    const differences = [...[...a].filter((x) => !b.has(x)).map((x) => `- ${x}`), ...[...b].filter((x) => !a.has(x)).map((x) => `+ ${x}`)];
    const common = [...a].filter((x) => b.has(x)).length;
    return { differences: differences.sort(), common };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `- ` only in LavaMoat's policy, `+ ` only in ours; the second element is the section
 * of docs/generate.md that explains the difference.
 */
const EXPECTED = {
  'gen-cjs-app': [
    ['- cjs-a globals __dirname=true', 'D2'],
    ['- cjs-a globals process.env.NODE_ENV=true', 'D1'],
    ['+ cjs-a globals process.env=true', 'D1'],
  ],
  'gen-cjs-edge': [
    ['- edge-builtins builtin stream.Readable.from=true', 'D3'],
    ['+ edge-builtins builtin stream.Readable=true', 'D3'],
    ['- edge-builtins globals __dirname=true', 'D2'],
    ['- edge-globals globals AggregateError=true', 'D4'],
    ['+ edge-globals globals Float32Array=true', 'D4'],
    ['- edge-globals globals performance=true', 'D5'],
    ['+ edge-globals globals performance.now=true', 'D5'],
    ['- edge-globals globals process.env.EDGE_FIXTURE_VAR=true', 'D1'],
    ['+ edge-globals globals process.env=true', 'D1'],
    ['+ edge-alias globals clearInterval=true', 'D6'],
    ['+ edge-alias globals setInterval=true', 'D6'],
    ['+ edge-module builtin os.EOL=true', 'D7'],
  ],
  'gen-warn-app': [
    ['- dynamic-req globals process.env.PLUGIN=true', 'D1'],
    ['+ dynamic-req globals process.env=true', 'D1'],
    ['+ has-addon native', 'D8'],
    ['+ uses-bindings native', 'D8'],
    ['+ uses-bindings>bindings packages uses-bindings=true', 'D8'],
  ],
};

describe(`policies compared with LavaMoat v${VERSION}'s generator`, () => {
  for (const [name, expected] of Object.entries(EXPECTED)) {
    test(`${name}: every difference is a documented one`, (t) => {
      if (skipReason) {
        t.skip(skipReason);
        return;
      }
      const { differences, common } = compare(name, 'app.js');
      assert.ok(common > 0, 'the generators agree on something');
      assert.deepEqual(differences, expected.map(([line]) => line).sort());
      for (const [line, id] of expected) {
        assert.match(docs, new RegExp(`^### ${id} `, 'm'), `docs/generate.md explains ${id} (${line})`);
      }
    });
  }
});

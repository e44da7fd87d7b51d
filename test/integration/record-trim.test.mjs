// `lavamoat run --record` / LAVAMOAT_RECORD, then `lavamoat trim`: the recording of what
// each package used (in the main thread, a worker and a child process), and a trimmed
// policy that still runs the app as plain node runs it. Fixture: test/fixtures/record-trim.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, copyFixtureToTemp, fixture, runCli, runPlain, runWithLoader } from '../helpers.mjs';

const temps = [];
after(() => {
  for (const temp of temps) fs.rmSync(temp, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-record-')));
  temps.push(dir);
  return dir;
};
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

describe('record, trim, run again', () => {
  const dir = fixture('record-trim');
  const out = tempDir();
  const recording = path.join(out, 'rec.json');
  const trimmed = path.join(out, 'trimmed.json');
  const plain = runPlain(dir, 'app.mjs');
  const recorded = runCli(dir, ['run', '--record', recording, 'app.mjs']);
  const trim = runCli(dir, ['trim', '--recording', recording, '--out', trimmed]);
  const again = runWithLoader(dir, 'app.mjs', { env: { LAVAMOAT_POLICY: trimmed } });

  test('the recorded run behaves as plain node', () => {
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(recorded.status, 0, recorded.stderr);
    assert.equal(recorded.stdout, plain.stdout);
    assert.equal(recorded.stderr, '');
  });

  test('the recording holds what each package used, from the main thread, a worker and a child process', () => {
    const rec = readJson(recording);
    assert.equal(rec.lavamoatRecording, 1);
    assert.equal(rec.policy, path.join(dir, 'lavamoat', 'node', 'policy.json'));
    assert.equal(rec.runs.length, 3, JSON.stringify(rec.runs));
    assert.ok(rec.runs.every((run) => run.exited === true));
    assert.deepEqual(
      rec.runs.map((run) => path.basename(run.entry)).sort(),
      ['app.mjs', 'child.mjs', 'worker.mjs'],
    );
    assert.deepEqual(rec.resources['uses-some'], {
      loaded: true,
      // `process` itself is read on the way to process.env.
      globals: ['process', 'process.env', 'setTimeout'],
      unobserved: ['Object.keys'],
      builtin: { fs: ['readFileSync'], path: ['basename'] },
      packages: ['helper'],
    });
    // An ES module's named import of a builtin member, from its import statement.
    assert.deepEqual(rec.resources.helper, { loaded: true, unobserved: ['TextEncoder'], builtin: { path: ['join'] } });
    assert.deepEqual(rec.resources.detector, { loaded: true, globals: ['process'] });
    assert.deepEqual(rec.resources['worker-only'], { loaded: true, globals: ['structuredClone'], builtin: { util: ['format'] } });
    assert.deepEqual(rec.resources['child-only'], { loaded: true, globals: ['process', 'process.pid'], builtin: { os: ['platform'] } });
    assert.equal(rec.resources['unused-dep'], undefined);
    assert.deepEqual(rec.denials, []);
  });

  test('trim keeps what was used and removes the rest, with a report and the warning', () => {
    assert.equal(trim.status, 0, trim.stderr);
    assert.equal(trim.stdout, '');
    const policy = readJson(trimmed);
    assert.deepEqual(policy, {
      resources: {
        'child-only': { builtin: { 'os.platform': true }, globals: { 'process.pid': true } },
        // Only `typeof process` was read: the dotted grant stays, or the check would change.
        detector: { globals: { 'process.env': true } },
        helper: { builtin: { 'node:path.join': true }, globals: { TextEncoder: true } },
        'uses-some': {
          builtin: { 'fs.readFileSync': true, path: true },
          globals: { 'Object.keys': true, 'process.env': true, setTimeout: true },
          packages: { helper: true },
        },
        'worker-only': { builtin: { util: true }, globals: { structuredClone: true } },
      },
    });
    assert.match(trim.stderr, /13 grants removed, 13 kept/);
    assert.match(trim.stderr, /every grant removed, packages that never ran: unused-dep/);
    for (const line of [
      'uses-some globals process.exitCode',
      'uses-some globals URL',
      'uses-some builtin fs.writeFileSync',
      'uses-some builtin os',
      'uses-some packages unused-dep',
      'uses-some native',
      'helper globals Buffer',
      'helper builtin path.resolve',
      'child-only globals process.ppid',
      'worker-only globals queueMicrotask',
    ]) {
      assert.ok(trim.stderr.includes(`    - ${line}\n`), `${line} in\n${trim.stderr}`);
    }
    assert.match(trim.stderr, /may still be needed on a path they did not take/);
  });

  test('the trimmed policy runs the app as plain node runs it', () => {
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, plain.stdout);
    assert.equal(again.stderr, '');
  });

  test('a removed grant is really gone: the path the runs did not take is denied', () => {
    const copy = copyFixtureToTemp('record-trim', temps);
    fs.writeFileSync(path.join(copy, 'untaken.mjs'), "import usesSome from 'uses-some';\ntry { usesSome.maybeUnused(); } catch (error) { console.log(error.code, error.packageName, error.resource); }\n");
    const result = runWithLoader(copy, 'untaken.mjs', { env: { LAVAMOAT_POLICY: trimmed, LAVAMOAT_REPORT_CAUGHT_DENIALS: '0' } });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'LAVAMOAT_DENIED uses-some unused-dep\n');
  });
});

describe('recording', () => {
  const dir = fixture('record-trim');

  for (const [how, status] of [
    ['exit', 3],
    ['throw', 1],
  ]) {
    test(`is written when the process ends by ${how === 'exit' ? 'process.exit' : 'an uncaught error'}`, () => {
      const file = path.join(tempDir(), 'rec.json');
      const result = runWithLoader(dir, 'exits.mjs', { args: [how], env: { LAVAMOAT_RECORD: file } });
      assert.equal(result.status, status, result.stderr);
      const rec = readJson(file);
      assert.equal(rec.runs.length, 1);
      assert.equal(rec.runs[0].exited, true);
      assert.deepEqual(rec.resources['uses-some'].builtin, { fs: ['readFileSync'], path: ['basename'] });
    });
  }

  test('a process killed by a signal has written what it used a second after using it', async () => {
    const file = path.join(tempDir(), 'rec.json');
    const copy = copyFixtureToTemp('record-trim', temps);
    fs.writeFileSync(path.join(copy, 'serve.mjs'), "import detector from 'detector';\nconsole.log(detector);\nsetInterval(() => {}, 1000);\n");
    const child = spawn(process.execPath, ['--import', path.join(path.dirname(cliPath), '..', 'loader.mjs'), 'serve.mjs'], {
      cwd: copy,
      env: { ...process.env, NODE_OPTIONS: '', LAVAMOAT_RECORD: file },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1_800));
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const rec = readJson(file);
    assert.equal(rec.runs[0].exited, false);
    assert.deepEqual(rec.resources.detector, { loaded: true, globals: ['process'] });
  });

  test('records denials, and the top process starts the file afresh', () => {
    const file = path.join(tempDir(), 'rec.json');
    fs.writeFileSync(file, JSON.stringify({ lavamoatRecording: 1, runs: [], resources: { old: { loaded: true } }, denials: [] }));
    const result = runWithLoader(fixture('swallowed-denials'), 'app.mjs', { args: ['swallow'], env: { LAVAMOAT_RECORD: file } });
    assert.equal(result.status, 0, result.stderr);
    const rec = readJson(file);
    assert.equal(rec.resources.old, undefined);
    assert.deepEqual(rec.resources.swallower, { loaded: true });
    assert.deepEqual(rec.denials, [
      { package: 'swallower', kind: 'builtin', resource: 'fs', allow: { resources: { swallower: { builtin: { fs: true } } } } },
    ]);
  });

  test('recordings are joined by trim, and the output can go to stdout', () => {
    const out = tempDir();
    const first = path.join(out, 'a.json');
    const second = path.join(out, 'b.json');
    assert.equal(runWithLoader(dir, 'exits.mjs', { args: ['none'], env: { LAVAMOAT_RECORD: first } }).status, 0);
    const copy = copyFixtureToTemp('record-trim', temps);
    fs.writeFileSync(path.join(copy, 'detect.mjs'), "import detector from 'detector';\nconsole.log(detector);\n");
    assert.equal(runWithLoader(copy, 'detect.mjs', { env: { LAVAMOAT_RECORD: second } }).status, 0);
    const result = runCli(dir, ['trim', '--recording', first, '--recording', second, '--out', '-']);
    assert.equal(result.status, 0, result.stderr);
    const policy = JSON.parse(result.stdout);
    assert.deepEqual(Object.keys(policy.resources).sort(), ['detector', 'helper', 'uses-some']);
    assert.match(result.stderr, /with 2 recordings/);
  });

  test('off by default: no file, no observers (a dotted grant\'s object stays a data property)', () => {
    const copy = copyFixtureToTemp('record-trim', temps);
    fs.writeFileSync(
      path.join(copy, 'node_modules', 'detector', 'index.js'),
      "module.exports = 'get' in Object.getOwnPropertyDescriptor(globalThis, 'process') ? 'accessor' : 'data';\n",
    );
    fs.writeFileSync(path.join(copy, 'detect.mjs'), "import detector from 'detector';\nconsole.log(detector);\n");
    assert.equal(runWithLoader(copy, 'detect.mjs').stdout, 'data\n');
    const file = path.join(tempDir(), 'rec.json');
    assert.equal(runWithLoader(copy, 'detect.mjs', { env: { LAVAMOAT_RECORD: file } }).stdout, 'accessor\n');
    assert.deepEqual(fs.readdirSync(copy).filter((name) => name.endsWith('.json') && name !== 'package.json'), []);
  });

  test('trim refuses what is not a recording, and a recording file it cannot write stops the run', () => {
    const out = tempDir();
    const bogus = path.join(out, 'bogus.json');
    fs.writeFileSync(bogus, '{"resources":{}}');
    const result = runCli(dir, ['trim', '--recording', bogus, '--out', '-']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /is not a LavaMoat recording: "lavamoatRecording" is undefined, expected 1/);
    const usage = runCli(dir, ['trim']);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /needs at least one --recording <file>/);
    fs.writeFileSync(path.join(out, 'file'), '');
    const blocked = runWithLoader(dir, 'exits.mjs', { args: ['none'], env: { LAVAMOAT_RECORD: path.join(out, 'file', 'rec.json') } });
    assert.equal(blocked.status, 1);
    assert.equal(blocked.stdout, '');
    assert.match(blocked.stderr, /LavaMoat: cannot write the recording .*file\/rec\.json \(from LAVAMOAT_RECORD\)/);
  });
});

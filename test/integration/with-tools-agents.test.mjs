// An APM agent preloaded before the loader makes an HTTP agent of its own for its exporter
// (dd-trace's CustomAgent, whose createConnection calls its parent's inside an
// AsyncLocalStorage run) before the loader guards http's agents: its requests work as
// under plain node (they were refused on the first request, and dd-trace crashed the
// app); a package handed that agent still cannot open connections through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fixture, loaderURL } from '../helpers.mjs';

const dir = fixture('preload-agent');

function run(imports) {
  const result = spawnSync(process.execPath, [...imports.flatMap((url) => ['--import', url]), 'app.mjs'], {
    cwd: dir,
    env: { ...process.env, NODE_OPTIONS: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

test("a preload's agent made before the loader connects as under plain node; a package handed it does not", () => {
  const plain = run(['./preload.mjs']);
  assert.equal(plain.status, 0, plain.stderr);
  const confined = run(['./preload.mjs', loaderURL]);
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stderr, '');
  const lines = (stdout) => stdout.trimEnd().split('\n');
  assert.deepEqual(lines(confined.stdout).slice(0, 3), lines(plain.stdout).slice(0, 3));
  assert.deepEqual(lines(plain.stdout).slice(0, 3), ['agent made before the loader: 200', 'agent made after: 200', 'nothing listening: ECONNREFUSED']);
  assert.equal(lines(plain.stdout)[3], 'a package handed the agent: connected, connected');
  assert.equal(lines(confined.stdout)[3], 'a package handed the agent: LAVAMOAT_AGENT_NOT_OURS, LAVAMOAT_AGENT_NOT_OURS');
});

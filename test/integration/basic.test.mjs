import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('basic');

test('ESM app runs with its CJS and ESM dependencies confined', () => {
  const { status, stdout, stderr } = runWithLoader(dir, 'app.mjs');
  assert.equal(status, 0, stderr);
  const lines = stdout.trim().split('\n');
  // cjs-dep: fs.readFileSync granted, fs.writeFileSync not; process.env granted, process.exit not.
  assert.equal(lines[0], 'true undefined hello bob via cjs true undefined');
  assert.equal(lines[1], 'function');
  assert.match(lines[2], /^LavaMoat: package "evil" is not allowed the builtin module "fs"\. undefined$/);
  assert.equal(lines[3], 'tla ok');
});

test('import.meta, JSON modules, import() and createRequire from the app', () => {
  const { status, stdout, stderr } = runWithLoader(dir, 'app2.mjs');
  assert.equal(status, 1);
  assert.match(stdout, /\[ true, 'string', true, true, 7 \] hello dyn/);
  assert.match(stdout, /hello req via cjs undefined/);
  // An uncaught error from a dependency prints as Node prints it, not as `{}`.
  assert.match(stderr, /TypeError: boom from esm-dep\n\s+at thrower \(.*meta\.js:4/);
});

test("the app's errors print as under plain node (subclasses too: `Sub [RangeError]`)", () => {
  const plain = runPlain(dir, 'errors.mjs');
  const confined = runWithLoader(dir, 'errors.mjs');
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.match(confined.stdout, /^Sub \[RangeError\]: sub$/m);
});

test("the app's import.meta.resolve gives the URLs plain node gives, and importing one gives the confined module", () => {
  const plain = runPlain(dir, 'meta-resolve.mjs');
  const confined = runWithLoader(dir, 'meta-resolve.mjs');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.match(confined.stdout, /^node_modules\/esm-dep\/index\.js\ntrue\ntrue node:fs\ntrue\n$/);
});

test('a loader without its built runtime refuses to start, and says how to build it', async () => {
  const { spawnSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { projectDir } = await import('../helpers.mjs');
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-unbuilt-'));
  fs.copyFileSync(path.join(projectDir, 'loader.mjs'), path.join(copy, 'loader.mjs'));
  fs.writeFileSync(path.join(copy, 'app.mjs'), "console.log('APP RAN');\n");
  const result = spawnSync(process.execPath, ['--import', path.join(copy, 'loader.mjs'), path.join(copy, 'app.mjs')], { encoding: 'utf8' });
  assert.equal(result.status, 1);
  assert.doesNotMatch(result.stdout, /APP RAN/);
  assert.match(result.stderr, /LavaMoat: the runtime is not built [\s\S]*run `npm run build`/);
});

test("V8's natives syntax on: nothing runs (every package's Function could call %DynamicImportCall); without it the app runs", () => {
  // `app.mjs` prints as soon as its first package runs: no output at all is the point.
  for (const nodeArgs of [['--allow-natives-syntax'], ['--allow_natives_syntax']]) {
    const refused = runWithLoader(dir, 'app.mjs', { nodeArgs });
    assert.equal(refused.status, 1, `${nodeArgs}: ${refused.stderr}`);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /LavaMoat: V8's natives syntax is on \(--allow-natives-syntax/);
  }
  // A preload before the loader that sets the flag is the same engine.
  const preloaded = runWithLoader(dir, 'app.mjs', {
    nodeArgs: ['--import', 'data:text/javascript,import v8 from "node:v8"; v8.setFlagsFromString("--allow-natives-syntax");'],
  });
  assert.equal(preloaded.status, 1, preloaded.stderr);
  assert.equal(preloaded.stdout, '');
  assert.match(preloaded.stderr, /natives syntax is on/);
  // The twin: other V8 flags are the app's to choose.
  const twin = runWithLoader(dir, 'app.mjs', { nodeArgs: ['--expose-gc', '--max-old-space-size=256'] });
  assert.equal(twin.status, 0, twin.stderr);
  assert.match(twin.stdout, /tla ok/);
});

test("the app's first fs.opendirSync runs as under plain node, and fs's lazy directory functions are hardened (Node 22+ crashed)", () => {
  const plain = runPlain(dir, 'opendir-first.cjs');
  const confined = runWithLoader(dir, 'opendir-first.cjs');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(confined.status, 0, confined.stderr);
  const [line, hardened] = confined.stdout.trim().split('\n');
  assert.equal(line, plain.stdout.trim());
  assert.equal(line, 'true function function');
  assert.equal(hardened, 'hardened true true true');
});

// How errors read under the loader, compared with plain node on the same app
// (test/fixtures/uncaught-errors, under the policy `lavamoat generate` writes): an uncaught
// error of the app is printed as Node prints it (the source line and a caret under where
// it was thrown or made, frames indented by four spaces, its own properties one a line),
// and a CommonJS package's errors have Node's stacks (frames named by the module's path,
// no frame of the runtime's, a subclass's constructor left out as V8 leaves it out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, runCli, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('uncaught-errors');
const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-uncaught-'));
process.on('exit', () => fs.rmSync(temp, { recursive: true, force: true }));
const policy = path.join(temp, 'policy.json');
const generated = runCli(dir, ['generate', 'app.mjs', '-p', policy, '-q']);
const env = { LAVAMOAT_POLICY: policy, LAVAMOAT_POLICY_OVERRIDE: path.join(temp, 'none.json') };

for (const which of ['timer', 'top-level', 'rejection', 'listener']) {
  test(`an uncaught error (${which}) prints as under plain node`, () => {
    assert.equal(generated.status, 0, generated.stderr);
    const plain = runPlain(dir, 'app.mjs', { args: [which], env });
    assert.equal(plain.status, 1);
    assert.match(plain.stderr, /^file:\/\/\/.*app\.mjs:\d+\n.*\n\s*\^\n\n/);
    const confined = runWithLoader(dir, 'app.mjs', { args: [which], env });
    assert.equal(confined.status, 1);
    assert.equal(confined.stdout, plain.stdout);
    assert.equal(confined.stderr, plain.stderr);
  });
}

// Node 20 names an object by a data `constructor` on its prototype chain, which lockdown's
// override taming makes an accessor on Map.prototype and Set.prototype.
test('maps and sets print as under plain node', () => {
  const plain = runPlain(dir, 'app.mjs', { args: ['collections'], env });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /^Map\(1\) \{ 1 => \{ a: Set\(1\) \{ 'x' \} \} \} Set\(0\) \{\}/m);
  assert.match(plain.stdout, /m: Map\(1\) \{ 1 => \{ s: \[Set\] \} \}/);
  const confined = runWithLoader(dir, 'app.mjs', { args: ['collections'], env });
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.equal(confined.stderr, plain.stderr);
});

test("console.log does not run a logged object's getters; console.trace prints as under plain node", () => {
  const plain = runPlain(dir, 'app.mjs', { args: ['console'], env });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /^getters run: 0$/m);
  assert.match(plain.stderr, /^Trace: traced 1 \{ a: 1 \}\n {4}at traced \(/m);
  const confined = runWithLoader(dir, 'app.mjs', { args: ['console'], env });
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.equal(confined.stderr, plain.stderr);
});

test("errors the app's handlers take (a listener, a capture callback) are theirs, as under plain node", () => {
  const plain = runPlain(dir, 'app.mjs', { args: ['handled'], env });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /\nlistener: rejected, handled unhandledRejection\ncaptured: thrown, captured\nstill running\n$/);
  const confined = runWithLoader(dir, 'app.mjs', { args: ['handled'], env });
  assert.equal(confined.status, plain.status, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.equal(confined.stderr, plain.stderr);
});

test("a package's errors have Node's stacks", () => {
  const plain = runPlain(dir, 'app.mjs', { env });
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /^Error: made by a package \/ {5}at make \(\/.*index\.js:3:10\)$/m);
  assert.match(plain.stdout, /^Error: invalid \/ {5}at invalid \(/m);
  const confined = runWithLoader(dir, 'app.mjs', { env });
  assert.equal(confined.stderr, '');
  assert.equal(confined.stdout, plain.stdout);
});

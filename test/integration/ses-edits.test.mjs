// The runtime's edits of SES (scripts/bundle-runtime.mjs): Date, RegExp and Error built
// without the wrapper as `new.target`, and Array.prototype[Symbol.iterator] kept a frozen
// data property (V8's fast path for spreading arrays). What a package sees must be what
// plain node shows, but for the one documented difference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('ses-edits');
const json = (run) => {
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1));
};

test("a package's Date, RegExp, Error and array spreads behave as under plain node", () => {
  const confined = json(runWithLoader(dir, 'app.mjs'));
  const plain = json(runPlain(dir, 'app.mjs'));
  for (const key of ['pushOverride', 'iteratorDefine', 'spread', 'date', 'regexp', 'error']) assert.equal(confined[key], plain[key], key);
});

test('Array.prototype[Symbol.iterator] is a frozen data property: assigning it on an object that inherits it throws, defining it works', () => {
  const confined = json(runWithLoader(dir, 'app.mjs'));
  assert.equal(confined.arrayIterator, 'data, writable false, configurable false');
  assert.equal(confined.iteratorAssign, 'TypeError');
  assert.equal(confined.iteratorDefine, '1');
  // Other properties SES enables keep their override taming: an instance's own `push`.
  assert.equal(confined.pushOverride, 'own');
});

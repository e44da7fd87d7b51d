// Popular npm packages (ESM-only, CommonJS-only and dual; installed as this project's
// devDependencies) used from an ESM app under the loader with a reviewed policy must
// give exactly the output they give under plain node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('real-app');
const env = { FORCE_COLOR: '1', DEBUG: '' };

test('real packages give the same output under the loader as under plain node', () => {
  const plain = runPlain(dir, 'app.mjs', { env });
  assert.equal(plain.status, 0, plain.stderr);
  const confined = runWithLoader(dir, 'app.mjs', { env });
  assert.equal(confined.stderr, '');
  assert.equal(confined.status, 0);
  assert.equal(confined.stdout, plain.stdout);
  // Every package printed its line.
  for (const name of ['lodash', 'semver', 'semver-cjs', 'chalk', 'nanoid', 'uuid', 'dotenv', 'dotenv-env', 'zod', 'dayjs',
    'commander', 'js-yaml', 'p-limit', 'minimist', 'debug', 'moment-timezone', 'express-get', 'express-post', 'express-404',
    'fs-extra', 'yargs', 'axios', 'ws']) {
    assert.match(confined.stdout, new RegExp(`^${name}: `, 'm'), name);
  }
});

test('a grant taken away from a real package is denied with the entry that would allow it', () => {
  const confined = runWithLoader(dir, 'app.mjs', {
    env: { ...env, LAVAMOAT_POLICY_OVERRIDE: 'lavamoat/node/deny-crypto-override.json' },
  });
  assert.notEqual(confined.status, 0);
  assert.match(confined.stderr, /package "nanoid" is not allowed the builtin module "crypto"/);
  assert.match(confined.stderr, /\{"resources":\{"nanoid":\{"builtin":\{"crypto":true\}\}\}\}/);
});

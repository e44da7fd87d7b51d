// Every class whose constructor is authority is disarmed (an instance's `constructor` is
// an inert twin), whichever module loads first: Node makes http's and (Node 20) tls's
// classes in public modules of their own (`_http_server`, `_tls_wrap`), hardened as each
// finishes loading, before `http` or `tls` has (capability-classes.ts; attack case 73).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('capability-order');
// (Not `_tls_wrap` alone: plain Node 20 then fails to load https.)
const ORDERS = ['', 'http', 'https', 'tls', '_http_server', '_http_client', '_http_agent', 'tls,_tls_wrap', 'net,http', 'child_process', 'fs,tty,dgram,dns,vm,inspector'];

test('under plain node, every class is open (the check can fail)', () => {
  const result = runPlain(dir, 'app.mjs', { env: { LM_ORDER: 'http' } });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /open .*http\.Server.*http\.Agent/);
});

for (const order of ORDERS) {
  test(`no capability class left armed when ${order || 'nothing'} loads first`, () => {
    const result = runWithLoader(dir, 'app.mjs', { env: { LM_ORDER: order } });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /: open none\n$/, result.stdout);
  });
}

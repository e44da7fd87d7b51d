// Sockets and servers that node:net made connect and listen as under plain node, for the
// app and for a package granted `net` (net-brands.ts; the refusals are attack case 73).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const dir = fixture('net-brands');

test('the app and a package granted net: the same sockets and servers as plain node', () => {
  const plain = runPlain(dir, 'app.mjs');
  assert.equal(plain.status, 0, plain.stderr);
  const confined = runWithLoader(dir, 'app.mjs');
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  // What the fixture covers, so that a fixture that stops early cannot pass.
  for (const line of ['package subclass: echo:subclass', 'package reconnect: echo:first echo:second', 'package server: listened twice', 'app http.get /b: web /b true', 'instanceof: true,true,false', 'app server listening again: true', 'app tls.connect: secure /raw', 'app https.get: secure /h', 'app https.globalAgent options: secure /go', 'secure /sf | secure /sg | secure /so', 'app agent options set: 5000 true', 'app through package agents: web /pa1 true | secure /s/pa1 | web /pa2 true | secure /s/pa2 made 1', 'child stdio: piped', 'child sync: sync', 'app http.get agent false: web /nf true', 'app agent subclass: web /sub true', 'made 1 | web /global true | web /nokeep true | web /delegated true | web /delegated-own true']) {
    assert.ok(confined.stdout.includes(line), line);
  }
});

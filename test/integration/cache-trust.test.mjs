// The compiled-module cache is trusted exactly as far as the code it caches
// (src/cache/trust.ts): an entry planted by whoever can write the cache runs only where
// that writer could have rewritten the package's source anyway. Run by a process that is
// not root (root can write everything), as `nobody` when the tests run as root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cannotRunAs, loaderURL } from '../helpers.mjs';

const asRoot = process.getuid?.() === 0;
const uid = asRoot ? 65534 : process.getuid();

const skip = asRoot && cannotRunAs(uid, new URL(loaderURL).pathname);

function makeApp() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-cache-trust-'));
  fs.chmodSync(base, 0o755);
  const app = path.join(base, 'app');
  const write = (file, text) => {
    fs.mkdirSync(path.dirname(path.join(app, file)), { recursive: true });
    fs.writeFileSync(path.join(app, file), text);
  };
  write('package.json', JSON.stringify({ name: 'trust-app', type: 'module', dependencies: { victim: '1.0.0' } }));
  write('app.mjs', "import { value } from 'victim';\nconsole.log(value);\n");
  write('node_modules/victim/package.json', JSON.stringify({ name: 'victim', version: '1.0.0', type: 'module', main: 'index.js' }));
  write('node_modules/victim/index.js', "export const value = 'from source';\n");
  write('lavamoat/node/policy.json', JSON.stringify({ resources: { victim: {} } }));
  if (asRoot) {
    for (const entry of fs.readdirSync(app, { recursive: true })) fs.chownSync(path.join(app, entry), uid, uid);
    fs.chownSync(app, uid, uid);
  }
  return app;
}

const run = (app) => {
  const result = spawnSync(process.execPath, ['--import', loaderURL, 'app.mjs'], {
    cwd: app,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', LAVAMOAT_CACHE: path.join(app, 'cache'), HOME: app },
    ...(asRoot ? { uid, gid: uid } : {}),
  });
  assert.equal(result.status, 0, result.stderr);
  return { out: result.stdout.trim(), err: result.stderr };
};

/** What an attacker with file writes does: rewrite an entry and its hash (no secret stops it). */
function plant(cacheDir) {
  let planted = 0;
  for (const name of fs.readdirSync(cacheDir)) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(cacheDir, name);
    const text = fs.readFileSync(file, 'utf8');
    const payload = text.slice(text.indexOf('\n') + 1);
    if (!payload.includes('from source')) continue;
    const forged = payload.replace('from source', 'PLANTED');
    const key = name.slice(0, -'.json'.length);
    const check = crypto.createHash('sha256').update(key).update('\0').update(forged).digest('hex');
    fs.writeFileSync(file, `${check}\n${forged}`);
    planted += 1;
  }
  return planted;
}

const setMode = (dir, mode) => {
  fs.chmodSync(dir, mode);
  for (const entry of fs.readdirSync(dir, { recursive: true })) {
    const file = path.join(dir, entry);
    if (fs.statSync(file).isDirectory()) fs.chmodSync(file, mode);
  }
};

test('a planted cache entry runs only where its writer could rewrite the source anyway', { timeout: 60_000, skip }, () => {
  const app = makeApp();
  const cache = path.join(app, 'cache');
  assert.equal(run(app).out, 'from source');
  assert.ok(plant(cache) > 0, 'the module was cached');
  // node_modules writable too: whoever planted the entry could have edited index.js.
  assert.equal(run(app).out, 'PLANTED', 'read-write cache: as trusted as the code this process can write');
  // node_modules read-only, cache writable: the cache is the only way to plant code.
  setMode(path.join(app, 'node_modules'), 0o555);
  const off = run(app);
  assert.equal(off.out, 'from source', 'the planted entry is not used');
  assert.match(off.err, /compiled-module cache is not used: .* deploy it read-only/);
});

test('a cache built ahead of time and deployed read-only is used, and never written', { timeout: 60_000, skip }, () => {
  const app = makeApp();
  const cache = path.join(app, 'cache');
  assert.equal(run(app).out, 'from source', 'the build step fills the cache');
  setMode(path.join(app, 'node_modules'), 0o555);
  setMode(cache, 0o555);
  const before = fs.readdirSync(cache).sort();
  const result = run(app);
  assert.equal(result.out, 'from source');
  assert.doesNotMatch(result.err, /not used/);
  assert.deepEqual(fs.readdirSync(cache).sort(), before, 'nothing written');
});

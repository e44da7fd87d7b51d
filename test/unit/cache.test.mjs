// The compiled-module cache can only change speed, never behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { ModuleCache } from '../../dist/cache/module-cache.js';
import { cacheMode } from '../../dist/cache/trust.js';
import { cannotRunAs } from '../helpers.mjs';

const tempDir = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-cache-')), 'cache');
const entries = (dir) => fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));

test('a stored record comes back only for the same source, URL and versions', () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 'v1' });
  cache.set('esm', 'file:///a.js', 'export default 1', { program: 'one' });
  assert.deepEqual(cache.get('esm', 'file:///a.js', 'export default 1'), { program: 'one' });
  assert.equal(cache.get('esm', 'file:///a.js', 'export default 2'), undefined, 'changed source');
  assert.equal(cache.get('esm', 'file:///b.js', 'export default 1'), undefined, 'other module');
  assert.equal(cache.get('cjs', 'file:///a.js', 'export default 1'), undefined, 'other kind');
  assert.equal(new ModuleCache({ dir, salt: 'v2' }).get('esm', 'file:///a.js', 'export default 1'), undefined, 'other versions');
});

test("a record's text field is stored as it is, after its JSON, and comes back whole", () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 's' });
  const program = '(function () {\n  return "a\\nb" + `\n`;\n})\n//# sourceURL=file:///a.js\n\u2028 é 😀';
  cache.set('esm', 'file:///a.js', 'src', { imports: ['x'], program }, 'program');
  cache.set('cjs', 'file:///a.js', 'src', { lexed: { exports: [] } }, 'body');
  cache.flush();
  const fresh = new ModuleCache({ dir, salt: 's' });
  assert.deepEqual(fresh.get('esm', 'file:///a.js', 'src'), { imports: ['x'], program });
  assert.deepEqual(fresh.get('cjs', 'file:///a.js', 'src'), { lexed: { exports: [] } }, 'no text stored when the field is absent');
  const file = entries(dir).find((f) => fs.readFileSync(f, 'utf8').includes('sourceURL'));
  assert.ok(fs.readFileSync(file, 'utf8').endsWith(program), 'the text is not JSON-escaped');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, -3));
  assert.equal(new ModuleCache({ dir, salt: 's' }).get('esm', 'file:///a.js', 'src'), undefined, 'text cut short');
});

test('the directory is private to the user', () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 's' });
  cache.set('esm', 'u', 's', 1);
  cache.flush();
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(fs.existsSync(path.join(dir, 'secret')), false, 'no secret: a package that can read files could read it');
  for (const file of entries(dir)) assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('corrupt and truncated entries are ignored (an accident, not an attacker: see trust.ts)', () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 's' });
  cache.set('esm', 'file:///a.js', 'src', { program: 'good' });
  cache.flush();
  const [file] = entries(dir);
  const original = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, original.replace('good', 'gold'));
  assert.equal(cache.get('esm', 'file:///a.js', 'src'), undefined, 'payload changed, hash no longer matches');
  fs.writeFileSync(file, original.slice(0, original.length - 5));
  assert.equal(cache.get('esm', 'file:///a.js', 'src'), undefined, 'truncated');
  fs.writeFileSync(file, 'garbage');
  assert.equal(cache.get('esm', 'file:///a.js', 'src'), undefined, 'garbage');
  assert.ok(!fs.existsSync(file), 'a bad entry is removed, so that it is made again');
  // As a writer killed half-way leaves it (background writes go straight to the name).
  fs.writeFileSync(file, original.slice(0, 70));
  assert.equal(cache.get('esm', 'file:///a.js', 'src'), undefined, 'cut short by a killed writer');
  cache.set('esm', 'file:///a.js', 'src', { program: 'good' });
  cache.flush();
  assert.deepEqual(new ModuleCache({ dir, salt: 's' }).get('esm', 'file:///a.js', 'src'), { program: 'good' }, 'made again');
});

test('a read-only cache is read and never written', () => {
  const dir = tempDir();
  const writer = new ModuleCache({ dir, salt: 's' });
  writer.set('esm', 'file:///a.js', 'src', { program: 'built ahead' });
  writer.flush();
  const before = entries(dir).map((file) => fs.readFileSync(file, 'utf8'));
  const reader = new ModuleCache({ dir, salt: 's', readOnly: true });
  assert.deepEqual(reader.get('esm', 'file:///a.js', 'src'), { program: 'built ahead' });
  reader.set('esm', 'file:///b.js', 'other', { program: 'new' });
  reader.flush();
  fs.writeFileSync(entries(dir)[0], 'garbage');
  assert.equal(reader.get('esm', 'file:///a.js', 'src'), undefined);
  assert.equal(entries(dir).length, before.length, 'nothing written, nothing removed');
});

const trustURL = new URL('../../dist/cache/trust.js', import.meta.url);
const asRootHere = process.getuid?.() === 0;

test('a cache is trusted as far as the code it caches (cache/trust.ts)', { skip: asRootHere && cannotRunAs(65534, trustURL.pathname) }, () => {
  // Judged by a process that is not root (root can write everything): as root, the check
  // runs in a child as the unprivileged user `nobody`.
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-trust-'));
  fs.chmodSync(base, 0o755);
  const code = path.join(base, 'node_modules');
  const cache = path.join(base, 'cache');
  fs.mkdirSync(code);
  fs.mkdirSync(cache);
  const asRoot = process.getuid?.() === 0;
  const uid = asRoot ? 65534 : process.getuid();
  if (asRoot) for (const dir of [code, cache]) fs.chownSync(dir, uid, uid);
  const judge = () => {
    const script = `const { cacheMode } = await import(${JSON.stringify(trustURL.href)}); process.stdout.write(JSON.stringify(cacheMode(${JSON.stringify(cache)}, [${JSON.stringify(code)}])));`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', ...(asRoot ? { uid, gid: uid } : {}) });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  assert.equal(judge().mode, 'read-write', 'both writable: a package could rewrite the code anyway');
  fs.chmodSync(code, 0o555);
  const off = judge();
  assert.equal(off.mode, 'off', 'writable cache, read-only code: the cache would be the only way to plant code');
  assert.match(off.reason, /deploy it read-only/);
  fs.chmodSync(cache, 0o555);
  assert.equal(judge().mode, 'read-only', 'both read-only: built ahead of time, used as it is');
  fs.chmodSync(cache, 0o755);
  fs.chmodSync(code, 0o755);
  void cacheMode;
});

test('a directory others can write is not used', () => {
  const dir = tempDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  const cache = new ModuleCache({ dir, salt: 's' });
  cache.set('esm', 'u', 's', 1);
  cache.flush();
  assert.equal(cache.get('esm', 'u', 's'), undefined);
  assert.deepEqual(entries(dir), []);
});

test('records are written in the background, and at exit if still pending', async () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 's' });
  cache.set('esm', 'file:///a.js', 'src', { program: 'a' });
  assert.deepEqual(cache.get('esm', 'file:///a.js', 'src'), { program: 'a' }, 'answered from memory before the file lands');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(entries(dir).length, 1, 'the file landed');
  assert.deepEqual(new ModuleCache({ dir, salt: 's' }).get('esm', 'file:///a.js', 'src'), { program: 'a' });
  // A process that exits right after computing records still leaves them.
  const cacheURL = new URL('../../dist/cache/module-cache.js', import.meta.url).href;
  const exiting = `
    const { ModuleCache } = await import(${JSON.stringify(cacheURL)});
    const cache = new ModuleCache({ dir: ${JSON.stringify(dir)}, salt: 's' });
    for (let i = 0; i < 20; i += 1) cache.set('esm', 'file:///e' + i + '.js', 'src', { i });
    process.exit(0);
  `;
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', exiting], { stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
  });
  const reader = new ModuleCache({ dir, salt: 's' });
  for (let i = 0; i < 20; i += 1) assert.deepEqual(reader.get('esm', `file:///e${i}.js`, 'src'), { i }, `entry ${i}`);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
});

test('a record made again under the same key replaces the one on disk (a facade whose stamps no longer hold)', async () => {
  const dir = tempDir();
  const first = new ModuleCache({ dir, salt: 's' });
  first.set('facade', 'file:///a.js', 'v20', { stamps: [['/x', 1, 1]], names: ['old'] });
  await new Promise((resolve) => setTimeout(resolve, 200));
  // The next start finds it stale and makes it again.
  const second = new ModuleCache({ dir, salt: 's' });
  assert.deepEqual(second.get('facade', 'file:///a.js', 'v20').names, ['old']);
  second.set('facade', 'file:///a.js', 'v20', { stamps: [['/x', 2, 2]], names: ['new'] });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(new ModuleCache({ dir, salt: 's' }).get('facade', 'file:///a.js', 'v20').names, ['new'], 'the third start has the new answer');
  assert.equal(entries(dir).length, 1);
  assert.deepEqual(fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
});

test('old temporary files of killed writers are swept, once a day', () => {
  const dir = tempDir();
  new ModuleCache({ dir, salt: 's' }).get('esm', 'u', 's'); // creates the directory, sweeps
  const stale = path.join(dir, 'x.json.1.abcd.tmp');
  const fresh = path.join(dir, 'y.json.1.abcd.tmp');
  fs.writeFileSync(stale, 'partial');
  fs.writeFileSync(fresh, 'partial');
  const old = new Date(Date.now() - 2 * 3600 * 1000);
  fs.utimesSync(stale, old, old);
  new ModuleCache({ dir, salt: 's' }).get('esm', 'u', 's');
  assert.ok(fs.existsSync(stale), 'swept at most once a day');
  const yesterday = new Date(Date.now() - 25 * 3600 * 1000);
  fs.utimesSync(path.join(dir, 'swept'), yesterday, yesterday);
  new ModuleCache({ dir, salt: 's' }).get('esm', 'u', 's');
  assert.ok(!fs.existsSync(stale), 'an hour-old temporary file is removed');
  assert.ok(fs.existsSync(fresh), 'a recent one may still be written: kept');
});

test('concurrent writers never leave a broken entry', async () => {
  const dir = tempDir();
  const cacheURL = new URL('../../dist/cache/module-cache.js', import.meta.url).href;
  const writer = `
    const { ModuleCache } = await import(${JSON.stringify(cacheURL)});
    const cache = new ModuleCache({ dir: ${JSON.stringify(dir)}, salt: 's' });
    for (let i = 0; i < 200; i += 1) cache.set('esm', 'file:///m' + (i % 10) + '.js', 'src', { program: 'x'.repeat(5000), i: i % 10 });
  `;
  await Promise.all(
    Array.from({ length: 4 }, () => new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', writer], { stdio: 'inherit' });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
    })),
  );
  const cache = new ModuleCache({ dir, salt: 's' });
  for (let i = 0; i < 10; i += 1) {
    assert.equal(cache.get('esm', `file:///m${i}.js`, 'src')?.i, i);
  }
  assert.deepEqual(fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
});

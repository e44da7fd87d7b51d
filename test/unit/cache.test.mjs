// The compiled-module cache can only change speed, never behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ModuleCache } from '../../dist/cache/module-cache.js';

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

test('the directory is private to the user', () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 's' });
  cache.set('esm', 'u', 's', 1);
  cache.flush();
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(dir, 'secret')).mode & 0o777, 0o600);
});

test('corrupt, truncated and forged entries are ignored', () => {
  const dir = tempDir();
  const cache = new ModuleCache({ dir, salt: 's' });
  cache.set('esm', 'file:///a.js', 'src', { program: 'good' });
  cache.flush();
  const [file] = entries(dir);
  const original = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, original.replace('good', 'evil'));
  assert.equal(cache.get('esm', 'file:///a.js', 'src'), undefined, 'payload changed, MAC no longer matches');
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
  // An entry made with another secret (copied from another machine or user).
  const other = tempDir();
  const foreign = new ModuleCache({ dir: other, salt: 's' });
  foreign.set('esm', 'file:///a.js', 'src', { program: 'foreign' });
  foreign.flush();
  fs.copyFileSync(entries(other)[0], file);
  assert.equal(cache.get('esm', 'file:///a.js', 'src'), undefined, 'foreign entry');
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

test('a damaged secret turns the cache off for the whole process', () => {
  const dir = tempDir();
  const first = new ModuleCache({ dir, salt: 's' });
  first.set('esm', 'u', 's', { program: 'good' });
  first.flush();
  fs.writeFileSync(path.join(dir, 'secret'), 'short');
  const cache = new ModuleCache({ dir, salt: 's' });
  // Not only the first call: every later one must also refuse.
  for (let i = 0; i < 3; i++) assert.equal(cache.get('esm', 'u', 's'), undefined, `call ${i}`);
  const before = entries(dir).length;
  cache.set('esm', 'v', 's', { program: 'other' });
  cache.flush();
  assert.equal(entries(dir).length, before, 'nothing written with a damaged secret');
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

// The argument of a confined `createRequire`, taken as Node takes it, read once.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { realRoot, requireFilename } from '../../dist/confine/module-builtin.js';

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-create-require-')));
const file = path.join(dir, 'package.json');
const href = pathToFileURL(file).href;
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The directory Node resolves from for a require rooted at `from` (its first lookup path, less node_modules). */
const nodeDirectory = (from) => path.dirname(createRequire(from).resolve.paths('x')[0]);

test('paths, file URLs, URLs and URL-likes root where Node roots them', () => {
  const inputs = {
    path: file,
    'path with ..': `${dir}/a/../package.json`,
    'file URL string': href,
    'file://localhost': href.replace('file://', 'file://localhost'),
    'FILE: in capitals': href.replace('file:', 'FILE:'),
    '%2e%2e in a URL': `${pathToFileURL(dir).href}/a/%2e%2e/package.json`,
    URL: new URL(href),
    'URL-like': { href, protocol: 'file:', hostname: '', pathname: file, toString: () => href },
    directory: `${dir}/`,
    'directory URL': `${pathToFileURL(dir).href}/`,
    'a file that does not exist': path.join(dir, 'nope', 'x.js'),
  };
  for (const [name, input] of Object.entries(inputs)) {
    const filename = requireFilename(input);
    assert.equal(path.dirname(path.resolve(filename)), nodeDirectory(input), name);
  }
  assert.equal(requireFilename(`${dir}/`), path.join(dir, 'noop.js'), 'a directory stands for noop.js in it, as in Node');
});

test('what Node refuses is refused with its error code', () => {
  const inputs = {
    relative: 'package.json',
    'empty string': '',
    'http URL': 'http://example.com/x.js',
    'file URL with a host': 'file://host/x.js',
    'encoded slash': `${pathToFileURL(dir).href}/a%2Fb.js`,
    number: 1,
    null: null,
    'object with toString': { toString: () => file },
    'String object': new String(file),
    'URL-like with auth': { href, protocol: 'file:', auth: 'x' },
    'URL-like with path': { href, protocol: 'file:', path: '/x' },
  };
  for (const [name, input] of Object.entries(inputs)) {
    assert.throws(() => createRequire(input), { code: 'ERR_INVALID_ARG_VALUE' }, `node: ${name}`);
    assert.throws(() => requireFilename(input), { code: 'ERR_INVALID_ARG_VALUE' }, name);
  }
});

test('a URL-like object is read once; a real URL by its own state', () => {
  let reads = 0;
  const like = {
    get href() {
      reads += 1;
      return reads === 1 ? href : 'file:///etc/passwd';
    },
    protocol: 'file:',
    toString: () => 'file:///etc/passwd',
  };
  assert.equal(requireFilename(like), file);
  assert.equal(reads, 1);
  const url = new URL(href);
  Object.defineProperty(url, 'href', { get: () => 'file:///etc/passwd' });
  assert.equal(requireFilename(url), file);
  const proxy = new Proxy(new URL('file:///etc/passwd'), { get: (t, k) => (k === 'href' ? href : Reflect.get(t, k)) });
  assert.equal(requireFilename(proxy), file, "a proxy is no URL: its href, read once, is what counts");
});

test('realRoot: .. taken away as text, then the directory\'s symlinks followed, from the deepest part that exists', () => {
  const target = path.join(dir, 'target');
  fs.mkdirSync(target, { recursive: true });
  fs.symlinkSync(target, path.join(dir, 'link'));
  assert.equal(realRoot(path.join(dir, 'link', 'x.js')), path.join(target, 'x.js'));
  assert.equal(realRoot(`${dir}/link/../package.json`), path.join(dir, 'package.json'));
  assert.equal(realRoot(path.join(dir, 'link', 'missing', 'deeper', 'x.js')), path.join(target, 'missing', 'deeper', 'x.js'));
  // The file itself is not followed: Node resolves from its directory.
  fs.symlinkSync('/etc/hostname', path.join(target, 'file-link.js'));
  assert.equal(realRoot(path.join(dir, 'link', 'file-link.js')), path.join(target, 'file-link.js'));
});

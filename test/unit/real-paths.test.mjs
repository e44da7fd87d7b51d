// The real-path memo answers as fs.realpathSync does, through links to directories and files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { realDirectory, realEntry, realFile } from '../../dist/graph/real-paths.js';

function tree() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lm-real-')));
  fs.mkdirSync(path.join(root, 'store', 'pkg', 'lib'), { recursive: true });
  fs.writeFileSync(path.join(root, 'store', 'pkg', 'lib', 'a.js'), '');
  fs.writeFileSync(path.join(root, 'store', 'other.js'), '');
  fs.mkdirSync(path.join(root, 'app', 'node_modules'), { recursive: true });
  fs.symlinkSync(path.join(root, 'store', 'pkg'), path.join(root, 'app', 'node_modules', 'pkg'));
  fs.symlinkSync(path.join(root, 'store', 'other.js'), path.join(root, 'store', 'pkg', 'lib', 'link.js'));
  fs.symlinkSync('lib', path.join(root, 'store', 'pkg', 'relative'));
  return root;
}

test('files and directories, through links, as fs.realpathSync', () => {
  const root = tree();
  const paths = [
    'app/node_modules/pkg/lib/a.js',
    'app/node_modules/pkg/lib/link.js',
    'app/node_modules/pkg/relative/a.js',
    'app/node_modules/pkg/relative/link.js',
    'store/pkg/lib/a.js',
  ].map((p) => path.join(root, p));
  for (const file of [...paths, ...paths]) {
    assert.equal(realFile(file), fs.realpathSync(file), file);
    assert.equal(realEntry(file).isFile, true);
  }
  for (const dir of ['app/node_modules/pkg', 'app/node_modules/pkg/relative', 'store/pkg/lib', 'app']) {
    const full = path.join(root, dir);
    assert.equal(realDirectory(full), fs.realpathSync(full), dir);
    assert.deepEqual(realEntry(full), { real: fs.realpathSync(full), isFile: false });
  }
});

test('a missing file throws, and is not remembered as missing', () => {
  const root = tree();
  const file = path.join(root, 'app', 'node_modules', 'pkg', 'lib', 'later.js');
  assert.throws(() => realFile(file), { code: 'ENOENT' });
  fs.writeFileSync(path.join(root, 'store', 'pkg', 'lib', 'later.js'), '');
  assert.equal(realFile(file), path.join(root, 'store', 'pkg', 'lib', 'later.js'));
});

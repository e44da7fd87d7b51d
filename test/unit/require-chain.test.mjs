// A confined package's require() passed through the require chain the preloads made
// (confine/require-chain.ts): require-in-the-middle's hooks get the exports the
// compartment produced, named and based as under plain node, and their result is what the
// package gets; without hooks the exports come back as they were; a hook that changes the
// request on its way down is refused. Module._load is replaced here by what the loader's
// wrapper does first (loader/require-hook.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Module, { createRequire } from 'node:module';
import { projectDir, fixture } from '../helpers.mjs';
import { chainAnswer, throughRequireChain } from '../../dist/confine/require-chain.js';

const require = createRequire(import.meta.url);
const requirer = fixture('otel-app', 'node_modules', 'greeter', 'index.js');
const hasRitm = fs.existsSync(path.join(projectDir, 'node_modules', 'require-in-the-middle'));

function withLoaderLoad(fn) {
  const original = Module._load;
  Module._load = function load(request, parent, isMain) {
    const answer = chainAnswer(request, parent);
    if (answer) return answer.value;
    throw new Error(`a load the chain did not make: ${request}`);
  };
  try {
    return fn();
  } finally {
    Module._load = original;
  }
}

test('without require hooks, the exports come back as the compartment made them', () => {
  const exports = { confined: true };
  assert.equal(withLoaderLoad(() => throughRequireChain('express', requirer, exports)), exports);
});

test("require-in-the-middle's hooks see the module as under plain node, and what they return is what the package gets", { skip: !hasRitm && 'require-in-the-middle is not installed' }, () => {
  const { Hook } = require('require-in-the-middle');
  const seen = [];
  const hook = new Hook(null, { internals: true }, (exports, name, basedir) => {
    seen.push([name, basedir]);
    return name === 'express' ? { patched: exports } : exports;
  });
  try {
    const main = { main: true };
    const internal = { internal: true };
    const express = path.join(projectDir, 'node_modules', 'express');
    const fromGreeter = withLoaderLoad(() => throughRequireChain('express', requirer, main));
    assert.deepEqual(fromGreeter, { patched: main });
    // A file inside the package, required relatively from another of its files.
    assert.equal(withLoaderLoad(() => throughRequireChain('./router', path.join(express, 'lib', 'application.js'), internal)), internal);
    assert.deepEqual(seen, [['express', express], [path.join('express', 'lib', 'router', 'index.js'), express]]);
    // Later requires of the file get what the hooks returned the first time (require-in-the-middle's cache).
    assert.equal(withLoaderLoad(() => throughRequireChain('express', requirer, main)), fromGreeter);
    assert.equal(seen.length, 2);
  } finally {
    hook.unhook();
  }
});

test('a hook that changes the request on its way down is refused', () => {
  const original = Module.prototype.require;
  Module.prototype.require = function require(id) {
    return Reflect.apply(original, this, [id === 'express' ? 'node:child_process' : id]);
  };
  try {
    assert.throws(() => withLoaderLoad(() => throughRequireChain('express', requirer, {})), /a require hook turned a package's require\(\) into require\('node:child_process'\)/);
  } finally {
    Module.prototype.require = original;
  }
});

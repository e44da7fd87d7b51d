// The synthetic tree of the bench: many small packages, half ES modules and half CommonJS,
// written at set-up into a fresh directory (never committed), the same bytes every time.
//
// Each package has `modulesPerPackage` modules in a binary tree (module j imports 2j+1 and
// 2j+2); its entry also imports the entries of two other packages (and only checks that
// it got their function, so that the work stays linear), so the package graph has depth and canonical names of the form `a>b`. The app imports the first half of the
// packages directly (the rest are reached through them) and prints a checksum.
import fs from 'node:fs';
import path from 'node:path';

const pad = (n) => String(n).padStart(3, '0');
const nameOf = (i) => `synth-${pad(i)}`;

/** Code every module carries, so that modules have the size of real ones (~1 KB). */
function body(i, j, esm) {
  const fn = esm ? 'export function' : 'function';
  return `
// package ${i}, module ${j}: some ordinary code to parse and compile
const table${j} = new Map([['a', ${j}], ['b', ${i}], ['c', ${i + j}]]);
${fn} describe${j}(value) {
  const parts = [];
  for (const [key, n] of table${j}) parts.push(\`\${key}=\${n * value}\`);
  return parts.join('&') + JSON.stringify({ pkg: ${i}, mod: ${j} }).length;
}
class Node${j} {
  constructor(value) { this.value = value; this.children = []; }
  add(child) { this.children.push(child); return this; }
  sum() { return this.children.reduce((s, c) => s + c.sum(), this.value); }
}
const tree${j} = new Node${j}(${j}).add(new Node${j}(${i})).add(new Node${j}(1));
`;
}

function esmModule(i, j, count, deps) {
  const imports = [];
  const terms = [`tree${j}.sum()`];
  for (const child of [2 * j + 1, 2 * j + 2]) {
    if (child < count) {
      imports.push(`import { f as f${child} } from './m${child}.js';`);
      terms.push(`f${child}(x)`);
    }
  }
  if (j === 0) {
    for (const d of deps) {
      imports.push(`import { f as dep${d} } from '${nameOf(d)}';`);
      terms.push(`(typeof dep${d} === 'function' ? ${d} : 0)`);
    }
  }
  return `${imports.join('\n')}\n${body(i, j, true)}\nexport function f(x) { return (${terms.join(' + ')} + describe${j}(x).length) % 1000003; }\n`;
}

function cjsModule(i, j, count, deps) {
  const requires = [];
  const terms = [`tree${j}.sum()`];
  for (const child of [2 * j + 1, 2 * j + 2]) {
    if (child < count) {
      requires.push(`const f${child} = require('./m${child}.js').f;`);
      terms.push(`f${child}(x)`);
    }
  }
  if (j === 0) {
    for (const d of deps) {
      requires.push(`const dep${d} = require('${nameOf(d)}').f;`);
      terms.push(`(typeof dep${d} === 'function' ? ${d} : 0)`);
    }
  }
  return `'use strict';\n${requires.join('\n')}\n${body(i, j, false)}\nexports.describe = describe${j};\nexports.f = function f(x) { return (${terms.join(' + ')} + describe${j}(x).length) % 1000003; };\n`;
}

/**
 * Writes the app into `dir` (which must not exist): `packages` packages of
 * `modulesPerPackage` modules; even-numbered packages are ES modules, odd ones CommonJS.
 * Returns the number of module files written (the app's own entry included).
 */
export function writeSynthApp(dir, { packages = 100, modulesPerPackage = 40 } = {}) {
  // Package i depends on two packages after it, so there are no cycles and the second
  // half is only reached through the first.
  const depsOf = (i) => [i + 1, i + Math.floor(packages / 2)].filter((d) => d < packages && d !== i).slice(0, i < packages / 2 ? 2 : 1);
  let files = 0;
  for (let i = 0; i < packages; i += 1) {
    const esm = i % 2 === 0;
    const pkgDir = path.join(dir, 'node_modules', nameOf(i));
    fs.mkdirSync(pkgDir, { recursive: true });
    const deps = depsOf(i);
    const manifest = { name: nameOf(i), version: '1.0.0', main: 'm0.js', dependencies: Object.fromEntries(deps.map((d) => [nameOf(d), '1.0.0'])) };
    if (esm) manifest.type = 'module';
    fs.writeFileSync(path.join(pkgDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (let j = 0; j < modulesPerPackage; j += 1) {
      fs.writeFileSync(path.join(pkgDir, `m${j}.js`), (esm ? esmModule : cjsModule)(i, j, modulesPerPackage, deps));
      files += 1;
    }
  }
  const direct = Array.from({ length: Math.ceil(packages / 2) }, (_, i) => i);
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'bench-synth', version: '1.0.0', private: true, type: 'module', dependencies: Object.fromEntries(direct.map((i) => [nameOf(i), '1.0.0'])) }, null, 2)}\n`,
  );
  const app = [
    '// Synthetic tree: imports half of the packages (the others are their dependencies), prints a checksum.',
    ...direct.map((i) => `import { f as p${i} } from '${nameOf(i)}';`),
    `const total = [${direct.map((i) => `p${i}`).join(', ')}].reduce((sum, f) => (sum + f(3)) % 1000003, 0);`,
    'process.stdout.write(`ready ${total}\\n`);',
    '',
  ];
  fs.writeFileSync(path.join(dir, 'app.mjs'), app.join('\n'));
  return files + 1;
}

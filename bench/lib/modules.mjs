// What an app loads: the list written by count-modules.mjs, grouped by package and format.
import fs from 'node:fs';
import path from 'node:path';

const typeCache = new Map();

/** `type` of the nearest package.json above `file` (what decides a .js file's format). */
function packageType(dir) {
  if (typeCache.has(dir)) return typeCache.get(dir);
  let type;
  const manifest = path.join(dir, 'package.json');
  if (fs.existsSync(manifest)) {
    try {
      type = JSON.parse(fs.readFileSync(manifest, 'utf8')).type ?? 'commonjs';
    } catch {
      type = 'commonjs';
    }
  } else {
    const parent = path.dirname(dir);
    type = parent === dir ? 'commonjs' : packageType(parent);
  }
  typeCache.set(dir, type);
  return type;
}

export function formatOf(file) {
  const ext = path.extname(file);
  if (ext === '.mjs') return 'esm';
  if (ext === '.cjs') return 'cjs';
  if (ext === '.json') return 'json';
  if (ext === '.node') return 'native';
  return packageType(path.dirname(file)) === 'module' ? 'esm' : 'cjs';
}

/** The package directory a file belongs to: the part up to the last node_modules/<name>. */
export function packageOf(file) {
  const marker = `${path.sep}node_modules${path.sep}`;
  const at = file.lastIndexOf(marker);
  if (at === -1) return undefined; // the app's own code
  const rest = file.slice(at + marker.length).split(path.sep);
  const name = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  return { name, dir: file.slice(0, at + marker.length) + name };
}

/** Summary of a module list file: counts of modules, formats and dependency packages. */
export function summarise(listFile) {
  const files = fs.readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
  const formats = { esm: 0, cjs: 0, json: 0, native: 0 };
  const packages = new Map();
  let appModules = 0;
  for (const file of files) {
    const format = formatOf(file);
    formats[format] += 1;
    const pkg = packageOf(file);
    if (!pkg) {
      appModules += 1;
      continue;
    }
    const entry = packages.get(pkg.dir) ?? { name: pkg.name, modules: 0, formats: new Set() };
    entry.modules += 1;
    if (format === 'esm' || format === 'cjs') entry.formats.add(format);
    packages.set(pkg.dir, entry);
  }
  const list = [...packages.values()];
  return {
    modules: files.length,
    appModules,
    dependencyModules: files.length - appModules,
    formats,
    packages: list.length,
    packageNames: new Set(list.map((p) => p.name)).size,
    esmPackages: list.filter((p) => p.formats.has('esm')).length,
    cjsPackages: list.filter((p) => p.formats.has('cjs')).length,
    largest: list.sort((a, b) => b.modules - a.modules).slice(0, 8).map((p) => `${p.name} ${p.modules}`),
  };
}

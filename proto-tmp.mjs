import 'ses';
import { loadFromMap } from '@endo/compartment-mapper/import-lite.js';
import { ModuleSource } from '@endo/module-source';
import fs from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
lockdown({ errorTaming: 'unsafe', overrideTaming: 'severe', consoleTaming: 'unsafe' });
const root = pathToFileURL('/tmp/proto/').href;
const foo = root + 'node_modules/foo/';
const bar = root + 'node_modules/bar/';
const compartmentMap = {
  tags: [],
  entry: { compartment: root, module: './e.mjs' },
  compartments: {
    [root]: { name: 'app', label: '$root$', location: root, modules: {}, scopes: {}, parsers: {mjs:'mjs'}, types: {}, policy: undefined },
    [foo]: { name: 'foo', label: 'foo', location: foo, modules: {}, scopes: {}, parsers: { js: 'cjs' }, types: {}, policy: { packages: { 'foo>bar': true }, builtins: { fs: true }, globals: {} } },
    [bar]: { name: 'bar', label: 'foo>bar', location: bar, modules: {}, scopes: {}, parsers: { js: 'mjs' }, types: {}, policy: { packages: {}, builtins: {}, globals: {} } },
  },
};
const compartments = {};
const resolveFor = (loc) => (spec, referrer) => {
    if (spec.startsWith('./') || spec.startsWith('../')) return opts.resolveHook(spec, referrer);
    if (spec === 'fs' || spec.startsWith('node:')) return spec;
    const req = createRequire(new URL(referrer, loc));
    const file = pathToFileURL(req.resolve(spec)).href;
    if (file.startsWith(loc)) return './' + file.slice(loc.length);
    return file;
  };
function WrappedCompartment(opts) {
  const loc = opts.name; const resolveHook = resolveFor(loc);
  const c = new Compartment({ ...opts, resolveHook, __noNamespaceBox__: true });
  compartments[loc] = c;
  return c;
}
const td = new TextDecoder();
const parserForLanguage = {
  mjs: { synchronous: true, heuristicImports: false, parse: (bytes, spec, location) => ({ parser: 'mjs', bytes, record: new ModuleSource(td.decode(bytes), location) }) },
  cjs: { synchronous: true, heuristicImports: false, parse: (bytes, spec, location) => {
    const src = td.decode(bytes);
    return { parser: 'cjs', bytes, record: { imports: [], exports: ['default', 'hello', 'g'], execute(env, compartment) {
      const fn = compartment.evaluate(`(function (exports, require, module) {${src}\n})`);
      const module = { exports: {} };
      const require = (s) => { const ns = compartment.importNow(resolveFor(foo)(s, './index.js')); return ns.default ?? ns; };
      fn(module.exports, require, module);
      env.default = module.exports; env.hello = module.exports.hello; env.g = module.exports.g;
    } } };
  } },
};
const readPowers = { read: async (l) => fs.readFileSync(new URL(l)), maybeReadNow: (l) => { try { return fs.readFileSync(new URL(l)); } catch { return undefined; } }, fileURLToPath, pathToFileURL, isAbsolute: (p) => p.startsWith('/') };
readPowers.maybeRead = async (l) => readPowers.maybeReadNow(l);
const fsNs = { readFileSync: fs.readFileSync };
const app = await loadFromMap(readPowers, compartmentMap, { parserForLanguage, Compartment: WrappedCompartment, importNowHook: (spec, loc) => { console.log('exitNow', spec, loc); if (spec === 'fs') return { imports: [], exports: Object.keys(fsNs).concat('default'), execute(env) { Object.assign(env, fsNs); env.default = fsNs; } }; } });
try { await app.import({
  modules: { 'lavamoat:entry': {} },
  importNowHook: (spec, loc) => { console.log('exitNow', spec, loc); if (spec === 'fs') return { imports: [], exports: Object.keys(fsNs).concat('default'), execute(env) { Object.assign(env, fsNs); env.default = fsNs; } }; },
  importHook: async (spec, loc) => { console.log('exit', spec, loc); },
}); } catch (e) { console.log("ERR", e.message, e.stack); }
let ns; try { ns = compartments[foo].importNow("./index.js"); } catch (e) { console.log("ERR2", e.message); }
console.log(ns.hello(), ns.g);

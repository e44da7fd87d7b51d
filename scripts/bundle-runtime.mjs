// Second build step (after tsc): bundles what `--import lavamoat/loader` loads into
// dist/runtime/. Start-up was spending most of its fixed cost in Node resolving and
// linking SES's and the compartment mapper's ~200 module files one by one; a few files
// load in a fraction of that time (measured in docs/performance.md).
//
// Entry points are the files loaded by URL at run time: boot and preload (loader.mjs),
// hooks (module.register on Node 20, or imported in-thread), bridge (imported by the
// facades). Code splitting keeps one instance of every module they share, so the
// bridge the facades import is the one the preload filled.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { MODULE_EVALUATION_EDITS, MODULE_EVALUATION_SPECIFIER } from './ses-module-evaluation-edits.mjs';
import { EXPORT_VIEWS_EDITS, IMPORT_VIEWS_SPECIFIER } from './ses-export-views-edits.mjs';
import { stripNoOpNames } from './strip-names.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const sesDir = path.dirname(require.resolve('ses/package.json'));

// ses.ts changes SES's override plans before lockdown reads them, which needs the very
// module SES uses: `ses/src/enablements.js` is not in SES's exports map, so it is
// resolved here by path, into the same bundle module as SES's own import of it.
const sesInternals = {
  name: 'ses-internals',
  setup(build) {
    build.onResolve({ filter: /^ses\/src\/[\w-]+\.js$/ }, (args) => ({
      path: path.join(sesDir, args.path.slice('ses/'.length)),
    }));
    // The evaluator SES's edited compartment calls (see ses-module-evaluation-edits.mjs):
    // the runtime's own module, so that one instance serves SES and the runtime.
    build.onResolve({ filter: new RegExp(`^${MODULE_EVALUATION_SPECIFIER}$`) }, () => ({
      path: path.join(root, 'dist', 'confine', 'module-evaluation.js'),
    }));
    // Strict mode's hook for what a module imports (see ses-export-views-edits.mjs).
    build.onResolve({ filter: new RegExp(`^${IMPORT_VIEWS_SPECIFIER}$`) }, () => ({
      path: path.join(root, 'dist', 'confine', 'import-views.js'),
    }));
  },
};

// Node's builtins as the objects `process.getBuiltinModule` returns, not through Node's
// ES module facades: the first ESM import of a builtin builds its facade, which reads
// every export, getters included. For `node:process` that makes `stdin`, `stdout` and
// `stderr` (loading net, stream, readline and fs/promises), for `node:timers`
// timers/promises: ~12 ms of every start on Node 24 spent loading, and then hardening,
// modules neither the runtime nor the app may use. Each builtin becomes a module that
// exports the object as default and, as constants, only the names the runtime imports
// from it (read from tsc's output, which has no other form of builtin import).
const builtinNames = new Map();
const importForm = /^import\s+(?:[\w$]+\s*,?\s*)?(?:\{([^}]*)\})?\s*from\s*['"](node:[\w/]+)['"]/gm;
const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'runtime' ? [] : walk(file);
    return entry.name.endsWith('.js') ? [file] : [];
  });
for (const file of walk(path.join(root, 'dist'))) {
  const source = fs.readFileSync(file, 'utf8');
  if (/^import\s+\*\s+as\s+[\w$]+\s+from\s*['"]node:/m.test(source)) throw new Error(`${file}: import builtins by name, not as a namespace`);
  for (const [, names = '', specifier] of source.matchAll(importForm)) {
    const set = builtinNames.get(specifier) ?? new Set();
    builtinNames.set(specifier, set);
    for (const part of names.split(',')) {
      const name = part.trim().split(/\s+as\s+/)[0];
      if (name) set.add(name);
    }
  }
}
// Exports that load a module when read (lazy-globals.ts, and accessors of the same kind):
// a named import would read them whenever the bundle starts.
const LAZY_NAMED = {
  'node:util': ['parseArgs', 'diff', 'setTraceSigInt'],
  'node:fs': ['Dir', 'opendir', 'opendirSync', 'Utf8Stream', 'promises', 'ReadStream', 'WriteStream'],
  'node:buffer': ['File'],
  'node:async_hooks': ['AsyncLocalStorage'],
  'node:module': ['SourceMap'],
};
for (const [specifier, names] of builtinNames) {
  const lazy = (LAZY_NAMED[specifier] ?? []).filter((name) => names.has(name));
  if (lazy.length > 0) throw new Error(`import ${lazy.join(', ')} from '${specifier}' by the module (\`import x from '${specifier}'\`, then x.${lazy[0]}): read when the runtime starts, it loads a module`);
}
const hostBuiltins = {
  name: 'host-builtins',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'host-builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'host-builtin' }, (args) => {
      const names = [...(builtinNames.get(args.path) ?? [])];
      const named = names.length > 0 ? `export const { ${names.join(', ')} } = host;\n` : '';
      return { contents: `const host = process.getBuiltinModule(${JSON.stringify(args.path)});\nexport default host;\n${named}`, loader: 'js' };
    });
  },
};

// Chunk names change with their content: no stale chunk may stay next to the new ones.
fs.rmSync(path.join(root, 'dist', 'runtime'), { recursive: true, force: true });

// SES wraps the RegExp, Date and Error constructors (to hide their powers and legacy
// statics) and builds every instance with `Reflect.construct(Original, args, new.target)`.
// V8 does not optimise that form and gives the objects a map derived from the wrapper,
// not the constructor's initial map: `new RegExp(...)` inside compartments measured 2-6×
// slower than native (moment.js builds regexps on every parse). When `new.target` is the
// wrapper itself, `new Original(...args)` makes the same object (the wrapper's
// `prototype` is the original's, fixed), at native speed. Subclasses keep the original
// path. Each edit must match exactly, or the build stops: a SES update must be looked at.
//
// `Reflect.construct(Original, args, Original)`, not `new Original(...args)`: after
// lockdown a spread takes V8's generic iteration path (below), 3× the whole construction
// on Node 24; on Node 20 `Reflect.construct` with the wrapper as `new.target` was 12× it.
//
// Array.prototype[Symbol.iterator] stays a frozen data property instead of SES's
// override-taming accessor (its `moderate` and `severe` lists enable it for code an old
// TypeScript compiler generated for mobx): V8 spreads an array (`f(...args)`,
// `[...list]`, `Math.max(...xs)`) on its fast path only while that property is the
// original data property, and otherwise through the iterator protocol, 13–26 times
// slower, for every package and the app, for the life of the process. What it costs: an
// assignment `obj[Symbol.iterator] = fn` on an object that inherits from Array.prototype
// (and has no own such property) throws, as it would on any frozen prototype; defining it
// (`Object.defineProperty`, a class method) works.
const SES_EDITS = {
  'tame-regexp-constructor.js': [
    [
      'return construct(FERAL_REG_EXP, rest, new.target);',
      'if (new.target === ResultRegExp) return construct(FERAL_REG_EXP, rest, FERAL_REG_EXP);\n      return construct(FERAL_REG_EXP, rest, new.target);',
      1,
    ],
  ],
  'tame-date-constructor.js': [
    [
      'return construct(OriginalDate, rest, new.target);',
      'if (new.target === ResultDate) return construct(OriginalDate, rest, OriginalDate);\n        return construct(OriginalDate, rest, new.target);',
      2,
    ],
  ],
  'error/tame-error-constructor.js': [
    [
      'error = construct(FERAL_ERROR, rest, new.target);',
      'error = construct(FERAL_ERROR, rest, new.target === ResultError ? FERAL_ERROR : new.target);',
      1,
    ],
  ],
  // A stack's frames as Node formats them (`    at f (file:1:2)`): SES indents them by two
  // spaces, and every `error.stack` the app prints or logs (console, loggers' serialised
  // errors, an uncaught exception) differed from plain node's. And a package's anonymous
  // functions: V8 names a function with no name "eval" when its
  // script was compiled by eval, which is how SES evaluates every module of a compartment
  // (`at eval (file:///...)`, `at Object.eval`, `new eval` where plain node prints `at
  // file:///...`, `at Object.<anonymous>`, `new <anonymous>`). Such a frame (one of
  // evaluated code that names a file, through its `//# sourceURL`) is written as V8 writes
  // an anonymous function's.
  'error/tame-v8-error-constructor.js': [
    ['return `\\n  at ${callSiteString}`;', 'return `\\n    at ${callSiteString}`;', 1],
    ['let callSiteString = `${callSite}`;', 'let callSiteString = anonymousFrameString(callSite);', 1],
    [
      'export const tameV8ErrorConstructor = (',
      `const EVAL_NAMED_FRAME = freezeRegexp(/^(async )?(new )?(?:[^ (]*\\.)?eval(?: \\[as [^\\]]*\\])? \\((.*)\\)$/s);
const anonymousFrameString = callSite => {
  const callSiteString = \`\${callSite}\`;
  try {
    if (!callSite.isEval() || callSite.getFunctionName() !== 'eval') return callSiteString;
    const fileName = callSite.getScriptNameOrSourceURL();
    if (typeof fileName !== 'string' || fileName === '') return callSiteString;
    const match = regexpExec(EVAL_NAMED_FRAME, callSiteString);
    if (!match) return callSiteString;
    const [, asyncPrefix = '', newPrefix, location] = match;
    if (newPrefix) return \`\${asyncPrefix}new <anonymous> (\${location})\`;
    if (callSite.isToplevel()) return \`\${asyncPrefix}\${location}\`;
    const typeName = callSite.getTypeName();
    const methodName = callSite.getMethodName();
    return \`\${asyncPrefix}\${typeName ? \`\${typeName}.\` : ''}\${methodName ?? '<anonymous>'} (\${location})\`;
  } catch {
    return callSiteString;
  }
};
export const tameV8ErrorConstructor = (`,
      1,
    ],
  ],
  'enablements.js': [
    [
      '    [iteratorSymbol]: true, // set by mobx generated code (old TS compiler?)\n',
      '',
      1,
    ],
  ],
  // Node 24's source-phase import, `import.source(x)` (and V8's next, `import.defer(x)`),
  // goes to the host's loader as `import(x)` does, from the runtime's own file, past the
  // policy and the hooks (docs/attacks.md, case 180); SES's own check looks for `import(`
  // only. Every compartment, a package's child compartments too whatever their options,
  // gets a last shim transform that refuses `import` then `.` (not `import.meta`), where
  // V8 parses a phase import: SES runs shim transforms on module programs, `evaluate`,
  // `Function` and `eval`. (The start compartment's, the app's own `Function` and
  // `eval`, are left as they were.)
  // The runtime's evasion rewrites such code and literals first (src/formats/evasion.ts,
  // whose `rejectPhaseImports` is this check), so only text built to skip it is refused.
  'compartment.js': [
    [
      `import { makeSafeEvaluator } from './make-safe-evaluator.js';`,
      String.raw`import { makeSafeEvaluator } from './make-safe-evaluator.js';

const phaseImportPattern = /(?:^|[^.]|\.\.\.)\bimport\s*\.(?!\s*meta\b)/;
// The last line of a CommonJS module's text is the runtime's '//# sourceURL=<its path>',
// and a path may name 'import.js' (jose 4, firebase-admin): such a line, of a path's
// characters only (no backtick, dollar, brace, quote, parenthesis, backslash, star or line
// break), runs nothing whatever precedes it (a comment in code, plain text in a template or
// a block comment that never closes), so the pattern is not looked for in it.
const sourceUrlLine = /\n\/\/# sourceURL=[\w\-./@+~%:, ]*\n?$/;
const rejectPhaseImportExpressions = src => {
  if (phaseImportPattern.test(src) && phaseImportPattern.test(src.replace(sourceUrlLine, '\n'))) {
    throw SyntaxError('Possible source-phase import expression (import.source) rejected (LavaMoat)');
  }
  return src;
};
// Only where V8 parses a phase import (Node 24: import.source): elsewhere it is a syntax
// error, and the scan (about 1.5 ms a megabyte of code) would buy nothing.
const parsesPhaseImports = ['source', 'defer'].some(phase => {
  try {
    Function('x', 'return import.' + phase + '(x)');
    return true;
  } catch {
    return false;
  }
});`,
      1,
    ],
    [
      `      __shimTransforms__ = [],
      globals: endowmentsOption = {},`,
      `      __shimTransforms__: shimTransformsGiven = [],
      globals: endowmentsOption = {},`,
      1,
    ],
    [
      `    const globalTransforms = arrayFlatMap(
      [transforms, __shimTransforms__],`,
      `    const __shimTransforms__ = parsesPhaseImports ? [...shimTransformsGiven, rejectPhaseImportExpressions] : shimTransformsGiven;
    const globalTransforms = arrayFlatMap(
      [transforms, __shimTransforms__],`,
      1,
    ],
  ],
  // `export *` as the spec links it, where SES's module instances differ from Node:
  // - two `export *` paths to the same binding are one export, not an ambiguity (SES
  //   dropped the name: date-fns' `longFormatters` through format.js and parse.js);
  // - an importer in a cycle asking a module for a name that module re-exports with
  //   `export *` before that module has gathered its star exports waits for them, where
  //   SES threw "does not provide an export named" (@sinclair/typebox's ESM build); an
  //   `export { x } from` of such a name waits the same way (SES called `undefined`).
  // Every ES module's program is evaluated through a new evaluator of its own (its
  // live-binding lexicals differ), and each new evaluator scans the global object for
  // constants and compiles its scope function: ~0.3 ms per module, a tenth of a warm
  // start on zod's 120 modules. A module with no such lexicals (most) gets the same
  // evaluator as any other of its compartment, made once, with the same (empty,
  // unreachable) lexicals object and the same transforms.
  'compartment-evaluate.js': [
    [
      `export const provideCompartmentEvaluator = (compartmentFields, options) => {`,
      `const lexicalFreeEvaluators = new WeakMap();

export const provideCompartmentEvaluator = (compartmentFields, options) => {`,
      1,
    ],
    [
      `    ({ safeEvaluate } = makeSafeEvaluator({
      globalObject,
      moduleLexicals,
      globalTransforms,
      sloppyGlobalsMode,
    }));`,
      `    let lexicalFree = __moduleShimLexicals__ !== undefined && !sloppyGlobalsMode;
    if (lexicalFree) {
      for (const _ in getOwnPropertyDescriptors(moduleLexicals)) {
        lexicalFree = false;
        break;
      }
    }
    if (lexicalFree) {
      safeEvaluate = lexicalFreeEvaluators.get(compartmentFields);
      if (safeEvaluate === undefined) {
        ({ safeEvaluate } = makeSafeEvaluator({
          globalObject,
          moduleLexicals,
          globalTransforms,
          sloppyGlobalsMode,
        }));
        lexicalFreeEvaluators.set(compartmentFields, safeEvaluate);
      }
    } else {
      ({ safeEvaluate } = makeSafeEvaluator({
        globalObject,
        moduleLexicals,
        globalTransforms,
        sloppyGlobalsMode,
      }));
    }`,
      1,
    ],
  ],
  'module-instance.js': [
    [
      `          } else {
            // Already a candidate: remove ambiguity.
            candidateAll[importAndExportName] = false;
          }`,
      `          } else if (candidateAll[importAndExportName] !== importNotify) {
            // Already a candidate: remove ambiguity, unless it is the same binding.
            candidateAll[importAndExportName] = false;
          }`,
      1,
    ],
    [
      `        const importNotify = importNotifiers[importName];
        if (!importNotify) {`,
      `        const importNotify = importNotifiers[importName];
        if (!importNotify && instance.awaitStarExport && instance.awaitStarExport(importName, updaters, specifier)) {
          continue;
        }
        if (!importNotify) {`,
      1,
    ],
    [
      `  function imports(updateRecord) {`,
      `  // Names this module exports through \`export *\` exist once its imports() ran;
  // an importer in a cycle that asks earlier is answered then.
  let starExportsWired = false;
  const awaitingStarExports = [];
  const awaitStarExport = (importName, updaters, specifier) => {
    if (starExportsWired) return false;
    arrayPush(awaitingStarExports, [importName, updaters, specifier]);
    return true;
  };

  function imports(updateRecord) {`,
      1,
    ],
    [
      `      wireUpExportNotifier(exportName, notify);
    }
`,
      `      wireUpExportNotifier(exportName, notify);
    }
    starExportsWired = true;
    for (const [importName, updaters, specifier] of awaitingStarExports) {
      const notify = notifiers[importName];
      if (!notify) {
        throw SyntaxError(
          \`The requested module '\${specifier}' does not provide an export named '\${importName}'\`,
        );
      }
      for (const updater of updaters) {
        notify(updater);
      }
    }
`,
      1,
    ],
    [
      `        for (const [localName, exportedName] of reexportMap[specifier]) {
          wireUpExportNotifier(exportedName, importNotifiers[localName]);
        }`,
      `        for (const [localName, exportedName] of reexportMap[specifier]) {
          let reexportNotify = importNotifiers[localName];
          if (!reexportNotify && instance.awaitStarExport) {
            // Not gathered yet (a cycle): importers of this name get it when it is.
            reexportNotify = updater => {
              const late = importNotifiers[localName];
              if (late) {
                late(updater);
              } else if (!instance.awaitStarExport(localName, [updater], specifier)) {
                throw SyntaxError(
                  \`The requested module '\${specifier}' does not provide an export named '\${localName}'\`,
                );
              }
            };
          }
          if (!reexportNotify) {
            throw SyntaxError(
              \`The requested module '\${specifier}' does not provide an export named '\${localName}'\`,
            );
          }
          wireUpExportNotifier(exportedName, reexportNotify);
        }`,
      1,
    ],
    [
      `    exportsProxy,
    execute,
  });`,
      `    exportsProxy,
    execute,
    awaitStarExport,
  });`,
      1,
    ],
  ],
};

// SES reads its COMPARTMENT_LOAD_ERRORS option from `globalThis.process.env` each time a
// module load fails. Under scuttling the real global's `process` throws, so every load
// failure in a compartment (a policy denial among them) would report the scuttling error
// instead of its own: the option is read once, when SES loads, before scuttling.
SES_EDITS['module-load.js'] = [
  [
    `(getenv('COMPARTMENT_LOAD_ERRORS', '', ['verbose'])) === 'verbose';`,
    `compartmentLoadErrors === 'verbose';`,
    1,
  ],
  [
    `import { getEnvironmentOption as getenv } from '@endo/env-options';\n`,
    `import { getEnvironmentOption as getenv } from '@endo/env-options';\nconst compartmentLoadErrors = getenv('COMPARTMENT_LOAD_ERRORS', '', ['verbose']);\n`,
    1,
  ],
];

// Top-level await: applied after the edits above (they extend what those return).
for (const [file, edits] of Object.entries(MODULE_EVALUATION_EDITS)) SES_EDITS[file] = [...(SES_EDITS[file] ?? []), ...edits];
// Strict mode's export views: applied last.
for (const [file, edits] of Object.entries(EXPORT_VIEWS_EDITS)) SES_EDITS[file] = [...(SES_EDITS[file] ?? []), ...edits];

const sesEdits = {
  name: 'ses-edits',
  setup(build) {
    build.onLoad({ filter: /[\\/]ses[\\/]src[\\/].*(constructor|module-instance|module-load|compartment|compartment-evaluate|enablements)\.js$/ }, async (args) => {
      const relative = path.relative(path.join(sesDir, 'src'), args.path).split(path.sep).join('/');
      const edits = SES_EDITS[relative];
      if (!edits) return undefined;
      let source = await fs.promises.readFile(args.path, 'utf8');
      for (const [from, to, count] of edits) {
        const found = source.split(from).length - 1;
        if (found !== count) throw new Error(`${args.path}: expected ${count} × \`${from}\`, found ${found}`);
        source = source.split(from).join(to);
      }
      applied.add(relative);
      return { contents: source, loader: 'js' };
    });
  },
};
const applied = new Set();

// The cache's salt names the versions of what is compiled in (preload.ts cacheSalt).
const bundledVersionsModule = {
  name: 'bundled-versions',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/]loader[\\/]bundled-versions\.js$/ }, () => ({
      contents: `export const BUNDLED_VERSIONS = ${JSON.stringify(bundledVersions())};\n`,
      loader: 'js',
    }));
  },
};

function bundledVersions() {
  const manifest = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
  const own = manifest(path.join(root, 'package.json'));
  const of = (name) => {
    for (let dir = path.dirname(createRequire(path.join(root, "package.json")).resolve(name)); ; dir = path.dirname(dir)) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file) && manifest(file).name === name) return manifest(file).version;
      if (path.dirname(dir) === dir) throw new Error(`cannot find the version of ${name}`);
    }
  };
  return [`lavamoat@${own.version}`, `ses@${of('ses')}`, `meriyah@${of('meriyah')}`].join(' ');
}

const result = await esbuild.build({
  absWorkingDir: root,
  // Flat names: loader.mjs imports boot and preload, the preload finds the hooks and
  // the bridge next to itself.
  entryPoints: [
    { in: 'dist/loader/boot.js', out: 'boot' },
    { in: 'dist/loader/preload.js', out: 'preload' },
    { in: 'dist/loader/hooks/hooks.js', out: 'hooks' },
    { in: 'dist/loader/bridge.js', out: 'bridge' },
  ],
  outdir: 'dist/runtime',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Babel (through @endo/module-source) is loaded only when a module is compiled on a
  // cold cache; it stays out of the start-up path.
  external: ['@endo/module-source'],
  plugins: [sesInternals, sesEdits, hostBuiltins, bundledVersionsModule],
  metafile: true,
  legalComments: 'none',
  // Bundling renames functions whose names collide in the shared scope; SES's tamed
  // intrinsics are named function expressions (`function Error(...)`), and their `name`
  // is what every program sees (`Error.name`, `err.constructor.name`).
  keepNames: true,
  logLevel: 'warning',
});

// A bundle that fails a check is removed: loader.mjs then refuses to start ("the runtime
// is not built") rather than run a runtime that is not the one reviewed.
const problems = [];
const inputs = Object.keys(result.metafile.inputs);
const babel = inputs.filter((file) => file.includes('node_modules/@babel/'));
if (babel.length > 0) problems.push(`it must not contain Babel, found: ${babel.slice(0, 3).join(', ')}`);
if (!inputs.some((file) => file.endsWith('ses/src/enablements.js'))) {
  problems.push('SES override plans (ses/src/enablements.js) not bundled');
}
const missing = Object.keys(SES_EDITS).filter((file) => !applied.has(file));
if (missing.length > 0) problems.push(`SES edits not applied to ${missing.join(', ')}`);
if (problems.length > 0) {
  fs.rmSync(path.join(root, 'dist', 'runtime'), { recursive: true, force: true });
  throw new Error(`dist/runtime: ${problems.join('; ')}`);
}

// `keepNames` (above) wraps every function; the wrappers that only restore the name the
// language gives anyway are removed (strip-names.mjs says why and which).
for (const output of Object.keys(result.metafile.outputs)) {
  if (!output.endsWith('.js')) continue;
  const file = path.join(root, output);
  const stripped = stripNoOpNames(fs.readFileSync(file, 'utf8')).code;
  // Whitespace and comments out (names and syntax kept): every start reads, decodes and
  // pre-parses the whole runtime, about 0.8 MB of source as written.
  fs.writeFileSync(file, esbuild.transformSync(stripped, { minifyWhitespace: true, format: 'esm', target: 'node20.19', legalComments: 'none' }).code);
}

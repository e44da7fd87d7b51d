// Workers and child `node` processes started by a confined app never escape the policy.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fixture, loaderURL, runPlain, runWithLoader } from '../helpers.mjs';
import { assertConfinableEntry, assertEntryInProject } from '../../dist/confine/entry-checks.js';
import { splitNodeOptions, withLoaderInNodeOptions } from '../../dist/confine/child-processes.js';
import { makeWorkerClass, checkWorkerExecArgv, checkWorkerEnv, confinedWorkerOptions, normalizeWorkerArguments } from '../../dist/confine/workers.js';

const dir = fixture('workers-app');
const denied = (pkg) => `DENIED LavaMoat: package "${pkg}" is not allowed the builtin module "fs".`;

/** `name: value` lines of the fixture's output. */
function lines(stdout) {
  const result = {};
  for (const line of stdout.trim().split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) result[line.slice(0, i)] = line.slice(i + 2);
  }
  return result;
}

describe('worker threads', () => {
  const run = runWithLoader(dir, 'main.mjs');

  test('the fixture ran', () => {
    assert.equal(run.status, 0, run.stderr);
  });

  test("the app's own worker runs the loader: trusted itself, its dependencies confined", () => {
    const { appWorker, appWorkerEmptyExecArgv } = lines(run.stdout);
    assert.equal(appWorker, `calc 5 | fs-user ${denied('fs-user')} | lockdown true | global fetch function | real fetch function (exit 0)`);
    // execArgv: [] and env: {} drop every way Node would pass --import on: the loader is put back.
    assert.equal(appWorkerEmptyExecArgv, appWorker);
  });

  test("a package's worker on its own file runs in that package's compartment, under the same policy", () => {
    const { depWorker, depWorkerNoExecArgv } = lines(run.stdout);
    const expected = `job direct: ${denied('spawner')} | job via fs-user: ${denied('fs-user')} (exit 0)`;
    assert.equal(depWorker, expected);
    assert.equal(depWorkerNoExecArgv, expected);
  });

  test('eval workers, data: URL workers and added preloads are refused', () => {
    const out = lines(run.stdout);
    assert.match(out.appEvalWorker, /^REFUSED LavaMoat: new Worker\(code, \{ eval: true \}\) cannot be confined/);
    assert.match(out.depEvalWorker, /^REFUSED LavaMoat: new Worker\(code, \{ eval: true \}\) cannot be confined/);
    assert.match(out.depDataWorker, /^REFUSED LavaMoat: new Worker\("data:text\/javascript,.*"\) cannot be confined/);
    assert.match(out.depPreloadWorker, /^REFUSED LavaMoat: a Worker's execArgv may not add --import data:/);
    assert.doesNotMatch(run.stdout, /TOP-SECRET/);
  });

  test('workers are scuttled like the main thread, and debug mode is announced once per process tree', () => {
    const scuttled = runWithLoader(dir, 'main.mjs', { env: { LAVAMOAT_SCUTTLE_GLOBAL_THIS: 'true', LAVAMOAT_DEBUG: '1' } });
    assert.equal(scuttled.status, 0, scuttled.stderr);
    // The app's worker keeps its globals; the worker's real global is scuttled.
    assert.match(lines(scuttled.stdout).appWorker, /global fetch function \| real fetch scuttled/);
    assert.equal(scuttled.stderr.split('Not for production').length - 1, 1, scuttled.stderr);
  });
});

test('a worker started with --no-deprecation, and a process started with it, run as under plain node', () => {
  const plain = runPlain(dir, 'quiet.mjs');
  assert.equal(plain.stdout, 'worker: noDeprecation true\n', plain.stderr);
  // Node makes process.noDeprecation read-only there: the runtime's quiet binding lookups
  // assigned it, and the worker failed to start.
  for (const nodeArgs of [[], ['--no-deprecation']]) {
    const run = runWithLoader(dir, 'quiet.mjs', { nodeArgs });
    assert.equal(run.stdout, plain.stdout, `${nodeArgs.join(' ')}: ${run.stderr}`);
  }
});

describe('child node processes', () => {
  const run = runWithLoader(dir, 'children.mjs');
  const out = () => Object.fromEntries(Object.entries(lines(run.stdout)).map(([key, value]) => [key, JSON.parse(value)]));

  test('the fixture ran', () => {
    assert.equal(run.status, 0, run.stderr);
  });

  test('`node -e` from a package granted child_process refuses to run: the code would be unconfined', () => {
    const { evalChild } = out();
    assert.equal(evalChild.status, 1);
    assert.equal(evalChild.stdout, '', 'the fs was not used');
    assert.match(evalChild.stderr, /^LavaMoat: this node process was started by a confined process \(pid \d+\) with code from --eval/);
  });

  test("a package's own file run as a child (spawn, fork, through a shell) is confined by the same policy", () => {
    const { fileChild, forkChild, shellChild } = out();
    // fileChild runs from the package's own directory, which ships a package.json and a
    // policy.json granting everything: the pinned project root ignores them.
    // The child caught its denial: it prints it once, as every confined process does.
    const caught =
      'LavaMoat: package "runner" was not allowed the builtin module "fs" (the error was caught; shown once). ' +
      `to allow it, add to ${path.join(dir, 'lavamoat', 'node', 'policy-override.json')}: {"resources":{"runner":{"builtin":{"fs":true}}}}`;
    for (const child of [fileChild, forkChild]) {
      assert.deepEqual(child, { status: 0, stdout: `child: ${denied('runner')}`, stderr: caught });
    }
    // execSync passes the shell's stderr through to this process's.
    assert.deepEqual(shellChild, { status: 0, stdout: `child: ${denied('runner')}`, stderr: '' });
    assert.ok(run.stderr.includes(caught), run.stderr);
  });

  test('documented limit: a child given an environment without NODE_OPTIONS is not confined', () => {
    assert.deepEqual(out().unconfinedChild, { status: 0, stdout: 'READ TOP-SECRET', stderr: '' });
  });

  test('the environment children inherit: NODE_OPTIONS with the loader by URL, the pinned root, the marker', () => {
    const { env } = out();
    assert.equal(env.NODE_OPTIONS, `--import=${loaderURL}`);
    assert.equal(env.LAVAMOAT_PROJECT_ROOT, dir);
    assert.equal(env.LAVAMOAT_CONFINED_PARENT, true);
  });
});

describe('workers.ts helpers', () => {
  test('NODE_OPTIONS is split as Node splits it', () => {
    assert.deepEqual(splitNodeOptions(' --a  --b="x y" "--c=\\"q\\"" '), ['--a', '--b=x y', '--c="q"']);
    assert.deepEqual(splitNodeOptions(''), []);
  });

  test('the loader goes into NODE_OPTIONS once, by URL, in place of a bare lavamoat/loader', () => {
    const url = 'file:///opt/app/node_modules/lavamoat/loader.mjs';
    assert.equal(withLoaderInNodeOptions(undefined, url), `--import=${url}`);
    assert.equal(withLoaderInNodeOptions('--max-old-space-size=100', url), `--max-old-space-size=100 --import=${url}`);
    assert.equal(
      withLoaderInNodeOptions('--import ./scuttler.mjs --import lavamoat/loader --no-warnings', url),
      `--import ./scuttler.mjs --import=${url} --no-warnings`,
    );
    assert.equal(withLoaderInNodeOptions(`--import=${url} --import=${url}`, url), `--import=${url}`);
    assert.equal(withLoaderInNodeOptions('--title="a b"', url), `"--title=a b" --import=${url}`);
  });

  test('worker options: the loader is added, inherited preloads kept, new ones refused', () => {
    const url = 'file:///x/loader.mjs';
    const inherited = ['--import', './scuttler.mjs', '--import', url];
    // A relative preload is made absolute, a bare or relative name of the loader its URL
    // (child-processes.ts pinPreloads: another working directory would resolve them elsewhere).
    const pinned = ['--import', pathToFileURL(path.resolve('scuttler.mjs')).href, '--import', url];
    assert.deepEqual(confinedWorkerOptions(undefined, url, inherited).execArgv, pinned);
    assert.deepEqual(confinedWorkerOptions(undefined, url, ['--import', 'lavamoat/loader']).execArgv, ['--import', url]);
    assert.deepEqual(confinedWorkerOptions({}, url, []).execArgv, ['--import', url]);
    assert.deepEqual(confinedWorkerOptions({ execArgv: ['--stack-size=500'] }, url, inherited).execArgv, [...pinned, '--stack-size=500']);
    assert.deepEqual(confinedWorkerOptions({ execArgv: [...inherited, '--no-warnings'] }, url, inherited).execArgv, [...pinned, '--no-warnings']);
    assert.throws(() => confinedWorkerOptions({ execArgv: ['-r', './evil.cjs'] }, url, inherited), /may not add -r \S*evil\.cjs/);
    // Options naming a file or directory the worker writes pass only as the process's own (case 203).
    assert.throws(() => checkWorkerExecArgv(['--redirect-warnings=/tmp/x'], []), /may not add --redirect-warnings \/tmp\/x/);
    assert.throws(() => checkWorkerExecArgv(['--cpu-prof-dir', '/tmp/x'], []), /may not add --cpu-prof-dir \/tmp\/x/);
    assert.doesNotThrow(() => checkWorkerExecArgv(['--redirect-warnings=/tmp/x'], ['--redirect-warnings=/tmp/x']));
    // NODE_COMPILE_CACHE only with the process's own value (case 202).
    assert.throws(() => checkWorkerEnv({ NODE_COMPILE_CACHE: '/tmp/c' }, [], '', {}), /may not set NODE_COMPILE_CACHE/);
    assert.doesNotThrow(() => checkWorkerEnv({ NODE_COMPILE_CACHE: '/tmp/c' }, [], '', { NODE_COMPILE_CACHE: '/tmp/c' }));
    assert.throws(() => checkWorkerExecArgv(['--import=./evil.mjs'], inherited), /may not add --import \.\/evil\.mjs/);
    assert.throws(() => checkWorkerExecArgv(['--experimental-loader', 'x'], []), /may not add --experimental-loader x/);
    assert.throws(() => checkWorkerExecArgv(['--inspect=9229'], []), /may not contain --inspect/);
    assert.throws(() => checkWorkerExecArgv(['--expose-internals'], []), /may not contain --expose-internals/);
    assert.doesNotThrow(() => checkWorkerExecArgv(['--import', './scuttler.mjs', '--max-old-space-size=64'], inherited));
    // Node reads `_` as `-` in option names: the checks see the option Node acts on.
    assert.throws(() => checkWorkerExecArgv(['--experimental_loader=data:text/javascript,1'], []), /may not add --experimental-loader data:/);
    assert.throws(() => checkWorkerExecArgv(['--experimental_loader', 'x'], []), /may not add --experimental-loader x/);
    assert.throws(() => checkWorkerExecArgv(['--inspect_brk'], []), /may not contain --inspect-brk/);
    assert.throws(() => checkWorkerExecArgv(['--inspect-brk-node'], []), /may not contain --inspect-brk-node/);
    assert.throws(() => checkWorkerEnv({ NODE_OPTIONS: '--experimental_loader=./evil.mjs' }, [], ''), /may not add --experimental-loader \.\/evil\.mjs/);
    assert.doesNotThrow(() => checkWorkerExecArgv(['--max_old_space_size=64', '--import', './scuttler.mjs'], inherited));
    // Entries Node stringifies itself are stringified once, before the checks.
    let calls = 0;
    const changing = { toString: () => (calls++ === 0 ? '--no-warnings' : '--import=./evil.mjs') };
    const snapshot = normalizeWorkerArguments('/w.js', { execArgv: [changing], env: { NODE_OPTIONS: changing } }).options;
    assert.deepEqual(snapshot.execArgv, ['--no-warnings']);
    assert.deepEqual(snapshot.env, { NODE_OPTIONS: '--import=./evil.mjs' });
    assert.throws(() => checkWorkerEnv(snapshot.env, [], ''), /may not add --import \.\/evil\.mjs/);
  });

  test('what Node will read is read once: eval, data: URLs and URL-likes, option getters', () => {
    assert.throws(() => normalizeWorkerArguments('1', { eval: true }), /eval: true/);
    assert.throws(() => normalizeWorkerArguments(new URL('data:text/javascript,1'), {}), /non-file URL/);
    // Node takes any { href, protocol } without auth/path as a URL.
    assert.throws(() => normalizeWorkerArguments({ href: 'data:text/javascript,1', protocol: 'data:' }, {}), /non-file URL/);
    const likeFile = normalizeWorkerArguments({ href: 'file:///w.mjs', protocol: 'file:' }, undefined);
    assert.ok(likeFile.filename instanceof URL, 'a URL-like becomes the URL Node would read');
    assert.equal(likeFile.file, '/w.mjs');
    // A getter answering the check one thing and Node another: Node gets the first answer.
    let reads = 0;
    const tricky = { get eval() { reads += 1; return reads > 1; }, get execArgv() { reads += 1; return reads > 2 ? ['-r', 'x'] : undefined; } };
    const { options } = normalizeWorkerArguments('/w.js', tricky);
    assert.equal(options.eval, false);
    assert.equal(Object.getOwnPropertyDescriptor(options, 'eval').value, false, 'a plain value, not the getter');
    assert.equal(options.execArgv, undefined);
    // An inherited option is read too, as Node reads it.
    assert.throws(() => normalizeWorkerArguments('1', Object.create({ eval: true })), /eval: true/);
  });

  test('a propagated child without an entry file is refused; a top-level one is not', () => {
    const marker = { LAVAMOAT_CONFINED_PARENT: '42' };
    assert.throws(() => assertConfinableEntry(marker, ['node'], 'code'), /started by a confined process \(pid 42\)/);
    assert.throws(() => assertConfinableEntry(marker, ['node', '-'], undefined), /started by a confined process/);
    assert.throws(() => assertConfinableEntry(marker, ['node'], undefined), /REPL/);
    assert.doesNotThrow(() => assertConfinableEntry(marker, ['node', path.join(dir, 'main.mjs')], undefined));
    assert.doesNotThrow(() => assertConfinableEntry({}, ['node'], 'code'));
  });

  test('a worker or propagated child whose entry belongs to no package of the project is refused', () => {
    const inProject = (file) => (file.startsWith(dir) ? {} : undefined);
    const marker = { LAVAMOAT_CONFINED_PARENT: '42' };
    assert.throws(
      () => assertEntryInProject(inProject, dir, marker, ['node', path.join(dir, '..', 'basic', 'app.mjs')]),
      /started by a confined process, would run .*basic\/app\.mjs, which belongs to no package of the project/,
    );
    assert.doesNotThrow(() => assertEntryInProject(inProject, dir, marker, ['node', path.join(dir, 'main.mjs')]));
    assert.doesNotThrow(() => assertEntryInProject(inProject, dir, {}, ['node', path.join(dir, '..', 'basic', 'app.mjs')]), 'a top-level process runs what the user asked');
  });

  test("a package's own Worker: only files the package may load, and no path to Node's class", () => {
    const started = [];
    class HostWorker {
      constructor(filename, options) {
        started.push([filename, options]);
      }
    }
    const setup = { HostWorker, loaderURL: 'file:///l.mjs', inheritedExecArgv: [], handedOver: {}, setEnvironmentData() {} };
    const Worker = makeWorkerClass(setup, 'package "worker-ok"', (file) => file.startsWith('/pkgs/worker-ok/'));
    assert.ok(Object.isFrozen(Worker));
    assert.notEqual(Object.getPrototypeOf(Worker), HostWorker, "Node's class is not in the chain");
    const worker = new Worker('/pkgs/worker-ok/body.js', { workerData: 1 });
    assert.ok(worker instanceof HostWorker && worker instanceof Worker);
    assert.deepEqual(started.at(-1), ['/pkgs/worker-ok/body.js', { workerData: 1, execArgv: ['--import', 'file:///l.mjs'] }]);
    assert.throws(() => new Worker('/pkgs/writer-tool/cli.js'), /package "worker-ok" may not start a Worker on \/pkgs\/writer-tool\/cli\.js/);
    assert.throws(() => new Worker(new URL('file:///app/main.mjs')), /may not start a Worker on \/app\/main\.mjs/);
    assert.throws(() => new Worker({ href: 'file:///app/main.mjs', protocol: 'file:' }), /may not start a Worker on \/app\/main\.mjs/, 'URL-likes are checked as Node reads them');
    class Pool extends Worker {}
    assert.ok(new Pool('/pkgs/worker-ok/body.js') instanceof Pool, 'subclasses work');
    assert.throws(() => Worker('/pkgs/worker-ok/body.js'), /without 'new'/);
  });
});

test("entry-checks' isMainThread needs no worker_threads on the main thread: in a worker, Node has loaded it before any preload runs", async () => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const dirPath = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-mainthread-'));
  try {
    const probe = path.join(dirPath, 'probe.mjs');
    fs.writeFileSync(
      probe,
      "console.log(JSON.stringify([process.moduleLoadList.includes('NativeModule worker_threads'), process.getBuiltinModule('worker_threads').isMainThread]));\n",
    );
    fs.writeFileSync(path.join(dirPath, 'main.mjs'), '');
    fs.writeFileSync(
      path.join(dirPath, 'start.mjs'),
      `import { Worker } from 'node:worker_threads';\nnew Worker(${JSON.stringify(path.join(dirPath, 'main.mjs'))}, { execArgv: ['--import', ${JSON.stringify(probe)}] });\n`,
    );
    const inWorker = execFileSync(process.execPath, [path.join(dirPath, 'start.mjs')], { encoding: 'utf8' }).trim();
    assert.deepEqual(JSON.parse(inWorker), [true, false], "in a worker, a preload finds worker_threads loaded");
    const onMain = execFileSync(process.execPath, ['--import', probe, path.join(dirPath, 'main.mjs')], { encoding: 'utf8' }).trim();
    assert.deepEqual(JSON.parse(onMain.split('\n')[0]), [false, true], 'on the main thread it is not loaded before the loader');
  } finally {
    fs.rmSync(dirPath, { recursive: true, force: true });
  }
});

/**
 * Before any app code, on the main thread and in every worker: read the configuration
 * and the policy (stopping the process on any problem), map the packages, take the
 * holder of the host's globals, lock down the intrinsics, link the compartments,
 * register the hooks that send the app's imports of dependencies to them, make workers
 * and child `node` processes start confined, and finally scuttle the real global.
 */
import '../confine/ses.js';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Config } from '../config/index.js';
import { loadPolicy } from '../policy/index.js';
import { buildPackageMap, hasNodeModulesSegment, PackageMap, ROOT_NAME } from '../graph/package-map.js';
import { Runtime } from '../confine/runtime.js';
import { appGlobalScope, setAppGlobalScope, setRuntime } from './bridge.js';
import { installRequireHook } from './require-hook.js';
import { installErrorPrinting } from '../report/error-printing.js';
import { installPromisify } from '../confine/promisify.js';
import type { HooksData } from './hooks/hooks.js';
import { installHooks } from './install-hooks.js';
import { lexersReady } from '../graph/module-names.js';
import { ModuleCache } from '../cache/module-cache.js';
import { cacheMode } from '../cache/trust.js';
import { packageCodeDirs } from './boot.js';
import { createRequire } from 'node:module';
import { isDebugLockdown } from '../confine/lockdown-options.js';
import { INTRINSIC_GLOBALS, makeHostGlobals, scuttledNames, scuttleGlobalThis, SES_GLOBALS } from '../confine/scuttle.js';
import { makeAppGlobalScope } from '../confine/app-globals.js';
import { bindableNames } from '../formats/app-scope.js';
import { assertConfinableEntry, assertEngineConfinable, assertEntryInProject, inheritedWorkerEnv, PARENT_MARKER } from '../confine/entry-checks.js';
import { confineSpawns, pinPreloads, propagateToChildren } from '../confine/child-processes.js';
import { hardenAtStart, sweepLoaded, whenLoaded } from '../confine/boundary.js';
import { prepareHost } from '../confine/host-preparation.js';
import { hasLoaded } from '../confine/load-trap.js';
import { brandNetObjects } from '../confine/net-brands.js';
import { guardClusterServerQueries } from '../confine/native-handles.js';
import { guardProcessSend } from '../confine/ipc-messages.js';
import { BUNDLED_VERSIONS } from './bundled-versions.js';
import { guardGlobalDispatcher, initGlobalDispatcher, lockGlobalDispatcher, UNDICI } from '../confine/undici-dispatcher.js';
import { setBeforeLaterStart } from '../confine/module-evaluation.js';
import { prepareSamples } from '../confine/samples.js';
import { zeroFillUnsafeBuffers } from '../confine/unsafe-buffers.js';
import { confineWorkers, type WorkerOrigins } from '../confine/workers.js';
import { guardHttpAgents, guardHttpsAgents, noteClientRequests } from '../confine/agent-guards.js';
import { guardTlsServers } from '../confine/tls-servers.js';
import { importsAfterLoader, preloadParentURL, preloadsBeforeLoader } from './preloads.js';
import { onDenial } from '../report/denials.js';
import { makeCaughtDenialReport } from '../report/caught-denials.js';
import { Recording } from '../report/recording.js';
import { guardFramelessCalls } from '../confine/frameless-calls.js';

declare function lockdown(options?: Record<string, unknown>): void;

// This project's runtime bundle (dist/runtime/, see scripts/bundle-runtime.mjs), which
// always runs natively.
const selfDir = path.dirname(fileURLToPath(import.meta.url));
// This project's compiled code (dist/), the runtime bundle included.
const distDir = path.dirname(selfDir);


function warnings(config: Config): void {
  // Once per process tree: children and workers inherit the configuration silently.
  if (inheritedQuietly()) return;
  for (const warning of config.warnings) process.stderr.write(`${warning}\n`);
  if (config.debug || isDebugLockdown(config.lockdown)) {
    const why = config.debug ? `debug from ${config.sources.debug}` : `errorTaming from ${config.sources['lockdown.errorTaming']}`;
    const leak = isDebugLockdown(config.lockdown) ? ", which hands the V8 stack API to every package" : '';
    process.stderr.write(
      `LavaMoat: debug mode (${why}): errorTaming '${config.lockdown.errorTaming}'${leak}, ` +
        `stackFiltering '${config.lockdown.stackFiltering}'. Not for production.\n`,
    );
  }
}

/**
 * `loaderURL` is loader.mjs, the module `--import` ran: workers and child processes
 * are started with it.
 */
export async function start(config: Config, loaderURL: string): Promise<void> {
  // Before propagateToChildren below writes this loader into NODE_OPTIONS.
  const preloads = { parentURL: preloadParentURL(), specifiers: importsAfterLoader(loaderURL) };
  // Before propagateToChildren adds this loader to NODE_OPTIONS.
  const toolsBefore = preloadsBeforeLoader(loaderURL);
  assertConfinableEntry();
  assertEngineConfinable();
  warnings(config);
  const { policy } = loadPolicy({ policyPath: config.policyPath, overridePath: config.overridePath });
  const packageMap = new PackageMap(buildPackageMap(config.projectRoot, { includeDev: config.dev }));
  assertEntryInProject((file) => packageMap.packageForPath(file), config.projectRoot);
  // The host's globals, as endowments will hand them out: a holder that reads through
  // to the real global object and keeps what scuttling removes from it.
  const host = makeHostGlobals(globalThis);
  // Node hands out small Buffers as slices of one shared 8 KiB pool: any package with a
  // Buffer could read and change the app's bytes through `buf.buffer`. Every Buffer
  // gets memory of its own instead (before lockdown, which freezes Buffer).
  Buffer.poolSize = 0;
  // Nor memory other buffers held: allocUnsafe zero-fills (confine/unsafe-buffers.ts).
  zeroFillUnsafeBuffers();
  // V8's own Error, before lockdown puts SES's in its place (confine/host-hardening.ts).
  const feralError = globalThis.Error;
  // Binds and proxies of the functions whose checks read their caller (confine/frameless-calls.ts).
  guardFramelessCalls();
  lockdown({ ...config.lockdown });
  const salt = cacheSalt();
  const cache = moduleCache(config, salt);
  const files = { policy: config.policyPath, override: config.overridePath };
  // Denials packages catch, printed once each (report/caught-denials.ts); the recording
  // of what packages use, only when asked for (report/recording.ts, confine/usage.ts).
  const caught = config.reportCaughtDenials ? makeCaughtDenialReport(files) : undefined;
  let recording: Recording | undefined;
  if (config.record !== undefined) {
    recording = new Recording({
      file: config.record,
      policy: config.policyPath,
      policyOverride: config.overridePath,
      fresh: !inheritedQuietly(),
    });
    try {
      recording.start();
    } catch (error) {
      throw new Error(`LavaMoat: cannot write the recording ${config.record} (from ${config.sources.record}): ${(error as Error).message}`);
    }
  }
  if (caught || recording) {
    onDenial((event) => {
      caught?.denied(event);
      recording?.denied(event);
    });
  }
  const runtime = new Runtime({
    packageMap,
    cache: cache && new ModuleCache(cache),
    policy,
    files,
    host: host.globals,
    ...(recording && { usage: recording }),
    strict: config.strict,
  });
  // Before the ES namespace of node:util is brought up to date (installErrorPrinting).
  installPromisify();
  installErrorPrinting(
    (error) => runtime.explainError(error),
    caught && ((error) => caught.beforeUncaught(error)),
    // The source line over an uncaught error: only from a file of the app or of a package.
    (file) => packageMap.packageForPath(file) !== undefined,
  );
  // Before any package can spawn a process.
  // Workers and fork() pass process.execArgv on: this loader by its absolute URL, not by
  // a specifier another working directory resolves elsewhere (child-processes.ts).
  process.execArgv.splice(0, process.execArgv.length, ...pinPreloads(process.execArgv, loaderURL));
  propagateToChildren(config, loaderURL);
  confineSpawns(config, loaderURL);
  prepareHost({ preloadDomain: grantsBuiltin(policy, 'domain'), feralError });
  // When undici loads (now if it has), before its samples: its agent behind a guard.
  initGlobalDispatcher(globalThis, globalThis.Error as never);
  whenLoaded(UNDICI, guardGlobalDispatcher);
  // When node:net loads (now if it has), before any socket or server is made: only those
  // its constructors made can connect or listen (net-brands.ts).
  const netBefore = hasLoaded('net');
  whenLoaded('net', () => brandNetObjects(globalThis.Error as never, process.getBuiltinModule('node:net') as never, { existing: netBefore }));
  // When http's agent (and https) load, before any agent is handed out: agents open
  // connections for Node's requests, and for code of the kind that made them (agent-guards.ts).
  const agentsBefore = hasLoaded('_http_agent');
  whenLoaded('_http_agent', () => guardHttpAgents(globalThis.Error as never, process.getBuiltinModule('node:_http_agent') as never, { existing: agentsBefore }));
  whenLoaded('_http_client', () => noteClientRequests(globalThis.Error as never, process.getBuiltinModule('node:_http_client') as never));
  whenLoaded('https', () => guardHttpsAgents(process.getBuiltinModule('node:https') as never));
  // When TLS's server class loads (node:_tls_wrap on Node 20, its own module; node:tls
  // on 22 and 24, whose class is internal), before it is hardened: the app's servers'
  // private keys and ticket keys for the app's code (tls-servers.ts).
  whenLoaded('_tls_wrap', () => guardTlsServers(globalThis.Error as never, process.getBuiltinModule('node:_tls_wrap') as never));
  whenLoaded('tls', () => guardTlsServers(globalThis.Error as never, process.getBuiltinModule('node:tls') as never));
  // In a cluster worker, before any server asks the primary for one: a descriptor only for
  // the app's code (native-handles.ts).
  whenLoaded('internal/cluster/child', () => guardClusterServerQueries(process.getBuiltinModule('node:cluster') as never));
  // In a child with an IPC channel (forked, a cluster worker): Node's own protocol
  // (`NODE_` messages) only from the app's code and Node's (ipc-messages.ts).
  guardProcessSend();
  // When worker_threads loads (now if it has), before it returns to whoever loaded it:
  // every Worker is made through it (Node's hooks thread too), and the start does not
  // load it for an app that starts none.
  const origins = workerOrigins(packageMap);
  whenLoaded('worker_threads', () => confineWorkers(config, loaderURL, origins));
  await runtime.start();
  // Before any package code: classes sampled with an `await` (samples.ts).
  await prepareSamples(host.globals, {
    webcrypto: grantsBuiltin(policy, 'crypto') || grantsGlobal(policy, 'crypto') || grantsGlobal(policy, 'CryptoKey'),
  });
  // A tool preloaded before the loader may patch a builtin when it first loads: builtins
  // loaded later are then hardened at the next package module, not as they load.
  hardenAtStart({ leavePatchingTime: toolsBefore });
  setBeforeLaterStart(sweepLoaded);
  setRuntime(runtime);
  // Under scuttling, the names the app's own modules keep (confine/app-globals.ts):
  // known now, since scuttling (last, below) takes exactly these.
  const { enabled: scuttling, exceptions } = config.scuttleGlobalThis;
  const toScuttle = scuttling ? scuttledNames(globalThis, exceptions) : [];
  const appNames = scuttling ? bindableNames(toScuttle) : undefined;
  const bridgeURL = new URL('./bridge.js', import.meta.url).href;
  installRequireHook(runtime, packageMap, selfDir, runtime.rootConfined, appNames && { names: appNames, scope: appGlobalScope, bridgeURL });
  const data: HooksData = {
    packageMap: packageMap.data,
    bridgeURL,
    selfURL: pathToFileURL(selfDir + path.sep).href,
    rootConfined: runtime.rootConfined,
    cache,
    appGlobals: appNames,
    preloads,
    toolsBefore,
  };
  await lexersReady;
  installHooks(data, new URL('./hooks.js', import.meta.url));
  // Last: everything above has taken what it needs from the real global.
  const scuttled = scuttleGlobalThis(globalThis, config.scuttleGlobalThis, {
    holder: host,
    source: config.sources['scuttleGlobalThis.scuttlerName'],
    scuttled: lockGlobalDispatcher,
  });
  if (scuttled) setAppGlobalScope(makeAppGlobalScope(globalThis, host, [...scuttled.removed, ...scuttled.replaced]));
  if (scuttled && config.debug) {
    const intrinsic = new Set([...INTRINSIC_GLOBALS, ...SES_GLOBALS]);
    process.stderr.write(
      `LavaMoat: scuttled globalThis: removed ${[...scuttled.removed, ...scuttled.replaced].join(', ') || 'nothing'}; ` +
        `host globals kept: ${scuttled.kept.filter((name) => !intrinsic.has(name)).join(', ')}\n`,
    );
  }
}

/**
 * For confine/workers.ts: which files are the project's, and which are code loaded
 * natively outside the app and this runtime, that is, a preload's (tsx, esbuild under
 * it): in `node_modules` (a package the map does not hold, or one it confines, whose
 * own code never runs natively) and not this project's compiled code. A preload kept
 * outside any `node_modules` counts as the app's: its workers are confined.
 */
function workerOrigins(packageMap: PackageMap): WorkerOrigins {
  return {
    inProject: (file) => packageMap.packageForPath(file) !== undefined,
    isPreloadCode: (file) => {
      if (file.startsWith(distDir + path.sep)) return false;
      const owner = packageMap.packageForPath(file);
      return owner === undefined ? hasNodeModulesSegment(file) : owner.name !== ROOT_NAME;
    },
    // After lockdown: SES's Error of the start compartment, whose stack API this uses.
    hostError: globalThis.Error,
    env: process.env,
  };
}

/** The compiled-module cache's settings, as far as cache/trust.ts lets it be used. */
function moduleCache(config: Config, salt: string): { dir: string; salt: string; readOnly: boolean } | undefined {
  if (config.cacheDir === undefined) return undefined;
  const { mode, reason } = cacheMode(config.cacheDir, packageCodeDirs(config));
  if (mode === 'off') {
    if (!inheritedQuietly()) process.stderr.write(`LavaMoat: the compiled-module cache is not used: ${reason}\n`);
    return undefined;
  }
  return { dir: config.cacheDir, salt, readOnly: mode === 'read-only' };
}

/** Children and workers inherit the configuration silently (their parent said it once). */
function inheritedQuietly(): boolean {
  const propagated = process.env[PARENT_MARKER] !== undefined && process.env[PARENT_MARKER] !== '';
  return propagated || inheritedWorkerEnv() !== undefined;
}

/** Whether some resource of `policy` is granted builtin `name` (or a member of it). */
function grantsBuiltin(policy: { resources?: Record<string, { builtin?: Record<string, unknown> } | undefined> }, name: string): boolean {
  return Object.values(policy.resources ?? {}).some((resource) =>
    Object.entries(resource?.builtin ?? {}).some(
      ([key, value]) => value === true && (key === name || key === `node:${name}` || key.startsWith(`${name}.`) || key.startsWith(`node:${name}.`)),
    ),
  );
}

/** Whether some resource of `policy` is granted global `name` (or a member of it). */
function grantsGlobal(policy: { resources?: Record<string, { globals?: Record<string, unknown> } | undefined> }, name: string): boolean {
  return Object.values(policy.resources ?? {}).some((resource) =>
    Object.entries(resource?.globals ?? {}).some(([key, value]) => value !== false && (key === name || key.startsWith(`${name}.`))),
  );
}

/** Versions of everything that shapes a compiled module. */
function cacheSalt(): string {
  // Resolving four packages through require cost ~6 ms of every start (the first require
  // of the process): the bundled ones are known when the bundle is made, and only the
  // compiler, loaded from node_modules, is looked up.
  if (BUNDLED_VERSIONS !== undefined) return `${BUNDLED_VERSIONS} @endo/module-source@${compilerVersion()}`;
  const require = createRequire(import.meta.url);
  // This package from this file (it exports no entry point), the others from theirs.
  const entry = (name: string): string => (name === 'lavamoat' ? fileURLToPath(import.meta.url) : require.resolve(name));
  return ['lavamoat', 'ses', '@endo/module-source', 'meriyah'].map((name) => `${name}@${versionAbove(name, entry(name))}`).join(' ');
}

/**
 * @endo/module-source's version: the compiler, loaded from node_modules, not bundled
 * (formats/esm.ts requires it from this bundle). Read where that require finds it, the
 * nearest `node_modules` above: Node's resolver, the first of the process to run, cost
 * 1–2 ms of every start; it decides only where the folders say nothing.
 */
function compilerVersion(): string {
  const name = '@endo/module-source';
  for (let dir = selfDir; ; ) {
    if (path.basename(dir) !== 'node_modules') {
      try {
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (manifest.name === name && typeof manifest.version === 'string') return manifest.version;
      } catch {
        // not installed here
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return versionAbove(name, createRequire(import.meta.url).resolve(name));
}

/** The version in the package.json of package `name` above `file` (not every package exports its package.json). */
function versionAbove(name: string, file: string): string {
  for (let dir = path.dirname(file); ; ) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === name) return String(manifest.version);
    } catch {
      // no package.json here
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`LavaMoat: cannot find the version of ${name}`);
    dir = parent;
  }
}

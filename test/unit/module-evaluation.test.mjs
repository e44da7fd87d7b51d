// The evaluator of module graphs with top-level await (src/confine/module-evaluation.ts)
// against V8's own: random module graphs (cycles, modules that await a random number of
// times, modules that throw before or after awaiting) are written out as real .mjs files
// and imported natively, and the same graphs are evaluated by the evaluator through
// stand-ins for SES's module instances with the same bodies. Every module logs when its
// code starts and ends; the logs (microtask for microtask) and the root's outcome must be
// the same. The compartment end of it is tested against plain node by
// test/integration/top-level-await.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  evaluateModule,
  evaluateModuleNow,
  graphHasTopLevelAwait,
  isAsyncGraphRefusal,
} from '../../dist/confine/module-evaluation.js';

/** A small deterministic generator, so that a failing graph can be found again by its seed. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// V8 before 13 (Node 20 and 22) aborts the process (a failed internal check in
// ExecuteAsyncModule) on some graphs where a module that does not await throws while a
// dependency in its cycle is still pending: the bug the spec's [[AsyncEvaluationOrder]]
// "done" state fixed. There, such throws are left out of the graphs; Node 24 has them.
const V8_HAS_FIX = Number(process.versions.node.split('.')[0]) >= 24;

/**
 * A graph: module i imports some modules (mostly later ones, sometimes earlier ones,
 * which makes cycles), may await 1-3 times (`await null`, or a resolved promise's then),
 * and may throw before or after its awaits.
 */
function makeGraph(seed) {
  const next = random(seed);
  const count = 2 + Math.floor(next() * 10);
  const modules = [];
  for (let i = 0; i < count; i += 1) {
    const deps = [];
    for (let j = 0; j < count; j += 1) {
      if (j === i) continue;
      const chance = j > i ? 0.35 : 0.12;
      if (next() < chance) deps.push(j);
    }
    const awaits = next() < 0.45 ? 1 + Math.floor(next() * 3) : 0;
    let throws = next() < 0.08 ? (awaits > 0 && next() < 0.5 ? 'after' : 'before') : undefined;
    if (!V8_HAS_FIX && throws === 'before' && awaits === 0) throws = undefined;
    modules.push({ deps, awaits, throws, viaThen: next() < 0.3 });
  }
  // The root imports every module that nothing else reaches first, so all of them run.
  return modules;
}

function moduleSource(graph, i, tag) {
  const m = graph[i];
  const lines = m.deps.map((d) => `import './m${d}.mjs';`);
  lines.push(`globalThis.${tag}.push('m${i} start');`);
  if (m.throws === 'before') lines.push(`throw new Error('m${i} failed');`);
  for (let k = 0; k < m.awaits; k += 1) lines.push(m.viaThen ? 'await Promise.resolve().then(() => {});' : 'await null;');
  if (m.throws === 'after') lines.push(`throw new Error('m${i} failed');`);
  lines.push(`globalThis.${tag}.push('m${i} end');`);
  return `${lines.join('\n')}\n`;
}

async function runNatively(graph, dir, tag) {
  globalThis[tag] = [];
  for (let i = 0; i < graph.length; i += 1) fs.writeFileSync(path.join(dir, `m${i}.mjs`), moduleSource(graph, i, tag));
  let outcome = 'fulfilled';
  try {
    await import(pathToFileURL(path.join(dir, 'm0.mjs')).href);
  } catch (error) {
    outcome = `rejected: ${error.message}`;
  }
  // The global stays: modules the root no longer waits for (after an error) still log.
  return { log: globalThis[tag], outcome };
}

/** Stand-ins for SES's patched module instances, running the same bodies. */
function instancesFor(graph, log) {
  const instances = [];
  graph.forEach((m, i) => {
    const body = m.awaits > 0
      ? async () => {
          log.push(`m${i} start`);
          if (m.throws === 'before') throw new Error(`m${i} failed`);
          for (let k = 0; k < m.awaits; k += 1) {
            if (m.viaThen) await Promise.resolve().then(() => {});
            else await null;
          }
          if (m.throws === 'after') throw new Error(`m${i} failed`);
          log.push(`m${i} end`);
        }
      : () => {
          log.push(`m${i} start`);
          if (m.throws) throw new Error(`m${i} failed`);
          log.push(`m${i} end`);
        };
    let started = false;
    let failure;
    const instance = {
      hasTopLevelAwait: m.awaits > 0,
      requestedModules: () => m.deps.map((d) => instances[d]),
      // SES's synchronous path: dependencies from inside the module, then its code.
      execute() {
        if (instance.hasTopLevelAwait) throw new Error('the synchronous path reached a module that awaits');
        if (!started) {
          started = true;
          try {
            for (const dep of instance.requestedModules()) dep.execute();
            body();
          } catch (error) {
            failure = { value: error };
          }
        }
        if (failure) throw failure.value;
      },
      executeBody() {
        started = true;
        try {
          return body();
        } catch (error) {
          failure = { value: error };
          throw error;
        }
      },
      sesOutcome: () => (started ? (failure ? { error: failure } : {}) : undefined),
    };
    instances.push(instance);
  });
  return instances;
}

const GRAPHS = 500;

async function runEvaluator(graph) {
  const log = [];
  const instances = instancesFor(graph, log);
  let outcome = 'fulfilled';
  try {
    await evaluateModule(instances[0]);
  } catch (error) {
    outcome = `rejected: ${error.message}`;
  }
  return { log, outcome };
}

test('random module graphs evaluate as V8 evaluates them, microtask for microtask', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavamoat-tla-graphs-'));
  try {
    let withAwait = 0;
    for (let seed = 1; seed <= GRAPHS; seed += 1) {
      const graph = makeGraph(seed);
      const graphDir = path.join(dir, String(seed));
      fs.mkdirSync(graphDir);
      const native = await runNatively(graph, graphDir, `__tlaLog${seed}`);
      const mine = await runEvaluator(graph);
      // Both settled: let every pending continuation of either run finish before comparing.
      await new Promise((resolve) => setImmediate(resolve));
      delete globalThis[`__tlaLog${seed}`];
      assert.deepEqual(mine, native, `seed ${seed}: ${JSON.stringify(graph)}`);
      if (graph.some((m) => m.awaits > 0)) withAwait += 1;
    }
    assert.ok(withAwait > GRAPHS * 0.7, `${withAwait} graphs of ${GRAPHS} had a module that awaits`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two roots sharing an awaiting module: each waits for it, it runs once', async () => {
  const log = [];
  const graph = [
    { deps: [2], awaits: 0 },
    { deps: [2], awaits: 0 },
    { deps: [], awaits: 2 },
  ];
  const [a, b] = instancesFor(graph, log);
  const first = evaluateModule(a);
  const second = evaluateModule(b);
  assert.deepEqual(log, ['m2 start']);
  await Promise.all([first, second]);
  assert.deepEqual(log, ['m2 start', 'm2 end', 'm0 start', 'm0 end', 'm1 start', 'm1 end']);
  assert.equal(evaluateModule(a), first, 'a module evaluated as a root gives the same promise again');
});

test('a graph without top-level await takes the synchronous path; require refuses one with it', () => {
  const log = [];
  const sync = instancesFor([{ deps: [1], awaits: 0 }, { deps: [], awaits: 0 }], log);
  assert.equal(graphHasTopLevelAwait(sync[0]), false);
  assert.equal(evaluateModule(sync[0]), undefined);
  assert.deepEqual(log, ['m1 start', 'm1 end', 'm0 start', 'm0 end']);

  const awaiting = instancesFor([{ deps: [1], awaits: 0 }, { deps: [], awaits: 1 }], []);
  assert.equal(graphHasTopLevelAwait(awaiting[0]), true);
  assert.throws(
    () => evaluateModuleNow(awaiting[0]),
    (error) => error.code === 'ERR_REQUIRE_ASYNC_MODULE' && isAsyncGraphRefusal(error),
  );
  assert.equal(isAsyncGraphRefusal(Object.assign(new Error('x'), { code: 'ERR_REQUIRE_ASYNC_MODULE' })), false, 'only the evaluator makes refusals');
});

test('a module the synchronous path ran counts as evaluated, with its error', async () => {
  const log = [];
  const graph = [{ deps: [1, 2], awaits: 0 }, { deps: [], awaits: 0, throws: 'before' }, { deps: [], awaits: 1 }];
  const instances = instancesFor(graph, log);
  assert.throws(() => instances[1].execute(), /m1 failed/);
  await assert.rejects(evaluateModule(instances[0]), /m1 failed/);
  assert.deepEqual(log, ['m1 start'], 'the failed module is not run again, and stops its importer');
});

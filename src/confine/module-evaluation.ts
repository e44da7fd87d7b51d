/**
 * Evaluation of compartment module graphs that contain top-level await, with the
 * semantics ECMA-262 gives cyclic module records (16.2.1.6.1.3: Evaluate,
 * InnerModuleEvaluation, ExecuteAsyncModule, GatherAvailableAncestors,
 * AsyncModuleExecutionFulfilled and AsyncModuleExecutionRejected), which is what V8 and
 * so Node implement: a module that awaits delays only the modules that depend on it,
 * modules waiting on async dependencies run in the order they were reached, a cycle
 * completes as one, and an error reaches every module waiting on the one that failed.
 *
 * SES evaluates a module graph synchronously, from inside each module's code: a module's
 * first statement (`imports(...)`) runs its dependencies. The runtime bundle patches
 * SES's module instances (scripts/bundle-runtime.mjs) so that this evaluator can run a
 * module's own code alone (`executeBody`), after deciding the order itself. A graph
 * without top-level await keeps SES's synchronous path (`execute`), unchanged: which
 * path a graph takes depends only on its modules' code, as the spec's [[HasTLA]] does.
 *
 * State lives here, per SES instance, never on anything a compartment can reach; the
 * promises made here are the realm's intrinsic Promise, which lockdown hardened and
 * every compartment shares.
 */

/** What a patched SES module instance gives the evaluator. */
export interface EvaluableInstance {
  /** The module's own code awaits at its top level ([[HasTLA]]). */
  readonly hasTopLevelAwait: boolean;
  /** Instances of the modules it imports, in the order its source requests them. */
  requestedModules(): readonly EvaluableInstance[];
  /** SES's own evaluation: the module and, from its code, its dependencies; memoised. */
  execute(): void;
  /**
   * Present on compiled ES modules (cyclic module records); virtual ones (CommonJS,
   * JSON, builtins) evaluate through `execute` alone. Runs the module's own code, its
   * dependencies evaluated already or in its cycle; for a module with top-level await,
   * returns the promise of its body.
   */
  executeBody?(): Promise<unknown> | undefined;
  /** Whether SES's own path ran it (then it is done, or failed with `error`). */
  sesOutcome?(): { error?: { value: unknown } } | undefined;
}

type Status = 'linked' | 'evaluating' | 'evaluating-async' | 'evaluated';

interface Capability {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/** The spec's Cyclic Module Record fields, for one instance. */
interface ModuleState {
  readonly instance: EvaluableInstance;
  status: Status;
  error: { value: unknown } | undefined;
  dfsIndex: number;
  dfsAncestorIndex: number;
  cycleRoot: ModuleState | undefined;
  /** [[AsyncEvaluationOrder]]: unset, an integer while pending, or done. */
  asyncOrder: number | 'done' | undefined;
  pendingAsyncDependencies: number;
  asyncParentModules: ModuleState[];
  topLevelCapability: Capability | undefined;
}

// Taken when the runtime loads, before any app code could replace the global.
const IntrinsicPromise = Promise;

const states = new WeakMap<EvaluableInstance, ModuleState>();
let asyncEvaluationCount = 0;

function stateOf(instance: EvaluableInstance): ModuleState {
  let state = states.get(instance);
  if (state) return state;
  state = {
    instance,
    status: 'linked',
    error: undefined,
    dfsIndex: 0,
    dfsAncestorIndex: 0,
    cycleRoot: undefined,
    asyncOrder: undefined,
    pendingAsyncDependencies: 0,
    asyncParentModules: [],
    topLevelCapability: undefined,
  };
  // A module SES's synchronous path ran (a graph without top-level await, through
  // `require` or an earlier import) is evaluated: it can only have finished, since that
  // path never waits.
  const outcome = instance.sesOutcome?.();
  if (outcome) {
    state.status = 'evaluated';
    state.error = outcome.error;
    state.cycleRoot = state;
  }
  states.set(instance, state);
  return state;
}

const isCyclic = (instance: EvaluableInstance): boolean => typeof instance.executeBody === 'function';

const graphs = new WeakMap<EvaluableInstance, boolean>();

/**
 * Whether a module with top-level await is reachable from `instance` through static
 * imports: a property of the code alone (Node's require(esm) asks the same question).
 */
export function graphHasTopLevelAwait(instance: EvaluableInstance): boolean {
  const known = graphs.get(instance);
  if (known !== undefined) return known;
  const seen = new Set<EvaluableInstance>();
  const work = [instance];
  let found = false;
  while (work.length > 0 && !found) {
    const next = work.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    const answer = graphs.get(next);
    if (answer === false) continue;
    if (answer === true || next.hasTopLevelAwait) found = true;
    else work.push(...next.requestedModules());
  }
  if (found) graphs.set(instance, true);
  // Every module seen reaches only modules seen: none of them has an async graph.
  else for (const each of seen) graphs.set(each, false);
  return found;
}

/** Error code Node gives `require()` of an ES module graph with top-level await. */
export const REQUIRE_ASYNC_MODULE = 'ERR_REQUIRE_ASYNC_MODULE';

// The refusals made here, which callers reword with the requiring module (one that
// comes out of a module's own code is that module's, and passes through untouched).
const refusals = new WeakSet<object>();

/** Whether `error` is this evaluator refusing a synchronous evaluation of an async graph. */
export const isAsyncGraphRefusal = (error: unknown): boolean => typeof error === 'object' && error !== null && refusals.has(error);

/**
 * Evaluates the graph of `instance` for a synchronous caller (`importNow`: `require`,
 * and the facades of graphs without top-level await). A graph with top-level await is
 * refused before any of it runs, as Node refuses it to `require()`; callers that know
 * the requiring module reword the error as Node does.
 */
export function evaluateModuleNow(instance: EvaluableInstance): void {
  if (graphHasTopLevelAwait(instance)) {
    const refusal = Object.assign(new Error('require() cannot be used on an ESM graph with top-level await. Use import() instead.'), {
      code: REQUIRE_ASYNC_MODULE,
    });
    refusals.add(refusal);
    throw refusal;
  }
  instance.execute();
}

/**
 * Evaluates the graph of `instance` for `import()` and the facades: undefined when it
 * ran synchronously (SES's own path, for a graph without top-level await), else the
 * promise of its evaluation (the spec's Evaluate()).
 */
export function evaluateModule(instance: EvaluableInstance): Promise<void> | undefined {
  if (!graphHasTopLevelAwait(instance)) {
    instance.execute();
    return undefined;
  }
  return evaluate(instance);
}

function newCapability(): Capability {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new IntrinsicPromise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Evaluate() (16.2.1.6.1.3), for a cyclic module whose graph has top-level await. */
function evaluate(instance: EvaluableInstance): Promise<void> {
  let module = stateOf(instance);
  if (module.status === 'evaluating') {
    // Asked again while its graph is being evaluated synchronously (a `require` in a
    // cycle): Node refuses that too (ERR_REQUIRE_CYCLE_MODULE).
    return IntrinsicPromise.reject(new Error('LavaMoat: a module was imported while its own evaluation was under way'));
  }
  if (module.status === 'evaluating-async' || module.status === 'evaluated') module = module.cycleRoot ?? module;
  if (module.topLevelCapability) return module.topLevelCapability.promise;
  const stack: ModuleState[] = [];
  const capability = newCapability();
  module.topLevelCapability = capability;
  try {
    innerModuleEvaluation(module.instance, stack, 0);
  } catch (error) {
    for (const each of stack) {
      each.status = 'evaluated';
      each.error = { value: error };
    }
    capability.reject(error);
    return capability.promise;
  }
  if (module.status === 'evaluated') capability.resolve();
  return capability.promise;
}

/** InnerModuleEvaluation(): the depth-first walk, Tarjan's strongly connected components. */
function innerModuleEvaluation(instance: EvaluableInstance, stack: ModuleState[], index: number): number {
  if (!isCyclic(instance)) {
    // Not a cyclic module record: its Evaluate() is synchronous and memoised (SES
    // throws its error again), as Node's CommonJS and builtin modules are.
    instance.execute();
    return index;
  }
  const module = stateOf(instance);
  if (module.status === 'evaluating-async' || module.status === 'evaluated') {
    if (module.error) throw module.error.value;
    return index;
  }
  if (module.status === 'evaluating') return index;
  module.status = 'evaluating';
  const moduleIndex = index;
  module.dfsIndex = index;
  module.dfsAncestorIndex = index;
  module.pendingAsyncDependencies = 0;
  index += 1;
  stack.push(module);
  for (const requiredInstance of instance.requestedModules()) {
    index = innerModuleEvaluation(requiredInstance, stack, index);
    if (!isCyclic(requiredInstance)) continue;
    let required = stateOf(requiredInstance);
    if (required.status === 'evaluating') {
      module.dfsAncestorIndex = Math.min(module.dfsAncestorIndex, required.dfsAncestorIndex);
    } else {
      required = required.cycleRoot ?? required;
      if (required.error) throw required.error.value;
    }
    if (typeof required.asyncOrder === 'number') {
      module.pendingAsyncDependencies += 1;
      required.asyncParentModules.push(module);
    }
  }
  if (module.pendingAsyncDependencies > 0 || instance.hasTopLevelAwait) {
    asyncEvaluationCount += 1;
    module.asyncOrder = asyncEvaluationCount;
    if (module.pendingAsyncDependencies === 0) executeAsyncModule(module);
  } else {
    instance.executeBody!();
  }
  if (module.dfsAncestorIndex === moduleIndex) {
    for (;;) {
      const member = stack.pop()!;
      member.status = member.asyncOrder === undefined ? 'evaluated' : 'evaluating-async';
      member.cycleRoot = module;
      if (member === module) break;
    }
  }
  return index;
}

/** ExecuteAsyncModule(): runs a module with top-level await; its completion continues the graph. */
function executeAsyncModule(module: ModuleState): void {
  let body: Promise<unknown>;
  try {
    body = IntrinsicPromise.resolve(module.instance.executeBody!());
  } catch (error) {
    // An async body only rejects; this is SES refusing to run it at all.
    body = IntrinsicPromise.reject(error);
  }
  body.then(
    () => asyncModuleExecutionFulfilled(module),
    (error: unknown) => asyncModuleExecutionRejected(module, error),
  );
}

/** GatherAvailableAncestors(): the modules whose last pending dependency just finished. */
function gatherAvailableAncestors(module: ModuleState, execList: ModuleState[]): void {
  for (const parent of module.asyncParentModules) {
    if (execList.includes(parent) || parent.cycleRoot?.error) continue;
    parent.pendingAsyncDependencies -= 1;
    if (parent.pendingAsyncDependencies === 0) {
      execList.push(parent);
      if (!parent.instance.hasTopLevelAwait) gatherAvailableAncestors(parent, execList);
    }
  }
}

let beforeLaterStart = (): void => {};

/**
 * What to do before modules start in a later job than the one that reached them (their
 * dependencies awaited): the runtime sweeps what the app loaded meanwhile, as before any
 * package module runs (boundary.ts).
 */
export function setBeforeLaterStart(fn: () => void): void {
  beforeLaterStart = fn;
}

function asyncModuleExecutionFulfilled(module: ModuleState): void {
  if (module.status === 'evaluated') return; // failed already, through a cycle
  module.asyncOrder = 'done';
  module.status = 'evaluated';
  module.topLevelCapability?.resolve();
  const execList: ModuleState[] = [];
  gatherAvailableAncestors(module, execList);
  if (execList.length > 0) beforeLaterStart();
  // In the order the modules were first reached (their [[AsyncEvaluationOrder]]).
  execList.sort((a, b) => (a.asyncOrder as number) - (b.asyncOrder as number));
  for (const each of execList) {
    if (each.status === 'evaluated') continue; // failed meanwhile
    if (each.instance.hasTopLevelAwait) {
      executeAsyncModule(each);
      continue;
    }
    try {
      each.instance.executeBody!();
    } catch (error) {
      asyncModuleExecutionRejected(each, error);
      continue;
    }
    each.asyncOrder = 'done';
    each.status = 'evaluated';
    each.topLevelCapability?.resolve();
  }
}

function asyncModuleExecutionRejected(module: ModuleState, error: unknown): void {
  if (module.status === 'evaluated') return;
  module.error = { value: error };
  module.status = 'evaluated';
  module.asyncOrder = 'done';
  for (const parent of module.asyncParentModules) asyncModuleExecutionRejected(parent, error);
  module.topLevelCapability?.reject(error);
}

/**
 * What the patched SES compartment gives the runtime: load a module synchronously, link
 * it and start its evaluation (the facades, whose module must start when Node evaluates
 * the facade, not a few ticks later). Registered by the bundle; absent outside it.
 */
export interface CompartmentInternals {
  importNowAsync(compartment: object, specifier: string): { namespace: Record<string, unknown>; evaluation: Promise<void> | undefined };
}

let internals: CompartmentInternals | undefined;

export function registerCompartmentInternals(value: CompartmentInternals): void {
  if (internals) throw new Error('LavaMoat: compartment internals are registered already');
  internals = value;
}

export function compartmentInternals(): CompartmentInternals {
  if (!internals) throw new Error('LavaMoat: the runtime bundle did not register its compartment internals');
  return internals;
}

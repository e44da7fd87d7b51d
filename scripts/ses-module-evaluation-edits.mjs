// SES edits for top-level await in compartment modules (used by bundle-runtime.mjs,
// which applies them after its own and checks each matches exactly as many times as
// it says). SES runs a module graph synchronously, from inside each module's code; these
// edits let the runtime's evaluator (src/confine/module-evaluation.ts) decide the order
// instead, as the spec's async module evaluation does, for graphs with top-level await:
//
// - module instances say whether their code awaits at its top level (the compiled
//   record's `__hasTopLevelAwait__`), which modules they import in source order, and can
//   run their own code alone (`executeBody`: the program's `imports()` then links the
//   dependencies without running them, since the evaluator ran them first); SES's own
//   `execute` refuses a module with top-level await, which only the evaluator may run;
// - the compartment evaluates through the evaluator: `importNow` (require) refuses a
//   graph with top-level await as Node's require(esm) does, `import()` and a module's
//   dynamic import wait for it, and the runtime gets a synchronous start for the
//   facades (`importNowAsync`).
//
// A graph without top-level await goes through SES's own `execute`, unchanged.

const EVALUATION = 'lavamoat:module-evaluation';

export const MODULE_EVALUATION_EDITS = {
  'module-instance.js': [
    [
      `    __needsImportMeta__: needsImportMeta = false,
    __syncModuleFunctor__,
  } = moduleSource;`,
      `    __needsImportMeta__: needsImportMeta = false,
    __syncModuleFunctor__,
    __hasTopLevelAwait__: hasTopLevelAwait = false,
  } = moduleSource;`,
      1,
    ],
    [
      `      instance.execute(); // bottom up cycle tolerant`,
      `      // Run by the evaluator, this module's dependencies were evaluated before it.
      if (!bodyOnly) instance.execute(); // bottom up cycle tolerant`,
      1,
    ],
    [
      `  let didThrow = false;
  let thrownError;
  function execute() {
    if (optFunctor) {`,
      `  let didThrow = false;
  let thrownError;
  let bodyOnly = false;
  // The module's own code, for the evaluator: its dependencies are evaluated (or in its
  // cycle); returns the promise of an async program.
  function executeBody() {
    if (!optFunctor) {
      throw TypeError(\`Internal: module \${q(moduleSpecifier)} was evaluated twice\`);
    }
    const functor = optFunctor;
    optFunctor = null;
    bodyOnly = true;
    try {
      return functor(
        freeze({
          imports: freeze(imports),
          onceVar: freeze(onceVar),
          liveVar: freeze(liveVar),
          import: dynamicImport,
          importMeta,
        }),
      );
    } catch (e) {
      didThrow = true;
      thrownError = e;
      throw e;
    }
  }
  const requestedModules = () => {
    const requested = [];
    for (const specifier of moduleSource.imports) {
      arrayPush(requested, mapGet(importedInstances, specifier));
    }
    return requested;
  };
  const sesOutcome = () => {
    if (optFunctor) return undefined;
    return didThrow ? { error: { value: thrownError } } : {};
  };
  function execute() {
    if (hasTopLevelAwait) {
      throw TypeError(
        \`Internal: module \${q(moduleSpecifier)} awaits at its top level and cannot be evaluated synchronously\`,
      );
    }
    if (optFunctor) {`,
      1,
    ],
    [
      `    execute,
    awaitStarExport,
  });`,
      `    execute,
    awaitStarExport,
    hasTopLevelAwait,
    requestedModules,
    executeBody,
    sesOutcome,
  });`,
      1,
    ],
    [
      `  return freeze({
    notifiers,
    exportsProxy,
    execute() {`,
      `  return freeze({
    notifiers,
    exportsProxy,
    hasTopLevelAwait: false,
    requestedModules: () => [],
    execute() {`,
      1,
    ],
  ],
  'compartment.js': [
    [
      `import { makeSafeEvaluator } from './make-safe-evaluator.js';`,
      `import { makeSafeEvaluator } from './make-safe-evaluator.js';
import {
  evaluateModule,
  evaluateModuleNow,
  registerCompartmentInternals,
} from '${EVALUATION}';`,
      1,
    ],
    [
      `const compartmentImportNow = (compartment, specifier) => {
  const { execute, exportsProxy } = link(
    privateFields,
    moduleAliases,
    compartment,
    specifier,
  );
  execute();
  return exportsProxy;
};`,
      `const compartmentImportNow = (compartment, specifier) => {
  const instance = link(privateFields, moduleAliases, compartment, specifier);
  evaluateModuleNow(instance);
  return instance.exportsProxy;
};

registerCompartmentInternals({
  importNowAsync(compartment, specifier) {
    const { noAggregateLoadErrors } = weakmapGet(privateFields, compartment);
    loadNow(privateFields, moduleAliases, compartment, specifier, {
      noAggregateErrors: noAggregateLoadErrors,
    });
    const instance = link(privateFields, moduleAliases, compartment, specifier);
    const evaluation = evaluateModule(instance);
    return { namespace: instance.exportsProxy, evaluation };
  },
});`,
      1,
    ],
    [
      `      () => {
        // The namespace box is a contentious design and likely to be a breaking
        // change in an appropriately numbered future version.
        const namespace = compartmentImportNow(
          /** @type {Compartment} */ (this),
          specifier,
        );
        if (noNamespaceBox) {
          return namespace;
        }
        // Legacy behavior: box the namespace object so that thenable modules
        // do not get coerced into a promise accidentally.
        return { namespace };
      },`,
      `      () => {
        const instance = link(privateFields, moduleAliases, this, specifier);
        const evaluation = evaluateModule(instance);
        // The namespace box is a contentious design and likely to be a breaking
        // change in an appropriately numbered future version.
        const settle = () =>
          noNamespaceBox
            ? instance.exportsProxy
            : { namespace: instance.exportsProxy };
        return evaluation === undefined
          ? settle()
          : promiseThen(evaluation, settle);
      },`,
      1,
    ],
    [
      `      const { execute, exportsProxy } = link(
        privateFields,
        moduleAliases,
        compartment,
        fullSpecifier,
      );
      execute();
      return exportsProxy;`,
      `      const instance = link(
        privateFields,
        moduleAliases,
        compartment,
        fullSpecifier,
      );
      const evaluation = evaluateModule(instance);
      if (evaluation !== undefined) await evaluation;
      return instance.exportsProxy;`,
      1,
    ],
  ],
};

/** Where the edits' import of the evaluator resolves (the runtime's compiled module). */
export const MODULE_EVALUATION_SPECIFIER = EVALUATION;

// SES edits for strict mode's export views (used by bundle-runtime.mjs, which applies
// them after the others and checks each matches exactly as many times as it says).
//
// A module imports another package's module through SES's linking, which hands the
// importer the exporter's live bindings: there is no module record in between where the
// runtime could give a view instead. These edits ask the runtime, per importing
// compartment and imported module, for a function that turns a value into what the
// importer may see (src/confine/import-views.ts; none outside strict mode, and none for
// a package importing its own modules or a package its policy grants "write"):
//
// - static imports (`import x from`, `import * as ns from`) and re-exports (`export *
//   from`, `export { x } from`, whose bindings the module passes on to its own importers,
//   which may be of its package): every binding update passes through it, so bindings
//   stay live and the views follow them;
// - a module's dynamic `import()`: the namespace it resolves to.
//
// CommonJS `require`, and `import()` from CommonJS, are the runtime's own code
// (src/formats/cjs.ts) and apply the same views there.

const IMPORT_VIEWS = 'lavamoat:import-views';

export const EXPORT_VIEWS_EDITS = {
  'module-instance.js': [
    [
      `import { compartmentEvaluate } from './compartment-evaluate.js';`,
      `import { compartmentEvaluate } from './compartment-evaluate.js';
import { importTransform, staticImportTransform, viewNotifiers } from '${IMPORT_VIEWS}';`,
      1,
    ],
    [
      `      compartmentImport(resolveHook(importSpecifier, moduleSpecifier));`,
      `      {
        const fullSpecifier = resolveHook(importSpecifier, moduleSpecifier);
        const namespace = await compartmentImport(fullSpecifier);
        const importView = importTransform(compartment, fullSpecifier);
        return importView === undefined ? namespace : importView(namespace);
      };`,
      1,
    ],
    [
      `      const { notifiers: importNotifiers } = instance;`,
      `      const { notifiers: importedNotifiers } = instance;
      // The import's own specifier, resolved (again: the runtime remembers) when views are on.
      const importView = staticImportTransform(compartment, specifier, moduleSpecifier, resolveHook);
      // What this module re-exports of it (\`export *\`, \`export { x } from\`) passes its
      // bindings on to its own importers: they get them through the views too.
      const importNotifiers = importView === undefined ? importedNotifiers : viewNotifiers(importedNotifiers, importView);`,
      1,
    ],
    [
      `      for (const [importName, updaters] of importUpdaters) {`,
      `      for (const [importName, importedUpdaters] of importUpdaters) {
        let updaters = importedUpdaters;
        if (importView !== undefined) {
          updaters = [];
          for (const updater of importedUpdaters) {
            arrayPush(updaters, value => updater(importView(value)));
          }
        }`,
      1,
    ],
  ],
};

/** Where the edits' import resolves (the runtime's compiled module). */
export const IMPORT_VIEWS_SPECIFIER = IMPORT_VIEWS;

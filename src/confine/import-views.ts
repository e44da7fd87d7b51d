/**
 * The hook SES's edited module instances call when a module of one compartment links to
 * a module (scripts/ses-export-views-edits.mjs): what the importer may see of the
 * imported module's values. Strict mode sets it (runtime.ts); otherwise, and for links
 * that need no view, it answers nothing and SES links as it always does.
 */
type ImportTransform = (compartment: object, fullSpecifier: string) => ((value: unknown) => unknown) | undefined;

let transform: ImportTransform | undefined;

export function setImportTransform(value: ImportTransform): void {
  if (transform) throw new Error('LavaMoat: the import transform is already set');
  transform = value;
}

/** Called by SES for every dynamic `import()` of a module: `fullSpecifier` is resolved. */
export function importTransform(compartment: object, fullSpecifier: string): ((value: unknown) => unknown) | undefined {
  return transform === undefined ? undefined : transform(compartment, fullSpecifier);
}

/**
 * Called by SES for every module a module imports statically, by the specifier written
 * in the importing module: resolved only when a transform is set (strict mode), with the
 * compartment's own resolve hook (which the runtime memoises).
 */
export function staticImportTransform(
  compartment: object,
  specifier: string,
  referrer: string,
  resolveHook: (specifier: string, referrer: string) => string,
): ((value: unknown) => unknown) | undefined {
  return transform === undefined ? undefined : transform(compartment, resolveHook(specifier, referrer));
}

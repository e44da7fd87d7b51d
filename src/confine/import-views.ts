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

/** Called by SES for every module a module imports, and every dynamic `import()`. */
export function importTransform(compartment: object, fullSpecifier: string): ((value: unknown) => unknown) | undefined {
  return transform === undefined ? undefined : transform(compartment, fullSpecifier);
}

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

const viewedNotifiers = new WeakMap<Function, Function>();

/**
 * A module instance's notifiers (`{ name: notify(updater) }`), as an importer that sees
 * the module through views reads them: each notify hands its updaters the views. One
 * function per notifier, so that two paths to one binding stay the same binding.
 */
export function viewNotifiers(notifiers: Record<string, unknown>, view: (value: unknown) => unknown): Record<string, unknown> {
  const wrap = (notify: Function): Function => {
    let wrapped = viewedNotifiers.get(notify);
    if (!wrapped) {
      wrapped = (updater: (value: unknown) => void) => Reflect.apply(notify, undefined, [(value: unknown) => updater(view(value))]);
      viewedNotifiers.set(notify, wrapped);
    }
    return wrapped;
  };
  return new Proxy(notifiers, {
    get: (target, key) => {
      const notify: unknown = Reflect.get(target, key);
      return typeof notify === 'function' ? wrap(notify) : notify;
    },
    getOwnPropertyDescriptor: (target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(target, key);
      if (descriptor && typeof descriptor.value === 'function') descriptor.value = wrap(descriptor.value as Function);
      return descriptor;
    },
  });
}

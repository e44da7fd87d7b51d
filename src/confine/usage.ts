/**
 * What each package used while the app ran, for `lavamoat run --record` and
 * `LAVAMOAT_RECORD` (report/recording.ts writes it, `lavamoat trim` reads it).
 *
 * Nothing here exists unless recording is on: the runtime then passes an observer where
 * it hands out a grant, and only then are the grants made observable:
 * - globals: the accessor of a read or write grant records its key on first use (read
 *   grants are accessors anyway, see endowments.ts); a dotted grant's leaf getters record
 *   the dotted key; the object holding a dotted grant's leaves (`process` for
 *   `process.env`) becomes an accessor that records its name when read (code that only
 *   tests `typeof process`), without replacing the object;
 * - builtin modules: a link (import, require, `import.meta.resolve`) records the module;
 *   a whole module's copy is handed out behind a proxy that records the members read
 *   (the proxy's target is the package's own copy, its handler the runtime's), a
 *   member-granted module's leaf getters record the member; an ES module's named imports
 *   of a builtin are read from its import statements (its bindings are copied when the
 *   module links, so reads cannot be seen); `import * as`, `export *` and `import()`
 *   count as every member;
 * - packages: a link to another package (`import`, `require`, `createRequire`,
 *   `import.meta.resolve`), which is when the policy is checked;
 * - native: an addon loaded.
 *
 * A package is `loaded` once its first module runs. The keys are those of the policy
 * (a grant of `"process.env"` is recorded as `process.env`), so that trim can match them.
 * Observers hand nothing to packages: each is a closure of the runtime's, and what it
 * wraps is what the package would have got.
 */

export interface PackageUsage {
  loaded: boolean;
  /** Grant keys of globals read or written (and names of objects holding dotted grants, when read). */
  globals: Set<string>;
  /** Grant keys of globals the runtime cannot observe (met by the compartment's own intrinsics). */
  unobserved: Set<string>;
  /** Builtin modules linked, each with the members read (`*`: every member). */
  builtin: Map<string, Set<string>>;
  packages: Set<string>;
  native: boolean;
}

export interface UsageRecorder {
  /** Called with the usage of one package, made on first use. */
  of(resourceName: string): PackageUsage;
  /** Something new was recorded (the recording file is written some time later). */
  changed(): void;
}

export function makeUsage(): PackageUsage {
  return {
    loaded: false,
    globals: new Set(),
    unobserved: new Set(),
    builtin: new Map(),
    packages: new Set(),
    native: false,
  };
}

/** Records `key` in `set` once, telling `recorder` something changed. */
export function adder(set: Set<string>, recorder: UsageRecorder): (key: string) => void {
  return (key) => {
    if (set.has(key)) return;
    set.add(key);
    recorder.changed();
  };
}

export function recordBuiltin(recorder: UsageRecorder, resourceName: string, module: string, member?: string): void {
  const usage = recorder.of(resourceName);
  let members = usage.builtin.get(module);
  if (!members) {
    usage.builtin.set(module, (members = new Set()));
    recorder.changed();
  }
  if (member !== undefined && !members.has(member)) {
    members.add(member);
    recorder.changed();
  }
}

/**
 * A whole builtin module's copy (the package's own, builtins.ts `ownCopy`) behind a proxy
 * that records each member read. Everything else goes to the copy unchanged.
 */
export function observedModule(copy: object, observe: (member: string) => unknown): object {
  const seen = new Set<string>();
  const note = (key: string | symbol): void => {
    if (typeof key !== 'string' || seen.has(key)) return;
    // false: not recorded (the module's bindings being made), tell again next time.
    if (observe(key) !== false) seen.add(key);
  };
  return new Proxy(copy, {
    get(target, key, receiver) {
      note(key);
      return Reflect.get(target, key, receiver);
    },
    getOwnPropertyDescriptor(target, key) {
      note(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    has(target, key) {
      note(key);
      return Reflect.has(target, key);
    },
  });
}

/** What es-module-lexer (3.x) says of one import, the fields read here. */
export interface LexedImport {
  readonly type: string;
  readonly specifier: string | null | undefined;
  readonly importStart: number;
  readonly importEnd: number;
  readonly typeOnly?: boolean;
}

/**
 * The names an ES module imports from each builtin it imports, from its import and
 * export statements as es-module-lexer found them: `*` for a namespace import,
 * `export *` and `import()`; `default` is not listed (the default export is the module
 * object, whose reads are recorded as they happen).
 */
export function builtinImportNames(
  source: string,
  imports: readonly LexedImport[],
  isBuiltin: (specifier: string) => string | undefined,
): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const entry of imports) {
    if (typeof entry.specifier !== 'string' || entry.typeOnly === true || entry.type === 'import-meta') continue;
    const module = isBuiltin(entry.specifier);
    if (module === undefined) continue;
    let names = found.get(module);
    if (!names) found.set(module, (names = new Set()));
    if (entry.type !== 'static') {
      names.add('*'); // import(), export * from
      continue;
    }
    const statement = source.slice(entry.importStart, entry.importEnd).replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ' ');
    const clause = /^(?:import|export)\s*([\s\S]*?)\s*from\s*['"]/.exec(statement)?.[1] ?? '';
    if (/^\*/.test(clause) && statement.startsWith('export')) {
      names.add('*'); // export * from, export * as ns from
      continue;
    }
    if (/\*\s*as\s/.test(clause)) names.add('*'); // import * as fs
    const braces = /\{([\s\S]*)\}/.exec(clause)?.[1];
    if (braces === undefined) continue;
    for (const part of braces.split(',')) {
      const item = part.trim();
      if (item === '' || /^type\s/.test(item)) continue;
      const name = /^(["'][^"']*["']|[\w$]+)/.exec(item)?.[1];
      if (name === undefined) continue;
      const bare = name.replace(/^["']|["']$/g, '');
      if (bare !== 'default') names.add(bare);
    }
  }
  return found;
}

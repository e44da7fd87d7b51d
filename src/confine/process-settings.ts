/**
 * Process-wide settings: the defaults, modes and tables that Node keeps once for the
 * whole process and that a call or an assignment changes for everyone, the app first.
 * They are the app's. Decided here, in two kinds:
 *
 * - **A function of a module object** (`crypto.setFips`, `dns.setServers`,
 *   `util.setTraceSigInt`, ...): each package gets its own copy of the module
 *   (builtin-adapters.ts), in which the function refuses unless the package's policy
 *   names it (`"crypto.setFips": true`), the way an override entry would grant it. A
 *   grant of the whole module does not: a reviewer reads `"dns": true` as "resolves
 *   names", not as "chooses the app's DNS servers".
 * - **A function of a class every package shares with the app**
 *   (`events.setMaxListeners(n)` with no targets, `Stream.setDefaultHighWaterMark`):
 *   there is no copy to give a package (the class is the app's too: `instanceof`,
 *   subclasses, the prototype chains of every stream), and freezing does not keep a
 *   function from writing Node's module state. They are replaced on the real class before
 *   it is frozen, and change the setting only when the code that calls them is the app's
 *   (a file of the app, as V8 names it: a package's frame names none, and a promise job
 *   has no caller: stack-traces.ts). Called by a package, they throw.
 * - **Node's accessors**, which cannot be replaced (Node defines them not configurable):
 *   `inspect.defaultOptions`, whose one function-valued option is pinned
 *   ({@link pinInspectOptions}); `EventEmitter.defaultMaxListeners` and `captureRejections`,
 *   left as they are (a leak warning printed or not; which of two ways an unhandled async
 *   listener's rejection ends the process). docs/attacks.md, residual risks.
 *
 * docs/attacks.md, case 360.
 */
import { createRequire } from 'node:module';
import { callerSitesOf } from './stack-traces.js';
import { callerChecked } from './frameless-calls.js';
import { isTheAppsFile } from './performance-observation.js';
import type { AdapterContext, Module } from './builtin-adapters.js';

const hostRequire = createRequire(import.meta.url);

/** Per builtin: its functions that change a setting of the whole process, and what each changes. */
const NAMED_SETTINGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // OpenSSL's FIPS mode: on, the app's MD5 and every algorithm FIPS leaves out fail;
  // off, an app that turned it on for compliance runs without it (case 271).
  crypto: { setFips: "turns OpenSSL's FIPS mode on or off for the whole process" },
  // The CA certificates every TLS connection of the process verifies against (Node 24+).
  tls: { setDefaultCACertificates: 'changes which servers the whole process trusts' },
  http: {
    // Node 24: replaces both global agents and undici's dispatcher with proxying ones: the
    // app's requests and fetches, URLs and headers, to a proxy of the caller's (case 138).
    setGlobalProxyFromEnv: 'sends every request of the whole process through a proxy',
  },
  // The default resolver and lookup order: every `dns.resolve*()` of the app (a
  // `mongodb+srv:` lookup, an MX check) asks a server of the caller's choosing (case 190).
  // A `Resolver` of the package's own keeps its `setServers`.
  dns: { setServers: 'changes the DNS resolution of the whole process', setDefaultResultOrder: 'changes the DNS resolution of the whole process' },
  'dns/promises': { setServers: 'changes the DNS resolution of the whole process', setDefaultResultOrder: 'changes the DNS resolution of the whole process' },
  // Whether every connection that does not say otherwise tries a host's IPv6 and IPv4
  // addresses in turn, and how long each waits (case 221); a package's own connections
  // take the options.
  net: {
    setDefaultAutoSelectFamily: 'changes how every connection of the whole process is made',
    setDefaultAutoSelectFamilyAttemptTimeout: 'changes how every connection of the whole process is made',
  },
  // Node 24: a stack trace printed on every SIGINT the process gets.
  util: { setTraceSigInt: 'changes what the whole process does on SIGINT' },
};

/**
 * The functions of builtin `name` (or of its `prefix`ed part: `dns.promises.`) that a
 * package whose policy does not name them gets in refusing form: an override for the
 * package's copy of the module.
 */
export function refusedSettings(name: string, module: Module, ctx: AdapterContext, prefix = ''): Module {
  const overrides: Module = {};
  const settings = NAMED_SETTINGS[name];
  if (settings === undefined) return overrides;
  for (const key of Object.keys(settings)) {
    if (typeof module[key] !== 'function' || ctx.namesMember(prefix + key)) continue;
    const member = `${name}.${prefix}${key}`;
    overrides[key] = {
      [key](): never {
        throw new SettingError(`LavaMoat: ${member} ${settings[key]}: package "${ctx.packageName}" needs "${member}": true in its builtin policy`);
      },
    }[key];
  }
  return overrides;
}

export class SettingError extends TypeError {
  readonly code = 'LAVAMOAT_PROCESS_SETTING';
}

const refusedShared = (what: string): SettingError =>
  new SettingError(`LavaMoat: ${what} is a setting of the whole process, the app's: a package cannot change it (the app's own code can)`);

/** Whether the code that called `fn` is the app's (its caller's frame names a file of the app). */
function calledByTheApp(fn: Function): boolean {
  return isTheAppsFile(callerSitesOf(globalThis.Error as never, fn, 1)[0]?.file);
}

/** `holder[key]`, a function, that runs only for the app's code (or, when `open` says so for its arguments, for anyone). */
function appOnlyFunction(holder: object, key: string, what: string, open: (args: unknown[]) => boolean = () => false): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(holder, key);
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) return;
  const guarded = {
    [key](this: unknown, ...args: unknown[]): unknown {
      if (!open(args) && !calledByTheApp(guarded)) throw refusedShared(what);
      return Reflect.apply(real, this, args);
    },
  }[key]!;
  Object.defineProperty(guarded, 'length', { value: real.length });
  callerChecked(guarded);
  Object.defineProperty(holder, key, { ...descriptor, value: guarded });
}

/**
 * Guards `events.setMaxListeners` (loaded with Node, before the runtime), which with no
 * targets sets the default listener limit of every emitter in the process. Run before
 * anything is hardened.
 */
export function guardEventSettings(): void {
  const EventEmitter = hostRequire('node:events') as object;
  // With targets it sets theirs (emitters and event targets the caller holds).
  appOnlyFunction(EventEmitter, 'setMaxListeners', 'events.setMaxListeners() without targets', (args) => args.length > 1);
}

/**
 * `inspect.defaultOptions`' one option that takes a function, the comparator of an
 * object's keys: set by a package, every log line of the app would hand it the formatted
 * entries. Pinned to Node's default for everyone. The other options (`depth`,
 * `showHidden`, `customInspect`, ...) stay settable: Node's accessor and its option
 * object are not configurable, and Node hands its own `inspect` to every
 * `[inspect.custom]`, so no caller can be told from another, and the app sets them
 * (`util.inspect.defaultOptions.showHidden = true`): a residual, docs/attacks.md.
 */
const PINNED_INSPECT_OPTIONS = ['sorted'] as const;

export function pinInspectOptions(): void {
  const { inspect } = hostRequire('node:util') as typeof import('node:util');
  const options = inspect.defaultOptions as Record<string, unknown>;
  for (const key of PINNED_INSPECT_OPTIONS) {
    const descriptor = Reflect.getOwnPropertyDescriptor(options, key);
    if (descriptor && 'value' in descriptor && descriptor.writable) Object.defineProperty(options, key, { value: false, writable: false });
  }
}

/** Guards `Stream.setDefaultHighWaterMark` (stream, when it loads): the buffer size of every stream the process makes. */
export function guardStreamSettings(): void {
  const Stream = hostRequire('node:stream') as object;
  appOnlyFunction(Stream, 'setDefaultHighWaterMark', 'stream.setDefaultHighWaterMark');
}

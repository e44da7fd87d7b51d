/**
 * Node 24's cloned certificates (docs/attacks.md, case 79). A certificate that arrives
 * cloned (`structuredClone`, a message) is of `InternalX509Certificate`, whose prototype
 * sits between it and `X509Certificate`'s and which no module exports. On Node 20 and 22
 * the deserializer calls a JavaScript method first (host-hardening.ts
 * `hardenWhatDeserializes`); on Node 24 the clone is made natively, the class extends the
 * native one, the forging of forged-clones.ts is refused ("Unknown deserialize spec"), and
 * the public constructor sets its prototype with primordials: nothing runs before the clone
 * is handed out, and a package's own clone gave it the prototype every later clone of the
 * app's shares (a `verify` that accepts any key). A sample needs a certificate parsed
 * (about 0.6 ms the first time), too much for every start: it is taken where a clone
 * arrives, the first time one does (whether or not crypto has loaded: a load list that
 * missed the load, case 240, must not skip it), before what arrived is handed on: the return of
 * `structuredClone` (the global, the app's and the packages'), a message dispatched to
 * an event target (a port, a `BroadcastChannel`, a `Worker`'s own port: Node's
 * `kHybridDispatch`), `worker_threads.receiveMessageOnPort`. Out of stack, the sample is
 * not done and the call throws, what arrived dropped.
 *
 * A worker's `workerData` is deserialized before the worker's runtime starts, on every
 * Node (on 20 and 22 too: the deserializing method host-hardening.ts wraps is not wrapped
 * yet in the new thread), and the walk of worker_threads' exports stops short of a
 * certificate nested deep enough (`new Map([['certs', [[{ cert }]]]])`): handed it, a
 * package in the worker changed the prototype every later clone of the worker's shares
 * (case 79). In a worker whose `workerData` is an object, the sample is taken as its
 * runtime starts (about 0.6 ms; none for a worker given a primitive or nothing).
 */
import process from 'node:process';
import { createRequire } from 'node:module';
import { hardenPrototypesWithin } from './host-hardening.js';
import { isStackOverflow } from './stack-overflow.js';
import { whenLoaded } from './load-trap.js';

const hostRequire = createRequire(import.meta.url);

/** A self-signed certificate (localhost, EC P-256), parsed only to be cloned. */
const SAMPLE_PEM = `-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUEVT/gpuDA5zG+8A70z1gw7BNMucwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTIwNzEwMjEzMVoXDTM2MTIwNDEw
MjEzMVowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE6BqrsYgqkdmvmSqRa0WHL1Xs1RqysnURbIDq3ODRs3PT6XQNd/VMeZt+
3trYiFToAUalGVNeezaFzBZYEbWn56NTMFEwHQYDVR0OBBYEFD7vuG1cYRN2Y6/6
6wpFECwEZrhFMB8GA1UdIwQYMBaAFD7vuG1cYRN2Y6/66wpFECwEZrhFMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAJ+5QfeFdMj83TC2ljngCbsX
LnaNJoPZuazS/+vAOYDlAiEAg4d+vDw19vGrH2DV8w/sPygvFuw3qrhn9/J7Sgsd
Nrg=
-----END CERTIFICATE-----
`;

let sampled = false;
let clone: ((value: unknown) => unknown) | undefined;

/** The sample, once, when a certificate may exist; out of stack: not done, and thrown. */
function sampleClonedCertificate(): void {
  if (sampled || clone === undefined) return;
  sampled = true;
  try {
    const { X509Certificate } = hostRequire('node:crypto') as typeof import('node:crypto');
    hardenPrototypesWithin(clone(new X509Certificate(SAMPLE_PEM)), 1);
  } catch (error) {
    if (isStackOverflow(error)) {
      sampled = false;
      throw error;
    }
    // Otherwise: not in this build (no crypto, no cloning of certificates).
  }
}

/** `holder[name]` takes the sample before it returns what it made; the real function. */
function sampleAfter(holder: object, name: PropertyKey): Function | undefined {
  const descriptor = Reflect.getOwnPropertyDescriptor(holder, name);
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) return undefined;
  const label = typeof name === 'symbol' ? (name.description ?? '') : name;
  const wrapper = {
    [label](this: unknown, ...args: unknown[]): unknown {
      const result: unknown = Reflect.apply(real, this, args);
      if (!sampled) sampleClonedCertificate();
      return result;
    },
  }[label]!;
  Object.defineProperty(wrapper, 'length', { value: real.length });
  Object.defineProperty(holder, name, { ...descriptor, value: wrapper });
  return real;
}

/** `holder[key]` (a dispatch) takes the sample before it hands a message on. */
function sampleBefore(holder: object, key: symbol): void {
  const descriptor = Reflect.getOwnPropertyDescriptor(holder, key);
  const real: unknown = descriptor?.value;
  if (typeof real !== 'function' || !descriptor!.configurable) return;
  const wrapper = {
    [key.description ?? 'dispatch'](this: unknown, ...args: unknown[]): unknown {
      // Only a message carries what was cloned (not every event: an abort, a timing entry).
      if (!sampled && (args[1] === 'message' || args[1] === 'messageerror') && typeof args[0] === 'object' && args[0] !== null) sampleClonedCertificate();
      return Reflect.apply(real, this, args);
    },
  }[key.description ?? 'dispatch']!;
  Object.defineProperty(wrapper, 'length', { value: real.length });
  Object.defineProperty(holder, key, { ...descriptor, value: wrapper });
}

/**
 * From prepareHost, before the global's functions are held elsewhere and before
 * `EventTarget.prototype` is hardened. Node 24 and later only.
 */
export function sampleCertificatesWhereClonesArrive(): void {
  // In a worker, worker_threads has loaded already: this runs now (the global's own
  // function, read at start-up, before scuttling).
  const structured: unknown = Reflect.getOwnPropertyDescriptor(globalThis, 'structuredClone')?.value;
  whenLoaded('worker_threads', () => sampleWorkerData(structured));
  if (Number(process.versions.node.split('.')[0]) < 24) return;
  // The global's own function, read from its descriptor now, at start-up (scuttling later
  // keeps the wrapper in its holder for the app and the packages).
  const real = sampleAfter(globalThis, 'structuredClone');
  if (real === undefined) return;
  clone = (value) => Reflect.apply(real, undefined, [value]);
  const proto = (globalThis as { EventTarget?: { prototype: object } }).EventTarget?.prototype;
  const dispatch = proto && Object.getOwnPropertySymbols(proto).find((key) => key.description === 'nodejs.internal.kHybridDispatch');
  if (proto && dispatch) sampleBefore(proto, dispatch);
  whenLoaded('worker_threads', () => sampleAfter(hostRequire('node:worker_threads') as object, 'receiveMessageOnPort'));
}

/** A worker's `workerData`, deserialized before this runtime: a certificate in it has the prototype every clone will. */
function sampleWorkerData(structured: unknown): void {
  if (typeof structured !== 'function') return;
  const threads = hostRequire('node:worker_threads') as typeof import('node:worker_threads');
  if (threads.isMainThread || typeof threads.workerData !== 'object' || threads.workerData === null) return;
  try {
    const { X509Certificate } = hostRequire('node:crypto') as typeof import('node:crypto');
    hardenPrototypesWithin(Reflect.apply(structured, undefined, [new X509Certificate(SAMPLE_PEM)]), 1);
  } catch (error) {
    if (isStackOverflow(error)) throw error;
    // Otherwise: not in this build (no crypto, no cloning of certificates).
  }
}

/**
 * What a package sends on the process's IPC channel (a child the app forks, a cluster
 * worker): `process.send`, also reached through a cluster worker's `cluster.worker.send`.
 *
 * The channel carries Node's own protocol beside the app's messages: a message whose `cmd`
 * starts with `NODE_` is Node's (`isInternal` in Node's child_process), which the other end
 * acts on with its own authority: a cluster primary opens a server on any port or
 * descriptor a `NODE_CLUSTER` `queryServer` names and hands it to the worker, `close`
 * takes a worker out of the app's server, `NODE_HANDLE_ACK`/`NACK` drive the parent's
 * handle queue. Node's cluster code sends those through the same public `process.send`.
 * A package granted `process.send` (as a service telling PM2 or its parent it is ready is)
 * or `cluster.worker` (a logger's worker id) made the primary listen on ports of its
 * choosing, past case 220's check of `cluster._getServer` (docs/attacks.md, case 331).
 *
 * So the process's `send` is replaced, before any package runs, by one that gives Node,
 * for a caller other than the app's code or Node's cluster code, a copy of the message as
 * the channel serializes it (JSON's round trip; with `serialization: 'advanced'`, its top
 * level as v8's serializer reads it), read once, so no getter or `toJSON` answers the
 * check one thing and Node another, and refuses the copy when it is one of Node's messages.
 */
import process from 'node:process';
import { callerSitesOf } from './stack-traces.js';
import { isRuntimeFile, isTheAppsFile } from './performance-observation.js';
import { callerChecked } from './frameless-calls.js';

export class IpcMessageError extends TypeError {
  readonly code = 'LAVAMOAT_IPC_INTERNAL_MESSAGE';
}

/** Node's frames that forward a send to the process's: a cluster worker's `send` (Worker.prototype.send). */
const FORWARDERS: ReadonlySet<string> = new Set(['node:internal/cluster/worker']);
/** Node's own senders of its protocol: the cluster's `sendHelper`. */
const NODE_SENDERS: ReadonlySet<string> = new Set(['node:internal/cluster/utils']);

/** Whether `message` is one Node's other end takes for its own protocol (Node's `isInternal`). */
const isInternal = (message: unknown): boolean => {
  if (typeof message !== 'object' || message === null) return false;
  const cmd = (message as { cmd?: unknown }).cmd;
  return typeof cmd === 'string' && cmd.startsWith('NODE_');
};

/**
 * How the channel serializes, read from Node's channel handle (its buffer's key: JSON's
 * `kJSONBuffer`, the advanced serializer's `kMessageBuffer`); JSON when it cannot tell.
 */
function serializationOf(): 'json' | 'advanced' {
  try {
    const key = Object.getOwnPropertySymbols(process).find((symbol) => symbol.description === 'kChannelHandle');
    const handle = key === undefined ? undefined : (process as unknown as Record<symbol, unknown>)[key];
    if (typeof handle === 'object' && handle !== null && Object.getOwnPropertySymbols(handle).some((symbol) => symbol.description === 'kMessageBuffer')) return 'advanced';
  } catch {
    // Not this Node's layout: JSON, which any channel carries as plain data.
  }
  return 'json';
}

const jsonStringify = JSON.stringify;
const jsonParse = JSON.parse;

/**
 * The message as the channel would carry it, read once, here. JSON: its round trip, plain
 * data, exactly what Node writes. The advanced serializer (v8's: a structured clone would
 * turn a `Buffer` into a `Uint8Array`, and a round trip through v8 would copy every buffer
 * of every message): the top level only, as v8's
 * serializer reads it, each own enumerable string key once into a fresh object (a fresh
 * array for an array), the values as they are: what arrives under `cmd` is what was
 * checked. Objects the serializer writes as their kind alone (a `Map`, `Date`, error, typed
 * array, ...) carry no `cmd` and go as they are; a proxy or function fails in Node's
 * serializer as before.
 */
function carried(message: unknown, mode: 'json' | 'advanced'): unknown {
  if (typeof message !== 'object' || message === null) return message;
  if (mode === 'advanced') {
    const types = (process.getBuiltinModule('node:util') as typeof import('node:util')).types;
    if (
      types.isProxy(message) || types.isMap(message) || types.isSet(message) || types.isDate(message) || types.isRegExp(message) ||
      types.isNativeError(message) || types.isAnyArrayBuffer(message) || types.isArrayBufferView(message) || types.isBoxedPrimitive(message)
    ) {
      return message;
    }
    const copy: Record<string, unknown> = Array.isArray(message) ? ([] as unknown as Record<string, unknown>) : {};
    for (const key of Object.keys(message)) copy[key] = (message as Record<string, unknown>)[key];
    return copy;
  }
  const text = jsonStringify(message) as string | undefined;
  return text === undefined ? undefined : jsonParse(text);
}

/** Whether the caller of `fn` (past the runtime's wrappers and Node's forwarding `send`) is the app's code or Node's cluster code. */
function sentByTheAppOrNode(fn: Function): boolean {
  for (const site of callerSitesOf(globalThis.Error as never, fn, 8)) {
    if (isRuntimeFile(site.file) || (site.file !== undefined && FORWARDERS.has(site.file))) continue;
    return isTheAppsFile(site.file) || (site.file !== undefined && NODE_SENDERS.has(site.file));
  }
  return false;
}

let guarded = false;

/** Replaces the process's `send` (a child with an IPC channel), once, at start-up. */
export function guardProcessSend(): void {
  if (guarded) return;
  const descriptor = Reflect.getOwnPropertyDescriptor(process, 'send');
  const real = descriptor?.value as Function | undefined;
  if (typeof real !== 'function' || !descriptor?.configurable) return;
  guarded = true;
  let mode: 'json' | 'advanced' | undefined;
  const send = function send(this: unknown, message: unknown, ...rest: unknown[]): unknown {
    if (sentByTheAppOrNode(send)) return Reflect.apply(real, this, [message, ...rest]);
    const copy = carried(message, (mode ??= serializationOf()));
    if (isInternal(copy)) {
      throw new IpcMessageError(
        "LavaMoat: a message whose cmd starts with NODE_ is Node's own IPC protocol (the other end acts on it): only the app's code and Node send one",
      );
    }
    return Reflect.apply(real, this, [copy, ...rest]);
  };
  Object.defineProperty(send, 'length', { value: real.length });
  Object.defineProperty(process, 'send', { ...descriptor, value: callerChecked(send) });
}

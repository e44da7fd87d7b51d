/**
 * Main thread. What the HTTP agent guards (agent-guards.ts) and the guards of an agent's
 * options and client identity (agent-options.ts) share: who made each agent, and how a
 * frame's kind is told (Node's, the app's, a package's).
 */
import { type callerSitesOf, type CallerSite } from './stack-traces.js';

export type ErrorConstructorLike = Parameters<typeof callerSitesOf>[0];
export type Maker = 'node' | 'app' | 'package';

export const HTTP_AGENT = 'node:_http_agent';

/** The start compartment's `Error`, whose call sites the guards read: set as the guards are installed. */
export const agentHost: { error: ErrorConstructorLike | undefined } = { error: undefined };

export class AgentMisuseError extends TypeError {
  code = 'LAVAMOAT_AGENT_NOT_OURS';
}

/** Agents seen (at their making, or later if made before the guards), by who made them. */
export const makers = new WeakMap<object, Maker>();

/** This bundle's own frames (the inert twin that constructs for `agent: false`) are no one's. */
const runtimeDir = new URL('.', import.meta.url).href;
export const isRuntime = (site: CallerSite): boolean => site.file?.startsWith(runtimeDir) === true;
export const isNode = (site: CallerSite | undefined): boolean => site?.file?.startsWith('node:') === true;

/**
 * Whether V8 names a frame's script as a file: an absolute path or a `file:` URL (the
 * app's code; not a Wasm function's `wasm://wasm/<hash>`, case 250).
 */
const namesAFile = (file: string): boolean => file.startsWith('file:///') || (file.startsWith('/') && !file.startsWith('//'));

/** Node frames are Node's; no file is a compartment's code (or a builtin's, or Wasm's: refused as a package's). */
export const kindOf = (site: CallerSite | undefined): Maker =>
  site === undefined || isNode(site) ? 'node' : site.file === undefined || !namesAFile(site.file) ? 'package' : 'app';

/**
 * Installs the resolve/load hooks: in-thread and synchronous with
 * `module.registerHooks()` where Node has it (22.15+, 23.5+), which saves starting a
 * hooks thread and a message round trip per module; off-thread with `module.register()`
 * on Node 20.
 */
import process from 'node:process';
import module from 'node:module';
import { syncHooks, type HooksData } from './hooks/hooks.js';

type RegisterHooks = (hooks: ReturnType<typeof syncHooks>) => unknown;

export function installHooks(data: HooksData, hooksURL: URL): 'in-thread' | 'off-thread' {
  const registerHooks = (module as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  if (typeof registerHooks === 'function' && process.env.LAVAMOAT_OFF_THREAD_HOOKS !== '1') {
    registerHooks(syncHooks(data));
    return 'in-thread';
  }
  module.register(hooksURL, { data });
  return 'off-thread';
}

/**
 * The versions of the packages compiled into the runtime's bundle (ses, meriyah, and this
 * one), which the compiled-module cache's salt names (preload.ts). scripts/bundle-runtime.mjs
 * replaces this module in the bundle with the versions it bundled; unbundled, undefined.
 */
export const BUNDLED_VERSIONS: string | undefined = undefined;

// Hooks-thread half of count-modules.mjs: appends each loaded file: URL's path, synchronously.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

let esmFile;
export function initialize(data) {
  esmFile = data.esmFile;
}
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:')) fs.appendFileSync(esmFile, `${fileURLToPath(url)}\n`);
  return nextLoad(url, context);
}

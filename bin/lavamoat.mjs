#!/usr/bin/env node
// The `lavamoat` command; everything lives in dist/cli/index.js.
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));

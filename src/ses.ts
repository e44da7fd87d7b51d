/**
 * Installs SES (`lockdown`, `harden`, `Compartment`) on the global. Imported first by
 * the preload, since compartment-mapper reads `Compartment` when it loads. SES's
 * single-file CommonJS build loads faster than its hundred ES modules.
 */
import { createRequire } from 'node:module';

createRequire(import.meta.url)('ses');

// The control of the bench: `node --import ./lockdown-only.mjs app.mjs` does what every
// SES runtime must do before the app (load SES, `lockdown()` with the options this
// runtime passes by default) and nothing else: no policy, no compartments, no hooks.
// The difference between this and the loader is the runtime's own cost; the difference
// between this and plain node is the floor of the design.
import 'ses';
import { DEFAULT_LOCKDOWN } from '../../dist/confine/lockdown-options.js';

lockdown({ ...DEFAULT_LOCKDOWN });

// Lockdown options: the accepted values are SES's own, and SES accepts what we pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  DEFAULT_LOCKDOWN,
  DEBUG_LOCKDOWN,
  LOCKDOWN_CHOICES,
  LOCKDOWN_OPTION_NAMES,
  lockdownValueProblem,
  refusedLockdownOption,
  resolveLockdown,
} from '../../dist/confine/lockdown-options.js';

const require = createRequire(import.meta.url);
const sesDir = path.dirname(require.resolve('ses/package.json'));
const lockdownSource = fs.readFileSync(path.join(sesDir, 'src', 'lockdown.js'), 'utf8');

/** SES's option → accepted values, read from its `getenv('LOCKDOWN_X', default, [others])` calls. */
function sesOptions() {
  const options = new Map();
  const body = lockdownSource.slice(lockdownSource.indexOf('export const repairIntrinsics'));
  const re = /(\w+) = \/\*\* @type \{[^}]*\} \*\/ \(\s*getenv\('LOCKDOWN_\w+', '([^']*)', \[([^\]]*)\]/g;
  for (const match of body.matchAll(re)) {
    const others = [...match[3].matchAll(/'([^']+)'/g)].map((m) => m[1]);
    options.set(match[1], [match[2], ...others]);
  }
  return options;
}

test("the accepted values are exactly SES's (minus its deprecated camelCase eval spellings)", () => {
  const ses = sesOptions();
  assert.ok(ses.size >= 12, `found ${ses.size} options in ses/src/lockdown.js`);
  for (const [name, values] of ses) {
    if (name === '__hardenTaming__') {
      assert.ok(refusedLockdownOption(name), '__hardenTaming__ is refused');
      continue;
    }
    const expected = values.filter((value) => !['safeEval', 'unsafeEval', 'noEval'].includes(value));
    assert.deepEqual([...LOCKDOWN_CHOICES[name]].sort(), expected.sort(), name);
  }
  for (const name of Object.keys(LOCKDOWN_CHOICES)) assert.ok(ses.has(name), `${name} is a SES option`);
  assert.ok(LOCKDOWN_OPTION_NAMES.includes('overrideDebug'));
  assert.match(lockdownSource, /overrideDebug = /);
});

test('each value is checked', () => {
  for (const [name, values] of Object.entries(LOCKDOWN_CHOICES)) {
    for (const value of values) assert.equal(lockdownValueProblem(name, value), undefined, `${name}: ${value}`);
    assert.match(lockdownValueProblem(name, 'nonsense'), /"nonsense" is not allowed; expected one of/);
    assert.match(lockdownValueProblem(name, 1), /1 is not allowed/);
  }
  assert.equal(lockdownValueProblem('overrideDebug', ['constructor']), undefined);
  assert.match(lockdownValueProblem('overrideDebug', [1]), /expected an array of property names/);
});

test('resolution order: defaults < lower layers < debug < higher layers', () => {
  assert.deepEqual(resolveLockdown([], false, []), { ...DEFAULT_LOCKDOWN });
  const debug = resolveLockdown([{ errorTaming: 'safe', domainTaming: 'safe' }], true, []);
  assert.equal(debug.errorTaming, DEBUG_LOCKDOWN.errorTaming);
  assert.equal(debug.domainTaming, 'safe');
  assert.equal(resolveLockdown([], true, [{ errorTaming: 'safe' }]).errorTaming, 'safe');
});

test('SES accepts the defaults, the debug options and every value we allow', async () => {
  // lockdown() runs once per process: one child per option set; set i takes the i-th
  // value of every option, so that every value is passed at least once.
  const sets = [DEFAULT_LOCKDOWN, { ...DEFAULT_LOCKDOWN, ...DEBUG_LOCKDOWN }];
  const widest = Math.max(...Object.values(LOCKDOWN_CHOICES).map((values) => values.length));
  for (let i = 0; i < widest; i += 1) {
    const options = { ...DEFAULT_LOCKDOWN };
    for (const [name, values] of Object.entries(LOCKDOWN_CHOICES)) options[name] = values[i % values.length];
    sets.push(options);
  }
  const check = (options) =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', "import 'ses'; lockdown(JSON.parse(process.argv[1])); process.stdout.write(String(Object.isFrozen(Array.prototype)))", JSON.stringify(options)],
        { cwd: sesDir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ options, ok: stdout === 'true', stderr }),
      );
      child.stdin?.end();
    });
  const results = await Promise.all(sets.map(check));
  for (const result of results) assert.ok(result.ok, `${JSON.stringify(result.options)}\n${result.stderr}`);
});

// The host boundary, proved by exploring: a package holding the grants real generated
// policies contain walks everything it can reach from them (own properties and symbols,
// getters called, prototypes, constructors, zero-argument constructions and obvious
// calls, the `this` and arguments of its callbacks, event, channel and async-hook
// payloads), while the app serves and makes HTTP requests, forks a child, starts a
// worker, sets timers and opens a file. Any path to a value no package may hold (the
// real process or global, V8's Error, Node's module loader, a raw Worker, vm, a native
// handle class, child_process) or to process-wide state it could change (a writable
// property of a Node class, prototype or module object, or of the app's own objects; a
// setting one of Node's setters there changes to another number, boolean or string)
// fails the test, with the path. See test/fixtures/boundary/ and docs/design.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runPlain, runWithLoader } from '../helpers.mjs';

const DEPTH = 6;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** Reachable by design, each for a reason docs/design.md gives. */
const ACCEPTED = [
  // Node defines it not configurable but writable on EventEmitter.prototype, and every
  // emitter assigns it in its constructor: it cannot be made read-only or an accessor.
  // It is the default of `captureRejections` for new emitters.
  /\.Symbol\(kCapture\) is writable /,
  // Its accessor on EventEmitter (which writes that slot) and the default listener limit:
  // Node defines both not configurable, on a class every package holds. What changes is
  // whether Node prints a leak warning, and how an async listener's rejection ends the
  // process (docs/attacks.md, residual risks; case 360 closes the functions).
  /\.(captureRejections|defaultMaxListeners) can be changed \(a (boolean|number)\) /,
  // The listener limit and its warning flag of one of the process's event targets
  // (`performance`): Node writes them after making it (`events.setMaxListeners(n, target)`),
  // so they stay writable while they hold primitives (instance-locks.ts): when Node warns
  // of many listeners on it.
  /\.Symbol\(events\.maxEventTargetListeners(Warned)?\) is writable /,
  // SES's shared `Error` (the parent of Node's error classes, `assert.AssertionError`'s):
  // its `prepareStackTrace` and `stackTraceLimit` accessors are SES's, and inert on it (the
  // app's `Error` is another constructor; set from a package, neither changes any stack).
  /\.\[\[Prototype\]\]\.(prepareStackTrace|stackTraceLimit) has a native setter \(prototype\)$/,
  // A V8 accessor of stream handles: redefining it aborts the process (a crash is out of
  // scope), and it cannot be replaced by anything that Node then calls.
  /Symbol\(kHandle\)(\.\[\[Prototype\]\])+\.onread (is configurable|has a native setter) /,
  // Node 20 only (the test below): that accessor reads as data, and read or written with
  // any receiver but a handle it reads or writes memory next to that object. An open hole
  // of Node 20's, documented (docs/attacks.md, "Node 20's handle accessor").
  ...(NODE_MAJOR <= 20 ? [/\.onread reads outside its object \(Node 20\)$/] : []),
  // Node's timer lists link every timer of the same duration (`_idleNext`, `_idlePrev`),
  // and Node keeps raw timers on sockets and servers (`socket[kTimeout]`): a package
  // holding its own socket can walk to other timers of that duration and what they
  // carry. A documented residual risk (docs/attacks.md): closing it needs Node to keep
  // its timer links private.
  /\._idle(Next|Prev)\./,
  // A forked child's own `_channel` accessor: Node makes it for that child alone, from
  // `util.deprecate` wrappers whose [[Prototype]] is the child's own arrow function. It
  // is the app's object, handed: no other child or process-wide state shares it.
  /^child process\._channel<[gs]et>\.\[\[Prototype\]\]( is extensible|\.(length|name) is configurable) /,
];

test(`a package with common grants reaches nothing it should not (walk depth ${DEPTH})`, { timeout: 120_000 }, () => {
  const dir = fixture('boundary');
  const { status, signal, stdout, stderr } = runWithLoader(dir, 'app.mjs', {
    nodeArgs: ['--import', './capture.mjs'],
    args: [String(DEPTH)],
    env: { NODE_NO_WARNINGS: '1' },
    timeout: 110_000,
  });
  assert.equal(status, 0, `exit ${status} (signal ${signal}):\n${stderr.slice(-3000)}`);
  const line = stdout.split('\n').find((l) => l.startsWith('LAVAMOAT_WALK '));
  assert.ok(line, `no walk result:\n${stdout}\n${stderr}`);
  const { findings, visited } = JSON.parse(line.slice('LAVAMOAT_WALK '.length));
  assert.ok(visited > 2000, `the walk covered only ${visited} objects`);
  const open = findings.filter((finding) => !ACCEPTED.some((pattern) => pattern.test(finding)));
  assert.deepEqual(open, [], `reachable from the grants:\n  ${open.join('\n  ')}`);
  // What the app hands a package (its server's request and response, its client request,
  // sockets, child process, worker, timer, file handle, standard streams), walked as a
  // package granted nothing: no path to the network either (attack case 73).
  const handedLine = stdout.split('\n').find((l) => l.startsWith('LAVAMOAT_WALK_HANDED '));
  assert.ok(handedLine, `no walk of the handed objects:\n${stdout}`);
  const handed = JSON.parse(handedLine.slice('LAVAMOAT_WALK_HANDED '.length));
  assert.ok(handed.visited > 500, `the walk of the handed objects covered only ${handed.visited} objects`);
  const handedOpen = handed.findings.filter((finding) => !ACCEPTED.some((pattern) => pattern.test(finding)));
  assert.deepEqual(handedOpen, [], `reachable from what the app hands a package:\n  ${handedOpen.join('\n  ')}`);
});

test("the app's file streams behave as under plain node (each holds its own file's I/O)", () => {
  const dir = fixture('boundary');
  const plain = runPlain(dir, 'fs-streams.mjs');
  const confined = runWithLoader(dir, 'fs-streams.mjs');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(confined.status, 0, confined.stderr);
  assert.equal(confined.stdout, plain.stdout);
  assert.match(plain.stdout, /"closed":"x"/);
});

// Node 20's stream handles define `onread` as a V8 accessor without a receiver check: read
// or written on any object but a handle (`Reflect.get(proto, 'onread', {})`), it reads or
// writes memory next to that object (plain Node 20 crashes, or hands out whatever object
// lies there). A package reaches a handle's prototype from any socket it holds, and no
// JavaScript can replace the accessor (Node's C++ reads the handle's field it writes).
// Node 22 made it an accessor pair that checks its receiver.
const handlePrototypeOnread = async () => {
  const net = await import('node:net');
  const server = net.createServer((socket) => socket.end()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const socket = net.connect(server.address().port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const found = [];
  for (let proto = Object.getPrototypeOf(socket._handle); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, 'onread');
    if (descriptor) found.push(descriptor);
  }
  socket.destroy();
  server.close();
  return found;
};

if (NODE_MAJOR <= 20) {
  test.todo("Node 20: a stream handle's `onread` reads and writes memory next to any receiver (no fix in JavaScript; use Node 22+)", async () => {
    const [descriptor] = await handlePrototypeOnread();
    assert.equal(typeof descriptor.get, 'function');
  });
} else {
  test("a stream handle's `onread` is an accessor pair that refuses a receiver that is no handle (Node 22+)", async () => {
    const found = await handlePrototypeOnread();
    assert.equal(found.length, 1);
    const [{ get, set }] = found;
    assert.equal(typeof get, 'function');
    assert.equal(typeof set, 'function');
    assert.throws(() => Reflect.apply(get, {}, []), TypeError);
    assert.throws(() => Reflect.apply(set, {}, [() => {}]), TypeError);
  });
}

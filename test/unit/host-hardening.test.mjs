// Hardened host classes: what instances, subclasses and the prototype itself can still do.
// Each test runs in a child process, since hardening freezes the host's own classes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const hardening = new URL('../../dist/confine/host-hardening.js', import.meta.url).href;
const endowments = new URL('../../dist/confine/endowments.js', import.meta.url).href;
const run = (body) =>
  JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', `import 'ses'; lockdown({ errorTaming: 'unsafe', overrideTaming: 'severe', consoleTaming: 'unsafe', errorTrapping: 'none' });\nconst { hardenHostValue } = await import(${JSON.stringify(hardening)});\nconst { narrowedView } = await import(${JSON.stringify(endowments)});\n${body}`], { encoding: 'utf8' }));

test('a hardened prototype: instances override its properties, nobody changes it', () => {
  const out = run(`
    import('node:http').then(async ({ default: http }) => {
      const { EventEmitter } = await import('node:events');
      const net = await import('node:net');
      hardenHostValue(http); hardenHostValue(EventEmitter);
      const r = {};
      // A default of undefined is gone from the prototype (reads the same); the rest are accessors.
      r.eventsOnProto = Object.getOwnPropertyDescriptor(EventEmitter.prototype, '_events');
      r.countIsAccessor = typeof Object.getOwnPropertyDescriptor(EventEmitter.prototype, '_eventsCount').set;
      r.protoEvents = EventEmitter.prototype._events === undefined && EventEmitter.prototype._eventsCount === 0;
      const e = new EventEmitter();
      let got; e.on('x', (v) => { got = v; }); e.emit('x', 42);
      r.emitted = got;
      r.own = Object.getOwnPropertyDescriptor(e, '_eventsCount');
      const res = new http.ServerResponse(new http.IncomingMessage(new net.Socket()));
      r.defaultStatus = res.statusCode;
      res.statusCode = 404; res.end = () => 'mine';
      r.status = [res.statusCode, http.ServerResponse.prototype.statusCode, res.end(), typeof http.ServerResponse.prototype.end];
      const attempts = [
        () => { EventEmitter.prototype._events = { x: [() => {}] }; },
        () => { EventEmitter.prototype._eventsCount = 5; },
        () => { http.ServerResponse.prototype.statusCode = 500; },
        () => { http.ServerResponse.prototype.end = () => {}; },
        () => { Object.defineProperty(EventEmitter.prototype, '_maxListeners', { value: 1 }); },
      ];
      r.refused = attempts.map((f) => { try { f(); return 'changed'; } catch (error) { return error.constructor.name; } });
      r.after = [EventEmitter.prototype._events === undefined, EventEmitter.prototype._eventsCount, new http.ServerResponse(new http.IncomingMessage(new net.Socket())).statusCode];
      const frozenInstance = Object.preventExtensions(Object.create(http.ServerResponse.prototype));
      try { frozenInstance.statusCode = 1; r.nonExtensible = 'assigned'; } catch (error) { r.nonExtensible = error.constructor.name; }
      // express's mixin: the accessors copied onto a function keep a value of their own.
      const app = function () {};
      for (const key of Reflect.ownKeys(EventEmitter.prototype)) Object.defineProperty(app, key, Object.getOwnPropertyDescriptor(EventEmitter.prototype, key));
      app.on('mount', (v) => { r.mounted = v; }); app.emit('mount', 'yes');
      r.appCount = app._eventsCount;
      console.log(JSON.stringify(r));
    });
  `);
  assert.equal(out.eventsOnProto, undefined);
  assert.equal(out.countIsAccessor, 'function');
  assert.equal(out.protoEvents, true);
  assert.equal(out.emitted, 42);
  assert.deepEqual(out.own, { value: 1, writable: true, enumerable: true, configurable: true });
  assert.equal(out.defaultStatus, 200);
  assert.deepEqual(out.status, [404, 200, 'mine', 'function']);
  assert.deepEqual(out.refused, ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError']);
  assert.deepEqual(out.after, [true, 0, 200]);
  assert.equal(out.nonExtensible, 'TypeError');
  assert.equal(out.mounted, 'yes');
  assert.equal(out.appCount, 1);
});

test('a class handed out in a narrowed view constructs and subclasses as the real one', () => {
  const out = run(`
    import('node:url').then(({ default: url }) => {
      const view = narrowedView(url, [['Url'], ['parse']]);
      const u = new view.Url();
      class Sub extends view.Url { tag() { return 'sub'; } }
      const s = new Sub();
      console.log(JSON.stringify({
        proto: Object.getPrototypeOf(u) === url.Url.prototype,
        instance: u instanceof view.Url && u instanceof url.Url,
        fields: u.protocol === null && 'slashes' in u,
        sub: [s.tag(), s instanceof url.Url, Object.getPrototypeOf(s) === Sub.prototype, s.protocol],
        parsed: view.parse('http://a.example/x?y=1').pathname,
        same: view.Url === view.Url,
      }));
    });
  `);
  assert.deepEqual(out, { proto: true, instance: true, fields: true, sub: ['sub', true, true, null], parsed: '/x', same: true });
});

test('a walk cut short (out of stack) leaves nothing taken as hardened: the next walk finishes it', () => {
  // A package can recurse until the stack is nearly gone, then make its first use of a
  // grant, and catch the RangeError: objects marked before the failure were skipped by
  // every later walk, left changeable.
  const out = run(`
    let fail = true;
    const target = { method() {} };
    const proto = new Proxy(target, {
      ownKeys(t) {
        if (fail) throw new RangeError('Maximum call stack size exceeded');
        return Reflect.ownKeys(t);
      },
    });
    function Host() {}
    Host.prototype = proto;
    let first;
    try {
      hardenHostValue(Host);
      first = 'no error';
    } catch (error) {
      first = error.message;
    }
    const afterFailure = Object.isExtensible(target);
    fail = false;
    hardenHostValue(Host);
    console.log(JSON.stringify({ first, afterFailure, afterRetry: Object.isExtensible(target), frozen: Object.isFrozen(Host) }));
  `);
  assert.deepEqual(out, { first: 'Maximum call stack size exceeded', afterFailure: true, afterRetry: false, frozen: true });
});

// HTTP load generator, run as its own process with plain node:
//   node load.mjs <port> <requests> <concurrency> <warmup> <timeoutMs>
// Sends `warmup` then `requests` requests to http://127.0.0.1:<port> (never another host)
// over keep-alive connections, `concurrency` at a time, cycling through a fixed mix of
// the service's routes; checks every status code and prints one JSON line:
// { requests, errors, ms, rps }. Exits non-zero on any failure or when timeoutMs passes.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const [port, total, concurrency, warmup, timeoutMs] = process.argv.slice(2).map(Number);
if (!(port > 0 && total > 0 && concurrency > 0 && warmup >= 0 && timeoutMs > 0)) {
  process.stderr.write('usage: node load.mjs <port> <requests> <concurrency> <warmup> <timeoutMs>\n');
  process.exit(2);
}
const timer = setTimeout(() => {
  process.stderr.write(`load: timed out after ${timeoutMs} ms\n`);
  process.exit(3);
}, timeoutMs);

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const newItem = JSON.stringify({ name: 'widget', category: 'tools', price: 12.5, tags: ['a', 'b'] });
const MIX = [
  { method: 'GET', path: '/api/items?limit=20&sort=price', status: 200 },
  { method: 'GET', path: '/health', status: 200 },
  { method: 'POST', path: '/api/items', body: newItem, status: 201 },
  { method: 'GET', path: '/api/items?limit=5&category=books&offset=10', status: 200 },
  { method: 'GET', path: '/api/items/does-not-exist', status: 404 },
  { method: 'GET', path: '/api/report?seed=7', status: 200 },
  { method: 'POST', path: '/api/items', body: '{"name":""}', status: 400 },
  { method: 'GET', path: '/api/items?limit=50&sort=created', status: 200 },
];

function request({ method, path, body, status }) {
  return new Promise((resolve, reject) => {
    const headers = { accept: 'application/json' };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === status ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode}, expected ${status}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function phase(count) {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      await request(MIX[i % MIX.length]);
    }
  });
  await Promise.all(workers);
}

try {
  await phase(warmup);
  const start = performance.now();
  await phase(total);
  const ms = performance.now() - start;
  process.stdout.write(`${JSON.stringify({ requests: total, errors: 0, ms, rps: (total * 1000) / ms })}\n`);
  clearTimeout(timer);
  agent.destroy();
} catch (error) {
  process.stderr.write(`load: ${error.message}\n`);
  process.exit(1);
}

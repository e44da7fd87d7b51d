/**
 * A small pool of analysis workers (see worker.ts). The main thread keeps each worker
 * fed with a couple of modules while it analyses others itself; results come back in
 * any order, which does not matter: the policy is built from sets and sorted.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ModuleAnalysis, ModuleFormat } from './analyse/index.js';
import type { WorkerRequest, WorkerResponse } from './worker.js';

/**
 * Threads besides the main one. V8 already keeps a second core busy with concurrent
 * compilation and garbage collection while the main thread parses (measured on 2 cores:
 * 2.8-3.5 s of CPU in 2.0-2.4 s of wall time, and no gain from a worker), so workers
 * start from the third core: one per core beyond two, at most 7.
 */
export function defaultJobs(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(0, Math.min(7, cores - 2));
}

interface Pending {
  file: string;
  format: ModuleFormat;
  worker: Worker;
}

export interface PoolResult {
  id: number;
  /** Undefined when the worker failed: analyse on the main thread instead. */
  analysis?: ModuleAnalysis;
}

export class AnalysisPool {
  private readonly workers: Worker[] = [];
  private readonly load = new Map<Worker, number>();
  private readonly pending = new Map<number, Pending>();
  private readonly ready: PoolResult[] = [];
  private waiting: ((result: PoolResult) => void) | undefined;
  private nextId = 0;

  constructor(size: number, private readonly perWorker = 2) {
    for (let i = 0; i < size; i += 1) {
      // Referenced (not unref'd): while the main thread awaits an answer, the workers
      // are what keeps the process alive. close() ends them.
      // No inherited Node flags: `--input-type`, or a preload such as `--import
      // lavamoat/loader` when the CLI itself runs under one, have no place here.
      const worker = new Worker(new URL('./worker.js', import.meta.url), { execArgv: [] });
      worker.on('message', (response: WorkerResponse) => this.settle(worker, response.id, 'analysis' in response ? response.analysis : undefined));
      worker.on('error', () => this.fail(worker));
      worker.on('exit', () => this.fail(worker));
      this.workers.push(worker);
      this.load.set(worker, 0);
    }
  }

  /** Modules sent and not answered yet. */
  get inflight(): number {
    return this.pending.size;
  }

  /** Sends a module to the least busy worker, unless all are busy enough; returns its id or undefined. */
  trySend(file: string, format: ModuleFormat): number | undefined {
    let best: Worker | undefined;
    let bestLoad = this.perWorker;
    for (const worker of this.workers) {
      const n = this.load.get(worker);
      if (n !== undefined && n < bestLoad) {
        best = worker;
        bestLoad = n;
      }
    }
    if (!best) return undefined;
    const id = this.nextId;
    this.nextId += 1;
    this.pending.set(id, { file, format, worker: best });
    this.load.set(best, bestLoad + 1);
    const request: WorkerRequest = { id, file, format };
    best.postMessage(request);
    return id;
  }

  /** Resolves with the next answer (or a failure, `analysis` undefined). */
  next(): Promise<PoolResult> {
    const ready = this.ready.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** An answer already received, without waiting. */
  poll(): PoolResult | undefined {
    return this.ready.shift();
  }

  private settle(worker: Worker, id: number, analysis: ModuleAnalysis | undefined): void {
    if (!this.pending.delete(id)) return;
    const load = this.load.get(worker);
    if (load !== undefined) this.load.set(worker, Math.max(0, load - 1));
    const result: PoolResult = analysis ? { id, analysis } : { id };
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting(result);
    } else {
      this.ready.push(result);
    }
  }

  /** A worker died: its modules come back as failures, and it gets no more. */
  private fail(worker: Worker): void {
    this.load.delete(worker);
    for (const [id, p] of [...this.pending]) if (p.worker === worker) this.settle(worker, id, undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

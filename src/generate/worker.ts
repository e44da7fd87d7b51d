/**
 * A worker thread of the analysis pool: reads and analyses the modules the main thread
 * sends, and answers with the analysis. Parsing is the cost of a cold generation, and
 * it parallelises; walking the graph (resolution, package assignment) stays on the
 * main thread.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { analyseModule, type ModuleAnalysis, type ModuleFormat } from './analyse/index.js';

export interface WorkerRequest {
  id: number;
  file: string;
  format: ModuleFormat;
}

export type WorkerResponse = { id: number; analysis: ModuleAnalysis } | { id: number; error: string };

const decoder = new TextDecoder();

parentPort?.on('message', (request: WorkerRequest) => {
  let response: WorkerResponse;
  try {
    const source = decoder.decode(fs.readFileSync(request.file));
    response = { id: request.id, analysis: analyseModule(source, request.format) };
  } catch (error) {
    response = { id: request.id, error: (error as Error).message ?? String(error) };
  }
  parentPort!.postMessage(response);
});

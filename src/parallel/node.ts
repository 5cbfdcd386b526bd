/**
 * Node's side of the worker pool (Node-only, like src/io/node.ts): worker_threads workers running a worker script
 * the caller names (coreg's own, src/cli/worker.ts, serves every task the library defines; src/cli/worker-pool.ts
 * starts it).
 */
import { availableParallelism } from 'node:os';
import { Worker, parentPort } from 'node:worker_threads';
import { createWorkerPool, type WorkerEndpoint, type WorkerPool } from './pool.js';
import type { WorkerPort } from './serve.js';

/**
 * The default thread count: the environment variable COREG_THREADS when it is a whole number ≥ 1 (batch sets it
 * for its tasks so that jobs × threads stays within the cores), else the number of cores Node may use.
 */
export function defaultThreadCount(): number {
  const env = Number(process.env.COREG_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return Math.max(1, availableParallelism());
}

function endpointOf(worker: Worker): WorkerEndpoint {
  return {
    postMessage: (message, transfer) => worker.postMessage(message, transfer as never),
    onMessage: (handler) => void worker.on('message', handler),
    onError: (handler) => {
      worker.on('error', handler);
      worker.on('exit', (code) => handler(new Error(`worker exited with code ${code}`)));
    },
    // A terminating worker's exit does not always hold the event loop (seen with a worker that had just finished
    // a task): awaiting it could end the process with "unsettled top-level await" (13). A timer holds it.
    terminate: () => {
      const hold = setInterval(() => {}, 1000);
      return worker.terminate().finally(() => clearInterval(hold));
    },
    // An idle worker must not keep the process alive (a forgotten close() is not a hang); a busy one must.
    setBusy: (busy) => (busy ? worker.ref() : worker.unref()),
  };
}

/** Starts a worker on `entry`. From TypeScript sources (tests, tsx) the worker registers tsx's loader first. */
function startWorker(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const loader = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(loader)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { eval: true });
}

/**
 * A pool of `threads` worker threads (default: every core), each running the worker script `entry` (which serves
 * tasks with serveTasks(parentWorkerPort(), …)). Workers start on first use; `close()` it when done.
 */
export function createWorkerThreadPool(entry: URL, threads = defaultThreadCount()): WorkerPool {
  const pool = createWorkerPool(() => {
    const worker = startWorker(entry);
    worker.unref();
    return endpointOf(worker);
  }, threads);
  return pool;
}

/** The worker's end of the channel, inside a worker thread. */
export function parentWorkerPort(): WorkerPort {
  const port = parentPort;
  if (!port) throw new Error('not running in a worker thread');
  return {
    postMessage: (message, transfer) => port.postMessage(message, transfer as never),
    onMessage: (handler) => void port.on('message', handler),
  };
}

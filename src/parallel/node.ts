/**
 * Node's side of the worker pool (Node-only, like src/io/node.ts): worker_threads workers running
 * src/cli/worker.ts, which serves every task coreg's library defines.
 */
import { availableParallelism } from 'node:os';
import { Worker, parentPort } from 'node:worker_threads';
import { createWorkerPool, type WorkerEndpoint, type WorkerPool } from './pool.js';
import type { WorkerPort } from './serve.js';

/** The number of cores Node may use: the default thread count. */
export function defaultThreadCount(): number {
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
    terminate: () => worker.terminate(),
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

/** The worker script next to this module: dist/cli/worker.js when built, src/cli/worker.ts from sources. */
export function defaultWorkerEntry(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`../cli/worker${ext}`, import.meta.url);
}

/**
 * A pool of `threads` worker threads (default: every core) running coreg's tasks. Workers start on first use;
 * `close()` it when done, or the process stays alive.
 */
export function createNodeWorkerPool(threads = defaultThreadCount(), entry: URL = defaultWorkerEntry()): WorkerPool {
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

/**
 * Browsers' side of the worker pool: module Web Workers. Pixels are shared only on cross-origin-isolated pages
 * (where SharedArrayBuffer exists); otherwise they are copied to each worker.
 */
import { createWorkerPool, type WorkerEndpoint, type WorkerPool } from './pool.js';
import type { WorkerPort } from './serve.js';

/** A pool of `threads` module workers running `entry` (a script that calls serveTasks(selfWorkerPort(), …)). */
export function createBrowserWorkerPool(entry: URL | string, threads = Math.max(1, navigator.hardwareConcurrency || 2)): WorkerPool {
  return createWorkerPool((): WorkerEndpoint => {
    const worker = new Worker(entry, { type: 'module' });
    return {
      postMessage: (message, transfer) => worker.postMessage(message, transfer ?? []),
      onMessage: (handler) => {
        worker.onmessage = (e: MessageEvent) => handler(e.data);
      },
      onError: (handler) => {
        worker.onerror = (e: ErrorEvent) => handler(new Error(e.message || 'worker error'));
      },
      terminate: () => worker.terminate(),
    };
  }, threads);
}

/** The worker's end of the channel, inside a module Web Worker. */
export function selfWorkerPort(): WorkerPort {
  const scope = self as unknown as { postMessage(m: unknown, t: Transferable[]): void; onmessage: ((e: MessageEvent) => void) | null };
  return {
    postMessage: (message, transfer) => scope.postMessage(message, transfer ?? []),
    onMessage: (handler) => {
      scope.onmessage = (e: MessageEvent) => handler(e.data);
    },
  };
}

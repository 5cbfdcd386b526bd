/**
 * Node's side of the worker pool (Node-only, like src/io/node.ts): worker_threads workers running a worker script
 * the caller names (coreg's own, src/cli/worker.ts, serves every task the library defines; src/cli/worker-pool.ts
 * starts it).
 */
import { availableParallelism } from 'node:os';
import { Worker, parentPort } from 'node:worker_threads';
import { createWorkerPool, type WorkerEndpoint, type WorkerPool } from './pool.js';
import type { WorkerPort } from './serve.js';
import type { HelperWatch, WatchSlots } from './team.js';

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

// The watchdog thread's code: marks a helper dead when its end of the watch channel closes before the session
// ended (see HelperWatch in team.ts). An eval worker (no file; valid as a script and as a module, whatever
// --input-type the process was started with), started in ~10 ms.
const WATCHDOG = `
import('node:worker_threads').then(({ parentPort }) => parentPort.on('message', (m) => {
  m.port.on('close', () => {
    if (Atomics.load(m.control, m.slots.ended) !== 0) return;
    Atomics.store(m.control, m.slots.dead, 1);
    Atomics.add(m.control, m.slots.deaths, 1);
    Atomics.notify(m.control, m.slots.wake);
  });
}));`;

/**
 * A team's HelperWatch in Node: one small watchdog thread (started with the first session that has helpers),
 * whose event loop stays free while the team's caller is blocked in Atomics.wait, so it sees a helper's channel
 * close when that helper's thread ends (worker_threads closes a dead thread's ports).
 */
export function createThreadWatch(): HelperWatch {
  let watchdog: Worker | null = null;
  return {
    watch(control: Int32Array, port: MessagePort, slots: WatchSlots): void {
      if (!watchdog) {
        watchdog = new Worker(WATCHDOG, { eval: true });
        watchdog.unref(); // never what keeps a process alive
        watchdog.on('error', () => undefined); // should it fail, deaths go unseen as before: never a crash
      }
      watchdog.postMessage({ control, port, slots }, [port as never]);
    },
    async close(): Promise<void> {
      const w = watchdog;
      watchdog = null;
      if (!w) return;
      const hold = setInterval(() => {}, 1000); // as in endpointOf: the exit must hold the event loop
      await w.terminate().finally(() => clearInterval(hold));
    },
  };
}

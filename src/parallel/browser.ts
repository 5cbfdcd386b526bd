/**
 * Browsers' side of the worker pool: module Web Workers. Pixels are shared only on cross-origin-isolated pages
 * (where SharedArrayBuffer exists); otherwise they are copied to each worker.
 */
import { createWorkerPool, type WorkerEndpoint, type WorkerPool } from './pool.js';
import type { WorkerPort } from './serve.js';
import type { HelperWatch, WatchSlots } from './team.js';

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

// The watchdog's code (a classic worker from a Blob URL: no file to deploy): waits for each watched lock and, when
// it is granted before the session ended, marks the helper that held it dead and wakes the team's caller. It is
// spoken to through a MessagePort (a worker's own postMessage may hold messages in its creator's thread until that
// thread runs its event loop again, which a blocked team caller does not).
const WATCHDOG = `onmessage = (start) => {
  const port = start.ports[0];
  port.onmessage = (e) => {
    const { control, name, slots } = e.data;
    navigator.locks.request(name, () => {
      if (Atomics.load(control, slots.ended) !== 0) return;
      Atomics.store(control, slots.dead, 1);
      Atomics.add(control, slots.deaths, 1);
      Atomics.notify(control, slots.wake);
    });
  };
  port.postMessage('up');
};`;

/**
 * A team's HelperWatch in browsers (team.ts): browsers have no event for a closing MessagePort, but they release
 * a Web Lock when the worker holding it ends (terminated, or its page closed), so each helper holds one for its
 * session and one small watchdog Web Worker, whose event loop stays free while the team's caller is blocked in
 * Atomics.wait, waits for them. Undefined where there is no Web Locks API (the team then runs unwatched).
 */
export function createBrowserWatch(): HelperWatch | undefined {
  if (!(globalThis.navigator as { locks?: unknown } | undefined)?.locks || typeof Blob !== 'function') return undefined;
  let watchdog: Worker | null = null;
  let port: MessagePort | null = null;
  let started: Promise<void> | null = null;
  let url = '';
  return {
    start(): Promise<void> {
      // Started while the team's caller can still run its event loop (open() awaits this); should it fail (a
      // policy forbidding blob: workers), deaths go unseen, as without a watch.
      return (started ??= new Promise<void>((resolve) => {
        url = URL.createObjectURL(new Blob([WATCHDOG], { type: 'text/javascript' }));
        watchdog = new Worker(url);
        watchdog.onerror = () => resolve();
        const channel = new MessageChannel();
        channel.port1.onmessage = () => {
          port = channel.port1;
          resolve();
        };
        watchdog.postMessage(null, [channel.port2]);
      }));
    },
    watchLock(control: Int32Array, name: string, slots: WatchSlots): void {
      port?.postMessage({ control, name, slots });
    },
    close(): void {
      started = null;
      port?.close();
      port = null;
      watchdog?.terminate();
      watchdog = null;
      if (url) URL.revokeObjectURL(url);
      url = '';
    },
  };
}

/**
 * A small pool of workers that run named tasks (browser-safe: the pool only sees `WorkerEndpoint`s, which Node's
 * worker_threads (src/parallel/node.ts) and browsers' Web Workers (src/parallel/browser.ts) both provide).
 *
 * A task is `run(name, input)`: the input is posted to an idle worker (structured clone: typed arrays on a
 * SharedArrayBuffer are shared, not copied — see shared.ts), the worker may send events back while it works
 * (progress, warnings), and its output resolves the promise. At most `size` tasks run at once, the rest wait in
 * order, so memory is bounded by `size` tasks in flight. Workers are started on first use and kept until
 * `close()`.
 */
import { CoregError } from '../errors.js';

/** What the pool needs of a worker. */
export interface WorkerEndpoint {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** Registers the one handler for messages from the worker. */
  onMessage(handler: (message: unknown) => void): void;
  /** Registers the one handler for the worker dying (uncaught error, failed start). */
  onError(handler: (error: Error) => void): void;
  terminate(): unknown;
  /** Told when the worker starts and ends a task (Node keeps the process alive only for busy workers). */
  setBusy?(busy: boolean): void;
}

/** Messages between the pool and a worker (serve.ts implements the worker side). */
export type ToWorker = { kind: 'run'; id: number; task: string; input: unknown } | { kind: 'abort'; id: number };
export type FromWorker =
  | { kind: 'event'; id: number; event: unknown }
  | { kind: 'done'; id: number; output: unknown }
  | { kind: 'error'; id: number; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  /** CoregError's subject and exit code, to rebuild it on this side. */
  subject?: string;
  exitCode?: 1 | 2;
}

export interface TaskOptions {
  /** Buffers moved (not copied) to the worker; they are unusable here afterwards. */
  transfer?: Transferable[];
  /** Receives what the task reports while it runs. */
  onEvent?: (event: unknown) => void;
  /** Aborting rejects the task with an AbortError (the worker is asked to stop and stays in the pool). */
  signal?: AbortSignal;
  /** Called when the task is handed to a worker (it may wait in the queue for one before). */
  onStart?: () => void;
}

export interface WorkerPool {
  /** The most tasks that run at once. */
  readonly size: number;
  run<R>(task: string, input: unknown, options?: TaskOptions): Promise<R>;
  /** Stops every worker; pending and running tasks are rejected. */
  close(): Promise<void>;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof CoregError) return { name: err.name, message: err.message, subject: err.subject, exitCode: err.exitCode };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

export function deserializeError(e: SerializedError): Error {
  if (e.subject !== undefined) return new CoregError(e.subject, e.message, e.exitCode ?? 1);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

function abortError(): Error {
  const err = new Error('the task was aborted');
  err.name = 'AbortError';
  return err;
}

interface Job {
  id: number;
  task: string;
  input: unknown;
  options: TaskOptions;
  resolve(value: unknown): void;
  reject(err: Error): void;
  cleanup?: () => void;
  /** Rejected by an abort; the worker keeps the slot until it reports that it stopped. */
  settled?: boolean;
}

interface Slot {
  endpoint: WorkerEndpoint;
  job: Job | null;
}

/**
 * A pool of at most `size` workers made by `spawn`. `size` ≥ 1; results do not depend on it (each task runs
 * whole in one worker).
 */
export function createWorkerPool(spawn: () => WorkerEndpoint, size: number): WorkerPool {
  if (!(Number.isInteger(size) && size >= 1)) throw new CoregError('--threads', `must be an integer ≥ 1, got ${size}`, 2);
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  const finish = (slot: Slot, job: Job): void => {
    job.cleanup?.();
    if (slot.job === job) {
      slot.job = null;
      slot.endpoint.setBusy?.(false);
    }
    pump();
  };

  const startSlot = (): Slot => {
    const slot: Slot = { endpoint: spawn(), job: null };
    slot.endpoint.onMessage((raw) => {
      const msg = raw as FromWorker;
      const job = slot.job;
      if (!job || msg.id !== job.id) return;
      if (msg.kind === 'event') {
        if (!job.settled) job.options.onEvent?.(msg.event);
        return;
      }
      finish(slot, job);
      if (job.settled) return;
      if (msg.kind === 'done') job.resolve(msg.output);
      else job.reject(deserializeError(msg.error));
    });
    slot.endpoint.onError((error) => {
      // The worker is gone: fail its task, drop it, and let a new worker take the queue.
      const job = slot.job;
      slot.job = null;
      const i = slots.indexOf(slot);
      if (i < 0) return; // already dropped (an error and then an exit report the same death)
      slots.splice(i, 1);
      void slot.endpoint.terminate();
      if (job && !job.settled) {
        job.cleanup?.();
        job.reject(new Error(`a worker failed: ${error.message}`));
      }
      pump();
    });
    slots.push(slot);
    return slot;
  };

  const pump = (): void => {
    while (!closed && queue.length > 0) {
      let slot = slots.find((s) => s.job === null);
      if (!slot && slots.length < size) slot = startSlot();
      if (!slot) return;
      const job = queue.shift()!;
      slot.job = job;
      slot.endpoint.setBusy?.(true);
      const running = slot;
      if (job.options.signal) {
        const signal = job.options.signal;
        const onAbort = (): void => {
          // Rejected now; the slot stays taken until the worker stops, so one worker never runs two tasks.
          running.endpoint.postMessage({ kind: 'abort', id: job.id } satisfies ToWorker);
          job.cleanup?.();
          job.settled = true;
          job.reject(abortError());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        job.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      running.endpoint.postMessage({ kind: 'run', id: job.id, task: job.task, input: job.input } satisfies ToWorker, job.options.transfer);
      job.options.onStart?.();
    }
  };

  return {
    size,
    run<R>(task: string, input: unknown, options: TaskOptions = {}): Promise<R> {
      if (closed) return Promise.reject(new Error('the worker pool is closed'));
      if (options.signal?.aborted) return Promise.reject(abortError());
      return new Promise<R>((resolve, reject) => {
        queue.push({ id: nextId++, task, input, options, resolve: resolve as (v: unknown) => void, reject });
        pump();
      });
    },
    async close(): Promise<void> {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('the worker pool was closed'));
      const all = slots.splice(0);
      for (const slot of all) {
        if (slot.job && !slot.job.settled) {
          slot.job.cleanup?.();
          slot.job.reject(new Error('the worker pool was closed'));
        }
      }
      await Promise.all(all.map((s) => s.endpoint.terminate()));
    },
  };
}

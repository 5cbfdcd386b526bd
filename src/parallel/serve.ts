/**
 * The worker side of pool.ts: answers `run` messages by calling the named task handler (browser-safe; the
 * worker entry files give it their port: src/cli/worker.ts for Node).
 */
import { serializeError, type FromWorker, type ToWorker } from './pool.js';

export interface TaskContext {
  /** Sends an event to the task's `onEvent` on the pool's side (progress, warnings). */
  emit(event: unknown): void;
  /** Aborted when the pool's caller aborts the task. */
  signal: AbortSignal;
}

/** A task's result: the output, and buffers to move (not copy) back to the pool's side. */
export interface TaskResult {
  output: unknown;
  transfer?: Transferable[];
}

export type TaskHandler = (input: never, context: TaskContext) => Promise<TaskResult>;

/** The worker's end of the channel (worker_threads' parentPort or a Web Worker's `self`). */
export interface WorkerPort {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onMessage(handler: (message: unknown) => void): void;
}

/** Serves `handlers` on `port` until the worker is terminated. */
export function serveTasks(port: WorkerPort, handlers: Readonly<Record<string, TaskHandler>>): void {
  const running = new Map<number, AbortController>();
  const post = (msg: FromWorker, transfer?: Transferable[]): void => port.postMessage(msg, transfer);
  port.onMessage((raw) => {
    const msg = raw as ToWorker;
    if (msg.kind === 'abort') {
      running.get(msg.id)?.abort();
      return;
    }
    if (msg.kind !== 'run') return;
    const { id, task } = msg;
    const handler = Object.prototype.hasOwnProperty.call(handlers, task) ? handlers[task] : undefined;
    if (!handler) {
      post({ kind: 'error', id, error: { name: 'Error', message: `unknown task "${task}"` } });
      return;
    }
    const controller = new AbortController();
    running.set(id, controller);
    const context: TaskContext = { emit: (event) => post({ kind: 'event', id, event }), signal: controller.signal };
    (handler as (input: unknown, context: TaskContext) => Promise<TaskResult>)(msg.input, context).then(
      (result) => {
        running.delete(id);
        post({ kind: 'done', id, output: result.output }, result.transfer);
      },
      (err: unknown) => {
        running.delete(id);
        post({ kind: 'error', id, error: serializeError(err) });
      },
    );
  });
}

/**
 * Threads inside one registration, as register sees them: a synchronous "parallel for" over blocks of samples.
 *
 * The optimisers and costs are synchronous, so a cost hands its per-block kernels (plain functions over typed
 * arrays on SharedArrayBuffer) to a session once per level and then, inside every evaluation, runs a phase over
 * blocks 0 … n−1 and returns when all blocks are done. Blocks write to their own slots (partial sums, partial
 * gradients) which the caller merges in block order, and block boundaries never depend on the thread count, so
 * results are bit-identical for any number of threads.
 *
 * register ranks before parallel (the layering), so this is only the interface: src/parallel/team.ts implements
 * it over the worker pool's Node worker threads or Web Workers; the worker entry files (src/cli/worker.ts,
 * src/web/worker.ts) host the kernels of src/register/kernels.ts. Without a team, `serialSession` runs every
 * block in the calling thread in order.
 */

/** One phase of a kernel: does block b (writes only that block's outputs). */
export type BlockKernel = (block: number) => void;

/**
 * A kernel's phases; `release` (when there is one) gives its resources back (a WebAssembly instance for the
 * next kernel of this thread): after it the phases throw.
 */
export type KernelPhases = readonly BlockKernel[] & { release?: () => void };

/** A kernel's phases, built from its init data (the same in every thread). */
export type KernelFactory = (init: never) => KernelPhases;

/** A kernel running on a team until closed. */
export interface BlockSession {
  /**
   * Runs phase `phase` over blocks [0, blocks) on every thread of the team; returns when all are done. With
   * `affinity`, each thread first takes the blocks it did in the session's last affinity phase of as many blocks (a
   * kernel that keeps a block's intermediate results in its thread then rarely copies them between threads; phases
   * over other blocks between them do not count); the results are the same.
   */
  run(phase: number, blocks: number, affinity?: boolean): void;
  /**
   * Starts phase `phase` over blocks [0, blocks) on the helpers only and returns at once (this thread may do other
   * work meanwhile, but no other phase of the session); the returned function then takes the blocks left in this
   * thread and returns when all are done, as run() does. Without it (runLater): the phase runs whole then.
   */
  start?(phase: number, blocks: number): () => void;
  /** Releases the helpers (they go back to the worker pool). */
  close(): void;
}

/** session.start(phase, blocks) where the session has it; otherwise a function that runs the whole phase. */
export function runLater(session: BlockSession, phase: number, blocks: number): () => void {
  return session.start ? session.start(phase, blocks) : () => session.run(phase, blocks);
}

/** How a session starts (ParallelFor.open). */
export interface OpenOptions {
  /**
   * Do not wait for the helpers to be ready: the first phases start at once in this thread and the helpers take
   * blocks from the phase running when they are. A helper whose kernel fails to build then never joins, and the
   * error is thrown by a later run() or open() of the team. For kernels whose blocks do the same work in any thread.
   */
  late?: boolean;
}

/** A team of threads: the calling thread and threads − 1 helpers. */
export interface ParallelFor {
  readonly threads: number;
  /**
   * Starts kernel `name` (a key of the helpers' kernel table) on the helpers with `init` (typed arrays on
   * SharedArrayBuffer are shared), and `local` (the same kernel built here from the same init) on this thread.
   * Resolves once every helper has built its kernel, or with `options.late` at once: the helpers then join the
   * session's phases as soon as they are ready (still busy with a last session, its clean-up, or building the
   * kernel), and until then this thread does their blocks (the same results).
   */
  open(name: string, init: unknown, local: readonly BlockKernel[], options?: OpenOptions): Promise<BlockSession>;
  /** Starts the helper threads ahead of the first session (a hint: open() starts them anyway). */
  warm?(): void;
}

/** Every block in this thread, in order. */
export function serialSession(local: readonly BlockKernel[]): BlockSession {
  return {
    run(phase: number, blocks: number): void {
      const kernel = local[phase];
      for (let b = 0; b < blocks; b++) kernel(b);
    },
    close(): void {},
  };
}

/** Typed arrays that every thread of a team can see: on a SharedArrayBuffer where there is one. */
export function sharedFloat64(n: number): Float64Array {
  return typeof SharedArrayBuffer === 'function' ? new Float64Array(new SharedArrayBuffer(8 * n)) : new Float64Array(n);
}
export function sharedFloat32(n: number): Float32Array {
  return typeof SharedArrayBuffer === 'function' ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n);
}
export function sharedInt32(n: number): Int32Array {
  return typeof SharedArrayBuffer === 'function' ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n);
}

/** Shared memory a caller recycles (e.g. a released kernel arena): n bytes of it (16-byte aligned); reset frees all. */
export interface SharedScratch {
  bytes(n: number): Uint8Array;
  reset(): void;
}

/** A copy of `a` on shared memory (or `a` itself when it already is, or when there is none). */
export function shareArray<T extends Float64Array | Float32Array | Int32Array | Uint8Array | Int16Array | Uint16Array | Int8Array | Uint32Array>(a: T): T {
  if (typeof SharedArrayBuffer !== 'function' || a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

/**
 * Samples per block for n samples: about 64 blocks, at least 1024 samples each. A function of n only (never of
 * the thread count): the block sums, and so the results, do not depend on how many threads run them.
 */
export function blockSizeFor(n: number): number {
  return Math.max(1024, Math.ceil(n / 64));
}

/**
 * Fewest samples for which a linear level's cost runs on the team: below, one evaluation takes a few milliseconds,
 * and the helpers' start and per-phase hand-offs cost more than they save (2D affine: 2 threads were slower than
 * 1). A function of the work only, so the results stay the same (they never depend on the thread count anyway).
 */
export const TEAM_MIN_SAMPLES = 1 << 16;

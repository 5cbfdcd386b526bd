/**
 * A team of threads inside one computation: the synchronous sibling of the worker pool (pool.ts).
 *
 * The pool runs whole tasks asynchronously; a team runs ONE synchronous loop (an optimiser and its cost) on
 * several threads: the calling thread and `threads − 1` helpers, which are workers of a pool (the same Node
 * worker threads or Web Workers, started once and reused). `open(kernel, init)` starts the named kernel on every
 * helper as one long pool task ('team.session'); inside it the helper waits on a control block (an Int32Array on
 * a SharedArrayBuffer) with Atomics.wait. `run(phase, blocks)` publishes a phase and a block count, wakes the
 * helpers with Atomics.notify, takes blocks itself (claims on an atomic counter tagged with the phase's
 * generation, so a helper that wakes late cannot take a block of a later phase), and waits until every block is
 * done — never for a helper that has not woken yet (on a loaded machine the caller then simply does more
 * blocks). Both sides spin briefly (SPIN_MS) before they sleep, so that phases a fraction of a millisecond apart
 * do not pay a wake-up each. close() ends the task; the helper is idle in the pool again.
 *
 * Atomics.wait is allowed in Node (also on its main thread) and in Web Workers, not on a browser page's main
 * thread: a team's caller must be a worker there (the app registers in one).
 *
 * An exception in a helper's kernel stops the phase (the remaining blocks are skipped) and is rethrown by run()
 * in the calling thread, with its message (a CoregError keeps its subject).
 *
 * A helper that dies (its thread ends: out of memory, process.exit in a library, terminated) cannot say so, and
 * the caller, blocked in Atomics.wait, cannot see the pool's exit event. With a `HelperWatch` (Node: a small
 * watchdog thread, src/parallel/node.ts) each helper holds one end of a MessageChannel for the session; the
 * watchdog holds the other and sees it close when the helper's thread ends. It marks the helper dead and wakes the
 * caller: a helper that died while holding a block makes run() throw (exit 1, one line); one that died idle
 * leaves the work to the remaining threads. The caller also waits in slices, so no wake-up can be lost.
 * Browsers have no event for a closing MessagePort: there (src/parallel/browser.ts createBrowserWatch) each helper
 * holds a Web Lock for the session instead, which the browser releases when the helper's worker ends, and the
 * watchdog (a small Web Worker) waits for that lock. A helper whose session loop throws leaves it as a dead one.
 */
import type { BlockKernel, BlockSession, KernelFactory, KernelPhases, OpenOptions, ParallelFor } from '../register/parallel-for.js';
import { CoregError } from '../errors.js';
import { deserializeError, serializeError, type WorkerPool } from './pool.js';
import type { TaskContext, TaskHandler, TaskResult } from './serve.js';

// Control block layout (Int32 slots).
const GEN = 0; // generation: incremented for every phase (and for the end of the session)
const CMD = 1; // the phase to run, or −1: end the session
const BLOCKS = 2; // blocks in the phase
const CLAIM = 3; // (generation tag << TAG_SHIFT) | the next unclaimed block
const DONE = 4; // blocks finished in this phase
const FAILED = 5; // 1 when a kernel threw (message below)
const MESSAGE_LENGTH = 6;
const HELPER_BLOCKS = 7; // blocks the helpers did in this session
const MESSAGE = 8;
const MESSAGE_MAX = 1024;
const ENDED = MESSAGE + MESSAGE_MAX; // 1 once the session is ending (a helper leaving then is not a death)
const DEATHS = ENDED + 1; // helpers seen dead in this session
const AFFINITY = DEATHS + 1; // 1 + k: the phase's threads take back their blocks first (run's `affinity`), by owner slot k
const HELPER_SLOTS = AFFINITY + 1; // per helper: [in flight: 1 while claiming or running a block, dead: 1]
const CONTROL_LENGTH = HELPER_SLOTS;
// The longest the caller sleeps before looking at the helpers' state again (a lost wake-up costs at most this).
const WAIT_SLICE_MS = 200;
// A claim carries the generation's low bits, so a helper that wakes late can never take a block of a later phase.
const TAG_SHIFT = 20;
const TAG_MASK = 0x7ff;
const BLOCK_MASK = (1 << TAG_SHIFT) - 1;
// Blocks per phase whose thread is remembered for `affinity` (larger phases claim in order).
const AFFINITY_BLOCKS = 4096;
// Owner tables: one per block count of the session's affinity phases (the least recently used goes), so that phases
// over other blocks between two over samples (a B-spline cost's merge over control points) do not overwrite the
// samples' owners.
const OWNER_SLOTS = 4;

interface SessionInput {
  control: Int32Array;
  kernel: string;
  init: unknown;
  /** The generation the session starts at. */
  generation: number;
  /** This helper's index (its slots in the control block). */
  helper: number;
  /** Threads in the team, and the blocks' claim state for affinity phases (see Claims). */
  threads: number;
  claims: Claims;
  /** The helper's end of its watch channel (held until the session ends; its closing is the helper's death). */
  port?: { close(): void };
  /** Or the name of a Web Lock the helper holds for the session (browsers; its release is the helper's death). */
  lock?: string;
}

/** Control-block slots a watchdog needs (passed to HelperWatch.watch). */
export interface WatchSlots {
  /** Nonzero once the session ends normally: a channel closing then is not a death. */
  ended: number;
  /** Set to 1 when the helper died. */
  dead: number;
  /** Incremented for every death. */
  deaths: number;
  /** The slot to Atomics.notify (the caller waits on it). */
  wake: number;
}

/**
 * Sees helpers die (Node: src/parallel/node.ts createThreadWatch). `watch` takes one end of a MessageChannel whose
 * other end helper `helper` holds for the session; when it closes while control[slots.ended] is 0, the watchdog
 * sets control[slots.dead] = 1, adds 1 to control[slots.deaths] and notifies control[slots.wake].
 */
export interface HelperWatch {
  watch?(control: Int32Array, port: MessagePort, slots: WatchSlots): void;
  /**
   * Browsers: helper `h` holds the Web Lock `name` (acquired before its session is ready) until the session ends;
   * when the watchdog is granted it while control[slots.ended] is 0, the helper died (the same marks as above).
   */
  watchLock?(control: Int32Array, name: string, slots: WatchSlots): void;
  /** Resolves once the watchdog runs (awaited by open(): a worker cannot start while its creator is blocked). */
  start?(): Promise<void>;
  close(): Promise<void> | void;
}

/** Holds the Web Lock `name` until the returned function is called (resolves once it is held). */
function holdLock(name: string): Promise<() => void> {
  const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
  if (!locks) return Promise.reject(new Error('a watched team helper needs the Web Locks API'));
  return new Promise((held, failed) => {
    locks.request(name, () => new Promise<void>((release) => held(() => release()))).catch(failed);
  });
}

/** The team's side of one error: the first failing thread's error, as JSON char codes. */
function storeError(control: Int32Array, err: unknown): void {
  if (Atomics.compareExchange(control, FAILED, 0, 1) !== 0) return;
  const text = JSON.stringify(serializeError(err)).slice(0, MESSAGE_MAX);
  for (let i = 0; i < text.length; i++) control[MESSAGE + i] = text.charCodeAt(i);
  Atomics.store(control, MESSAGE_LENGTH, text.length);
}

function loadError(control: Int32Array): Error {
  const n = Atomics.load(control, MESSAGE_LENGTH);
  let text = '';
  for (let i = 0; i < n; i++) text += String.fromCharCode(control[MESSAGE + i]);
  try {
    const err = deserializeError(JSON.parse(text));
    if (!('subject' in err)) err.message = `a worker thread failed: ${err.message}`;
    return err;
  } catch {
    return new Error('a worker thread failed');
  }
}

/**
 * Per owner slot and block (the first AFFINITY_BLOCKS of a phase): the thread that did it in the last affinity phase
 * of the slot's block count (1 + its index: the caller 1, helper h h + 2; 0: none yet); per block, the generation of
 * the affinity phase that took it.
 */
interface Claims {
  owner: Int32Array;
  taken: Int32Array;
}

/**
 * Takes blocks of generation `gen` until none is left; every block taken is counted in DONE (after a failure the
 * rest are counted without running them), and the thread that completes the phase wakes the caller.
 *
 * Blocks are claimed in order on an atomic counter; in an affinity phase, each thread first takes back the blocks
 * it did in the last affinity phase of as many blocks (whatever it keeps of them, e.g. a WebAssembly kernel's packed samples, need not be
 * copied again, and its part of the data stays in its core's cache), then those left of its own share of the phase
 * (threads·share: contiguous runs, for blocks no thread did yet), then the others' left, from the far end of their
 * shares (where their owners come last). Which thread does a block never changes what the block computes.
 */
function takeBlocks(control: Int32Array, gen: number, kernel: BlockKernel | undefined, helper: number, claims: Claims, threads: number): void {
  const blocks = Atomics.load(control, BLOCKS);
  const tag = (gen & TAG_MASK) << TAG_SHIFT;
  // A helper is "in flight" from before its claim until after its block is counted: should it die in between,
  // the caller knows a block may be lost (the flag is raised before the claim, so no claim goes unseen).
  const inFlight = helper >= 0 ? HELPER_SLOTS + 2 * helper : -1;
  const me = helper + 2;
  const slot = Atomics.load(control, AFFINITY) - 1;
  if (slot >= 0 && blocks <= AFFINITY_BLOCKS) {
    const { owner, taken } = claims;
    const o = slot * AFFINITY_BLOCKS;
    // this thread's share [first, next) of the phase, for blocks nobody did yet
    const first = Math.floor((blocks * (me - 1)) / threads);
    const next = Math.floor((blocks * me) / threads);
    for (let pass = 0; pass < 3; pass++) {
      // 0: its blocks of the last phase; 1: its share; 2: the others' blocks, from the far end of their shares
      const n = pass === 0 ? blocks : pass === 1 ? next - first : blocks - (next - first);
      for (let i = 0; i < n; i++) {
        const b = pass === 0 ? i : pass === 1 ? first + i : (first - 1 - i + blocks) % blocks;
        if (pass === 0 && Atomics.load(owner, o + b) !== me) continue;
        if ((Atomics.load(control, CLAIM) & ~BLOCK_MASK) !== tag) return; // a later phase (or the session's end) began
        if (inFlight >= 0) Atomics.store(control, inFlight, 1);
        if (!claimAffinityBlock(taken, b, gen)) {
          if (inFlight >= 0) Atomics.store(control, inFlight, 0);
          continue;
        }
        Atomics.store(owner, o + b, me);
        doBlock(control, b, blocks, kernel, inFlight);
      }
    }
    return;
  }
  for (;;) {
    const c = Atomics.load(control, CLAIM);
    if ((c & ~BLOCK_MASK) !== tag) return; // a later phase (or the session's end) began
    const b = c & BLOCK_MASK;
    if (b >= blocks) return;
    if (inFlight >= 0) Atomics.store(control, inFlight, 1);
    if (Atomics.compareExchange(control, CLAIM, c, c + 1) !== c) {
      if (inFlight >= 0) Atomics.store(control, inFlight, 0);
      continue;
    }
    doBlock(control, b, blocks, kernel, inFlight);
  }
}

/**
 * Claims block b for the affinity phase of generation `gen`: only while no phase of this or a later generation has
 * taken it (generations only grow within a session). A thread can be descheduled between its check that `gen` is
 * still the current phase and this claim; by then the phase may have ended and the next one taken b (taken[b] =
 * gen + 1). Claiming whenever taken[b] !== gen would then run the old phase's kernel on b during the new phase and
 * count it among the new phase's blocks: the new phase could end before b's real work, and its result depend on
 * the scheduler (seen as rare label differences in `segment` and "a block sampled again gave other samples" under load).
 */
export function claimAffinityBlock(taken: Int32Array, b: number, gen: number): boolean {
  const old = Atomics.load(taken, b);
  return old < gen && Atomics.compareExchange(taken, b, old, gen) === old;
}

/** Runs claimed block b (unless the phase failed), counts it in DONE and clears the in-flight flag. */
function doBlock(control: Int32Array, b: number, blocks: number, kernel: BlockKernel | undefined, inFlight: number): void {
  if (!Atomics.load(control, FAILED)) {
    try {
      if (!kernel) throw new Error(`no phase ${Atomics.load(control, CMD)}`);
      kernel(b);
      if (inFlight >= 0) Atomics.add(control, HELPER_BLOCKS, 1);
    } catch (err) {
      storeError(control, err);
    }
  }
  if (Atomics.add(control, DONE, 1) + 1 === blocks) Atomics.notify(control, DONE);
  if (inFlight >= 0) Atomics.store(control, inFlight, 0);
}

/**
 * The helpers' task: serves kernels from `kernels` (the worker entry files pass the library's table) for one
 * session; register it in the worker's task table as 'team.session'.
 */
export function teamSessionTask(kernels: Readonly<Record<string, KernelFactory>>): TaskHandler {
  const session = (input: SessionInput, context: TaskContext, release?: () => void): Promise<TaskResult> => {
    const { control } = input;
    // The watch channel closes (the lock is released) with the session (a normal end: the caller has set ENDED
    // before; any other is the helper's death).
    const leave = (): void => {
      input.port?.close();
      release?.();
    };
    const factory = Object.prototype.hasOwnProperty.call(kernels, input.kernel) ? kernels[input.kernel] : undefined;
    if (!factory) {
      leave();
      return Promise.reject(new Error(`unknown team kernel "${input.kernel}"`));
    }
    let phases: KernelPhases;
    try {
      phases = (factory as (init: unknown) => KernelPhases)(input.init);
    } catch (err) {
      leave();
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    context.emit('ready');
    let seen = input.generation;
    try {
      for (;;) {
        spinWhile(control, GEN, seen);
        Atomics.wait(control, GEN, seen);
        const g = Atomics.load(control, GEN);
        if (g === seen) continue;
        seen = g;
        const cmd = Atomics.load(control, CMD);
        if (cmd < 0) {
          // the session's kernel is done: its resources (a WebAssembly instance) go to this thread's next kernel
          phases.release?.();
          return Promise.resolve({ output: null });
        }
        takeBlocks(control, g, phases[cmd], input.helper, input.claims, input.threads);
      }
    } finally {
      leave();
    }
  };
  return ((input: SessionInput, context: TaskContext): Promise<TaskResult> =>
    input.lock ? holdLock(input.lock).then((release) => session(input, context, release)) : session(input, context)) as TaskHandler;
}

/** The tasks a worker entry serves for teams ('team.warm' does nothing: it only makes the pool start the worker). */
export function teamTasks(kernels: Readonly<Record<string, KernelFactory>>): Record<string, TaskHandler> {
  return { 'team.session': teamSessionTask(kernels), 'team.warm': (() => Promise.resolve({ output: null })) as TaskHandler };
}

export interface Team extends ParallelFor {
  /** Blocks the helpers have done so far (closed sessions); 0 means this thread did all the work. */
  readonly helperBlocks: number;
  /** Stops the helpers (the pool is closed). */
  close(): Promise<void>;
}

/**
 * A team of `threads` threads: this one and `threads − 1` helpers from `pool` (whose workers serve
 * teamTasks(...); pass a pool of threads − 1 workers, owned by the team from now on). Needs SharedArrayBuffer.
 * One session at a time.
 */
export function createTeam(pool: WorkerPool | null, threads: number, options: { watch?: HelperWatch } = {}): Team {
  const watch = options.watch;
  const helpers = threads - 1;
  let sessions = 0;
  if (helpers > 0 && (!pool || pool.size < helpers)) throw new Error(`a team of ${threads} threads needs a pool of ${helpers} workers`);
  if (helpers > 0 && typeof SharedArrayBuffer !== 'function') throw new Error('a team of threads needs SharedArrayBuffer');
  let busy = false;
  let helperBlocks = 0;
  /** A helper's kernel that failed to build in a session opened `late` (thrown by the next run() or open()). */
  let lateFailure: unknown;
  const throwLateFailure = (): void => {
    if (lateFailure === undefined) return;
    const err = lateFailure;
    lateFailure = undefined;
    throw err;
  };
  return {
    threads,
    get helperBlocks() {
      return helperBlocks;
    },
    async open(name: string, init: unknown, local: readonly BlockKernel[], options: OpenOptions = {}): Promise<BlockSession> {
      if (busy) throw new Error('the team is already running a session');
      throwLateFailure();
      if (helpers === 0) {
        return {
          run(phase, blocks) {
            const kernel = local[phase];
            for (let b = 0; b < blocks; b++) kernel(b);
          },
          close() {},
        };
      }
      busy = true;
      const control = new Int32Array(new SharedArrayBuffer(4 * (CONTROL_LENGTH + 2 * helpers)));
      const claims: Claims = { owner: new Int32Array(new SharedArrayBuffer(4 * OWNER_SLOTS * AFFINITY_BLOCKS)), taken: new Int32Array(new SharedArrayBuffer(4 * AFFINITY_BLOCKS)) };
      // each owner slot's block count (−1: unused) and the phase that last used it (the least recent one goes)
      const slotBlocks = new Int32Array(OWNER_SLOTS).fill(-1);
      const slotUsed = new Int32Array(OWNER_SLOTS);
      let uses = 0;
      const ownerSlot = (blocks: number): number => {
        let k = slotBlocks.indexOf(blocks);
        if (k < 0) {
          k = 0;
          for (let i = 1; i < OWNER_SLOTS; i++) if (slotUsed[i] < slotUsed[k]) k = i;
          slotBlocks[k] = blocks;
          claims.owner.fill(0, k * AFFINITY_BLOCKS, (k + 1) * AFFINITY_BLOCKS);
        }
        slotUsed[k] = ++uses;
        return k;
      };
      const readies: Promise<void>[] = [];
      const starts: Promise<void>[] = [];
      const tasks: Promise<unknown>[] = [];
      const slotsOf = (h: number): WatchSlots => ({ ended: ENDED, dead: HELPER_SLOTS + 2 * h + 1, deaths: DEATHS, wake: DONE });
      const locks = watch?.watchLock ? `coreg-team-${Math.random().toString(36).slice(2)}-${Date.now()}-${++sessions}` : undefined;
      for (let h = 0; h < helpers; h++) {
        const input: SessionInput = { control, kernel: name, init, generation: 0, helper: h, threads, claims };
        const transfer: Transferable[] = [];
        if (locks) input.lock = `${locks}-${h}`;
        else if (watch?.watch) {
          const channel = new MessageChannel();
          watch.watch(control, channel.port1, slotsOf(h));
          input.port = channel.port2;
          transfer.push(channel.port2);
        }
        let started = (): void => undefined;
        starts.push(new Promise<void>((resolve) => (started = resolve)));
        readies.push(
          new Promise<void>((resolve, reject) => {
            const task = pool!.run('team.session', input, { transfer, onEvent: (e) => e === 'ready' && resolve(), onStart: started });
            task.catch(reject);
            // (a task that fails before a worker takes it up never starts)
            tasks.push(task.catch(() => undefined).finally(started));
          }),
        );
      }
      let closed = false;
      let broken = false;
      let gen = 0;
      const end = (): void => {
        if (closed) return;
        closed = true;
        helperBlocks += Atomics.load(control, HELPER_BLOCKS);
        Atomics.store(control, ENDED, 1);
        // invalidate claims first, then publish the end
        Atomics.store(control, CLAIM, ((gen + 1) & TAG_MASK) << TAG_SHIFT);
        Atomics.store(control, CMD, -1);
        Atomics.store(control, GEN, ++gen);
        Atomics.notify(control, GEN);
        busy = false;
      };
      // Late helpers (not with Web Locks: the watchdog may only watch a lock its helper already holds) take blocks
      // from whatever phase runs when they are ready: claims are tagged with the phase's generation, so one that
      // comes after the session's end or a phase's last block takes nothing.
      const late = options.late === true && !locks;
      if (late) {
        for (const ready of readies) ready.catch((err: unknown) => void (lateFailure ??= err));
      }
      try {
        // (late: until the pool has handed the session to the helpers, which it does once each has left its last
        // task: then they take blocks as soon as their kernels are built)
        await Promise.all([...(late ? starts : readies), watch?.start?.()]);
      } catch (err) {
        end();
        throw err;
      }
      /** Publishes a phase to the helpers (and wakes them); its generation, or 0 when it has no block. */
      const publish = (phase: number, blocks: number, affinity: boolean): number => {
        if (closed) throw new Error('the team session is closed');
        if (broken) throw helperDied();
        if (late) throwLateFailure();
        if (blocks > BLOCK_MASK) throw new Error(`a team phase has at most ${BLOCK_MASK} blocks, got ${blocks}`);
        if (blocks <= 0) return 0;
        const g = gen + 1;
        // A new claim tag first (a helper still in the last phase cannot claim any more), then the phase.
        Atomics.store(control, CLAIM, (g & TAG_MASK) << TAG_SHIFT);
        Atomics.store(control, CMD, phase);
        Atomics.store(control, BLOCKS, blocks);
        Atomics.store(control, DONE, 0);
        Atomics.store(control, AFFINITY, affinity && blocks <= AFFINITY_BLOCKS ? 1 + ownerSlot(blocks) : 0);
        Atomics.store(control, GEN, (gen = g));
        Atomics.notify(control, GEN);
        return g;
      };
      /** This thread's blocks of phase generation g, then waits for the helpers' (run's second half). */
      const finish = (g: number, phase: number, blocks: number): void => {
        takeBlocks(control, g, local[phase], -1, claims, threads);
        // wait for the blocks the helpers took (never for a helper that did not wake in time), in slices: a
        // helper that died holding a block is an error, never a hang
        for (;;) {
          const done = Atomics.load(control, DONE);
          if (done >= blocks) break;
          if (Atomics.load(control, DEATHS) > 0 && lostBlock(control, helpers)) {
            storeError(control, new Error('stop')); // the live helpers skip the blocks left
            broken = true;
            throw helperDied();
          }
          if (spinWhile(control, DONE, done)) continue;
          Atomics.wait(control, DONE, done, WAIT_SLICE_MS);
        }
        if (Atomics.load(control, FAILED)) {
          const err = loadError(control);
          Atomics.store(control, FAILED, 0);
          Atomics.store(control, MESSAGE_LENGTH, 0);
          throw err;
        }
      };
      // Every helper holds its lock now (it does before it is ready): from here on its release is a death.
      if (locks) for (let h = 0; h < helpers; h++) watch!.watchLock!(control, `${locks}-${h}`, slotsOf(h));
      return {
        run(phase: number, blocks: number, affinity = false): void {
          const g = publish(phase, blocks, affinity);
          if (g > 0) finish(g, phase, blocks);
        },
        start(phase: number, blocks: number): () => void {
          const g = publish(phase, blocks, false);
          let finished = g <= 0;
          return () => {
            if (finished) return;
            // (after close() its blocks would never all be done)
            if (closed) throw new Error('the team session is closed');
            finished = true;
            finish(g, phase, blocks);
          };
        },
        close(): void {
          end();
          void Promise.all(tasks);
        },
      };
    },
    warm(): void {
      // Workers start on first use: start the helpers now, while the caller still has work of its own.
      for (let h = 0; h < helpers; h++) pool!.run('team.warm', null).catch(() => undefined);
    },
    async close(): Promise<void> {
      await pool?.close();
      await watch?.close();
    },
  };
}

/**
 * How long a thread spins on a control slot before it sleeps in Atomics.wait (ms). Waking a sleeping thread takes
 * tens of microseconds (here about 40 µs per phase: a phase of 80 µs of work took as long on 2 threads as on 1,
 * and 50 µs when spinning); a 3D B-spline iteration of 5 000 samples is two or four phases of 0.1–1 ms with
 * the caller's serial work (the metric's merge, the optimiser's step) between them, well under this. So within a
 * level a helper is awake when the next phase comes, and the caller when the last block is done; a longer pause
 * (a level's set-up) still ends in Atomics.wait, so an idle team costs no CPU.
 */
const SPIN_MS = 0.5;

/** Spins while control[slot] === value, at most SPIN_MS; true when it changed. */
function spinWhile(control: Int32Array, slot: number, value: number): boolean {
  if (Atomics.load(control, slot) !== value) return true;
  const until = performance.now() + SPIN_MS;
  for (;;) {
    for (let i = 0; i < 64; i++) if (Atomics.load(control, slot) !== value) return true;
    if (performance.now() > until) return false;
  }
}

/** A dead helper that was claiming or running a block (its block may never be done). */
function lostBlock(control: Int32Array, helpers: number): boolean {
  for (let h = 0; h < helpers; h++) {
    if (Atomics.load(control, HELPER_SLOTS + 2 * h + 1) && Atomics.load(control, HELPER_SLOTS + 2 * h)) return true;
  }
  return false;
}

function helperDied(): CoregError {
  return new CoregError('--threads', 'a worker thread died in the middle of the computation (out of memory?); rerun, or use --threads 1');
}

/**
 * The WebAssembly SIMD kernels (asm/kernels.ts, compiled by `npm run build` / `npm ci` into the generated module
 * kernels-bytes.ts): loading, and the shared memory arena their instances work in.
 *
 * Every kernel mirrors a TypeScript reference operation for operation (see asm/kernels.ts), so results do not
 * depend on which one runs. The TypeScript kernels stay the reference and the fallback: when WebAssembly, its SIMD
 * or shared memory is missing, or when disabled (environment COREG_WASM=0, or setWasmKernels(false)), `wasmArena()`
 * is null.
 * No Node-only imports: the same module runs in Node, workers and browsers.
 */
import { KERNELS_WASM_BASE64 } from './kernels-bytes.js';

/** The module's exports (pointers are byte offsets into the arena's memory). */
export interface KernelExports {
  /** Bytes of scratch an instance needs; setScratch gives it its own (the memory is shared between instances). */
  scratchBytes(): number;
  setScratch(p: number): void;
  sampleLinear3dF32(data: number, nx: number, ny: number, nz: number, par: number, points: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  sampleLinear3dF64(data: number, nx: number, ny: number, nz: number, par: number, points: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  sampleLinear2dF32(data: number, nx: number, ny: number, par: number, points: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  sampleLinear2dF64(data: number, nx: number, ny: number, par: number, points: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  moments3d(start: number, end: number, dValue: number, grads: number, index: number, points: number, G: number): void;
  moments2d(start: number, end: number, dValue: number, grads: number, index: number, points: number, G: number): void;
  histogramAccumulate(B: number, par: number, f: number, m: number, start: number, end: number, sums: number): void;
  histogramDerivative(B: number, par: number, table: number, f: number, m: number, start: number, end: number, out: number): void;
  mapSample3dCubic(data: number, nx: number, ny: number, nz: number, par: number, points: number, bases: number, W: number, cI: number, gnx: number, gnxy: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  mapSample3dLinearF32(data: number, nx: number, ny: number, nz: number, par: number, points: number, bases: number, W: number, cI: number, gnx: number, gnxy: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  mapSample3dLinearF64(data: number, nx: number, ny: number, nz: number, par: number, points: number, bases: number, W: number, cI: number, gnx: number, gnxy: number, fixed: number, start: number, end: number, values: number, grads: number, index: number, fixedPacked: number): number;
  scatter3d(start: number, end: number, dv: number, G: number, index: number, bases: number, W: number, par: number, gnx: number, gnxy: number, gI: number): void;
  supportRange(start: number, end: number, index: number, bases: number): number;
  supportRangeLo(): number;
}

/** A shared memory needs a maximum: 4 GiB (65 536 pages of 64 KiB), all that 32-bit offsets reach. */
const MAX_PAGES = 65536;
/** The arena's header, Uint32 at byte 0: the next free byte, the epoch (bumped by every reset), kernels being built. */
const TOP = 0;
const EPOCH = 1;
const BUILDING = 2;
/** The first byte alloc() hands out (the header below). */
export const ARENA_BASE = 64;

let compiled: WebAssembly.Module | null | undefined;
let enabled: boolean | undefined;

function environmentAllows(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.COREG_WASM !== '0';
}

/** Turns the WebAssembly kernels on or off for kernels built after the call (undefined: back to the default). */
export function setWasmKernels(on: boolean | undefined): void {
  enabled = on;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const s = atob(base64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/**
 * The compiled module, or null when this engine cannot run it (no WebAssembly, no SIMD, no shared memory: a page
 * that is not cross-origin isolated).
 */
export function kernelsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    if (typeof WebAssembly === 'object' && typeof SharedArrayBuffer === 'function') {
      const bytes = decode(KERNELS_WASM_BASE64);
      const shared = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
      if (shared && WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
    }
  } catch {
    compiled = null;
  }
  return compiled;
}

/** Whether new kernels use WebAssembly (enabled, and the engine runs the module). */
export function wasmKernelsAvailable(): boolean {
  if (!(enabled ?? environmentAllows())) return false;
  return kernelsModule() !== null;
}

/**
 * A WebAssembly memory shared by the kernels of every thread of a team, with a bump allocator (16-byte aligned,
 * thread-safe) whose state lives in the memory itself.
 *
 * Why shared: the thread that creates a kernel's data (the cost, on the calling thread) copies the moving image and
 * the samples into the arena once, and allocates the packed samples there, so that the helpers' kernels (each a
 * module instance over the same memory) read and write them in place. Separate memories meant a copy of the image
 * and the samples per thread and level (≈ 30 MB at 181×217×181: on this machine kind every fresh page costs ~11 µs
 * and page faults do not run in parallel), and copies of each block's packed samples between threads.
 *
 * Lifetime: the creator hands the memory and its epoch to the kernels (in their init); kernels allocate only their
 * own small regions (parameters, sums, scratch) while they are built (`build`), and use the arena until their
 * session ends. The creator resets the arena for its next kernel's data (`reset`) once the last one is done.
 */
export class KernelArena {
  readonly memory: WebAssembly.Memory;
  private readonly header: Uint32Array;
  /** Some alloc() failed (the memory could not grow that far): do not use the arena. */
  failed = false;

  private constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
    this.header = new Uint32Array(memory.buffer, 0, ARENA_BASE / 4);
  }

  /** A new arena, or null when this engine cannot make a shared WebAssembly memory (not cross-origin isolated). */
  static create(): KernelArena | null {
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
      if (!(memory.buffer instanceof SharedArrayBuffer)) return null;
    } catch {
      return null;
    }
    const arena = new KernelArena(memory);
    Atomics.store(arena.header, TOP, ARENA_BASE);
    return arena;
  }

  /** The arena of `memory` (one another thread created and posted). */
  static attach(memory: WebAssembly.Memory): KernelArena {
    return new KernelArena(memory);
  }

  /** Changes at every reset: kernels are built for one epoch (`build`). */
  get epoch(): number {
    return Atomics.load(this.header, EPOCH);
  }

  /**
   * Reserves `bytes` (growing the memory; views made before stay valid, a shared memory's buffer never detaches) and
   * returns the offset, or −1 when the memory cannot grow that far (callers then use the TypeScript kernels).
   */
  alloc(bytes: number): number {
    const size = Math.ceil(bytes / 16) * 16;
    if (this.failed || size >= 2 ** 32) return this.fail();
    const p = Atomics.add(this.header, TOP, size);
    const end = p + size;
    // (another thread may have reserved past 4 GiB meanwhile: the counter wrapped)
    if (end > 2 ** 32 || p < ARENA_BASE) return this.fail();
    const length = this.memory.buffer.byteLength;
    if (end > length) {
      try {
        this.memory.grow(Math.ceil((end - length) / 65536));
      } catch {
        // another thread may have grown it meanwhile
        if (this.memory.buffer.byteLength < end) return this.fail();
      }
    }
    return p;
  }

  /** alloc(), zeroed (a reset arena's pages still hold what its last kernels wrote). */
  zeroed(bytes: number): number {
    const p = this.alloc(bytes);
    if (p >= 0) new Uint8Array(this.memory.buffer, p, bytes).fill(0);
    return p;
  }

  private fail(): number {
    this.failed = true;
    return -1;
  }

  /**
   * Builds a kernel over this arena's data of epoch `epoch` (`make` allocates and writes its own regions), or
   * returns null when the arena was reset since (a late helper of a session that has ended: it must not write).
   * A reset and a build exclude each other through two counters (sequentially consistent atomics): either the build
   * sees the new epoch, or the reset sees the build and gives the arena up.
   */
  build<T>(epoch: number, make: () => T): T | null {
    Atomics.add(this.header, BUILDING, 1);
    try {
      if (Atomics.load(this.header, EPOCH) !== epoch) return null;
      return make();
    } finally {
      Atomics.sub(this.header, BUILDING, 1);
    }
  }

  /**
   * Forgets every allocation; false (the arena must not be used again) when a kernel is being built over it. Only
   * its creator calls this, once no kernel of the last epoch runs any more (their sessions have ended). The pages
   * keep their contents (zeroing a level's ~40 MB took ~20 ms): alloc() hands out bytes that must be written before
   * they are read, zeroed() zeroed ones.
   */
  reset(): boolean {
    Atomics.add(this.header, EPOCH, 1);
    if (Atomics.load(this.header, BUILDING) !== 0 || this.failed) return false;
    Atomics.store(this.header, TOP, ARENA_BASE);
    return true;
  }

  /** A new module instance over this memory with its own scratch, or null when the arena cannot hold it. */
  instance(): KernelExports | null {
    const module = kernelsModule();
    if (!module) return null;
    const k = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
    const p = this.zeroed(k.scratchBytes());
    if (p < 0) return null;
    k.setScratch(p);
    return k;
  }

  f64(p: number, n: number): Float64Array {
    return new Float64Array(this.memory.buffer, p, n);
  }
  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, p, n);
  }
  i32(p: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, p, n);
  }
}

/** Arenas given back by their creators (releaseArena), per thread: the next kernel data reuses one (its pages). */
const idle: KernelArena[] = [];
const MAX_IDLE = 2;

/**
 * Below this many samples a linear kernel's TypeScript twin costs as little as the module (2D affine, 56 000
 * samples: the same CPU time), while the module would be compiled and its memory hold copies of the image and the
 * samples (2D affine: +3 MB of peak RSS; issue 13). (The 3D B-spline kernels run on 5 000–20 000 fresh samples per
 * evaluation, many evaluations: they ask with no count.)
 */
export const WASM_MIN_SAMPLES = 1 << 16;

/**
 * An arena for new kernel data (a released one, reset, when there is one), or null when WebAssembly kernels are
 * off or unavailable, or when a kernel over `samples` samples is too small for them (WASM_MIN_SAMPLES) and they
 * were not turned on explicitly (setWasmKernels(true)).
 */
export function wasmArena(samples = Infinity): KernelArena | null {
  if (samples < WASM_MIN_SAMPLES && enabled !== true) return null;
  if (!wasmKernelsAvailable()) return null;
  return takeIdleArena() ?? KernelArena.create();
}

/** Gives `arena` back for reuse by this thread's next kernel data; no kernel over it may run again. */
export function releaseArena(arena: KernelArena): void {
  if (arena.failed || idle.includes(arena)) return;
  if (idle.length < MAX_IDLE) idle.push(arena);
}

/**
 * This thread's most recently released arena, reset, for other shared buffers (its pages are already touched: on
 * this machine kind a fresh page costs ~11 µs, and two threads' page faults do not run in parallel), or null when
 * there is none. The caller owns it from now on (it is no longer idle).
 */
export function takeIdleArena(): KernelArena | null {
  for (let a = idle.pop(); a; a = idle.pop()) if (a.reset()) return a;
  return null;
}

/** Drops the idle arenas (their memories go to the garbage collector), e.g. when a registration ends. */
export function dropIdleArenas(): void {
  idle.length = 0;
}

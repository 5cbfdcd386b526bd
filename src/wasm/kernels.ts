/**
 * The WebAssembly SIMD kernels (asm/kernels.ts, compiled by `npm run build` / `npm ci` into the generated module
 * kernels-bytes.ts): loading, one instance per caller, and a bump allocator over its memory.
 *
 * Every kernel mirrors a TypeScript reference operation for operation (see asm/kernels.ts), so results do not
 * depend on which one runs. The TypeScript kernels stay the reference and the fallback: when WebAssembly or its
 * SIMD is missing, or when disabled (environment COREG_WASM=0, or setWasmKernels(false)), `wasmKernels()` is null.
 * No Node-only imports: the same module runs in Node, workers and browsers.
 */
import { KERNELS_WASM_BASE64 } from './kernels-bytes.js';

/** The module's exports (pointers are byte offsets into `memory`). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  /** End of the module's static data (scratch); at most BASE. */
  staticEnd(): number;
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

/** Where the bump allocator starts: the module keeps the bytes below for itself (its static data: staticEnd()). */
export const BASE = 1024;

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

/** The compiled module, or null when this engine cannot run it (no WebAssembly, no SIMD). */
export function kernelsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    if (typeof WebAssembly === 'object') {
      const bytes = decode(KERNELS_WASM_BASE64);
      if (WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
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

/** One instance of the kernels with its own memory, and a bump allocator over it (16-byte aligned). */
export class WasmKernels {
  readonly k: KernelExports;
  private top = BASE;
  /** Some alloc() could not grow the memory (its offsets are −1): do not use this instance. */
  failed = false;

  constructor(module: WebAssembly.Module) {
    this.k = new WebAssembly.Instance(module, {}).exports as unknown as KernelExports;
  }

  /**
   * Forgets every allocation (the memory keeps its size: the next kernel's allocations reuse its pages) and zeroes
   * what they used, so that a reused instance starts as a new one does.
   */
  reset(): void {
    // (the first 1024 bytes are the module's own, never handed out)
    new Uint8Array(this.k.memory.buffer, BASE, this.top - BASE).fill(0);
    this.top = BASE;
  }

  /**
   * Reserves `bytes` (grows the memory; views made before must be made again) and returns the offset, or −1 when
   * the memory cannot grow that far (a 32-bit memory holds at most 4 GiB; callers then use the TypeScript kernels).
   */
  alloc(bytes: number): number {
    const p = this.top;
    const top = p + bytes + 15 - ((p + bytes + 15) % 16);
    const memory = this.k.memory;
    const need = top - memory.buffer.byteLength;
    if (need > 0) {
      try {
        memory.grow(Math.ceil(need / 65536));
      } catch {
        this.failed = true;
        return -1;
      }
    }
    this.top = top;
    return p;
  }

  f64(p: number, n: number): Float64Array {
    return new Float64Array(this.k.memory.buffer, p, n);
  }
  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, p, n);
  }
  i32(p: number, n: number): Int32Array {
    return new Int32Array(this.k.memory.buffer, p, n);
  }
}

/**
 * Instances given back by kernels that are done (releaseWasmKernels), per thread (module state): the next kernel
 * reuses one, so that a registration's levels do not each leave a module memory (the moving image and the
 * samples) behind until the garbage collector finds it.
 */
const idle: WasmKernels[] = [];
const MAX_IDLE = 2;

/**
 * Below this many samples a linear kernel's TypeScript twin costs as little as the module (2D affine, 56 000
 * samples: the same CPU time), while the module would be compiled and its memory hold copies of the image and the
 * samples (2D affine: +3 MB of peak RSS; issue 13). (The 3D B-spline kernels run on 5 000–20 000 fresh samples per
 * evaluation, many evaluations: they ask with no count.)
 */
export const WASM_MIN_SAMPLES = 1 << 16;

/**
 * A kernels instance (a released one when there is one, else new), or null when WebAssembly kernels are off or
 * unavailable, or when a kernel over `samples` samples is too small for them (WASM_MIN_SAMPLES) and they were not
 * turned on explicitly (setWasmKernels(true)).
 */
export function wasmKernels(samples = Infinity): WasmKernels | null {
  if (samples < WASM_MIN_SAMPLES && enabled !== true) return null;
  if (!wasmKernelsAvailable()) return null;
  const reused = idle.pop();
  if (reused) {
    reused.reset();
    return reused;
  }
  return new WasmKernels(kernelsModule()!);
}

/** Gives `w` back for reuse by a later kernel; its kernel must not run again. */
export function releaseWasmKernels(w: WasmKernels): void {
  if (w.failed || idle.includes(w)) return;
  if (idle.length < MAX_IDLE) idle.push(w);
}

/** Drops the idle instances (their memories go to the garbage collector), e.g. when a registration ends. */
export function dropIdleWasmKernels(): void {
  idle.length = 0;
}

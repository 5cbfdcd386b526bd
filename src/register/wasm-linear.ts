/**
 * The linear-transform block kernel (sample-kernels.ts: linearKernel) on the WebAssembly SIMD kernels of src/wasm:
 * trilinear/bilinear sampling with gradients, the Mattes joint histogram and its derivative, and the moment
 * matrix run in the module; other measures' accumulate/derivative stay in TypeScript. Bit-identical to the
 * TypeScript kernel (the module repeats its f64 operations in the same order).
 *
 * Data transfer: each kernel (one per thread and level) owns a module instance; the moving plane, the sample
 * points and the fixed values are copied into it once. A block's phase 1 needs its packed samples, which the thread
 * that ran its phase 0 holds in its module. With the Mattes histogram (the measure in the module), phase 0 copies
 * them out to the blocks' shared outputs only while another thread takes its blocks' phase 1 (`handoff`): a thread
 * that does the phase 1 of a block sampled elsewhere restores the copy when there is one, else samples the block
 * again (the same function of the same inputs: the same packed samples), and asks the block's sampler to publish
 * in the next evaluation. On a quiet machine phase 1 mostly stays where phase 0 ran (the team's affinity), and the
 * copies (≈ 44 bytes per sample and evaluation) are saved; when a loaded machine moves many blocks, they are made.
 * Other measures (in TypeScript, over the shared outputs) always copy out.
 */
import { releaseWasmKernels, wasmKernels } from '../wasm/kernels.js';
import type { KernelPhases } from './parallel-for.js';
import { publishPacked, restorePacked, WasmMeasure, type PackedViews, type WasmBlockInit } from './wasm-measure.js';

/** What the kernel reads of LinearKernelInit (sample-kernels.ts). */
export interface WasmLinearInit extends WasmBlockInit {
  /**
   * A, t, then (optionally) an evaluation stamp that changes every evaluation and the number of threads running
   * the blocks (1: this kernel runs both phases of every block, so phase 0 need not publish the packed samples).
   */
  params: Float64Array;
  moments: Float64Array;
  /**
   * Phase 0's copies out of the module for other threads (see above; absent: always copied): per block, the kernel
   * that sampled it and the evaluation stamp of its copy (NaN: none); per kernel (by its id modulo the length), 1 when
   * it should copy its blocks out in the next evaluation; [0]: kernels built so far (their ids).
   */
  handoff?: { sampler: Int32Array; copied: Float64Array; wanted: Int32Array; kernels: Int32Array };
}

/** The kernel's two phases on WebAssembly, or null when it does not apply (B-spline sampler, moving mask, off). */
export function wasmLinearKernel(init: WasmLinearInit): KernelPhases | null {
  if (init.sampler.kind !== 'linear' || init.mask) return null;
  const w = wasmKernels(init.count);
  if (!w) return null;
  const k = w.k;
  const d = init.dimension;
  const n = init.count;
  const { sampler, blockSize, validCounts, moments, params } = init;
  const plane = sampler.plane;
  const f32 = plane instanceof Float32Array;
  const GW = d * (d + 1);

  const pPlane = w.alloc(plane.byteLength);
  const pPoints = w.alloc(8 * d * n);
  const pFixed = w.alloc(8 * n);
  const pValues = w.alloc(8 * n);
  const pGrads = w.alloc(8 * d * n);
  const pIndex = w.alloc(4 * n);
  const pFixedPacked = w.alloc(8 * n);
  const pDValue = w.alloc(8 * n);
  const pPar = w.alloc(8 * (2 * d * d + 2 * d));
  const pG = w.alloc(8 * 12);
  const measure = new WasmMeasure(w, init);
  if (w.failed) return null;
  let released = false;
  const alive = (): void => {
    if (released) throw new Error('a WebAssembly kernel ran after its release');
  };
  // views after the last alloc (growing the memory detaches the old buffer)
  if (f32) w.f32(pPlane, plane.length).set(plane);
  else w.f64(pPlane, plane.length).set(plane);
  w.f64(pPoints, d * n).set(init.points.subarray(0, d * n));
  w.f64(pFixed, n).set(init.fixed.subarray(0, n));
  const par = w.f64(pPar, 2 * d * d + 2 * d);
  par.set(sampler.N, d * d + d);
  par.set(sampler.origin, 2 * d * d + d);
  measure.bind();
  const packed: PackedViews = {
    values: w.f64(pValues, n),
    grads: w.f64(pGrads, d * n),
    index: w.i32(pIndex, n),
    fixedPacked: w.f64(pFixedPacked, n),
    dValue: w.f64(pDValue, n),
    pValues,
    pFixedPacked,
    pDValue,
  };
  const G = w.f64(pG, GW);
  const [nx, ny, nz] = sampler.size;
  const stamped = params.length > d * d + d;
  const blocks = Math.ceil(n / blockSize);
  /** Per block: the stamp of the evaluation whose phase 0 ran here (NaN: none). */
  const owned = new Float64Array(blocks).fill(NaN);
  const handoff = stamped && measure.histogram ? (init.handoff ?? null) : null;
  const me = handoff ? Atomics.add(handoff.kernels, 0, 1) : 0;
  const wantedSlot = handoff ? me % handoff.wanted.length : 0;
  // whether this kernel copies its blocks out in the evaluation `copyStamp` (decided at its first block of it)
  let copyStamp = NaN;
  let copying = true;

  const sample =
    d === 3
      ? f32
        ? (s: number, e: number) => k.sampleLinear3dF32(pPlane, nx, ny, nz, pPar, pPoints, pFixed, s, e, pValues, pGrads, pIndex, pFixedPacked)
        : (s: number, e: number) => k.sampleLinear3dF64(pPlane, nx, ny, nz, pPar, pPoints, pFixed, s, e, pValues, pGrads, pIndex, pFixedPacked)
      : f32
        ? (s: number, e: number) => k.sampleLinear2dF32(pPlane, nx, ny, pPar, pPoints, pFixed, s, e, pValues, pGrads, pIndex, pFixedPacked)
        : (s: number, e: number) => k.sampleLinear2dF64(pPlane, nx, ny, pPar, pPoints, pFixed, s, e, pValues, pGrads, pIndex, pFixedPacked);

  const phases = [
    (b: number) => {
      alive();
      const start = b * blockSize;
      const end = Math.min(n, start + blockSize);
      for (let j = 0; j < d * d + d; j++) par[j] = params[j];
      const valid = sample(start, end);
      validCounts[b] = valid - start;
      // the block's packed samples, for whichever thread runs its phase 1 (and for the TypeScript measures)
      const alone = params.length > d * d + d + 1 && params[d * d + d + 1] === 1;
      const stamp = stamped ? params[d * d + d] : NaN;
      if (handoff && !alone) {
        if (copyStamp !== stamp) {
          copyStamp = stamp;
          copying = Atomics.exchange(handoff.wanted, wantedSlot, 0) === 1;
        }
        Atomics.store(handoff.sampler, b, me);
        handoff.copied[b] = copying ? stamp : NaN;
      }
      if (!alone || !measure.histogram) {
        if (!handoff || copying) publishPacked(init, packed, d, start, valid);
      }
      owned[b] = stamp;
      measure.accumulate(packed, b, start, valid);
    },
    (b: number) => {
      alive();
      const start = b * blockSize;
      const end = start + validCounts[b];
      const stamp = stamped ? params[d * d + d] : NaN;
      if (!(owned[b] === stamp)) {
        if (!handoff || handoff.copied[b] === stamp) restorePacked(init, packed, d, start, end);
        else {
          // sampled by another thread, which kept its samples: sample the block again here (the same samples)
          for (let j = 0; j < d * d + d; j++) par[j] = params[j];
          if (sample(start, Math.min(n, start + blockSize)) !== end) throw new Error('a block sampled again gave other samples');
        }
        if (handoff) Atomics.store(handoff.wanted, Atomics.load(handoff.sampler, b) % handoff.wanted.length, 1);
      }
      owned[b] = NaN;
      measure.derivative(packed, start, end, stamp);
      if (d === 3) k.moments3d(start, end, pDValue, pGrads, pIndex, pPoints, pG);
      else k.moments2d(start, end, pDValue, pGrads, pIndex, pPoints, pG);
      moments.set(G, b * GW);
    },
  ];
  return Object.assign(phases, {
    release: (): void => {
      if (released) return;
      released = true;
      releaseWasmKernels(w);
    },
  });
}

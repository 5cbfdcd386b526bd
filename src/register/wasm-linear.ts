/**
 * The linear-transform block kernel (sample-kernels.ts: linearKernel) on the WebAssembly SIMD kernels of src/wasm:
 * trilinear/bilinear sampling with gradients, the Mattes joint histogram and its derivative, and the moment
 * matrix run in the module; other measures' accumulate/derivative stay in TypeScript. Bit-identical to the
 * TypeScript kernel (the module repeats its f64 operations in the same order).
 *
 * Data: the cost placed the moving plane, the sample points and fixed values, and the packed samples in a shared
 * arena (wasm-measure.ts: placeSamples) once per level; every thread's kernel is a module instance over that
 * memory with only its parameters, sums and scratch of its own. So a block's phase 1 runs on any thread without a
 * copy, and the image is in memory once, not once per thread.
 */
import type { KernelPhases } from './parallel-for.js';
import { buildOverArena, measuredPhases, packedPointers, WasmMeasure, type WasmBlockInit } from './wasm-measure.js';

/** What the kernel reads of LinearKernelInit (sample-kernels.ts). */
export interface WasmLinearInit extends WasmBlockInit {
  /** A, t, then (optionally) an evaluation stamp that changes every evaluation. */
  params: Float64Array;
  moments: Float64Array;
}

/** The kernel's two phases on WebAssembly, or null when it does not apply (no placement, B-spline sampler, mask, off). */
export function wasmLinearKernel(init: WasmLinearInit): KernelPhases | null {
  if (init.sampler.kind !== 'linear' || init.mask) return null;
  return buildOverArena(init, (arena, k) => {
    const d = init.dimension;
    const { sampler, moments, params } = init;
    const placed = init.wasm!;
    const f32 = placed.plane instanceof Float32Array;
    const GW = d * (d + 1);
    const pPar = arena.zeroed(8 * (2 * d * d + 2 * d));
    const pG = arena.zeroed(8 * 12);
    const measure = new WasmMeasure(arena, k, init);
    if (arena.failed) return null;
    const par = arena.f64(pPar, 2 * d * d + 2 * d);
    par.set(sampler.N, d * d + d);
    par.set(sampler.origin, 2 * d * d + d);
    measure.bind();
    const G = arena.f64(pG, GW);
    const pPlane = placed.plane.byteOffset;
    const pPoints = placed.points.byteOffset;
    const pFixed = placed.fixed.byteOffset;
    const p = packedPointers(init);
    const [nx, ny, nz] = sampler.size;
    const stamped = params.length > d * d + d;
    const sample =
      d === 3
        ? f32
          ? (s: number, e: number) => k.sampleLinear3dF32(pPlane, nx, ny, nz, pPar, pPoints, pFixed, s, e, p.values, p.grads, p.index, p.fixedPacked)
          : (s: number, e: number) => k.sampleLinear3dF64(pPlane, nx, ny, nz, pPar, pPoints, pFixed, s, e, p.values, p.grads, p.index, p.fixedPacked)
        : f32
          ? (s: number, e: number) => k.sampleLinear2dF32(pPlane, nx, ny, pPar, pPoints, pFixed, s, e, p.values, p.grads, p.index, p.fixedPacked)
          : (s: number, e: number) => k.sampleLinear2dF64(pPlane, nx, ny, pPar, pPoints, pFixed, s, e, p.values, p.grads, p.index, p.fixedPacked);
    return measuredPhases(
      init,
      measure,
      () => (stamped ? params[d * d + d] : NaN),
      (_b, start, end) => {
        for (let j = 0; j < d * d + d; j++) par[j] = params[j];
        return sample(start, end);
      },
      (b, start, end) => {
        if (d === 3) k.moments3d(start, end, p.dValue, p.grads, p.index, pPoints, pG);
        else k.moments2d(start, end, p.dValue, p.grads, p.index, pPoints, pG);
        moments.set(G, b * GW);
      },
    );
  });
}

/**
 * The B-spline block kernel (sample-kernels.ts: bsplineKernel) in 3D on the WebAssembly SIMD kernels of src/wasm:
 * the B-spline support accumulation u(x), the moving image's cubic B-spline (or linear) value and gradient, the
 * Mattes joint histogram and its derivative, and the scatter of ∂cost/∂m into the control points run in the
 * module; other measures' accumulate/derivative stay in TypeScript. Bit-identical to the TypeScript kernel.
 *
 * Data: the cost placed the moving coefficients, the supports (bases, weights) and the packed samples in a shared
 * arena (wasm-measure.ts: placeSamples) once per level; every thread's kernel is a module instance over that
 * memory. A stochastic sampler redraws the points and fixed values every evaluation: each block's phase 0 copies
 * its own into the arena, where any thread's phase 1 finds them. Each thread interleaves the B-spline coefficients
 * per control point into its own copy once per evaluation (the stamp), and scatters into its own gradient.
 */
import type { KernelPhases } from './parallel-for.js';
import { buildOverArena, measuredPhases, packedPointers, WasmMeasure, type WasmBlockInit } from './wasm-measure.js';
import { interleaveCoefficients } from '../transform/bspline-supports.js';

/** What the kernel reads of BSplineKernelInit (sample-kernels.ts). */
export interface WasmBSplineInit extends WasmBlockInit {
  bases: Int32Array;
  weights: Float32Array;
  /** Coefficients component-major (interleaved into the module once per evaluation). */
  c: Float64Array;
  A: Float64Array;
  t: Float64Array;
  nx: number;
  nxy: number;
  P: number;
  gPartials: Float64Array;
  ranges: Int32Array;
  /** [evaluation stamp (changes every evaluation)]; without it, cI is interleaved per block. */
  stamp?: Float64Array;
}

/** Whether the WebAssembly kernel applies to a B-spline level (3D, no moving mask, a float64 cubic or any linear plane). */
export function wasmBSplineApplies(dimension: number, kind: 'linear' | 'bspline', plane: ArrayLike<number>, mask: unknown): boolean {
  return dimension === 3 && !mask && (kind === 'linear' || plane instanceof Float64Array);
}

/** The kernel's two phases on WebAssembly, or null when it does not apply (no placement, 2D, moving mask, off). */
export function wasmBSplineKernel(init: WasmBSplineInit): KernelPhases | null {
  if (!wasmBSplineApplies(init.dimension, init.sampler.kind, init.sampler.plane, init.mask)) return null;
  return buildOverArena(init, (arena, k) => {
    const { sampler, gPartials, ranges, P, nx: gnx, nxy: gnxy } = init;
    const placed = init.wasm!;
    if (!placed.bases || !placed.weights) return null;
    const pCI = arena.zeroed(8 * P);
    const pGI = arena.zeroed(8 * P);
    const pPar = arena.zeroed(8 * 24);
    const measure = new WasmMeasure(arena, k, init);
    if (arena.failed) return null;
    const cI = arena.f64(pCI, P);
    const gI = arena.f64(pGI, P);
    const par = arena.f64(pPar, 24);
    par.set(sampler.N, 12);
    par.set(sampler.origin, 21);
    measure.bind();
    const { points, fixed, bases, weights } = placed;
    const pPlane = placed.plane.byteOffset;
    const pPoints = points.byteOffset;
    const pFixed = fixed.byteOffset;
    const pBases = bases.byteOffset;
    const pW = weights.byteOffset;
    const p = packedPointers(init);
    const [nx, ny, nz] = sampler.size;
    const map =
      sampler.kind === 'bspline' ? k.mapSample3dCubic.bind(k) : placed.plane instanceof Float32Array ? k.mapSample3dLinearF32.bind(k) : k.mapSample3dLinearF64.bind(k);
    const stampOf = (): number => (init.stamp ? init.stamp[0] : NaN);
    let cStamp = NaN;
    // the control points a sample's support reaches, past its base
    const reach = 3 * gnxy + 3 * gnx + 4;
    // the supports are the placed arrays themselves (the cost draws into them); points and fixed values are copied
    const ownSupports = init.bases === bases && init.weights === weights;
    return measuredPhases(
      init,
      measure,
      stampOf,
      (_b, start, end) => {
        const stamp = stampOf();
        if (!(cStamp === stamp)) interleaveCoefficients(init.c, P / 3, 3, cI);
        cStamp = stamp;
        par.set(init.A, 0);
        par.set(init.t, 9);
        // the block's sample inputs (a stochastic sampler redraws them every evaluation), for both phases
        points.set(init.points.subarray(3 * start, 3 * end), 3 * start);
        fixed.set(init.fixed.subarray(start, end), start);
        if (!ownSupports) {
          bases.set(init.bases.subarray(start, end), start);
          weights.set(init.weights.subarray(12 * start, 12 * end), 12 * start);
        }
        return map(pPlane, nx, ny, nz, pPar, pPoints, pBases, pW, pCI, gnx, gnxy, pFixed, start, end, p.values, p.grads, p.index, p.fixedPacked);
      },
      (b, start, end) => {
        // the block's samples reach control points [lo, hi): zero and fill only that range of its slot
        const hi = k.supportRange(start, end, p.index, pBases);
        if (hi < 0) {
          ranges[2 * b] = 0;
          ranges[2 * b + 1] = 0;
          return;
        }
        const from = 3 * k.supportRangeLo();
        const to = Math.min(P, 3 * (hi + reach));
        gI.fill(0, from, to);
        ranges[2 * b] = from;
        ranges[2 * b + 1] = to;
        par.set(init.A, 0);
        k.scatter3d(start, end, p.dValue, p.grads, p.index, pBases, pW, pPar, gnx, gnxy, pGI);
        gPartials.set(gI.subarray(from, to), b * P + from);
      },
    );
  });
}

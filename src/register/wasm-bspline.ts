/**
 * The B-spline block kernel (sample-kernels.ts: bsplineKernel) in 3D on the WebAssembly SIMD kernels of src/wasm:
 * the B-spline support accumulation u(x), the moving image's cubic B-spline (or linear) value and gradient, the
 * Mattes joint histogram and its derivative, and the scatter of ∂cost/∂m into the control points run in the
 * module; other measures' accumulate/derivative stay in TypeScript. Bit-identical to the TypeScript kernel.
 *
 * Data transfer: the moving coefficients are copied into the kernel's own module instance once (per thread and
 * level); the B-spline coefficients, interleaved per control point, once per evaluation (the stamp); each block's
 * sample inputs (points, fixed values, supports) in its phase 0, since a stochastic sampler redraws them every
 * evaluation; the packed samples back in phase 1 only when another thread ran the block's phase 0.
 */
import { releaseWasmKernels, wasmKernels } from '../wasm/kernels.js';
import type { KernelPhases } from './parallel-for.js';
import { publishPacked, restorePacked, WasmMeasure, type PackedViews, type WasmBlockInit } from './wasm-measure.js';
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
  /** [evaluation stamp (changes every evaluation), threads]; without it, cI and the samples are copied per block. */
  stamp?: Float64Array;
}

/** The kernel's two phases on WebAssembly, or null when it does not apply (2D, moving mask, wasm off). */
export function wasmBSplineKernel(init: WasmBSplineInit): KernelPhases | null {
  if (init.dimension !== 3 || init.mask) return null;
  const plane = init.sampler.plane;
  if (init.sampler.kind === 'bspline' && !(plane instanceof Float64Array)) return null;
  const w = wasmKernels();
  if (!w) return null;
  const k = w.k;
  const n = init.count;
  const { sampler, blockSize, validCounts, gPartials, ranges, P, nx: gnx, nxy: gnxy } = init;

  const pPlane = w.alloc(plane.byteLength);
  const pPoints = w.alloc(8 * 3 * n);
  const pFixed = w.alloc(8 * n);
  const pBases = w.alloc(4 * n);
  const pW = w.alloc(4 * 12 * n);
  const pCI = w.alloc(8 * P);
  const pGI = w.alloc(8 * P);
  const pValues = w.alloc(8 * n);
  const pGrads = w.alloc(8 * 3 * n);
  const pIndex = w.alloc(4 * n);
  const pFixedPacked = w.alloc(8 * n);
  const pDValue = w.alloc(8 * n);
  const pPar = w.alloc(8 * 24);
  const measure = new WasmMeasure(w, init);
  if (w.failed) return null;
  let released = false;
  const alive = (): void => {
    if (released) throw new Error('a WebAssembly kernel ran after its release');
  };
  // views after the last alloc (growing the memory detaches the old buffer)
  if (plane instanceof Float32Array) w.f32(pPlane, plane.length).set(plane);
  else w.f64(pPlane, plane.length).set(plane);
  const points = w.f64(pPoints, 3 * n);
  const fixed = w.f64(pFixed, n);
  const bases = w.i32(pBases, n);
  const weights = w.f32(pW, 12 * n);
  const cI = w.f64(pCI, P);
  const gI = w.f64(pGI, P);
  const packed: PackedViews = {
    values: w.f64(pValues, n),
    grads: w.f64(pGrads, 3 * n),
    index: w.i32(pIndex, n),
    fixedPacked: w.f64(pFixedPacked, n),
    dValue: w.f64(pDValue, n),
    pValues,
    pFixedPacked,
    pDValue,
  };
  const par = w.f64(pPar, 24);
  par.set(sampler.N, 12);
  par.set(sampler.origin, 21);
  measure.bind();
  const [nx, ny, nz] = sampler.size;
  const map =
    sampler.kind === 'bspline' ? k.mapSample3dCubic.bind(k) : plane instanceof Float32Array ? k.mapSample3dLinearF32.bind(k) : k.mapSample3dLinearF64.bind(k);
  const stampOf = (): number => (init.stamp ? init.stamp[0] : NaN);
  const blocks = Math.ceil(n / blockSize);
  /** Per block: the stamp of the evaluation whose phase 0 ran here (NaN: none). */
  const owned = new Float64Array(blocks).fill(NaN);
  let cStamp = NaN;
  // the control points a sample's support reaches, past its base
  const reach = 3 * gnxy + 3 * gnx + 4;

  /** The block's sample inputs (a stochastic sampler redraws them every evaluation). */
  const copyInputs = (start: number, end: number): void => {
    points.set(init.points.subarray(3 * start, 3 * end), 3 * start);
    fixed.set(init.fixed.subarray(start, end), start);
    bases.set(init.bases.subarray(start, end), start);
    weights.set(init.weights.subarray(12 * start, 12 * end), 12 * start);
  };

  const phases = [
    (b: number) => {
      alive();
      const start = b * blockSize;
      const end = Math.min(n, start + blockSize);
      const stamp = stampOf();
      if (!(cStamp === stamp)) interleaveCoefficients(init.c, P / 3, 3, cI);
      cStamp = stamp;
      par.set(init.A, 0);
      par.set(init.t, 9);
      copyInputs(start, end);
      const valid = map(pPlane, nx, ny, nz, pPar, pPoints, pBases, pW, pCI, gnx, gnxy, pFixed, start, end, pValues, pGrads, pIndex, pFixedPacked);
      validCounts[b] = valid - start;
      // the block's packed samples: for another thread's phase 1, the TypeScript measures and the cost's
      // parameter scales (which read the packed gradients), so always
      publishPacked(init, packed, 3, start, valid);
      owned[b] = stamp;
      measure.accumulate(packed, b, start, valid);
    },
    (b: number) => {
      alive();
      const start = b * blockSize;
      const end = start + validCounts[b];
      const stamp = stampOf();
      if (!(owned[b] === stamp)) {
        copyInputs(start, Math.min(n, start + blockSize));
        restorePacked(init, packed, 3, start, end);
      }
      owned[b] = NaN;
      measure.derivative(packed, start, end, stamp);
      // the block's samples reach control points [lo, hi): zero and fill only that range of its slot
      const hi = k.supportRange(start, end, pIndex, pBases);
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
      k.scatter3d(start, end, pDValue, pGrads, pIndex, pBases, pW, pPar, gnx, gnxy, pGI);
      gPartials.set(gI.subarray(from, to), b * P + from);
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

/**
 * The cost of a cubic B-spline free-form deformation followed by a fixed linear transform:
 * T(x) = A·(x + u(x)) + t, the chain [B-spline, linear] (first-first). The B-spline grid lies over the fixed
 * image, so each sample's 4^d supporting control points and weights do not change while optimising: they are
 * computed once per level. Chain rule: ∂cost/∂c_{k,a} = Σ_i β_k(x_i) · (Aᵀ ∂cost/∂m_i ∇M(T(x_i)))_a.
 */
import { CoregError } from '../errors.js';
import type { Image } from '../image/image.js';
import { indexToPhysicalMatrix, physicalToIndexMatrix } from '../image/image.js';
import { linear2d, linear3d } from '../interpolate/kernels.js';
import type { CostFunction, IterationInfo, OptimizerResult, StopReason } from '../optimize/types.js';
import { stochasticSettings, type StochasticGradientOptions } from '../optimize/stochastic.js';
import { allFinite as allFiniteNumbers, numberOption, throwIfAborted } from '../optimize/driver.js';
import type { BSplineTransform } from '../transform/bspline.js';
import { bsplineSupportBases, bsplineSupports, interleaveCoefficients } from '../transform/bspline-supports.js';
import { bendingEnergy, bsplineSamplePoints, jacobianDeterminantPenalty } from '../transform/bspline-regularizers.js';
import type { LinearTransform } from '../transform/transform.js';
import { checkOverlap, SampleMetricEvaluator, type MovingSampler, type SampledCostOptions } from './linear-cost.js';
import { serialSession, shareArray, sharedFloat32, sharedFloat64, sharedInt32, type BlockSession, type ParallelFor } from './parallel-for.js';
import { BlockedMetric, bsplineKernel, histogramMergeBuffers, histogramMergeChunks, mergeChunks, mapAndSample2d, mapAndSample3d, scatter2d, scatter3d, type BSplineKernelInit, type StratifiedDraw } from './sample-kernels.js';
import { createRandom } from '../random.js';
import { releaseArena } from '../wasm/kernels.js';
import { wasmBSplineApplies } from './wasm-bspline.js';
import { placeSamples } from './wasm-measure.js';
import { jitterPlane, maskAt, type SampleSet } from './sampling.js';

export interface BSplineCostOptions extends SampledCostOptions {
  /** Weight of the bending energy (added to the metric's cost). */
  bendingWeight?: number;
  /** Weight of the penalty on Jacobian determinants below 0.1 (keeps the deformation from folding). */
  jacobianWeight?: number;
  /**
   * Draw `count` fresh random samples from `image` (within `mask`) at every evaluation instead of using the given
   * sample set (stochastic optimisation, as elastix's random-coordinate sampler with new samples every iteration):
   * over many iterations the whole image is seen, with no fixed set to over-fit. The draws follow `seed`, so runs
   * repeat exactly.
   */
  fresh?: { image: Image; mask?: Image; count: number; seed: number; shared?: boolean };
  /**
   * false: the TypeScript kernel, not the WebAssembly one (bit-identical results), and no arena holding a copy of
   * the moving image.
   */
  wasm?: boolean;
}

/**
 * Samples per block of the B-spline cost: about 24 blocks (2, 3, 4, 6 or 8 threads share them evenly; a 5 000-sample
 * level in blocks of 1 024 left 2 threads at 3 : 2), at least 256 samples each. A function of n only, never of the
 * thread count (the blocks' sums, and so the results, do not depend on it).
 */
export function bsplineBlockSize(n: number): number {
  return Math.max(256, Math.ceil(n / 24));
}

/**
 * Fewest parameters for which the merge of the blocks' partial gradients (phase 3) and the descent's steps (phase 4)
 * run on the team: below, the hand-off costs more than the sums. The team's threads spin between the phases of an
 * iteration, so a hand-off costs a few microseconds: from the second 3D level on (2 187 parameters on the bench's
 * head, 4 chunks) the merge is worth splitting. Either way the gradient is the same, bit for bit.
 */
const TEAM_MERGE_MIN_PARAMETERS = 1024;

export class BSplineRegistrationCost implements CostFunction {
  readonly bspline: BSplineTransform;
  private readonly A: Float64Array;
  private readonly t: Float64Array;
  private readonly samples: SampleSet;
  private readonly sampler: MovingSampler;
  /** lncc (a dense measure): one pass in this thread. */
  private readonly evaluator: SampleMetricEvaluator | null;
  /** Every other measure: per-block kernels (parallel-for.ts), run by `session`. */
  private readonly blocked: BlockedMetric | null;
  private readonly kernelInit: BSplineKernelInit | null;
  private readonly local: ReturnType<typeof bsplineKernel> | null;
  private session: BlockSession | null = null;
  /** Whether `session` runs on a team's threads (else every block in this thread). */
  private onTeam = false;
  /** The WebAssembly kernels' arena and what the cost placed in it (null: TypeScript kernels). */
  private placed: ReturnType<typeof placeSamples>;
  /** Per sample: linear index of the first supporting control point, or −1 outside the B-spline domain. */
  private readonly bases: Int32Array;
  /** Per sample: 4 cubic weights per axis (separable), 4·d numbers. */
  private readonly weights: Float32Array;
  /** lncc: parameters and gradient with the d components of each control point side by side. */
  private readonly cInterleaved: Float64Array;
  private readonly gInterleaved: Float64Array;
  private readonly scratch = new Float64Array(6);
  private readonly regGrad: Float64Array;
  /** The folding penalty's sample points: fixed by the control grid, so built once, not per evaluation. */
  private readonly jacobianPoints: Float64Array | null;
  private readonly opts: BSplineCostOptions;
  private readonly movingMask: Image | null;
  private readonly maskN: Float64Array | null;
  lastValidCount = 0;
  evaluations = 0;
  private readonly fresh: FreshSampler | null;
  /** Redraw the samples at every evaluation (off while estimating scales on one draw). */
  private redrawing: boolean;
  /** A stratified draw's first samples are still to be drawn (by the next evaluation's phase 0). */
  private firstDraw = false;

  constructor(bspline: BSplineTransform, linear: LinearTransform, samples: SampleSet, sampler: MovingSampler, opts: BSplineCostOptions) {
    this.bspline = bspline;
    this.A = linear.matrix();
    this.t = linear.offset();
    this.fresh = opts.fresh && opts.metric !== 'lncc' ? new FreshSampler(opts.fresh.image, opts.fresh.mask, opts.fresh.count, opts.fresh.seed, bspline, opts.fresh.shared) : null;
    this.redrawing = this.fresh !== null;
    if (this.fresh) samples = this.fresh.samples;
    this.samples = samples;
    this.sampler = sampler;
    this.opts = opts;
    const d = samples.dimension;
    const n = samples.count;
    // The WebAssembly kernels' data (the moving plane, supports, packed samples) in a shared arena, once per level
    // (wasm-measure.ts); without it (2D, a moving mask, wasm off, { wasm: false }) the TypeScript kernels run.
    this.placed =
      opts.metric !== 'lncc' && opts.wasm !== false && wasmBSplineApplies(d, sampler.kind, sampler.plane, opts.movingMask)
        ? placeSamples(d, n, sampler.plane, null, { supports: true, always: true })
        : null;
    // Separable supports (a base index and 4 weights per axis) take 13 numbers per 3D sample instead of 128.
    // Arrays the kernels read are on shared memory (a team's threads see them; see parallel-for.ts).
    this.bases = this.placed?.wasm.bases ?? sharedInt32(n);
    this.weights = this.placed?.wasm.weights ?? sharedFloat32(n * 4 * d);
    // (a stratified draw happens in the kernel's phase 2, below)
    const lncc = opts.metric === 'lncc';
    if (this.fresh) {
      if (!this.fresh.stratified) this.fresh.draw(bspline, this.bases, this.weights);
    } else if (lncc) bsplineSupports(bspline, samples.points, n, this.bases, this.weights);
    // (a blocked measure's supports of a fixed sample set: in the first evaluation's phase 0, on the team's threads)
    this.cInterleaved = new Float64Array(lncc ? bspline.numberOfParameters : 0);
    this.gInterleaved = new Float64Array(lncc ? bspline.numberOfParameters : 0);

    this.regGrad = new Float64Array(bspline.numberOfParameters);
    this.jacobianPoints = opts.jacobianWeight ? bsplineSamplePoints(bspline) : null;
    this.movingMask = opts.movingMask ?? null;
    this.maskN = opts.movingMask ? physicalToIndexMatrix(opts.movingMask) : null;
    if (opts.metric === 'lncc') {
      this.evaluator = new SampleMetricEvaluator(samples, opts);
      this.blocked = null;
      this.kernelInit = null;
      this.local = null;
    } else {
      this.evaluator = null;
      // A fresh sampler's arrays are shared already (its draws rewrite them in place; shareArray keeps them).
      const blocked = new BlockedMetric(d, n, sampler, shareArray(samples.points), shareArray(samples.values), this.movingMask, opts.metric, opts.metricOptions, bsplineBlockSize(n), this.placed?.packed);
      this.blocked = blocked;
      const P = bspline.numberOfParameters;
      const [nx, nxy] = bspline.gridStrides;
      this.kernelInit = {
        ...blocked.init,
        bases: this.bases,
        weights: this.weights,
        c: sharedFloat64(bspline.numberOfParameters),
        gradient: sharedFloat64(bspline.numberOfParameters),
        // stochastic levels: the optimiser's passes over the parameters run as phases 3 and 4 (stochasticSteps)
        descent: this.fresh
          ? {
              stats: sharedFloat64(3 * mergeChunks(bspline.numberOfParameters, d)),
              average: sharedFloat64(bspline.numberOfParameters),
              last: sharedFloat64(bspline.numberOfParameters),
              step: sharedFloat64(3),
            }
          : null,
        A: shareArray(Float64Array.from(this.A)),
        t: shareArray(Float64Array.from(this.t)),
        nx,
        nxy,
        P,
        wasm: this.placed?.wasm ?? null,
        // a histogram's merge by the team's threads (phase 5)
        histogram: blocked.histogramBins > 0 ? histogramMergeBuffers(blocked.histogramBins) : null,
        gPartials: sharedFloat64(blocked.blocks * P),
        ranges: sharedInt32(2 * blocked.blocks),
        stamp: sharedFloat64(1).fill(1),
        // fresh samples: the draws' per-block work; a fixed sample set: its supports, once
        draw: {
          grid: { dimension: bspline.dimension as 2 | 3, toGrid: bspline.toGrid, gridOrigin: Array.from(bspline.gridOrigin), gridSize: Array.from(bspline.gridSize) },
          plane: this.fresh ? this.fresh.plane : new Float32Array(0),
          size: this.fresh ? opts.fresh!.image.size.slice() : [],
          index: this.fresh ? this.fresh.index : new Float64Array(0),
          values: this.fresh ? this.fresh.deferValues : false,
          stratified: this.fresh ? this.fresh.stratified : null,
          pending: sharedFloat64(1),
        },
      };
      this.local = bsplineKernel(this.kernelInit);
      this.session = serialSession(this.local);
      // the first stratified draw, or a fixed sample set's supports, happen in the first evaluation's phase 0 (on the
      // team's threads, once it has them)
      this.firstDraw = !this.fresh || this.fresh.stratified != null;
    }
  }

  /**
   * Runs the per-sample work on `team` (its threads share the blocks; results do not change) until close().
   * Without a team, with one thread, or for lncc: everything in this thread.
   */
  async useThreads(team: ParallelFor | undefined): Promise<void> {
    if (!team || team.threads < 2 || !this.kernelInit) return;
    const session = await team.open('register.bspline', this.kernelInit, this.local!);
    this.session?.close();
    this.session = session;
    this.onTeam = true;
  }

  /**
   * The cost is done: close() and give its kernel's resources (a WebAssembly instance) to this thread's next
   * kernel. Evaluating it afterwards throws.
   */
  dispose(): void {
    this.close();
    this.local?.release?.();
    if (this.placed) releaseArena(this.placed.arena);
    this.placed = null;
    this.disposed = true;
  }

  private disposed = false;

  /** Releases the team's threads (the cost keeps working in this thread). */
  close(): void {
    if (!this.local) return;
    this.session?.close();
    this.session = serialSession(this.local);
    this.onTeam = false;
  }

  /** Calls visit(k, i) for every packed valid sample k (sample i) of the last evaluation. */
  private forEachValid(visit: (k: number, i: number) => void): void {
    if (this.evaluator) {
      for (let k = 0; k < this.lastValidCount; k++) visit(k, this.evaluator.index[k]);
      return;
    }
    const init = this.kernelInit!;
    for (let b = 0; b < this.blocked!.blocks; b++) {
      const start = b * init.blockSize;
      const end = start + init.validCounts[b];
      for (let k = start; k < end; k++) visit(k, init.index[k]);
    }
  }

  /**
   * Per-parameter scales for the optimiser: the diagonal of a Gauss–Newton approximation of the Hessian,
   * Σ_i (β_k(x_i) (Aᵀ∇M)_a)², normalised to mean 1 over the parameters that samples reach, with a floor for the
   * others. Control points over flat or empty regions then take no huge steps, and the many-parameter problem is
   * much better conditioned.
   */
  parameterScales(params: Float64Array): Float64Array {
    const grad = new Float64Array(params.length);
    const redrawing = this.redrawing;
    this.redrawing = false;
    try {
      this.evaluate(params, grad);
    } finally {
      this.redrawing = redrawing;
    }
    const grads = this.evaluator ? this.evaluator.grads : this.kernelInit!.grads;
    const d = this.samples.dimension;
    const A = this.A;
    const W = this.weights;
    const [nx, nxy] = this.bspline.gridStrides;
    const nC = this.bspline.numberOfControlPoints;
    const diag = new Float64Array(params.length);
    this.forEachValid((k, i) => {
      const base = this.bases[i];
      if (base < 0) return;
      let v0: number;
      let v1: number;
      let v2 = 0;
      if (d === 2) {
        const gx = grads[2 * k];
        const gy = grads[2 * k + 1];
        v0 = A[0] * gx + A[2] * gy;
        v1 = A[1] * gx + A[3] * gy;
      } else {
        const gx = grads[3 * k];
        const gy = grads[3 * k + 1];
        const gz = grads[3 * k + 2];
        v0 = A[0] * gx + A[3] * gy + A[6] * gz;
        v1 = A[1] * gx + A[4] * gy + A[7] * gz;
        v2 = A[2] * gx + A[5] * gy + A[8] * gz;
      }
      v0 *= v0;
      v1 *= v1;
      v2 *= v2;
      const o = 4 * d * i;
      const kzEnd = d === 3 ? 4 : 1;
      for (let kz = 0; kz < kzEnd; kz++) {
        const wz = d === 3 ? W[o + 8 + kz] : 1;
        for (let ky = 0; ky < 4; ky++) {
          const wyz = wz * W[o + 4 + ky];
          const row = base + kz * nxy + ky * nx;
          for (let kx = 0; kx < 4; kx++) {
            const w = wyz * W[o + kx];
            const w2 = w * w;
            diag[row + kx] += w2 * v0;
            diag[nC + row + kx] += w2 * v1;
            if (d === 3) diag[2 * nC + row + kx] += w2 * v2;
          }
        }
      }
    });
    let sum = 0;
    let count = 0;
    for (const v of diag) if (v > 0) {
      sum += v;
      count++;
    }
    const mean = count > 0 ? sum / count : 1;
    // Never amplify steps (a control point with no information must not wander off): scales ≥ 1.
    const floor = 1;
    for (let p = 0; p < diag.length; p++) diag[p] = Math.max(floor, diag[p] / mean);
    return diag;
  }

  evaluate(params: Float64Array, gradient: Float64Array): number {
    // (its arena, released, may hold another cost's data by now)
    if (this.disposed) throw new Error('the cost was disposed');
    this.evaluations++;
    const bs = this.bspline;
    bs.setParameters(params);
    const c = bs.parameters;
    const nC = bs.numberOfControlPoints;
    const d = this.samples.dimension;
    const m = this.samples.count;
    const bases = this.bases;
    const W = this.weights;
    const [nx, nxy] = bs.gridStrides;
    const fresh = this.fresh;
    const redraw = fresh !== null && this.redrawing && this.evaluations > 1;
    // the draw's per-block work (stratified: all of it; else the supports and fixed values) runs at the start of
    // each block's phase 0
    if (redraw) fresh.draw(bs, bases, W, true);
    let value: number;
    if (this.blocked) {
      const init = this.kernelInit!;
      // the threads interleave the coefficients into their own copies (in phase 0)
      init.c.set(c);
      value = this.evaluateShared(redraw);
      gradient.set(init.gradient);
    } else {
      const e = this.evaluator!;
      const cI = this.cInterleaved;
      interleaveCoefficients(c, nC, d, cI);
      const gI = this.gInterleaved;
      const s = this.sampler;
      const valid =
        d === 2
          ? mapAndSample2d(0, m, this.samples.points, bases, W, cI, nx, this.A, this.t, s, e.values, e.grads, e.index, this.movingMask, this.maskN, this.scratch)
          : mapAndSample3d(0, m, this.samples.points, bases, W, cI, nx, nxy, this.A, this.t, s, e.values, e.grads, e.index, this.movingMask, this.maskN, this.scratch);
      this.lastValidCount = valid;
      value = e.evaluate(valid, fresh ? fresh.drawn : m);
      gI.fill(0);
      if (d === 2) scatter2d(0, valid, e.dValue, e.grads, e.index, bases, W, this.A, nx, gI, 0);
      else scatter3d(0, valid, e.dValue, e.grads, e.index, bases, W, this.A, nx, nxy, gI, 0);
      deinterleave(gI, nC, d, gradient);
    }
    const rg = this.regGrad;
    const P = bs.numberOfParameters;
    if (this.opts.bendingWeight) {
      const wb = this.opts.bendingWeight;
      value += wb * bendingEnergy(bs, null, rg);
      for (let p = 0; p < P; p++) gradient[p] += wb * rg[p];
    }
    if (this.opts.jacobianWeight) {
      const wj = this.opts.jacobianWeight;
      value += wj * jacobianDeterminantPenalty(bs, this.jacobianPoints, rg);
      for (let p = 0; p < P; p++) gradient[p] += wj * rg[p];
    }
    return value;
  }

  /**
   * The metric at the coefficients in kernelInit.c (blocked measures): phases 0 and 1 over the sample blocks, the
   * merge (phase 3) into kernelInit.gradient. Returns the value (without penalties).
   */
  private evaluateShared(redraw: boolean): number {
    const init = this.kernelInit!;
    const blocked = this.blocked!;
    const fresh = this.fresh;
    init.stamp![0] = this.evaluations;
    const session = this.session!;
    const blocks = blocked.blocks;
    const pending = init.draw?.pending;
    if (pending) pending[0] = redraw || this.firstDraw ? 1 : 0;
    this.firstDraw = false;
    try {
      session.run(0, blocks, true);
    } finally {
      if (pending) pending[0] = 0;
    }
    let valid = 0;
    for (let b = 0; b < blocks; b++) valid += init.validCounts[b];
    this.lastValidCount = valid;
    checkOverlap(valid, fresh ? fresh.drawn : this.samples.count);
    // a histogram's blocks merged by rows on the team (phase 5), finalized here; else all of it here
    const histogram = this.onTeam ? init.histogram : null;
    let value: number;
    if (histogram) {
      session.run(5, histogramMergeChunks(histogram.bins));
      value = blocked.finishMerged(histogram.merged, histogram.logs);
    } else value = blocked.finish();
    session.run(1, blocks, true);
    // the blocks' partial gradients, added in block order, by chunks of control points (phase 3): on the team
    // when there are enough of them to pay for one more hand-off
    this.runChunks(3);
    return value;
  }

  /** Phase `phase` over the chunks of control points: on the team when there are enough parameters to pay for it. */
  private runChunks(phase: number): void {
    const init = this.kernelInit!;
    const chunks = mergeChunks(init.P, this.samples.dimension);
    if (this.onTeam && init.P >= TEAM_MERGE_MIN_PARAMETERS) this.session!.run(phase, chunks, true);
    else for (let j = 0; j < chunks; j++) this.local![phase](j);
  }

  /**
   * optimize/stochastic.ts's stochastic gradient descent (the same options, iterates and result, bit for bit) with
   * its passes over the parameters in the cost's phases, on the team's threads: the merge also finds each chunk's
   * largest |g| and Σ g², and one more phase (4) takes the step. What stays in this thread per iteration is a few
   * numbers per chunk of control points (mergeChunkSize), where the optimiser's own passes over every parameter
   * (about 6 per iteration) were the largest serial part of a 3D level. Null when it does not apply (lncc, penalties, scales, a
   * cost that does not draw fresh samples): use the optimiser then.
   */
  stochasticSteps(initial: Float64Array, options: StochasticGradientOptions): Generator<IterationInfo, OptimizerResult, void> | null {
    const init = this.kernelInit;
    if (!init?.descent || options.scales !== undefined || this.opts.bendingWeight || this.opts.jacobianWeight || this.fresh === null) return null;
    return this.stochasticGenerator(initial, options);
  }

  private *stochasticGenerator(initial: Float64Array, options: StochasticGradientOptions): Generator<IterationInfo, OptimizerResult, void> {
    const init = this.kernelInit!;
    const descent = init.descent!;
    const { stats, average, last, step } = descent;
    const q = init.c;
    const g = init.gradient;
    const n = init.P;
    const chunks = mergeChunks(n, this.samples.dimension);
    // the options, checked as the optimiser checks them
    const { a, A, alpha, maxParam, total, averageFrom } = stochasticSettings(options);
    const gradientTolerance = numberOption('gradientTolerance', options.gradientTolerance, 0, (v) => v >= 0, 'a number ≥ 0');
    const relativeGradientTolerance = numberOption('relativeGradientTolerance', options.relativeGradientTolerance, 0, (v) => v >= 0, 'a number ≥ 0');
    const { onIteration, signal } = options;
    if (!allFiniteNumbers(initial)) throw new CoregError('initial parameters', 'must be finite');
    q.set(initial);
    average.fill(0);
    let evaluations = 0;
    const evaluate = (): { value: number; gNorm: number; finite: boolean } => {
      this.evaluations++;
      evaluations++;
      const redraw = this.redrawing && this.evaluations > 1;
      if (redraw) this.fresh!.draw(this.bspline, this.bases, this.weights, true);
      const value = this.evaluateShared(redraw);
      let squares = 0;
      for (let j = 0; j < chunks; j++) squares += stats[3 * j + 1];
      const gNorm = Math.sqrt(squares);
      return { value, gNorm, finite: Number.isFinite(value) && (Number.isFinite(gNorm) || allFiniteNumbers(g)) };
    };
    throwIfAborted(signal);
    let e = evaluate();
    if (!e.finite) {
      return { parameters: Float64Array.from(initial), value: NaN, iterations: 0, stopReason: 'non-finite value', history: [], evaluations };
    }
    let value = e.value;
    let gNorm = e.gNorm;
    const history = [value];
    const gradientStop = Math.max(gradientTolerance, relativeGradientTolerance * gNorm);
    let iteration = 0;
    let k = 0;
    let averaged = 0;
    let reason: StopReason;
    for (;;) {
      if (gNorm <= gradientStop && (iteration > 0 || gradientTolerance > 0 || gNorm === 0)) {
        reason = 'gradient tolerance';
        break;
      }
      if (iteration >= total) {
        reason = 'maximum iterations';
        break;
      }
      throwIfAborted(signal);
      const lastValue = value;
      const gain = a / Math.pow(1 + k / A, alpha);
      k++;
      let largest = 0;
      for (let j = 0; j < chunks; j++) largest = Math.max(largest, stats[3 * j]);
      step[0] = gain * largest > maxParam ? maxParam / largest : gain;
      const averaging = k >= averageFrom;
      if (averaging) averaged++;
      step[1] = averaged;
      step[2] = averaging ? 1 : 0;
      this.runChunks(4);
      let length = 0;
      for (let j = 0; j < chunks; j++) length += stats[3 * j + 2];
      if (averaging && k === total) {
        // the last step returns the averaged iterate
        length = 0;
        for (let i = 0; i < n; i++) {
          length += (average[i] - q[i]) ** 2;
          q[i] = average[i];
        }
      }
      e = evaluate();
      if (!e.finite) {
        q.set(last);
        value = lastValue;
        reason = 'non-finite value';
        break;
      }
      value = e.value;
      gNorm = e.gNorm;
      iteration++;
      history.push(value);
      const info: IterationInfo = { iteration, value, gradientNorm: gNorm, stepLength: Math.sqrt(length) };
      if (onIteration && onIteration(info) === false) {
        reason = 'stopped by callback';
        break;
      }
      yield info;
      throwIfAborted(signal);
    }
    return { parameters: Float64Array.from(q), value, iterations: iteration, stopReason: reason, history, evaluations };
  }
}

// --- per-evaluation passes (plain functions over typed arrays: the hot path) ---------------------------

function deinterleave(g: Float64Array, nC: number, d: number, out: Float64Array): void {
  if (d === 2) {
    for (let k = 0; k < nC; k++) {
      out[k] = g[2 * k];
      out[nC + k] = g[2 * k + 1];
    }
  } else {
    const nC2 = 2 * nC;
    for (let k = 0; k < nC; k++) {
      out[k] = g[3 * k];
      out[nC + k] = g[3 * k + 1];
      out[nC2 + k] = g[3 * k + 2];
    }
  }
}

/**
 * Uniform random positions in the fixed image (optionally within a mask), fixed values by linear interpolation.
 * Each draw is then stored grouped by B-spline cell (a stable counting sort on the first supporting control
 * point; points outside the grid first): every per-sample pass then walks the control grid and both images in
 * spatial order, where random order missed the cache on most samples of the finest level. The set of samples is
 * the same as in drawing order; only the order of the sums over them changes (by rounding).
 */
/** Linear indices of the voxels of `image` whose centres lie inside `mask` (any grid). */
function voxelsInMask(image: Image, mask: Image, maskN: Float64Array, M: Float64Array): Int32Array {
  const d = image.dimension;
  const [nx, ny] = image.size;
  const n = image.size.reduce((a, b) => a * b, 1);
  const o = image.origin;
  const p = new Float64Array(d);
  const out = new Int32Array(n);
  let count = 0;
  for (let v = 0; v < n; v++) {
    const i = v % nx;
    const j = Math.floor(v / nx) % ny;
    const k = d === 3 ? Math.floor(v / (nx * ny)) : 0;
    for (let r = 0; r < d; r++) p[r] = o[r] + M[r * d] * i + M[r * d + 1] * j + (d === 3 ? M[r * d + 2] * k : 0);
    if (maskAt(mask, maskN, p)) out[count++] = v;
  }
  return out.slice(0, count);
}

class FreshSampler {
  readonly samples: SampleSet;
  /** Samples actually drawn by the last draw (fewer than asked only when the mask is nearly empty). */
  drawn = 0;
  private readonly image: Image;
  private readonly mask: Image | null;
  private readonly maskN: Float64Array | null;
  readonly plane: Float32Array | Float64Array;
  private readonly M: Float64Array;
  private readonly random: () => number;
  /** Continuous fixed index of each sample (d per sample), in drawing order and sorted. */
  private readonly drawnIndex: Float64Array;
  readonly index: Float64Array;
  /** Points and (when not deferred) values in drawing order. */
  private readonly drawnPoints: Float64Array;
  private readonly drawnValues: Float64Array;
  /** Per drawn sample: its cell (first supporting control point, −1 outside); bucket starts of the sort. */
  private readonly cells: Int32Array;
  private readonly cellStarts: Int32Array;
  /**
   * With a finite fixed image no draw (always inside the image) can give NaN, so the values are interpolated
   * after sorting, in spatial order; otherwise during the draw, to reject NaN.
   */
  readonly deferValues: boolean;
  private readonly point = new Float64Array(3);
  /** With a mask: the voxels whose centre lies inside it (samples are drawn from these, as elastix does). */
  private readonly maskVoxels: Int32Array | null;
  /**
   * A finite fixed image (and a mask that holds a voxel centre): stratified draws made per block by the cost's
   * kernel (phase 2, on the team's threads; see stratifiedDraw). Otherwise (NaN in the fixed image, which must be
   * rejected, or a mask holding no voxel centre): drawn here in one stream and sorted by cell.
   */
  readonly stratified: StratifiedDraw | null;

  /** `shared`: the fixed plane on shared memory (a team's threads finish the draws, see BSplineKernelInit.draw). */
  constructor(image: Image, mask: Image | undefined, count: number, seed: number, bspline: BSplineTransform, shared = false) {
    const d = image.dimension;
    this.image = image;
    this.mask = mask ?? null;
    this.maskN = mask ? physicalToIndexMatrix(mask) : null;
    // Integer pixels are read where they are (float32 holds them exactly; the linear stages' draws read them so:
    // jitterPlane), not converted into a float copy (a 1 mm head's uint8 image: 28 MB of fresh pages at the
    // full-resolution level, ~7 000 page faults of ~10 µs on this VM kind). The values read are the same.
    const plane = jitterPlane(image, shared ? (n, wide) => (wide ? sharedFloat64(n) : sharedFloat32(n)) : undefined) as Float32Array | Float64Array;
    this.plane = shared ? shareArray(plane) : plane;
    this.M = indexToPhysicalMatrix(image);
    this.random = createRandom(seed);
    this.samples = { dimension: d, count, points: sharedFloat64(count * d), values: sharedFloat64(count), voxels: new Int32Array(count) };
    this.index = sharedFloat64(count * d);
    // (integer pixels convert to finite values: no pass over the plane, 7 M values at a 1 mm head's full resolution)
    this.deferValues = !(image.data instanceof Float32Array || image.data instanceof Float64Array) || allFinite(this.plane);
    this.maskVoxels = mask ? voxelsInMask(image, mask, this.maskN!, this.M) : null;
    const stratified = this.deferValues && (this.maskVoxels === null || this.maskVoxels.length > 0);
    // the one-stream draw's buffers only when it is used
    const m = stratified ? 0 : count;
    this.drawnIndex = new Float64Array(m * d);
    this.drawnPoints = new Float64Array(m * d);
    this.drawnValues = new Float64Array(m);
    this.cells = new Int32Array(m);
    this.cellStarts = new Int32Array(stratified ? 0 : bspline.numberOfControlPoints + 1);
    this.stratified = stratified
      ? {
          seed: seed >>> 0,
          number: sharedFloat64(1),
          origin: Array.from(image.origin),
          M: shared ? shareArray(Float64Array.from(this.M)) : Float64Array.from(this.M),
          voxels: this.maskVoxels && shared ? shareArray(this.maskVoxels) : this.maskVoxels,
          mask: mask ? { ...mask, size: [...mask.size], origin: [...mask.origin], spacing: [...mask.spacing], direction: [...mask.direction], data: shared ? shareArray(mask.data) : mask.data } : null,
          maskN: this.maskN,
        }
      : null;
    if (stratified) this.drawn = count;
  }

  /** Draws the next samples (one stream: sorted by cell) and their B-spline supports into bases and weights. */
  draw(bspline: BSplineTransform, bases: Int32Array, weights: Float32Array, finishInBlocks = false): void {
    if (this.stratified) {
      // the next draw number; the kernel's phase 2 draws (the cost runs it)
      this.stratified.number[0]++;
      return;
    }
    const { image, plane, M, random } = this;
    const d = image.dimension;
    const [nx, ny] = image.size;
    const nz = d === 3 ? image.size[2] : 1;
    const o = image.origin;
    const pts = this.drawnPoints;
    const vals = this.drawnValues;
    const ci = this.drawnIndex;
    const m = this.samples.count;
    const p = this.point;
    const mask = this.mask;
    const defer = this.deferValues;
    const inMask = this.maskVoxels;
    const nInMask = inMask ? inMask.length : 0;
    let j = 0;
    for (let tries = 0; j < m && tries < 50 * m && (inMask === null || nInMask > 0); tries++) {
      let cx: number;
      let cy: number;
      let cz = 0;
      if (inMask) {
        // A random voxel of the mask, then a random position inside it.
        const v = inMask[Math.min(nInMask - 1, Math.floor(random() * nInMask))];
        cx = (v % nx) + random() - 0.5;
        cy = (Math.floor(v / nx) % ny) + random() - 0.5;
        if (d === 3) cz = Math.floor(v / (nx * ny)) + random() - 0.5;
      } else {
        cx = random() * nx - 0.5;
        cy = random() * ny - 0.5;
        if (d === 3) cz = random() * nz - 0.5;
      }
      if (d === 2) {
        p[0] = o[0] + M[0] * cx + M[1] * cy;
        p[1] = o[1] + M[2] * cx + M[3] * cy;
      } else {
        p[0] = o[0] + M[0] * cx + M[1] * cy + M[2] * cz;
        p[1] = o[1] + M[3] * cx + M[4] * cy + M[5] * cz;
        p[2] = o[2] + M[6] * cx + M[7] * cy + M[8] * cz;
      }
      if (mask && !maskAt(mask, this.maskN!, p)) continue;
      if (!defer) {
        const v = d === 2 ? linear2d(plane, nx, ny, cx, cy) : linear3d(plane, nx, ny, nz, cx, cy, cz);
        if (v !== v) continue;
        vals[j] = v;
      }
      ci[d * j] = cx;
      ci[d * j + 1] = cy;
      pts[d * j] = p[0];
      pts[d * j + 1] = p[1];
      if (d === 3) {
        ci[3 * j + 2] = cz;
        pts[3 * j + 2] = p[2];
      }
      j++;
    }
    // Too few found (a nearly empty mask): repeat the found ones so every array entry is valid.
    for (let k = j; k < m && j > 0; k++) {
      for (let a = 0; a < d; a++) {
        pts[k * d + a] = pts[(k % j) * d + a];
        ci[k * d + a] = ci[(k % j) * d + a];
      }
      vals[k] = vals[k % j];
    }
    this.drawn = j;
    bsplineSupportBases(bspline, pts, m, this.cells);
    sortByCell(d, m, this.cells, this.cellStarts, pts, ci, defer ? null : vals, this.samples.points, this.index, this.samples.values);
    // the supports and deferred fixed values of the sorted samples: here, or by the cost's kernel (phase 2)
    if (finishInBlocks) return;
    bsplineSupports(bspline, this.samples.points, m, bases, weights);
    if (defer) this.interpolateValues();
  }

  /** Fixed values at the (sorted) samples. */
  private interpolateValues(): void {
    const image = this.image;
    const [nx, ny] = image.size;
    const plane = this.plane;
    const ci = this.index;
    const vals = this.samples.values;
    const m = this.samples.count;
    if (image.dimension === 2) {
      for (let i = 0; i < m; i++) vals[i] = linear2d(plane, nx, ny, ci[2 * i], ci[2 * i + 1]);
    } else {
      const nz = image.size[2];
      for (let i = 0; i < m; i++) vals[i] = linear3d(plane, nx, ny, nz, ci[3 * i], ci[3 * i + 1], ci[3 * i + 2]);
    }
  }
}

/**
 * Stable counting sort of m samples by cell (−1 first): points and continuous indices (d per sample) and values
 * (when given) from the drawn arrays into the sorted ones.
 */
function sortByCell(
  d: number,
  m: number,
  cells: Int32Array,
  starts: Int32Array,
  points: Float64Array,
  ci: Float64Array,
  values: Float64Array | null,
  pointsOut: Float64Array,
  ciOut: Float64Array,
  valuesOut: Float64Array,
): void {
  starts.fill(0);
  for (let i = 0; i < m; i++) starts[cells[i] + 1]++;
  let sum = 0;
  for (let b = 0; b < starts.length; b++) {
    const n = starts[b];
    starts[b] = sum;
    sum += n;
  }
  for (let i = 0; i < m; i++) {
    const q = starts[cells[i] + 1]++;
    for (let a = 0; a < d; a++) {
      pointsOut[q * d + a] = points[i * d + a];
      ciOut[q * d + a] = ci[i * d + a];
    }
    if (values) valuesOut[q] = values[i];
  }
}

function allFinite(a: Float32Array | Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

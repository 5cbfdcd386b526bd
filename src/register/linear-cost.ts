/**
 * The cost of a linear (matrix–offset) transform over a fixed sample set: the chain rule
 * ∂cost/∂p = Σ_i ∂cost/∂m_i · ∇M(T(x_i)) · ∂T(x_i)/∂p, evaluated in one pass that returns value and gradient.
 *
 * Every transform here has a Jacobian that is affine in the point, J(x) = J(0) + Σ_j x_j (J(e_j) − J(0)), so the
 * per-sample work is d·(d+1) multiply–adds into a small moment matrix G = Σ_i v_i [x_i; 1]ᵀ (v_i = ∂cost/∂m_i ∇M),
 * contracted with the transform's Jacobian at d+1 points once per evaluation.
 *
 * The hot loops (`sampleMovingLinear*`) are plain functions over typed arrays with no allocation per sample.
 */
import type { Image } from '../image/image.js';
import { physicalToIndexMatrix } from '../image/image.js';
import { METRICS, type MetricOptions, type MetricState, type SampledMetric } from '../metric/index.js';
import { lnccDense, type LnccWorkspace } from '../metric/lncc.js';
import type { CostFunction } from '../optimize/types.js';
import type { LinearTransform, ParametricTransform } from '../transform/transform.js';
import type { SampleSet } from './sampling.js';
import { BlockedMetric, linearKernel, sampleMovingLinearRange, type LinearKernelInit, type MovingSampler } from './sample-kernels.js';
import { serialSession, shareArray, sharedFloat64, TEAM_MIN_SAMPLES, type BlockKernel, type BlockSession, type ParallelFor } from './parallel-for.js';
export { packMovingSample2d, packMovingSample3d, prepareMovingSampler, type MovingSampler } from './sample-kernels.js';
import type { MetricName } from './config.js';
import { releaseArena } from '../wasm/kernels.js';
import { placeSamples } from './wasm-measure.js';
import { CoregError } from '../errors.js';

/**
 * Samples the moving image at T(x_i) = A x_i + t for all samples: writes values m_i and PHYSICAL gradients g_i
 * (n×d) and returns the number of valid samples; invalid samples (outside the moving image or its mask) are
 * dropped by packing the valid ones to the front (`index` maps packed → original sample).
 */
export function sampleMovingLinear(
  s: MovingSampler,
  A: Float64Array,
  t: Float64Array,
  points: Float64Array,
  count: number,
  outValues: Float64Array,
  outGrad: Float64Array,
  outIndex: Int32Array,
  movingMask: Image | null,
  movingMaskN: Float64Array | null,
): number {
  return sampleMovingLinearRange(s, A, t, points, 0, count, outValues, outGrad, outIndex, movingMask, movingMaskN, new Float64Array(6));
}

/**
 * G (d × (d+1), row-major) += Σ_k w_k g_k [x_k; 1]ᵀ over packed samples k in [0, n), with w_k = ∂cost/∂m_k.
 */
export function accumulateMoments(
  d: number,
  n: number,
  dValue: Float64Array,
  grad: Float64Array,
  index: Int32Array,
  points: Float64Array,
  G: Float64Array,
): void {
  const w = d + 1;
  G.fill(0);
  for (let k = 0; k < n; k++) {
    const s = dValue[k];
    if (s === 0) continue;
    const i = index[k];
    for (let r = 0; r < d; r++) {
      const v = s * grad[k * d + r];
      for (let col = 0; col < d; col++) G[r * w + col] += v * points[i * d + col];
      G[r * w + d] += v;
    }
  }
}

/** Minimum fraction of samples that must map inside the moving image before the cost is declared undefined. */
const MIN_VALID_FRACTION = 0.01;

/** Throws when too few of the `tried` samples map inside the moving image for the cost to mean anything. */
export function checkOverlap(valid: number, tried: number): void {
  if (valid < Math.max(2, MIN_VALID_FRACTION * tried)) {
    throw new CoregError('registration', `only ${valid} of ${tried} samples map inside the moving image: the images do not overlap (try --initial or another initializer)`);
  }
}

export interface SampledCostOptions {
  metric: MetricName;
  metricOptions: MetricOptions;
  /** lncc window radius in voxels. */
  radius?: number;
  /** For lncc: the fixed grid's size (the samples' `voxels` index into it). */
  gridSize?: number[];
  movingMask?: Image;
}

/**
 * The metric part shared by every transform model: given the packed valid samples (moving values and the index
 * of each in the sample set), the cost and ∂cost/∂m_k. lncc scatters the samples back onto the fixed grid.
 */
export class SampleMetricEvaluator {
  readonly values: Float64Array;
  readonly grads: Float64Array;
  readonly index: Int32Array;
  readonly dValue: Float64Array;
  private readonly fixedPacked: Float64Array;
  private readonly metric: SampledMetric<MetricState> | null;
  private readonly state: MetricState | null;
  private readonly samples: SampleSet;
  private readonly opts: SampledCostOptions;
  private lnccFixed: Float32Array | null = null;
  private lnccMoving: Float32Array | null = null;
  private lnccMask: Uint8Array | null = null;
  private lnccDerivative: Float64Array | null = null;
  private readonly lnccWorkspace: LnccWorkspace = { buffers: [] };

  constructor(samples: SampleSet, opts: SampledCostOptions) {
    this.samples = samples;
    this.opts = opts;
    const n = samples.count;
    if (opts.metric === 'lncc') {
      if (!opts.gridSize) throw new Error('lncc needs the fixed grid size');
      this.metric = null;
      this.state = null;
    } else {
      this.metric = METRICS[opts.metric] as SampledMetric<MetricState>;
      this.state = this.metric.createState(opts.metricOptions);
    }
    this.values = new Float64Array(n);
    this.fixedPacked = new Float64Array(n);
    this.grads = new Float64Array(n * samples.dimension);
    this.index = new Int32Array(n);
    this.dValue = new Float64Array(n);
  }

  /** Cost over the first `valid` packed samples (of `tried`); fills dValue. Throws when too few samples overlap. */
  evaluate(valid: number, tried = this.samples.count): number {
    checkOverlap(valid, tried);
    if (this.opts.metric === 'lncc') return this.evaluateLncc(valid);
    const f = this.fixedPacked;
    const fixedValues = this.samples.values;
    for (let k = 0; k < valid; k++) f[k] = fixedValues[this.index[k]];
    const metric = this.metric!;
    const state = this.state!;
    metric.reset(state);
    metric.accumulate(state, f, this.values, null, 0, valid);
    const value = metric.finalize(state);
    metric.derivative(state, f, this.values, null, 0, valid, this.dValue);
    return value;
  }

  private evaluateLncc(valid: number): number {
    const size = this.opts.gridSize!;
    const total = size.reduce((a, b) => a * b, 1);
    const voxels = this.samples.voxels;
    if (!this.lnccFixed) {
      this.lnccFixed = new Float32Array(total);
      for (let s = 0; s < this.samples.count; s++) this.lnccFixed[voxels[s]] = this.samples.values[s];
      this.lnccMoving = new Float32Array(total);
      this.lnccMask = new Uint8Array(total);
      this.lnccDerivative = new Float64Array(total);
    }
    const m = this.lnccMoving!;
    const mask = this.lnccMask!;
    mask.fill(0);
    m.fill(0);
    for (let k = 0; k < valid; k++) {
      const v = voxels[this.index[k]];
      m[v] = this.values[k];
      mask[v] = 1;
    }
    const value = lnccDense(this.lnccFixed, m, mask, size, this.opts.radius ?? 2, this.lnccDerivative, this.lnccWorkspace);
    for (let k = 0; k < valid; k++) this.dValue[k] = this.lnccDerivative![voxels[this.index[k]]];
    return value;
  }
}

/** CostFunction (ITK v4 style: the optimiser only sees parameter vectors) for a linear transform. */
export class LinearRegistrationCost implements CostFunction {
  readonly transform: ParametricTransform & LinearTransform;
  private readonly samples: SampleSet;
  private readonly sampler: MovingSampler;
  /** lncc (a dense measure): one pass in this thread. */
  private readonly evaluator: SampleMetricEvaluator | null;
  /** Every other measure: per-block kernels (parallel-for.ts), run by `session`. */
  private readonly blocked: BlockedMetric | null;
  private readonly kernelInit: LinearKernelInit | null;
  /** The WebAssembly kernels' arena and what the cost placed in it (null: TypeScript kernels). */
  private placed: ReturnType<typeof placeSamples> = null;
  /** This thread's kernel, built on first use (with a team: while the helpers build theirs). */
  private local: ReturnType<typeof linearKernel> | null = null;
  /** Phases that run this thread's kernel (building it first). */
  private readonly forward: BlockKernel[] | null;
  private session: BlockSession | null = null;
  private readonly G: Float64Array;
  private readonly jacobianBasis: Float64Array[];
  private readonly movingMask: Image | null;
  private readonly maskN: Float64Array | null;
  /** Valid samples in the last evaluation. */
  lastValidCount = 0;
  evaluations = 0;

  constructor(transform: ParametricTransform & LinearTransform, samples: SampleSet, sampler: MovingSampler, opts: SampledCostOptions) {
    this.transform = transform;
    this.samples = samples;
    this.sampler = sampler;
    const d = samples.dimension;
    const P = transform.numberOfParameters;
    this.G = new Float64Array(d * (d + 1));
    this.jacobianBasis = [];
    for (let j = 0; j <= d; j++) this.jacobianBasis.push(new Float64Array(d * P));
    this.movingMask = opts.movingMask ?? null;
    this.maskN = opts.movingMask ? physicalToIndexMatrix(opts.movingMask) : null;
    if (opts.metric === 'lncc') {
      this.evaluator = new SampleMetricEvaluator(samples, opts);
      this.blocked = null;
      this.kernelInit = null;
      this.forward = null;
    } else {
      this.evaluator = null;
      // The WebAssembly kernels' data (the moving plane, the samples, the packed samples) in a shared arena, once
      // (wasm-measure.ts); without it (a B-spline sampler, a moving mask, few samples, wasm off) TypeScript kernels.
      const points = shareArray(samples.points);
      const fixed = shareArray(samples.values);
      this.placed = sampler.kind === 'linear' && !this.movingMask ? placeSamples(d, samples.count, sampler.plane, { points, fixed }) : null;
      const blocked = new BlockedMetric(d, samples.count, sampler, points, fixed, this.movingMask, opts.metric, opts.metricOptions, undefined, this.placed?.packed);
      this.blocked = blocked;
      this.kernelInit = {
        ...blocked.init,
        params: sharedFloat64(d * d + d + 1),
        moments: sharedFloat64(blocked.blocks * d * (d + 1)),
        wasm: this.placed?.wasm ?? null,
      };
      this.forward = [(b) => this.localKernel()[0](b), (b) => this.localKernel()[1](b)];
      this.session = serialSession(this.forward);
    }
  }

  /**
   * Runs the per-sample work on `team` (its threads share the blocks; results do not change) until close().
   * Without a team, with one thread, for fewer than TEAM_MIN_SAMPLES samples, or for lncc: everything in this thread.
   */
  async useThreads(team: ParallelFor | undefined): Promise<void> {
    if (!team || team.threads < 2 || !this.kernelInit || this.samples.count < TEAM_MIN_SAMPLES) return;
    // open() posts the helpers' kernel to them at once: this thread builds its own (a module instance over the arena
    // the constructor filled) while they build theirs, and starts evaluating without waiting for them (late: they
    // join the evaluations as soon as their kernels are built)
    const opening = team.open('register.linear', this.kernelInit, this.forward!, { late: true });
    try {
      this.localKernel();
    } catch (err) {
      (await opening).close();
      throw err;
    }
    const session = await opening;
    this.session?.close();
    this.session = session;
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

  private localKernel(): ReturnType<typeof linearKernel> {
    if (!this.local && this.disposed) throw new Error('the cost was disposed');
    return (this.local ??= linearKernel(this.kernelInit!));
  }

  /** Releases the team's threads (the cost keeps working in this thread). */
  close(): void {
    if (!this.forward) return;
    this.session?.close();
    this.session = serialSession(this.forward);
  }

  /** J(0) and J(e_j) − J(0) at the current parameters (rotation Jacobians depend on the angles). */
  private refreshJacobianBasis(): void {
    const d = this.samples.dimension;
    const x = new Float64Array(d);
    const J0 = this.jacobianBasis[0];
    this.transform.jacobian(x, J0);
    for (let j = 0; j < d; j++) {
      x.fill(0);
      x[j] = 1;
      const Jj = this.jacobianBasis[j + 1];
      this.transform.jacobian(x, Jj);
      for (let k = 0; k < Jj.length; k++) Jj[k] -= J0[k];
    }
  }

  evaluate(params: Float64Array, gradient: Float64Array): number {
    // (its arena, released, may hold another cost's data by now)
    if (this.disposed) throw new Error('the cost was disposed');
    this.evaluations++;
    const t = this.transform;
    t.setParameters(params);
    const d = this.samples.dimension;
    const G = this.G;
    const w = d + 1;
    let value: number;
    if (this.blocked) {
      const init = this.kernelInit!;
      init.params.set(t.matrix(), 0);
      init.params.set(t.offset(), d * d);
      init.params[d * d + d] = this.evaluations;
      const session = this.session!;
      const blocks = this.blocked.blocks;
      session.run(0, blocks, true);
      let valid = 0;
      for (let b = 0; b < blocks; b++) valid += init.validCounts[b];
      this.lastValidCount = valid;
      checkOverlap(valid, this.samples.count);
      value = this.blocked.finish();
      session.run(1, blocks, true);
      // the blocks' moment matrices, summed in block order
      G.fill(0);
      const dw = d * w;
      const M = init.moments;
      for (let b = 0; b < blocks; b++) for (let k = 0; k < dw; k++) G[k] += M[b * dw + k];
    } else {
      const e = this.evaluator!;
      const valid = sampleMovingLinear(this.sampler, t.matrix(), t.offset(), this.samples.points, this.samples.count, e.values, e.grads, e.index, this.movingMask, this.maskN);
      this.lastValidCount = valid;
      value = e.evaluate(valid);
      accumulateMoments(d, valid, e.dValue, e.grads, e.index, this.samples.points, G);
    }
    this.refreshJacobianBasis();
    const P = t.numberOfParameters;
    gradient.fill(0);
    // Σ_k v_kᵀ J(x_k) = (Σ v_k)ᵀ J(0) + Σ_j (Σ_k x_kj v_k)ᵀ (J(e_j) − J(0))
    for (let r = 0; r < d; r++) {
      const J0 = this.jacobianBasis[0];
      const vsum = G[r * w + d];
      for (let p = 0; p < P; p++) gradient[p] += vsum * J0[r * P + p];
      for (let j = 0; j < d; j++) {
        const Jj = this.jacobianBasis[j + 1];
        const gx = G[r * w + j];
        if (gx === 0) continue;
        for (let p = 0; p < P; p++) gradient[p] += gx * Jj[r * P + p];
      }
    }
    return value;
  }
}

/**
 * What the linear and the B-spline WebAssembly block kernels (wasm-linear.ts, wasm-bspline.ts) share: where their
 * data lives (a shared arena: placeSamples) and the measure's per-block work (the Mattes histogram in the module,
 * other measures in TypeScript over the packed samples, which are the same arrays). Called per block, never per
 * sample.
 */
import type { Image } from '../image/image.js';
import type { Plane } from '../interpolate/index.js';
import { METRICS, type MetricOptions, type MetricState, type SampledMetric, type SampledMetricName } from '../metric/index.js';
import type { HistogramState } from '../metric/histogram.js';
import { KernelArena, wasmArena, wasmKernelsAvailable, type KernelExports } from '../wasm/kernels.js';
import type { KernelPhases } from './parallel-for.js';
import { isHistogramMetric } from './preset.js';

/**
 * The kernel data a creator placed in a shared arena (SampleBlocksInit.wasm): views into `memory`, whose byte
 * offsets are the module's pointers. The packed samples (values, grads, index, fixedPacked, dValue) of an init with
 * a placement are views into the same memory too.
 */
export interface WasmPlacement {
  memory: WebAssembly.Memory;
  /** The arena's epoch when placed: a kernel built after its reset (a late helper of an ended session) backs off. */
  epoch: number;
  /** The moving plane (a copy of the sampler's). */
  plane: Float32Array | Float64Array;
  /** Sample points and fixed values: copies of the init's (linear), or written per block (B-spline, per evaluation). */
  points: Float64Array;
  fixed: Float64Array;
  /** B-spline kernels: per sample, the first supporting control point and the 12 separable weights. */
  bases?: Int32Array;
  weights?: Float32Array;
}

/** The packed samples' arrays (SampleBlocksInit), all in the arena. */
export interface PackedArrays {
  values: Float64Array;
  grads: Float64Array;
  index: Int32Array;
  fixedPacked: Float64Array;
  dValue: Float64Array;
}

/**
 * For the thread that creates a kernel's data: an arena (released by the creator when the kernel's last session has
 * ended: releaseArena) with a copy of `plane`, sample arrays for `count` samples (copies of `points` and `fixed`
 * when given; else B-spline kernels fill them per block, and the cost draws the `supports` into them) and the packed
 * samples' arrays. All are written before they are read (a reused arena is not zeroed).
 * Null where the WebAssembly kernels do not run (off, unavailable, fewer than WASM_MIN_SAMPLES samples unless
 * `always`); the kernels are then the TypeScript ones over ordinary shared arrays.
 */
export function placeSamples(
  dimension: 2 | 3,
  count: number,
  plane: Plane,
  source: { points: Float64Array; fixed: Float64Array } | null,
  options: { supports?: boolean; always?: boolean } = {},
): { arena: KernelArena; wasm: WasmPlacement; packed: PackedArrays } | null {
  const arena = wasmArena(options.always ? Infinity : count);
  if (!arena) return null;
  const d = dimension;
  const f32 = plane instanceof Float32Array;
  const pPlane = arena.alloc(plane.byteLength);
  const pPoints = arena.alloc(8 * d * count);
  const pFixed = arena.alloc(8 * count);
  const pBases = options.supports ? arena.alloc(4 * count) : 0;
  const pWeights = options.supports ? arena.alloc(4 * 4 * d * count) : 0;
  const pValues = arena.alloc(8 * count);
  const pGrads = arena.alloc(8 * d * count);
  const pIndex = arena.alloc(4 * count);
  const pFixedPacked = arena.alloc(8 * count);
  const pDValue = arena.alloc(8 * count);
  if (arena.failed) return null;
  const wasm: WasmPlacement = {
    memory: arena.memory,
    epoch: arena.epoch,
    plane: f32 ? arena.f32(pPlane, plane.length) : arena.f64(pPlane, plane.length),
    points: arena.f64(pPoints, d * count),
    fixed: arena.f64(pFixed, count),
  };
  if (options.supports) {
    wasm.bases = arena.i32(pBases, count);
    wasm.weights = arena.f32(pWeights, 4 * d * count);
  }
  (wasm.plane as Float32Array).set(plane as Float32Array);
  if (source) {
    wasm.points.set(source.points.subarray(0, d * count));
    wasm.fixed.set(source.fixed.subarray(0, count));
  }
  const packed: PackedArrays = {
    values: arena.f64(pValues, count),
    grads: arena.f64(pGrads, d * count),
    index: arena.i32(pIndex, count),
    fixedPacked: arena.f64(pFixedPacked, count),
    dValue: arena.f64(pDValue, count),
  };
  return { arena, wasm, packed };
}

/** The fields both kernels' inits have (sample-kernels.ts: LinearKernelInit, BSplineKernelInit). */
export interface WasmBlockInit {
  dimension: 2 | 3;
  count: number;
  blockSize: number;
  sampler: { kind: 'linear' | 'bspline'; size: number[]; origin: number[]; N: Float64Array; plane: Plane };
  points: Float64Array;
  fixed: Float64Array;
  mask: Image | null;
  metric: SampledMetricName;
  metricOptions: MetricOptions;
  values: Float64Array;
  grads: Float64Array;
  index: Int32Array;
  fixedPacked: Float64Array;
  dValue: Float64Array;
  validCounts: Int32Array;
  partials: Float64Array;
  coefficients: Float64Array;
  /** Where the creator placed the data for the WebAssembly kernels; absent: the TypeScript kernels run. */
  wasm?: WasmPlacement | null;
}

/**
 * A kernel's module instance over its init's arena, with `make` building the rest (its own regions), or null where
 * the WebAssembly kernels do not run in this thread; when the arena was reset since (the kernel of an ended
 * session, which never runs), phases that throw.
 */
export function buildOverArena(init: WasmBlockInit, make: (arena: KernelArena, k: KernelExports) => KernelPhases | null): KernelPhases | null {
  const placed = init.wasm;
  if (!placed || !wasmKernelsAvailable()) return null;
  const arena = KernelArena.attach(placed.memory);
  const built = arena.build(placed.epoch, () => {
    const k = arena.instance();
    const kernel = k ? make(arena, k) : null;
    return arena.failed ? null : kernel;
  });
  return built === null && arena.epoch !== placed.epoch ? endedKernel() : built;
}

/** A kernel of a session that has ended (its arena was reset): it must never run. */
function endedKernel(): KernelPhases {
  const fail = (): void => {
    throw new Error('a WebAssembly kernel of an ended session ran');
  };
  return [fail, fail, fail, fail, fail, fail];
}

/** Byte offsets of the packed samples' arrays (views into the arena). */
export interface PackedPointers {
  values: number;
  grads: number;
  index: number;
  fixedPacked: number;
  dValue: number;
}

export function packedPointers(init: WasmBlockInit): PackedPointers {
  return { values: init.values.byteOffset, grads: init.grads.byteOffset, index: init.index.byteOffset, fixedPacked: init.fixedPacked.byteOffset, dValue: init.dValue.byteOffset };
}

/** The measure of one kernel: allocate with the kernel's regions, `bind` after its last alloc, then per block. */
export class WasmMeasure {
  readonly histogram: boolean;
  private readonly metric: SampledMetric<MetricState>;
  private readonly state: MetricState;
  private readonly sums: Float64Array;
  private readonly L: number;
  private readonly B: number;
  private readonly pHist: number;
  private readonly pSums: number;
  private readonly pTable: number;
  private readonly p: PackedPointers;
  private wSums: Float64Array = new Float64Array(0);
  private table: Float64Array = new Float64Array(0);
  private tableStamp = NaN;

  constructor(
    private readonly arena: KernelArena,
    private readonly k: KernelExports,
    private readonly init: WasmBlockInit,
  ) {
    this.metric = METRICS[init.metric] as SampledMetric<MetricState>;
    this.state = this.metric.createState(init.metricOptions);
    this.histogram = isHistogramMetric(init.metric);
    this.sums = (this.state as MetricState & { sums: Float64Array }).sums;
    this.L = this.sums.length;
    this.B = this.histogram ? (this.state as HistogramState).bins : 0;
    this.pHist = arena.zeroed(8 * 4);
    this.pSums = arena.zeroed(8 * this.L);
    this.pTable = arena.zeroed(8 * Math.max(1, this.B * this.B));
    this.p = packedPointers(init);
  }

  /** Its regions' contents (once the kernel's allocations are done). */
  bind(): void {
    const { arena } = this;
    if (this.histogram) {
      const h = this.state as HistogramState;
      arena.f64(this.pHist, 4).set([h.fixedMin, h.fixedScale, h.movingMin, h.movingScale]);
    }
    this.wSums = arena.f64(this.pSums, this.L);
    this.table = arena.f64(this.pTable, Math.max(1, this.B * this.B));
  }

  /** Phase 0: the partial sums of packed samples [start, valid) into block b's slot of `partials`. */
  accumulate(b: number, start: number, valid: number): void {
    const { init, L } = this;
    if (this.histogram) {
      this.wSums.fill(0);
      this.k.histogramAccumulate(this.B, this.pHist, this.p.fixedPacked, this.p.values, start, valid, this.pSums);
      init.partials.set(this.wSums, b * L);
    } else {
      this.metric.reset(this.state);
      this.metric.accumulate(this.state, init.fixedPacked, init.values, null, start, valid);
      init.partials.set(this.sums, b * L);
    }
  }

  /** Phase 1: ∂cost/∂m of packed samples [start, end) into dValue. */
  derivative(start: number, end: number, stamp: number): void {
    const { init } = this;
    if (this.histogram) {
      if (!(this.tableStamp === stamp)) this.table.set(init.coefficients);
      this.tableStamp = stamp;
      this.k.histogramDerivative(this.B, this.pHist, this.pTable, this.p.fixedPacked, this.p.values, start, end, this.p.dValue);
    } else {
      const s = this.state as MetricState & { table?: Float64Array; coef?: Float64Array };
      (s.table ?? s.coef!).set(init.coefficients);
      this.metric.derivative(this.state, init.fixedPacked, init.values, null, start, end, init.dValue);
    }
  }
}

/**
 * Both kernels' two phases around their measure: phase 0 samples block b (`sample(b, start, end)` returns the end
 * of its valid packed samples) and accumulates them into the block's sums; phase 1 takes ∂cost/∂m of those samples
 * (the evaluation's `stamp()`) and then the kernel's own `after(b, start, end)` (moments, or the scatter to the
 * control points). After `release` the phases throw.
 */
export function measuredPhases(
  init: WasmBlockInit,
  measure: WasmMeasure,
  stamp: () => number,
  sample: (b: number, start: number, end: number) => number,
  after: (b: number, start: number, end: number) => void,
): KernelPhases {
  const { blockSize, count: n, validCounts } = init;
  let released = false;
  const alive = (): void => {
    if (released) throw new Error('a WebAssembly kernel ran after its release');
  };
  const phases = [
    (b: number) => {
      alive();
      const start = b * blockSize;
      const valid = sample(b, start, Math.min(n, start + blockSize));
      validCounts[b] = valid - start;
      measure.accumulate(b, start, valid);
    },
    (b: number) => {
      alive();
      const start = b * blockSize;
      const end = start + validCounts[b];
      measure.derivative(start, end, stamp());
      after(b, start, end);
    },
  ];
  return Object.assign(phases, {
    release: (): void => {
      released = true;
    },
  });
}

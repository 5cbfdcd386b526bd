/**
 * What the linear and the B-spline WebAssembly block kernels (wasm-linear.ts, wasm-bspline.ts) share: the
 * measure's per-block work (the Mattes histogram in the module, other measures in TypeScript over the packed
 * samples) and the copies of a block's packed samples between the module and the kernel's shared arrays.
 * Called per block, never per sample.
 */
import type { Image } from '../image/image.js';
import type { Plane } from '../interpolate/index.js';
import { METRICS, type MetricOptions, type MetricState, type SampledMetric, type SampledMetricName } from '../metric/index.js';
import type { HistogramState } from '../metric/histogram.js';
import type { WasmKernels } from '../wasm/kernels.js';

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
}

const HISTOGRAM = new Set<SampledMetricName>(['mi', 'nmi', 'jointEntropy']);

/** A block's packed samples in the module (views made after the kernel's last alloc) and their pointers. */
export interface PackedViews {
  values: Float64Array;
  grads: Float64Array;
  index: Int32Array;
  fixedPacked: Float64Array;
  dValue: Float64Array;
  pValues: number;
  pFixedPacked: number;
  pDValue: number;
}

/** The measure of one kernel: allocate with the kernel's buffers, `bind` after its last alloc, then per block. */
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
  private wSums: Float64Array = new Float64Array(0);
  private table: Float64Array = new Float64Array(0);
  private tableStamp = NaN;

  constructor(
    private readonly w: WasmKernels,
    private readonly init: WasmBlockInit,
  ) {
    this.metric = METRICS[init.metric] as SampledMetric<MetricState>;
    this.state = this.metric.createState(init.metricOptions);
    this.histogram = HISTOGRAM.has(init.metric);
    this.sums = (this.state as MetricState & { sums: Float64Array }).sums;
    this.L = this.sums.length;
    this.B = this.histogram ? (this.state as HistogramState).bins : 0;
    this.pHist = w.alloc(8 * 4);
    this.pSums = w.alloc(8 * this.L);
    this.pTable = w.alloc(8 * Math.max(1, this.B * this.B));
  }

  /** Views into the module, once every buffer of the kernel is allocated (growing the memory detaches them). */
  bind(): void {
    const { w } = this;
    if (this.histogram) {
      const h = this.state as HistogramState;
      w.f64(this.pHist, 4).set([h.fixedMin, h.fixedScale, h.movingMin, h.movingScale]);
    }
    this.wSums = w.f64(this.pSums, this.L);
    this.table = w.f64(this.pTable, Math.max(1, this.B * this.B));
  }

  /** Phase 0: the partial sums of packed samples [start, valid) into block b's slot of `partials`. */
  accumulate(p: PackedViews, b: number, start: number, valid: number): void {
    const { init, L } = this;
    if (this.histogram) {
      this.wSums.fill(0);
      this.w.k.histogramAccumulate(this.B, this.pHist, p.pFixedPacked, p.pValues, start, valid, this.pSums);
      init.partials.set(this.wSums, b * L);
    } else {
      this.metric.reset(this.state);
      this.metric.accumulate(this.state, init.fixedPacked, init.values, null, start, valid);
      init.partials.set(this.sums, b * L);
    }
  }

  /** Phase 1: ∂cost/∂m of packed samples [start, end), in the module and in the shared dValue. */
  derivative(p: PackedViews, start: number, end: number, stamp: number): void {
    const { init } = this;
    if (this.histogram) {
      if (!(this.tableStamp === stamp)) this.table.set(init.coefficients);
      this.tableStamp = stamp;
      this.w.k.histogramDerivative(this.B, this.pHist, this.pTable, p.pFixedPacked, p.pValues, start, end, p.pDValue);
      init.dValue.set(p.dValue.subarray(start, end), start);
    } else {
      const s = this.state as MetricState & { table?: Float64Array; coef?: Float64Array };
      (s.table ?? s.coef!).set(init.coefficients);
      this.metric.derivative(this.state, init.fixedPacked, init.values, null, start, end, init.dValue);
      p.dValue.set(init.dValue.subarray(start, end), start);
    }
  }
}

/** Packed samples [start, end) from the module to the shared arrays (for another thread's phase 1). */
export function publishPacked(init: WasmBlockInit, p: PackedViews, d: number, start: number, end: number): void {
  init.values.set(p.values.subarray(start, end), start);
  init.grads.set(p.grads.subarray(d * start, d * end), d * start);
  init.index.set(p.index.subarray(start, end), start);
  init.fixedPacked.set(p.fixedPacked.subarray(start, end), start);
}

/** Packed samples [start, end) from the shared arrays into the module (another thread ran the block's phase 0). */
export function restorePacked(init: WasmBlockInit, p: PackedViews, d: number, start: number, end: number): void {
  p.values.set(init.values.subarray(start, end), start);
  p.grads.set(init.grads.subarray(d * start, d * end), d * start);
  p.index.set(init.index.subarray(start, end), start);
  p.fixedPacked.set(init.fixedPacked.subarray(start, end), start);
}

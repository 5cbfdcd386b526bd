/**
 * Whole-image statistics on a team of threads (parallel-for.ts): what register computes of its inputs before the
 * first level (the value checks, the modality guess's quantiles, Otsu's split and the foreground centre of the
 * initializer) and of each level (the winsorising quantiles), as passes over blocks of values that any thread may
 * do. Every result is exact (min/max, integer counts, values picked by rank) except the foreground centre, whose
 * sums are made per block and merged in block order; blocks depend on the array's length only, so every result is
 * the same for any number of threads (also without a team: the same kernels in this thread).
 *
 * Quantiles are those of intensity.ts's `quantiles` (nearest rank over the finite values at a stride), found
 * without sorting in one thread: a histogram of HIST_BINS bins between the subset's min and max (per block, merged)
 * says which bin holds each wanted rank; the blocks copy that bin's values out, and only those are searched. The
 * bin of a value is monotone in the value, so the k-th smallest of the subset is the (k − values in lower bins)-th
 * smallest of its bin: the same number `quantiles` returns.
 */
import type { PixelArray } from '../image/image.js';
import { OTSU_BINS, integralStride, otsuFromHistogram, otsuStride, quantileRank, quantileStride, selectRank, type ForegroundLevels } from '../image/intensity.js';
import { foregroundSums3d } from '../transform/initialize.js';
import type { ValueRange } from './check-images.js';
import { serialSession, sharedFloat64, sharedInt32, type BlockKernel, type BlockSession, type ParallelFor } from './parallel-for.js';

/** Bins of the quantile histogram. */
const HIST_BINS = 2048;
/** Numbers per block in `range`. */
const RANGE_SLOTS = 7;

export interface StatsKernelInit {
  /** The arrays (on shared memory for a team). */
  arrays: PixelArray[];
  /** Per array: its 3D image size (for the foreground sums), or null. */
  sizes: (number[] | null)[];
  /** Per block: its array and its values [start, end). */
  blockArray: Int32Array;
  blockStart: Int32Array;
  blockEnd: Int32Array;
  /** Gathered bins per array at most. */
  G: number;
  /** Per block: finite min, max, 1 if any value is not finite, subset count, subset min, subset max, 1 if integral. */
  range: Float64Array;
  /** Per array: lo, scale, active (1) of the quantile histogram. */
  histParams: Float64Array;
  /** Per block: HIST_BINS counts. */
  hist: Int32Array;
  /**
   * Per array: G bins to gather (−1: none); per block: G offsets into `gathered`; per block and bin: min, max, and
   * how many values equal the subset's min (a bin of background zeros need not be searched).
   */
  gatherBins: Int32Array;
  gatherOffsets: Int32Array;
  gathered: Float64Array;
  gatherRange: Float64Array;
  gatherLow: Int32Array;
  /** Per array: lo, scale, active (1) of Otsu's histogram; per block: OTSU_BINS counts. */
  otsuParams: Float64Array;
  otsuHist: Int32Array;
  /** Per array: background, scale, active (1) of the foreground weights; per block: 4 sums (foregroundSums3d). */
  fgParams: Float64Array;
  fgSums: Float64Array;
}

/**
 * Fewest values (all arrays together) for which the passes run on the team: below, the helpers' start and
 * hand-offs cost more than they save (a 2D registration then starts no helper at all). The work decides, never the
 * thread count, and the kernels are the same either way.
 */
const TEAM_MIN_VALUES = 1 << 18;

/** Values per block for an array of n values: about 64 blocks, at least 65 536 values each (a function of n only). */
function statsBlockSize(n: number): number {
  return Math.max(1 << 16, Math.ceil(n / 64));
}

/*
 * The scans start from literal ±Infinity, never from module-level constants: the CLI bundle (esbuild) turns every
 * module-level const into a var, which optimised code must load and check on every use; a min/max loop starting from
 * one ran 2–3× slower there (the ch2bet head's range: 75 against 25 ms).
 *
 * The passes' loops are module-level functions, one per loop: a kernel's per-block closures are made anew for each
 * statistics session (and the loops in them would start cold each time, while V8's on-stack-replacement code, cached
 * per function, was entered again and bailed out on code after the loop that had never run). A value v is finite
 * when v − v === 0 (false for ±∞ and NaN).
 */

/** The bin of v among `bins` bins from lo with `scale` bins per unit (monotone in v). */
function binOf(v: number, lo: number, scale: number, bins: number): number {
  return Math.min(bins - 1, Math.max(0, Math.floor((v - lo) * scale)));
}

/** The first index ≥ s on the stride. */
function firstAt(s: number, stride: number): number {
  return Math.ceil(s / stride) * stride;
}

/** out[o], out[o + 1] = min and max of data[s, e) (NaN skipped, ±∞ counted); returns 1 when a NaN was seen. */
function minMaxScan(data: PixelArray, s: number, e: number, out: Float64Array, o: number): number {
  let min = Infinity;
  let max = -Infinity;
  let nan = 0;
  for (let i = s; i < e; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== v) nan = 1;
  }
  out[o] = min;
  out[o + 1] = max;
  return nan;
}

/** out[o], out[o + 1] = min and max of the finite values of data[s, e) (∞, −∞ when none). */
function finiteMinMaxScan(data: PixelArray, s: number, e: number, out: Float64Array, o: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let i = s; i < e; i++) {
    const v = data[i];
    if (v - v !== 0) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  out[o] = min;
  out[o + 1] = max;
}

/** Over the finite values data[i] for i = first, first + st, … < e: out[o] = their count, out[o + 1], out[o + 2] = min, max. */
function subsetScan(data: PixelArray, first: number, e: number, st: number, out: Float64Array, o: number): void {
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = first; i < e; i += st) {
    const v = data[i];
    if (v - v !== 0) continue;
    count++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  out[o] = count;
  out[o + 1] = min;
  out[o + 2] = max;
}

/** 1 when every finite data[i] for i = first, first + st, … < e is an integer, else 0. */
function integralScan(data: PixelArray, first: number, e: number, st: number): number {
  for (let i = first; i < e; i += st) {
    const v = data[i];
    if (v - v === 0 && v !== Math.round(v)) return 0;
  }
  return 1;
}

/**
 * Adds to out[h + bin] the finite values data[i] for i = first, first + st, … < e, each in its bin among `bins` bins
 * from lo with `scale` bins per unit (binOf).
 */
function histogramScan(data: PixelArray, first: number, e: number, st: number, lo: number, scale: number, bins: number, out: Int32Array, h: number): void {
  for (let i = first; i < e; i += st) {
    const v = data[i];
    if (v - v !== 0) continue;
    out[h + binOf(v, lo, scale, bins)]++;
  }
}

/** Phase 0 of block b: its finite range, whether a value is not finite, its quantile subset's count and range, the integer check. */
function rangeBlock(init: StatsKernelInit, b: number): void {
  const data = init.arrays[init.blockArray[b]];
  const s = init.blockStart[b];
  const e = init.blockEnd[b];
  const range = init.range;
  const o = RANGE_SLOTS * b;
  let nonFinite = minMaxScan(data, s, e, range, o);
  if (range[o] === -Infinity || range[o + 1] === Infinity) {
    nonFinite = 1;
    finiteMinMaxScan(data, s, e, range, o);
  }
  range[o + 2] = nonFinite;
  const n = data.length;
  const st = quantileStride(n);
  subsetScan(data, firstAt(s, st), e, st, range, o + 3);
  const is = integralStride(n);
  range[o + 6] = integralScan(data, firstAt(s, is), e, is);
}

/** Block b's counts of `bins` bins (params per array: lo, bins per unit, wanted) over its array's values at stride strideOf(n). */
function histogramBlock(init: StatsKernelInit, b: number, bins: number, params: Float64Array, out: Int32Array, strideOf: (n: number) => number): void {
  const a = init.blockArray[b];
  const h = b * bins;
  out.fill(0, h, h + bins);
  if (params[3 * a + 2] !== 1) return;
  const data = init.arrays[a];
  const st = strideOf(data.length);
  histogramScan(data, firstAt(init.blockStart[b], st), init.blockEnd[b], st, params[3 * a], params[3 * a + 1], bins, out, h);
}

/**
 * Copies the finite data[i] (i = first, first + st, … < e) whose quantile-histogram bin (from lo, `scale` bins per
 * unit) is one of array a's G gather bins to block b's place for that bin in `gathered`, counting them in counts[g]
 * and noting per bin their range and how many equal lo. (Arrays, not the init object: an object's hidden class can
 * be freed between sessions, and with it the optimised code that checks for it.)
 */
function gatherScan(
  data: PixelArray,
  first: number,
  e: number,
  st: number,
  lo: number,
  scale: number,
  a: number,
  b: number,
  G: number,
  gatherBins: Int32Array,
  gatherOffsets: Int32Array,
  gathered: Float64Array,
  gatherRange: Float64Array,
  gatherLow: Int32Array,
  counts: Int32Array,
): void {
  for (let i = first; i < e; i += st) {
    const v = data[i];
    if (v - v !== 0) continue;
    const bin = binOf(v, lo, scale, HIST_BINS);
    for (let g = 0; g < G; g++) {
      if (gatherBins[a * G + g] !== bin) continue;
      gathered[gatherOffsets[b * G + g] + counts[g]++] = v;
      if (v === lo) gatherLow[b * G + g]++;
      const r = 2 * (b * G + g);
      if (v < gatherRange[r]) gatherRange[r] = v;
      if (v > gatherRange[r + 1]) gatherRange[r + 1] = v;
      break;
    }
  }
}

/** Phase 2 of block b (`counts`: G numbers of scratch). */
function gatherBlock(init: StatsKernelInit, b: number, counts: Int32Array): void {
  const { G, gatherBins, gatherRange, gatherLow } = init;
  const a = init.blockArray[b];
  if (init.histParams[3 * a + 2] !== 1) return;
  let wanted = 0;
  for (let g = 0; g < G; g++) {
    counts[g] = 0;
    gatherLow[b * G + g] = 0;
    gatherRange[2 * (b * G + g)] = Infinity;
    gatherRange[2 * (b * G + g) + 1] = -Infinity;
    if (gatherBins[a * G + g] >= 0) wanted++;
  }
  if (wanted === 0) return;
  const data = init.arrays[a];
  const st = quantileStride(data.length);
  const lo = init.histParams[3 * a];
  const scale = init.histParams[3 * a + 1];
  gatherScan(data, firstAt(init.blockStart[b], st), init.blockEnd[b], st, lo, scale, a, b, G, gatherBins, init.gatherOffsets, init.gathered, gatherRange, gatherLow, counts);
}

/** Phase 4 of block b. */
function foregroundBlock(init: StatsKernelInit, b: number): void {
  const { fgParams, fgSums } = init;
  const a = init.blockArray[b];
  if (fgParams[3 * a + 2] !== 1) {
    fgSums.fill(0, 4 * b, 4 * b + 4);
    return;
  }
  foregroundSums3d(init.arrays[a], init.sizes[a]!, fgParams[3 * a], fgParams[3 * a + 1], init.blockStart[b], init.blockEnd[b], fgSums, 4 * b);
}

/** Sums into `merged` (zeroed first) the `bins` counts per block of the blocks of array a. */
function mergeBlockCounts(counts: Int32Array, blockArray: Int32Array, a: number, bins: number, merged: Int32Array): void {
  merged.fill(0);
  for (let b = 0; b < blockArray.length; b++) {
    if (blockArray[b] !== a) continue;
    const h = b * bins;
    for (let k = 0; k < bins; k++) merged[k] += counts[h + k];
  }
}

/** Whether this thread ran warmStats. */
let warmed = false;

/** A typed array's constructor. */
type PixelArrayConstructor = new (n: number) => PixelArray;

/**
 * Runs every pass on small arrays of the element kinds a registration's statistics meet (its images' and the
 * levels': float32, and float64 samples), with fractions, NaN and ±∞, so that the loops' type feedback holds all of
 * them before V8 first optimises the loops: otherwise each kind met later (an image's uint8 values, then float32,
 * then float64 samples) discards the optimised code and compiles it again (twice with on-stack replacement), in
 * background threads that a team's threads need. Once per thread; results are not affected. (Three passes over 64
 * values each: V8 gives a function its feedback vector, and records feedback, only after some use, and optimises
 * it after more: a warm-up long enough to be optimised before it has met every kind would miss some.)
 */
function warmStats(inputs: readonly PixelArray[]): void {
  warmed = true;
  const kinds = new Set<PixelArrayConstructor>([Float32Array, Float64Array]);
  for (const a of inputs) kinds.add(a.constructor as PixelArrayConstructor);
  const n = 64;
  const arrays = [...kinds].map((Kind) => {
    const a = new Kind(n);
    for (let i = 0; i < n - 3; i++) a[i] = (i % 7) * 0.75 + (i % 3);
    a.set([Number.NaN, Infinity, -Infinity], n - 3); // (0 in integer kinds)
    return a;
  });
  for (let round = 0; round < 3; round++) {
    const stats = ArrayStats.serial(arrays, { quantiles: arrays.map(() => [0.5]), sizes: arrays.map(() => [4, 4, 4]) });
    stats.range();
    stats.quantiles();
    stats.otsu(arrays.map(() => [0, 8] as [number, number]));
    stats.foregroundSums(arrays.map(() => ({ background: 0, foreground: 4 })));
  }
}

/** Phases: 0 ranges, 1 quantile histogram, 2 gather, 3 Otsu's histogram, 4 foreground sums; block b = blockArray[b]'s [start, end). */
export function statsKernel(init: StatsKernelInit): readonly BlockKernel[] {
  // (a few milliseconds: for large jobs only, such as a team's; a 2D registration's small passes gain nothing)
  if (!warmed && init.arrays.reduce((sum, a) => sum + a.length, 0) >= TEAM_MIN_VALUES) warmStats(init.arrays);
  const counts = new Int32Array(init.G);
  return [
    (b) => rangeBlock(init, b),
    (b) => histogramBlock(init, b, HIST_BINS, init.histParams, init.hist, quantileStride),
    (b) => gatherBlock(init, b, counts),
    (b) => histogramBlock(init, b, OTSU_BINS, init.otsuParams, init.otsuHist, otsuStride),
    (b) => foregroundBlock(init, b),
  ];
}

/** ArrayStats.open's options: the quantiles array a may be asked for, and its 3D size when its foreground sums are. */
export interface StatsOptions {
  quantiles?: readonly (readonly number[])[];
  sizes?: (number[] | null)[];
}

/** What the first pass finds of one array. */
export interface ArrayRange {
  /** valueRange's answer: finite min and max, whether any value is not finite; null when none is finite. */
  range: ValueRange | null;
  /** Every finite value at guessModality's stride is an integer. */
  integral: boolean;
}

/**
 * Statistics of a few arrays on a team (or in this thread), until close(). `quantiles[a]`: the quantiles array a may
 * be asked for (quantiles() needs them all up front).
 */
export class ArrayStats {
  private readonly init: StatsKernelInit;
  private readonly session: BlockSession;
  private readonly blocks: number;
  private readonly qs: readonly (readonly number[])[];
  private ranges: ArrayRange[] | null = null;
  private subsets: { count: number; min: number; max: number }[] = [];

  private constructor(init: StatsKernelInit, session: BlockSession, qs: readonly (readonly number[])[]) {
    this.init = init;
    this.session = session;
    this.blocks = init.blockArray.length;
    this.qs = qs;
  }

  /**
   * Opens the statistics of `arrays` (each on shared memory when `team` has helpers: shareArray them first).
   * `sizes[a]`: array a's 3D image size when its foreground sums are wanted.
   */
  static async open(team: ParallelFor | undefined, arrays: PixelArray[], options: StatsOptions = {}): Promise<ArrayStats> {
    const work = arrays.reduce((sum, a) => sum + a.length, 0);
    const { init, local, qs } = ArrayStats.prepare(arrays, options);
    const session = team && team.threads > 1 && work >= TEAM_MIN_VALUES ? await team.open('register.stats', init, local, { late: true }) : serialSession(local);
    return new ArrayStats(init, session, qs);
  }

  /** The same statistics in this thread only (synchronous: for code that runs inside a team's block). */
  static serial(arrays: PixelArray[], options: StatsOptions = {}): ArrayStats {
    const { init, local, qs } = ArrayStats.prepare(arrays, options);
    return new ArrayStats(init, serialSession(local), qs);
  }

  private static prepare(arrays: PixelArray[], options: StatsOptions): { init: StatsKernelInit; local: readonly BlockKernel[]; qs: (readonly number[])[] } {
    const qs = arrays.map((_, a) => options.quantiles?.[a] ?? []);
    const G = Math.max(1, ...qs.map((q) => q.length));
    const blockArray: number[] = [];
    const blockStart: number[] = [];
    const blockEnd: number[] = [];
    let gatherLength = 0;
    arrays.forEach((data, a) => {
      const n = data.length;
      const size = statsBlockSize(n);
      for (let s = 0; s < n; s += size) {
        blockArray.push(a);
        blockStart.push(s);
        blockEnd.push(Math.min(n, s + size));
      }
      if (qs[a].length > 0) gatherLength += Math.ceil(n / quantileStride(n));
    });
    const B = blockArray.length;
    const A = arrays.length;
    const int32 = (values: number[]): Int32Array => {
      const out = sharedInt32(values.length);
      out.set(values);
      return out;
    };
    const init: StatsKernelInit = {
      arrays,
      sizes: arrays.map((_, a) => options.sizes?.[a] ?? null),
      blockArray: int32(blockArray),
      blockStart: int32(blockStart),
      blockEnd: int32(blockEnd),
      G,
      range: sharedFloat64(B * RANGE_SLOTS),
      histParams: sharedFloat64(3 * A),
      hist: sharedInt32(B * HIST_BINS),
      gatherBins: sharedInt32(A * G).fill(-1),
      gatherOffsets: sharedInt32(B * G),
      gathered: sharedFloat64(Math.max(1, gatherLength)),
      gatherRange: sharedFloat64(2 * B * G),
      gatherLow: sharedInt32(B * G),
      otsuParams: sharedFloat64(3 * A),
      otsuHist: sharedInt32(B * OTSU_BINS),
      fgParams: sharedFloat64(3 * A),
      fgSums: sharedFloat64(4 * B),
    };
    return { init, local: statsKernel(init), qs };
  }

  /** Per array: valueRange's answer and the integer check (one pass over every value). */
  range(): ArrayRange[] {
    if (this.ranges) return this.ranges;
    const { range, blockArray } = this.init;
    this.session.run(0, this.blocks);
    const A = this.init.arrays.length;
    const out = Array.from({ length: A }, () => ({ min: Infinity, max: -Infinity, nonFinite: false, integral: true }));
    this.subsets = Array.from({ length: A }, () => ({ count: 0, min: Infinity, max: -Infinity }));
    for (let b = 0; b < this.blocks; b++) {
      const a = blockArray[b];
      const o = RANGE_SLOTS * b;
      const r = out[a];
      if (range[o] < r.min) r.min = range[o];
      if (range[o + 1] > r.max) r.max = range[o + 1];
      if (range[o + 2]) r.nonFinite = true;
      if (!range[o + 6]) r.integral = false;
      const sub = this.subsets[a];
      sub.count += range[o + 3];
      if (range[o + 4] < sub.min) sub.min = range[o + 4];
      if (range[o + 5] > sub.max) sub.max = range[o + 5];
    }
    this.ranges = out.map((r) => ({ range: r.min <= r.max ? { min: r.min, max: r.max, nonFinite: r.nonFinite } : null, integral: r.integral }));
    return this.ranges;
  }

  /** Per array: quantiles(array, qs[a]) (null when no value is finite, as there); [] when none was asked for. */
  quantiles(): (number[] | null)[] {
    this.range();
    const { histParams, hist, gatherBins, gatherOffsets, gathered, gatherRange, gatherLow, blockArray } = this.init;
    const A = this.init.arrays.length;
    const G = this.init.G;
    const out: (number[] | null)[] = [];
    // the subsets' histograms
    let any = false;
    for (let a = 0; a < A; a++) {
      const sub = this.subsets[a];
      const active = this.qs[a].length > 0 && sub.count > 0 && sub.max > sub.min;
      let scale = HIST_BINS / (sub.max - sub.min);
      if (!(scale > 0 && scale < Infinity)) scale = 0; // all in bin 0 (still exact, only slower)
      histParams[3 * a] = sub.min;
      histParams[3 * a + 1] = scale;
      histParams[3 * a + 2] = active ? 1 : 0;
      any ||= active;
    }
    if (any) this.session.run(1, this.blocks);
    // which bin holds each wanted rank
    const where: { bin: number; within: number }[][] = [];
    // integer counts (Int32: no number boxed while merging)
    const merged = new Int32Array(HIST_BINS);
    let offset = 0;
    for (let a = 0; a < A; a++) {
      where.push([]);
      if (histParams[3 * a + 2] !== 1) continue;
      mergeBlockCounts(hist, blockArray, a, HIST_BINS, merged);
      const m = this.subsets[a].count;
      const bins: number[] = [];
      for (const q of this.qs[a]) {
        const r = quantileRank(q, m);
        let below = 0;
        let k = 0;
        while (below + merged[k] <= r) below += merged[k++];
        where[a].push({ bin: k, within: r - below });
        if (!bins.includes(k)) bins.push(k);
      }
      bins.forEach((k, g) => {
        gatherBins[a * G + g] = k;
        for (let b = 0; b < this.blocks; b++) {
          if (blockArray[b] !== a) continue;
          gatherOffsets[b * G + g] = offset;
          offset += hist[b * HIST_BINS + k];
        }
      });
    }
    if (any) this.session.run(2, this.blocks);
    for (let a = 0; a < A; a++) {
      const sub = this.subsets[a];
      if (this.qs[a].length === 0) {
        out.push([]);
        continue;
      }
      if (sub.count === 0) {
        out.push(null);
        continue;
      }
      if (histParams[3 * a + 2] !== 1) {
        out.push(this.qs[a].map(() => sub.min)); // every value of the subset is the same
        continue;
      }
      // per gathered bin: its values' span, count and values equal to the subset's min; searched once, ranks ascending
      const values = new Array<number>(this.qs[a].length);
      for (let g = 0; g < G; g++) {
        const bin = gatherBins[a * G + g];
        if (bin < 0) continue;
        let min = Infinity;
        let max = -Infinity;
        let start = -1;
        let count = 0;
        let low = 0;
        for (let b = 0; b < this.blocks; b++) {
          if (blockArray[b] !== a) continue;
          if (start < 0) start = gatherOffsets[b * G + g];
          count += hist[b * HIST_BINS + bin];
          low += gatherLow[b * G + g];
          const r = 2 * (b * G + g);
          if (gatherRange[r] < min) min = gatherRange[r];
          if (gatherRange[r + 1] > max) max = gatherRange[r + 1];
        }
        const targets = this.qs[a].map((_, t) => t).filter((t) => where[a][t].bin === bin).sort((x, y) => where[a][x].within - where[a][y].within);
        let vals: Float64Array | null = null;
        let from = 0;
        for (const t of targets) {
          const within = where[a][t].within;
          if (min === max || within < low) {
            values[t] = within < low ? sub.min : min;
            continue;
          }
          vals ??= gathered.slice(start, start + count);
          selectRank(vals, within, from, count - 1);
          values[t] = vals[within];
          from = within;
        }
      }
      out.push(values);
    }
    for (let a = 0; a < A; a++) histParams[3 * a + 2] = 0;
    gatherBins.fill(-1);
    return out;
  }

  /**
   * Per array: otsuLevels(array) given the array's quantiles [0.001, 0.999] (`q[a]`, null: not wanted), from
   * Otsu's histogram made on the team.
   */
  otsu(q: (readonly [number, number] | null)[]): (ForegroundLevels | null)[] {
    const { otsuParams, otsuHist, blockArray } = this.init;
    const A = this.init.arrays.length;
    let any = false;
    for (let a = 0; a < A; a++) {
      const r = q[a];
      const active = r !== null && r[1] > r[0];
      otsuParams[3 * a] = active ? r[0] : 0;
      otsuParams[3 * a + 1] = active ? OTSU_BINS / (r[1] - r[0]) : 0;
      otsuParams[3 * a + 2] = active ? 1 : 0;
      any ||= active;
    }
    if (any) this.session.run(3, this.blocks);
    const out: (ForegroundLevels | null)[] = [];
    const merged = new Int32Array(OTSU_BINS);
    for (let a = 0; a < A; a++) {
      if (otsuParams[3 * a + 2] !== 1) {
        out.push(null);
        continue;
      }
      mergeBlockCounts(otsuHist, blockArray, a, OTSU_BINS, merged);
      out.push(otsuFromHistogram(Float64Array.from(merged), q[a]![0], q[a]![1]));
    }
    return out;
  }

  /**
   * Per array with a 3D size: foregroundSums3d over its blocks (weights from `levels[a]`; null: not wanted), as
   * { sums (4 per block, in block order), blocks }.
   */
  foregroundSums(levels: ({ background: number; foreground: number } | null)[]): ({ sums: Float64Array; blocks: number } | null)[] {
    const { fgParams, fgSums, blockArray } = this.init;
    const A = this.init.arrays.length;
    let any = false;
    for (let a = 0; a < A; a++) {
      const l = levels[a];
      const active = l !== null && this.init.sizes[a] !== null && l.foreground > l.background && l.background > -Infinity;
      fgParams[3 * a] = active ? l.background : 0;
      fgParams[3 * a + 1] = active ? 1 / (l.foreground - l.background) : 0;
      fgParams[3 * a + 2] = active ? 1 : 0;
      any ||= active;
    }
    if (any) this.session.run(4, this.blocks);
    return Array.from({ length: A }, (_, a) => {
      if (fgParams[3 * a + 2] !== 1) return null;
      const mine: number[] = [];
      for (let b = 0; b < this.blocks; b++) if (blockArray[b] === a) mine.push(b);
      const sums = new Float64Array(4 * mine.length);
      mine.forEach((b, i) => sums.set(fgSums.subarray(4 * b, 4 * b + 4), 4 * i));
      return { sums, blocks: mine.length };
    });
  }

  close(): void {
    this.session.close();
  }
}

/**
 * `register(fixed, moving, config, options)`: intensity-based registration as a list of stages, each coarse to
 * fine over a Gaussian pyramid, each starting from the previous stage's result. The result maps FIXED → MOVING
 * physical points: moving(T(x)) ≈ fixed(x).
 *
 * Layering (ITK v4): the cost function (metric over samples, chain rule) only sees images and a transform; the
 * optimiser only sees parameter vectors; registration sets the transform's parameters to the optimiser's. No global state: everything a run
 * needs is in its arguments.
 */
import { CoregError, type WarningSink } from '../errors.js';
import { type Image, type PixelArray, checkImageArgument, indexToPhysicalMatrix, numberOfPixels, physicalCenter, physicalToIndexMatrix } from '../image/image.js';
import { estimateScalesFromPhysicalShift } from './scales.js';
import { cachedQuantiles, inputStatistics, knownRange, levelRanges, movingLevelRangeOn, movingRangeOnTeam, type InputStats, type LevelRanges, type QuantileCache } from './input-stats.js';
import { prepareLevelsOn, type LevelPrepRequest } from './level-prep.js';
import { foldCheckPoints, type FoldCheckGrid } from './fold-repair.js';
import { repairFoldingOn } from './parallel-fold.js';
import { optimizerSteps, type OptimizerName, type AnyOptimizerOptions, type CostFunction, type IterationInfo, type OptimizerResult } from '../optimize/index.js';
import { createBSplineTransformForImage, type BSplineTransform } from '../transform/bspline.js';
import { refineBSpline } from '../transform/bspline-refine.js';
import { BSplineRegistrationCost } from './bspline-cost.js';
import { synRegister } from './syn.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import { shrinkMask, scheduleFromLevels } from '../pyramid/index.js';
import { float32Exact, type Float32Exact } from '../pyramid/shrink.js';
import { composeLinear, createTransform, fitTransformFrom, type MatrixOffsetTransform, type LinearKind } from '../transform/linear.js';
import { initializeCenteredTransform } from '../transform/initialize.js';
import { isLinear, type Transform } from '../transform/transform.js';
import {
  type LevelConfig,
  type MetricName,
  type RegistrationConfig,
  type SamplingStrategy,
  type StageConfig,
  type TransformKind,
  DEFAULT_SEED,
  LINEAR_KINDS,
  defaultLevels,
  validateConfig,
} from './config.js';
import { LinearRegistrationCost, prepareMovingSampler } from './linear-cost.js';
import { sharedInterpolationPlane } from './sample-kernels.js';
import type { Plane } from '../interpolate/index.js';
import { drawKernelInit, drawSamplesOn } from './parallel-sampling.js';
import { sampleFixedImageOn } from './parallel-jitter.js';
import { dropIdleArenas } from '../wasm/kernels.js';
import { shareArray, TEAM_MIN_SAMPLES, type ParallelFor } from './parallel-for.js';
import { prefetchFits, prefetchShrinkOn, sharedSource, smoothAndShrinkOn, type ShrinkJob } from './parallel-smooth.js';
import { jitterPlane, maskAt, type SampleSet } from './sampling.js';
import { choosePreset, isHistogramMetric, stageWinsorize, type PresetRecord } from './preset.js';
import type { AutoLandmarkResult } from '../features/auto.js';

export interface ProgressEvent {
  stage: number;
  stageCount: number;
  transform: TransformKind;
  metric: MetricName;
  level: number;
  levelCount: number;
  iteration: number;
  maxIterations: number;
  value: number;
}

/** One finished level: where it was and its log. */
export interface LevelEvent {
  stage: number;
  stageCount: number;
  transform: TransformKind;
  metric: MetricName;
  level: number;
  levelCount: number;
  log: LevelLog;
}

export interface RegisterOptions {
  fixedMask?: Image;
  movingMask?: Image;
  /** Start from this chain (fixed → moving, first applies first), like elastix -t0 / ANTs -r. */
  initial?: Transform[];
  onProgress?: (event: ProgressEvent) => void;
  /** Called when a level ends, with its log (for per-level log lines). */
  onLevel?: (event: LevelEvent) => void;
  signal?: AbortSignal;
  warn?: WarningSink;
  /**
   * Threads inside the registration: a team (src/parallel/team.ts: createTeam, or createNodeTeam from
   * `coreg/node`) that the sampled costs split their samples over. Results do not depend on it.
   */
  parallel?: ParallelFor;
  /**
   * Called where the registration has just dropped large buffers (a level's set-up scratch, the B-spline stage's
   * one-off gradient cost), before it allocates the next ones: a host with an explicit garbage collector (Node's
   * `gc`, see src/cli/collect.ts) can free them there, so that they do not add to the peak memory.
   */
  collect?: () => void;
  /**
   * Keep this thread's released kernel arenas (shared WebAssembly memories whose pages are already touched) after
   * the registration, for the caller to reuse (`coreg register` makes its output images in one: takeIdleArena, then
   * dropIdleArenas); by default they are dropped.
   */
  keepArenas?: boolean;
}

export interface LevelLog {
  iterations: number;
  value: number;
  seconds: number;
  stopReason: string;
  samples: number;
  shrink: number[];
  smoothMm: number[];
}

export interface StageLog {
  transform: TransformKind;
  metric: MetricName;
  levels: LevelLog[];
}

export interface RegistrationResult {
  /** The chain, in the order it applies to a fixed-space point: T(x) = Tn(…T1(x)). */
  transforms: Transform[];
  /**
   * For a syn stage: the inverse of the chain's dense field (on the fixed grid), so that moving → fixed is
   * [linear⁻¹, inverseField]. Undefined otherwise.
   */
  inverseField?: Image;
  stages: StageLog[];
  seconds: number;
  /** Threads the costs ran on (1 without a team). */
  threads: number;
  /** The modality-aware defaults the run used (result.json's "preset"). */
  preset?: PresetRecord;
  /** With initializer 'landmarks': the automated landmarks the first stage started from. */
  landmarks?: AutoLandmarkResult;
}

/** Most samples a 3D level uses by default (random subset); 2D levels use every pixel. */
const DEFAULT_MAX_SAMPLES_3D = 150_000;

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** setImmediate where there is one (Node): setTimeout(0) idles ≥ 1 ms per yield, ~1 % of a registration. */
const nextTurn: (f: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function' ? (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate : (f) => setTimeout(f, 0);

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => nextTurn(resolve));
}

/** The masks' checks (the images' own: inputStatistics). */
function checkInputs(fixed: Image, moving: Image, opts: RegisterOptions): void {
  for (const [mask, name, img] of [
    [opts.fixedMask, 'fixedMask', fixed],
    [opts.movingMask, 'movingMask', moving],
  ] as const) {
    if (!mask) continue;
    if (mask.dimension !== img.dimension) throw new CoregError(name, `is ${mask.dimension}D but the image is ${img.dimension}D`);
    let any = false;
    for (let i = 0; i < mask.data.length && !any; i++) any = mask.data[i] > 0;
    if (!any) throw new CoregError(name, 'is empty (no voxel > 0)');
    const range = rangeInMask(img, mask);
    if (!range) throw new CoregError(name, 'selects no voxel of the image (the mask and the image do not overlap)');
    if (range.min === range.max) throw new CoregError(name, `the image is constant (${range.min}) inside the mask: the similarity measure is undefined`);
  }
}

/** Range of an image's values at the voxels whose centres lie inside the mask (any grid); null when none does. */
function rangeInMask(img: Image, mask: Image): { min: number; max: number } | null {
  const d = img.dimension;
  const M = indexToPhysicalMatrix(img);
  const N = physicalToIndexMatrix(mask);
  const [nx, ny] = img.size;
  const p = new Float64Array(d);
  let min = Infinity;
  let max = -Infinity;
  const n = img.data.length;
  for (let v = 0; v < n; v++) {
    const i = v % nx;
    const j = Math.floor(v / nx) % ny;
    const k = d === 3 ? Math.floor(v / (nx * ny)) : 0;
    for (let r = 0; r < d; r++) p[r] = img.origin[r] + M[r * d] * i + M[r * d + 1] * j + (d === 3 ? M[r * d + 2] * k : 0);
    if (!maskAt(mask, N, p)) continue;
    const x = img.data[v];
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return min <= max ? { min, max } : null;
}

interface LevelImages {
  fixed: Image;
  moving: Image;
  fixedMask?: Image;
  movingMask?: Image;
  shrink: number[];
  smoothMm: number[];
  /** The moving image's linear interpolation plane on shared memory (team runs), made once per level image. */
  sharedMovingPlane?: Plane;
}

/**
 * The moving image's level: with the fixed image's spacing, the same shrink factors and smoothing in voxels;
 * otherwise matched in physical units (a 4 mm PET beside a 1 mm MR must not be smoothed by 4× the MR's σ and
 * shrunk as often): shrunk to about the fixed level's voxel size and smoothed by the fixed level's mean σ in mm.
 */
function movingSchedule(fixed: Image, moving: Image, level: LevelConfig, fs: ReturnType<typeof scheduleFromLevels>) {
  const same = fixed.spacing.length === moving.spacing.length && fixed.spacing.every((s, a) => Math.abs(s - moving.spacing[a]) <= 1e-6 * s);
  if (same) return scheduleFromLevels(moving, [level.shrink], [level.smooth], level.smoothUnit ?? 'vox');
  const d = fixed.dimension;
  const geo = (v: number[]): number => Math.pow(v.reduce((p, x) => p * x, 1), 1 / d);
  const fixedVoxel = geo(fixed.spacing.map((s, a) => s * fs.shrink[0][a]));
  const shrink = Math.max(1, Math.round(fixedVoxel / geo(moving.spacing)));
  const sigmaMm = fs.sigmasMm[0].reduce((p, x) => p + x, 0) / d;
  return scheduleFromLevels(moving, [shrink], [sigmaMm], 'mm');
}

/** A run's level images by schedule, and the input images' values on shared memory (made once per run, for teams). */
type LevelCache = Map<string, LevelImages> & {
  sources?: Map<Image, Float32Exact>;
  quantiles?: QuantileCache;
  /** Levels' fixed and moving images made ahead (prefetchLevels), by level key. */
  prefetched?: Map<string, Image[]>;
  /** A stage's levels whose samples and ranges were made ahead (prepareUnshrunkLevels), by level index. */
  ahead?: { stage: StageConfig; levels: Map<number, MadeLevel> };
};

/** An input image's shared float32-exact copy, made once per run (the statistics' passes and the pyramid read it). */
function cachedSource(img: Image, cache: LevelCache): Float32Exact {
  const sources = (cache.sources ??= new Map<Image, Float32Exact>());
  let s = sources.get(img);
  if (!s) sources.set(img, (s = sharedSource(img)));
  return s;
}

/** An input image's values where the team reads them: its shared float32-exact copy (made once, for the pyramid too), else img.data. */
function teamArray(img: Image, opts: RegisterOptions, cache: LevelCache): PixelArray {
  if (!opts.parallel || opts.parallel.threads < 2) return img.data;
  if (float32Exact(img.data) !== img.data) return shareArray(img.data as Float64Array);
  return cachedSource(img, cache);
}

/** A level's cache key (stages with the same schedule share its images). */
function levelKey(level: LevelConfig): string {
  return `${level.shrink}/${level.smooth}${level.smoothUnit ?? 'vox'}`;
}

/** A level's schedule of the fixed image and the fixed and moving images' smoothing and shrinking jobs. */
function levelJobs(fixed: Image, moving: Image, level: LevelConfig): { fs: ReturnType<typeof scheduleFromLevels>; jobs: ShrinkJob[] } {
  const fs = scheduleFromLevels(fixed, [level.shrink], [level.smooth], level.smoothUnit ?? 'vox');
  const ms = movingSchedule(fixed, moving, level, fs);
  const voxels = (img: Image, sigmas: number[]) => sigmas.map((s, a) => s / img.spacing[a]);
  return {
    fs,
    jobs: [
      { img: fixed, sigmasVoxels: voxels(fixed, fs.sigmasMm[0]), factors: fs.shrink[0] },
      { img: moving, sigmasVoxels: voxels(moving, ms.sigmasMm[0]), factors: ms.shrink[0] },
    ],
  };
}

/**
 * The first stage's level images, started on the team's helpers (prefetchShrinkOn: slabs of their x and y passes)
 * before the input statistics, which this thread then computes alone: the two need not wait for each other, and each thread
 * compiles and runs its own kind of code. join() puts the images in `cache.prefetched` (null: nothing started:
 * no helpers, a non-linear first stage, or images too small for a session).
 */
async function prefetchLevels(fixed: Image, moving: Image, config: RegistrationConfig, opts: RegisterOptions, cache: LevelCache): Promise<{ join(): void; cancel(): void } | null> {
  const first = config.stages[0];
  if (!first || !opts.parallel || opts.parallel.threads < 2 || !LINEAR_KINDS.includes(first.transform)) return null;
  const keys: string[] = [];
  const jobs: ShrinkJob[] = [];
  const add = (levels: LevelConfig[], to: { keys: string[]; jobs: ShrinkJob[] }): void => {
    for (const level of levels) {
      const key = levelKey(level);
      if (keys.includes(key) || to.keys.includes(key)) continue;
      to.keys.push(key);
      to.jobs.push(...levelJobs(fixed, moving, level).jobs);
    }
  };
  add(first.levels ?? defaultLevels(first.transform, fixed.size), { keys, jobs });
  // A later bspline stage's own coarse levels (3D default: shrink 8, which no linear level has) in the same
  // session, when their buffers fit: made with the warm pyramid code on both threads instead of at that stage's
  // start (~0.1 s on 2 threads for a 1 mm head's pair).
  const later = { keys: [] as string[], jobs: [] as ShrinkJob[] };
  for (const stage of config.stages.slice(1)) if (stage.transform === 'bspline') add(bsplineLevels(stage, fixed), later);
  if (later.jobs.length > 0 && prefetchFits([...jobs, ...later.jobs])) {
    keys.push(...later.keys);
    jobs.push(...later.jobs);
  }
  const started = await prefetchShrinkOn(opts.parallel, jobs, (img) => cachedSource(img, cache));
  if (!started) return null;
  return {
    join(): void {
      const images = started.join();
      cache.prefetched = new Map(keys.map((key, k) => [key, images.slice(2 * k, 2 * k + 2)]));
    },
    cancel: () => started.cancel(),
  };
}

/** Builds (and caches, since stages often share a schedule) the images of one pyramid level. */
async function levelImages(fixed: Image, moving: Image, level: LevelConfig, opts: RegisterOptions, cache: LevelCache): Promise<LevelImages> {
  const key = levelKey(level);
  const hit = cache.get(key);
  if (hit) return hit;
  const { fs, jobs } = levelJobs(fixed, moving, level);
  // Smoothing and shrinking axis by axis, smoothed values computed only where the shrinking reads them
  // (pyramid/shrink.ts): the same images as smoothing the whole image first; both images' passes split over the
  // team's threads in one session (the same pixels for any thread count), unless made ahead (prefetchLevels).
  const ahead = cache.prefetched?.get(key);
  cache.prefetched?.delete(key);
  const [fixedLevel, movingLevel] = ahead ?? (await smoothAndShrinkOn(opts.parallel, jobs, (img) => cachedSource(img, cache)));
  // A full-resolution moving image whose float32 pixels an earlier level already put on shared memory: that copy
  // (the team's moving sampler would copy the image again).
  const movingShared = movingLevel === moving ? cache.sources?.get(moving) : undefined;
  // likewise the fixed image's pixels, when the shared copy holds them exactly (the team draws the samples there)
  const fixedShared = fixedLevel === fixed && float32Exact(fixed.data) === fixed.data ? cache.sources?.get(fixed) : undefined;
  const out: LevelImages = {
    fixed: fixedShared ? { ...fixed, data: fixedShared } : fixedLevel,
    moving: movingShared instanceof Float32Array ? { ...moving, data: movingShared } : movingLevel,
    fixedMask: opts.fixedMask && fs.shrink[0].some((f) => f > 1) ? shrinkMask(opts.fixedMask, fs.shrink[0]) : opts.fixedMask,
    movingMask: opts.movingMask,
    shrink: fs.shrink[0],
    smoothMm: fs.sigmasMm[0],
  };
  cache.set(key, out);
  return out;
}

/**
 * Chooses the level's samples from the stage's sampling settings (defaults: 2D all pixels, 3D a random subset).
 * A linear stage's 3D samples at random positions without a fixed mask (the default) are drawn per block on the team.
 */
async function levelSamples(images: LevelImages, stage: StageConfig, seed: number, team: ParallelFor | undefined): Promise<SampleSet & { drawn: boolean }> {
  const { strategy, percentage, jitter, draw } = samplingPlan(images, stage);
  const fixed = images.fixed;
  if (draw !== null) {
    const plane = jitterPlane(fixed);
    return { ...(await drawSamplesOn(team, fixed, team && team.threads > 1 ? shareArray(plane as Float32Array) : plane, draw, seed)), drawn: true };
  }
  // drawn: a random subset or random positions, whose metric carries sampling noise
  // (a large jittered set's per-sample loop on the team: the same samples)
  return { ...(await sampleFixedImageOn(team, fixed, { strategy, percentage, seed, mask: images.fixedMask, jitter })), drawn: jitter || (strategy === 'random' && percentage < 1) };
}

/** A level's sampling settings; `draw`: the sample count when they are drawn per block (drawSamplesOn), else null. */
function samplingPlan(images: LevelImages, stage: StageConfig): { strategy: SamplingStrategy; percentage: number; jitter: boolean; draw: number | null } {
  const n = numberOfPixels(images.fixed);
  const d = images.fixed.dimension;
  const wanted = stage.samples ?? DEFAULT_MAX_SAMPLES_3D;
  let strategy = stage.sampling ?? (d === 2 || n <= wanted ? 'all' : 'random');
  let percentage = stage.samplingPercentage ?? (strategy === 'all' ? 1 : Math.min(1, wanted / n));
  if (stage.metric === 'lncc') {
    // lncc compares windows on the dense fixed grid.
    strategy = 'all';
    percentage = 1;
  }
  const histogram = stage.metric === 'mi' || stage.metric === 'nmi' || stage.metric === 'jointEntropy';
  const jitter = stage.metric !== 'lncc' && (stage.jitter ?? histogram);
  const fixed = images.fixed;
  const everyVoxel = strategy === 'all' || percentage >= 1;
  // (linear stages: a B-spline stage's level samples set its stochastic gain, tuned on the one-stream draw below)
  const draws = d === 3 && stage.transform !== 'bspline' && (everyVoxel || strategy === 'random') && jitter && !images.fixedMask && fixed.components === 1;
  return { strategy, percentage, jitter, draw: draws ? (everyVoxel ? n : Math.max(1, Math.round(percentage * n))) : null };
}

/** The quantiles a stage winsorises at: histogram metrics bin a robust range; the others ignore the range. */
function levelWinsorize(stage: StageConfig, preset: PresetRecord): ReturnType<typeof stageWinsorize> {
  return isHistogramMetric(stage.metric) ? stageWinsorize(stage, preset.fixed, preset.moving) : { fixed: null, moving: null };
}

/** A level's samples and ranges made ahead (prepareStageLevels; `drawn` when known, else true). */
interface PreparedLevel {
  samples: SampleSet & { drawn?: boolean };
  ranges: LevelRanges;
}

/** A level made ahead of its stage (prepareUnshrunkLevels): by level-prep's `request` (for prepareStageLevels), or by prepareLevel's own code. */
interface MadeLevel {
  request?: LevelPrepRequest;
  prepared: PreparedLevel;
}

/** The request for a level's samples and ranges (level-prep.ts), `draw` samples (samplingPlan). */
function levelPrepRequest(images: LevelImages, w: ReturnType<typeof levelWinsorize>, draw: number, seed: number, cache: LevelCache): LevelPrepRequest {
  const movingCached = cachedQuantiles(images.moving.data, w.moving, (cache.quantiles ??= new Map()));
  const needsMoving = !knownRange(movingCached);
  // a large moving level (a full-resolution head, without known quantiles: e.g. mse) is split over the team later
  const split = needsMoving && movingRangeOnTeam(images.moving.data.length);
  return {
    draw: drawKernelInit(images.fixed, shareArray(jitterPlane(images.fixed) as Float32Array), draw, seed),
    fixedQuantiles: w.fixed,
    // (shared only when read: a level whose quantiles are known has no moving job)
    moving: split ? null : needsMoving ? shareArray(images.moving.data as Float32Array) : images.moving.data,
    movingQuantiles: w.moving,
    movingCached,
  };
}

/** The sample seeds of a stage's levels: seed + 7919·level + 104729·stage. */
function levelSeeds(levels: number, seed: number, stage: number): number[] {
  return Array.from({ length: levels }, (_, li) => seed + 7919 * li + 104729 * stage);
}

/** Whether a level's images are the input images themselves (no smoothing, no shrinking: no pyramid to wait for). */
function unshrunkLevel(fixed: Image, moving: Image, level: LevelConfig): boolean {
  return levelJobs(fixed, moving, level).jobs.every((job) => job.factors.every((f) => f === 1) && job.sigmasVoxels.every((s) => !(s > 0)));
}

/**
 * While the helpers finish the first stage's pyramid (prefetchLevels), this thread makes the samples and ranges of
 * that stage's levels that need no pyramid (its full-resolution level), else it would wait for the pyramid: drawn
 * per block in the one-thread code of level-prep.ts (the same as on the team), for prepareStageLevels to take; other
 * samplings (e.g. mse's random subset) as prepareLevel makes them (levelSamples, levelRanges: the same for any
 * thread count), for the level to take.
 */
async function prepareUnshrunkLevels(fixed: Image, moving: Image, config: RegistrationConfig, opts: RegisterOptions, cache: LevelCache, preset: PresetRecord): Promise<void> {
  const stage = config.stages[0];
  if (!stage || !opts.parallel || opts.parallel.threads < 2 || !LINEAR_KINDS.includes(stage.transform)) return;
  const levels = stage.levels ?? defaultLevels(stage.transform, fixed.size);
  const seeds = levelSeeds(levels.length, config.seed ?? DEFAULT_SEED, 0);
  const w = levelWinsorize(stage, preset);
  const made = new Map<number, MadeLevel>();
  for (const [li, level] of levels.entries()) {
    if (!unshrunkLevel(fixed, moving, level)) continue;
    const images = await levelImages(fixed, moving, level, opts, cache);
    const draw = samplingPlan(images, stage).draw;
    if (draw === null) {
      const samples = await levelSamples(images, stage, seeds[li], undefined);
      made.set(li, { prepared: { samples, ranges: await levelRanges(undefined, samples.values, images.moving.data, w, (cache.quantiles ??= new Map()), isHistogramMetric(stage.metric)) } });
      continue;
    }
    const request = levelPrepRequest(images, w, draw, seeds[li], cache);
    made.set(li, { request, prepared: (await prepareLevelsOn(undefined, [request]))[0] });
  }
  if (made.size > 0) cache.ahead = { stage, levels: made };
}

/**
 * A linear stage's samples and intensity ranges for all its levels at once, as jobs on the team (level-prep.ts: the
 * same as prepareLevel makes per level), by level index. Null (prepareLevel makes its own) without helpers, when a
 * level does not draw its samples per block (not the 3D default), or when the draws are too small for a team.
 * Levels made already by level-prep's request (prepareUnshrunkLevels) are taken as they are.
 */
async function prepareStageLevels(fixed: Image, moving: Image, stage: StageConfig, levels: LevelConfig[], seeds: number[], opts: RegisterOptions, cache: LevelCache, preset: PresetRecord): Promise<(PreparedLevel | undefined)[] | null> {
  if (!opts.parallel || opts.parallel.threads < 2) return null;
  const w = levelWinsorize(stage, preset);
  const ahead = cache.ahead?.stage === stage ? cache.ahead.levels : undefined;
  const made = (li: number): MadeLevel | undefined => (ahead?.get(li)?.request ? ahead.get(li) : undefined);
  const requests: LevelPrepRequest[] = [];
  let count = 0;
  for (const [li, level] of levels.entries()) {
    const images = await levelImages(fixed, moving, level, opts, cache);
    const draw = samplingPlan(images, stage).draw;
    if (draw === null) return null;
    count += draw;
    requests.push(made(li)?.request ?? levelPrepRequest(images, w, draw, seeds[li], cache));
  }
  if (count < TEAM_MIN_SAMPLES) return null;
  const todo = requests.filter((_, li) => !made(li));
  const done = todo.length > 0 ? await prepareLevelsOn(opts.parallel, todo) : [];
  const prepared = requests.map((_, li) => made(li)?.prepared ?? done.shift()!);
  for (const [li, r] of requests.entries()) {
    if (r.moving !== null) continue;
    const data = (await levelImages(fixed, moving, levels[li], opts, cache)).moving.data;
    prepared[li].ranges.movingRange = await movingLevelRangeOn(opts.parallel, data, r.movingQuantiles, r.movingCached);
  }
  return prepared;
}

/** A first transform of `kind`: from the initial chain, or centred by the initializer. */
function initialTransform(kind: LinearKind, fixed: Image, moving: Image, config: RegistrationConfig, opts: RegisterOptions, landmarks?: AutoLandmarkResult, centers?: InputStats['centers']): MatrixOffsetTransform {
  const d = fixed.dimension;
  const center = physicalCenter(fixed);
  if (landmarks && !(opts.initial && opts.initial.length > 0)) return fitTransformFrom(kind, landmarks.transform, center);
  if (opts.initial && opts.initial.length > 0) {
    const linear = opts.initial.filter(isLinear);
    if (linear.length !== opts.initial.length) {
      throw new CoregError('initial', 'an initial transform for a linear stage must be linear (translation, rigid, similarity or affine)');
    }
    for (const t of linear) if (t.dimension !== d) throw new CoregError('initial', `is ${t.dimension}D but the images are ${d}D`);
    return fitTransformFrom(kind, composeLinear(linear), center);
  }
  const t = createTransform(kind, d);
  const mode = config.initializer ?? 'moments';
  if (mode === 'none' || mode === 'landmarks') {
    t.setCenter(center);
  } else {
    initializeCenteredTransform(t, fixed, moving, mode, { fixed: opts.fixedMask, moving: opts.movingMask }, { warn: opts.warn ?? (() => undefined), centers });
  }
  return t;
}

/** The stop rules every level's optimiser starts from: the stage's settings, else these defaults. */
function stopOptions(stage: StageConfig, maxIterations: number, scales: Float64Array | undefined, convergenceTolerance: number): AnyOptimizerOptions {
  return {
    maxIterations,
    scales,
    gradientTolerance: stage.gradientTolerance ?? 0,
    // Relative to the level's first gradient: the cost's units (intensity², nats) must not matter.
    relativeGradientTolerance: 1e-6,
    convergenceWindow: stage.convergenceWindow ?? 10,
    convergenceTolerance: stage.convergenceTolerance ?? convergenceTolerance,
    returnBest: true,
  };
}

function optimizerOptions(stage: StageConfig, maxIterations: number, scales: Float64Array, drawn: boolean): { method: OptimizerName; options: AnyOptimizerOptions } {
  const method: OptimizerName = stage.optimizer ?? 'lbfgs';
  const options = stopOptions(stage, maxIterations, scales, 1e-7);
  if (method === 'regular-step') {
    // Scaled units ≈ mm of mean point motion: start with steps of a few mm, stop at a thousandth of one.
    options.initialStepLength = stage.learningRate ?? 2;
    options.minimumStepLength = 1e-4;
    options.relaxationFactor = 0.6;
  } else if (method === 'gradient-descent' || method === 'adam') {
    options.learningRate = stage.learningRate ?? (method === 'adam' ? 0.5 : 1);
    options.maximumStepLength = 5;
  } else {
    // L-BFGS: keep the first trial step within a few mm of motion. On drawn samples (random subset or positions)
    // searches stop at a bracket of 0.01 scaled units (≈ 10 µm of motion): below that the metric's value is sampling
    // noise (3D affine MI, seeds 1–5: mean TRE 0.0081 → 0.0075 mm, 12 % less CPU, than zooming to 1 µm).
    options.maximumStepLength = 10;
    if (drawn) options.lineSearchTolerance = 1e-2;
  }
  return { method, options };
}

/** Coarse search over rotations (about the transform's centre) before optimising, for large misalignments. */
function searchRotations(cost: LinearRegistrationCost, t: MatrixOffsetTransform): void {
  const d = t.dimension;
  const base = t.matrix();
  const offset0 = t.offset();
  const center = t.getCenter();
  const grad = new Float64Array(t.numberOfParameters);
  const candidates: number[][] = [];
  if (d === 2) {
    for (let a = -180; a < 180; a += 10) candidates.push([a]);
  } else {
    const steps = [-30, -15, 0, 15, 30];
    for (const ax of steps) for (const ay of steps) for (const az of steps) candidates.push([ax, ay, az]);
  }
  let bestValue = Infinity;
  let bestParams = Float64Array.from(t.parameters);
  const probe = t.clone() as MatrixOffsetTransform;
  for (const angles of candidates) {
    const R = rotationMatrix(d, angles.map((a) => (a * Math.PI) / 180));
    // new matrix = base · R about the centre, keeping T(c) fixed
    const M = new Float64Array(d * d);
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += base[r * d + k] * R[k * d + c];
      M[r * d + c] = s;
    }
    const o = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let tc = offset0[r];
      let mc = 0;
      for (let k = 0; k < d; k++) {
        tc += base[r * d + k] * center[k];
        mc += M[r * d + k] * center[k];
      }
      o[r] = tc - mc;
    }
    probe.fitMapping(M, o);
    let value: number;
    try {
      value = cost.evaluate(Float64Array.from(probe.parameters), grad);
    } catch {
      continue;
    }
    if (value < bestValue) {
      bestValue = value;
      bestParams = Float64Array.from(probe.parameters);
    }
  }
  t.setParameters(bestParams);
}

function rotationMatrix(d: number, angles: number[]): Float64Array {
  if (d === 2) {
    const c = Math.cos(angles[0]);
    const s = Math.sin(angles[0]);
    return Float64Array.from([c, -s, s, c]);
  }
  const [ax, ay, az] = angles;
  const cx = Math.cos(ax), sx = Math.sin(ax), cy = Math.cos(ay), sy = Math.sin(ay), cz = Math.cos(az), sz = Math.sin(az);
  // R = Rz · Rx · Ry (ITK Euler3D order)
  const Rx = [1, 0, 0, 0, cx, -sx, 0, sx, cx];
  const Ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const Rz = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  const mul = (a: number[], b: number[]): number[] => {
    const out = new Array<number>(9).fill(0);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c];
    return out;
  };
  return Float64Array.from(mul(mul(Rz, Rx), Ry));
}

interface ProgressContext {
  stage: number;
  stageCount: number;
  stageConfig: StageConfig;
  level: number;
  levelCount: number;
  maxIterations: number;
}

interface LevelResult {
  parameters: Float64Array;
  value: number;
  iterations: number;
  stopReason: string;
}

/** Runs one optimisation, reporting progress and yielding to the event loop now and then (aborts, UI). */
async function optimizeLevel(
  cost: CostFunction,
  initial: Float64Array,
  method: OptimizerName,
  options: AnyOptimizerOptions,
  where: ProgressContext,
  opts: RegisterOptions,
  /** The optimiser's iterations from elsewhere (a cost that runs them on its threads); default optimizerSteps. */
  custom?: (options: AnyOptimizerOptions) => Generator<IterationInfo, OptimizerResult, void> | null,
): Promise<LevelResult> {
  if (where.maxIterations === 0) {
    const g = new Float64Array(initial.length);
    const value = cost.evaluate(Float64Array.from(initial), g);
    return { parameters: Float64Array.from(initial), value, iterations: 0, stopReason: 'maximum iterations' };
  }
  options.signal = opts.signal;
  const steps = custom?.(options) ?? optimizerSteps(method, cost, initial, options);
  let lastYield = now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    opts.onProgress?.({
      stage: where.stage,
      stageCount: where.stageCount,
      transform: where.stageConfig.transform,
      metric: where.stageConfig.metric,
      level: where.level,
      levelCount: where.levelCount,
      iteration: r.value.iteration,
      maxIterations: where.maxIterations,
      value: r.value.value,
    });
    if (now() - lastYield > 100) {
      // Let timers, aborts and progress output run (the browser worker and the CLI's progress bar).
      await yieldToEventLoop();
      lastYield = now();
    }
  }
}

/** Per-level set-up shared by every stage kind: images, samples, intensity ranges, moving sampler. */
async function prepareLevel(
  fixed: Image,
  moving: Image,
  stage: StageConfig,
  level: LevelConfig,
  seed: number,
  opts: RegisterOptions,
  cache: LevelCache,
  preset: PresetRecord,
  prepared?: PreparedLevel,
) {
  const images = await levelImages(fixed, moving, level, opts, cache);
  const samples = prepared ? { drawn: true, ...prepared.samples } : await levelSamples(images, stage, seed, opts.parallel);
  const w = levelWinsorize(stage, preset);
  // robustRange's ranges (and the samples' finite range), on the team
  const ranges = prepared?.ranges ?? (await levelRanges(opts.parallel, samples.values, images.moving.data, w, (cache.quantiles ??= new Map()), isHistogramMetric(stage.metric)));
  const fullFixed = ranges.fullFixed;
  if (!fullFixed || fullFixed.min === fullFixed.max) {
    throw new CoregError(opts.fixedMask ? 'fixedMask' : 'fixed', 'the sampled fixed intensities are constant: the similarity measure is undefined');
  }
  const fixedRange = ranges.fixedRange!;
  const movingRange = ranges.movingRange!;
  // The B-spline moving interpolator makes the cost smooth, which the many-parameter L-BFGS of a bspline stage needs.
  const kind = stage.interpolation ?? (stage.transform === 'bspline' ? 'bspline' : 'linear');
  const shared = (opts.parallel?.threads ?? 1) > 1;
  // a team's shared copy of the moving plane is made once per level image (stages share levels)
  const plane = kind === 'linear' && shared ? (images.sharedMovingPlane ??= sharedInterpolationPlane(images.moving)) : undefined;
  const sampler = prepareMovingSampler(images.moving, kind, shared, plane);
  const costOptions = {
    metric: stage.metric,
    metricOptions: { bins: stage.bins ?? preset.bins, fixedRange, movingRange },
    radius: stage.radius,
    gridSize: images.fixed.size,
    movingMask: images.movingMask,
  };
  return { images, samples, sampler, costOptions };
}

/** The optimisers' stop reasons in words a user reads as what they are: mostly normal ends. */
const STOP_REASON_WORDS: Record<string, string> = {
  'maximum iterations': 'iteration limit reached',
  'gradient tolerance': 'converged: gradient vanished',
  'convergence window': 'converged: metric no longer changes',
  'minimum step length': 'converged: step below the minimum',
  'line search failed': 'converged: no further decrease',
  'stopped by callback': 'stopped',
  'non-finite value': 'stopped: metric undefined (too little overlap)',
};

export function stopReasonInWords(reason: string): string {
  return STOP_REASON_WORDS[reason] ?? reason;
}

function levelLog(result: LevelResult, seconds: number, samples: number, images: LevelImages): LevelLog {
  return { iterations: result.iterations, value: result.value, seconds, stopReason: stopReasonInWords(result.stopReason), samples, shrink: images.shrink, smoothMm: images.smoothMm };
}

/** First step of the stochastic B-spline optimiser, in full-resolution voxels of the most-driven control point. */
const STOCHASTIC_FIRST_STEP = 0.25;

/** A bspline stage's optimiser: 3D default stochastic gradient descent on fresh samples, 2D L-BFGS on all pixels. */
function bsplineMethod(stage: StageConfig, fixed: Image): OptimizerName {
  return stage.optimizer ?? (fixed.dimension === 3 ? 'stochastic' : 'lbfgs');
}

/** A bspline stage's levels: as configured, else the stochastic defaults or defaultLevels'. */
function bsplineLevels(stage: StageConfig, fixed: Image): LevelConfig[] {
  return stage.levels ?? (bsplineMethod(stage, fixed) === 'stochastic' ? defaultStochasticLevels(fixed) : defaultLevels(stage.transform, fixed.size));
}

/**
 * The 3D stochastic B-spline stage's default levels: 500 iterations each, shrink factors halving down to 1, as
 * many levels as bring the coarsest voxel to about 8 mm (4 levels for 1 mm images, 3 for 2 mm ones): coarser
 * levels see too few voxels of a head to drive a grid of 8× the final spacing.
 */
export function defaultStochasticLevels(fixed: Image): LevelConfig[] {
  const mean = Math.pow(fixed.spacing.reduce((a, b) => a * b, 1), 1 / fixed.dimension);
  const n = Math.min(4, Math.max(1, 1 + Math.round(Math.log2(8 / mean))));
  return Array.from({ length: n }, (_, l) => {
    const f = 2 ** (n - 1 - l);
    return { shrink: f, smooth: f > 1 ? f / 2 : 0, iterations: 500 };
  });
}

/**
 * Fresh samples per iteration of a stochastic B-spline level unless "subsetSize" says: 3D 20 000 at the last
 * level, 5 000 before it (the coarser levels' noise is worked off by the levels after them: on the bench's ch2bet
 * d2 case mean TRE 0.0266 mm against 0.0260 with 20 000 everywhere, in two thirds of the CPU time); 2D 2 000.
 */
function freshSamples(dimension: number, last: boolean): number {
  if (dimension !== 3) return 2000;
  return last ? 20000 : 5000;
}

/** Default final B-spline control-point spacing: 10 mm in 3D, 16 mm in 2D (elastix's usual), ≥ 4 voxels. */
function defaultGridSpacing(fixed: Image): number {
  const base = fixed.dimension === 3 ? 10 : 16;
  return Math.max(base, 4 * Math.max(...fixed.spacing));
}

/** What every stage and level of one registration reads. */
interface RegistrationRun {
  fixed: Image;
  moving: Image;
  config: RegistrationConfig;
  opts: RegisterOptions;
  cache: LevelCache;
  preset: PresetRecord;
}

/**
 * A linear stage's levels, refining `t` in place. Each level runs in a function of its own (runLinearLevel), and so
 * does each stage: an async function keeps the locals of a finished loop iteration reachable in its suspended frame
 * until they are overwritten, so a level's cost and samples (≈ 20 MB at a 2 mm head's last affine level) stayed
 * alive through the next level's set-up, and the last level's through the whole B-spline stage that followed.
 */
async function runLinearStage(run: RegistrationRun, stage: StageConfig, si: number, t: MatrixOffsetTransform, seed: number): Promise<StageLog> {
  const { fixed, moving, opts, cache, preset } = run;
  const levels = stage.levels ?? defaultLevels(stage.transform, fixed.size);
  const log: StageLog = { transform: stage.transform, metric: stage.metric, levels: [] };
  const seeds = levelSeeds(levels.length, seed, si);
  // (all levels' samples and ranges at once on the team: the first level's clock includes them)
  const tp = now();
  const own = cache.ahead?.stage === stage ? cache.ahead.levels : undefined;
  const prepared = await prepareStageLevels(fixed, moving, stage, levels, seeds, opts, cache, preset);
  cache.ahead = undefined;
  for (const [li, level] of levels.entries()) {
    const where = { stage: si, stageCount: run.config.stages.length, stageConfig: stage, level: li, levelCount: levels.length, maxIterations: level.iterations };
    log.levels.push(await runLinearLevel(run, where, level, t, seeds[li], li === 0 ? tp : now(), prepared, own));
    opts.onLevel?.({ stage: si, stageCount: run.config.stages.length, transform: stage.transform, metric: stage.metric, level: li, levelCount: levels.length, log: log.levels[li] });
  }
  return log;
}

/** One level of a linear stage (see runLinearStage); `tl`: when its clock started. */
async function runLinearLevel(
  run: RegistrationRun,
  where: ProgressContext,
  level: LevelConfig,
  t: MatrixOffsetTransform,
  seed: number,
  tl: number,
  prepared: (PreparedLevel | undefined)[] | null,
  own: Map<number, MadeLevel> | undefined,
): Promise<LevelLog> {
  const { fixed, moving, config, opts, cache, preset } = run;
  const stage = where.stageConfig;
  const li = where.level;
  const si = where.stage;
  // (a level made ahead in prepareLevel's own code; those made by level-prep come with `prepared`)
  const ahead = prepared?.[li] ?? (own?.get(li)?.request ? undefined : own?.get(li)?.prepared);
  own?.delete(li);
  if (prepared) prepared[li] = undefined; // (its samples go with the level's cost)
  const { images, samples, sampler, costOptions } = await prepareLevel(fixed, moving, stage, level, seed, opts, cache, preset, ahead);
  opts.collect?.();
  const cost = new LinearRegistrationCost(t, samples, sampler, costOptions);
  if (si === 0 && li === 0 && config.rotationSearch && stage.transform !== 'translation') searchRotations(cost, t);
  // Parameter scales from physical shifts of (a subset of) the sample points.
  const stride = Math.max(1, Math.floor(samples.count / 2000));
  const sub = new Float64Array(Math.ceil(samples.count / stride) * samples.dimension);
  let m = 0;
  for (let i = 0; i < samples.count; i += stride) for (let a = 0; a < samples.dimension; a++) sub[m++] = samples.points[i * samples.dimension + a];
  const scales = estimateScalesFromPhysicalShift(t, sub.subarray(0, m));
  const { method, options } = optimizerOptions(stage, level.iterations, scales, samples.drawn);
  await cost.useThreads(opts.parallel);
  let result: LevelResult;
  try {
    result = await optimizeLevel(cost, Float64Array.from(t.parameters), method, options, where, opts);
  } finally {
    cost.dispose();
  }
  if (!result.parameters.every(Number.isFinite)) {
    opts.warn?.(`stage ${si + 1} (${stage.transform}) level ${li + 1}: the optimiser diverged; keeping the last good transform`);
  } else {
    t.setParameters(result.parameters);
  }
  if (result.stopReason === 'non-finite value') {
    opts.warn?.(`stage ${si + 1} (${stage.transform}) level ${li + 1}: the metric became undefined; kept the last good transform`);
  }
  return levelLog(result, (now() - tl) / 1000, cost.lastValidCount, images);
}

async function runBSplineStage(
  fixed: Image,
  moving: Image,
  stage: StageConfig,
  si: number,
  config: RegistrationConfig,
  linear: MatrixOffsetTransform,
  opts: RegisterOptions,
  cache: LevelCache,
  seed: number,
  preset: PresetRecord,
): Promise<{ transform: BSplineTransform; log: StageLog }> {
  // 3D default: elastix's habit — stochastic gradient descent on fresh random samples, 4 levels of 500 iterations
  // (the grid spacing halves per level); 2D: L-BFGS on all pixels.
  const method = bsplineMethod(stage, fixed);
  const stochastic = method === 'stochastic';
  const levels = bsplineLevels(stage, fixed);
  const finalSpacing = stage.gridSpacing ?? defaultGridSpacing(fixed);
  // The moving image is interpolated linearly under stochastic steps (elastix's habit: on the 2 mm subjects of
  // issue 10, mean TRE 0.22 → 0.11 mm and max 0.75 → 0.49 mm against the cubic B-spline interpolator); L-BFGS
  // on all samples keeps the cubic one, whose smooth cost it needs.
  const levelStage: StageConfig = { ...stage, interpolation: stage.interpolation ?? (stochastic ? 'linear' : 'bspline') };
  let bs = createBSplineTransformForImage(fixed, finalSpacing * 2 ** (levels.length - 1), '--grid-spacing');
  const log: StageLog = { transform: stage.transform, metric: stage.metric, levels: [] };
  // Every voxel of the fixed image where that is affordable (≤ 2 M voxels: e.g. 2 mm heads), so that nothing folds
  // between the check points; every second voxel of larger images.
  const foldPoints = foldCheckPoints(fixed, numberOfPixels(fixed) <= 2_000_000 ? 1 : 2);
  const seeds = levelSeeds(levels.length, seed, si);
  for (const [li, level] of levels.entries()) {
    if (li > 0) bs = refineBSpline(bs, 2);
    const where = { stage: si, stageCount: config.stages.length, stageConfig: stage, level: li, levelCount: levels.length, maxIterations: level.iterations };
    // (a function of its own: see runLinearStage)
    log.levels.push(await runBSplineLevel({ fixed, moving, config, opts, cache, preset }, where, levelStage, level, bs, linear, method, seed, seeds[li], foldPoints));
    opts.onLevel?.({ stage: si, stageCount: config.stages.length, transform: stage.transform, metric: stage.metric, level: li, levelCount: levels.length, log: log.levels[li] });
  }
  return { transform: bs, log };
}

/** One level of a B-spline stage (see runBSplineStage), moving `bs` from its parameters on entry; `levelStage`: the stage with its level interpolator. */
async function runBSplineLevel(
  run: RegistrationRun,
  where: ProgressContext,
  levelStage: StageConfig,
  level: LevelConfig,
  bs: BSplineTransform,
  linear: MatrixOffsetTransform,
  method: OptimizerName,
  seed: number,
  levelSeed: number,
  foldPoints: FoldCheckGrid,
): Promise<LevelLog> {
  const { fixed, moving, opts, cache, preset } = run;
  const stage = where.stageConfig;
  const si = where.stage;
  const li = where.level;
  const stochastic = method === 'stochastic';
  const tl = now();
  const { images, samples, sampler, costOptions } = await prepareLevel(fixed, moving, levelStage, level, levelSeed, opts, cache, preset);
  opts.collect?.();
  const before = Float64Array.from(bs.parameters);
  // The Gauss–Newton preconditioner suits L-BFGS on all samples; with stochastic steps it lets control points
  // with little information (air, homogeneous white matter) take steps as large as the best-informed ones,
  // driven by noise: the folds and the 1–2 mm outliers of issue 10. Off by default there.
  const preconditioned = stage.preconditioner ?? !stochastic;
  // The stochastic gain's gradient over all the level's samples, from a cost evaluated once (on the WebAssembly
  // kernels: its arena, released, then holds the level's own cost, whose moving plane lands on pages already
  // touched; 2 threads, ch2bet: each level's preparation ~40 ms shorter than on the TypeScript kernel). Made and
  // dropped before the level's own cost when that one's scales are not needed first, so that the two never hold
  // memory at once (it holds a support and a gradient slot per block for every sample: +36 MB of peak on a 2 mm
  // atlas registration).
  const levelGradient = async (): Promise<Float64Array> => {
    const g = new Float64Array(bs.numberOfParameters);
    // on the team's threads (the level's whole sample set: up to 150 000 samples, serial work otherwise)
    const tmp = new BSplineRegistrationCost(bs, linear, samples, sampler, costOptions);
    try {
      await tmp.useThreads(opts.parallel);
      tmp.evaluate(before, g);
    } finally {
      tmp.dispose();
    }
    bs.setParameters(before);
    return g;
  };
  let g0: Float64Array | undefined;
  if (stochastic && !preconditioned) {
    g0 = await levelGradient();
    opts.collect?.();
  }
  const cost = new BSplineRegistrationCost(bs, linear, samples, sampler, {
    ...costOptions,
    bendingWeight: stage.bendingWeight ?? 0,
    jacobianWeight: stage.jacobianWeight ?? 0,
    fresh: stochastic
      ? { image: images.fixed, mask: images.fixedMask, count: stage.subsetSize ?? freshSamples(fixed.dimension, li === where.levelCount - 1), seed: seed + 31 * li + 1009 * si, shared: (opts.parallel?.threads ?? 1) > 1 }
      : undefined,
  });
  const scales = preconditioned ? cost.parameterScales(before) : undefined;
  const options = stopOptions(stage, level.iterations, scales, 1e-6);
  // One scaled unit = 1 mm of control-point motion; never move the whole grid by more than a few voxels at once.
  options.maximumStepLength = 2 * Math.sqrt(bs.numberOfParameters);
  if (stochastic) {
    // Gain such that the first step moves the most-driven control point by a quarter of a full-resolution voxel
    // (elastix limits steps to the full-resolution voxel too), from the gradient over all samples. Steps of a
    // whole voxel of the level (16 mm at shrink 8 of a 2 mm image) made the iterates wander in regions the
    // samples say little about: folds at the coarse levels and 1–2 mm errors in deep white matter (issue 10).
    g0 ??= await levelGradient();
    let largest = 0;
    for (let p = 0; p < g0.length; p++) largest = Math.max(largest, Math.abs(g0[p] / (scales ? scales[p] : 1)));
    const voxel = Math.max(...fixed.spacing);
    options.learningRate = stage.learningRate ?? (largest > 0 ? (STOCHASTIC_FIRST_STEP * voxel) / largest : 1);
    options.maximumParameterStep = voxel;
    options.averageFraction = stage.averageFraction ?? 0.9;
    bs.setParameters(before);
  }
  if (method === 'regular-step') options.initialStepLength = stage.learningRate ?? 1;
  if (method === 'gradient-descent' || method === 'adam') options.learningRate = stage.learningRate ?? (method === 'adam' ? 0.05 : 1);
  await cost.useThreads(opts.parallel);
  let result: LevelResult;
  try {
    // stochastic steps: the optimiser's passes over the parameters on the cost's threads (the same iterates)
    result = await optimizeLevel(cost, before, method, options, where, opts, stochastic ? (o) => cost.stochasticSteps(before, o) : undefined);
  } finally {
    cost.dispose();
  }
  let stopReason = result.stopReason;
  if (result.parameters.every(Number.isFinite)) {
    const repair = await repairFoldingOn(opts.parallel, bs, before, result.parameters, foldPoints);
    if (repair.pulledBack > 0 || !repair.repaired) {
      // A folding deformation is not a registration result. A local fold (a few control points) is undone
      // locally so the rest of the level's work stays; a widespread one discards the level.
      opts.warn?.(
        repair.repaired
          ? `stage ${si + 1} (bspline) level ${li + 1}: the deformation started to fold (Jacobian determinant ≤ 0) in places; scaled back the update of ${repair.pulledBack} of ${bs.numberOfControlPoints} control points there`
          : `stage ${si + 1} (bspline) level ${li + 1}: the deformation started to fold (Jacobian determinant ≤ 0); kept the last good transform (try a larger --grid-spacing or "jacobianWeight")`,
      );
      if (!repair.repaired) bs.setParameters(before);
      stopReason = repair.repaired ? 'folds repaired locally' : 'folding: kept the last good transform';
    }
  } else {
    opts.warn?.(`stage ${si + 1} (bspline) level ${li + 1}: the optimiser diverged; keeping the last good transform`);
    bs.setParameters(before);
  }
  return levelLog({ ...result, stopReason }, (now() - tl) / 1000, cost.lastValidCount, images);
}

/** Symmetric diffeomorphic (SyN) stage after the linear part: chain [field, linear], T(x) = A(x + u(x)). */
async function runSynStage(
  fixed: Image,
  moving: Image,
  stage: StageConfig,
  si: number,
  config: RegistrationConfig,
  linear: MatrixOffsetTransform,
  opts: RegisterOptions,
): Promise<{ transform: Transform; inverse: Image; log: StageLog }> {
  const metric = stage.metric as 'mse' | 'lncc' | 'mi'; // checked by validateConfig
  if (opts.fixedMask || opts.movingMask) opts.warn?.('masks are not used by the syn stage');
  const levels = stage.levels;
  const result = await synRegister(
    fixed,
    moving,
    {
      metric,
      radius: stage.radius,
      bins: stage.bins,
      shrink: levels?.map((l) => l.shrink),
      smooth: levels?.map((l) => l.smooth),
      smoothUnit: levels?.[0]?.smoothUnit,
      iterations: levels?.map((l) => l.iterations),
      gradientSigma: stage.gradientSigma,
      totalSigma: stage.totalSigma,
      stepSize: stage.learningRate,
      convergenceWindow: stage.convergenceWindow,
      convergenceThreshold: stage.convergenceTolerance,
    },
    {
      initial: linear,
      signal: opts.signal,
      warn: opts.warn,
      onProgress: (e) =>
        opts.onProgress?.({
          stage: si,
          stageCount: config.stages.length,
          transform: 'syn',
          metric: stage.metric,
          level: e.level,
          levelCount: e.levelCount,
          iteration: e.iteration,
          maxIterations: e.maxIterations,
          value: e.value,
        }),
    },
  );
  const log: StageLog = {
    transform: 'syn',
    metric: stage.metric,
    levels: result.levels.map((l) => ({
      iterations: l.iterations,
      value: l.value,
      seconds: l.seconds,
      stopReason: l.stopReason,
      samples: l.size.reduce((a, b) => a * b, 1),
      shrink: l.shrink,
      smoothMm: l.smoothMm,
    })),
  };
  return { transform: new DisplacementFieldTransform(result.forward, 'warp.nii.gz'), inverse: result.inverse, log };
}

/**
 * Registers `moving` to `fixed`. Resolves with the transform chain (fixed → moving) and a per-stage, per-level log.
 * Linear stages each start from the previous result; a `bspline` stage adds a free-form deformation in fixed
 * space before the linear part: T(x) = A(x + u(x)), the chain [bspline, linear].
 * Cancel with `options.signal` (rejects with an Error named 'AbortError').
 */
export async function register(fixed: Image, moving: Image, config: RegistrationConfig, opts: RegisterOptions = {}): Promise<RegistrationResult> {
  const t0 = now();
  // Images from user code are checked as the file readers check files (named by the argument).
  checkImageArgument(fixed, 'fixed');
  checkImageArgument(moving, 'moving');
  if (opts.fixedMask) checkImageArgument(opts.fixedMask, 'fixedMask');
  if (opts.movingMask) checkImageArgument(opts.movingMask, 'movingMask');
  validateConfig(config);
  // The helper threads start (~0.1 s) while this thread checks the images, when the levels are large enough to use them.
  if (opts.parallel && opts.parallel.threads > 1 && numberOfPixels(fixed) >= TEAM_MIN_SAMPLES) opts.parallel.warm?.();
  const cache: LevelCache = new Map<string, LevelImages>();
  cache.quantiles = new Map();
  // the first stage's pyramid on the helpers while this thread computes the images' checks, modality statistics
  // and initializer centres (on the team when there is no such pyramid)
  const arrays = { fixed: teamArray(fixed, opts, cache), moving: teamArray(moving, opts, cache) };
  const prefetch = await prefetchLevels(fixed, moving, config, opts, cache);
  let input: InputStats;
  let preset: PresetRecord;
  try {
    input = await inputStatistics(prefetch ? undefined : opts.parallel, fixed, moving, arrays, config, opts, cache.quantiles);
    checkInputs(fixed, moving, opts);
    preset = choosePreset(fixed, moving, config, input.guesses);
    // (while the helpers finish the pyramid)
    if (prefetch) await prepareUnshrunkLevels(fixed, moving, config, opts, cache, preset);
  } catch (err) {
    prefetch?.cancel();
    throw err;
  }
  prefetch?.join();
  const seed = config.seed ?? DEFAULT_SEED;
  const stages: StageLog[] = [];
  let current: MatrixOffsetTransform | null = null;
  let deformation: Transform | null = null;
  let inverseField: Image | undefined;
  let landmarks: AutoLandmarkResult | undefined;
  if (config.initializer === 'landmarks' && !(opts.initial && opts.initial.length > 0)) {
    // Rigid (similarity when the first stage is one): the intensity stages refine it, as given.
    const first = config.stages[0]?.transform;
    // Loaded here: the keypoint code is only for this initializer.
    const { autoLandmarks } = await import('../features/auto.js');
    landmarks = autoLandmarks(fixed, moving, {
      transform: first === 'similarity' ? 'similarity' : 'rigid',
      fixedMask: opts.fixedMask,
      movingMask: opts.movingMask,
      seed,
    });
  }

  for (const [si, stage] of config.stages.entries()) {
    // validateConfig has checked the order: linear stages, then at most one non-rigid stage.
    if (stage.transform === 'syn') {
      const linear: MatrixOffsetTransform = current ?? initialTransform('affine', fixed, moving, config, opts, landmarks, input.centers);
      const { transform, inverse, log } = await runSynStage(fixed, moving, stage, si, config, linear, opts);
      // SyN reports its levels when the stage ends.
      log.levels.forEach((l, li) => opts.onLevel?.({ stage: si, stageCount: config.stages.length, transform: 'syn', metric: stage.metric, level: li, levelCount: log.levels.length, log: l }));
      deformation = transform;
      inverseField = inverse;
      current = linear;
      stages.push(log);
      continue;
    }
    if (stage.transform === 'bspline') {
      const linear: MatrixOffsetTransform = current ?? initialTransform('affine', fixed, moving, config, opts, landmarks, input.centers);
      const { transform, log } = await runBSplineStage(fixed, moving, stage, si, config, linear, opts, cache, seed, preset);
      deformation = transform;
      current = linear;
      stages.push(log);
      continue;
    }
    if (!LINEAR_KINDS.includes(stage.transform)) {
      throw new CoregError('--transform', `"${stage.transform}" stages are not available in this version of coreg (use ${[...LINEAR_KINDS, 'bspline'].join(', ')})`);
    }
    const kind = stage.transform as LinearKind;
    const t: MatrixOffsetTransform = current ? fitTransformFrom(kind, current, current.getCenter()) : initialTransform(kind, fixed, moving, config, opts, landmarks, input.centers);
    stages.push(await runLinearStage({ fixed, moving, config, opts, cache, preset }, stage, si, t, seed));
    current = t;
  }
  const transforms: Transform[] = deformation ? [deformation, current!] : [current!];
  // the levels' released arenas (WebAssembly memories) are not kept for whatever this thread does next
  if (!opts.keepArenas) dropIdleArenas();
  return { transforms, inverseField, stages, seconds: (now() - t0) / 1000, threads: opts.parallel?.threads ?? 1, preset, ...(landmarks ? { landmarks } : {}) };
}

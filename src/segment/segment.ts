/**
 * Atlas-based segmentation: register each atlas image (moving) to the target (fixed), carry its labels onto the
 * target grid with label interpolation, and fuse the warped labels.
 *
 * Atlases are independent (`processAtlas`): without a pool they run one at a time in this thread (each
 * registration on `parallel`'s threads when given: coreg segment's way, one registration's memory at a time); with a
 * WorkerPool (src/parallel) as many at once as the pool has workers, the target's pixels shared, not copied.
 * Results depend on neither: each atlas' registration gives the same result on any number of threads.
 */
import { CoregError, type WarningSink } from '../errors.js';
import { checkImageArgument, createImageLike, pixelTypeOf, type Image, type PixelType } from '../image/image.js';
import type { RegistrationConfig } from '../register/config.js';
import type { WorkerPool } from '../parallel/pool.js';
import type { ParallelFor } from '../register/parallel-for.js';
import { shareImage } from '../parallel/shared.js';
import type { AtlasTaskEvent, AtlasTaskInput, RankTaskInput } from './tasks.js';
import { isAbort, now, processAtlas, validateAtlas, type Atlas, type AtlasOutcome, type SegmentProgress, type WarpedAtlas } from './atlas.js';
import { majorityVote, FUSION_METHODS, type FusionMethod, type FusionResult } from './fusion.js';
import { rankAtlases, selectBest, type AtlasRank, type RemoteScorer, type SelectionMeasure } from './select.js';
import { locallyWeightedVote, type WeightedVoteOptions } from './weighted-vote.js';
import { staple, type StapleOptions } from './staple.js';
import { jointLabelFusion, type JointFusionOptions } from './joint-fusion.js';

export interface SegmentOptions {
  fusion: FusionMethod;
  /** Keep the best `select` atlases after a cheap affine ranking (omitted or ≥ the atlas count: use all). */
  select?: number;
  /** Similarity used to rank atlases (default 'ncc'). */
  selectMeasure?: SelectionMeasure;
  /** Registration of each atlas image to the target. */
  config: RegistrationConfig;
  /** Also return one probability map per label. */
  probabilities?: boolean;
  /** Also return each atlas' warped image (always kept internally for 'weighted' and 'jlf'). */
  keepWarpedImages?: boolean;
  weighted?: WeightedVoteOptions;
  jlf?: JointFusionOptions;
  staple?: StapleOptions;
  onProgress?: (event: SegmentProgress) => void;
  signal?: AbortSignal;
  warn?: WarningSink;
  /**
   * Workers serving SEGMENT_TASKS (src/segment/tasks.ts), e.g. createNodeWorkerPool() from `coreg/node` (src/cli/worker-pool.ts):
   * atlases are ranked and registered as many at once as it runs; memory grows with its size, not the atlas
   * count. Without one, atlases run one after another in this thread.
   */
  pool?: WorkerPool;
  /**
   * Instead of a pool: atlases one after another in this thread, each registration on this team's threads
   * (src/parallel/team.ts; e.g. createNodeTeam from `coreg/node`). Memory then holds one registration at a time.
   * The labels are the same either way.
   */
  parallel?: ParallelFor;
  /** Passed to the registrations run in this thread (RegisterOptions.collect); also called once before the fusion. */
  collect?: () => void;
  /**
   * The caller gives segment() the atlases' images: once an atlas is registered and warped, its `image` and
   * `labels` are deleted from its Atlas object (nothing reads them afterwards), so that the atlases done no longer
   * hold memory while the next ones register (coreg segment, 5 atlases of 2 mm, 2 threads: peak RSS 223 → 210 MB).
   */
  releaseAtlases?: boolean;
  /**
   * With `parallel` (a team): the workers of its helpers (the team's own pool, serving SEGMENT_TASKS). Atlases then
   * register as many at once as this thread and these workers ("lanes"), each registration on one thread, and the
   * atlases left over when fewer remain than lanes (count mod lanes) one after another on the whole team. The labels
   * are the same as in any other order: each atlas' registration does not depend on its thread count, and fusion
   * takes the atlases in input order. Less CPU than every registration on the team (5 atlases of 2 mm, 2 threads,
   * under load: 47–55 user CPU-s against 59–66; one thread 41–48), but two registrations' memory at once: peak RSS
   * 283–288 MB against 225–238 MB (239–251 with the big shared arrays mapped outside malloc, in WebAssembly.Memory),
   * over elastix's 242 MB, so `coreg segment` does not use it. (Measured again in session 10, load 3–11: 248–286 MB over
   * 14 runs. At the peak, the lane worker's own malloc arena holds ~60 MB, which is one single-thread registration's
   * high-water mark. Drawing the finest level's step-size gradient from 10 000 samples instead of the level's set
   * took only 6–11 MB off the peak.)
   */
  lanes?: WorkerPool;
}

export interface LabelVolume {
  label: number;
  voxels: number;
  /** mm³ (mm² for 2D images). */
  volume: number;
}

export interface FailedAtlas {
  name: string;
  phase: 'select' | 'register';
  error: string;
}

export interface SegmentReport {
  fusion: FusionMethod;
  /** Names of the atlases whose labels were fused, in input order. */
  selected: string[];
  /** The selection ranking, best first (null without selection). */
  ranking: AtlasRank[] | null;
  failed: FailedAtlas[];
  timings: {
    selectionSeconds: number;
    registrations: { name: string; seconds: number }[];
    fusionSeconds: number;
    totalSeconds: number;
  };
  /** Labels other than 0 in the result, ascending. */
  volumes: LabelVolume[];
  /** STAPLE only: EM iterations, convergence and each atlas' mean sensitivity (P(says s | truth s) averaged over labels). */
  staple?: { iterations: number; converged: boolean; meanSensitivity: { name: string; value: number }[] };
}

export interface SegmentResult {
  /** Fused labels on the target grid, in the atlas labels' pixel type. */
  labels: Image;
  probabilities?: { label: number; image: Image }[];
  warped: WarpedAtlas[];
  report: SegmentReport;
}

/** Fresh samples per iteration of a 3D B-spline stage when registering atlases (register's default: 20 000). */
export const ATLAS_BSPLINE_SAMPLES = 10000;

/**
 * `config` with segmentation's defaults filled in: 3D stochastic B-spline stages draw ATLAS_BSPLINE_SAMPLES per
 * iteration unless `subsetSize` is set. Fusing several atlases averages out the small extra noise of each
 * registration: on the atlas benchmark (5 atlases, 116 labels) JLF Dice was the same as with 20 000 (0.9067 vs
 * 0.9062) in 62 % of the time.
 */
export function withAtlasDefaults(config: RegistrationConfig, target: Image): RegistrationConfig {
  if (target.dimension !== 3) return config;
  return {
    ...config,
    stages: config.stages.map((s) => (s.transform === 'bspline' && s.subsetSize === undefined ? { ...s, subsetSize: ATLAS_BSPLINE_SAMPLES } : s)),
  };
}

/** The pixel type of the result: the atlases' common label type, else int32. */
function outputLabelType(atlases: readonly Atlas[]): PixelType {
  const types = new Set(atlases.map((a) => pixelTypeOf(a.labels.data)));
  return types.size === 1 ? [...types][0] : 'int32';
}

function fuse(method: FusionMethod, target: Image, warped: readonly WarpedAtlas[], options: SegmentOptions): FusionResult {
  const votes = warped.map((w) => w.labels.data);
  const probabilities = Boolean(options.probabilities);
  if (method === 'majority') return majorityVote(votes, { probabilities });
  if (method === 'staple') return staple(votes, { ...options.staple, probabilities });
  const targetData = Float32Array.from(target.data as ArrayLike<number>);
  const images = warped.map((w) => w.image!.data as Float32Array);
  if (method === 'weighted') return locallyWeightedVote(votes, images, targetData, target.size, { ...options.weighted, probabilities });
  return jointLabelFusion(votes, images, targetData, target.size, { ...options.jlf, probabilities });
}

/** Per-label voxel counts and volumes of a label image, labels other than 0, ascending. */
export function labelVolumes(labels: Image): LabelVolume[] {
  const counts = new Map<number, number>();
  const data = labels.data;
  for (let v = 0; v < data.length; v++) {
    const l = data[v];
    if (l !== 0) counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  const voxelVolume = labels.spacing.reduce((a, b) => a * b, 1);
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([label, voxels]) => ({ label, voxels, volume: voxels * voxelVolume }));
}

interface SharedInputs {
  target: Image;
  /** Atlas images on shared memory, made once and posted to ranking and registration. */
  images: Map<number, Image>;
}

function sharedAtlasImage(shared: SharedInputs, atlases: readonly Atlas[], i: number): Image {
  let img = shared.images.get(i);
  if (!img) shared.images.set(i, (img = shareImage(atlases[i].image)));
  return img;
}

function taskEvents(options: SegmentOptions, phase: 'select' | 'register', atlases: readonly Atlas[], i: number): (e: unknown) => void {
  return (raw) => {
    const e = raw as AtlasTaskEvent;
    // processAtlas/scoreAtlas in the worker already name the atlas.
    if (e.kind === 'warn') options.warn?.(e.message);
    else options.onProgress?.({ phase, atlas: i, atlasCount: atlases.length, name: atlases[i].name, registration: e.event });
  };
}

/** processAtlas in a worker; a worker that dies fails its atlas only. */
async function remoteAtlas(pool: WorkerPool, shared: SharedInputs, atlases: readonly Atlas[], i: number, warpImage: boolean, options: SegmentOptions): Promise<AtlasOutcome> {
  const t0 = now();
  const input: AtlasTaskInput = {
    target: shared.target,
    image: sharedAtlasImage(shared, atlases, i),
    labels: atlases[i].labels,
    name: atlases[i].name,
    index: i,
    atlasCount: atlases.length,
    config: options.config,
    warpImage,
  };
  try {
    return await pool.run<AtlasOutcome>('segment.atlas', input, { onEvent: taskEvents(options, 'register', atlases, i), signal: options.signal });
  } catch (err) {
    if (isAbort(err, options.signal)) throw err;
    return { seconds: (now() - t0) / 1000, error: err instanceof Error ? err.message : String(err) };
  }
}

function remoteScorer(pool: WorkerPool, shared: SharedInputs, atlases: readonly Atlas[], options: SegmentOptions): RemoteScorer {
  return (i, config, measure) => {
    const input: RankTaskInput = { target: shared.target, image: sharedAtlasImage(shared, atlases, i), name: atlases[i].name, config, measure };
    return pool.run<number>('segment.rank', input, { onEvent: taskEvents(options, 'select', atlases, i), signal: options.signal });
  };
}

/**
 * The chosen atlases' outcomes (in `chosen`'s order): the last (count mod lanes) one after another on the whole team
 * first, then the others as many at once as this thread plus the lane workers, each on one thread, taken in order by
 * whichever lane is free. `done(i)` as each atlas finishes.
 */
async function runInLanes(
  target: Image,
  atlases: readonly Atlas[],
  chosen: readonly number[],
  lanes: WorkerPool,
  warpImage: boolean,
  options: SegmentOptions,
  done: (i: number) => void,
): Promise<AtlasOutcome[]> {
  const count = 1 + lanes.size;
  const outcomes = new Array<AtlasOutcome>(chosen.length);
  const together = chosen.length - (chosen.length % count);
  for (let k = together; k < chosen.length; k++) {
    options.signal?.throwIfAborted();
    outcomes[k] = await processAtlas(target, atlases[chosen[k]], chosen[k], atlases.length, { ...options, warpImage });
    done(chosen[k]);
  }
  const shared: SharedInputs = { target: shareImage(target), images: new Map<number, Image>() };
  let next = 0;
  const lane = async (remote: boolean): Promise<void> => {
    while (next < together) {
      options.signal?.throwIfAborted();
      const k = next++;
      const i = chosen[k];
      outcomes[k] = remote
        ? await remoteAtlas(lanes, shared, atlases, i, warpImage, options)
        : await processAtlas(target, atlases[i], i, atlases.length, { ...options, parallel: undefined, warpImage });
      shared.images.delete(i);
      done(i);
    }
  };
  // the workers' first atlases are posted before this thread starts its own (synchronous for long stretches)
  await Promise.all([...Array.from({ length: lanes.size }, () => lane(true)), lane(false)]);
  return outcomes;
}

/**
 * Segments `target` from labelled atlases. An atlas whose registration throws is reported in `report.failed` and
 * left out; it is an error only when every atlas fails. Cancel with `options.signal`.
 */
export async function segment(target: Image, atlases: readonly Atlas[], options: SegmentOptions): Promise<SegmentResult> {
  const t0 = now();
  if (!(FUSION_METHODS as readonly string[]).includes(options.fusion)) {
    throw new CoregError('--fusion', `unknown fusion "${String(options.fusion)}" (expected ${FUSION_METHODS.join(', ')})`, 2);
  }
  if (atlases.length === 0) throw new CoregError('--atlas', 'at least one atlas is needed', 2);
  checkImageArgument(target, 'target');
  for (const [i, a] of atlases.entries()) {
    checkImageArgument(a.image, `atlases[${i}].image`);
    checkImageArgument(a.labels, `atlases[${i}].labels`);
  }
  if (target.components !== 1) throw new CoregError('--target', `has ${target.components} components per pixel; the target must be scalar`);
  if (options.select !== undefined && !(Number.isInteger(options.select) && options.select >= 1)) {
    throw new CoregError('--select', `must be an integer ≥ 1, got ${options.select}`, 2);
  }
  for (const atlas of atlases) validateAtlas(target, atlas);
  const outputType = outputLabelType(atlases);
  const failed: FailedAtlas[] = [];
  const pool = options.pool;
  const shared = pool ? { target: shareImage(target), images: new Map<number, Image>() } : null;

  // Atlas i's images go once it is done (releaseAtlases).
  const done = (i: number): void => {
    if (!options.releaseAtlases) return;
    shared?.images.delete(i);
    const a = atlases[i] as Partial<Atlas>;
    delete a.image;
    delete a.labels;
  };

  // Selection.
  let chosen = atlases.map((_, i) => i);
  let ranking: AtlasRank[] | null = null;
  let selectionSeconds = 0;
  if (options.select !== undefined && options.select < atlases.length) {
    const ts = now();
    ranking = await rankAtlases(target, atlases, {
      remote: pool ? remoteScorer(pool, shared!, atlases, options) : undefined,
      measure: options.selectMeasure,
      parallel: options.parallel,
      signal: options.signal,
      warn: options.warn,
      onProgress: options.onProgress
        ? (i, e) => options.onProgress!({ phase: 'select', atlas: i, atlasCount: atlases.length, name: atlases[i].name, registration: e })
        : undefined,
    });
    for (const r of ranking) {
      if (r.score !== null) continue;
      failed.push({ name: r.name, phase: 'select', error: r.error ?? 'could not be scored' });
    }
    chosen = selectBest(ranking, options.select).sort((a, b) => a - b);
    selectionSeconds = (now() - ts) / 1000;
  }
  // (the atlases left out by the selection are done too)
  for (const i of atlases.keys()) if (!chosen.includes(i)) done(i);

  // Registration and warping: in this thread one atlas at a time, or in the pool's workers.
  const warpImage = options.fusion === 'weighted' || options.fusion === 'jlf' || Boolean(options.keepWarpedImages);
  const runOne = (i: number): Promise<AtlasOutcome> => {
    options.signal?.throwIfAborted();
    return pool ? remoteAtlas(pool, shared!, atlases, i, warpImage, options) : processAtlas(target, atlases[i], i, atlases.length, { ...options, warpImage });
  };
  const outcomes: AtlasOutcome[] = [];
  if (pool) outcomes.push(...(await Promise.all(chosen.map((i) => runOne(i).finally(() => done(i))))));
  else if (options.lanes && options.parallel && chosen.length > 1) outcomes.push(...(await runInLanes(target, atlases, chosen, options.lanes, warpImage, options, done)));
  else {
    for (const i of chosen) {
      outcomes.push(await runOne(i));
      done(i);
    }
  }
  const warped: WarpedAtlas[] = [];
  const registrations: { name: string; seconds: number }[] = [];
  chosen.forEach((i, k) => {
    const outcome = outcomes[k];
    registrations.push({ name: atlases[i].name, seconds: outcome.seconds });
    if (outcome.warped) warped.push(outcome.warped);
    else failed.push({ name: atlases[i].name, phase: 'register', error: outcome.error! });
  });
  if (warped.length === 0) {
    const first = failed[0];
    throw new CoregError('--atlas', `all ${failed.length} atlases failed (${first.name}: ${first.error})`);
  }
  // Warned only now: when every atlas fails, the error above is the one message.
  for (const f of failed) options.warn?.(`atlas ${f.name}: left out (${f.phase === 'select' ? 'selection' : 'registration'} failed: ${f.error})`);

  // Fusion, after a collection (the last registration's dead buffers go before the fusion allocates its own).
  options.collect?.();
  options.onProgress?.({ phase: 'fuse', atlas: -1, atlasCount: atlases.length, name: options.fusion });
  const tf = now();
  const fused = fuse(options.fusion, target, warped, options);
  const labels = createImageLike(target, outputType, 1);
  const out = labels.data;
  for (let v = 0; v < out.length; v++) out[v] = fused.labels[v];
  let probabilities: { label: number; image: Image }[] | undefined;
  if (fused.probabilities) {
    probabilities = [];
    for (const [k, p] of fused.probabilities.entries()) {
      const image = createImageLike(target, 'float32', 1);
      image.data.set(p);
      probabilities.push({ label: fused.labelValues[k], image });
    }
  }
  const fusionSeconds = (now() - tf) / 1000;

  const report: SegmentReport = {
    fusion: options.fusion,
    selected: warped.map((w) => w.name),
    ranking,
    failed,
    timings: { selectionSeconds, registrations, fusionSeconds, totalSeconds: (now() - t0) / 1000 },
    volumes: labelVolumes(labels),
  };
  if (options.fusion === 'staple' && 'confusion' in fused) {
    const s = fused as ReturnType<typeof staple>;
    const L = s.labelValues.length;
    report.staple = {
      iterations: s.iterations,
      converged: s.converged,
      meanSensitivity: s.confusion.map((c, j) => {
        let sum = 0;
        for (let l = 0; l < L; l++) sum += c[l * L + l];
        return { name: warped[j].name, value: sum / L };
      }),
    };
  }
  if (!options.keepWarpedImages) for (const w of warped) delete w.image;
  return { labels, ...(probabilities ? { probabilities } : {}), warped, report };
}

/**
 * Atlas selection: register every atlas image cheaply (affine, coarse levels only, few iterations) to the
 * target, measure the similarity of the warped atlas and the target over the target's foreground, and rank.
 */
import { CoregError, type WarningSink } from '../errors.js';
import { finiteRange, type Image } from '../image/image.js';
import { evaluateMetric, nccSimilarity } from '../metric/index.js';
import { DEFAULT_SEED, defaultLevels, type RegistrationConfig } from '../register/config.js';
import { register, type ProgressEvent } from '../register/register.js';
import type { ParallelFor } from '../register/parallel-for.js';
import { resample } from '../resample/resample.js';

export type SelectionMeasure = 'ncc' | 'mi';

export interface AtlasRank {
  /** Position in the input list. */
  index: number;
  name: string;
  /** NCC (−1…1) or MI (nats) of the affinely warped atlas and the target over the foreground; null when it failed. */
  score: number | null;
  seconds: number;
  /** Why the atlas could not be scored (registration or similarity failed). */
  error?: string;
}

export interface RankOptions {
  /** Similarity measure (default 'ncc'). */
  measure?: SelectionMeasure;
  /** Registration settings (default: selectionConfig(target)). */
  config?: RegistrationConfig;
  onProgress?: (atlas: number, event: ProgressEvent) => void;
  signal?: AbortSignal;
  warn?: WarningSink;
  /** Threads inside each registration (a team); the scores do not depend on it. */
  parallel?: ParallelFor;
}

/** A cheap affine registration: the default affine levels without the finest, 30 iterations each. */
export function selectionConfig(target: Image, seed = DEFAULT_SEED): RegistrationConfig {
  const levels = defaultLevels('affine', target.size);
  const coarse = levels.length > 1 ? levels.slice(0, -1) : levels;
  return {
    stages: [{ transform: 'affine', metric: 'mi', levels: coarse.map((l) => ({ ...l, iterations: 30 })) }],
    initializer: 'moments',
    seed,
  };
}

/** Target voxels brighter than 10 % of its intensity range above its minimum (1 = foreground). */
export function foregroundMask(target: Image): Uint8Array {
  const data = target.data;
  const range = finiteRange(data);
  const mask = new Uint8Array(data.length);
  if (!range) return mask;
  const threshold = range.min + 0.1 * (range.max - range.min);
  for (let v = 0; v < data.length; v++) if (data[v] > threshold) mask[v] = 1;
  return mask;
}

/** Similarity of `warped` (on the target's grid) and `target` over the voxels where mask is 1 (higher is better). */
export function foregroundSimilarity(target: Image, warped: Image, mask: Uint8Array, measure: SelectionMeasure): number {
  if (warped.data.length !== target.data.length) throw new CoregError('select', 'the warped atlas is not on the target grid');
  let count = 0;
  for (let v = 0; v < mask.length; v++) count += mask[v];
  if (count < 2) throw new CoregError('--target', 'has no foreground to compare atlases on');
  const f = new Float64Array(count);
  const m = new Float64Array(count);
  for (let v = 0, k = 0; v < mask.length; v++) {
    if (mask[v] === 0) continue;
    f[k] = target.data[v];
    m[k] = warped.data[v];
    k++;
  }
  if (measure === 'ncc') return nccSimilarity(f, m);
  if (measure === 'mi') return -evaluateMetric('mi', f, m, count).value;
  throw new CoregError('--select', `unknown selection measure "${String(measure)}" (expected ncc or mi)`);
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return Boolean(signal?.aborted) || (err instanceof Error && err.name === 'AbortError');
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * Registers one atlas cheaply to the target and scores it (`mask` from foregroundMask(target)). Throws when it
 * cannot be scored.
 */
export async function scoreAtlas(
  target: Image,
  atlas: { image: Image; name: string },
  mask: Uint8Array,
  measure: SelectionMeasure,
  config: RegistrationConfig,
  options: { onProgress?: (event: ProgressEvent) => void; signal?: AbortSignal; warn?: WarningSink; parallel?: ParallelFor } = {},
): Promise<number> {
  const warn = options.warn;
  const result = await register(target, atlas.image, config, { ...options, warn: warn ? (m) => warn(`atlas ${atlas.name}: ${m}`) : undefined });
  const warped = resample(atlas.image, target, result.transforms, { interpolation: 'linear', outputType: 'float32' });
  const score = foregroundSimilarity(target, warped, mask, measure);
  if (!Number.isFinite(score)) throw new CoregError(atlas.name, `${measure} is undefined after registration`);
  return score;
}

/** Scores one atlas in a worker of `pool` (the 'segment.rank' task of tasks.ts). */
export type RemoteScorer = (index: number, config: RegistrationConfig, measure: SelectionMeasure) => Promise<number>;

/**
 * Scores every atlas and returns the ranking, best first (equal scores keep input order; atlases that could not
 * be scored come last). In this thread one atlas at a time, so memory stays at one warped image; with
 * `remote`, as many at once as its pool runs.
 */
export async function rankAtlases(
  target: Image,
  atlases: readonly { image: Image; name: string }[],
  options: RankOptions & { remote?: RemoteScorer } = {},
): Promise<AtlasRank[]> {
  const measure = options.measure ?? 'ncc';
  if (measure !== 'ncc' && measure !== 'mi') throw new CoregError('--select', `unknown selection measure "${String(measure)}" (expected ncc or mi)`);
  const config = options.config ?? selectionConfig(target);
  const mask = options.remote ? null : foregroundMask(target);
  const rankOne = async (index: number): Promise<AtlasRank> => {
    const atlas = atlases[index];
    const t0 = now();
    try {
      const score = options.remote
        ? await options.remote(index, config, measure)
        : await scoreAtlas(target, atlas, mask!, measure, config, {
            signal: options.signal,
            warn: options.warn,
            parallel: options.parallel,
            onProgress: options.onProgress ? (e) => options.onProgress!(index, e) : undefined,
          });
      return { index, name: atlas.name, score, seconds: (now() - t0) / 1000 };
    } catch (err) {
      if (isAbort(err, options.signal)) throw err;
      return { index, name: atlas.name, score: null, seconds: (now() - t0) / 1000, error: err instanceof Error ? err.message : String(err) };
    }
  };
  const ranks: AtlasRank[] = [];
  if (options.remote) ranks.push(...(await Promise.all(atlases.map((_, i) => rankOne(i)))));
  else for (let i = 0; i < atlases.length; i++) ranks.push(await rankOne(i));
  return ranks.sort((a, b) => {
    if (a.score === null || b.score === null) return a.score === b.score ? a.index - b.index : a.score === null ? 1 : -1;
    return b.score - a.score || a.index - b.index;
  });
}

/** Input indices of the best `k` scored atlases of a ranking (in ranking order). */
export function selectBest(ranking: readonly AtlasRank[], k: number): number[] {
  if (!(Number.isInteger(k) && k >= 1)) throw new CoregError('--select', `must be an integer ≥ 1, got ${k}`);
  return ranking.filter((r) => r.score !== null).slice(0, k).map((r) => r.index);
}

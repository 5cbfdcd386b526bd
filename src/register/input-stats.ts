/**
 * register's look at its two input images before the first level, on its team (parallel-stats.ts): the value
 * checks (checkImagePair), the modality guesses' quantiles and integer checks (preset.ts), and the default
 * initializer's Otsu split and foreground centres (transform/initialize.ts), in one session of passes over blocks
 * of both images; and the winsorised intensity ranges of each level. The same numbers as the one-thread functions
 * (the foreground centres: their sums made per block and merged in block order), for any thread count.
 */
import type { Image, PixelArray } from '../image/image.js';
import { modalityFrom, type ModalityGuess } from '../image/intensity.js';
import { foregroundCenterFromSums, volumeSize } from '../transform/initialize.js';
import { checkImagePair } from './check-images.js';
import type { RegistrationConfig } from './config.js';
import { shareArray, type ParallelFor } from './parallel-for.js';
import { ArrayStats, type ArrayRange } from './parallel-stats.js';
import { WINSORIZE_DEFAULTS } from './preset.js';

/** Quantiles known per array (an input image's values, or their shared copy): q → value. */
export type QuantileCache = Map<PixelArray, Map<number, number>>;

export interface InputStats {
  guesses: { fixed: ModalityGuess; moving: ModalityGuess };
  /** The default initializer's foreground centres, when computed here. */
  centers?: { fixed?: number[]; moving?: number[] };
}

/** [0, 1 %, 99 %] (guessModality), [0.1 %, 99.9 %] (Otsu's range). */
const GUESS = [0, 0.01, 0.99];
const OTSU = [0.001, 0.999];

/**
 * Checks the images (as checkImagePair) and computes the statistics register needs of them before the first level.
 * `arrays`: each image's values as the team reads them (the same numbers as img.data, on shared memory for a team).
 * The quantiles of the moving image's winsorising presets go to `quantileCache` under both arrays.
 */
export async function inputStatistics(
  team: ParallelFor | undefined,
  fixed: Image,
  moving: Image,
  arrays: { fixed: PixelArray; moving: PixelArray },
  config: RegistrationConfig,
  opts: { initial?: unknown[]; fixedMask?: Image; movingMask?: Image },
  quantileCache: QuantileCache,
): Promise<InputStats> {
  if (fixed.dimension !== moving.dimension || fixed.components !== 1 || moving.components !== 1) {
    checkImagePair(fixed, moving); // throws the one-thread error
  }
  const winsor = new Set<number>();
  for (const w of Object.values(WINSORIZE_DEFAULTS)) w.forEach((q) => winsor.add(q));
  for (const s of config.stages) if (Array.isArray(s.winsorize)) s.winsorize.forEach((q) => winsor.add(q));
  const movingQs = [...GUESS, ...OTSU, ...[...winsor].filter((q) => !GUESS.includes(q) && !OTSU.includes(q))];
  const mode = config.initializer ?? 'moments';
  const centres = mode === 'moments' && !(opts.initial && opts.initial.length > 0) && !opts.fixedMask && !opts.movingMask;
  const stats = await ArrayStats.open(team, [arrays.fixed, arrays.moving], { quantiles: [[...GUESS, ...OTSU], movingQs], sizes: centres ? [volumeSize(fixed), volumeSize(moving)] : [null, null] });
  try {
    const [fr, mr] = stats.range();
    checkImagePair(fixed, moving, { fixed: fr.range, moving: mr.range });
    const [fq, mq] = stats.quantiles();
    const guesses = { fixed: modalityFrom(fixed, fq && fq.slice(0, 3), fr.integral), moving: modalityFrom(moving, mq && mq.slice(0, 3), mr.integral) };
    if (mq) {
      for (const data of new Set([arrays.moving, moving.data])) {
        const known = new Map<number, number>();
        movingQs.forEach((q, i) => known.set(q, mq[i]));
        quantileCache.set(data, known);
      }
    }
    if (!centres) return { guesses };
    const otsuRange = (q: number[] | null): [number, number] | null => (q ? [q[3], q[4]] : null);
    const levels = stats.otsu([otsuRange(fq), otsuRange(mq)]);
    const sums = stats.foregroundSums(levels);
    const centre = (img: Image, k: number, subject: string): number[] | undefined => {
      const s = sums[k];
      if (!s) return undefined; // no foreground: the initializer says so (or falls back) as it always did
      try {
        return foregroundCenterFromSums(img, s.sums, s.blocks, subject);
      } catch {
        return undefined;
      }
    };
    return { guesses, centers: { fixed: centre(fixed, 0, 'fixed image'), moving: centre(moving, 1, 'moving image') } };
  } finally {
    stats.close();
  }
}

/**
 * Fewest values (samples and moving level together) whose level ranges are found on the team. Below, in the calling
 * thread: a level's ranges are a few passes once per level, and the helpers' copies of the code stay cold (3D affine
 * MI, 2 threads: the shrink-2 level's 1 M values took ~60 ms on the team, in which the helper did 8 of ~50 blocks).
 */
const LEVEL_RANGES_TEAM_MIN = 1 << 22;

/**
 * A level's intensity ranges as prepareLevel used robustRange for them: the sampled fixed values' finite range
 * (null when none is finite) and the winsorised ranges of the fixed samples and the moving level image (`q`:
 * quantiles, null: the full finite range). Quantiles already in `quantileCache` are not computed again.
 * `movingNeeded` false (a measure without a joint histogram, which reads no range): no pass over the moving image
 * (a full-resolution head's: ~40 ms), and a null movingRange unless the cache knows it.
 */
export async function levelRanges(
  team: ParallelFor | undefined,
  fixedValues: Float64Array,
  movingData: PixelArray,
  q: { fixed: [number, number] | null; moving: [number, number] | null },
  quantileCache: QuantileCache,
  movingNeeded = true,
): Promise<LevelRanges> {
  const cached = cachedQuantiles(movingData, q.moving, quantileCache);
  const known = knownRange(cached);
  // the moving image's full range is only needed when its quantiles are not wanted or coincide
  const withMoving = movingNeeded && !known;
  const onTeam = !!team && team.threads > 1 && fixedValues.length + (withMoving ? movingData.length : 0) >= LEVEL_RANGES_TEAM_MIN;
  const arrays: PixelArray[] = [onTeam ? shareArray(fixedValues) : fixedValues];
  if (withMoving) arrays.push(onTeam ? shareArray(movingData as Float32Array) : movingData);
  const stats = await ArrayStats.open(onTeam ? team : undefined, arrays, { quantiles: [q.fixed ?? [], withMoving ? (cached ? [] : (q.moving ?? [])) : []] });
  try {
    const ranges = stats.range();
    const qv = stats.quantiles();
    return { fullFixed: finiteRange(ranges[0]), fixedRange: robustOf(ranges[0], qv[0]), movingRange: known ?? (withMoving ? robustOf(ranges[1], qv[1]) : null) };
  } finally {
    stats.close();
  }
}

type Range = { min: number; max: number } | null;

/** A level's intensity ranges (levelRanges). */
export interface LevelRanges {
  fullFixed: Range;
  fixedRange: Range;
  movingRange: Range;
}

/** The moving quantiles q that `quantileCache` knows of `data` (null: not both known, or q null). */
export function cachedQuantiles(data: PixelArray, q: [number, number] | null, quantileCache: QuantileCache): [number, number] | null {
  const known = quantileCache.get(data);
  return q && known && known.has(q[0]) && known.has(q[1]) ? [known.get(q[0])!, known.get(q[1])!] : null;
}

/** cachedQuantiles' answer as a range when its two quantiles differ (no pass over the image needed), else null. */
export function knownRange(cached: [number, number] | null): Range {
  return cached && cached[1] > cached[0] ? { min: cached[0], max: cached[1] } : null;
}

function finiteRange(r: ArrayRange): Range {
  return r.range ? { min: r.range.min, max: r.range.max } : null;
}

/** The quantiles' range when there are two and they differ, else the finite range. */
function robustOf(r: ArrayRange, values: number[] | null | undefined): Range {
  return values && values.length === 2 && values[1] > values[0] ? { min: values[0], max: values[1] } : finiteRange(r);
}

/** levelRanges' fixed part in this thread: the sampled fixed values' finite range and their winsorised range. */
export function fixedSampleRanges(values: Float64Array, q: [number, number] | null): Pick<LevelRanges, 'fullFixed' | 'fixedRange'> {
  const stats = ArrayStats.serial([values], { quantiles: [q ?? []] });
  const r = stats.range()[0];
  return { fullFixed: finiteRange(r), fixedRange: robustOf(r, stats.quantiles()[0]) };
}

/**
 * levelRanges' moving part on `team` (split by blocks from LEVEL_RANGES_TEAM_MIN values, as there; `cached`:
 * cachedQuantiles' answer for this image).
 */
export async function movingLevelRangeOn(team: ParallelFor | undefined, data: PixelArray, q: [number, number] | null, cached: [number, number] | null): Promise<Range> {
  if (!team || team.threads < 2 || !movingRangeOnTeam(data.length) || knownRange(cached)) return movingLevelRange(data, q, cached);
  const stats = await ArrayStats.open(team, [shareArray(data as Float32Array)], { quantiles: [cached ? [] : (q ?? [])] });
  try {
    return robustOf(stats.range()[0], stats.quantiles()[0]);
  } finally {
    stats.close();
  }
}

/** Whether levelRanges splits a moving level image of `values` values over the team (else one thread does it). */
export function movingRangeOnTeam(values: number): boolean {
  return values >= LEVEL_RANGES_TEAM_MIN;
}

/** levelRanges' moving part in this thread (`cached`: cachedQuantiles' answer for this image). */
export function movingLevelRange(data: PixelArray, q: [number, number] | null, cached: [number, number] | null): Range {
  const known = knownRange(cached);
  if (known) return known;
  const stats = ArrayStats.serial([data], { quantiles: [cached ? [] : (q ?? [])] });
  return robustOf(stats.range()[0], stats.quantiles()[0]);
}

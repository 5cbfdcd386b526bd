/**
 * Modality-aware defaults ("preset"): what the images probably are (CT in HU, PET, MR/other) decides the
 * intensity range of the histogram metrics (winsorising quantiles) and is recorded with every other default the
 * run used, so result.json says what was done. Every choice is overridden by the settings (options, --config).
 */
import { CoregError } from '../errors.js';
import { type Image, finiteRange } from '../image/image.js';
import { guessModality, type Modality, type ModalityGuess, quantiles } from '../image/intensity.js';
import type { RegistrationConfig, StageConfig } from './config.js';

export type { Modality } from '../image/intensity.js';
export const MODALITIES: readonly Modality[] = ['ct', 'pet', 'mr'];

/** Winsorising quantiles of the histogram metrics' intensity range, per modality (ANTs' habit: 0.5 % and 99.5 %). */
export const WINSORIZE_DEFAULTS: Record<Modality, [number, number]> = {
  ct: [0.005, 0.995],
  mr: [0.005, 0.995],
  // PET's long tail (hot spots, bladder) would squeeze the brain into a few bins.
  pet: [0.005, 0.99],
};

export interface ImagePreset {
  modality: Modality;
  /** 'detected: …' or 'given'. */
  reason: string;
  /** Quantiles of the intensity range used by histogram metrics (null: the full range). */
  winsorize: [number, number] | null;
}

export interface PresetRecord {
  fixed: ImagePreset;
  moving: ImagePreset;
  initializer: string;
  /** Histogram bins when a stage does not say: 64 when either image is CT (its soft tissues span a few dozen HU of ~2000), else 32. */
  bins: number;
  /** Per stage: the histogram bins and the levels it ran (shrink/smooth/iterations), as chosen. */
  stages: { transform: string; metric: string; bins?: number; winsorize?: { fixed: [number, number] | null; moving: [number, number] | null } }[];
}

function imagePreset(img: Image, given: Modality | undefined, off: boolean, where: string, guessed?: ModalityGuess): ImagePreset {
  if (given !== undefined && !MODALITIES.includes(given)) throw new CoregError(where, `unknown modality "${String(given)}" (expected ${MODALITIES.join(', ')})`, 2);
  const guess = given ? { modality: given, reason: 'given' } : (guessed ?? guessModality(img));
  return { modality: guess.modality, reason: given ? 'given' : `detected: ${guess.reason}`, winsorize: off ? null : WINSORIZE_DEFAULTS[guess.modality] };
}

export function isHistogramMetric(metric: string): boolean {
  return metric === 'mi' || metric === 'nmi' || metric === 'jointEntropy';
}

/**
 * The preset of a run: modalities (detected unless given) and the defaults they imply. `guesses`: guessModality's
 * answers when already known (register's statistics pass).
 */
export function choosePreset(fixed: Image, moving: Image, config: RegistrationConfig, guesses?: { fixed: ModalityGuess; moving: ModalityGuess }): PresetRecord {
  const off = config.preset === 'off';
  const f = imagePreset(fixed, config.fixedModality, off, 'config: fixedModality', guesses?.fixed);
  const m = imagePreset(moving, config.movingModality, off, 'config: movingModality', guesses?.moving);
  const init = config.initializer ?? 'moments';
  const initializer =
    init === 'moments' || init === 'principal-axes'
      ? `${init} of the foreground (each pixel weighted 0 at the background's mean to 1 at the object's mean of Otsu's split, or the mask; geometric centres if none)`
      : init;
  const bins = !off && (f.modality === 'ct' || m.modality === 'ct') ? 64 : 32;
  return {
    fixed: f,
    moving: m,
    initializer,
    bins,
    stages: config.stages.map((s) => ({
      transform: s.transform,
      metric: s.metric,
      ...(isHistogramMetric(s.metric) ? { bins: s.bins ?? bins, winsorize: stageWinsorize(s, f, m) } : {}),
    })),
  };
}

/** The winsorising quantiles of one stage: the stage's own `winsorize` setting, else the images' presets. */
export function stageWinsorize(stage: StageConfig, f: ImagePreset, m: ImagePreset): { fixed: [number, number] | null; moving: [number, number] | null } {
  if (stage.winsorize !== undefined) {
    const w = stage.winsorize === false ? null : stage.winsorize;
    return { fixed: w, moving: w };
  }
  return { fixed: f.winsorize, moving: m.winsorize };
}

/**
 * The intensity range of values between the quantiles `q` (winsorised), or the full finite range when `q` is null
 * or the quantiles coincide (a mostly constant image). Null when there is no finite value.
 */
export function robustRange(data: ArrayLike<number>, q: [number, number] | null): { min: number; max: number } | null {
  if (q) {
    // Quantiles are finite values of the data, so they lie within its full range: no pass over all of it is needed.
    const r = quantiles(data, q);
    if (r && r[1] > r[0]) return { min: r[0], max: r[1] };
  }
  return finiteRange(data);
}

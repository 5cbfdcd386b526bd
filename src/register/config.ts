/**
 * All registration settings as one plain, JSON-able object, shared by the library, the command line
 * (`--config FILE.json`, with command-line options overriding) and the browser app (SimpleITK/greedy style).
 */
import { CoregError } from '../errors.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../optimize/index.js';

export const TRANSFORM_KINDS = ['translation', 'rigid', 'similarity', 'affine', 'bspline', 'syn'] as const;
export type TransformKind = (typeof TRANSFORM_KINDS)[number];
export const LINEAR_KINDS: readonly TransformKind[] = ['translation', 'rigid', 'similarity', 'affine'];

export const METRIC_NAMES = ['sad', 'mse', 'nssd', 'ncc', 'lncc', 'mi', 'nmi', 'jointEntropy'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export { OPTIMIZER_NAMES, type OptimizerName } from '../optimize/index.js';

export type SamplingStrategy = 'all' | 'regular' | 'random';
/** 'landmarks': automated landmarks (features/auto.ts) fit the first stage's start (rigid, or similarity). */
export type Initializer = 'none' | 'geometry' | 'moments' | 'principal-axes' | 'landmarks';

/** One resolution level: shrink factor (per axis, capped where an axis is small), smoothing σ, iterations. */
export interface LevelConfig {
  shrink: number;
  /** Gaussian σ before shrinking, in voxels of the input image (default) or mm (smoothUnit). */
  smooth: number;
  /** Unit of `smooth`: 'vox' (default, ANTs' default) or 'mm' (`--smooth 4x2x0mm`). */
  smoothUnit?: 'vox' | 'mm';
  iterations: number;
}

export interface StageConfig {
  transform: TransformKind;
  metric: MetricName;
  /** Levels, coarse to fine. Omitted: chosen from the image size. */
  levels?: LevelConfig[];
  optimizer?: OptimizerName;
  /** Learning rate (gradient-descent, adam) or first step length (regular-step), in scaled units (≈ mm). */
  learningRate?: number;
  sampling?: SamplingStrategy;
  /** Fraction of fixed voxels sampled for 'regular' and 'random' (0, 1]. */
  samplingPercentage?: number;
  /** Number of samples per level for 'random'/'regular' when no percentage is given (3D default 150 000). */
  samples?: number;
  /** Jitter samples inside their voxels (default: on for the histogram metrics mi, nmi, jointEntropy). */
  jitter?: boolean;
  /** Moving-image interpolation inside the metric (default linear; bspline stages with L-BFGS: bspline). */
  interpolation?: 'linear' | 'bspline';
  /** Histogram bins (mi, nmi, jointEntropy). */
  bins?: number;
  /** Window radius in voxels (lncc). */
  radius?: number;
  /** Final B-spline control-point spacing in mm (bspline stages; default 10 mm in 3D, 16 mm in 2D). */
  gridSpacing?: number;
  /** syn: σ in voxels of the Gaussian applied to each update field (default 3). */
  gradientSigma?: number;
  /** syn: σ in voxels of the Gaussian applied to the total fields (default 1). */
  totalSigma?: number;
  /** bspline with the 'stochastic' optimizer: samples drawn afresh at every iteration (default in 3D 20000 at the last level, 5000 before it; 2000 in 2D). */
  subsetSize?: number;
  /** bspline with 'stochastic': return the average of the iterates over this final fraction (default 0.9). */
  averageFraction?: number;
  /** bspline: scale parameters by a Gauss–Newton diagonal (default true with L-BFGS, false with 'stochastic'). */
  preconditioner?: boolean;
  /** bspline: weight of the bending energy added to the cost (default 0). */
  bendingWeight?: number;
  /** bspline: weight of the penalty on Jacobian determinants below 0.1 (default 0; folding is always refused). */
  jacobianWeight?: number;
  /**
   * Histogram metrics: the intensity range is cut at these quantiles of each image ([0.005, 0.995] for CT and
   * MR, [0.005, 0.99] for PET by default; values beyond go to the end bins, as ANTs' --winsorize-image-intensities);
   * false: the full range.
   */
  winsorize?: [number, number] | false;
  convergenceWindow?: number;
  convergenceTolerance?: number;
  gradientTolerance?: number;
}

export interface RegistrationConfig {
  stages: StageConfig[];
  /** How the first stage starts when no initial transform is given. */
  initializer?: Initializer;
  /** Coarse search over rotations at the coarsest level before the first rotation-capable stage. */
  rotationSearch?: boolean;
  /** Seed of every random choice (sampling): the same seed gives the same result. */
  seed?: number;
  /** Worker threads (results do not depend on it). */
  threads?: number;
  /** Modality-aware defaults: 'auto' (default) detects CT/PET/MR; 'off' uses no winsorising. */
  preset?: 'auto' | 'off';
  /** The fixed image's modality instead of the detected one. */
  fixedModality?: 'ct' | 'pet' | 'mr';
  /** The moving image's modality instead of the detected one. */
  movingModality?: 'ct' | 'pet' | 'mr';
}

export const DEFAULT_SEED = 121212;

/** The default configuration for a comma list of stages and one metric per stage. */
export function defaultConfig(transforms: TransformKind[] = ['rigid', 'affine'], metrics: MetricName[] = ['mi']): RegistrationConfig {
  if (metrics.length !== 1 && metrics.length !== transforms.length) {
    throw new CoregError('--metric', `give one metric for all stages or one per stage (${transforms.length}), got ${metrics.length}`, 2);
  }
  return {
    stages: transforms.map((transform, i) => ({ transform, metric: metrics.length === 1 ? metrics[0] : metrics[i] })),
    initializer: 'moments',
    seed: DEFAULT_SEED,
  };
}

export function parseTransformList(text: string, subject = '--transform'): TransformKind[] {
  const list = text.split(',').map((s) => s.trim());
  for (const t of list) {
    if (!(TRANSFORM_KINDS as readonly string[]).includes(t)) {
      throw new CoregError(subject, `unknown transform "${t}" (expected ${TRANSFORM_KINDS.join(', ')})`, 2);
    }
  }
  return list as TransformKind[];
}

export function parseMetricList(text: string, subject = '--metric'): MetricName[] {
  const list = text.split(',').map((s) => s.trim());
  for (const m of list) {
    if (!(METRIC_NAMES as readonly string[]).includes(m)) {
      throw new CoregError(subject, `unknown metric "${m}" (expected ${METRIC_NAMES.join(', ')})`, 2);
    }
  }
  return list as MetricName[];
}

/** Default levels for a stage from the fixed image's size: coarse-to-fine, the last always at full resolution. */
export function defaultLevels(kind: TransformKind, size: readonly number[]): LevelConfig[] {
  const minSize = Math.min(...size.filter((s) => s > 8));
  const maxLevels = Math.max(1, Math.min(size.length === 3 ? 4 : 3, Math.floor(Math.log2(Math.max(1, minSize / 24))) + 1));
  const levels: LevelConfig[] = [];
  const iterations = kind === 'bspline' || kind === 'syn' ? [100, 100, 70, 50] : [300, 200, 100, 100];
  for (let l = maxLevels - 1; l >= 0; l--) {
    const f = 2 ** l;
    levels.push({ shrink: f, smooth: l === 0 ? 0 : f / 2, iterations: iterations[maxLevels - 1 - l] ?? 100 });
  }
  return levels;
}

// ---- strict settings: every key known, every value of the right type and within a stated bound ---------

type Check = (v: unknown) => string | null;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const number =
  (min: number, max: number, opts: { integer?: boolean; openMin?: boolean } = {}): Check =>
  (v) => {
    if (!isNum(v) || (opts.integer && !Number.isInteger(v))) return `must be ${opts.integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`;
    if (opts.openMin ? v <= min : v < min) return `must be ${opts.openMin ? '>' : '≥'} ${min}, got ${v}`;
    if (v > max) return `must be at most ${max}, got ${v}`;
    return null;
  };
const oneOf =
  (names: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && names.includes(v) ? null : `must be one of ${names.join(', ')}, got ${JSON.stringify(v)}`;
const bool: Check = (v) => (typeof v === 'boolean' ? null : `must be true or false, got ${JSON.stringify(v)}`);

/**
 * Bounds on the settings (absurd values are bad usage, exit 2, rather than hours of work): the README lists them.
 * A level's smoothing σ is at most 64 voxels, its shrink factor 1024 and its iterations 100 000.
 */
export const LEVEL_SETTINGS: Record<keyof LevelConfig, Check> = {
  shrink: number(1, 1024, { integer: true }),
  smooth: number(0, 64),
  smoothUnit: oneOf(['vox', 'mm']),
  iterations: number(0, 100_000, { integer: true }),
};

export const STAGE_SETTINGS: Record<keyof StageConfig, Check> = {
  transform: oneOf(TRANSFORM_KINDS),
  metric: oneOf(METRIC_NAMES),
  levels: () => null, // checked entry by entry
  optimizer: oneOf(OPTIMIZER_NAMES),
  learningRate: number(0, 1e6, { openMin: true }),
  sampling: oneOf(['all', 'regular', 'random']),
  samplingPercentage: number(0, 1, { openMin: true }),
  samples: number(1, 1e9, { integer: true }),
  jitter: bool,
  interpolation: oneOf(['linear', 'bspline']),
  bins: number(4, 1024, { integer: true }),
  radius: number(1, 50, { integer: true }),
  gridSpacing: number(0, 1e5, { openMin: true }),
  gradientSigma: number(0, 64),
  totalSigma: number(0, 64),
  subsetSize: number(1, 1e9, { integer: true }),
  averageFraction: number(0, 1),
  preconditioner: bool,
  bendingWeight: number(0, 1e12),
  jacobianWeight: number(0, 1e12),
  convergenceWindow: number(1, 100_000, { integer: true }),
  convergenceTolerance: number(0, 1e6),
  gradientTolerance: number(0, 1e6),
  winsorize: (v) =>
    v === false || (Array.isArray(v) && v.length === 2 && v.every((q) => isNum(q) && q >= 0 && q <= 1) && v[0] < v[1])
      ? null
      : `must be false or two quantiles [lo, hi] with 0 ≤ lo < hi ≤ 1, got ${JSON.stringify(v)}`,
};

export const TOP_SETTINGS: Record<keyof RegistrationConfig, Check> = {
  stages: () => null, // checked entry by entry
  initializer: oneOf(['none', 'geometry', 'moments', 'principal-axes', 'landmarks']),
  rotationSearch: bool,
  seed: number(0, Number.MAX_SAFE_INTEGER, { integer: true }),
  threads: number(1, 1024, { integer: true }),
  preset: oneOf(['auto', 'off']),
  fixedModality: oneOf(['ct', 'pet', 'mr']),
  movingModality: oneOf(['ct', 'pet', 'mr']),
};

/** Levenshtein distance, case-insensitive (for "did you mean"). */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The closest valid name to `key` (always one: the message then says what was probably meant). */
export function closestKey(key: string, valid: readonly string[]): string {
  let best = valid[0];
  let bestD = Infinity;
  for (const v of valid) {
    const d = editDistance(key, v);
    if (d < bestD) [best, bestD] = [v, d];
  }
  return best;
}

function checkObject(obj: unknown, schema: Record<string, Check>, path: string, subject: string, keysOnly = false): Record<string, unknown> {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new CoregError(subject, `${path || 'settings'}: must be a JSON object, got ${JSON.stringify(obj)}`, 2);
  const rec = obj as Record<string, unknown>;
  const valid = Object.keys(schema);
  for (const [key, value] of Object.entries(rec)) {
    const where = path ? `${path}.${key}` : key;
    if (!Object.hasOwn(schema, key)) {
      if (schema === TOP_SETTINGS && Object.hasOwn(STAGE_SETTINGS, key)) throw new CoregError(subject, `"${key}" is a stage setting: put it inside each entry of "stages"`, 2);
      throw new CoregError(subject, `unknown setting "${where}" (did you mean "${closestKey(key, valid)}"?)`, 2);
    }
    if (value === undefined || keysOnly) continue;
    const why = schema[key](value);
    if (why) throw new CoregError(subject, `"${where}" ${why}`, 2);
  }
  return rec;
}

/**
 * Checks a settings object key by key: unknown keys (with the closest valid one), wrong types and values out of
 * their bounds are bad usage (CoregError(subject, …), exit 2) naming the key, e.g. `stages[1].gridspacing`.
 * `partial`: stage fields may be missing (a --config file completed by the command line).
 */
export function checkSettings(config: unknown, subject = 'config', partial = false, keysOnly = false): void {
  const top = checkObject(config, TOP_SETTINGS, '', subject, keysOnly);
  if (top.stages === undefined) {
    if (partial || keysOnly) return;
    throw new CoregError(subject, '"stages" is missing', 2);
  }
  if (!Array.isArray(top.stages)) throw new CoregError(subject, `"stages" must be a list of stages, got ${JSON.stringify(top.stages)}`, 2);
  for (const [i, stage] of top.stages.entries()) {
    const path = `stages[${i}]`;
    const st = checkObject(stage, STAGE_SETTINGS, path, subject, keysOnly);
    if (!partial && !keysOnly) for (const k of ['transform', 'metric']) if (st[k] === undefined) throw new CoregError(subject, `"${path}.${k}" is missing`, 2);
    if (st.levels === undefined) continue;
    if (!Array.isArray(st.levels)) throw new CoregError(subject, `"${path}.levels" must be a list of levels, got ${JSON.stringify(st.levels)}`, 2);
    for (const [l, level] of st.levels.entries()) {
      const lp = `${path}.levels[${l}]`;
      const lv = checkObject(level, LEVEL_SETTINGS, lp, subject, keysOnly);
      if (!keysOnly) for (const k of ['shrink', 'smooth', 'iterations']) if (lv[k] === undefined) throw new CoregError(subject, `"${lp}.${k}" is missing`, 2);
    }
  }
}

/** One setting given on the command line, checked against the same bounds (CoregError(option, …), exit 2). */
export function checkOptionValue(option: string, schema: Check, value: unknown): void {
  const why = schema(value);
  if (why) throw new CoregError(option, why, 2);
}

/** Checks a configuration (from JSON or the command line) and fills defaults; throws CoregError on nonsense. */
export function validateConfig(config: RegistrationConfig, subject = 'config'): RegistrationConfig {
  // Unknown keys first (a misspelt key must never be silently ignored), then the specific checks below, then
  // every value's type and bound.
  checkSettings(config, subject, false, true);
  if (!config || !Array.isArray(config.stages) || config.stages.length === 0) {
    throw new CoregError(subject, 'needs at least one stage', 2);
  }
  for (const [i, s] of config.stages.entries()) {
    const where = `${subject}: stage ${i + 1}`;
    if (!(TRANSFORM_KINDS as readonly string[]).includes(s.transform)) throw new CoregError(where, `unknown transform "${s.transform}"`, 2);
    if (!(METRIC_NAMES as readonly string[]).includes(s.metric)) throw new CoregError(where, `unknown metric "${s.metric}"`, 2);
    if (s.optimizer !== undefined && !(OPTIMIZER_NAMES as readonly string[]).includes(s.optimizer)) {
      throw new CoregError(where, `unknown optimizer "${s.optimizer}" (expected ${OPTIMIZER_NAMES.join(', ')})`, 2);
    }
    if (s.levels) {
      if (s.levels.length === 0) throw new CoregError(where, 'levels must not be empty', 2);
      for (const l of s.levels) {
        if (!(Number.isInteger(l.shrink) && l.shrink >= 1)) throw new CoregError(where, `shrink factors must be integers ≥ 1, got ${l.shrink}`, 2);
        if (!(Number.isFinite(l.smooth) && l.smooth >= 0)) throw new CoregError(where, `smoothing sigmas must be ≥ 0, got ${l.smooth}`, 2);
        if (l.smoothUnit !== undefined && l.smoothUnit !== 'vox' && l.smoothUnit !== 'mm') throw new CoregError(where, `smoothUnit must be "vox" or "mm", got "${String(l.smoothUnit)}"`, 2);
        if (!(Number.isInteger(l.iterations) && l.iterations >= 0)) throw new CoregError(where, `iterations must be integers ≥ 0, got ${l.iterations}`, 2);
      }
    }
    if (s.samplingPercentage !== undefined && !(s.samplingPercentage > 0 && s.samplingPercentage <= 1)) {
      throw new CoregError(where, `samplingPercentage must be in (0, 1], got ${s.samplingPercentage}`, 2);
    }
    if (s.bins !== undefined && !(Number.isInteger(s.bins) && s.bins >= 4 && s.bins <= 1024)) {
      throw new CoregError(where, `bins must be an integer in [4, 1024], got ${s.bins}`, 2);
    }
    if (s.winsorize !== undefined && s.winsorize !== false) {
      const w = s.winsorize;
      if (!Array.isArray(w) || w.length !== 2 || !(w[0] >= 0 && w[0] < w[1] && w[1] <= 1)) {
        throw new CoregError(where, `winsorize must be false or two quantiles [lo, hi] with 0 ≤ lo < hi ≤ 1, got ${JSON.stringify(w)}`, 2);
      }
    }
    if (s.gridSpacing !== undefined && !(s.gridSpacing > 0)) throw new CoregError(where, `gridSpacing must be > 0 mm, got ${s.gridSpacing}`, 2);
  }
  // Stage order, checked before anything runs: linear stages first, then at most one non-rigid stage.
  let nonRigid = -1;
  for (const [i, s] of config.stages.entries()) {
    if (s.transform === 'bspline' || s.transform === 'syn') {
      if (nonRigid >= 0) throw new CoregError(subject, `only one non-rigid stage (bspline or syn) is supported, got stages ${nonRigid + 1} and ${i + 1}`, 2);
      nonRigid = i;
      if (s.transform === 'syn' && s.metric !== 'mse' && s.metric !== 'lncc' && s.metric !== 'mi') {
        throw new CoregError(subject, `stage ${i + 1}: a syn stage takes mse, lncc or mi, not ${s.metric}`, 2);
      }
    } else if (nonRigid >= 0) {
      throw new CoregError(subject, `stage ${i + 1}: linear stages must come before the non-rigid stage (e.g. rigid,affine,bspline)`, 2);
    }
  }
  if (config.preset !== undefined && config.preset !== 'auto' && config.preset !== 'off') throw new CoregError(subject, `preset must be "auto" or "off", got ${JSON.stringify(config.preset)}`, 2);
  for (const key of ['fixedModality', 'movingModality'] as const) {
    const v = config[key];
    if (v !== undefined && v !== 'ct' && v !== 'pet' && v !== 'mr') throw new CoregError(subject, `${key} must be "ct", "pet" or "mr", got ${JSON.stringify(v)}`, 2);
  }
  if (config.seed !== undefined && !Number.isInteger(config.seed)) throw new CoregError(subject, `seed must be an integer, got ${config.seed}`, 2);
  checkSettings(config, subject);
  return config;
}

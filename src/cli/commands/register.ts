// `coreg register`: register MOVING to FIXED and write the transform chain (fixed → moving), the warped image
// and a JSON log into an output folder.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { CoregError } from '../../errors.js';
import type { Image } from '../../image/image.js';
import { assertNotInput, readImageFile, readTextFile, writeFileAtomic, writeFilesAtomic, writeImageFile } from '../../io/node.js';
import { resample } from '../../resample/resample.js';
import { formatItkTransformFile } from '../../transform/itk-tfm.js';
import { DisplacementFieldTransform } from '../../transform/displacement-field.js';
import { isLinear } from '../../transform/transform.js';
import { describeNumericInverse, invertChain, storedInverses } from '../../transform/inverse.js';
import { nodeTransformFiles } from '../transform-files.js';
import {
  type LevelConfig,
  type RegistrationConfig,
  type StageConfig,
  defaultConfig,
  defaultLevels,
  parseLevelList,
  parseMetricList,
  parseTransformList,
  validateConfig,
} from '../../register/config.js';
import { register, type LevelEvent, type ProgressEvent, type RegistrationResult } from '../../register/register.js';
import { commandAction, parseIntegerOption, usageError, type CliContext } from '../common.js';
import { RAS_HELP, readPointFile } from './points.js';
import { fitLinearLandmarks } from '../../landmarks/fit.js';
import type { Transform } from '../../transform/transform.js';
import { formatTransformChainFiles, loadTransformChain, transformFormatOfName } from '../../io/chain-io.js';

interface RegisterCliOptions {
  fixed: string;
  moving: string;
  out: string;
  transform?: string;
  metric?: string;
  initial?: string;
  initializer?: string;
  iterations?: string;
  shrink?: string;
  smooth?: string;
  gridSpacing?: string;
  fixedMask?: string;
  movingMask?: string;
  fixedPoints?: string;
  movingPoints?: string;
  config?: string;
  threads?: number;
  seed?: number;
  optimizer?: string;
  sampling?: string;
  samplingPercentage?: string;
  bins?: number;
  winsorize?: string;
  radius?: number;
  rotationSearch?: boolean;
  quiet?: boolean;
  json?: boolean;
  composite?: string;
  ras?: boolean;
  verbose?: boolean;
}

export function readConfigFile(path: string): Partial<RegistrationConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readTextFile(path));
  } catch (e) {
    if (e instanceof CoregError) throw e;
    throw new CoregError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CoregError(path, 'must hold a JSON object');
  return parsed as Partial<RegistrationConfig>;
}

/** Config file first, then command-line options on top (the contract: options override --config). */
export function buildConfig(opts: Partial<RegisterCliOptions>, fixedSize: number[]): RegistrationConfig {
  const fromFile = opts.config ? readConfigFile(opts.config) : {};
  const transforms = opts.transform ? parseTransformList(opts.transform) : fromFile.stages?.map((s) => s.transform) ?? ['rigid', 'affine'];
  const metricsGiven = opts.metric ? parseMetricList(opts.metric) : null;
  if (metricsGiven && metricsGiven.length !== 1 && metricsGiven.length !== transforms.length) {
    throw usageError('--metric', `give one metric for all stages or one per stage (${transforms.length}), got ${metricsGiven.length}`);
  }
  const base = defaultConfig(transforms, ['mi']);
  const config: RegistrationConfig = { ...base, ...fromFile, stages: [] };
  for (const [i, kind] of transforms.entries()) {
    const fileStage: Partial<StageConfig> = fromFile.stages?.[i]?.transform === kind ? fromFile.stages[i] : {};
    const stage: StageConfig = { ...base.stages[i], ...fileStage, transform: kind };
    if (metricsGiven) stage.metric = metricsGiven.length === 1 ? metricsGiven[0] : metricsGiven[i];
    if (opts.optimizer) stage.optimizer = opts.optimizer as StageConfig['optimizer'];
    if (opts.sampling) {
      if (!['all', 'regular', 'random'].includes(opts.sampling)) throw usageError('--sampling', `expected all, regular or random, got "${opts.sampling}"`);
      stage.sampling = opts.sampling as StageConfig['sampling'];
    }
    if (opts.samplingPercentage !== undefined) stage.samplingPercentage = Number(opts.samplingPercentage);
    if (opts.bins !== undefined) stage.bins = opts.bins;
    if (opts.winsorize !== undefined) stage.winsorize = parseWinsorize(opts.winsorize);
    if (opts.radius !== undefined) stage.radius = opts.radius;
    if (opts.gridSpacing !== undefined) {
      const g = Number(opts.gridSpacing);
      if (!(g > 0)) throw usageError('--grid-spacing', `expected a positive number of mm, got "${opts.gridSpacing}"`);
      stage.gridSpacing = g;
    }
    if (opts.iterations || opts.shrink || opts.smooth) stage.levels = levelsFromOptions(opts, kind, fixedSize, stage.levels);
    config.stages.push(stage);
  }
  if (opts.seed !== undefined) config.seed = opts.seed;
  if (opts.threads !== undefined) config.threads = opts.threads;
  if (opts.rotationSearch) config.rotationSearch = true;
  if (opts.initializer) {
    if (!['none', 'geometry', 'moments', 'principal-axes'].includes(opts.initializer)) {
      throw usageError('--initializer', `expected none, geometry, moments or principal-axes, got "${opts.initializer}"`);
    }
    config.initializer = opts.initializer as RegistrationConfig['initializer'];
  }
  return validateConfig(config, opts.config ?? 'config');
}

/** --winsorize LO,HI (quantiles) or off. */
function parseWinsorize(text: string): [number, number] | false {
  if (text === 'off') return false;
  const parts = text.split(',').map((v) => Number(v.trim()));
  if (parts.length !== 2 || !(parts[0] >= 0 && parts[0] < parts[1] && parts[1] <= 1)) {
    throw usageError('--winsorize', `expected two quantiles LO,HI with 0 ≤ LO < HI ≤ 1 (e.g. 0.005,0.995) or "off", got "${text}"`);
  }
  return [parts[0], parts[1]];
}

/** --iterations/--shrink/--smooth per level for all stages; lists given must have the same length. */
function levelsFromOptions(opts: Partial<RegisterCliOptions>, kind: StageConfig['transform'], size: number[], current?: LevelConfig[]): LevelConfig[] {
  const its = opts.iterations ? parseLevelList(opts.iterations, '--iterations', true) : null;
  const shrink = opts.shrink ? parseLevelList(opts.shrink, '--shrink', true) : null;
  const smooth = opts.smooth ? parseLevelList(opts.smooth, '--smooth', false) : null;
  const lengths = [its, shrink, smooth].filter((x): x is number[] => x !== null).map((x) => x.length);
  if (lengths.some((n) => n !== lengths[0])) {
    const names = [its && '--iterations', shrink && '--shrink', smooth && '--smooth'].filter(Boolean).join(', ');
    throw usageError(opts.iterations ? '--iterations' : '--shrink', `${names} need the same number of levels (got ${lengths.join(', ')})`);
  }
  const n = lengths[0];
  const defaults = current && current.length === n ? current : defaultLevels(kind, size);
  const levels: LevelConfig[] = [];
  for (let l = 0; l < n; l++) {
    const f = shrink ? shrink[l] : defaults.length === n ? defaults[l].shrink : 2 ** (n - 1 - l);
    if (shrink && f < 1) throw usageError('--shrink', 'factors must be ≥ 1');
    levels.push({
      shrink: f,
      smooth: smooth ? smooth[l] : defaults.length === n ? defaults[l].smooth : f > 1 ? f / 2 : 0,
      iterations: its ? its[l] : defaults.length === n ? defaults[l].iterations : 100,
    });
  }
  return levels;
}

/**
 * The closed-form landmark fit that starts the registration (elastix/ANTs users' "landmark initialisation"): the
 * first stage's kind where landmarks determine it (translation uses a rigid fit's mapping), affine for non-linear
 * first stages.
 */
function landmarkInitializer(fixedPath: string, movingPath: string, config: RegistrationConfig, ctx: CliContext, ras: boolean): Transform {
  const p = readPointFile(fixedPath, ctx, undefined, ras);
  const q = readPointFile(movingPath, ctx, undefined, ras);
  const first = config.stages[0].transform;
  const kind = first === 'similarity' || first === 'affine' ? first : first === 'bspline' || first === 'syn' ? 'affine' : 'rigid';
  return fitLinearLandmarks(kind, p.points, q.points, { fixedName: fixedPath, movingName: movingPath });
}

/**
 * Progress on stderr. On a terminal: a progress bar (warnings are printed on their own line above it). Otherwise
 * (batch logs): one line per finished level (stage, level, iterations, final metric, seconds, stop reason);
 * --verbose adds one line per iteration (and replaces the bar). --quiet prints nothing but the error line.
 */
function makeProgress(ctx: CliContext, quiet: boolean, verbose: boolean): { onProgress?: (e: ProgressEvent) => void; onLevel?: (e: LevelEvent) => void; warn: (m: string) => void; stop(): void } {
  const stderr = process.stderr;
  const err = ctx.io.stderr;
  if (quiet) return { warn: () => undefined, stop() {} };
  const where = (e: { stage: number; stageCount: number; transform: string; metric: string; level: number; levelCount: number }): string =>
    `stage ${e.stage + 1}/${e.stageCount} ${e.transform}/${e.metric} level ${e.level + 1}/${e.levelCount}`;
  const onLevel = (e: LevelEvent): void => {
    const l = e.log;
    err.write(`coreg: ${where(e)}: ${l.iterations} iterations, metric ${l.value.toPrecision(6)}, ${l.seconds.toFixed(2)} s, stop: ${l.stopReason}\n`);
  };
  if (verbose || !stderr.isTTY || err !== stderr) {
    return {
      onProgress: verbose ? (e) => err.write(`coreg: ${where(e)} iteration ${e.iteration}/${e.maxIterations} metric ${e.value.toPrecision(8)}\n`) : undefined,
      onLevel,
      warn: (m) => ctx.warn(m),
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'stage {stage} {transform}/{metric} level {level} |{bar}| it {value}/{total} metric {metric_value}',
      hideCursor: true,
      clearOnComplete: true,
      stream: stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let key = '';
  let started = false;
  return {
    onProgress: (e) => {
      const k = `${e.stage}/${e.level}`;
      const payload = {
        stage: `${e.stage + 1}/${e.stageCount}`,
        transform: e.transform,
        metric: e.metric,
        level: `${e.level + 1}/${e.levelCount}`,
        metric_value: e.value.toPrecision(6),
      };
      if (!started) {
        bar.start(e.maxIterations, e.iteration, payload);
        started = true;
      } else if (k !== key) {
        bar.setTotal(e.maxIterations);
      }
      key = k;
      bar.update(e.iteration, payload);
    },
    // A warning clears the bar's line first, so that it stands on its own line; the bar redraws below it.
    warn: (m) => {
      if (started) stderr.write('\r\x1b[2K');
      ctx.warn(m);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

export interface RegisterOutputs {
  warped: string;
  transform: string | null;
  result: string;
}

/**
 * Writes the chain: DIR/transform.tfm when it is all linear; otherwise one file per element (B-spline .tfm,
 * displacement field NIfTI, the linear part as its own .tfm), listed in result.json in the order they apply.
 * A syn stage also writes DIR/inverse-warp.nii.gz (moving → fixed after the linear part's inverse).
 */
export function writeRegistrationOutputs(
  dir: string,
  fixed: Image,
  moving: Image,
  result: RegistrationResult,
  extra: Record<string, unknown>,
  opts: { composite?: string; note?: (line: string) => void } = {},
): object {
  const files: string[] = [];
  if (opts.composite) {
    // Formatted first: a chain the format cannot hold fails before the folder's own files are written.
    const composite = formatTransformChainFiles(result.transforms, opts.composite, { fixedGrid: fixed, movingGrid: moving, absolute: (p) => resolve(p) });
    writeFilesAtomic(composite);
  }
  if (result.transforms.every(isLinear)) {
    writeFileAtomic(join(dir, 'transform.tfm'), formatItkTransformFile(result.transforms));
    files.push('transform.tfm');
  } else {
    for (const t of result.transforms) {
      if (t instanceof DisplacementFieldTransform) {
        writeImageFile(join(dir, 'warp.nii.gz'), t.field);
        files.push('warp.nii.gz');
      } else {
        const name = t.kind === 'bspline' ? 'bspline.tfm' : `${t.kind}.tfm`;
        writeFileAtomic(join(dir, name), formatItkTransformFile([t]));
        files.push(name);
      }
    }
    if (result.inverseField) writeImageFile(join(dir, 'inverse-warp.nii.gz'), result.inverseField);
  }
  const warped = resample(moving, fixed, result.transforms, { interpolation: 'linear', outputType: 'float32' });
  writeImageFile(join(dir, 'warped.nii.gz'), warped);
  // The fixed image on the moving grid, through the inverse chain (syn: its stored inverse field; B-spline:
  // a numerically inverted field whose residual goes to result.json).
  const forwardField = result.transforms.find((t) => t instanceof DisplacementFieldTransform);
  if (forwardField && result.inverseField) storedInverses.set(forwardField, new DisplacementFieldTransform(result.inverseField, 'inverse-warp.nii.gz'));
  const inverse = invertChain(result.transforms);
  for (const r of inverse.numeric) opts.note?.(describeNumericInverse(r));
  const inverseWarped = resample(fixed, moving, inverse.transforms, { interpolation: 'linear', outputType: 'float32' });
  writeImageFile(join(dir, 'inverse-warped.nii.gz'), inverseWarped);
  const json = {
    stages: result.stages.map((s) => ({
      transform: s.transform,
      metric: s.metric,
      levels: s.levels.map((l) => ({
        iterations: l.iterations,
        value: l.value,
        seconds: round(l.seconds),
        stopReason: l.stopReason,
        samples: l.samples,
        shrink: l.shrink,
        smoothMm: l.smoothMm.map(round),
      })),
    })),
    seconds: round(result.seconds),
    transforms: files,
    inverseWarped: 'inverse-warped.nii.gz',
    ...(inverse.numeric.length ? { inverseResidualMm: inverse.numeric.map((r) => ({ transform: r.name, max: r.maxResidual, p99: r.p99Residual, mean: r.meanResidual, noPreimage: r.unconverged, grid: r.size })) } : {}),
    ...(opts.composite ? { composite: resolve(opts.composite) } : {}),
    ...(result.preset ? { preset: result.preset } : {}),
    ...extra,
  };
  writeFileAtomic(join(dir, 'result.json'), JSON.stringify(json, null, 2) + '\n');
  return json;
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

export function registerCommand(): Command {
  return new Command('register')
    .description(
      'register MOVING to FIXED; the result maps FIXED → MOVING physical points (moving(T(x)) ≈ fixed(x)), as ITK and elastix do.\n' +
        'Writes DIR/warped.nii.gz (moving resampled on the fixed grid), DIR/transform.tfm (ITK) and DIR/result.json.',
    )
    .requiredOption('--fixed <F>', 'fixed (reference) image')
    .requiredOption('--moving <M>', 'moving image (resampled onto the fixed grid)')
    .requiredOption('--out <DIR>', 'output folder (created if missing)')
    .option('--transform <STAGES>', 'comma list run in order: translation,rigid,similarity,affine,bspline,syn (default rigid,affine)')
    .option('--metric <M>', 'mse|ncc|lncc|mi|nmi|sad|nssd|jointEntropy, one for all stages or one per stage (default mi)')
    .option('--initial <T>', 'start from a transform (.tfm file or a register output folder), like elastix -t0 / ANTs -r')
    .option('--initializer <MODE>', 'without --initial: none|geometry|moments|principal-axes (default moments: centres of mass)')
    .option('--iterations <LIST>', 'iterations per level, e.g. 200x100x50 (all stages)')
    .option('--shrink <LIST>', 'shrink factors per level, e.g. 4x2x1')
    .option('--smooth <LIST>', 'Gaussian sigmas per level in voxels, e.g. 2x1x0')
    .option('--grid-spacing <MM>', 'final B-spline control-point spacing in mm (bspline stages; default 10 in 3D, 16 in 2D)')
    .option('--fixed-mask <FM>', 'only fixed voxels where this mask is > 0 are compared')
    .option('--moving-mask <MM>', 'only moving points where this mask is > 0 are compared')
    .option('--fixed-points <P>', 'landmarks in the fixed image (CSV x,y[,z] LPS mm, .fcsv, .mrk.json, elastix points); with --moving-points they initialise the first stage')
    .option('--moving-points <Q>', 'the corresponding landmarks in the moving image, same order')
    .option('--ras', RAS_HELP)
    .option('--optimizer <NAME>', 'lbfgs (default; 3D bspline stages: stochastic), stochastic, regular-step, gradient-descent or adam')
    .option('--sampling <S>', 'all|regular|random (default: all in 2D, a random subset of 150000 voxels in 3D)')
    .option('--sampling-percentage <P>', 'fraction of voxels for regular/random sampling, in (0, 1]')
    .option('--bins <N>', 'histogram bins for mi/nmi (default 32)', parseIntegerOption('--bins', 4))
    .option('--winsorize <LO,HI>', 'mi/nmi: intensity range cut at these quantiles of each image (default by modality: 0.005,0.995 for CT and MR, 0.005,0.99 for PET), or off')
    .option('--radius <R>', 'lncc window radius in voxels (default 2)', parseIntegerOption('--radius', 1))
    .option('--rotation-search', 'try a coarse grid of rotations first (large misalignments)')
    .option('--config <FILE.json>', 'all settings as JSON (see README); options given here override it')
    .option('--threads <N>', 'worker threads (results never depend on it; this version computes on one thread)', parseIntegerOption('--threads', 1))
    .option('--seed <S>', 'random seed for sampling (default 121212)', parseIntegerOption('--seed', 0))
    .option('--quiet', 'print nothing but an error line (no progress, no log lines, no summary)')
    .option('--verbose', 'one stderr line per iteration (without a terminal, one line per level is the default)')
    .option('--json', 'print result.json on stdout')
    .option('--composite <FILE>', 'also write the whole chain as one file: .h5 (ITK HDF5, any chain), .tfm (ITK composite; not for syn fields) or another name transform convert writes')
    .action(
      commandAction<RegisterCliOptions>(async (ctx, opts) => {
        // --quiet: the error line (if any) is all there is on stderr.
        if (opts.quiet) ctx.warn = () => undefined;
        const out = resolve(opts.out);
        if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
        const inputs = [opts.fixed, opts.moving, opts.fixedMask, opts.movingMask, opts.config, opts.fixedPoints, opts.movingPoints].filter((x): x is string => Boolean(x));
        for (const name of ['warped.nii.gz', 'transform.tfm', 'result.json', 'warp.nii.gz', 'inverse-warp.nii.gz', 'inverse-warped.nii.gz']) assertNotInput(join(out, name), inputs, join(opts.out, name));
        if (opts.composite) assertNotInput(opts.composite, inputs, opts.composite);
        const fixed = readImageFile(opts.fixed, { warn: ctx.warn });
        const moving = readImageFile(opts.moving, { warn: ctx.warn });
        const config = buildConfig(opts, fixed.size);
        const fixedMask = opts.fixedMask ? readImageFile(opts.fixedMask, { warn: ctx.warn }) : undefined;
        const movingMask = opts.movingMask ? readImageFile(opts.movingMask, { warn: ctx.warn }) : undefined;
        if (Boolean(opts.fixedPoints) !== Boolean(opts.movingPoints)) {
          throw usageError(opts.fixedPoints ? '--moving-points' : '--fixed-points', 'landmarks need both --fixed-points and --moving-points');
        }
        if (opts.initial && opts.fixedPoints) throw usageError('--fixed-points', 'give either --initial or landmarks, not both');
        if (opts.composite) {
          const format = transformFormatOfName(opts.composite);
          if (format === 'itk' && config.stages.some((st) => st.transform === 'syn')) {
            throw usageError('--composite', 'an ITK text file cannot hold the syn displacement field; use .h5 (ITK HDF5), an elastix TransformParameters*.txt name or a field image (.nii.gz)');
          }
        }
        let initial = opts.initial ? loadTransformChain(opts.initial, nodeTransformFiles, { fixedGrid: fixed, movingGrid: moving }) : undefined;
        if (opts.fixedPoints && opts.movingPoints) initial = [landmarkInitializer(opts.fixedPoints, opts.movingPoints, config, ctx, Boolean(opts.ras))];
        const progress = makeProgress(ctx, Boolean(opts.quiet), Boolean(opts.verbose));
        let result: RegistrationResult;
        try {
          result = await register(fixed, moving, config, { fixedMask, movingMask, initial, onProgress: progress.onProgress, onLevel: progress.onLevel, warn: progress.warn });
        } finally {
          progress.stop();
        }
        mkdirSync(out, { recursive: true });
        const json = writeRegistrationOutputs(out, fixed, moving, result, { fixed: opts.fixed, moving: opts.moving, config }, {
          composite: opts.composite,
          note: opts.quiet ? undefined : (line) => ctx.io.stderr.write(`coreg: ${line}\n`),
        });
        if (opts.json) ctx.print(JSON.stringify(json, null, 2));
        else if (!opts.quiet) {
          const last = result.stages[result.stages.length - 1];
          ctx.print(`registered in ${result.seconds.toFixed(1)} s: ${result.stages.map((s) => `${s.transform}/${s.metric}`).join(' → ')}; final metric ${last.levels[last.levels.length - 1].value.toPrecision(6)}; wrote ${opts.out}/`);
        }
      }),
    );
}


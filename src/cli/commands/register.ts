// `coreg register`: register MOVING to FIXED and write the transform chain (fixed → moving), the warped image
// and a JSON log into an output folder.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { parseLevels, parseSmoothing } from '../../pyramid/schedule.js';
import { CoregError } from '../../errors.js';
import { numberOfPixels, type Image } from '../../image/image.js';
import { acquireOutputLock, assertNotOverwritingInputs, discardStaged, imageFilePartsAsync, readImageFile, readTextFile, releaseOutputLock, stageFile, writeFilesAtomic, type StagedFile } from '../../io/node.js';
import { describeNumericInverse } from '../../transform/inverse.js';
import { registrationOutputs } from '../../register/outputs.js';
import { nodeTransformFiles } from '../transform-files.js';
import {
  type LevelConfig,
  type RegistrationConfig,
  type StageConfig,
  LEVEL_SETTINGS,
  STAGE_SETTINGS,
  TOP_SETTINGS,
  checkOptionValue,
  checkSettings,
  defaultConfig,
  defaultLevels,
  parseMetricList,
  parseTransformList,
  validateConfig,
} from '../../register/config.js';
import { register, type LevelEvent, type ProgressEvent, type RegistrationResult } from '../../register/register.js';
import { defaultThreadCount } from '../../parallel/node.js';
import { createNodeTeam } from '../worker-pool.js';
import { collectGarbage, youngGenerationGrows } from '../collect.js';
import { sharePixels } from '../../parallel/shared.js';
import { TEAM_MIN_SAMPLES } from '../../register/parallel-for.js';
import type { Team } from '../../parallel/team.js';
import type { ParallelFor, SharedScratch } from '../../register/parallel-for.js';
import { dropIdleArenas, takeIdleArena } from '../../wasm/kernels.js';
import { commandAction, parseIntegerOption, RAS_HELP, usageError, type CliContext } from '../common.js';
// Point files, the HTML report and the progress bar are loaded only by the runs that use them (start-up time).
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
  html?: string;
}

export function readConfigFile(path: string): Partial<RegistrationConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readTextFile(path, 1 << 24));
  } catch (e) {
    // Unreadable: exit 1 (readTextFile's error); unparsable content is bad usage like any other bad setting.
    if (e instanceof CoregError) throw e;
    throw new CoregError(path, `not valid JSON (${(e as Error).message})`, 2);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CoregError(path, 'must hold a JSON object of settings', 2);
  // Strict: unknown keys (with the closest valid one), wrong types and out-of-bound values, naming the key.
  checkSettings(parsed, path, true);
  return parsed as Partial<RegistrationConfig>;
}

/** Config file first, then command-line options on top (the contract: options override --config). */
export function buildConfig(opts: Partial<RegisterCliOptions>, fixedSize: number[]): RegistrationConfig {
  const fromFile = opts.config ? readConfigFile(opts.config) : {};
  const transforms = opts.transform !== undefined ? parseTransformList(opts.transform) : fromFile.stages?.map((s) => s.transform) ?? ['rigid', 'affine'];
  if (transforms.some((t) => t === undefined)) throw usageError(opts.config ?? '--transform', 'every stage of the config file needs a "transform" (or give --transform)');
  const metricsGiven = opts.metric !== undefined ? parseMetricList(opts.metric) : null;
  if (metricsGiven && metricsGiven.length !== 1 && metricsGiven.length !== transforms.length) {
    throw usageError('--metric', `give one metric for all stages or one per stage (${transforms.length}), got ${metricsGiven.length}`);
  }
  const base = defaultConfig(transforms, ['mi']);
  const config: RegistrationConfig = { ...base, ...fromFile, stages: [] };
  for (const [i, kind] of transforms.entries()) {
    const fileStage: Partial<StageConfig> = fromFile.stages?.[i]?.transform === kind ? fromFile.stages[i] : {};
    const stage: StageConfig = { ...base.stages[i], ...fileStage, transform: kind };
    if (metricsGiven) stage.metric = metricsGiven.length === 1 ? metricsGiven[0] : metricsGiven[i];
    if (opts.optimizer !== undefined) {
      checkOptionValue('--optimizer', STAGE_SETTINGS.optimizer, opts.optimizer);
      stage.optimizer = opts.optimizer as StageConfig['optimizer'];
    }
    if (opts.sampling !== undefined) {
      if (!['all', 'regular', 'random'].includes(opts.sampling)) throw usageError('--sampling', `expected all, regular or random, got "${opts.sampling}"`);
      stage.sampling = opts.sampling as StageConfig['sampling'];
    }
    if (opts.samplingPercentage !== undefined) {
      const p = opts.samplingPercentage.trim() === '' ? NaN : Number(opts.samplingPercentage);
      checkOptionValue('--sampling-percentage', STAGE_SETTINGS.samplingPercentage, p);
      stage.samplingPercentage = p;
    }
    if (opts.bins !== undefined) checkOptionValue('--bins', STAGE_SETTINGS.bins, opts.bins);
    if (opts.radius !== undefined) checkOptionValue('--radius', STAGE_SETTINGS.radius, opts.radius);
    if (opts.bins !== undefined) stage.bins = opts.bins;
    if (opts.winsorize !== undefined) stage.winsorize = parseWinsorize(opts.winsorize);
    if (opts.radius !== undefined) stage.radius = opts.radius;
    if (opts.gridSpacing !== undefined) {
      const g = opts.gridSpacing.trim() === '' ? NaN : Number(opts.gridSpacing);
      if (!(g > 0)) throw usageError('--grid-spacing', `expected a positive number of mm, got "${opts.gridSpacing}"`);
      checkOptionValue('--grid-spacing', STAGE_SETTINGS.gridSpacing, g);
      stage.gridSpacing = g;
    }
    if (opts.iterations !== undefined || opts.shrink !== undefined || opts.smooth !== undefined) stage.levels = levelsFromOptions(opts, kind, fixedSize, stage.levels);
    config.stages.push(stage);
  }
  if (opts.seed !== undefined) config.seed = opts.seed;
  if (opts.threads !== undefined) {
    checkOptionValue('--threads', TOP_SETTINGS.threads, opts.threads);
    config.threads = opts.threads;
  }
  if (opts.rotationSearch) config.rotationSearch = true;
  if (opts.initializer !== undefined) {
    if (!['none', 'geometry', 'moments', 'principal-axes', 'landmarks'].includes(opts.initializer)) {
      throw usageError('--initializer', `expected none, geometry, moments, principal-axes or landmarks, got "${opts.initializer}"`);
    }
    config.initializer = opts.initializer as RegistrationConfig['initializer'];
  }
  if (opts.config) return validateConfig(config, opts.config);
  // No file: whatever is wrong came from the options typed; name them, not "config".
  try {
    return validateConfig(config, 'config');
  } catch (e) {
    if (!(e instanceof CoregError)) throw e;
    throw usageError(/metric|stage takes/i.test(e.message) ? '--metric' : '--transform', e.message);
  }
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
  const its = opts.iterations !== undefined ? parseLevels(opts.iterations, '--iterations', true) : null;
  const shrink = opts.shrink !== undefined ? parseLevels(opts.shrink, '--shrink', true) : null;
  const smoothing = opts.smooth !== undefined ? parseSmoothing(opts.smooth, '--smooth') : null;
  const smooth = smoothing ? smoothing.sigmas : null;
  // The same bounds as in a --config file, named by the option typed.
  for (const [values, option, check] of [
    [its, '--iterations', LEVEL_SETTINGS.iterations],
    [shrink, '--shrink', LEVEL_SETTINGS.shrink],
    [smooth, '--smooth', LEVEL_SETTINGS.smooth],
  ] as const) {
    for (const v of values ?? []) checkOptionValue(option, check, v);
  }
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
      ...(smoothing ? { smoothUnit: smoothing.unit } : defaults.length === n && defaults[l].smoothUnit ? { smoothUnit: defaults[l].smoothUnit } : {}),
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
async function landmarkInitializer(fixedPath: string, movingPath: string, config: RegistrationConfig, ctx: CliContext, ras: boolean): Promise<Transform> {
  const { readPointFile } = await import('./points.js');
  const { fitLinearLandmarks } = await import('../../landmarks/fit.js');
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
async function makeProgress(ctx: CliContext, quiet: boolean, verbose: boolean): Promise<{ onProgress?: (e: ProgressEvent) => void; onLevel?: (e: LevelEvent) => void; warn: (m: string) => void; stop(): void }> {
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
  const cliProgress = (await import('cli-progress')).default;
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

/**
 * The names `register` may write into its folder for this configuration (checked against every input before
 * the registration runs): transform.tfm for an all-linear chain, else the non-rigid part's file(s) and one .tfm
 * per linear kind.
 */
export function registrationOutputNames(config: RegistrationConfig): string[] {
  const names = ['result.json', 'warped.nii.gz', 'inverse-warped.nii.gz'];
  if (config.initializer === 'landmarks') names.push('matches.csv');
  const kinds = config.stages.map((s) => s.transform);
  if (kinds.includes('syn')) names.push('warp.nii.gz', 'inverse-warp.nii.gz');
  else if (kinds.includes('bspline')) names.push('bspline.tfm');
  else return [...names, 'transform.tfm'];
  for (const k of ['translation', 'rigid', 'similarity', 'affine', 'euler', 'versor']) names.push(`${k}.tfm`);
  return names;
}

/**
 * The registration's last kernel arena (register's keepArenas), reset, as shared memory for the output images made on
 * the team: its pages are already touched, so the warped and inverse-warped images (27 MB each for ch2bet, and the
 * fixed image's float plane) do not fault fresh pages in (~11 µs each on this machine kind, not in parallel across
 * threads). Beyond it, or without one, new SharedArrayBuffers. The other idle arenas are dropped.
 */
function outputScratch(): SharedScratch | undefined {
  const arena = takeIdleArena();
  dropIdleArenas();
  if (!arena) return undefined;
  let usable = true;
  return {
    bytes: (n: number): Uint8Array => {
      const p = usable ? arena.alloc(n) : -1;
      return p < 0 ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(arena.memory.buffer, p, n);
    },
    reset: (): void => {
      usable = arena.reset();
    },
  };
}

/** Output images under this many values are compressed while the next one is made (2^24: a 64 MB float32 image). */
const OVERLAP_MAX_VALUES = 2 ** 24;

/**
 * Writes the chain: DIR/transform.tfm when it is all linear; otherwise one file per element (B-spline .tfm,
 * displacement field NIfTI, the linear part as its own .tfm), listed in result.json in the order they apply.
 * A syn stage also writes DIR/inverse-warp.nii.gz (moving → fixed after the linear part's inverse).
 * Every file is staged under a temporary name and all are renamed into place together, result.json last: the
 * folder holds the earlier result or the complete new one, never a mix. The images are resampled on `parallel`'s
 * threads and each is compressed on libuv's thread pool as soon as it is made and written under its temporary name
 * (while the next one is resampled on one thread; a team waits for it: see onImage below).
 */
export async function writeRegistrationOutputs(
  dir: string,
  fixed: Image,
  moving: Image,
  result: RegistrationResult,
  extra: Record<string, unknown>,
  opts: {
    composite?: string;
    note?: (line: string) => void;
    html?: { path: string; render: (json: object, chain: readonly Transform[], texts: Record<string, string>) => string };
    parallel?: ParallelFor;
  } = {},
): Promise<object> {
  const staged: ({ path: string; data: Uint8Array | string } | StagedFile)[] = [];
  if (opts.composite) {
    // Formatted first: a chain the format cannot hold fails before anything is written; staged with the rest.
    staged.push(...formatTransformChainFiles(result.transforms, opts.composite, { fixedGrid: fixed, movingGrid: moving, absolute: (p) => resolve(p) }));
  }
  // Encoded images go to their temporary names at once (stageFile), so that neither their pixels nor their
  // compressed bytes stay in memory while the next image is made (3D affine + B-spline: the warped image's 49 MB).
  const written: StagedFile[] = [];
  const stage = (parts: { path: string; data: Uint8Array | Uint8Array[] }[]): StagedFile[] => {
    const files = parts.map((p) => stageFile(p.path, p.data));
    written.push(...files);
    // the image and its bytes are garbage now: gone before the next image is made (large ones)
    collectGarbage();
    return files;
  };
  const encoding = new Map<string, Promise<StagedFile[]>>();
  try {
    const scratch = opts.parallel && opts.parallel.threads > 1 ? outputScratch() : undefined;
    const outputs = await registrationOutputs(fixed, moving, result, extra, {
      inverse: true,
      // (a team run's onImage below returns once the file is staged: the pixels' memory is free again)
      scratch,
      fields: opts.composite ? { composite: resolve(opts.composite) } : {},
      parallel: opts.parallel,
      onImage: (f) => {
        // Large images (a CT) are compressed one at a time at the end: compressing one while the next is made would
        // hold its uncompressed and compressed bytes beside the next image's (≈ 0.5 GB more peak memory for a
        // 512×512×300 CT).
        if (f.image.data.length >= OVERLAP_MAX_VALUES) return false;
        const files = imageFilePartsAsync(join(dir, f.name), f.image).then(stage);
        files.catch(() => undefined); // awaited below, in order; a failure there is the error
        encoding.set(f.name, files);
        // A team run waits for the file before making the next image: its threads keep both cores busy anyway, and
        // the image and its bytes are gone before the next one is made (3D affine + B-spline: −49 MB of peak RSS).
        // (A thread waiting for its cost's team hands no turn to the event loop, so a file staged "meanwhile"
        // would only be staged after the next image.)
        if (opts.parallel && opts.parallel.threads > 1) return files.then(() => true, () => true);
        return true;
      },
    });
    for (const r of outputs.numericInverses) opts.note?.(describeNumericInverse(r));
    let resultJson = '';
    const texts: Record<string, string> = {};
    for (const f of outputs.files) {
      if ('taken' in f) staged.push(...(await encoding.get(f.name)!));
      else if ('image' in f) staged.push(...stage(await imageFilePartsAsync(join(dir, f.name), f.image)));
      else if (f.name === 'result.json') resultJson = f.text;
      else {
        texts[f.name] = f.text;
        staged.push({ path: join(dir, f.name), data: f.text });
      }
    }
    const json = outputs.json;
    // The HTML report is made from what is in memory and staged with the rest: all files or none.
    if (opts.html) staged.push({ path: opts.html.path, data: opts.html.render(json, result.transforms, texts) });
    // result.json first: writeFilesAtomic renames the first file last.
    writeFilesAtomic([{ path: join(dir, 'result.json'), data: resultJson }, ...staged]);
    return json;
  } catch (e) {
    // no temporary file left behind: wait for the encodings still running, then remove what they wrote
    await Promise.allSettled(encoding.values());
    discardStaged(written);
    throw e;
  }
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
    .option('--initializer <MODE>', 'without --initial: none|geometry|moments|principal-axes|landmarks (default moments: centres of mass; landmarks: automated keypoint matching, any starting pose)')
    .option('--iterations <LIST>', 'iterations per level, e.g. 200x100x50 (all stages)')
    .option('--shrink <LIST>', 'shrink factors per level, e.g. 4x2x1')
    .option('--smooth <LIST>', 'Gaussian sigmas per level in voxels (2x1x0 or 2x1x0vox) or mm (4x2x0mm)')
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
    .option('--threads <N>', 'threads inside the registration (default: every core); results never depend on it', parseIntegerOption('--threads', 1))
    .option('--seed <S>', 'random seed for sampling (default 121212)', parseIntegerOption('--seed', 0))
    .option('--quiet', 'print nothing but an error line (no progress, no log lines, no summary)')
    .option('--verbose', 'one stderr line per iteration (without a terminal, one line per level is the default)')
    .option('--json', 'print result.json on stdout')
    .option('--composite <FILE>', 'also write the whole chain as one file: .h5 (ITK HDF5, any chain), .tfm (ITK composite; not for syn fields) or another name transform convert writes')
    .option('--html <REPORT.html>', 'also write a self-contained HTML report (pictures, metric per iteration, timings)')
    .action(
      commandAction<RegisterCliOptions>(async (ctx, opts) => {
        // the registration's team, closed here when the command fails before its own finally does
        const early: { team?: Team } = {};
        // V8's young generation keeps its size until the images show a large job (see runRegister); process-wide,
        // so it is given back its default growth at the end.
        youngGenerationGrows(false);
        try {
          await runRegister(ctx, opts, early);
        } catch (e) {
          // The library names its arguments (fixed, movingMask, …); here they are the options typed.
          if (e instanceof CoregError && Object.hasOwn(ARGUMENT_OPTIONS, e.subject)) throw new CoregError(ARGUMENT_OPTIONS[e.subject], e.message, e.exitCode);
          throw e;
        } finally {
          await early.team?.close();
          youngGenerationGrows(true);
        }
      }),
    );
}

/** Library argument names → the command-line options that supply them. */
const ARGUMENT_OPTIONS: Record<string, string> = {
  fixed: '--fixed',
  moving: '--moving',
  fixedMask: '--fixed-mask',
  movingMask: '--moving-mask',
  initial: '--initial',
  initializer: '--initializer',
};

async function runRegister(ctx: CliContext, opts: RegisterCliOptions, early: { team?: Team } = {}): Promise<void> {
  // --quiet: the error line (if any) is all there is on stderr.
  if (opts.quiet) ctx.warn = () => undefined;
  const out = resolve(opts.out);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
  const inputs = [opts.fixed, opts.moving, opts.fixedMask, opts.movingMask, opts.config, opts.fixedPoints, opts.movingPoints].filter((x): x is string => Boolean(x));
  const report = opts.html ? await import('./report.js') : undefined;
  const renderReportHtml = opts.html ? (await import('../../report/html.js')).renderReportHtml : undefined;
  if (opts.html) report!.checkHtmlOut(opts.html, inputs, '--html');
  // Warnings go to stderr as always and into result.json (and the report).
  const warnings: string[] = [];
  const warnLine = ctx.warn;
  ctx = { ...ctx, warn: (m: string) => (warnings.push(m), warnLine(m)) };
  // Settings first: a bad --config or option value is reported before any image is read.
  const threads = buildConfig(opts, [64, 64, 64]).threads ?? defaultThreadCount();
  // With a team, every thread of the registration reads the images from shared memory: put them there as they are
  // read, so that the process holds one copy of each, not the file's and the registration's shared one (3D ch2bet
  // affine + B-spline on 2 threads: −35 MB of peak memory). Images too small for a team stay as read.
  const read = (file: string): Image => {
    const img = readImageFile(file, { warn: ctx.warn });
    return threads > 1 && numberOfPixels(img) >= TEAM_MIN_SAMPLES ? { ...img, data: sharePixels(img.data) } : img;
  };
  const fixed = read(opts.fixed);
  // The registration's helper threads start (worker spawn and module load: ~0.1 s, on another core) while this
  // thread reads the moving image, when the fixed image is large enough for register to use them.
  if (threads > 1 && numberOfPixels(fixed) >= TEAM_MIN_SAMPLES) {
    early.team = createNodeTeam(threads);
    early.team.warm?.();
  }
  const moving = read(opts.moving);
  // A small job (2D): V8's young generation keeps the size it had after loading, one full collection drops the
  // image files' decoding scratch and one more the finest level's samples and costs before the outputs. Together
  // (each alone gave less than half) 2D affine peak RSS −4 MB (68 → 64 MB) for ≈ 0.01 s of CPU in ≈ 2× the
  // scavenges, paid for by reading PNGs with Node's zlib (issue 13). A large job lets the young generation grow
  // (3D: objects promoted early would grow the old generation instead). All jobs collect per level only when the
  // heap holds enough to be worth it (collectGarbage's default threshold): forcing it per level in 2D saved no more
  // and cost 0.03 s.
  const small = numberOfPixels(fixed) < TEAM_MIN_SAMPLES && numberOfPixels(moving) < TEAM_MIN_SAMPLES;
  if (!small) youngGenerationGrows(true);
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
  if (opts.fixedPoints && opts.movingPoints) initial = [await landmarkInitializer(opts.fixedPoints, opts.movingPoints, config, ctx, Boolean(opts.ras))];
  // Before any work: no output may overwrite an input (including the files --initial's result.json names),
  // and the folder must be writable and not in use by another run (the lock proves both).
  assertNotOverwritingInputs(
    [...registrationOutputNames(config).map((n) => join(out, n)), ...(opts.composite ? [opts.composite] : [])],
    inputs,
  );
  const lock = acquireOutputLock(out, opts.out);
  let team: Team | undefined;
  let json: object;
  let result: RegistrationResult;
  // The metric value at each iteration, per stage and level (for the report's plot).
  const history: number[][][] = [];
  try {
    const progress = await makeProgress(ctx, Boolean(opts.quiet), Boolean(opts.verbose));
    // Threads inside the registration (default: every core); the results never depend on them.
    team = early.team ?? createNodeTeam(config.threads ?? defaultThreadCount());
    early.team = undefined;
    // (the image files' decoding scratch)
    if (small) collectGarbage(0);
    // the registration's CPU time over all of this process's threads (result.json "cpuSeconds", beside its wall
    // time "seconds"): how many cores it kept busy, V8's own compiler and collector threads included
    const cpu0 = process.cpuUsage();
    try {
      result = await register(fixed, moving, config, {
        parallel: team,
        collect: () => collectGarbage(),
        // its last kernel arena (pages already touched) then holds the output images' pixels (outputScratch)
        keepArenas: !small && team.threads > 1,
        fixedMask,
        movingMask,
        initial,
        onProgress: (e) => {
          ((history[e.stage] ??= [])[e.level] ??= []).push(e.value);
          progress.onProgress?.(e);
        },
        onLevel: (e) => {
          progress.onLevel?.(e);
          // the level's dead buffers go before the next level makes its own (peak RSS)
          collectGarbage();
        },
        warn: progress.warn,
      });
    } finally {
      progress.stop();
    }
    const cpu = process.cpuUsage(cpu0);
    // The helpers' answers to the last session (which still hold its inputs: the B-spline stage's moving plane,
    // gradients and kernels, 77 MB for 3D ch2bet) arrive as messages: let them in before collecting, so that the
    // outputs are made without them (3D affine + B-spline MSE: −60 MB of peak RSS).
    const helped = !small && team.threads > 1;
    if (helped) await new Promise((resolve) => setTimeout(resolve, 20));
    // (always then: much of what they held is shared memory, which the heap's external count does not show; and
    // always for a small job: its finest level's samples and costs would otherwise stay resident beside the outputs)
    collectGarbage(helped || small ? 0 : undefined);
    json = await writeRegistrationOutputs(out, fixed, moving, result, {
      fixed: opts.fixed,
      moving: opts.moving,
      config,
      ...(opts.fixedPoints ? { fixedPoints: opts.fixedPoints, movingPoints: opts.movingPoints } : {}),
      history: Array.from(history, (levels) => Array.from(levels ?? [], (v) => v ?? [])),
      warnings,
      peakMemoryMb: Math.round(process.resourceUsage().maxRSS / 1024),
      cpuSeconds: Math.round((cpu.user + cpu.system) / 1e3) / 1e3,
    }, {
      composite: opts.composite,
      note: opts.quiet ? undefined : (line) => ctx.io.stderr.write(`coreg: ${line}\n`),
      html: opts.html ? { path: opts.html, render: (j, chain, texts) => renderReportHtml!(report!.registrationReportOf(out, j, fixed, moving, chain, ctx, {}, texts)) } : undefined,
      parallel: team,
    });
  } finally {
    await team?.close();
    releaseOutputLock(lock);
  }
  if (opts.json) ctx.print(JSON.stringify(json, null, 2));
  else if (!opts.quiet) {
    const last = result.stages[result.stages.length - 1];
    ctx.print(`registered in ${result.seconds.toFixed(1)} s: ${result.stages.map((s) => `${s.transform}/${s.metric}`).join(' → ')}; final metric ${last.levels[last.levels.length - 1].value.toPrecision(6)}; wrote ${opts.out}/`);
  }
}


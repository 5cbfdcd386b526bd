/**
 * What a registration writes, as names and contents (browser-safe): the CLI's `register` writes these files into
 * its output folder and the browser app offers the same ones as downloads, so both produce the same files.
 */
import type { Image } from '../image/image.js';
import { formatItkTransformFile } from '../transform/itk-tfm.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import { isLinear } from '../transform/transform.js';
import { storedInverses, type NumericInverseReport } from '../transform/inverse.js';
import type { RegistrationResult } from './register.js';
import type { ParallelFor, SharedScratch } from './parallel-for.js';
import { resampleOn } from './parallel-resample.js';
import { invertChainOn } from './parallel-invert.js';

/**
 * One output file: text (transform files, result.json), an image to encode by its name's extension, or an image
 * the caller took when it was made (onImage returned true) and writes itself.
 */
export type RegistrationOutput = { name: string; text: string } | { name: string; image: Image } | { name: string; taken: true };

export interface RegistrationOutputs {
  /** In writing order: the chain's files, inverse-warp.nii.gz (syn), warped.nii.gz, result.json last. */
  files: RegistrationOutput[];
  /** result.json's object (its text is the last file). */
  json: Record<string, unknown>;
  /** With `inverse`: the chain's elements inverted numerically (B-spline fields), with their residuals. */
  numericInverses: NumericInverseReport[];
}

export interface RegistrationOutputOptions {
  /** Also inverse-warped.nii.gz: the fixed image on the moving grid through the inverted chain (syn: its stored
   * inverse field; B-spline: a numerically inverted field whose residual goes to result.json). */
  inverse?: boolean;
  /** result.json fields placed after the chain and inverse fields, before the preset and `extra`. */
  fields?: Record<string, unknown>;
  /** Threads for the resampling (the same pixels for any count). */
  parallel?: ParallelFor;
  /**
   * Told of each image file as soon as it is made (e.g. to start compressing it while the next is made; a promise
   * returned is awaited before the next is made). Returning true takes the image: the list then holds
   * `{ name, taken: true }` and does not keep its pixels alive while the next images are made.
   */
  onImage?: (file: { name: string; image: Image }) => boolean | void | Promise<boolean | void>;
  /**
   * Shared memory for the images resampled on a team (their pixels and float planes), e.g. a released kernel arena
   * whose pages are already touched: `bytes(n)` gives n bytes of it, `reset()` makes all of it free again. Reset
   * before each image when the last one was taken, so pass it only if onImage, when it returns true, no longer needs
   * the image's pixels.
   */
  scratch?: SharedScratch;
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

/** result.json's "landmarks" (initializer landmarks): counts, inlier ratio, residual, timings. */
function landmarkSummary(result: RegistrationResult): Record<string, unknown> {
  const l = result.landmarks!;
  return {
    keypoints: l.keypoints,
    matches: l.matches.count,
    inliers: l.inliers,
    residualMm: l.residualMm,
    inlierRatio: l.inlierRatio,
    transform: l.kind,
    descriptor: l.descriptor,
    refined: l.refined,
    attempts: l.attempts,
    seconds: l.seconds,
  };
}

/**
 * The chain as files: transform.tfm when it is all linear; otherwise one file per element (B-spline .tfm,
 * displacement field warp.nii.gz, the linear part as its own .tfm), listed in result.json in the order they
 * apply. A syn stage adds inverse-warp.nii.gz. Also warped.nii.gz (moving on the fixed grid, float32) and
 * result.json (with `extra` appended to its fields); with `opts.inverse` also inverse-warped.nii.gz.
 */
export async function registrationOutputs(
  fixed: Image,
  moving: Image,
  result: RegistrationResult,
  extra: Record<string, unknown>,
  opts: RegistrationOutputOptions = {},
): Promise<RegistrationOutputs> {
  const files: RegistrationOutput[] = [];
  // whether the last image pushed was taken (its scratch memory is free again)
  let taken = true;
  const pushImage = async (name: string, image: Image): Promise<void> => {
    taken = (await opts.onImage?.({ name, image })) === true;
    files.push(taken ? { name, taken: true } : { name, image });
  };
  const scratch = (): SharedScratch | undefined => {
    if (opts.scratch && taken) opts.scratch.reset();
    return opts.scratch;
  };
  const chain: string[] = [];
  if (result.transforms.every(isLinear)) {
    files.push({ name: 'transform.tfm', text: formatItkTransformFile(result.transforms) });
    chain.push('transform.tfm');
  } else {
    for (const t of result.transforms) {
      if (t instanceof DisplacementFieldTransform) {
        await pushImage('warp.nii.gz', t.field);
        chain.push('warp.nii.gz');
      } else {
        const name = t.kind === 'bspline' ? 'bspline.tfm' : `${t.kind}.tfm`;
        files.push({ name, text: formatItkTransformFile([t]) });
        chain.push(name);
      }
    }
    if (result.inverseField) await pushImage('inverse-warp.nii.gz', result.inverseField);
  }
  // Initializer landmarks: the matched keypoints (the report draws them).
  if (result.landmarks) files.push({ name: 'matches.csv', text: (await import('../features/auto.js')).matchesCsv(result.landmarks) });
  await pushImage('warped.nii.gz', await resampleOn(opts.parallel, moving, fixed, result.transforms, { interpolation: 'linear', outputType: 'float32' }, scratch()));
  let numericInverses: NumericInverseReport[] = [];
  let inverseFields: Record<string, unknown> = {};
  if (opts.inverse) {
    const forwardField = result.transforms.find((t) => t instanceof DisplacementFieldTransform);
    if (forwardField && result.inverseField) storedInverses.set(forwardField, new DisplacementFieldTransform(result.inverseField, 'inverse-warp.nii.gz'));
    const inverse = await invertChainOn(opts.parallel, result.transforms);
    numericInverses = inverse.numeric;
    await pushImage('inverse-warped.nii.gz', await resampleOn(opts.parallel, fixed, moving, inverse.transforms, { interpolation: 'linear', outputType: 'float32' }, scratch()));
    inverseFields = {
      inverseWarped: 'inverse-warped.nii.gz',
      ...(numericInverses.length
        ? { inverseResidualMm: numericInverses.map((r) => ({ transform: r.name, max: r.maxResidual, p99: r.p99Residual, mean: r.meanResidual, noPreimage: r.unconverged, grid: r.size })) }
        : {}),
    };
  }
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
    threads: result.threads,
    transforms: chain,
    ...inverseFields,
    ...opts.fields,
    ...(result.preset ? { preset: result.preset } : {}),
    ...(result.landmarks ? { landmarks: { ...landmarkSummary(result), matchesFile: 'matches.csv' } } : {}),
    ...extra,
  };
  files.push({ name: 'result.json', text: JSON.stringify(json, null, 2) + '\n' });
  return { files, json, numericInverses };
}

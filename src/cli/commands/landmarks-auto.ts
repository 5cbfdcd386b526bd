// `coreg landmarks --auto`: automated landmarks (keypoints, descriptors, matching, RANSAC) between two images; writes
// the matches, the inlier landmarks as Slicer files, the transform, the warped moving image, a picture and
// result.json into an output folder.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoregError } from '../../errors.js';
import { autoLandmarks, DESCRIPTOR_CHOICES, matchesCsv, type AutoLandmarkResult, type DescriptorChoice } from '../../features/auto.js';
import type { RobustKind } from '../../features/ransac.js';
import { encodeImage } from '../../io/image-io.js';
import { assertNotInput, readImageFile, writeResultFolder } from '../../io/node.js';
import { formatPointSet } from '../../landmarks/point-io.js';
import { matchesPicture } from '../../report/matches.js';
import { encodeRasterPng } from '../../report/picture.js';
import { resample } from '../../resample/resample.js';
import { formatItkTransformFile } from '../../transform/itk-tfm.js';
import { usageError, type CliContext } from '../common.js';

export interface AutoLandmarksOptions {
  fixed?: string;
  moving?: string;
  out: string;
  transform?: string;
  fixedMask?: string;
  movingMask?: string;
  descriptor?: string;
  seed?: string;
  json?: boolean;
  quiet?: boolean;
}

export const AUTO_KINDS: readonly RobustKind[] = ['rigid', 'similarity', 'affine'];

/** The inlier landmarks of one side as 3D points (2D points get z = 0, as Slicer shows a 2D image). */
function inlierPoints(r: AutoLandmarkResult, side: 'fixed' | 'moving'): number[][] {
  const d = r.dimension;
  const flat = r.matches[side];
  const out: number[][] = [];
  for (let k = 0; k < r.matches.count; k++) {
    if (!r.matches.inliers[k]) continue;
    out.push([flat[k * d], flat[k * d + 1], d === 3 ? flat[k * d + 2] : 0]);
  }
  return out;
}

export function runAutoLandmarks(ctx: CliContext, opts: AutoLandmarksOptions): void {
  if (!opts.fixed) throw usageError('--fixed', 'is required with --auto (the fixed image)');
  if (!opts.moving) throw usageError('--moving', 'is required with --auto (the moving image)');
  const kind = (opts.transform ?? 'rigid') as RobustKind;
  if (!AUTO_KINDS.includes(kind)) throw usageError('--transform', `with --auto: expected ${AUTO_KINDS.join(', ')}; got "${opts.transform}"`);
  const descriptor = (opts.descriptor ?? 'auto') as DescriptorChoice;
  if (!DESCRIPTOR_CHOICES.includes(descriptor)) throw usageError('--descriptor', `expected ${DESCRIPTOR_CHOICES.join(', ')}; got "${opts.descriptor}"`);
  let seed = 1;
  if (opts.seed !== undefined) {
    seed = Number(opts.seed);
    if (!Number.isInteger(seed) || seed < 0) throw usageError('--seed', `expected an integer ≥ 0; got "${opts.seed}"`);
  }
  const out = resolve(opts.out);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
  const names = ['result.json', 'matches.csv', 'fixed.fcsv', 'moving.fcsv', 'transform.tfm', 'warped.nii.gz', 'matches.png'];
  const inputs = [opts.fixed, opts.moving, opts.fixedMask, opts.movingMask].filter((x): x is string => Boolean(x));
  for (const name of names) assertNotInput(join(out, name), inputs, join(opts.out, name));

  const fixed = readImageFile(opts.fixed, { warn: ctx.warn });
  const moving = readImageFile(opts.moving, { warn: ctx.warn });
  const fixedMask = opts.fixedMask ? readImageFile(opts.fixedMask, { warn: ctx.warn }) : null;
  const movingMask = opts.movingMask ? readImageFile(opts.movingMask, { warn: ctx.warn }) : null;
  if (fixed.dimension !== moving.dimension) throw new CoregError(opts.moving, `is ${moving.dimension}D but ${opts.fixed} is ${fixed.dimension}D`);
  for (const [img, name] of [
    [fixed, opts.fixed],
    [moving, opts.moving],
  ] as const) {
    if (img.components !== 1) throw new CoregError(name, `has ${img.components} values per voxel; automated landmarks need a scalar image`);
  }
  if (fixedMask && fixedMask.dimension !== fixed.dimension) throw new CoregError(opts.fixedMask!, `is ${fixedMask.dimension}D but ${opts.fixed} is ${fixed.dimension}D`);
  if (movingMask && movingMask.dimension !== moving.dimension) throw new CoregError(opts.movingMask!, `is ${movingMask.dimension}D but ${opts.moving} is ${moving.dimension}D`);

  const r = autoLandmarks(fixed, moving, { transform: kind, descriptor, fixedMask, movingMask, seed, fixedName: opts.fixed, movingName: opts.moving });
  const tfm = formatItkTransformFile([r.transform]);
  const warped = resample(moving, fixed, [r.transform], { interpolation: 'linear', outputType: 'float32' });
  const files: { path: string; data: Uint8Array | string }[] = [
    { path: join(out, 'matches.csv'), data: matchesCsv(r) },
    { path: join(out, 'fixed.fcsv'), data: formatPointSet(inlierPoints(r, 'fixed'), 'fixed.fcsv') },
    { path: join(out, 'moving.fcsv'), data: formatPointSet(inlierPoints(r, 'moving'), 'moving.fcsv') },
    { path: join(out, 'transform.tfm'), data: tfm },
    { path: join(out, 'matches.png'), data: encodeRasterPng(matchesPicture(fixed, moving, r.matches)) },
  ];
  for (const f of encodeImage(warped, 'warped.nii.gz')) files.push({ path: join(out, 'warped.nii.gz'), data: f.bytes });
  const json = {
    keypoints: r.keypoints,
    matches: r.matches.count,
    inliers: r.inliers,
    residualMm: r.residualMm,
    inlierRatio: r.inlierRatio,
    transform: kind,
    descriptor: r.descriptor,
    refined: r.refined,
    attempts: r.attempts,
    rule: r.rule,
    seconds: r.seconds,
    dimension: r.dimension,
    transforms: ['transform.tfm'],
    itkType: /^Transform: (.*)$/m.exec(tfm)![1],
    fixed: opts.fixed,
    moving: opts.moving,
    warped: 'warped.nii.gz',
    picture: 'matches.png',
  };
  writeResultFolder(out, opts.out, json, files);
  if (opts.json) ctx.print(JSON.stringify(json, null, 2));
  else if (!opts.quiet) {
    ctx.print(
      `${kind} fit to automated landmarks (${r.descriptor} descriptors): keypoints ${r.keypoints.fixed} fixed, ${r.keypoints.moving} moving; ${r.matches.count} matches, ` +
        `${r.inliers} inliers (${(100 * r.inlierRatio).toFixed(0)} %), residual RMS ${r.residualMm.toPrecision(3)} mm; wrote ${opts.out}/`,
    );
  }
}

// `coreg landmarks`: fit a fixed → moving transform to corresponding points and write it (plus, on request, its
// displacement field on a reference grid and the moving image resampled there) into an output folder.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { CoregError } from '../../errors.js';
import type { Image } from '../../image/image.js';
import { encodeImage } from '../../io/image-io.js';
import { assertNotInput, readImageFile, readTextFile, writeResultFolder } from '../../io/node.js';
import { displacementFieldOnGrid } from '../../landmarks/field.js';
import { fitLandmarks, LANDMARK_KINDS, landmarkResiduals, type LandmarkKind } from '../../landmarks/fit.js';
import { parsePointSet, type PointSet } from '../../landmarks/point-io.js';
import { TPS_KERNELS, type TpsKernel } from '../../transform/tps.js';
import { resample } from '../../resample/resample.js';
import { formatItkTransformFile } from '../../transform/itk-tfm.js';
import { isLinear } from '../../transform/transform.js';
import { commandAction, usageError } from '../common.js';
import { runAutoLandmarks } from './landmarks-auto.js';

interface LandmarksOptions {
  fixedPoints?: string;
  movingPoints?: string;
  transform?: string;
  out: string;
  auto?: boolean;
  fixed?: string;
  fixedMask?: string;
  movingMask?: string;
  descriptor?: string;
  seed?: string;
  reference?: string;
  moving?: string;
  kernel?: string;
  json?: boolean;
  quiet?: boolean;
  ras?: boolean;
}

const HELP = `
The fit maps FIXED → MOVING points (T(p) ≈ q for each pair), as register does, so \`coreg apply --reference F
--moving M --transform DIR\` resamples the moving image onto the fixed grid. Pairs are matched by order.
  rigid       Kabsch (rotation + translation; never a reflection)       Euler2D/Euler3D .tfm
  similarity  Umeyama (+ isotropic scale)                               Similarity2D/Similarity3D .tfm
  affine      least squares                                             AffineTransform .tfm
  tps         thin-plate spline through every pair (r²·log r in 2D,     ITK kernel transform .tfm
              r in 3D; --kernel r gives ITK's ThinPlateSplineKernelTransform in 2D too)
Point files: CSV x,y[,z] (LPS mm), Slicer .fcsv/.mrk.json, elastix point files ("index" points use --reference
for the fixed points and --moving for the moving points), plain whitespace-separated coordinates.

--auto: no point files; keypoints are found in --fixed and --moving (scale-space extrema with a local frame),
described (--descriptor gradient: gradient orientation histograms; mind: self-similarity, for different
modalities; auto (default): gradient, then mind when gradient fails), matched (mutual nearest neighbours with a
ratio test) and fitted by RANSAC (rigid by default, or similarity/affine), then refined by a guided second match.
It fails (exit 1, naming the keypoint, match and inlier counts) with fewer than max(8, 3 × the minimal sample)
inliers or an inlier ratio below 10 %. Writes DIR/matches.csv (fx,fy[,fz],mx,my[,mz],score,inlier; score =
1 − nearest/second-nearest descriptor distance), DIR/fixed.fcsv and DIR/moving.fcsv (the inlier landmarks),
DIR/transform.tfm, DIR/warped.nii.gz, DIR/matches.png (inliers green, outliers red) and DIR/result.json
({"keypoints":{"fixed":n,"moving":n},"matches":n,"inliers":n,"residualMm":…, …}).
`;

function readPoints(path: string, reference: Image | undefined, referenceOption: string, ras = false): PointSet {
  return parsePointSet(readTextFile(path), path, { reference, referenceOption, ras });
}

export function landmarksCommand(): Command {
  return new Command('landmarks')
    .description('fit a fixed → moving transform to corresponding landmarks (rigid, similarity, affine or thin-plate spline), or find them (--auto)')
    .option('--fixed-points <P>', 'points in the fixed image')
    .option('--moving-points <Q>', 'the corresponding points in the moving image, in the same order')
    .option('--transform <KIND>', `${LANDMARK_KINDS.join('|')} (with --auto: rigid (default), similarity or affine)`)
    .requiredOption('--out <DIR>', 'output folder (created if missing)')
    .option('--reference <F>', 'fixed image: also write displacement.nii.gz on its grid')
    .option('--moving <M>', 'moving image (needs --reference, or --auto): also write warped.nii.gz, M resampled on the fixed grid')
    .option('--auto', 'automated landmarks: find and match keypoints in --fixed and --moving (no point files)')
    .option('--fixed <F>', '--auto: the fixed image')
    .option('--fixed-mask <FM>', '--auto: keypoints only where this mask is > 0 in the fixed image')
    .option('--moving-mask <MM>', '--auto: keypoints only where this mask is > 0 in the moving image')
    .option('--descriptor <KIND>', '--auto: auto|gradient|mind (default auto)')
    .option('--seed <S>', '--auto: RANSAC seed (default 1)')
    .option('--kernel <K>', `tps kernel: ${TPS_KERNELS.join('|')} (default r2logr in 2D, r in 3D)`)
    .option('--ras', 'CSV point coordinates are RAS, e.g. MNI coordinates (a CSV header r,a[,s] says so by itself)')
    .option('--json', 'print result.json on stdout')
    .option('--quiet', 'print nothing on success')
    .addHelpText('after', HELP)
    .action(
      commandAction<LandmarksOptions>((ctx, opts) => {
        if (opts.auto) {
          for (const [v, name] of [
            [opts.fixedPoints, '--fixed-points'],
            [opts.movingPoints, '--moving-points'],
            [opts.reference, '--reference'],
            [opts.kernel, '--kernel'],
            [opts.ras, '--ras'],
          ] as const) {
            if (v !== undefined) throw usageError(name, 'does not go with --auto (the landmarks are found in --fixed and --moving)');
          }
          runAutoLandmarks(ctx, opts);
          return;
        }
        for (const [v, name] of [
          [opts.fixed, '--fixed'],
          [opts.fixedMask, '--fixed-mask'],
          [opts.movingMask, '--moving-mask'],
          [opts.descriptor, '--descriptor'],
          [opts.seed, '--seed'],
        ] as const) {
          if (v !== undefined) throw usageError(name, 'only applies to --auto');
        }
        // Without --auto these three are required, as before (the same message as other required options).
        if (!opts.fixedPoints) throw usageError('--fixed-points', 'required option not given');
        if (!opts.movingPoints) throw usageError('--moving-points', 'required option not given');
        if (!opts.transform) throw usageError('--transform', 'required option not given');
        const fixedPoints = opts.fixedPoints;
        const movingPoints = opts.movingPoints;
        const kind = opts.transform as LandmarkKind;
        if (!LANDMARK_KINDS.includes(kind)) throw usageError('--transform', `expected ${LANDMARK_KINDS.join(', ')}; got "${opts.transform}"`);
        if (opts.kernel !== undefined) {
          if (!TPS_KERNELS.includes(opts.kernel as TpsKernel)) throw usageError('--kernel', `expected ${TPS_KERNELS.join(' or ')}; got "${opts.kernel}"`);
          if (kind !== 'tps') throw usageError('--kernel', 'only applies to --transform tps');
        }
        if (opts.moving && !opts.reference) throw usageError('--moving', 'needs --reference (the grid to resample the moving image on)');
        const out = resolve(opts.out);
        if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
        const transformName = kind === 'tps' ? 'tps.tfm' : 'transform.tfm';
        const inputs = [fixedPoints, movingPoints, opts.reference, opts.moving].filter((x): x is string => Boolean(x));
        const outputs = ['result.json', transformName, ...(opts.reference ? ['displacement.nii.gz'] : []), ...(opts.moving ? ['warped.nii.gz'] : [])];
        for (const name of outputs) assertNotInput(join(out, name), inputs, join(opts.out, name));

        const reference = opts.reference ? readImageFile(opts.reference, { warn: ctx.warn }) : undefined;
        const moving = opts.moving ? readImageFile(opts.moving, { warn: ctx.warn }) : undefined;
        const fixedSet = readPoints(fixedPoints, reference, '--reference', Boolean(opts.ras));
        const movingSet = readPoints(movingPoints, moving, '--moving', Boolean(opts.ras));
        const d = fixedSet.dimension;
        if (movingSet.dimension !== d) throw new CoregError(movingPoints, `holds ${movingSet.dimension}D points but ${fixedPoints} holds ${d}D points`);
        if (reference && reference.dimension !== d) throw new CoregError(opts.reference!, `is a ${reference.dimension}D image but the points are ${d}D`);
        if (moving && moving.dimension !== d) throw new CoregError(opts.moving!, `is a ${moving.dimension}D image but the points are ${d}D`);

        const transform = fitLandmarks(kind, fixedSet.points, movingSet.points, {
          fixedName: fixedPoints,
          movingName: movingPoints,
          kernel: opts.kernel as TpsKernel | undefined,
        });
        const residuals = landmarkResiduals(transform, fixedSet.points, movingSet.points);

        const tfm = formatItkTransformFile([transform]);
        const files: { path: string; data: Uint8Array | string }[] = [{ path: join(out, transformName), data: tfm }];
        const extra: Record<string, unknown> = {};
        if (reference) {
          const field = displacementFieldOnGrid(transform, reference);
          for (const f of encodeImage(field, 'displacement.nii.gz')) files.push({ path: join(out, 'displacement.nii.gz'), data: f.bytes });
          extra.displacementField = 'displacement.nii.gz';
        }
        if (reference && moving) {
          const warped = resample(moving, reference, [transform], { interpolation: 'linear', outputType: 'float32' });
          for (const f of encodeImage(warped, 'warped.nii.gz')) files.push({ path: join(out, 'warped.nii.gz'), data: f.bytes });
          extra.warped = 'warped.nii.gz';
        }
        const json = {
          transform: kind,
          points: fixedSet.points.length,
          residual: { mean: residuals.mean, max: residuals.max, rms: residuals.rms },
          transforms: [transformName],
          dimension: d,
          itkType: /^Transform: (.*)$/m.exec(tfm)![1],
          linear: isLinear(transform),
          fixedPoints: fixedPoints,
          movingPoints: movingPoints,
          residuals: residuals.distances,
          ...extra,
        };
        writeResultFolder(out, opts.out, json, files);
        if (opts.json) ctx.print(JSON.stringify(json, null, 2));
        else if (!opts.quiet) {
          ctx.print(`${kind} fit to ${json.points} landmark pairs: residual mean ${residuals.mean.toPrecision(4)} mm, max ${residuals.max.toPrecision(4)} mm; wrote ${opts.out}/`);
        }
      }),
    );
}

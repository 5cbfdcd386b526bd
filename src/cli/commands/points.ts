// `coreg points`: map point sets through a transform chain (fixed → moving, or moving → fixed with --inverse).
import { Command } from 'commander';
import { CoregError } from '../../errors.js';
import type { Transform } from '../../transform/transform.js';
import { readImageFile, readTextFile, writeFileAtomic, assertNotInput, assertNotOverwritingInputs } from '../../io/node.js';
import { formatPointSet, parsePointSet, type PointReferenceGrid, type PointSet } from '../../landmarks/point-io.js';
import type { CliContext } from '../common.js';
import { commandAction, usageError } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';
import { collectValues } from './apply.js';
import { createChainInverse, transformChainPoint } from '../../transform/chain.js';
import { loadTransformChainList, type ChainLoadOptions } from '../../io/chain-io.js';

/** Reads a point file (LPS mm); `reference` (an image path) is read only when given. */
export function readPointFile(path: string, ctx: CliContext, referencePath?: string, ras = false): PointSet {
  const text = readTextFile(path);
  let reference: PointReferenceGrid | undefined;
  if (referencePath) reference = readImageFile(referencePath, { warn: ctx.warn });
  return parsePointSet(text, path, { reference, ras });
}

/** The --ras option's help (shared by every command that reads or writes CSV points). */
import { RAS_HELP } from '../common.js';
export { RAS_HELP };

/** The chain of the repeatable --transform option (at least one); FSL matrices need both images. */
export function readTransformOption(values: string[] | undefined, grids: ChainLoadOptions = {}): Transform[] {
  const paths = values ?? [];
  if (paths.length === 0) throw usageError('--transform', 'required option not given');
  return loadTransformChainList(paths, nodeTransformFiles, grids);
}

/** Checks that points and transforms have the same dimension. */
export function checkPointDimension(set: PointSet, chain: readonly Transform[], file: string): void {
  if (chain.length > 0 && chain[0].dimension !== set.dimension) {
    throw new CoregError(file, `holds ${set.dimension}D points but the transform is ${chain[0].dimension}D`);
  }
}

/**
 * Each point through the chain (fixed → moving), or through its inverse (moving → fixed). Returns the mapped
 * points and how many inverse iterations did not converge.
 */
export function mapPoints(points: readonly number[][], chain: readonly Transform[], inverse: boolean): { points: number[][]; unconverged: number } {
  const d = points.length ? points[0].length : 0;
  const out = new Float64Array(d);
  const scratch = new Float64Array(d);
  const inv = inverse ? createChainInverse(chain) : undefined;
  let unconverged = 0;
  const mapped = points.map((p) => {
    if (inv) {
      if (!inv(p, out)) unconverged++;
    } else transformChainPoint(chain, p, out, scratch);
    return Array.from(out);
  });
  return { points: mapped, unconverged };
}

interface PointsOptions {
  transform?: string[];
  in: string;
  out: string;
  inverse?: boolean;
  reference?: string;
  moving?: string;
  ras?: boolean;
}

const DIRECTION_HELP = `
Which way points go: register maps fixed → moving: a point p in the FIXED image corresponds to T(p) in the
MOVING image; use --inverse to map moving-image points into the fixed image.

Examples:
  coreg register --fixed F.nii.gz --moving M.nii.gz --out reg/
  coreg points --transform reg/ --in fixed_points.csv --out in_moving.csv             # fixed → moving
  coreg points --transform reg/ --in moving_points.csv --out in_fixed.csv --inverse   # moving → fixed

Point files: CSV with a header x,y[,z] (LPS mm; RAS with --ras) or r,a[,s] (RAS mm; other columns are copied through), 3D Slicer .fcsv and .mrk.json
(RAS or LPS as the file says; written back the same way), elastix point files ("point", or "index" with
--reference), and plain whitespace-separated coordinates. The output format follows --out's extension.
`;

export function pointsCommand(): Command {
  return new Command('points')
    .description('map points through transforms: T(p) for each point p (fixed → moving), or T⁻¹ with --inverse (moving → fixed)')
    .option('--transform <T>', 'register output folder or transform file; repeat to chain (first given applies first)', collectValues)
    .requiredOption('--in <P>', 'input point file')
    .requiredOption('--out <Q>', 'output point file (.csv, .fcsv, .mrk.json, .txt)')
    .option('--inverse', 'map moving-image points to the fixed image (exact for linear chains, iterative to 1e-6 mm for fields)')
    .option('--reference <F>', 'image whose grid elastix "index" points refer to; the fixed image of an FSL FLIRT matrix')
    .option('--moving <M>', 'the moving image of an FSL FLIRT matrix (FLIRT -in)')
    .option('--ras', RAS_HELP)
    .addHelpText('after', DIRECTION_HELP)
    .action(
      commandAction<PointsOptions>((ctx, opts) => {
        const grids = {
          fixedGrid: opts.reference ? readImageFile(opts.reference, { warn: ctx.warn }) : undefined,
          movingGrid: opts.moving ? readImageFile(opts.moving, { warn: ctx.warn }) : undefined,
        };
        const chain = readTransformOption(opts.transform, grids);
        assertNotInput(opts.out, [opts.in, ...(opts.transform ?? []), ...(opts.reference ? [opts.reference] : [])], opts.out);
        const set = readPointFile(opts.in, ctx, opts.reference, Boolean(opts.ras));
        checkPointDimension(set, chain, opts.in);
        assertNotOverwritingInputs([opts.out]);
        const { points, unconverged } = mapPoints(set.points, chain, Boolean(opts.inverse));
        if (unconverged > 0) {
          ctx.warn(`${unconverged} of ${points.length} points did not converge to 1e-6 mm in 100 inverse iterations (the field may fold there); their last estimates are written`);
        }
        writeFileAtomic(opts.out, formatPointSet(points, opts.out, set, { ras: Boolean(opts.ras) }));
      }),
    );
}

// `coreg eval tre|dice|jacobian|difference`: registration accuracy (landmark errors), label overlap and transform regularity.
import { Command } from 'commander';
import { CoregError } from '../../errors.js';
import { imageFormatOf } from '../../io/image-io.js';
import { assertNotInput, readImageFile, writeImageFile } from '../../io/node.js';
import { labelOverlap, summarizeDistances, type OverlapReport } from '../../report/overlap.js';
import { differenceImage } from '../../report/difference.js';
import { commandAction } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';
import { collectValues } from './apply.js';
import { checkPointDimension, RAS_HELP, readPointFile, readTransformOption } from './points.js';
import { loadTransformChainList } from '../../io/chain-io.js';
import { transformChainPoint } from '../../transform/chain.js';
import { jacobianDeterminantImage, summarizeJacobian } from '../../transform/jacobian.js';

/** Short human form: integers as is, others to 6 significant digits. */
function fmt(v: number | null): string {
  if (v === null) return '-';
  if (Object.is(v, -0)) return '0';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
}

interface TreOptions {
  transform?: string[];
  fixedPoints: string;
  movingPoints: string;
  reference?: string;
  ras?: boolean;
  json?: boolean;
}

/** |T(p) − q| for each corresponding pair. */
export function targetRegistrationErrors(fixed: readonly number[][], moving: readonly number[][], chain: Parameters<typeof transformChainPoint>[0]): Float64Array {
  const d = fixed.length ? fixed[0].length : 0;
  const tp = new Float64Array(d);
  const scratch = new Float64Array(d);
  const errors = new Float64Array(fixed.length);
  for (let i = 0; i < fixed.length; i++) {
    transformChainPoint(chain, fixed[i], tp, scratch);
    let s = 0;
    for (let a = 0; a < d; a++) s += (tp[a] - moving[i][a]) * (tp[a] - moving[i][a]);
    errors[i] = Math.sqrt(s);
  }
  return errors;
}

function treCommand(): Command {
  return new Command('tre')
    .description('target registration error: |T(p) − q| in mm for each pair of a fixed point p and its moving point q (same order in both files)')
    .option('--transform <T>', 'register output folder or transform file (fixed → moving); repeat to chain', collectValues)
    .requiredOption('--fixed-points <P>', 'points in the fixed image')
    .requiredOption('--moving-points <Q>', 'the corresponding points in the moving image')
    .option('--reference <F>', 'image that elastix "index" point files refer to')
    .option('--ras', RAS_HELP)
    .option('--json', 'print {"mean","median","max","points","std","p95","errors"} (mm)')
    .action(
      commandAction<TreOptions>((ctx, opts) => {
        const chain = readTransformOption(opts.transform);
        const fixed = readPointFile(opts.fixedPoints, ctx, opts.reference, Boolean(opts.ras));
        const moving = readPointFile(opts.movingPoints, ctx, opts.reference, Boolean(opts.ras));
        checkPointDimension(fixed, chain, opts.fixedPoints);
        if (moving.dimension !== fixed.dimension) {
          throw new CoregError(opts.movingPoints, `holds ${moving.dimension}D points but ${opts.fixedPoints} holds ${fixed.dimension}D points`);
        }
        if (moving.points.length !== fixed.points.length) {
          throw new CoregError(opts.movingPoints, `has ${moving.points.length} points but ${opts.fixedPoints} has ${fixed.points.length}; they must correspond one to one`);
        }
        const errors = targetRegistrationErrors(fixed.points, moving.points, chain);
        const s = summarizeDistances(errors);
        if (opts.json) {
          ctx.print(JSON.stringify({ mean: s.mean, median: s.median, max: s.max, points: s.points, std: s.std, p95: s.p95, errors: Array.from(errors) }));
          return;
        }
        for (const line of table([
          ['points', String(s.points)],
          ['mean', `${fmt(s.mean)} mm`],
          ['median', `${fmt(s.median)} mm`],
          ['std', `${fmt(s.std)} mm`],
          ['p95', `${fmt(s.p95)} mm`],
          ['max', `${fmt(s.max)} mm`],
        ])) {
          ctx.print(line);
        }
      }),
    );
}

function overlapTable(report: OverlapReport): string[] {
  const rows = [['label', 'dice', 'jaccard', 'volumeA', 'volumeB', 'hd95', 'msd']];
  for (const [label, o] of Object.entries(report.labels)) {
    rows.push([label, fmt(o.dice), fmt(o.jaccard), fmt(o.volumeA), fmt(o.volumeB), fmt(o.hausdorff95), fmt(o.meanSurfaceDistance)]);
  }
  rows.push(['mean', fmt(report.mean), fmt(report.meanJaccard), '', '', '', '']);
  return table(rows);
}

function diceCommand(): Command {
  return new Command('dice')
    .description(
      'per-label overlap of label images A and B on the same grid: Dice, Jaccard, volumes (mm³), Hausdorff 95 % and mean ' +
        'surface distance (mm); mean = mean Dice over the labels of B other than 0',
    )
    .argument('<A>', 'label image (e.g. a warped segmentation)')
    .argument('<B>', 'reference label image, on the same grid as A')
    .option('--json', 'print {"labels":{"<label>":{"dice","jaccard","volumeA","volumeB","hausdorff95","meanSurfaceDistance"}},"mean","meanJaccard"}')
    .action(
      commandAction<{ json?: boolean }>((ctx, opts, args) => {
        const [pathA, pathB] = args as string[];
        const a = readImageFile(pathA, { warn: ctx.warn });
        const b = readImageFile(pathB, { warn: ctx.warn });
        const report = labelOverlap(a, b, { a: pathA, b: pathB });
        if (opts.json) ctx.print(JSON.stringify(report));
        else for (const line of overlapTable(report)) ctx.print(line);
      }),
    );
}

interface JacobianOptions {
  reference: string;
  out?: string;
  json?: boolean;
}

function jacobianCommand(): Command {
  return new Command('jacobian')
    .description('determinant of the Jacobian ∂T/∂x on the reference grid (< 1 shrinks, > 1 expands, ≤ 0 folds); constant for linear transforms')
    .argument('<T...>', 'register output folder or transform file(s); several apply first first')
    .requiredOption('--reference <F>', 'image whose grid the determinant is evaluated on (usually the fixed image)')
    .option('--out <DET>', 'also write the determinant as a float32 image on that grid')
    .option('--json', 'print {"min","max","mean","foldedCount","foldedPercent","points"}')
    .action(
      commandAction<JacobianOptions>((ctx, opts, args) => {
        const paths = args[0] as string[];
        if (opts.out) {
          imageFormatOf(opts.out);
          assertNotInput(opts.out, [opts.reference, ...paths], opts.out);
        }
        const chain = loadTransformChainList(paths, nodeTransformFiles);
        const reference = readImageFile(opts.reference, { warn: ctx.warn });
        const det = jacobianDeterminantImage(chain, reference);
        const s = summarizeJacobian(det.data);
        if (opts.out) writeImageFile(opts.out, det, { warn: ctx.warn });
        if (opts.json) {
          ctx.print(JSON.stringify(s));
          return;
        }
        for (const line of table([
          ['min', fmt(s.min)],
          ['max', fmt(s.max)],
          ['mean', fmt(s.mean)],
          ['folded', `${s.foldedCount} of ${s.points} (${fmt(s.foldedPercent)} %)`],
        ])) {
          ctx.print(line);
        }
      }),
    );
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a registration: tre (landmark errors), dice (label overlap), jacobian (transform regularity)')
    .addCommand(treCommand())
    .addCommand(diceCommand())
    .addCommand(jacobianCommand())
    .addCommand(differenceCommand());
}

interface DifferenceOptions {
  fixed: string;
  moving: string;
  transform?: string[];
  out?: string;
  outBefore?: string;
  json?: boolean;
}

function differenceCommand(): Command {
  return new Command('difference')
    .description('intensity difference fixed − moving on the fixed grid, before (images overlaid in physical space) and after the transform')
    .requiredOption('--fixed <F>', 'fixed image')
    .requiredOption('--moving <M>', 'moving image')
    .option('--transform <T>', 'register output folder or transform file (fixed → moving); repeat to chain', collectValues)
    .option('--out <D>', 'write the difference after registration (float32, 0 where the moving image is undefined)')
    .option('--out-before <D>', 'write the difference before registration')
    .option('--json', 'print {"before":{"rms","meanAbs","ncc","voxels"},"after":{…}}')
    .action(
      commandAction<DifferenceOptions>((ctx, opts) => {
        for (const o of [opts.out, opts.outBefore]) if (o) {
          imageFormatOf(o);
          assertNotInput(o, [opts.fixed, opts.moving], o);
        }
        const fixed = readImageFile(opts.fixed, { warn: ctx.warn });
        const moving = readImageFile(opts.moving, { warn: ctx.warn });
        const chain = opts.transform ? loadTransformChainList(opts.transform, nodeTransformFiles, { fixedGrid: fixed, movingGrid: moving }) : [];
        const before = differenceImage(fixed, moving, []);
        const after = chain.length > 0 ? differenceImage(fixed, moving, chain) : before;
        if (opts.out) writeImageFile(opts.out, after.difference, { warn: ctx.warn });
        if (opts.outBefore) writeImageFile(opts.outBefore, before.difference, { warn: ctx.warn });
        const report = { before: before.stats, after: after.stats };
        if (opts.json) {
          ctx.print(JSON.stringify(report));
          return;
        }
        for (const line of table([
          ['', 'rms', 'mean |d|', 'ncc', 'voxels'],
          ['before', fmt(before.stats.rms), fmt(before.stats.meanAbs), fmt(before.stats.ncc), fmt(before.stats.voxels)],
          ['after', fmt(after.stats.rms), fmt(after.stats.meanAbs), fmt(after.stats.ncc), fmt(after.stats.voxels)],
        ]))
          ctx.print(line);
      }),
    );
}

// `coreg change --baseline A --followup B --out DIR [--mask M | --labels L] [--json]`: volume change over time,
// symmetric in the midpoint space (see src/register/change.ts).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { CoregError } from '../../errors.js';
import { encodeImage } from '../../io/image-io.js';
import { assertNotInput, readImageFile, writeFilesAtomic } from '../../io/node.js';
import { CHANGE_SAMPLE_MARGIN_GRIDS, changeNonrigidStage, detectChange, type ChangeResult, type RegionChange } from '../../register/change.js';
import { defaultConfig, type MetricName, type TransformKind } from '../../register/config.js';
import { formatItkTransformFile } from '../../transform/itk-tfm.js';
import { renderReportHtml, type ReportBlock } from '../../report/html.js';
import { differencePictures, encodeRasterPng, jacobianPicture, overlayPicture, checkerboardPicture, type ViewOptions } from '../../report/picture.js';
import { commandAction, parseIntegerOption, parseNumberOption, usageError } from '../common.js';
import { headerRow } from './report.js';
import { addViewOptions, viewOptions, type PictureCliOptions } from './snapshot.js';

interface ChangeCliOptions extends PictureCliOptions {
  baseline: string;
  followup: string;
  out: string;
  mask?: string;
  labels?: string;
  json?: boolean;
  nonrigid: TransformKind;
  metric: MetricName;
  gridSpacing?: number;
  seed?: number;
  quiet?: boolean;
}

const OUTPUTS = ['change.json', 'difference.nii.gz', 'jacobian.nii.gz', 'rigid.tfm', 'report.html'];

function round(v: number, digits = 6): number {
  return Number(v.toPrecision(digits));
}

function regionJson(r: RegionChange): Record<string, number> {
  return {
    percentChange: round(r.percentChange),
    percentChangeForward: round(r.percentChangeForward),
    percentChangeBackward: round(r.percentChangeBackward),
    percentChangeLabelCount: round(r.percentChangeLabelCount),
    baselineVolumeMm3: round(r.baselineVolumeMm3),
    followupVolumeMm3: round(r.followupVolumeMm3),
  };
}

function changeJson(r: ChangeResult, opts: ChangeCliOptions): object {
  return {
    ...regionJson(r),
    region: opts.mask ? 'mask' : opts.labels ? 'foreground' : 'foreground',
    labels: Object.fromEntries(Object.entries(r.labels).map(([k, v]) => [k, regionJson(v)])),
    baseline: opts.baseline,
    followup: opts.followup,
    ...(opts.mask ? { mask: opts.mask } : {}),
    ...(opts.labels ? { labelImage: opts.labels } : {}),
    method: `rigid (mi), half transform → midpoint space (cubic resampling, intensities normalised), ${opts.nonrigid} (${opts.metric}${opts.nonrigid === 'bspline' ? `, every voxel within ${CHANGE_SAMPLE_MARGIN_GRIDS} grid spacings of the region` : ''}) both ways; Jacobian integrated over the region, geometric mean of both directions`,
    seconds: round(r.seconds, 4),
  };
}

/** The Jacobian picture's colour scale saturates at 2^±this (×0.84 and ×1.19): changes of a few % stay visible. */
const JACOBIAN_MAX_LOG2 = 0.25;

function changeReport(r: ChangeResult, opts: ChangeCliOptions, baseline: Parameters<typeof headerRow>[2], followup: Parameters<typeof headerRow>[2], view: ViewOptions): string {
  const row = (name: string, c: RegionChange): (string | number)[] => [name, c.percentChange, c.percentChangeForward, c.percentChangeBackward, c.percentChangeLabelCount, c.baselineVolumeMm3, c.followupVolumeMm3];
  const header = ['region', 'change % (Jacobian, symmetric)', 'forward %', 'backward %', 'label count %', 'baseline mm³', 'follow-up mm³'];
  const diff = differencePictures(r.baselineMid, r.followupMid, view);
  const blocks: ReportBlock[] = [
    { kind: 'heading', text: 'Inputs' },
    { kind: 'table', header: ['', 'file', 'size', 'spacing (mm)', 'origin (LPS mm)', 'direction (row-major)', 'pixel type', 'range'], rows: [headerRow('baseline', opts.baseline, baseline), headerRow('follow-up', opts.followup, followup)] },
    { kind: 'heading', text: 'Volume change' },
    { kind: 'table', header, rows: [row(opts.mask ? `mask ${opts.mask}` : 'foreground', r), ...Object.entries(r.labels).map(([k, v]) => row(`label ${k}`, v))] },
    {
      kind: 'text',
      text:
        'Symmetric: both images are resampled once into the midpoint of the rigid alignment; the non-rigid registration runs both ways there and ' +
        'the Jacobian integrals of both directions are combined (geometric mean), so swapping baseline and follow-up gives the inverse ratio. ' +
        '"label count" counts the region\'s voxels carried onto the follow-up.',
    },
    { kind: 'heading', text: 'After rigid alignment (midpoint space)' },
    {
      kind: 'figures',
      items: [
        { caption: 'baseline magenta, follow-up green', png: encodeRasterPng(overlayPicture(r.baselineMid, r.followupMid, view)) },
        { caption: 'checkerboard baseline / follow-up', png: encodeRasterPng(checkerboardPicture(r.baselineMid, r.followupMid, view)) },
        { caption: `difference baseline − follow-up (±${round(diff.scale, 3)}; blue: follow-up brighter)`, png: encodeRasterPng(diff.before) },
        {
          caption: `Jacobian determinant of follow-up onto baseline (red: growth, blue: shrinkage; log scale saturating at ×${round(2 ** -JACOBIAN_MAX_LOG2, 2)} and ×${round(2 ** JACOBIAN_MAX_LOG2, 2)}; yellow: folds)`,
          png: encodeRasterPng(jacobianPicture(r.jacobian, { ...view, maxLog2: JACOBIAN_MAX_LOG2 })),
        },
      ],
    },
  ];
  return renderReportHtml({ title: `coreg change: ${opts.followup} against ${opts.baseline}`, subtitle: `${opts.out} · change ${round(r.percentChange, 4)} % of the baseline volume`, blocks });
}

export function changeCommand(): Command {
  const cmd = new Command('change')
    .description(
      'volume change between a baseline and a follow-up scan: rigid alignment, then non-rigid registration both ways in the midpoint space; ' +
        'percent change of the mask (or foreground, or each label) from the integrated Jacobian, compared with counting warped labels. ' +
        'Writes DIR/change.json, DIR/difference.nii.gz (follow-up − baseline after rigid, midpoint space), DIR/jacobian.nii.gz, DIR/rigid.tfm, DIR/report.html',
    )
    .requiredOption('--baseline <A>', 'baseline image')
    .requiredOption('--followup <B>', 'follow-up image of the same subject')
    .requiredOption('--out <DIR>', 'output folder (created if missing)')
    .option('--mask <M>', 'region (> 0) on the baseline grid whose volume change is measured (default: the foreground)')
    .option('--labels <L>', 'label image on the baseline grid: the change of each label')
    .addOption(new Option('--nonrigid <T>', 'non-rigid stage').choices(['bspline', 'syn']).default('bspline'))
    .addOption(new Option('--metric <M>', 'metric of the non-rigid stage on the intensity-normalised images (default mse for bspline, lncc for syn)').choices(['mse', 'ncc', 'lncc', 'mi']))
    .option('--grid-spacing <MM>', 'B-spline control-point spacing in mm (default 8)', parseNumberOption('--grid-spacing'))
    .option('--seed <S>', 'random seed for sampling', parseIntegerOption('--seed', 0))
    .option('--json', 'print {"percentChange", "labels": {"<label>": {"percentChange", …}}, …} (% of the baseline volume, negative = shrinkage)')
    .option('--quiet', 'no summary line');
  return addViewOptions(cmd).action(
    commandAction<ChangeCliOptions>(async (ctx, opts) => {
      if (opts.mask && opts.labels) throw usageError('--labels', 'give either --mask or --labels, not both');
      // SyN takes mse, lncc or mi (not global ncc): its own default.
      opts.metric ??= opts.nonrigid === 'syn' ? 'lncc' : 'mse';
      if (opts.nonrigid === 'syn' && opts.metric === 'ncc') throw usageError('--metric', 'a syn stage takes mse, lncc or mi, not ncc');
      if (opts.gridSpacing !== undefined && !(opts.gridSpacing > 0)) throw usageError('--grid-spacing', 'must be > 0');
      const out = resolve(opts.out);
      if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
      const inputs = [opts.baseline, opts.followup, opts.mask, opts.labels].filter((x): x is string => Boolean(x));
      for (const name of OUTPUTS) assertNotInput(join(out, name), inputs, join(opts.out, name));
      const baseline = readImageFile(opts.baseline, { warn: ctx.warn });
      const followup = readImageFile(opts.followup, { warn: ctx.warn });
      const mask = opts.mask ? readImageFile(opts.mask, { warn: ctx.warn }) : undefined;
      const labels = opts.labels ? readImageFile(opts.labels, { warn: ctx.warn }) : undefined;
      const seed = opts.seed ?? 121212;
      const rigidConfig = { ...defaultConfig(['rigid'], ['mi']), seed };
      const nonrigidConfig = { stages: [changeNonrigidStage(opts.nonrigid as 'bspline' | 'syn', opts.metric, opts.gridSpacing ?? 8)], initializer: 'none' as const, seed };
      const result = await detectChange(baseline, followup, { mask, labels, rigidConfig, nonrigidConfig, registerOptions: { warn: ctx.warn } });
      const json = changeJson(result, opts);
      const html = changeReport(result, opts, baseline, followup, viewOptions(opts));
      const files: { path: string; data: Uint8Array | string }[] = [
        { path: join(out, 'change.json'), data: JSON.stringify(json, null, 2) + '\n' },
        { path: join(out, 'difference.nii.gz'), data: encodeImage(result.difference, 'difference.nii.gz')[0].bytes },
        { path: join(out, 'jacobian.nii.gz'), data: encodeImage(result.jacobian, 'jacobian.nii.gz')[0].bytes },
        { path: join(out, 'rigid.tfm'), data: formatItkTransformFile([result.rigid]) },
        { path: join(out, 'report.html'), data: html },
      ];
      mkdirSync(out, { recursive: true });
      writeFilesAtomic(files);
      if (opts.json) ctx.print(JSON.stringify(json));
      else if (!opts.quiet) ctx.print(`volume change ${result.percentChange.toFixed(3)} % (label count ${result.percentChangeLabelCount.toFixed(3)} %) in ${result.seconds.toFixed(1)} s; wrote ${opts.out}/`);
    }),
  );
}

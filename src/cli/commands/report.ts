// `coreg report PATH --out REPORT.html`: one self-contained HTML page about a registration (a register output
// folder) or a segmentation (a `segment --report` JSON file), with its pictures inlined.
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { Command } from 'commander';
import { CoregError } from '../../errors.js';
import { finiteRange, pixelTypeOf, type Image } from '../../image/image.js';
import { assertNotInput, readImageFile, readTextFile, writeFileAtomic } from '../../io/node.js';
import { renderReportHtml, svgLinePlot, type Report, type ReportBlock } from '../../report/html.js';
import { labelOverlap, summarizeDistances } from '../../report/overlap.js';
import {
  checkerboardPicture,
  deformationGridPicture,
  differencePictures,
  edgesPicture,
  encodeRasterPng,
  jacobianPicture,
  jointHistogram,
  jointHistogramPicture,
  labelContourPicture,
  overlayPicture,
  type ViewOptions,
} from '../../report/picture.js';
import { loadTransformChain } from '../../io/chain-io.js';
import { jacobianDeterminantImage, summarizeJacobian } from '../../transform/jacobian.js';
import { isLinear, type Transform } from '../../transform/transform.js';
import { commandAction, usageError, type CliContext } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';
import { targetRegistrationErrors } from './eval.js';
import { readPointFile } from './points.js';
import { addViewOptions, viewOptions, type PictureCliOptions } from './snapshot.js';
import { parseMatchesCsv } from '../../features/auto.js';
import { matchesPicture } from '../../report/matches.js';

/** A path named inside a result file: as given (relative to where the command ran), else beside the file. */
function resolveNamed(path: string, folder: string, what: string, file: string): string {
  if (isAbsolute(path) || existsSync(path)) return path;
  const beside = join(folder, path);
  if (existsSync(beside)) return beside;
  throw new CoregError(file, `names the ${what} '${path}', which is not there (run the report from the folder the command ran in)`);
}

/** Header rows of an image for the inputs table. */
export function headerRow(name: string, path: string, img: Image): (string | number)[] {
  const r = finiteRange(img.data);
  const f = (a: number[]) => a.map((v) => Number(v.toPrecision(6))).join(' × ');
  return [name, path, img.size.join(' × '), f(img.spacing), img.origin.map((v) => Number(v.toPrecision(6))).join(', '), img.direction.map((v) => Number(v.toFixed(4))).join(' '), pixelTypeOf(img.data), r ? `${formatRange(r.min)} … ${formatRange(r.max)}` : '–'];
}
const HEADER_COLUMNS = ['', 'file', 'size', 'spacing (mm)', 'origin (LPS mm)', 'direction (row-major)', 'pixel type', 'range'];

function formatRange(v: number): string {
  return String(Number(v.toPrecision(5)));
}

function png(raster: Parameters<typeof encodeRasterPng>[0]): Uint8Array {
  return encodeRasterPng(raster);
}

/** The pictures comparing fixed and moving∘T: checkerboard, overlay, edges, difference and joint histogram before/after, Jacobian, grid. */
export function registrationPictureBlocks(fixed: Image, moving: Image, chain: readonly Transform[], view: ViewOptions): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  blocks.push({ kind: 'heading', text: 'Alignment' });
  blocks.push({
    kind: 'figures',
    items: [
      { caption: 'checkerboard: fixed / warped moving', png: png(checkerboardPicture(fixed, moving, { ...view, chain })) },
      { caption: 'overlay: fixed magenta, warped moving green (grey where they agree)', png: png(overlayPicture(fixed, moving, { ...view, chain })) },
      { caption: 'edges of the warped moving image (green) over the fixed image', png: png(edgesPicture(fixed, moving, { ...view, chain })) },
      { caption: 'overlay before registration (physical space)', png: png(overlayPicture(fixed, moving, view)) },
    ],
  });
  const diff = differencePictures(fixed, moving, { ...view, chain });
  blocks.push({ kind: 'heading', text: 'Difference fixed − moving' });
  blocks.push({
    kind: 'figures',
    items: [
      { caption: `before (blue: moving brighter, red: fixed brighter; ±${Number(diff.scale.toPrecision(3))})`, png: png(diff.before) },
      { caption: 'after, same scale', png: png(diff.after) },
    ],
  });
  const hb = jointHistogram(fixed, moving, []);
  const ha = jointHistogram(fixed, moving, chain, { fixedRange: hb.fixedRange, movingRange: hb.movingRange });
  blocks.push({ kind: 'heading', text: 'Joint histogram (fixed → x, moving ↑ y, log counts)' });
  blocks.push({ kind: 'figures', items: [{ caption: 'before', png: png(jointHistogramPicture(hb, 2)) }, { caption: 'after', png: png(jointHistogramPicture(ha, 2)) }] });
  blocks.push({ kind: 'heading', text: 'Deformation' });
  const det = jacobianDeterminantImage(chain, fixed);
  const js = summarizeJacobian(det.data);
  blocks.push({
    kind: 'table',
    header: ['Jacobian determinant', 'min', 'max', 'mean', 'folded voxels', 'folded %'],
    rows: [['det ∂T/∂x on the fixed grid', js.min, js.max, js.mean, js.foldedCount, js.foldedPercent]],
  });
  blocks.push({
    kind: 'figures',
    items: [
      { caption: 'Jacobian determinant (blue < 1 shrinks, red > 1 expands, log scale ×½…×2; yellow: folds)', png: png(jacobianPicture(det, view)) },
      { caption: 'deformation grid (lines of constant T(x) over the fixed image)', png: png(deformationGridPicture(fixed, chain, view)) },
    ],
  });
  return blocks;
}

export interface ResultJson {
  stages?: { transform: string; metric: string; levels: { iterations: number; value: number; seconds: number; stopReason?: string; samples?: number }[] }[];
  seconds?: number;
  transforms?: string[];
  fixed?: string;
  moving?: string;
  config?: unknown;
  history?: number[][][];
  warnings?: string[];
  peakMemoryMb?: number;
  /** The registration's CPU time over all threads (user + system), beside its wall time `seconds`. */
  cpuSeconds?: number;
  fixedPoints?: string;
  movingPoints?: string;
  landmarks?: { keypoints: { fixed: number; moving: number }; matches: number; inliers: number; inlierRatio: number; residualMm: number; descriptor: string; transform: string; matchesFile?: string; seconds?: { detect: number; match: number } };
}

/** Initializer landmarks: their counts and the picture of the matched pairs (from the folder's matches.csv). */
function landmarkBlocks(json: ResultJson, dir: string, fixed: Image, moving: Image, texts: Readonly<Record<string, string>>): ReportBlock[] {
  const l = json.landmarks;
  if (!l) return [];
  const blocks: ReportBlock[] = [{ kind: 'heading', text: 'Automated landmarks (initializer)' }];
  blocks.push({
    kind: 'table',
    header: ['fit', 'descriptor', 'keypoints fixed', 'keypoints moving', 'matches', 'inliers', 'inlier ratio', 'residual RMS (mm)', 'detect (s)', 'match + fit (s)'],
    rows: [[l.transform, l.descriptor, l.keypoints.fixed, l.keypoints.moving, l.matches, l.inliers, l.inlierRatio, l.residualMm, l.seconds?.detect ?? '', l.seconds?.match ?? '']],
  });
  const name = l.matchesFile ?? 'matches.csv';
  const file = join(dir, name);
  // In memory when the report is made with the outputs (register --html), else from the folder.
  const text = texts[name] ?? (existsSync(file) ? readTextFile(file) : undefined);
  if (text !== undefined) {
    const pairs = parseMatchesCsv(text, file);
    if (pairs.dimension === fixed.dimension) {
      blocks.push({ kind: 'figures', items: [{ caption: 'matched keypoints, fixed | moving (inliers green, outliers red; 3D: projected on the axial view)', png: png(matchesPicture(fixed, moving, pairs)) }] });
    }
  }
  return blocks;
}

/** The report of a register output folder. */
export function registrationReport(dir: string, ctx: CliContext, view: ViewOptions): Report {
  const resultPath = join(dir, 'result.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CoregError(dir, 'is not a folder or a segment report JSON file');
  if (!existsSync(resultPath)) throw new CoregError(dir, 'holds no result.json: not a register output folder');
  let json: ResultJson;
  try {
    json = JSON.parse(readTextFile(resultPath)) as ResultJson;
  } catch (e) {
    throw new CoregError(resultPath, `is not valid JSON (${(e as Error).message})`);
  }
  if (!json.fixed || !json.moving || !Array.isArray(json.stages)) throw new CoregError(resultPath, 'lacks "fixed", "moving" or "stages": not written by coreg register');
  const fixedPath = resolveNamed(json.fixed, dir, 'fixed image', resultPath);
  const movingPath = resolveNamed(json.moving, dir, 'moving image', resultPath);
  const fixed = readImageFile(fixedPath, { warn: ctx.warn });
  const moving = readImageFile(movingPath, { warn: ctx.warn });
  const chain = loadTransformChain(dir, nodeTransformFiles);
  return registrationReportOf(dir, json, fixed, moving, chain, ctx, view);
}

/**
 * The report of a registration held in memory: `json` = the fields of its result.json (with "fixed", "moving" and
 * "stages"), `chain` its transforms (fixed → moving); `dir` names the output folder (point files named in `json`
 * resolve beside it when not found as given); `texts` = output files not yet written (by name), read before the folder.
 */
export function registrationReportOf(
  dir: string,
  json: ResultJson,
  fixed: Image,
  moving: Image,
  chain: readonly Transform[],
  ctx: CliContext,
  view: ViewOptions,
  texts: Readonly<Record<string, string>> = {},
): Report {
  const resultPath = join(dir, 'result.json');
  if (!json.fixed || !json.moving || !Array.isArray(json.stages)) throw new CoregError(resultPath, 'lacks "fixed", "moving" or "stages": not written by coreg register');
  const blocks: ReportBlock[] = [];
  blocks.push({ kind: 'heading', text: 'Inputs' });
  blocks.push({ kind: 'table', header: HEADER_COLUMNS, rows: [headerRow('fixed', json.fixed, fixed), headerRow('moving', json.moving, moving)] });
  if (json.warnings?.length) blocks.push({ kind: 'warnings', items: json.warnings });
  blocks.push({ kind: 'heading', text: 'Result' });
  const rows: (string | number)[][] = [];
  json.stages.forEach((s, si) => s.levels.forEach((l, li) => rows.push([si + 1, s.transform, s.metric, li + 1, l.iterations, l.value, l.seconds, l.stopReason ?? '', l.samples ?? ''])));
  blocks.push({ kind: 'table', header: ['stage', 'transform', 'metric', 'level', 'iterations', 'final value', 'seconds', 'stopped', 'samples'], rows });
  blocks.push({
    kind: 'table',
    rows: [
      ['total time', `${json.seconds ?? '–'} s`],
      ...(json.cpuSeconds !== undefined && json.seconds ? [['CPU time (all threads)', `${json.cpuSeconds} s (${(json.cpuSeconds / json.seconds).toFixed(2)} cores busy)`]] : []),
      ['peak memory', json.peakMemoryMb !== undefined ? `${json.peakMemoryMb} MB (resident)` : '–'],
      ['transform files (first applies first)', (json.transforms ?? []).join(', ')],
      ['chain', chain.map((t) => t.kind).join(' → ') + (chain.every(isLinear) ? ' (linear)' : '')],
    ],
  });
  blocks.push(...landmarkBlocks(json, dir, fixed, moving, texts));
  if (json.history?.length) {
    const series = [];
    const markers: number[] = [];
    let offset = 0;
    for (let s = 0; s < json.history.length; s++) {
      for (let l = 0; l < json.history[s].length; l++) {
        const values = json.history[s][l];
        if (!values.length) continue;
        if (offset > 0) markers.push(offset);
        series.push({ name: `${json.stages[s]?.transform ?? s + 1} ${json.stages[s]?.metric ?? ''} level ${l + 1}`, x: values.map((_, i) => offset + i + 1), y: values });
        offset += values.length;
      }
    }
    if (series.length) {
      blocks.push({ kind: 'svg', caption: 'metric value (cost) per iteration, each level in turn (dashed lines: a new level or stage)', svg: svgLinePlot(series, { xLabel: 'iteration (cumulative)', yLabel: 'cost', markers, width: 720 }) });
    }
  }
  if (json.fixedPoints && json.movingPoints) {
    const fp = readPointFile(resolveNamed(json.fixedPoints, dir, 'fixed points', resultPath), ctx);
    const mp = readPointFile(resolveNamed(json.movingPoints, dir, 'moving points', resultPath), ctx);
    if (fp.points.length === mp.points.length && fp.dimension === fixed.dimension) {
      const s = summarizeDistances(targetRegistrationErrors(fp.points, mp.points, chain));
      blocks.push({ kind: 'heading', text: 'Landmarks' });
      blocks.push({ kind: 'table', header: ['TRE |T(p) − q| (mm)', 'points', 'mean', 'median', 'p95', 'max'], rows: [['after registration', s.points, s.mean, s.median, s.p95, s.max]] });
    }
  }
  blocks.push(...registrationPictureBlocks(fixed, moving, chain, view));
  if (json.config) blocks.push({ kind: 'heading', text: 'Settings' }, { kind: 'pre', text: JSON.stringify(json.config, null, 2) });
  return { title: `coreg registration: ${json.moving} → ${json.fixed}`, subtitle: `${dir} · T maps fixed → moving points (LPS mm)`, blocks };
}

interface SegmentJson {
  target?: string;
  out?: string;
  fusion?: string;
  transform?: string[];
  atlases?: { image: string; labels: string }[];
  selected?: unknown[];
  ranking?: { name: string; score: number; seconds: number; error?: string }[] | null;
  failed?: { name: string; error: string }[];
  timings?: { selectionSeconds: number; registrations: { name: string; seconds: number }[]; fusionSeconds: number; totalSeconds: number };
  volumes?: { label: number; name?: string; voxels: number; volumeMm3: number }[];
  /** With --keep-warped: each fused atlas' warped labels and image (files on the target grid). */
  warped?: { name: string; labels: string; image?: string }[];
}

/** One atlas warped onto the target grid (its image when kept). */
export interface WarpedAtlasImages {
  name: string;
  labels: Image;
  image?: Image;
}

/** Largest side of a per-atlas thumbnail panel, in pixels (keeps a report of many 3D atlases to a few MB). */
export const ATLAS_THUMBNAIL_PIXELS = 128;

/**
 * Per-atlas pictures of a segmentation, one row per atlas: the checkerboard of the target and the atlas image warped
 * onto it, and the atlas' warped label contours over the target, as thumbnails (panels at most
 * ATLAS_THUMBNAIL_PIXELS pixels a side).
 */
export function atlasPictureBlocks(target: Image, warped: readonly WarpedAtlasImages[], view: ViewOptions): ReportBlock[] {
  const thumb: ViewOptions = { ...view, maxPanel: view.maxPanel ?? ATLAS_THUMBNAIL_PIXELS };
  const blocks: ReportBlock[] = [{ kind: 'heading', text: 'Atlases warped onto the target' }];
  for (const w of warped) {
    const items: { caption: string; png: Uint8Array }[] = [];
    if (w.image) items.push({ caption: `${w.name}: checkerboard target / warped atlas image`, png: png(checkerboardPicture(target, w.image, thumb)) });
    items.push({ caption: `${w.name}: its warped label contours over the target`, png: png(labelContourPicture(target, w.labels, thumb)) });
    blocks.push({ kind: 'figures', items });
  }
  return blocks;
}

/** What a segmentation report is made of when the caller already holds it (segment --html). */
export interface SegmentReportData {
  json: object;
  target: Image;
  segmentation: Image;
  warped?: readonly WarpedAtlasImages[];
}

/**
 * The report of a `segment --report` JSON file, or of `given` (the JSON object and the images, in memory);
 * `reference`: a reference segmentation for Dice. From a file, the per-atlas pictures need the files that
 * `segment --keep-warped` wrote (listed in the JSON's "warped").
 */
export function segmentationReport(path: string, ctx: CliContext, view: ViewOptions, reference?: string, given?: SegmentReportData): Report {
  let json: SegmentJson;
  if (given) json = given.json as SegmentJson;
  else {
    try {
      json = JSON.parse(readTextFile(path)) as SegmentJson;
    } catch (e) {
      throw new CoregError(path, `is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!json.target || !json.out || !Array.isArray(json.volumes)) throw new CoregError(path, 'is neither a register output folder nor a segment --report JSON file (no "target", "out", "volumes")');
  const folder = dirname(path);
  const target = given?.target ?? readImageFile(resolveNamed(json.target, folder, 'target image', path), { warn: ctx.warn });
  const seg = given?.segmentation ?? readImageFile(resolveNamed(json.out, folder, 'segmentation', path), { warn: ctx.warn });
  let warped = given?.warped;
  if (!warped && json.warped?.length) {
    warped = json.warped.map((w) => ({
      name: w.name,
      labels: readImageFile(resolveNamed(w.labels, folder, 'warped atlas labels', path), { warn: ctx.warn }),
      ...(w.image ? { image: readImageFile(resolveNamed(w.image, folder, 'warped atlas image', path), { warn: ctx.warn }) } : {}),
    }));
  }
  const blocks: ReportBlock[] = [];
  blocks.push({ kind: 'heading', text: 'Inputs' });
  blocks.push({ kind: 'table', header: HEADER_COLUMNS, rows: [headerRow('target', json.target, target), headerRow('segmentation', json.out, seg)] });
  blocks.push({
    kind: 'table',
    rows: [
      ['fusion', json.fusion ?? '–'],
      ['registration', (json.transform ?? []).join(',')],
      ['atlases', (json.atlases ?? []).map((a) => `${a.image} (${a.labels})`).join('; ')],
      ['total time', `${json.timings?.totalSeconds ?? '–'} s (selection ${json.timings?.selectionSeconds ?? '–'} s, fusion ${json.timings?.fusionSeconds ?? '–'} s)`],
    ],
  });
  if (json.failed?.length) blocks.push({ kind: 'warnings', items: json.failed.map((f) => `${f.name}: ${f.error}`) });
  blocks.push({ kind: 'figures', items: [{ caption: 'label contours over the target', png: png(labelContourPicture(target, seg, view)) }] });
  if (json.ranking?.length) {
    blocks.push({ kind: 'heading', text: 'Atlas ranking' });
    blocks.push({ kind: 'table', header: ['atlas', 'score', 'seconds', 'error'], rows: json.ranking.map((r) => [r.name, r.score, r.seconds, r.error ?? '']) });
  }
  if (json.timings?.registrations.length) {
    blocks.push({ kind: 'table', header: ['atlas registration', 'seconds'], rows: json.timings.registrations.map((r) => [r.name, r.seconds]) });
  }
  if (warped?.length) blocks.push(...atlasPictureBlocks(target, warped, view));
  else blocks.push({ kind: 'text', text: 'No per-atlas pictures: run segment with --html, or with --keep-warped DIR and --report, to have them.' });
  const overlap = reference ? labelOverlap(seg, readImageFile(reference, { warn: ctx.warn }), { a: json.out, b: reference }) : undefined;
  blocks.push({ kind: 'heading', text: 'Volumes per label' + (overlap ? ` and Dice against ${reference}` : '') });
  blocks.push({
    kind: 'table',
    header: ['label', 'name', 'voxels', 'volume (mm³)', ...(overlap ? ['Dice', 'reference volume (mm³)', 'HD95 (mm)'] : [])],
    rows: json.volumes.map((v) => {
      const o = overlap?.labels[String(v.label)];
      return [v.label, v.name ?? '', v.voxels, v.volumeMm3, ...(overlap ? [o?.dice ?? null, o?.volumeB ?? null, o?.hausdorff95 ?? null] : [])];
    }),
  });
  if (overlap) blocks.push({ kind: 'text', text: `mean Dice over the reference labels: ${overlap.mean === null ? '–' : overlap.mean.toFixed(4)}` });
  return { title: `coreg segmentation: ${json.target}`, subtitle: path, blocks };
}

/** Writes the report of PATH (a register folder or a segment JSON) to `out`. */
export function writeReportFor(path: string, out: string, ctx: CliContext, view: ViewOptions, reference?: string): void {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  if (!existsSync(path)) throw new CoregError(path, 'no such file or folder');
  const report = isDir ? registrationReport(path, ctx, view) : segmentationReport(path, ctx, view, reference);
  writeFileAtomic(out, renderReportHtml(report));
}

export function checkHtmlOut(out: string, inputs: string[], option = '--out'): void {
  if (!/\.html?$/i.test(out)) throw usageError(option, `must name an .html file, got '${out}'`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new CoregError(out, 'is a folder');
  assertNotInput(out, inputs, out);
}

interface ReportOptions extends PictureCliOptions {
  out: string;
  reference?: string;
}

export function reportCommand(): Command {
  const cmd = new Command('report')
    .description('one self-contained HTML report (pictures inlined, no network) of a register output folder or a segment --report JSON file')
    .argument('<PATH>', 'register output folder, or the JSON file of segment --report')
    .requiredOption('--out <REPORT.html>', 'output HTML file')
    .option('--reference <LABELS>', 'segmentation reports: a reference segmentation on the target grid (adds Dice per label)');
  return addViewOptions(cmd).action(
    commandAction<ReportOptions>((ctx, opts, args) => {
      const path = args[0] as string;
      checkHtmlOut(opts.out, [path, ...(opts.reference ? [opts.reference] : [])]);
      writeReportFor(path, opts.out, ctx, viewOptions(opts), opts.reference);
      ctx.print(`wrote ${opts.out}`);
    }),
  );
}

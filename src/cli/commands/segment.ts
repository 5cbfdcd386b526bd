// `coreg segment`: multi-atlas segmentation of a target image: register each atlas image to the target, warp its
// labels, fuse them, and write the labels (plus optional probability maps, warped atlases and a JSON report).
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { CoregError } from '../../errors.js';
import type { Image } from '../../image/image.js';
import { imageFormatOf } from '../../io/image-io.js';
import { assertNotInput, assertNotOverwritingInputs, imageFileParts, makeFolder, readImageFile, readTextFile, writeFilesAtomic } from '../../io/node.js';
import { buildConfig, readConfigFile } from './register.js';
import { FUSION_METHODS, type FusionMethod } from '../../segment/fusion.js';
import { checkLabelTable, labelName, parseLabelTable, type LabelTable } from '../../segment/label-table.js';
import { segment, withAtlasDefaults, type SegmentResult } from '../../segment/segment.js';
import { defaultThreadCount } from '../../parallel/node.js';
import { createNodeTeam } from '../worker-pool.js';
import { sharePixels } from '../../parallel/shared.js';
import { collectGarbage } from '../collect.js';
import { commandAction, parseIntegerOption, usageError, type CliContext } from '../common.js';
import { type Atlas, type SegmentProgress } from '../../segment/atlas.js';

interface SegmentCliOptions {
  target: string;
  atlas?: string[];
  out: string;
  fusion: FusionMethod;
  select?: number;
  transform?: string;
  metric?: string;
  config?: string;
  seed?: number;
  probabilities?: string;
  keepWarped?: string;
  report?: string;
  html?: string;
  labelTable?: string;
  threads?: number;
  quiet?: boolean;
}

function collectAtlas(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** "IMG,LABELS" → [IMG, LABELS]. */
export function parseAtlasOption(value: string): [string, string] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw usageError('--atlas', `expected IMAGE,LABELS (two files separated by a comma), got "${value}"`);
  return [parts[0], parts[1]];
}

/** "brain_T1.nii.gz" → "brain_T1". */
function stem(path: string): string {
  return basename(path).replace(/\.(nii\.gz|nii|mha|mhd|nrrd|nhdr|png)$/i, '');
}

function labelSet(img: Image): Set<number> {
  const set = new Set<number>();
  const data = img.data;
  for (let v = 0; v < data.length; v++) set.add(data[v]);
  return set;
}

function checkDirectory(path: string): void {
  if (existsSync(path) && !statSync(path).isDirectory()) throw new CoregError(path, 'exists and is not a folder');
}

/** One bar per atlas in progress (several at once with worker threads), on a terminal only. */
function makeProgress(ctx: CliContext, quiet: boolean): { onProgress?: (e: SegmentProgress) => void; warn: (m: string) => void; stop(): void } {
  const stderr = process.stderr;
  if (quiet) return { warn: () => undefined, stop() {} };
  if (!stderr.isTTY || ctx.io.stderr !== process.stderr) return { warn: (m) => ctx.warn(m), stop() {} };
  const multi = new cliProgress.MultiBar(
    {
      format: '{phase} atlas {atlas} {name} |{bar}| {stage} level {level} it {value}/{total}',
      hideCursor: true,
      clearOnComplete: true,
      stream: stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; key: string }>();
  return {
    onProgress: (e) => {
      const id = e.phase === 'fuse' ? 'fuse' : `${e.phase}/${e.atlas}`;
      const r = e.registration;
      const payload = {
        phase: e.phase,
        atlas: e.atlas >= 0 ? `${e.atlas + 1}/${e.atlasCount}` : '',
        name: stem(e.name),
        stage: r ? `${r.transform} ${r.stage + 1}/${r.stageCount}` : '',
        level: r ? `${r.level + 1}/${r.levelCount}` : '',
      };
      const it = r?.iteration ?? 0;
      const total = r?.maxIterations ?? 1;
      const key = `${r?.stage}/${r?.level}`;
      let entry = bars.get(id);
      if (!entry) {
        // A bar finished at the last level of the last stage is removed when its atlas' next phase starts.
        for (const [other, b] of bars) {
          if (other !== id && other.endsWith(`/${e.atlas}`)) {
            multi.remove(b.bar);
            bars.delete(other);
          }
        }
        entry = { bar: multi.create(total, it, payload), key };
        bars.set(id, entry);
      } else if (entry.key !== key) {
        entry.bar.setTotal(total);
        entry.key = key;
      }
      entry.bar.update(e.phase === 'fuse' ? total : it, payload);
    },
    // Warnings go above the bars, on their own lines.
    warn: (m) => multi.log(`coreg: warning: ${m.replace(/\s*\n\s*/g, ' ')}\n`),
    stop() {
      multi.stop();
    },
  };
}

/** The files --keep-warped writes for the atlas at `index` (its warped labels, and its image when kept). */
function keptWarpedFiles(dir: string, index: number, name: string, image: boolean): { name: string; labels: string; image?: string } {
  const base = join(dir, `${index + 1}_${stem(name)}`);
  return { name, labels: `${base}_labels.nii.gz`, ...(image ? { image: `${base}_image.nii.gz` } : {}) };
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

/** The JSON report: settings, selection, failures, timings and per-label volumes (named with a label table). */
export function segmentReportJson(result: SegmentResult, opts: SegmentCliOptions, atlasFiles: [string, string][], stages: string[], table?: LabelTable): object {
  const r = result.report;
  return {
    target: opts.target,
    out: opts.out,
    fusion: r.fusion,
    transform: stages,
    atlases: atlasFiles.map(([image, labels]) => ({ image, labels })),
    selected: r.selected,
    ranking: r.ranking?.map((x) => ({ name: x.name, score: x.score, seconds: round(x.seconds), ...(x.error ? { error: x.error } : {}) })) ?? null,
    failed: r.failed,
    timings: {
      selectionSeconds: round(r.timings.selectionSeconds),
      registrations: r.timings.registrations.map((x) => ({ name: x.name, seconds: round(x.seconds) })),
      fusionSeconds: round(r.timings.fusionSeconds),
      totalSeconds: round(r.timings.totalSeconds),
    },
    volumes: r.volumes.map((v) => {
      const name = labelName(table, v.label);
      return { label: v.label, ...(name !== undefined ? { name } : {}), voxels: v.voxels, volumeMm3: round(v.volume) };
    }),
    ...(r.staple ? { staple: r.staple } : {}),
    ...(opts.keepWarped ? { warped: result.warped.map((w) => keptWarpedFiles(opts.keepWarped!, w.index, w.name, Boolean(w.image))) } : {}),
    ...(opts.labelTable ? { labelTable: opts.labelTable } : {}),
  };
}

export function segmentCommand(): Command {
  return new Command('segment')
    .description(
      'multi-atlas segmentation: register each atlas image (moving) to TARGET (fixed), warp its labels with label\n' +
        'interpolation and fuse them. An atlas whose registration fails is reported and left out.',
    )
    .requiredOption('--target <IMG>', 'image to segment')
    .option('--atlas <IMG,LABELS>', 'an atlas image and its label image on the same grid; repeat for each atlas', collectAtlas)
    .requiredOption('--out <SEG>', 'output label image (.nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr), in the atlas labels\' pixel type')
    .addOption(
      new Option('--fusion <M>', 'majority vote, locally weighted vote, STAPLE, or joint label fusion').choices([...FUSION_METHODS]).default('jlf'),
    )
    .option('--select <K>', 'keep the K atlases most similar to the target after a quick affine registration', parseIntegerOption('--select', 1))
    .option('--transform <STAGES>', 'registration stages, comma list (translation,rigid,similarity,affine,bspline,syn; default affine,bspline)')
    .option('--metric <M>', 'similarity measure for registration, one for all stages or one per stage (default mi)')
    .option('--config <FILE.json>', 'registration settings as for `coreg register --config` (options given here override it)')
    .option('--seed <S>', 'random seed of the registrations', parseIntegerOption('--seed', 0))
    .option('--probabilities <DIR>', 'write one probability map per label: DIR/label_<value>.nii.gz (float32)')
    .option('--keep-warped <DIR>', 'write each atlas\' warped labels and image: DIR/<n>_<atlas>_labels.nii.gz, DIR/<n>_<atlas>_image.nii.gz')
    .option('--report <FILE.json>', 'write a JSON report: selection ranking, failed atlases, timings, per-label volumes (mm³)')
    .option('--html <REPORT.html>', 'also write a self-contained HTML report (label contours, ranking, volumes, timings)')
    .option('--label-table <FILE>', 'label names (AAL .txt, ITK-SNAP label description, FreeSurfer colour table) for the report')
    .option('--threads <N>', 'threads inside each atlas registration (default: every core; atlases run one after another); results never depend on it', parseIntegerOption('--threads', 1))
    .option('--quiet', 'no progress bar and no summary line')
    .addHelpText('after', '\nExample:\n  coreg segment --target t1.nii.gz --atlas a1.nii.gz,a1_seg.nii.gz --atlas a2.nii.gz,a2_seg.nii.gz --out seg.nii.gz\n')
    .action(
      commandAction<SegmentCliOptions>(async (ctx, opts) => {
        const atlasFiles = (opts.atlas ?? []).map(parseAtlasOption);
        if (atlasFiles.length === 0) throw usageError('--atlas', 'required option not given (at least one IMAGE,LABELS)');
        // Stages: --transform, else the config file's, else affine,bspline.
        const fileStages = opts.config ? readConfigFile(opts.config).stages : undefined;
        const transform = opts.transform ?? (fileStages?.length ? undefined : 'affine,bspline');
        imageFormatOf(opts.out);
        const inputs = [opts.target, ...atlasFiles.flat(), ...(opts.labelTable ? [opts.labelTable] : []), ...(opts.config ? [opts.config] : [])];
        assertNotInput(opts.out, inputs, opts.out);
        if (opts.report) assertNotInput(opts.report, [...inputs, opts.out], opts.report);
        // The report code (pictures, PNG, eval, …) is loaded only for --html: a few MB of memory for every run otherwise.
        const html = opts.html ? { report: await import('./report.js'), render: (await import('../../report/html.js')).renderReportHtml } : undefined;
        if (opts.html) html!.report.checkHtmlOut(opts.html, [...inputs, opts.out, ...(opts.report ? [opts.report] : [])], '--html');
        for (const dir of [opts.probabilities, opts.keepWarped]) if (dir) checkDirectory(dir);

        const table = opts.labelTable ? parseLabelTable(readTextFile(opts.labelTable), opts.labelTable) : undefined;
        // With a team, the images are read by every thread of a registration from shared memory: put them there as
        // they are read, so that no registration makes its own shared copy of them.
        const threads = Math.min(opts.threads ?? defaultThreadCount(), atlasFiles.length);
        const read = (file: string): Image => {
          const img = readImageFile(file, { warn: ctx.warn });
          return threads > 1 ? { ...img, data: sharePixels(img.data) } : img;
        };
        const target = read(opts.target);
        const config = withAtlasDefaults(buildConfig({ transform, metric: opts.metric, config: opts.config, seed: opts.seed }, target.size), target);
        const stages = config.stages.map((s) => s.transform);
        const atlases: Atlas[] = atlasFiles.map(([image, labels]) => ({
          image: read(image),
          labels: read(labels),
          name: image,
          labelsName: labels,
        }));
        if (table) {
          for (const a of atlases) checkLabelTable(table, labelSet(a.labels), opts.labelTable!);
        }
        // Before any work: no output (including every label's probability map and every kept warp) may
        // overwrite an input, e.g. atlas labels that live in the --probabilities folder.
        const planned = [opts.out, ...(opts.report ? [opts.report] : [])];
        if (opts.probabilities) {
          const labels = new Set<number>();
          for (const a of atlases) for (const l of labelSet(a.labels)) labels.add(l);
          for (const l of labels) planned.push(join(opts.probabilities, `label_${l}.nii.gz`));
        }
        if (opts.keepWarped) {
          for (const [i, [image]] of atlasFiles.entries()) {
            const base = `${i + 1}_${stem(image)}`;
            planned.push(join(opts.keepWarped, `${base}_labels.nii.gz`), join(opts.keepWarped, `${base}_image.nii.gz`));
          }
        }
        assertNotOverwritingInputs(planned, inputs);
        const progress = makeProgress(ctx, Boolean(opts.quiet));
        // Atlases one after another, each registration on every thread (a team): memory holds one registration at a
        // time (two concurrent atlas workers, one thread each, took 1.6× the peak memory for the same CPU time).
        const team = threads > 1 ? createNodeTeam(threads) : undefined;
        let level = '';
        let result: SegmentResult;
        try {
          result = await segment(target, atlases, {
            fusion: opts.fusion,
            select: opts.select,
            config,
            probabilities: Boolean(opts.probabilities),
            // The HTML report shows each atlas' warped image too.
            keepWarpedImages: Boolean(opts.keepWarped || opts.html),
            // A collection as each registration level starts: the dead buffers of the level before (its samples and
            // costs) would otherwise still be resident beside the new level's (peak memory).
            onProgress: (e) => {
                  const key = e.registration ? `${e.atlas}/${e.registration.stage}/${e.registration.level}` : '';
                  if (key && key !== level) {
                    level = key;
                    collectGarbage(0);
                  }
                  progress.onProgress?.(e);
                },
            warn: progress.warn,
            parallel: team,
            // the atlases' images are read for segment() only: each goes once its atlas is done
            releaseAtlases: true,
            collect: () => collectGarbage(0),
          });
        } finally {
          progress.stop();
          await team?.close();
        }

        // The fusion's temporaries (each atlas' compacted votes, the counts) are dead now: collected before the
        // outputs are encoded beside them (the end of a segmentation can be its peak memory).
        collectGarbage(0);
        // Every output is staged and renamed into place together (the segmentation last).
        const staged: { path: string; data: Uint8Array | string }[] = imageFileParts(opts.out, result.labels, { warn: ctx.warn });
        if (opts.report) {
          const json = segmentReportJson(result, opts, atlasFiles, stages, table);
          staged.push({ path: opts.report, data: JSON.stringify(json, null, 2) + '\n' });
        }
        if (opts.probabilities && result.probabilities) {
          makeFolder(opts.probabilities);
          for (const p of result.probabilities) staged.push(...imageFileParts(join(opts.probabilities, `label_${p.label}.nii.gz`), p.image, { warn: ctx.warn }));
        }
        if (opts.keepWarped) {
          makeFolder(opts.keepWarped);
          for (const w of result.warped) {
            const files = keptWarpedFiles(opts.keepWarped, w.index, w.name, Boolean(w.image));
            staged.push(...imageFileParts(files.labels, w.labels, { warn: ctx.warn }));
            if (w.image && files.image) staged.push(...imageFileParts(files.image, w.image, { warn: ctx.warn }));
          }
        }
        // The HTML report is made from what is in memory and staged with the rest: all files or none.
        if (opts.html) {
          const given = { json: segmentReportJson(result, opts, atlasFiles, stages, table), target, segmentation: result.labels, warped: result.warped };
          staged.push({ path: opts.html, data: html!.render(html!.report.segmentationReport(opts.report ?? opts.out, ctx, {}, undefined, given)) });
        }
        writeFilesAtomic(staged);
        if (!opts.quiet) {
          const r = result.report;
          ctx.print(
            `segmented ${opts.target} with ${r.fusion} from ${r.selected.length} of ${atlases.length} atlases` +
              `${r.failed.length ? ` (${r.failed.length} left out)` : ''} in ${r.timings.totalSeconds.toFixed(1)} s; wrote ${opts.out}`,
          );
        }
      }),
    );
}

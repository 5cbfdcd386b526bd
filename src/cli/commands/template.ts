// `coreg template --images A,B,… --out DIR`: unbiased groupwise template building (register every image to the
// current template as one batch, average the warped images, shape-correct by the inverse of the mean map,
// repeat); see src/register/template.ts.
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { CoregError } from '../../errors.js';
import type { Image } from '../../image/image.js';
import { readImageFile, writeFileAtomic, writeImageFile } from '../../io/node.js';
import { parseTransformList } from '../../register/config.js';
import { averageImages, foregroundMask, meanDisplacementNorm, meanMapDisplacement, relativeChange, shapeCorrect } from '../../register/template.js';
import { resample } from '../../resample/resample.js';
import { loadTransformChain } from '../../io/chain-io.js';
import { coregVersion, defaultJobs, runBatch, splitShellWords, type BatchRow } from '../batch.js';
import { commandAction, parseIntegerOption, usageError } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';
import { parseBackend, withInterrupts } from './batch.js';

interface TemplateCliOptions {
  images: string;
  out: string;
  iterations?: number;
  transform?: string;
  metric?: string;
  config?: string;
  backend?: string;
  jobs?: number;
  slurmArgs?: string;
  resume?: boolean;
}

export interface ConvergenceRow {
  iteration: number;
  templateChange: number;
  meanDisplacementMm: number;
  meanMetric: number;
  images: number;
  seconds: number;
}

export function formatConvergence(rows: ConvergenceRow[]): string {
  const lines = ['iteration,template_change,mean_displacement_mm,mean_metric,images,seconds'];
  for (const r of rows) lines.push([r.iteration, r.templateChange.toPrecision(6), r.meanDisplacementMm.toFixed(4), r.meanMetric.toPrecision(6), r.images, r.seconds.toFixed(1)].join(','));
  return lines.join('\n') + '\n';
}

function finalMetric(dir: string): number {
  const json = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { stages: { levels: { value: number }[] }[] };
  const last = json.stages[json.stages.length - 1];
  return last.levels[last.levels.length - 1].value;
}

/** Replaces folder `dest` by a copy of `src`, whole (copy to a temporary name, then rename). */
function copyFolderAtomic(src: string, dest: string): void {
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(src, tmp, { recursive: true });
  const old = `${dest}.old-${process.pid}`;
  if (existsSync(dest)) renameSync(dest, old);
  renameSync(tmp, dest);
  rmSync(old, { recursive: true, force: true });
}

export function templateCommand(): Command {
  return new Command('template')
    .description(
      'build an unbiased population template (register all images to the current template, average the warped images,\n' +
        'shape-correct by the inverse of the mean map, repeat; each iteration one batch). Writes DIR/template.nii.gz,\n' +
        'DIR/images/<i>/ (image i\'s register outputs of the last iteration, i = 1…n) and DIR/convergence.csv.',
    )
    .requiredOption('--images <LIST>', 'comma list of images (at least 2); the template grid is the first image\'s')
    .requiredOption('--out <DIR>', 'output folder')
    .option('--iterations <K>', 'template iterations (default 4)', parseIntegerOption('--iterations', 1))
    .option('--transform <STAGES>', 'registration stages (default rigid,affine,syn)')
    .option('--metric <M>', 'one for all stages or one per stage (default mi for linear stages, lncc for syn/bspline)')
    .option('--config <FILE.json>', 'registration settings as for register --config (--transform/--metric override it)')
    .option('--backend <B>', 'local (default) or slurm: where each iteration\'s batch runs')
    .option('--jobs <N>', 'registrations at once (default: the number of cores)', parseIntegerOption('--jobs', 1))
    .option('--slurm-args <ARGS>', 'extra sbatch options (with --backend slurm)')
    .option('--resume', 'reuse complete registrations of an earlier run into the same DIR (same inputs and settings)')
    .action(
      commandAction<TemplateCliOptions>(async (ctx, opts) => {
        const images = opts.images.split(',').map((s) => s.trim()).filter(Boolean);
        if (images.length < 2) throw usageError('--images', `a template needs at least 2 images, got ${images.length}`);
        const backend = parseBackend(opts.backend);
        if (opts.slurmArgs !== undefined && backend !== 'slurm') throw usageError('--slurm-args', 'only with --backend slurm');
        const slurmArgs = opts.slurmArgs ? splitShellWords(opts.slurmArgs) : [];
        const stages = parseTransformList(opts.transform ?? 'rigid,affine,syn');
        const metric = opts.metric ?? (opts.config ? undefined : stages.map((s) => (s === 'syn' || s === 'bspline' ? 'lncc' : 'mi')).join(','));
        const iterations = opts.iterations ?? 4;
        const out = resolve(opts.out);
        if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
        const paths = images.map((p) => resolve(p));
        const first = readImageFile(images[0], { warn: ctx.warn });
        if (first.components !== 1) throw new CoregError(images[0], 'template images must be scalar');

        // Iteration 0: the plain average of the images on the first image's grid.
        const subjects: Image[] = images.map((name, i) => {
          const img = i === 0 ? first : readImageFile(name, { warn: ctx.warn });
          if (img.components !== 1) throw new CoregError(images[i], 'template images must be scalar');
          if (img.dimension !== first.dimension) throw new CoregError(images[i], `is ${img.dimension}D, ${images[0]} ${first.dimension}D`);
          return resample(img, first, [], { interpolation: 'linear', outputType: 'float32' });
        });
        let template = averageImages(subjects);
        const itDir = (k: number): string => join(out, 'iterations', String(k));
        let templatePath = join(itDir(0), 'template.nii.gz');
        mkdirSync(itDir(0), { recursive: true });
        writeImageFile(templatePath, template);
        const rows: ConvergenceRow[] = [];
        const version = coregVersion();

        await withInterrupts(ctx, opts.out, async (signal) => {
          for (let k = 1; k <= iterations; k++) {
            const started = Date.now();
            const batchRows: BatchRow[] = paths.map((p, i) => {
              const values: Record<string, string> = { fixed: templatePath, moving: p, transform: stages.join(',') };
              if (metric) values.metric = metric;
              if (opts.config) values.config = resolve(opts.config);
              return { id: String(i + 1), values };
            });
            const outcome = await runBatch({
              out: itDir(k),
              rows: batchRows,
              backend,
              jobs: opts.jobs ?? defaultJobs(),
              slurmArgs,
              resume: Boolean(opts.resume),
              version,
              signal,
              log: (line) => ctx.io.stderr.write(`${line}\n`),
            });
            if (outcome.cancelled) return;
            const done = outcome.rows.filter((r) => r.state === 'done');
            for (const r of outcome.rows) if (r.state !== 'done') ctx.warn(`iteration ${k}: image ${r.id} (${images[Number(r.id) - 1]}) left out of the average: ${r.error}`);
            if (done.length < 2) throw new CoregError(join(opts.out, 'iterations', String(k), 'status.csv'), `only ${done.length} of ${paths.length} registrations succeeded; a template needs 2`);
            const warped = done.map((r) => readImageFile(join(itDir(k), r.id, 'warped.nii.gz')));
            const average = averageImages(warped);
            const chains = done.map((r) => loadTransformChain(join(itDir(k), r.id), nodeTransformFiles));
            const meanDisp = meanMapDisplacement(chains, average);
            const meanMm = meanDisplacementNorm(meanDisp, average.dimension, foregroundMask(average));
            const corrected = shapeCorrect(average, meanDisp);
            if (corrected.inverse.unconverged > 0) ctx.warn(`iteration ${k}: the inverse mean map did not converge at ${corrected.inverse.unconverged} voxels (largest residual ${corrected.inverse.maxResidual.toFixed(3)} mm)`);
            const change = relativeChange(corrected.template.data, template.data);
            template = corrected.template;
            templatePath = join(itDir(k), 'template.nii.gz');
            mkdirSync(itDir(k), { recursive: true });
            writeImageFile(templatePath, template);
            const metricMean = done.reduce((s, r) => s + finalMetric(join(itDir(k), r.id)), 0) / done.length;
            rows.push({ iteration: k, templateChange: change, meanDisplacementMm: meanMm, meanMetric: metricMean, images: done.length, seconds: (Date.now() - started) / 1000 });
            writeFileAtomic(join(out, 'convergence.csv'), formatConvergence(rows));
            ctx.print(`iteration ${k}/${iterations}: template change ${change.toPrecision(3)}, mean displacement ${meanMm.toFixed(3)} mm, ${done.length}/${paths.length} images`);
          }
        });
        writeImageFile(join(out, 'template.nii.gz'), template);
        copyFolderAtomic(itDir(iterations), join(out, 'images'));
        rmSync(join(out, 'images', '.batch'), { recursive: true, force: true });
        rmSync(join(out, 'images', 'template.nii.gz'), { force: true });
        ctx.print(`wrote ${join(opts.out, 'template.nii.gz')}`);
      }),
    );
}

// `coreg resample IN OUT --spacing S[,S,S] | --reference F`: resample an image onto a new grid without a transform.
import { Command, Option } from 'commander';
import { CoregError } from '../../errors.js';
import { imageFormatOf } from '../../io/image-io.js';
import { assertNotInput, readImageFile, writeImageFileAsync } from '../../io/node.js';
import { gridWithSpacing } from '../../resample/grid.js';
import type { GridLike } from '../../image/image.js';
import { resample, type ResampleInterpolation } from '../../resample/resample.js';
import { commandAction, usageError } from '../common.js';

interface ResampleOptions {
  spacing?: string;
  reference?: string;
  interpolation: ResampleInterpolation;
}

function parseSpacing(text: string, d: number): number[] {
  const parts = text.split(',').map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (parts.some((v) => !(Number.isFinite(v) && v > 0))) throw usageError('--spacing', `expected positive numbers S or S,S[,S], got '${text}'`);
  if (parts.length === 1) return new Array<number>(d).fill(parts[0]);
  if (parts.length !== d) throw usageError('--spacing', `needs 1 or ${d} values for a ${d}D image, got ${parts.length}`);
  return parts;
}

export function resampleCommand(): Command {
  return new Command('resample')
    .description(
      'resample IN onto a new grid, no transform (identity in physical space): --spacing keeps the direction and the\n' +
        'centre of the field of view (size = round(extent / spacing)); --reference takes F\'s grid (0 outside IN).',
    )
    .argument('<IN>', 'input image (or DICOM folder)')
    .argument('<OUT>', 'output image')
    .option('--spacing <S>', 'new spacing in mm: one value for every axis, or one per axis (S,S[,S])')
    .option('--reference <F>', 'image whose grid (size, spacing, origin, direction, NIfTI codes) the output takes')
    .addOption(
      new Option('--interpolation <M>', 'linear and bspline write float32; nearest and label keep the input pixel type')
        .choices(['nearest', 'linear', 'bspline', 'label'])
        .default('linear'),
    )
    .addHelpText('after', '\nExamples:\n  coreg resample ct.nii.gz ct-1mm.nii.gz --spacing 1\n  coreg resample labels.nii.gz l.nii.gz --reference t1.nii.gz --interpolation label\n')
    .action(
      commandAction<ResampleOptions>(async (ctx, opts, args) => {
        const [input, output] = args as string[];
        if ((opts.spacing === undefined) === (opts.reference === undefined)) throw usageError('--spacing', 'give exactly one of --spacing and --reference');
        imageFormatOf(output);
        assertNotInput(output, [input, ...(opts.reference ? [opts.reference] : [])], output);
        const img = readImageFile(input, { warn: ctx.warn });
        let grid: GridLike;
        if (opts.reference !== undefined) {
          grid = readImageFile(opts.reference, { warn: ctx.warn });
          if (grid.dimension !== img.dimension) throw new CoregError('--reference', `is ${grid.dimension}D but ${input} is ${img.dimension}D`);
        } else {
          grid = gridWithSpacing(img, parseSpacing(opts.spacing!, img.dimension));
        }
        await writeImageFileAsync(output, resample(img, grid, [], { interpolation: opts.interpolation }), { warn: ctx.warn });
      }),
    );
}

// `coreg apply`: resample a moving image onto a reference grid through a chain of fixed → moving transforms.
import { Command, Option } from 'commander';
import { CoregError } from '../../errors.js';
import { imageFormatOf } from '../../io/image-io.js';
import { assertNotInput, assertNotOverwritingInputs, readImageFile, writeImageFileAsync } from '../../io/node.js';
import { resample, type ResampleInterpolation } from '../../resample/resample.js';
import { describeNumericInverse, invertChain } from '../../transform/inverse.js';
import { commandAction, usageError } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';
import { loadTransformChainList } from '../../io/chain-io.js';

/** Collects a repeatable option's values in the order given. */
export function collectValues(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface ApplyOptions {
  reference: string;
  moving: string;
  transform?: string[];
  out: string;
  interpolation: ResampleInterpolation;
  inverse?: boolean;
  quiet?: boolean;
}

export function applyCommand(): Command {
  return new Command('apply')
    .description(
      'resample MOVING onto the grid of REFERENCE through transforms that map fixed → moving points (as register writes them):\n' +
        'each output voxel x takes moving(T(x)); 0 outside the moving image.',
    )
    .requiredOption('--reference <F>', 'image whose grid (size, spacing, origin, direction) the output takes; usually the fixed image')
    .requiredOption('--moving <M>', 'image to resample')
    .option(
      '--transform <T>',
      'a register output folder (its whole chain) or a transform file (.tfm, or a displacement-field image); repeat to chain: ' +
        'they apply to a fixed point in the order given (first first), the opposite of antsApplyTransforms',
      collectValues,
    )
    .requiredOption('--out <O>', 'output image (.nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr, .png)')
    .addOption(
      new Option('--interpolation <M>', 'linear and bspline write float32; nearest and label keep the moving pixel type (label: per-label weighted vote)')
        .choices(['nearest', 'linear', 'bspline', 'label'])
        .default('linear'),
    )
    .option(
      '--inverse',
      'apply the inverse of the whole chain (moving → fixed): --reference is then an image in the registration\'s moving space and --moving one in ' +
        'its fixed space (e.g. atlas labels on the template brought back to the subject). Linear parts are inverted exactly, a syn result uses its ' +
        'stored inverse field, other non-linear parts are inverted numerically (residual printed on stderr)',
    )
    .option('--quiet', 'do not print the residual of numerically inverted parts')
    .addHelpText('after', '\nExample:\n  coreg apply --reference fixed.nii.gz --moving moving.nii.gz --transform out/ --out moved.nii.gz\n')
    .action(
      commandAction<ApplyOptions>(async (ctx, opts) => {
        const transforms = opts.transform ?? [];
        if (transforms.length === 0) throw usageError('--transform', 'required option not given');
        // Checked before reading anything so that a typo in --out fails fast.
        imageFormatOf(opts.out);
        assertNotInput(opts.out, [opts.reference, opts.moving, ...transforms], opts.out);
        const reference = readImageFile(opts.reference, { warn: ctx.warn });
        const moving = readImageFile(opts.moving, { warn: ctx.warn });
        if (reference.dimension !== moving.dimension) {
          throw new CoregError('--reference', `is ${reference.dimension}D but --moving ${opts.moving} is ${moving.dimension}D`);
        }
        // FSL matrices need the registration's fixed and moving images: swapped roles under --inverse.
        const grids = opts.inverse ? { fixedGrid: moving, movingGrid: reference } : { fixedGrid: reference, movingGrid: moving };
        let chain = loadTransformChainList(transforms, nodeTransformFiles, grids);
        if (chain.length > 0 && chain[0].dimension !== moving.dimension) {
          throw new CoregError('--transform', `the transforms are ${chain[0].dimension}D but the images are ${moving.dimension}D`);
        }
        // Every input is read now (also the files a result.json names, and detached data files): check before the work.
        assertNotOverwritingInputs([opts.out]);
        if (opts.inverse) {
          const inverse = invertChain(chain);
          if (!opts.quiet) for (const r of inverse.numeric) ctx.io.stderr.write(`coreg: ${describeNumericInverse(r)}\n`);
          chain = inverse.transforms;
        }
        const out = resample(moving, reference, chain, { interpolation: opts.interpolation });
        await writeImageFileAsync(opts.out, out, { warn: ctx.warn });
      }),
    );
}

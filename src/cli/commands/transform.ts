// `coreg transform convert|invert`: transform files between ITK text/binary, elastix, FSL FLIRT and RAS
// matrices and displacement fields; whole chains inverted.
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Image } from '../../image/image.js';
import { assertNotInput, readImageFile, writeFilesAtomic } from '../../io/node.js';
import {
  formatTransformChainFiles,
  loadTransformChain,
  type ChainLoadOptions,
  type TransformFormatHint,
  type TransformOutputFormat,
} from '../../io/chain-io.js';
import { describeNumericInverse, invertChain } from '../../transform/inverse.js';
import type { Transform } from '../../transform/transform.js';
import { commandAction, usageError, type CliContext } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';

interface TransformOptions {
  reference?: string;
  moving?: string;
  from?: TransformFormatHint;
  to?: string;
  quiet?: boolean;
}

const TO_FORMATS: Record<string, TransformOutputFormat> = {
  itk: 'itk',
  tfm: 'itk',
  h5: 'itk-h5',
  mat: 'itk-mat',
  elastix: 'elastix',
  fsl: 'fsl',
  ras: 'ras',
  field: 'field',
};

function outputFormat(to: string | undefined): TransformOutputFormat | undefined {
  if (to === undefined) return undefined;
  const f = TO_FORMATS[to];
  if (!f) throw usageError('--to', `expected one of ${Object.keys(TO_FORMATS).join(', ')}, got "${to}"`);
  return f;
}

function readGrid(path: string | undefined, ctx: CliContext): Image | undefined {
  return path ? readImageFile(path, { warn: ctx.warn }) : undefined;
}

/** Writes a chain to OUT in the format its name (or --to) says, all files or none. */
export function writeTransformChain(chain: readonly Transform[], out: string, to: TransformOutputFormat | undefined, fixed: Image | undefined, moving: Image | undefined, inputs: string[]): string[] {
  const files = formatTransformChainFiles(chain, out, { to, fixedGrid: fixed, movingGrid: moving, absolute: (p) => resolve(p) });
  for (const f of files) assertNotInput(f.path, inputs, f.path);
  writeFilesAtomic(files);
  return files.map((f) => f.path);
}

const FORMATS_HELP = `
Formats (from the file name, or --from/--to):
  .tfm / .txt               ITK text transform file (a chain becomes a CompositeTransform)
  .h5 / .hdf5               ITK HDF5 transform file (ANTs composite files; displacement fields included)
  .mat                      ITK/ANTs binary MatrixOffsetTransformBase file (MATLAB v4; linear chains)
  TransformParameters*.txt  elastix parameter files; reading follows InitialTransformParametersFileName (looked up
                            by base name beside the file); writing puts earlier elements beside OUT as <OUT>.chain<i>.txt,
                            named by absolute path (transformix 5.0.1), with --reference as transformix's grid
  *.flirt.mat, --from/--to fsl   FSL FLIRT matrix (input = moving, reference = fixed; needs --reference and --moving)
  *.ras.mat, --from/--to ras  greedy / c3d_affine_tool 4×4 (2D: 3×3) text matrix, fixed → moving in RAS mm;
                            plain-text matrices with other names than *.mat are read as this (a plain .mat
                            could be either: it needs *.flirt.mat, *.ras.mat or --from)
  .nii.gz .nii .mha .nrrd   displacement field (ITK/ANTs: LPS mm, x ↦ x + u(x)); writing samples the whole chain
                            on --reference's grid
IN may also be a register output folder (its whole chain) or an elastix output folder (its last TransformParameters.<n>.txt).
`;

export function transformCommand(): Command {
  const cmd = new Command('transform').description('convert and invert transform files (ITK, ANTs, elastix, FSL, greedy/c3d)');
  cmd
    .command('convert')
    .description('write transform IN (file or register output folder) as OUT in another format')
    .argument('<IN>', 'transform file or register output folder')
    .argument('<OUT>', 'output transform file (format from its name or --to)')
    .option('--reference <FIXED>', 'the fixed image: transformix grid for elastix output, FLIRT -ref, grid of a field output')
    .option('--moving <MOVING>', 'the moving image (FLIRT -in)')
    .addOption(new Option('--from <FORMAT>', 'read IN as an FSL or RAS matrix').choices(['fsl', 'ras']))
    .option('--to <FORMAT>', 'itk | h5 | mat | elastix | fsl | ras | field (default: from OUT\'s name)')
    .addHelpText('after', FORMATS_HELP)
    .action(
      commandAction<TransformOptions>((ctx, opts, args) => {
        const [input, out] = args as string[];
        const to = outputFormat(opts.to);
        const fixed = readGrid(opts.reference, ctx);
        const moving = readGrid(opts.moving, ctx);
        const load: ChainLoadOptions = { fixedGrid: fixed, movingGrid: moving, from: opts.from };
        const chain = loadTransformChain(input, nodeTransformFiles, load);
        writeTransformChain(chain, out, to, fixed, moving, [input, ...(opts.reference ? [opts.reference] : []), ...(opts.moving ? [opts.moving] : [])]);
      }),
    );
  cmd
    .command('invert')
    .description(
      'write the inverse of transform IN (moving → fixed) as OUT: linear parts exactly; a syn result\'s stored inverse field; ' +
        'other non-linear parts as a numerically inverted displacement field (its residual is printed on stderr)',
    )
    .argument('<IN>', 'transform file or register output folder')
    .argument('<OUT>', 'output transform file (format from its name or --to); non-linear inverses need a field-capable format (.h5, .nii.gz, elastix)')
    .option('--reference <IMAGE>', 'the grid the inverse lives on (the original MOVING image): grid of numerically inverted fields, transformix grid, FLIRT -ref of the inverse')
    .option('--moving <IMAGE>', 'the original FIXED image (FLIRT -in of the inverse; with --from fsl it is the matrix\'s -ref)')
    .addOption(new Option('--from <FORMAT>', 'read IN as an FSL or RAS matrix').choices(['fsl', 'ras']))
    .option('--to <FORMAT>', 'itk | h5 | mat | elastix | fsl | ras | field (default: from OUT\'s name)')
    .option('--quiet', 'do not print the residual of numerically inverted parts')
    .addHelpText('after', FORMATS_HELP)
    .action(
      commandAction<TransformOptions>((ctx, opts, args) => {
        const [input, out] = args as string[];
        const to = outputFormat(opts.to);
        const grid = readGrid(opts.reference, ctx);
        const other = readGrid(opts.moving, ctx);
        // IN maps original fixed (= --moving here) → original moving (= --reference here).
        const chain = loadTransformChain(input, nodeTransformFiles, { fixedGrid: other, movingGrid: grid, from: opts.from });
        const inverse = invertChain(chain, { grid });
        if (!opts.quiet) for (const r of inverse.numeric) ctx.io.stderr.write(`coreg: ${describeNumericInverse(r)}\n`);
        writeTransformChain(inverse.transforms, out, to, grid, other, [input, ...(opts.reference ? [opts.reference] : []), ...(opts.moving ? [opts.moving] : [])]);
      }),
    );
  return cmd;
}

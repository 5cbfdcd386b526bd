// `coreg convert IN OUT`: rewrite an image in the format of OUT's extension.
import { Command } from 'commander';
import { imageFormatOf } from '../../io/image-io.js';
import { assertNotInput, readImageFile, writeImageFileAsync } from '../../io/node.js';
import { commandAction } from '../common.js';

export function convertCommand(): Command {
  return new Command('convert')
    .description('convert an image to the format of OUT\'s extension (.nii, .nii.gz, .hdr, .mgh, .mgz, .mha, .mhd, .nrrd, .nhdr, .png)')
    .argument('<IN>', 'input image')
    .argument('<OUT>', 'output image')
    .option('--series <UID>', 'IN is a DICOM folder: read the series with this SeriesInstanceUID')
    .option('--compress', 'compress the pixel data (.mha/.mhd zlib, .nrrd/.nhdr gzip; .nii.gz always is)')
    .action(
      commandAction<{ compress?: boolean; series?: string }>(async (ctx, opts, args) => {
        const [input, output] = args as string[];
        // Checked before reading so that a typo in OUT fails fast.
        imageFormatOf(output);
        assertNotInput(output, [input], output);
        const img = readImageFile(input, { warn: ctx.warn, series: opts.series });
        await writeImageFileAsync(output, img, { compress: opts.compress, warn: ctx.warn });
      }),
    );
}

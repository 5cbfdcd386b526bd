// `coreg histogram F M [--transform T] --out PNG`: the joint histogram of two images (log counts).
import { Command } from 'commander';
import { readImageFile, writeFileAtomic } from '../../io/node.js';
import { encodeRasterPng, jointHistogram, jointHistogramPicture } from '../../report/picture.js';
import { loadTransformChainList } from '../../io/chain-io.js';
import { commandAction, parseIntegerOption } from '../common.js';
import { nodeTransformFiles } from '../transform-files.js';
import { collectValues } from './apply.js';
import { checkPngOut, withFileNames } from './snapshot.js';

interface HistogramOptions {
  transform?: string[];
  bins?: number;
  out: string;
}

export function histogramCommand(): Command {
  return new Command('histogram')
    .description(
      'joint histogram of F and M (M mapped through --transform onto F\'s voxels, else overlaid in physical space): F along x, ' +
        'M along y (up), log(1 + count); a sharp diagonal-like curve when the images are aligned',
    )
    .argument('<F>', 'fixed image')
    .argument('<M>', 'moving image')
    .option('--transform <T>', 'register output folder or transform file (fixed → moving); repeat to chain', collectValues)
    .option('--bins <N>', 'bins per axis (default 128)', parseIntegerOption('--bins', 2))
    .requiredOption('--out <PNG>', 'output PNG')
    .action(
      commandAction<HistogramOptions>((ctx, opts, args) => {
        const [fp, mp] = args as string[];
        checkPngOut(opts.out, [fp, mp, ...(opts.transform ?? [])]);
        const chain = opts.transform ? loadTransformChainList(opts.transform, nodeTransformFiles) : [];
        const fixed = readImageFile(fp, { warn: ctx.warn });
        const moving = readImageFile(mp, { warn: ctx.warn });
        const h = withFileNames({ fixed: fp, moving: mp }, () => jointHistogram(fixed, moving, chain, { bins: opts.bins }));
        writeFileAtomic(opts.out, encodeRasterPng(jointHistogramPicture(h, Math.max(1, Math.round(384 / h.bins)))));
      }),
    );
}

// `coreg snapshot IMAGE [--overlay IMAGE | --labels LABELS] --out PNG`: a picture of any 2D or 3D image.
import { Command, Option } from 'commander';
import { assertNotInput, readImageFile, writeFileAtomic } from '../../io/node.js';
import { encodeRasterPng, greyPicture, labelContourPicture, overlayPicture, type Convention, type Layout, type ViewOptions } from '../../report/picture.js';
import { commandAction, parseIntegerOption, usageError } from '../common.js';
import { CoregError } from '../../errors.js';
import { physicalBoundingBox, type Image } from '../../image/image.js';

/**
 * Runs `fn` with the files named in its errors: the picture functions name their inputs by role ('image', 'fixed',
 * 'moving', 'labels'); the one error line names the file given for that role instead.
 */
export function withFileNames<T>(names: Record<string, string | undefined>, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const file = e instanceof CoregError ? names[e.subject] : undefined;
    if (e instanceof CoregError && file !== undefined) throw new CoregError(file, e.message, e.exitCode);
    throw e;
  }
}

/** True when the physical bounding boxes of two images of the same dimension intersect. */
export function boxesOverlap(a: Image, b: Image): boolean {
  const ba = physicalBoundingBox(a, true);
  const bb = physicalBoundingBox(b, true);
  return ba.min.every((v, k) => k >= bb.min.length || (v < bb.max[k] && bb.min[k] < ba.max[k]));
}

export interface PictureCliOptions {
  layout?: Layout;
  convention?: Convention;
  slices?: number;
}

/** --layout, --convention and --slices, shared by the commands that draw 3D images. */
export function addViewOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--layout <L>', '3D: ortho (axial, coronal, sagittal through the foreground) or mosaic (axial slices)').choices(['ortho', 'mosaic']).default('ortho'))
    .addOption(new Option('--convention <C>', "3D: radiological (patient's left on screen right) or neurological").choices(['radiological', 'neurological']).default('radiological'))
    .option('--slices <N>', 'mosaic: number of axial slices (default 12)', parseIntegerOption('--slices', 1));
}

export function viewOptions(opts: PictureCliOptions): ViewOptions {
  return { layout: opts.layout, convention: opts.convention, slices: opts.slices };
}

/** The output must be a .png that is not one of the inputs. */
export function checkPngOut(out: string, inputs: string[], option = '--out'): void {
  if (!/\.png$/i.test(out)) throw usageError(option, `must name a .png file, got '${out}'`);
  assertNotInput(out, inputs, out);
}

interface SnapshotOptions extends PictureCliOptions {
  overlay?: string;
  labels?: string;
  out: string;
}

export function snapshotCommand(): Command {
  const cmd = new Command('snapshot')
    .description(
      'PNG picture of a 2D or 3D image (3D: three orthogonal slices or a mosaic through the foreground, square millimetres); ' +
        'with --overlay the two in magenta/green, with --labels the label contours over the image',
    )
    .argument('<IMAGE>', 'image to show')
    .option('--overlay <IMAGE>', 'second image (e.g. warped.nii.gz): IMAGE magenta, this one green, grey where they agree')
    .option('--labels <LABELS>', 'label image: contours of each label over IMAGE')
    .requiredOption('--out <PNG>', 'output PNG');
  return addViewOptions(cmd).action(
    commandAction<SnapshotOptions>((ctx, opts, args) => {
      const path = args[0] as string;
      if (opts.overlay && opts.labels) throw usageError('--labels', 'give either --overlay or --labels, not both');
      checkPngOut(opts.out, [path, opts.overlay, opts.labels].filter((x): x is string => Boolean(x)));
      const img = readImageFile(path, { warn: ctx.warn });
      const other = opts.overlay ?? opts.labels;
      const second = other ? readImageFile(other, { warn: ctx.warn }) : undefined;
      const v = viewOptions(opts);
      if (second && second.dimension === img.dimension && !boxesOverlap(img, second)) {
        ctx.warn(`${other}: does not overlap ${path} in physical space; the picture shows ${path} alone`);
      }
      const raster = withFileNames({ image: path, fixed: path, moving: opts.overlay, labels: opts.labels }, () =>
        opts.overlay ? overlayPicture(img, second!, v) : opts.labels ? labelContourPicture(img, second!, v) : greyPicture(img, v),
      );
      writeFileAtomic(opts.out, encodeRasterPng(raster));
    }),
  );
}

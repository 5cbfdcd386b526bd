// `coreg info FILE [--json]`: an image's geometry, pixel type and value range.
import { Command } from 'commander';
import { finiteRange, pixelTypeOf } from '../../image/image.js';
import type { Image } from '../../image/image.js';
import { readImageFile } from '../../io/node.js';
import { commandAction } from '../common.js';

/** The contract's JSON object for `info --json` (min/max over finite values; null when there are none). */
export function imageInfo(img: Image): {
  dimension: number;
  size: number[];
  spacing: number[];
  origin: number[];
  direction: number[];
  pixelType: string;
  components: number;
  min: number | null;
  max: number | null;
} {
  const range = finiteRange(img.data);
  return {
    dimension: img.dimension,
    size: img.size.slice(),
    spacing: img.spacing.slice(),
    origin: img.origin.slice(),
    direction: img.direction.slice(),
    pixelType: pixelTypeOf(img.data),
    components: img.components,
    min: range ? range.min : null,
    max: range ? range.max : null,
  };
}

/** Short human form of a number: integers as is, others to 6 significant digits. */
function fmt(v: number): string {
  if (Object.is(v, -0)) return '0';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function infoTable(file: string, info: ReturnType<typeof imageInfo>): string[] {
  const d = info.dimension;
  const rows: [string, string][] = [
    ['file', file],
    ['dimension', String(d)],
    ['size', info.size.join(' x ')],
    ['spacing', `${info.spacing.map(fmt).join(' x ')} mm`],
    ['origin', `${info.origin.map(fmt).join(', ')} mm (LPS)`],
  ];
  for (let r = 0; r < d; r++) {
    const row = info.direction.slice(r * d, r * d + d).map((v) => fmt(v).padStart(9)).join(' ');
    rows.push([r === 0 ? 'direction' : '', row]);
  }
  rows.push(['pixel type', info.pixelType], ['components', String(info.components)]);
  rows.push(['min', info.min === null ? '(no finite values)' : fmt(info.min)], ['max', info.max === null ? '(no finite values)' : fmt(info.max)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

export function infoCommand(): Command {
  return new Command('info')
    .description('print an image\'s size, spacing, origin, direction, pixel type and value range')
    .argument('<FILE>', 'image file (.nii, .nii.gz, .hdr, .mha, .mhd, .nrrd, .nhdr, .png)')
    .option('--json', 'print one JSON object instead of a table')
    .action(
      commandAction<{ json?: boolean }>((ctx, opts, args) => {
        const file = args[0] as string;
        const info = imageInfo(readImageFile(file, { warn: ctx.warn }));
        if (opts.json) ctx.print(JSON.stringify(info));
        else for (const line of infoTable(file, info)) ctx.print(line);
      }),
    );
}

// `coreg landscape --fixed F --moving M --metric mse,ncc,mi (--rotate A:B [--axis x|y|z] | --shift x|y|z:A:B) [--steps N] --out DIR`
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { CoregError } from '../../errors.js';
import { assertNotInput, readImageFile, writeFilesAtomic } from '../../io/node.js';
import { svgLinePlot } from '../../report/html.js';
import { metricLandscape, type LandscapeMotion } from '../../report/landscape.js';
import { encodeRasterPng, linePlotRaster } from '../../report/picture.js';
import { commandAction, parseIntegerOption, usageError } from '../common.js';

const COLOURS: [number, number, number][] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [148, 103, 189],
  [255, 127, 14],
  [23, 190, 207],
  [140, 86, 75],
];
const HEX = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b'];

interface LandscapeOptions {
  fixed: string;
  moving: string;
  metric: string;
  rotate?: string;
  axis: 'x' | 'y' | 'z';
  shift?: string;
  steps: number;
  out: string;
}

function range(text: string, option: string): [number, number] {
  const m = /^\s*(-?[\d.]+(?:e-?\d+)?)\s*:\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i.exec(text);
  if (!m) throw usageError(option, `expected A:B (two numbers), got '${text}'`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === b) throw usageError(option, `expected A:B with A ≠ B, got '${text}'`);
  return [a, b];
}

export function landscapeCommand(): Command {
  return new Command('landscape')
    .description(
      'each similarity measure against a motion of the moving image (rotation about the fixed image centre, or a shift): which measures have ' +
        'wide basins and which local minima. Writes DIR/landscape.csv (the costs coreg minimises: mse, −ncc, −mi, …), DIR/landscape.png ' +
        '(each measure scaled to its own range; colours in --metric order: blue, red, green, purple, orange) and DIR/landscape.svg (with axes and legend)',
    )
    .requiredOption('--fixed <F>', 'fixed image')
    .requiredOption('--moving <M>', 'moving image')
    .option('--metric <LIST>', 'comma list of measures: mse, ncc, mi, nmi, sad, nssd, jointEntropy', 'mse,ncc,mi')
    .option('--rotate <A:B>', 'rotate from A to B degrees')
    .addOption(new Option('--axis <X>', 'rotation axis (3D; 2D rotates in plane)').choices(['x', 'y', 'z']).default('z'))
    .option('--shift <AXIS:A:B>', 'shift along x, y or z from A to B mm, e.g. x:-20:20')
    .option('--steps <N>', 'number of positions (default 41)', parseIntegerOption('--steps', 2), 41)
    .requiredOption('--out <DIR>', 'output folder (created if missing)')
    .action(
      commandAction<LandscapeOptions>((ctx, opts) => {
        if (Boolean(opts.rotate) === Boolean(opts.shift)) throw usageError(opts.rotate ? '--shift' : '--rotate', 'give exactly one of --rotate A:B or --shift AXIS:A:B');
        let motion: LandscapeMotion;
        if (opts.rotate) {
          const [a, b] = range(opts.rotate, '--rotate');
          motion = { kind: 'rotate', axis: ({ x: 0, y: 1, z: 2 } as const)[opts.axis], from: a, to: b, steps: opts.steps };
        } else {
          const m = /^([xyz]):(.*)$/.exec(opts.shift!);
          if (!m) throw usageError('--shift', `expected AXIS:A:B with AXIS x, y or z, got '${opts.shift}'`);
          const [a, b] = range(m[2], '--shift');
          motion = { kind: 'shift', axis: ({ x: 0, y: 1, z: 2 } as const)[m[1] as 'x' | 'y' | 'z'], from: a, to: b, steps: opts.steps };
        }
        const metrics = opts.metric.split(',').map((s) => s.trim()).filter(Boolean);
        if (metrics.length === 0) throw usageError('--metric', 'no measure given');
        const out = resolve(opts.out);
        if (existsSync(out) && !statSync(out).isDirectory()) throw new CoregError(opts.out, 'exists and is not a folder');
        for (const name of ['landscape.csv', 'landscape.png', 'landscape.svg']) assertNotInput(join(out, name), [opts.fixed, opts.moving], join(opts.out, name));
        const fixed = readImageFile(opts.fixed, { warn: ctx.warn });
        const moving = readImageFile(opts.moving, { warn: ctx.warn });
        const l = metricLandscape(fixed, moving, metrics, motion);
        const head = motion.kind === 'rotate' ? 'angle_deg' : `shift_${'xyz'[motion.axis]}_mm`;
        const csv = [[head, ...metrics].join(',')];
        l.x.forEach((x, i) => csv.push([x, ...metrics.map((name) => (Number.isFinite(l.values[name][i]) ? l.values[name][i] : ''))].join(',')));
        const xLabel = motion.kind === 'rotate' ? `rotation about ${opts.axis} (degrees)` : `shift along ${'xyz'[motion.axis]} (mm)`;
        const png = encodeRasterPng(
          linePlotRaster(l.x, metrics.map((name, i) => ({ name, values: l.values[name], colour: COLOURS[i % COLOURS.length] })), 480, 320, {
            xLabel,
            yLabel: 'cost, each scaled to its range: lower is more similar',
          }),
        );
        const svg = svgLinePlot(metrics.map((name, i) => ({ name, x: l.x, y: l.values[name], colour: HEX[i % HEX.length] })), {
          xLabel,
          yLabel: 'cost, scaled to its range',
          normalize: true,
        });
        mkdirSync(out, { recursive: true });
        writeFilesAtomic([
          { path: join(out, 'landscape.csv'), data: csv.join('\n') + '\n' },
          { path: join(out, 'landscape.png'), data: png },
          { path: join(out, 'landscape.svg'), data: svg },
        ]);
        ctx.print(`wrote ${join(opts.out, 'landscape.csv')}, landscape.png and landscape.svg`);
      }),
    );
}

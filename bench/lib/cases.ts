// The benchmark cases: real ITK slices with pixel-verified ground truths (2D), and ch2bet moved by known
// random affines made with an independent resampler (3D). Every ground truth maps fixed → moving (LPS mm).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../../src/image/image.js';
import { type Affine, affineFromRows, translationAffine } from './affine.js';

export interface BenchCase {
  name: string;
  dimension: 2 | 3;
  fixed: string;
  moving: string;
  /** coreg --transform (comma list of stages). */
  stages: string;
  metric: 'mse' | 'ncc' | 'mi' | 'nmi' | 'lncc';
  /** File in peers/elastix-params. */
  elastixParams: string;
  /** Why the peer runs something other than the same transform, if it does. */
  peerNote?: string;
  /** Ground truth, given the fixed image as read (the Direction cases depend on its axes). */
  groundTruth: (fixed: Image) => Affine;
  /** Foreground = fixed pixels above this value (where the error is measured). */
  foreground: number;
  /** Pass: coreg's mean TRE ≤ target (mm) … */
  target: number;
  /** … and, when set, ≤ elastix's mean TRE + this margin (mm). */
  peerMargin?: number;
}

export interface BenchPaths {
  repoRoot: string;
  /** ../shared/data */
  data: string;
  /** ../shared/peers */
  peers: string;
  /** bench/cache */
  cache: string;
}

interface Itk2dTruth {
  fitted_A: number[][];
  fitted_b: number[];
}

/** The 2D cases, or a reason they cannot run. */
export function cases2d(p: BenchPaths): BenchCase[] | string {
  const itk = join(p.data, 'itk');
  const truthFile = join(p.peers, 'cases', 'gt_itk2d.json');
  if (!existsSync(itk)) return `${itk} is absent`;
  if (!existsSync(truthFile)) return `${truthFile} is absent`;
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as Record<string, Itk2dTruth>;
  const fitted = (name: string): (() => Affine) => {
    const t = truth[name];
    if (!t) throw new Error(`${truthFile}: no entry for ${name}`);
    return () => affineFromRows(t.fitted_A, t.fitted_b);
  };
  const shift = (): Affine => translationAffine([13, 17]);
  // The moving slice is the fixed one shifted by (13,17) pixels along the image axes: D·(13,17) in mm.
  const shiftAlongAxes = (fixed: Image): Affine => {
    const D = fixed.direction;
    return translationAffine([D[0] * 13 * fixed.spacing[0] + D[1] * 17 * fixed.spacing[1], D[2] * 13 * fixed.spacing[0] + D[3] * 17 * fixed.spacing[1]]);
  };
  const pd = (s: string): string => join(itk, `BrainProtonDensitySlice${s}`);
  const base = { dimension: 2 as const, foreground: 20, target: 0.05 };
  const border20 = pd('Border20.png');
  return [
    { ...base, name: 'translation Shifted13x17y', fixed: border20, moving: pd('Shifted13x17y.png'), stages: 'translation', metric: 'mse', elastixParams: '2d_translation_ms.txt', groundTruth: shift },
    { ...base, name: 'translation Shifted13x17y', fixed: border20, moving: pd('Shifted13x17y.png'), stages: 'translation', metric: 'ncc', elastixParams: '2d_translation_ncc.txt', groundTruth: shift },
    { ...base, name: 'translation Shifted13x17y', fixed: border20, moving: pd('Shifted13x17y.png'), stages: 'translation', metric: 'mi', elastixParams: '2d_translation_mi.txt', groundTruth: shift },
    { ...base, name: 'multi-modal T1 vs PD Shifted13x17y', fixed: join(itk, 'BrainT1SliceBorder20.png'), moving: pd('Shifted13x17y.png'), stages: 'translation', metric: 'mi', elastixParams: '2d_translation_mi.txt', groundTruth: shift, target: 0.1 },
    { ...base, name: 'rigid R10X13Y17', fixed: border20, moving: pd('R10X13Y17.png'), stages: 'rigid', metric: 'mse', elastixParams: '2d_rigid_ms.txt', groundTruth: fitted('BrainProtonDensitySliceR10X13Y17') },
    { ...base, name: 'rigid Rotated10', fixed: border20, moving: pd('Rotated10.png'), stages: 'rigid', metric: 'mse', elastixParams: '2d_rigid_ms.txt', groundTruth: fitted('BrainProtonDensitySliceRotated10') },
    { ...base, name: 'similarity R10X13Y17S12', fixed: border20, moving: pd('R10X13Y17S12.png'), stages: 'similarity', metric: 'mse', elastixParams: '2d_affine_ms.txt', peerNote: 'elastix: affine, no similarity in Debian', groundTruth: fitted('BrainProtonDensitySliceR10X13Y17S12') },
    { ...base, name: 'affine R10X13Y17S12', fixed: border20, moving: pd('R10X13Y17S12.png'), stages: 'affine', metric: 'mse', elastixParams: '2d_affine_ms.txt', groundTruth: fitted('BrainProtonDensitySliceR10X13Y17S12') },
    { ...base, name: 'DirectionPlus30 .mhd', fixed: pd('Border20DirectionPlus30.mhd'), moving: pd('Shifted13x17yDirectionPlus30.mhd'), stages: 'translation', metric: 'mse', elastixParams: '2d_translation_ms.txt', groundTruth: shiftAlongAxes },
    { ...base, name: 'DirectionPlus30 .nhdr', fixed: pd('Border20DirectionPlus30.nhdr'), moving: pd('Shifted13x17yDirectionPlus30.nhdr'), stages: 'translation', metric: 'mse', elastixParams: '2d_translation_ms.txt', groundTruth: shiftAlongAxes },
    { ...base, name: 'DirectionMinus30 .mhd', fixed: pd('Border20DirectionMinus30.mhd'), moving: pd('Shifted13x17yDirectionMinus30.mhd'), stages: 'translation', metric: 'mse', elastixParams: '2d_translation_ms.txt', groundTruth: shiftAlongAxes },
  ];
}

const PYTHON = '/usr/bin/python3';

function runPython(args: string[], what: string): string | undefined {
  console.error(`bench: generating ${what} (once; cached under bench/cache) …`);
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) return `${PYTHON} ${args[0]} failed: ${(r.error?.message ?? r.stderr.trim().split('\n').pop()) || `exit ${r.status}`} (needs Debian's python3-numpy, python3-scipy, python3-nibabel)`;
  return undefined;
}

interface AffineTruthFile {
  A: number[][];
  b: number[];
}

/**
 * The 3D cases: `seeds` random affines (bench/make-affine-cases.py) registered with affine and rigid,affine,
 * plus the shared d1 case (peers/cases/make_cases.py) when `withD1`. Missing moving images are generated first.
 * Returns the cases and the reasons for any that were left out.
 */
export function cases3d(p: BenchPaths, seeds: number[], withD1: boolean): { cases: BenchCase[]; skipped: string[] } {
  const ch2bet = join(p.data, 'mni', 'ch2bet.nii.gz');
  if (!existsSync(ch2bet)) return { cases: [], skipped: [`${ch2bet} is absent`] };
  if (!existsSync(PYTHON)) return { cases: [], skipped: [`${PYTHON} is absent (Debian python3 with python3-numpy, python3-scipy, python3-nibabel generates the 3D cases)`] };
  const skipped: string[] = [];
  const cases: BenchCase[] = [];
  const base = { dimension: 3 as const, fixed: ch2bet, metric: 'mi' as const, elastixParams: '3d_affine_mi.txt', foreground: 0, target: 0.05, peerMargin: 0.01 };
  const both = (name: string, moving: string, gt: Affine): BenchCase[] => [
    { ...base, name, moving, stages: 'affine', groundTruth: () => gt },
    { ...base, name, moving, stages: 'rigid,affine', groundTruth: () => gt, peerNote: 'elastix: affine' },
  ];

  const dir = join(p.cache, 'affine3d');
  const missing = seeds.filter((s) => !existsSync(join(dir, `case_${s}.nii.gz`)) || !existsSync(join(dir, `case_${s}.json`)));
  const failed = missing.length > 0 ? runPython([join(p.repoRoot, 'bench', 'make-affine-cases.py'), ch2bet, dir, ...missing.map(String)], `3D affine cases (seeds ${missing.join(' ')})`) : undefined;
  if (failed) skipped.push(failed);
  else {
    for (const s of seeds) {
      const t = JSON.parse(readFileSync(join(dir, `case_${s}.json`), 'utf8')) as AffineTruthFile & { mapping: string };
      cases.push(...both(`random affine seed ${s}${t.mapping === 'remap' ? ' (remapped)' : ''}`, join(dir, `case_${s}.nii.gz`), affineFromRows(t.A, t.b)));
    }
  }

  if (withD1) {
    const out = join(p.cache, 'cases');
    const moving = join(out, 'ch2bet_d1_affine.nii.gz');
    const truth = join(out, 'cases_gt.json');
    const script = join(p.peers, 'cases', 'make_cases.py');
    const failedD1 = !existsSync(script) ? `${script} is absent` : !existsSync(moving) || !existsSync(truth) ? runPython([script, out], 'the shared d1 case') : undefined;
    if (failedD1) skipped.push(failedD1);
    else {
      const t = (JSON.parse(readFileSync(truth, 'utf8')) as { affine_3d: AffineTruthFile }).affine_3d;
      cases.push(...both('shared d1 affine', moving, affineFromRows(t.A, t.b)));
    }
  }
  return { cases, skipped };
}

// `npm run bench -- --only autolandmarks`: starting poses far outside today's initialisers' reach (issue 17). Cases
// made by bench/make-autolandmarks-cases.py with scipy (an independent resampler): ch2 turned 60–180° about oblique
// axes and shifted 30–60 mm, the same with half the head cropped away, a CT-like phantom against the T1, and ITK
// brain slices turned by any angle. Each case runs `coreg register --transform rigid` with the default initialiser
// (moments) and with `--initializer landmarks`; TRE over the fixed foreground (3D: ch2bet voxels > 0, every 3rd
// voxel per axis; 2D: pixels > 20) against the generator's ground truth.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readImageFile } from '../../src/io/node.js';
import type { Image } from '../../src/image/image.js';
import { affineFromRows, foregroundPoints, targetRegistrationError } from '../lib/affine.js';
import { readTransformChain } from '../lib/coreg.js';
import { runTimed } from '../lib/process.js';

interface CaseSpec {
  name: string;
  dimension: 2 | 3;
  fixed: string;
  moving: string;
  A: number[][];
  b: number[];
  angle: number;
  shift: number[];
  modality: 'mono' | 'multi';
}

export interface AutoRun {
  treMean?: number;
  treMax?: number;
  seconds?: number;
  failure?: string;
}

export interface AutoLandmarksRow {
  name: string;
  dimension: 2 | 3;
  modality: string;
  angle: number;
  shiftMm: number;
  defaultInit: AutoRun;
  landmarks: AutoRun & {
    keypoints?: { fixed: number; moving: number };
    matches?: number;
    inliers?: number;
    inlierRatio?: number;
    descriptor?: string;
    detectSeconds?: number;
    matchSeconds?: number;
  };
  /** TRE target for the landmarks run (mm). */
  target: number;
  pass: boolean;
}

function subsample(points: Float64Array, d: number, every: number): Float64Array {
  const n = points.length / d;
  const keep = Math.ceil(n / every);
  const out = new Float64Array(keep * d);
  for (let k = 0; k < keep; k++) for (let a = 0; a < d; a++) out[k * d + a] = points[k * every * d + a];
  return out;
}

function foreground(c: CaseSpec, data: string, fixed: Image): Float64Array {
  if (c.dimension === 2) return foregroundPoints(fixed, 20);
  const bet = readImageFile(join(data, 'mni', 'ch2bet.nii.gz'));
  return subsample(foregroundPoints(bet, 0), 3, 27);
}

export function runAutoLandmarks(opts: { data: string; repoRoot: string; outDir: string; coregBin: string; filter?: string }): AutoLandmarksRow[] {
  const caseDir = join(opts.repoRoot, 'bench', 'cache', 'autolandmarks-cases');
  const casesFile = join(caseDir, 'cases.json');
  if (!existsSync(casesFile)) {
    console.error('bench autolandmarks: generating the cases with /usr/bin/python3 + scipy (a few minutes)…');
    const g = spawnSync('/usr/bin/python3', [join(opts.repoRoot, 'bench', 'make-autolandmarks-cases.py'), opts.data, caseDir], { stdio: 'inherit' });
    if (g.status !== 0) throw new Error('bench autolandmarks: make-autolandmarks-cases.py failed (needs Debian python3-nibabel, python3-scipy, python3-pil)');
  }
  const cases = (JSON.parse(readFileSync(casesFile, 'utf8')) as { cases: CaseSpec[] }).cases
    .filter((c) => !opts.filter || c.name.includes(opts.filter))
    .sort((a, b) => a.dimension - b.dimension);
  const rows: AutoLandmarksRow[] = [];
  const pointsCache = new Map<string, Float64Array>();
  for (const c of cases) {
    const fixedPath = join(opts.data, c.fixed);
    const movingPath = join(caseDir, c.moving);
    const fixed = readImageFile(fixedPath);
    const key = `${c.dimension}:${c.fixed}`;
    if (!pointsCache.has(key)) pointsCache.set(key, foreground(c, opts.data, fixed));
    const points = pointsCache.get(key)!;
    const gt = affineFromRows(c.A, c.b);
    const target = c.modality === 'multi' ? 1 : 0.05;
    const run = (init: 'moments' | 'landmarks'): AutoRun & Record<string, unknown> => {
      const out = join(opts.outDir, 'autolandmarks', `${c.name}-${init}`);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(join(opts.outDir, 'autolandmarks'), { recursive: true });
      const r = runTimed(process.execPath, [opts.coregBin, 'register', '--fixed', fixedPath, '--moving', movingPath, '--out', out, '--transform', 'rigid', '--initializer', init, '--quiet']);
      if (r.status !== 0) return { failure: r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`, seconds: r.seconds };
      const tre = targetRegistrationError(points, readTransformChain(join(out, 'transform.tfm')), gt);
      const res: AutoRun & Record<string, unknown> = { treMean: tre.mean, treMax: tre.max, seconds: r.seconds };
      if (init === 'landmarks') {
        const l = (JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { landmarks: { keypoints: { fixed: number; moving: number }; matches: number; inliers: number; inlierRatio: number; descriptor: string; seconds: { detect: number; match: number } } }).landmarks;
        Object.assign(res, { keypoints: l.keypoints, matches: l.matches, inliers: l.inliers, inlierRatio: l.inlierRatio, descriptor: l.descriptor, detectSeconds: l.seconds.detect, matchSeconds: l.seconds.match });
      }
      return res;
    };
    console.error(`bench autolandmarks: ${c.name}`);
    const defaultInit = run('moments');
    const landmarks = run('landmarks');
    rows.push({
      name: c.name,
      dimension: c.dimension,
      modality: c.modality,
      angle: c.angle,
      shiftMm: Math.hypot(...c.shift),
      defaultInit,
      landmarks,
      target,
      pass: landmarks.treMean !== undefined && landmarks.treMean <= target,
    });
    console.error(autoLandmarksTable(rows.slice(-1)).split('\n').pop());
  }
  return rows;
}

function f(v: number | undefined, digits = 3): string {
  return v === undefined ? '–' : v.toFixed(digits);
}

export function autoLandmarksTable(rows: AutoLandmarksRow[]): string {
  const head = ['case', 'dim', 'modality', 'angle (°)', '|shift| (mm)', 'default init TRE mean / max (mm)', 'landmarks TRE mean / max (mm)', 'target (mm)', 'keypoints F / M', 'matches', 'inliers', 'inlier ratio', 'descriptor', 'detect + match (s)', 'register time default / landmarks (s)', 'pass'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const d = r.defaultInit;
    const l = r.landmarks;
    lines.push(
      `| ${[
        r.name,
        r.dimension,
        r.modality,
        r.angle,
        f(r.shiftMm, 1),
        d.failure ? `failed: ${d.failure}` : `${f(d.treMean)} / ${f(d.treMax)}`,
        l.failure ? `failed: ${l.failure}` : `${f(l.treMean)} / ${f(l.treMax)}`,
        r.target,
        l.keypoints ? `${l.keypoints.fixed} / ${l.keypoints.moving}` : '–',
        l.matches ?? '–',
        l.inliers ?? '–',
        f(l.inlierRatio, 2),
        l.descriptor ?? '–',
        l.detectSeconds !== undefined ? `${f(l.detectSeconds, 1)} + ${f(l.matchSeconds, 1)}` : '–',
        `${f(d.seconds, 1)} / ${f(l.seconds, 1)}`,
        r.pass ? 'yes' : 'NO',
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

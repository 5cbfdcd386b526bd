// Keypoint detection/description measured on ../shared/data: an image against a rigidly moved copy of itself
// (rotation about an oblique axis + shift, resampled by coreg's cubic B-spline resampler), or 2D ITK slice pairs
// with their pixel-verified ground truth. Prints keypoint counts, repeatability (fixed keypoints whose image T(p)
// has a moving keypoint within --radius mm and a scale within a factor 2^(1/s)), the fraction of true matches among
// nearest-neighbour descriptor matches (true = the matched moving keypoint lies within --match-radius mm of T(p)),
// the same after the ratio test (0.8) and mutual-NN filter, and CPU seconds of detection and description.
//
//   node --import tsx bench/features-measure.ts [--image mni/ch2bet.nii.gz] [--angle 90] [--axis 1,1,1]
//        [--shift=30,-40,20] [--kind gradient|mind] [--invert] [--pair itk-r10x13y17|itk-t1-shift] [--radius 1.5]
//        [--case r60|crop100|ct90|… [--cases DIR]] [--max N] [--rank] [--same-spacing] [--detect '{"contrastThreshold":0.01}'] [--describe '{"spatialBins":4}']
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { readImageFile } from '../src/io/node.js';
import { resample } from '../src/resample/resample.js';
import { AffineTransform } from '../src/transform/linear.js';
import { physicalCenter, physicalToIndex, type Image } from '../src/image/image.js';
import { detectKeypoints, type Keypoints } from '../src/features/keypoints.js';
import { describeKeypoints, type DescriptorKind } from '../src/features/descriptors.js';
import { defaultWorkingSpacing } from '../src/features/scale-space.js';

const DATA = join(import.meta.dirname, '..', '..', 'shared', 'data');
const { values } = parseArgs({
  options: {
    image: { type: 'string', default: 'mni/ch2bet.nii.gz' },
    angle: { type: 'string', default: '90' },
    axis: { type: 'string', default: '1,2,3' },
    shift: { type: 'string', default: '30,-40,20' },
    kind: { type: 'string', default: 'gradient' },
    invert: { type: 'boolean', default: false },
    pair: { type: 'string' },
    cases: { type: 'string' },
    case: { type: 'string' },
    radius: { type: 'string', default: '1.5' },
    'match-radius': { type: 'string', default: '3' },
    max: { type: 'string' },
    rank: { type: 'boolean', default: false },
    'same-spacing': { type: 'boolean', default: false },
    detect: { type: 'string', default: '{}' },
    describe: { type: 'string', default: '{}' },
  },
});

function rotation(d: 2 | 3, angleDeg: number, axis: number[]): number[] {
  const t = (angleDeg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  if (d === 2) return [c, -s, s, c];
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  const [x, y, z] = axis.map((v) => v / n);
  return [
    c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
    y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s,
    z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c),
  ];
}

function cpu<T>(f: () => T): [T, number] {
  const a = process.cpuUsage();
  const r = f();
  const b = process.cpuUsage(a);
  return [r, (b.user + b.system) / 1e6];
}

let fixed: Image;
let moving: Image;
let T: AffineTransform;
if (values.case) {
  // A case of bench/make-autolandmarks-cases.py (x_moving = A x_fixed + b), from its output folder (--cases DIR).
  const dir = values.cases ?? join(import.meta.dirname, 'cache', 'autolandmarks-cases');
  const spec = (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: { name: string; fixed: string; moving: string; A: number[][]; b: number[] }[] }).cases.find((c) => c.name === values.case);
  if (!spec) throw new Error(`no case ${values.case} in ${dir}/cases.json`);
  fixed = readImageFile(join(DATA, spec.fixed));
  moving = readImageFile(join(dir, spec.moving));
  T = new AffineTransform(fixed.dimension);
  T.setParameters([...spec.A.flat(), ...spec.b]);
} else if (values.pair === 'itk-r10x13y17' || values.pair === 'itk-t1-shift') {
  // Pixel-verified ground truths (../shared/peers/cases/gt_itk2d.json, rounded in ../shared/data/README.md).
  fixed = readImageFile(join(DATA, 'itk', values.pair === 'itk-t1-shift' ? 'BrainT1SliceBorder20.png' : 'BrainProtonDensitySliceBorder20.png'));
  moving = readImageFile(join(DATA, 'itk', values.pair === 'itk-t1-shift' ? 'BrainProtonDensitySliceShifted13x17y.png' : 'BrainProtonDensitySliceR10X13Y17.png'));
  T = new AffineTransform(2);
  if (values.pair === 'itk-t1-shift') T.setParameters([1, 0, 0, 1, 13, 17]);
  else {
    T.setFixedParameters([110.5, 128.5]);
    T.setParameters([...rotation(2, 9.996, []).map((v) => v * 0.9998), 13.0, 16.0]);
  }
} else {
  fixed = readImageFile(join(DATA, values.image!));
  const d = fixed.dimension;
  T = new AffineTransform(d);
  T.setFixedParameters(physicalCenter(fixed));
  const shift = values.shift!.split(',').map(Number).slice(0, d);
  T.setParameters([...rotation(d, Number(values.angle), values.axis!.split(',').map(Number)), ...shift]);
  // moving(T(x)) = fixed(x): the moving image is the fixed one resampled through T⁻¹.
  moving = resample(fixed, fixed, T.inverse(), { interpolation: 'bspline' });
  if (values.invert) {
    let hi = -Infinity;
    for (const v of moving.data) if (v > hi) hi = v;
    const inv = Float32Array.from(moving.data as ArrayLike<number>, (v) => Math.sqrt(Math.max(0, hi - v)) * 10);
    moving = { ...moving, data: inv };
  }
}
const d = fixed.dimension;
const kind = values.kind as DescriptorKind;
const opts = { ...(values.max ? { maxKeypoints: Number(values.max) } : {}), ...JSON.parse(values.detect!) };
if (values['same-spacing']) opts.workingSpacing = Math.max(defaultWorkingSpacing(fixed, opts), defaultWorkingSpacing(moving, opts));
const dopts = { ...opts, rank: values.rank, ...JSON.parse(values.describe!) };
const [kf, tf] = cpu(() => detectKeypoints(fixed, opts));
const [km, tm] = cpu(() => detectKeypoints(moving, opts));
const [df, tdf] = cpu(() => describeKeypoints(fixed, kf, kind, dopts));
const [dm, tdm] = cpu(() => describeKeypoints(moving, km, kind, dopts));

const radius = Number(values.radius);
const matchRadius = Number(values['match-radius']);
const q = new Float64Array(d);
function mapped(k: Keypoints, i: number): Float64Array {
  T.transformPoint(k.points.subarray(i * d, i * d + d), q);
  return q;
}
function dist(a: ArrayLike<number>, k: Keypoints, j: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += (a[c] - k.points[j * d + c]) ** 2;
  return Math.sqrt(s);
}
// Repeatability: fixed keypoints with a moving keypoint near T(p) at a similar scale; also among those whose T(p)
// falls inside the moving image's grid (10 voxels in from its edges: part of a moved image leaves the field of view).
let repeated = 0;
let inFov = 0;
let repeatedInFov = 0;
const idxM = new Array<number>(d);
for (let i = 0; i < kf.count; i++) {
  const p = mapped(kf, i);
  physicalToIndex(moving, p, idxM);
  const inside = idxM.every((v, a) => v >= 10 && v <= moving.size[a] - 11);
  if (inside) inFov++;
  for (let j = 0; j < km.count; j++) {
    if (dist(p, km, j) <= radius && Math.abs(Math.log2(km.scales[j] / kf.scales[i])) <= 1 / 3) {
      repeated++;
      if (inside) repeatedInFov++;
      break;
    }
  }
}
// Descriptor matching among the described keypoints.
const L = df.descriptors.length;
const nf = df.descriptors.count;
const nm = dm.descriptors.count;
const best = new Int32Array(nf);
const ratio = new Float64Array(nf);
const bestM = new Int32Array(nm).fill(-1);
const bestMScore = new Float64Array(nm).fill(-Infinity);
const [, tmatch] = cpu(() => {
  for (let i = 0; i < nf; i++) {
    let b1 = -Infinity;
    let b2 = -Infinity;
    let bj = -1;
    for (let j = 0; j < nm; j++) {
      let s = 0;
      for (let t = 0; t < L; t++) s += df.descriptors.data[i * L + t] * dm.descriptors.data[j * L + t];
      if (s > b1) {
        b2 = b1;
        b1 = s;
        bj = j;
      } else if (s > b2) b2 = s;
      if (s > bestMScore[j]) {
        bestMScore[j] = s;
        bestM[j] = i;
      }
    }
    best[i] = bj;
    // distance ratio (unit vectors: |a − b|² = 2 − 2 a·b)
    ratio[i] = Math.sqrt(Math.max(0, 2 - 2 * b1)) / Math.max(1e-12, Math.sqrt(Math.max(0, 2 - 2 * b2)));
  }
});
let nn = 0;
let nnTrue = 0;
let rt = 0;
let rtTrue = 0;
let mu = 0;
let muTrue = 0;
let possible = 0;
for (let i = 0; i < nf; i++) {
  const j = best[i];
  if (j < 0) continue;
  const p = mapped(df.keypoints, i);
  let any = false;
  for (let jj = 0; jj < nm && !any; jj++) if (dist(p, dm.keypoints, jj) <= matchRadius) any = true;
  if (any) possible++;
  const ok = dist(p, dm.keypoints, j) <= matchRadius;
  nn++;
  if (ok) nnTrue++;
  if (ratio[i] < 0.8) {
    rt++;
    if (ok) rtTrue++;
  }
  if (bestM[j] === i && ratio[i] < 0.9) {
    mu++;
    if (ok) muTrue++;
  }
}
const pct = (a: number, b: number): string => (b ? ((100 * a) / b).toFixed(1) : '-') + '%';
console.log(JSON.stringify({ case: values.case ?? values.pair ?? `${values.image} ${values.angle}° about ${values.axis} + ${values.shift}${values.invert ? ' inverted' : ''}`, kind, rank: values.rank }));
console.log(`keypoints fixed ${kf.count} moving ${km.count}; described ${nf} / ${nm} (length ${L})`);
console.log(`repeatability (≤ ${radius} mm, scale within 2^±1/3): ${repeated}/${kf.count} = ${pct(repeated, kf.count)}; inside the moving field of view ${repeatedInFov}/${inFov} = ${pct(repeatedInFov, inFov)}`);
console.log(`NN matches true (≤ ${matchRadius} mm): ${nnTrue}/${nn} = ${pct(nnTrue, nn)}  [fixed keypoints with a true counterpart: ${possible}]`);
console.log(`ratio < 0.8: ${rtTrue}/${rt} = ${pct(rtTrue, rt)};  mutual NN + ratio < 0.9: ${muTrue}/${mu} = ${pct(muTrue, mu)}`);
console.log(`CPU s: detect ${tf.toFixed(2)} + ${tm.toFixed(2)}, describe ${tdf.toFixed(2)} + ${tdm.toFixed(2)}, brute-force match ${tmatch.toFixed(2)}`);

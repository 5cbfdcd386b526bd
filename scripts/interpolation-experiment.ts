// The interpolation experiment: rotate an image about its centre by a
// small angle forward and back N times, resampling at every step, and measure how far each interpolator drifts
// from the original (RMSE over a central disc that never leaves the image).
// Linear and barycentric low-pass the image at every step, so their error keeps growing; nearest neighbour moves
// pixels by up to half a pixel instead, and rounding forward then back returns most pixels to their own site, so
// its error plateaus after a few round trips (while looking jagged); cubic B-spline loses the least.
//
//   npm run interp-experiment [-- --angle 5 --radius 100 --image PATH]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { physicalCenter, indexToPhysical, type Image } from '../src/image/image.js';
import { Euler2DTransform } from '../src/transform/linear.js';
import { ensureFloat32, resample, type ResampleInterpolation } from '../src/resample/resample.js';
import { readImageFile } from '../src/io/node.js';

/** RMSE between two same-grid scalar images over pixels within `radius` mm of `centre`. */
function rmseInDisc(a: Image, b: Image, centre: readonly number[], radius: number): { rmse: number; count: number } {
  const [nx, ny] = a.size;
  const p = [0, 0];
  let sum = 0;
  let count = 0;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      indexToPhysical(a, [i, j], p);
      if (Math.hypot(p[0] - centre[0], p[1] - centre[1]) > radius) continue;
      const d = a.data[i + nx * j] - b.data[i + nx * j];
      sum += d * d;
      count++;
    }
  }
  return { rmse: Math.sqrt(sum / count), count };
}

const { values } = parseArgs({
  options: {
    angle: { type: 'string', default: '5' },
    radius: { type: 'string' },
    image: { type: 'string' },
  },
});
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const imagePath = values.image ?? join(repoRoot, '..', 'shared', 'data', 'itk', 'BrainProtonDensitySliceBorder20.mhd');
const angleDeg = Number(values.angle);
if (!Number.isFinite(angleDeg)) throw new Error(`--angle must be a number, got ${values.angle}`);

const original = ensureFloat32(readImageFile(imagePath));
if (original.dimension !== 2 || original.components !== 1) throw new Error(`${imagePath}: expected a 2D scalar image`);
const centre = physicalCenter(original);
// The largest disc about the centre inside the pixel-centre grid, less a margin for the widest (cubic) kernel:
// rotating about the centre keeps it inside, so no border or outside value ever reaches the measured region.
const inscribed = Math.min(...original.size.map((s, a) => ((s - 1) / 2) * original.spacing[a]));
const radius = values.radius !== undefined ? Number(values.radius) : inscribed - 3 * Math.max(...original.spacing);
const angle = (angleDeg * Math.PI) / 180;
function rotation(radians: number): Euler2DTransform {
  const t = new Euler2DTransform();
  t.setCenter(centre);
  t.setParameters([radians, 0, 0]);
  return t;
}
const forward = rotation(angle);
const back = rotation(-angle);

const kinds: ResampleInterpolation[] = ['nearest', 'linear', 'barycentric', 'bspline'];
const checkpoints = [1, 5, 10, 20];
const rows = new Map<number, string[]>();
const seconds: number[] = [];
let pixels = 0;
for (const kind of kinds) {
  let current: Image = original;
  const t0 = performance.now();
  for (let n = 1; n <= checkpoints[checkpoints.length - 1]; n++) {
    current = resample(current, original, forward, { interpolation: kind, outputType: 'float32' });
    current = resample(current, original, back, { interpolation: kind, outputType: 'float32' });
    if (checkpoints.includes(n)) {
      const { rmse, count } = rmseInDisc(current, original, centre, radius);
      pixels = count;
      if (!rows.has(n)) rows.set(n, []);
      rows.get(n)!.push(rmse.toFixed(3));
    }
  }
  seconds.push((performance.now() - t0) / 1000);
}

// Second reading of the experiment: N rotations forward, then N back (errors accumulate over 2N resamplings
// without intermediate cancellation).
const sequenceRows = new Map<number, string[]>();
for (const kind of kinds) {
  for (const n of checkpoints) {
    let current: Image = original;
    for (let k = 0; k < n; k++) current = resample(current, original, forward, { interpolation: kind, outputType: 'float32' });
    for (let k = 0; k < n; k++) current = resample(current, original, back, { interpolation: kind, outputType: 'float32' });
    if (!sequenceRows.has(n)) sequenceRows.set(n, []);
    sequenceRows.get(n)!.push(rmseInDisc(current, original, centre, radius).rmse.toFixed(3));
  }
}

console.log(`Image: ${imagePath} (${original.size.join('x')}), rotation ±${angleDeg}° about (${centre.map((c) => c.toFixed(1)).join(', ')}),`);
console.log(`RMSE (grey levels) against the original over the disc of radius ${radius.toFixed(1)} mm (${pixels} pixels).`);
console.log('');
console.log(`| forward+back pairs N | ${kinds.join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|`);
for (const n of checkpoints) console.log(`| ${n} | ${rows.get(n)!.join(' | ')} |`);
console.log(`| seconds for ${2 * checkpoints[checkpoints.length - 1]} resamplings | ${seconds.map((s) => s.toFixed(2)).join(' | ')} |`);
console.log('');
console.log(`| N forward, then N back | ${kinds.join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|`);
for (const n of checkpoints) console.log(`| ${n} | ${sequenceRows.get(n)!.join(' | ')} |`);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertArrayClose, assertClose } from '../helpers.js';
import { CoregError } from '../../src/errors.js';
import { createImage, indexToPhysical, numberOfPixels, physicalBoundingBox, type Image } from '../../src/image/image.js';
import {
  buildPyramid,
  defaultSchedule,
  gaussianSmooth,
  parseLevels,
  parseSmoothing,
  scheduleFromLevels,
  shrinkImage,
  shrinkMask,
  smoothAndShrink,
  shrunkGeometry,
} from '../../src/pyramid/index.js';
import { gaussianKernel, mirrorTable, smoothInPlace } from '../../src/pyramid/smooth.js';
import { float32Exact, shrinkPasses, shrinkPassUnits, smoothAndShrinkVoxels, type Float32Exact } from '../../src/pyramid/shrink.js';

/** Deterministic pseudo-random values in [0, 1). */
function fillRandom(img: Image, seed = 12345): void {
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    img.data[i] = s / 2147483648;
  }
}

function sum(data: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i];
  return s;
}

// Rotated 3D geometry with anisotropic spacing, used by several tests.
const c = Math.cos(0.3);
const s = Math.sin(0.3);
const rotated = { spacing: [0.8, 1.1, 2.5], origin: [-12, 30, 4], direction: [c, -s, 0, s, c, 0, 0, 0, 1] };

test('smoothing keeps a constant image constant and preserves the sum (mirrored edges)', () => {
  const img = createImage([9, 7, 5], 'int16', rotated);
  img.data.fill(42);
  const out = gaussianSmooth(img, [2, 3, 4]);
  assert.ok(out.data instanceof Float32Array);
  for (const v of out.data) assertClose(v, 42, 1e-4, 'constant');

  const noise = createImage([13, 6, 4], 'float32', rotated);
  fillRandom(noise);
  const smoothed = gaussianSmooth(noise, [1.5, 5, 6]); // kernels wider than the small axes
  assertClose(sum(smoothed.data), sum(noise.data), 1e-4 * sum(noise.data), 'sum');
  let spread = 0;
  for (let i = 1; i < smoothed.data.length; i++) spread = Math.max(spread, Math.abs(smoothed.data[i] - smoothed.data[0]));
  assert.ok(spread > 0, 'smoothing is not the identity');
});

test('a smoothed delta has variance σ² in mm along each axis, with anisotropic spacing', () => {
  const spacing = [0.5, 2];
  const img = createImage([81, 41], 'float32', { spacing, origin: [3, -7] });
  const centre = [40, 20];
  img.data[centre[0] + 81 * centre[1]] = 1;
  const sigma = [3, 4]; // 6 and 2 voxels
  const out = gaussianSmooth(img, sigma);
  const mass = sum(out.data);
  assertClose(mass, 1, 1e-6, 'mass');
  for (let axis = 0; axis < 2; axis++) {
    let mean = 0;
    let second = 0;
    for (let j = 0; j < 41; j++) {
      for (let i = 0; i < 81; i++) {
        const w = out.data[i + 81 * j];
        const x = ((axis === 0 ? i : j) - centre[axis]) * spacing[axis];
        mean += w * x;
        second += w * x * x;
      }
    }
    assertClose(mean, 0, 1e-6, `mean ${axis}`);
    assertClose(second, sigma[axis] ** 2, 0.005 * sigma[axis] ** 2, `variance ${axis}`);
  }
});

test('σ = 0 copies to float32; bad sigmas are CoregErrors', () => {
  const img = createImage([4, 3], 'uint8');
  img.data.forEach((_, i) => (img.data[i] = i * 7));
  const out = gaussianSmooth(img, 0);
  assert.ok(out.data instanceof Float32Array);
  assert.deepEqual(Array.from(out.data), Array.from(img.data));
  assert.throws(() => gaussianSmooth(img, [-1, 0]), CoregError);
  assert.throws(() => gaussianSmooth(img, [1, 1, 1]), CoregError);
});

test('shrink geometry: ITK size and spacing, and the pixel-edge box keeps its centre', () => {
  const img = createImage([12, 8, 3], 'float32', rotated); // axis 0: an odd margin, so a half-pixel shift
  const out = shrinkImage(img, [2, 3, 4]);
  assert.deepEqual(out.size, [6, 2, 1]);
  assertArrayClose(out.spacing, [1.6, 3.3, 10], 1e-12, 'spacing');
  assert.deepEqual(out.direction, img.direction);
  const a = physicalBoundingBox(img, true);
  const b = physicalBoundingBox(out, true);
  for (let k = 0; k < 3; k++) assertClose((a.min[k] + a.max[k]) / 2, (b.min[k] + b.max[k]) / 2, 1e-9, `centre ${k}`);
});

test('a linear ramp in physical space keeps its value at the new pixel centres', () => {
  const ramp = (p: ArrayLike<number>) => 0.3 * p[0] - 0.7 * p[1] + 0.2 * p[2] + 5;
  for (const size of [
    [12, 9, 7],
    [13, 10, 3],
  ]) {
    const img = createImage(size, 'float32', rotated);
    const p = [0, 0, 0];
    for (let k = 0; k < size[2]; k++)
      for (let j = 0; j < size[1]; j++)
        for (let i = 0; i < size[0]; i++) img.data[i + size[0] * (j + size[1] * k)] = ramp(indexToPhysical(img, [i, j, k], p));
    const out = shrinkImage(img, [3, 2, 4]); // odd margins, and an axis shorter than its factor
    for (let k = 0; k < out.size[2]; k++)
      for (let j = 0; j < out.size[1]; j++)
        for (let i = 0; i < out.size[0]; i++) {
          const v = out.data[i + out.size[0] * (j + out.size[1] * k)];
          assertClose(v, ramp(indexToPhysical(out, [i, j, k], p)), 1e-4, `ramp at ${i},${j},${k}`);
        }
  }
});

test('shrinking keeps interleaved vector components apart', () => {
  const img = createImage([6, 4], 'float32', { components: 2 });
  for (let i = 0; i < 24; i++) {
    img.data[2 * i] = 1;
    img.data[2 * i + 1] = -3;
  }
  const out = shrinkImage(img, [2, 2]);
  assert.equal(out.data.length, 3 * 2 * 2);
  for (let i = 0; i < 6; i++) assert.deepEqual([out.data[2 * i], out.data[2 * i + 1]], [1, -3]);
});

test('shrinkMask votes by majority, never blends labels and keeps the pixel type and geometry', () => {
  const mask = createImage([8, 6, 4], 'uint8', rotated);
  // Left half label 3, right half label 7, one z-slab of background.
  for (let k = 0; k < 4; k++)
    for (let j = 0; j < 6; j++)
      for (let i = 0; i < 8; i++) mask.data[i + 8 * (j + 6 * k)] = k === 3 ? 0 : i < 4 ? 3 : 7;
  // A single stray voxel is outvoted.
  mask.data[1 + 8 * (1 + 6 * 1)] = 9;
  const out = shrinkMask(mask, [2, 2, 2]);
  assert.ok(out.data instanceof Uint8Array);
  const geometry = shrinkImage(mask, [2, 2, 2]);
  assert.deepEqual([out.size, out.spacing, out.origin], [geometry.size, geometry.spacing, geometry.origin]);
  for (let k = 0; k < 2; k++)
    for (let j = 0; j < 3; j++)
      for (let i = 0; i < 4; i++) {
        // Block k = 1 holds slices 2 (labelled) and 3 (background): a tie, won by the larger value.
        assert.equal(out.data[i + 4 * (j + 3 * k)], i < 2 ? 3 : 7, `${i},${j},${k}`);
      }
  const background = createImage([4, 4], 'uint8');
  background.data[0] = 1;
  assert.deepEqual(Array.from(shrinkMask(background, [2, 2]).data), [0, 0, 0, 0]);
  // 2D masks vote too (a missing z factor once left every block empty).
  const square = createImage([4, 4], 'uint8');
  for (const v of [0, 1, 4, 5, 10, 11, 14]) square.data[v] = 255;
  assert.deepEqual(Array.from(shrinkMask(square, [2, 2]).data), [255, 0, 0, 255]);
});

test('default schedule: factors 2^(L−1−l) that respect small axes, σ = f/2 voxels, none at full resolution', () => {
  const img = createImage([256, 40, 5], 'uint8', { spacing: [0.5, 1, 3] });
  const s = defaultSchedule(img, 3);
  assert.deepEqual(s.shrink, [
    [4, 2, 1],
    [2, 2, 1],
    [1, 1, 1],
  ]);
  assert.deepEqual(s.sigmasMm, [
    [1, 1, 0],
    [0.5, 1, 0],
    [0, 0, 0],
  ]);
  const pyramid = buildPyramid(img, s);
  assert.deepEqual(
    pyramid.map((p) => p.size),
    [
      [64, 20, 5],
      [128, 20, 5],
      [256, 40, 5],
    ],
  );
  assert.throws(() => defaultSchedule(img, 0), CoregError);
});

test('buildPyramid smooths before shrinking and ends with the image itself', () => {
  const img = createImage([40, 36], 'uint16', { spacing: [1, 2] });
  fillRandom(img);
  for (let i = 0; i < img.data.length; i++) img.data[i] = Math.floor(img.data[i] * 1000);
  const levels = buildPyramid(img, { shrink: [[2, 2], [1, 1]], sigmasMm: [[1, 2], [0, 0]] });
  assert.deepEqual(Array.from(levels[1].data), Array.from(img.data));
  const expected = shrinkImage(gaussianSmooth(img, [1, 2]), [2, 2]);
  assert.deepEqual(Array.from(levels[0].data), Array.from(expected.data));
  assert.equal(numberOfPixels(levels[0]), 20 * 18);
  assert.throws(() => buildPyramid(img, { shrink: [[1, 1]], sigmasMm: [] }), CoregError);
});

test('CLI level lists: parsing, units and per-axis schedule', () => {
  assert.deepEqual(parseLevels('4x2x1'), [4, 2, 1]);
  assert.deepEqual(parseLevels('1.5x0'), [1.5, 0]);
  assert.deepEqual(parseLevels('200', '--iterations', true), [200]);
  for (const bad of ['', 'x', '4x', '4x-1', '4xa', '2 1']) {
    assert.throws(
      () => parseLevels(bad, '--shrink'),
      (e: unknown) => e instanceof CoregError && e.subject === '--shrink' && e.exitCode === 2,
      bad,
    );
  }
  assert.throws(() => parseLevels('1.5', '--iterations', true), CoregError);
  assert.deepEqual(parseSmoothing('2x1x0'), { sigmas: [2, 1, 0], unit: 'vox' });
  assert.deepEqual(parseSmoothing('2x1x0vox'), { sigmas: [2, 1, 0], unit: 'vox' });
  assert.deepEqual(parseSmoothing('4x2x0mm'), { sigmas: [4, 2, 0], unit: 'mm' });

  const img = createImage([128, 128, 6], 'uint8', { spacing: [0.5, 0.5, 4] });
  const vox = scheduleFromLevels(img, [4, 2, 1], [2, 1, 0]);
  assert.deepEqual(vox.shrink, [
    [4, 4, 1],
    [2, 2, 1],
    [1, 1, 1],
  ]);
  // Voxels of the original image; the thin axis is neither shrunk nor smoothed.
  assert.deepEqual(vox.sigmasMm, [
    [1, 1, 0],
    [0.5, 0.5, 0],
    [0, 0, 0],
  ]);
  const mm = scheduleFromLevels(img, [2, 1], [3, 1], 'mm');
  assert.deepEqual(mm.sigmasMm, [
    [3, 3, 0],
    [1, 1, 1],
  ]);
  assert.throws(() => scheduleFromLevels(img, [4, 2], [1]), (e: unknown) => e instanceof CoregError && e.subject === '--smooth' && e.exitCode === 2);
  assert.throws(() => scheduleFromLevels(img, [1.5], [1]), (e: unknown) => e instanceof CoregError && e.subject === '--shrink');
});

test('smoothAndShrink (axis by axis) equals gaussianSmooth then shrinkImage: 2D, 3D, vectors, odd and even factors', () => {
  const cases: { size: number[]; components: number; sigma: number[]; factors: number[]; spacing: number[] }[] = [
    { size: [37, 29, 23], components: 1, sigma: [2, 1.5, 0], factors: [4, 2, 1], spacing: [1, 1.2, 2] },
    { size: [40, 33, 17], components: 3, sigma: [1, 1, 3], factors: [3, 3, 2], spacing: [0.5, 0.5, 1.5] },
    { size: [64, 51], components: 1, sigma: [4, 0.7], factors: [8, 2], spacing: [1, 1] },
    { size: [9, 8, 5], components: 1, sigma: [0, 0, 0], factors: [2, 2, 2], spacing: [1, 1, 1] },
  ];
  for (const c of cases) {
    const img = createImage(c.size, 'int16', { spacing: c.spacing, components: c.components });
    for (let i = 0; i < img.data.length; i++) img.data[i] = Math.round(1000 * Math.sin(i * 0.37) + 300 * Math.cos(i * 0.011));
    const a = smoothAndShrink(img, c.sigma, c.factors);
    const b = shrinkImage(gaussianSmooth(img, c.sigma), c.factors);
    assert.deepEqual([a.size, a.spacing, a.origin], [b.size, b.spacing, b.origin]);
    let worst = 0;
    for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
    assert.ok(worst <= 1e-3, `${c.size.join('×')}: max difference ${worst} (values ~1000)`);
  }
});

/**
 * The two-step algorithm smoothAndShrink replaced (kept here as the reference): smooth the whole axis in place
 * (smoothInPlace, float32), then resample it linearly at start + f·j, axis by axis.
 */
function smoothThenResampleReference(img: Image, sigmasVoxels: number[], factors: number[]): Float32Array {
  const geometry = shrunkGeometry(img, factors);
  const d = img.dimension;
  const nc = img.components;
  let current = Float32Array.from(img.data as ArrayLike<number>);
  const size = img.size.slice();
  for (let a = 0; a < d; a++) {
    if (sigmasVoxels[a] > 0 && size[a] > 1) {
      const only = new Array<number>(d).fill(0);
      only[a] = sigmasVoxels[a];
      smoothInPlace(current, size, nc, only);
    }
    const outLength = geometry.size[a];
    if (outLength === size[a]) continue;
    let stride = 1;
    for (let b = 0; b < a; b++) stride *= size[b];
    const length = size[a];
    const blocks = numberOfPixels({ size }) / (stride * length);
    size[a] = outLength;
    const next = new Float32Array(numberOfPixels({ size }) * nc);
    for (let block = 0; block < blocks; block++) {
      for (let j = 0; j < outLength; j++) {
        const x = geometry.start[a] + factors[a] * j;
        const i0 = Math.min(Math.floor(x), length - 1);
        const w = x - i0;
        const i1 = w > 0 ? i0 + 1 : i0;
        for (let s = 0; s < stride; s++) {
          for (let c = 0; c < nc; c++) {
            const p = ((block * length + i0) * stride + s) * nc + c;
            const q = ((block * length + i1) * stride + s) * nc + c;
            next[((block * outLength + j) * stride + s) * nc + c] = (1 - w) * current[p] + w * current[q];
          }
        }
      }
    }
    current = next;
  }
  return current;
}

/** Whether smoothAndShrink folds the blend into its taps along some axis (every new centre halfway between two pixels). */
function blendsInTaps(img: Image, sigma: number[], factors: number[]): boolean {
  const g = shrunkGeometry(img, factors);
  return g.start.some((s, a) => sigma[a] > 0 && img.size[a] > 1 && g.size[a] !== img.size[a] && s % 1 === 0.5);
}

test('smoothAndShrink computes only the smoothed values it resamples: bit-identical to smoothing whole axes first (within float32 rounding where the blend is in the taps)', () => {
  const cases: { size: number[]; components: number; sigma: number[]; factors: number[]; type: 'int16' | 'float64' | 'float32' }[] = [
    { size: [37, 29, 23], components: 1, sigma: [2, 1.5, 0], factors: [4, 2, 1], type: 'int16' },
    { size: [40, 33, 17], components: 3, sigma: [1, 1, 3], factors: [3, 3, 2], type: 'float32' },
    { size: [64, 51], components: 1, sigma: [4, 0.7], factors: [8, 2], type: 'float64' },
    { size: [45, 54, 45], components: 1, sigma: [2, 2, 2], factors: [4, 4, 4], type: 'int16' },
    { size: [90, 109, 91], components: 1, sigma: [1, 1, 1], factors: [2, 2, 2], type: 'float32' },
    // a short axis (the kernel is longer than the line: the mirror wraps), an axis of length 1, σ without shrink
    { size: [6, 1, 40], components: 2, sigma: [3, 2, 1.3], factors: [2, 1, 1], type: 'float32' },
    { size: [9, 8, 5], components: 1, sigma: [0, 0, 0], factors: [2, 2, 2], type: 'int16' },
  ];
  for (const c of cases) {
    const img = createImage(c.size, c.type, { components: c.components });
    for (let i = 0; i < img.data.length; i++) img.data[i] = Math.round(1000 * Math.sin(i * 0.37) + 300 * Math.cos(i * 0.011)) + (c.type === 'int16' ? 0 : Math.sin(i) / 3);
    const a = smoothAndShrink(img, c.sigma, c.factors);
    const b = smoothThenResampleReference(img, c.sigma, c.factors);
    const name = `${c.size.join('×')} σ ${c.sigma.join(',')} f ${c.factors.join(',')}`;
    assert.equal(a.data.length, b.length, name);
    if (blendsInTaps(img, c.sigma, c.factors)) {
      // one float32 rounding instead of the reference's three per axis: a few float32 steps of the values (~1300)
      let worst = 0;
      for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b[i]));
      assert.ok(worst <= 8 * 2 ** -13, `${name}: max difference ${worst}`);
    } else {
      assert.deepEqual(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), new Uint8Array(b.buffer), name);
    }
    assert.notEqual(a.data, img.data, 'a new array, never the input');
  }
});

test('smoothAndShrink with every new centre halfway between pixels: the exact blend of the two Gaussian sums, rounded once', () => {
  // one axis at a time (σ 0 and factor 1 on the other), along x (contiguous lines) and y (strided rows), 1 and 2
  // components; sizes whose centred shrunk grids fall halfway between input pixels, the kernel longer than some lines
  const cases = [
    { n: 64, f: 2, sigma: 1.3, axis: 0, nc: 1 },
    { n: 64, f: 4, sigma: 2, axis: 1, nc: 1 },
    { n: 40, f: 3, sigma: 1, axis: 0, nc: 2 },
    { n: 12, f: 2, sigma: 3, axis: 1, nc: 2 },
    { n: 10, f: 2, sigma: 2.5, axis: 0, nc: 1 },
  ];
  for (const c of cases) {
    const other = 7;
    const size = c.axis === 0 ? [c.n, other] : [other, c.n];
    const img = createImage(size, 'float32', { components: c.nc });
    for (let i = 0; i < img.data.length; i++) img.data[i] = 1000 * Math.sin(i * 0.37) + 300 * Math.cos(i * 0.011);
    const sigma = c.axis === 0 ? [c.sigma, 0] : [0, c.sigma];
    const factors = c.axis === 0 ? [c.f, 1] : [1, c.f];
    assert.ok(blendsInTaps(img, sigma, factors), `${c.n}/${c.f}: the case has half-voxel centres`);
    const out = smoothAndShrink(img, sigma, factors);
    const g = shrunkGeometry(img, factors);
    const kernel = gaussianKernel(c.sigma);
    const r = (kernel.length - 1) >> 1;
    const mirror = mirrorTable(c.n, r);
    let worst = 0;
    for (let q = 0; q < other; q++) {
      for (let j = 0; j < g.size[c.axis]; j++) {
        for (let comp = 0; comp < c.nc; comp++) {
          const at = (p: number): number => (c.axis === 0 ? img.data[(q * c.n + p) * c.nc + comp] : img.data[(p * other + q) * c.nc + comp]);
          const gauss = (p: number): number => {
            let s = 0;
            for (let k = -r; k <= r; k++) s += kernel[k + r] * at(mirror[p + k + r]);
            return s;
          };
          const x = g.start[c.axis] + c.f * j;
          const i0 = Math.floor(x);
          const exact = 0.5 * gauss(i0) + 0.5 * gauss(i0 + 1);
          const got = c.axis === 0 ? out.data[(q * g.size[0] + j) * c.nc + comp] : out.data[(j * other + q) * c.nc + comp];
          // within half a float32 step of the exact value (2^-24 relative), plus float64 summation noise
          const err = Math.abs(got - exact) / (Math.abs(exact) * 2 ** -24 + 1e-9);
          worst = Math.max(worst, err);
        }
      }
    }
    assert.ok(worst <= 1.001, `${c.n}/${c.f} axis ${c.axis}: ${worst} half-steps of float32 from the exact blend`);
  }
});

test('smoothInPlace is the per-sample sum over the mirrored line, axis by axis, bit for bit (lines and rows of any length)', () => {
  const cases = [
    { size: [13, 11, 7], nc: 3, sigma: [1.2, 0.8, 2] },
    { size: [300, 5], nc: 1, sigma: [0, 1.5] },
    { size: [6, 9], nc: 2, sigma: [2.5, 0.6] },
  ];
  for (const c of cases) {
    const n = c.size.reduce((a, b) => a * b, 1) * c.nc;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = 1000 * Math.sin(i * 0.37) + 300 * Math.cos(i * 0.011);
    // the reference: every output of every axis summed alone, centre tap first, then the pairs k and 2r − k
    let ref = data.slice();
    let stride = 1;
    for (let a = 0; a < c.size.length; a++) {
      const length = c.size[a];
      if (c.sigma[a] > 0 && length > 1) {
        const kernel = gaussianKernel(c.sigma[a]);
        const r = (kernel.length - 1) >> 1;
        const mirror = mirrorTable(length, r);
        const next = new Float32Array(n);
        const blocks = n / c.nc / (stride * length);
        for (let b = 0; b < blocks; b++) {
          for (let s = 0; s < stride; s++) {
            for (let comp = 0; comp < c.nc; comp++) {
              const at = (p: number): number => ref[((b * length + p) * stride + s) * c.nc + comp];
              for (let t = 0; t < length; t++) {
                let sum = kernel[r] * at(t);
                for (let k = 0; k < r; k++) sum += kernel[k] * (at(mirror[t + k]) + at(mirror[t + 2 * r - k]));
                next[((b * length + t) * stride + s) * c.nc + comp] = sum;
              }
            }
          }
        }
        ref = next;
      }
      stride *= length;
    }
    const got = data.slice();
    smoothInPlace(got, c.size, c.nc, c.sigma);
    assert.deepEqual(new Uint8Array(got.buffer), new Uint8Array(ref.buffer), `${c.size.join('×')}×${c.nc}`);
  }
});

test('smoothAndShrinkVoxels in 3D: the passes within slices slab by slab give the bits of whole-image passes', () => {
  const cases: { size: number[]; type: 'float32' | 'uint8' | 'int16'; sigmas: number[]; factors: number[] }[] = [
    { size: [23, 17, 13], type: 'float32', sigmas: [1, 1, 1], factors: [2, 2, 2] },
    { size: [20, 18, 9], type: 'uint8', sigmas: [2, 2, 2], factors: [4, 4, 4] },
    { size: [16, 11, 7], type: 'int16', sigmas: [1.5, 0, 1], factors: [2, 1, 3] },
    { size: [12, 10, 6], type: 'float32', sigmas: [0, 1, 0], factors: [1, 2, 2] },
    { size: [9, 8, 5], type: 'float32', sigmas: [0, 0, 2], factors: [1, 1, 2] },
  ];
  for (const c of cases) {
    const img = createImage(c.size, c.type, { spacing: [1, 1.2, 0.8] });
    let s = 99;
    for (let i = 0; i < img.data.length; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      img.data[i] = c.type === 'float32' ? s / 2147483648 : (s >>> 8) % (c.type === 'uint8' ? 256 : 3000);
    }
    // the reference: every pass over the whole image, into whole-image buffers
    const passes = shrinkPasses(img.size, 1, c.sigmas, shrunkGeometry(img, c.factors), c.factors);
    let current: Float32Exact = float32Exact(img.data);
    for (const pass of passes) {
      const next = new Float32Array(pass.outputLength);
      shrinkPassUnits(current, next, pass, 0, pass.units);
      current = next;
    }
    const got = smoothAndShrinkVoxels(img, c.sigmas, c.factors).data;
    assert.equal(got.length, current.length);
    assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(Float32Array.from(current).buffer)), `${c.size} σ ${c.sigmas} f ${c.factors}`);
  }
});

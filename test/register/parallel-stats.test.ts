// register's preparation on its team (issue 13, the linear path's thread scaling): the image statistics of
// src/register/parallel-stats.ts and input-stats.ts, and the level samples of parallel-sampling.ts. Each must give
// the same numbers on 1, 2 and 3 threads (and without a team), and the same as the one-thread reference functions
// they replace (exactly; the foreground centre, whose sums are merged per block, to rounding).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image, type PixelArray } from '../../src/image/image.js';
import { guessModality, integralStride, otsuLevels, quantiles } from '../../src/image/intensity.js';
import type { Team } from '../../src/parallel/team.js';
import { valueRange } from '../../src/register/check-images.js';
import { inputStatistics, levelRanges } from '../../src/register/input-stats.js';
import { shareArray } from '../../src/register/parallel-for.js';
import { drawSamplesOn } from '../../src/register/parallel-sampling.js';
import { ArrayStats } from '../../src/register/parallel-stats.js';
import { robustRange } from '../../src/register/preset.js';
import { foregroundCenter } from '../../src/transform/initialize.js';
import { linear3d } from '../../src/interpolate/kernels.js';
import { createRandom } from '../../src/random.js';
import { estimateScalesFromPhysicalShift } from '../../src/register/scales.js';
import { createTransform } from '../../src/transform/linear.js';
import type { ParametricTransform } from '../../src/transform/transform.js';
import { teamCache } from './team-cache.js';

const cached = teamCache();
const team = (threads: number): Team | undefined => (threads === 0 ? undefined : cached(threads));
/** No team, then 1, 2 and 3 threads. */
const THREADS = [0, 1, 2, 3];

function bits(values: ArrayLike<number>): number[] {
  return Array.from(new Uint32Array(Float64Array.from(values).buffer));
}

/** A head-like volume: background zeros, a bright blob, noise; a few NaN/∞ when asked. */
function volume(size: number[], kind: 'float' | 'uint8' | 'int16', seed: number): Image {
  const d = size.length;
  const img = createImage(size, kind === 'float' ? 'float32' : kind, { spacing: [1.1, 0.9, 1.3].slice(0, d), origin: [3, -2, 5].slice(0, d) });
  const r = createRandom(seed);
  const [nx, ny] = size;
  const nz = d === 3 ? size[2] : 1;
  let n = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, n++) {
        const d2 = ((i - nx * 0.55) / (nx * 0.3)) ** 2 + ((j - ny * 0.45) / (ny * 0.35)) ** 2 + (d === 3 ? ((k - nz * 0.5) / (nz * 0.3)) ** 2 : 0);
        const inside = d2 < 1;
        const v = inside ? 80 + 40 * Math.sin(0.3 * i) * Math.cos(0.2 * j) + 10 * r() : r() < 0.1 ? 3 * r() : 0;
        img.data[n] = kind === 'int16' ? Math.round(v * 20 - 1000) : kind === 'uint8' ? Math.round(v) : v;
      }
    }
  }
  return img;
}

const QS = [0, 0.001, 0.005, 0.01, 0.5, 0.99, 0.995, 0.999, 1];

test('ArrayStats: valueRange, quantiles and Otsu of quantiles()/otsuLevels exactly, the same on every thread count', async () => {
  const arrays: PixelArray[] = [
    volume([70, 64, 60], 'float', 1).data, // 268 800 values: stride 1, several blocks
    volume([140, 128, 60], 'float', 2).data, // > 400 000: strided subset
    volume([90, 80, 70], 'uint8', 3).data, // ties everywhere
    volume([80, 70, 60], 'int16', 4).data,
  ];
  const withBad = Float32Array.from(arrays[0] as Float32Array);
  withBad[5] = NaN;
  withBad[70_000] = Infinity;
  withBad[200_000] = -Infinity;
  arrays.push(withBad);
  arrays.push(new Float64Array(1000).fill(7)); // constant
  const reference = arrays.map((a) => ({ range: valueRange(a), q: quantiles(a, QS), otsu: otsuLevels(a) }));
  let first: string | null = null;
  for (const threads of THREADS) {
    const t = team(threads);
    const shared = arrays.map((a) => (t ? shareArray(a as Float32Array) : a));
    const stats = await ArrayStats.open(t, shared, { quantiles: arrays.map(() => [...QS, 0.001, 0.999]) });
    try {
      const ranges = stats.range();
      const q = stats.quantiles();
      const otsu = stats.otsu(q.map((v) => (v ? ([v[QS.length], v[QS.length + 1]] as [number, number]) : null)));
      arrays.forEach((_, a) => {
        const ref = reference[a];
        if (ref.range === null) assert.equal(ranges[a].range, null);
        else {
          assert.equal(ranges[a].range!.nonFinite, ref.range.nonFinite, `array ${a} nonFinite`);
          assert.equal(ranges[a].range!.min === ranges[a].range!.max, ref.range.min === ref.range.max, `array ${a} constant`);
          if (a !== 2 && a !== 3) assert.deepEqual([ranges[a].range!.min, ranges[a].range!.max], [ref.range.min, ref.range.max], `array ${a} range`);
        }
        assert.deepEqual(bits(q[a]!.slice(0, QS.length)), bits(ref.q!), `array ${a} quantiles, ${threads} threads`);
        assert.deepEqual(otsu[a], ref.otsu, `array ${a} Otsu, ${threads} threads`);
      });
      const key = JSON.stringify({ ranges, q, otsu });
      if (first === null) first = key;
      assert.equal(key, first, `${threads} threads`);
    } finally {
      stats.close();
    }
  }
});

test('ArrayStats on the integer arrays: the true min and max (valueRange stops at the first differing value)', async () => {
  const a = volume([60, 50, 40], 'int16', 9).data;
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const stats = await ArrayStats.open(undefined, [a]);
  assert.deepEqual(stats.range()[0].range, { min, max, nonFinite: false });
  assert.deepEqual(stats.quantiles(), [[]]);
  stats.close();
});

test('ArrayStats.range per element kind, with NaN and ±∞ in some blocks only: finite min/max, nonFinite and the integer check as a direct pass', async () => {
  // 4 blocks of 65 536 values per array (statsBlockSize); 'all': block 1 holds NaN, block 2 −∞ and +∞, block 3 only
  // NaN; 'inf': −∞ and +∞ in block 2 only
  const n = 4 * 65_536;
  const r = createRandom(21);
  const make = (kind: 'uint8' | 'int16' | 'float32' | 'float64', bad: 'none' | 'all' | 'inf', fraction: boolean): PixelArray => {
    const a = kind === 'uint8' ? new Uint8Array(n) : kind === 'int16' ? new Int16Array(n) : kind === 'float32' ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = kind === 'uint8' ? 255 * r() : kind === 'int16' ? 3000 * r() - 1000 : 500 * r() - 100;
      a[i] = fraction ? v : Math.round(v);
    }
    if (bad !== 'none') {
      a[2 * 65_536 + 5] = -Infinity;
      a[2 * 65_536 + 900] = Infinity;
    }
    if (bad === 'all') {
      a[65_536 + 17] = NaN;
      a.fill(NaN, 3 * 65_536);
    }
    return a;
  };
  const arrays = [make('uint8', 'none', false), make('int16', 'none', false), make('float32', 'all', true), make('float64', 'all', false), make('float32', 'none', false), make('float64', 'none', true), make('float32', 'inf', true)];
  // the direct pass: every finite value's min and max, whether any is not finite, every finite value at the stride an integer
  const direct = (a: PixelArray) => {
    let min = Infinity;
    let max = -Infinity;
    let nonFinite = false;
    for (const v of a) {
      if (!Number.isFinite(v)) nonFinite = true;
      else {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
    let integral = true;
    for (let i = 0; i < a.length; i += integralStride(a.length)) if (Number.isFinite(a[i]) && a[i] !== Math.round(a[i])) integral = false;
    return { range: { min, max, nonFinite }, integral };
  };
  for (const threads of [0, 2]) {
    const t = team(threads);
    const stats = await ArrayStats.open(t, arrays.map((a) => (t ? shareArray(a as Float32Array) : a)));
    try {
      const ranges = stats.range();
      arrays.forEach((a, k) => assert.deepEqual(ranges[k], direct(a), `array ${k} (${a.constructor.name}), ${threads} threads`));
    } finally {
      stats.close();
    }
  }
  // guard: the arrays do cover both answers of each check
  assert.deepEqual(
    arrays.map((a) => [direct(a).range.nonFinite, direct(a).integral]),
    [
      [false, true],
      [false, true],
      [true, false],
      [true, true],
      [false, true],
      [false, false],
      [true, false],
    ],
  );
});

test('inputStatistics: modality guesses as guessModality, foreground centres as foregroundCenter (to rounding), on every thread count, 2D and 3D', async () => {
  const fixed = volume([72, 66, 58], 'uint8', 5);
  const moving = volume([64, 70, 60], 'float', 6);
  const ct = volume([60, 60, 50], 'int16', 7);
  // 2D: one block of the statistics (as one slice of a 3D image), and several
  const slice = volume([210, 190], 'uint8', 9);
  const wide = volume([320, 290], 'float', 10);
  for (const [f, m] of [
    [fixed, moving],
    [ct, moving],
    [slice, wide],
  ]) {
    const refCentres = [foregroundCenter(f, undefined, 'fixed image'), foregroundCenter(m, undefined, 'moving image')];
    let first: string | null = null;
    for (const threads of THREADS) {
      const t = team(threads);
      const arrays = { fixed: t ? shareArray(f.data as Float32Array) : f.data, moving: t ? shareArray(m.data as Float32Array) : m.data };
      const cache = new Map();
      const s = await inputStatistics(t, f, m, arrays, { stages: [{ transform: 'affine', metric: 'mi' }] }, {}, cache);
      assert.deepEqual(s.guesses, { fixed: guessModality(f), moving: guessModality(m) });
      const centres = [s.centers!.fixed!, s.centers!.moving!];
      centres.forEach((c) => assert.equal(c.length, f.dimension));
      centres.forEach((c, i) => c.forEach((x, a) => assert.ok(Math.abs(x - refCentres[i][a]) <= 1e-9 * (1 + Math.abs(x)), `centre ${i} axis ${a}: ${x} vs ${refCentres[i][a]}`)));
      // the moving image's winsorising quantiles are kept for the full-resolution level
      const known = cache.get(m.data)!;
      const ref = quantiles(m.data, [0.005, 0.995])!;
      assert.deepEqual([known.get(0.005), known.get(0.995)], ref);
      const key = JSON.stringify(bits(centres.flat()));
      if (first === null) first = key;
      assert.equal(key, first, `${threads} threads`);
    }
  }
});

test('inputStatistics: the one-thread checks\' errors (constant image, NaN)', async () => {
  const fixed = volume([40, 40, 30], 'float', 8);
  const constant = createImage([40, 40, 30], 'float32');
  constant.data.fill(3);
  const nan = volume([40, 40, 30], 'float', 8);
  nan.data[100] = NaN;
  for (const threads of [0, 2]) {
    const t = team(threads);
    const run = (m: Image) => inputStatistics(t, fixed, m, { fixed: t ? shareArray(fixed.data as Float32Array) : fixed.data, moving: t ? shareArray(m.data as Float32Array) : m.data }, { stages: [{ transform: 'affine', metric: 'mi' }] }, {}, new Map());
    const subject = (e: unknown) => (e as { subject?: string }).subject;
    await assert.rejects(run(constant), (e: Error) => subject(e) === 'moving' && /constant \(all pixels 3\)/.test(e.message));
    await assert.rejects(run(nan), (e: Error) => subject(e) === 'moving' && /NaN or infinite/.test(e.message));
  }
});

test('levelRanges: robustRange of the samples and of the moving level image, on every thread count', async () => {
  const values = Float64Array.from(volume([60, 55, 50], 'float', 10).data);
  // (≥ 2^22 values in all: on the team; fewer in the calling thread)
  for (const moving of [volume([70, 64, 60], 'float', 11).data, volume([170, 160, 155], 'float', 12).data])
  for (const q of [
    { fixed: [0.005, 0.995] as [number, number], moving: [0.005, 0.99] as [number, number] },
    { fixed: null, moving: null },
  ]) {
    const ref = { fullFixed: robustRange(values, null), fixedRange: robustRange(values, q.fixed), movingRange: robustRange(moving, q.moving) };
    for (const threads of THREADS) {
      const r = await levelRanges(team(threads), values, moving, q, new Map());
      assert.deepEqual(r, ref, `${JSON.stringify(q)}, ${threads} threads`);
    }
  }
});

test('drawSamplesOn: the same samples on every thread count, one per stratum, inside their voxels, values interpolated there', async () => {
  // (the largest: ≥ 2^19 samples, drawn on the team; fewer in the calling thread)
  for (const [[nx, ny, nz], counts] of [
    [[50, 44, 40], [70_000, 88_000]],
    [[84, 80, 80], [537_600]],
  ] as const) {
    const fixed = volume([nx, ny, nz], 'uint8', 12);
    const plane = Float32Array.from(fixed.data);
    const n = nx * ny * nz;
    for (const count of counts) {
      let first: { points: number[]; values: number[]; voxels: number[] } | null = null;
      for (const threads of THREADS) {
        const t = team(threads);
        const s = await drawSamplesOn(t, fixed, t ? shareArray(plane) : plane, count, 77);
        const got = { points: bits(s.points), values: bits(s.values), voxels: Array.from(s.voxels) };
        if (first === null) {
          first = got;
          assert.equal(s.count, count);
          for (let i = 0; i < count; i++) {
            const v = s.voxels[i];
            // sample i's voxel rank lies in its stratum [n·i/count, n·(i+1)/count)
            assert.ok(v >= Math.floor((n * i) / count) && v <= Math.floor((n * (i + 1)) / count), `sample ${i}: voxel ${v}`);
            const ix = v % nx;
            const iy = Math.floor(v / nx) % ny;
            const iz = Math.floor(v / (nx * ny));
            // identity direction: index = (p − origin) / spacing, within half a voxel of the voxel's centre
            const c = [0, 1, 2].map((a) => (s.points[3 * i + a] - fixed.origin[a]) / fixed.spacing[a]);
            assert.ok(Math.abs(c[0] - ix) <= 0.5 + 1e-9 && Math.abs(c[1] - iy) <= 0.5 + 1e-9 && Math.abs(c[2] - iz) <= 0.5 + 1e-9, `sample ${i} outside its voxel`);
            if (i % 997 === 0) assert.ok(Math.abs(s.values[i] - linear3d(plane, nx, ny, nz, c[0], c[1], c[2])) <= 1e-9, `value of sample ${i}`);
          }
          if (count === n) assert.deepEqual(got.voxels, Array.from({ length: n }, (_, i) => i));
        } else {
          assert.deepEqual(got, first, `${count} samples, ${threads} threads`);
        }
      }
    }
  }
});

test('estimateScalesFromPhysicalShift: the matrix–offset fast path gives the generic transformPoint loop\'s numbers bit for bit', () => {
  const r = createRandom(5);
  for (const kind of ['rigid', 'similarity', 'affine', 'translation'] as const) {
    for (const d of [2, 3] as const) {
      const t = createTransform(kind, d);
      t.setCenter(Array.from({ length: d }, () => 10 * r()));
      t.setParameters(Array.from(t.parameters, (p) => p + 0.1 * (r() - 0.5)));
      const points = Float64Array.from({ length: 300 * d }, () => 100 * r() - 50);
      // the same transform behind an object that is not a MatrixOffsetTransform: the generic path
      const hide = (x: ParametricTransform): ParametricTransform =>
        ({
          kind: 'hidden',
          dimension: x.dimension,
          numberOfParameters: x.numberOfParameters,
          get parameters() {
            return x.parameters;
          },
          setParameters: (p: ArrayLike<number>) => x.setParameters(p),
          transformPoint: (p: ArrayLike<number>, out: Float64Array | number[]) => x.transformPoint(p, out),
          clone: () => hide(x.clone() as ParametricTransform),
        }) as unknown as ParametricTransform;
      assert.deepEqual(bits(estimateScalesFromPhysicalShift(t, points)), bits(estimateScalesFromPhysicalShift(hide(t), points)), `${kind} ${d}D`);
    }
  }
});

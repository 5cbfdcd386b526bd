// register's output resampling on a team of threads (src/register/parallel-resample.ts): warped and
// inverse-warped images are bit-identical for 1, 2 and 3 threads (and without a team), for a linear chain, a
// B-spline chain (the separable slice evaluator) and the numerically inverted B-spline chain (a displacement
// field), 2D and 3D, and they are resample()'s pixels; also when made in a recycled shared memory (a scratch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import { MIN_PARALLEL_VOXELS, resampleOn } from '../../src/register/parallel-resample.js';
import { resample } from '../../src/resample/resample.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { invertChain } from '../../src/transform/inverse.js';
import { invertChainOn } from '../../src/register/parallel-invert.js';
import type { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import type { Transform } from '../../src/transform/transform.js';
import { imageFromFunction, scene2d, scene3d } from './synthetic.js';
import { teamCache } from './team-cache.js';
import { ARENA_BASE, KernelArena } from '../../src/wasm/kernels.js';

const team = teamCache();

function bytes(img: Image): Uint8Array {
  const d = img.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

function chains(fixed: Image): { linear: Transform[]; bspline: Transform[] } {
  const d = fixed.dimension as 2 | 3;
  const a = new AffineTransform(d);
  const m = d === 2 ? [1.02, 0.05, -0.03, 0.98] : [1.02, 0.05, 0, -0.03, 0.98, 0.02, 0.01, 0, 1.01];
  a.fitMapping(m, d === 2 ? [1.5, -0.7] : [1.5, -0.7, 0.4]);
  const b = createBSplineTransformForImage(fixed, 12);
  const p = new Float64Array(b.numberOfParameters);
  for (let i = 0; i < p.length; i++) p[i] = 1.2 * Math.sin(0.7 * i + 0.3);
  b.setParameters(p);
  return { linear: [a], bspline: [b, a] };
}

for (const d of [2, 3] as const) {
  test(`resampleOn ${d}D: bit-identical for 1, 2, 3 threads; linear and B-spline chains and the B-spline inverse; = resample()`, async () => {
    const fixed =
      d === 2
        ? imageFromFunction({ size: [600, 500], spacing: [0.11, 0.13], origin: [-3, 2] }, scene2d)
        : imageFromFunction({ size: [70, 64, 60], spacing: [0.5, 0.45, 0.5], origin: [-2, 1, 0.5] }, scene3d);
    const moving = imageFromFunction(d === 2 ? { size: [560, 520], spacing: [0.12, 0.12], origin: [-1, 0] } : { size: [66, 68, 62], spacing: [0.5, 0.5, 0.5], origin: [0, 0, 0] }, d === 2 ? scene2d : scene3d);
    const { linear, bspline } = chains(fixed);
    assert.ok(fixed.data.length >= MIN_PARALLEL_VOXELS && moving.data.length >= MIN_PARALLEL_VOXELS, 'large enough to run on the team');
    const cases: [string, Image, Image, Transform[]][] = [
      ['linear', moving, fixed, linear],
      ['bspline', moving, fixed, bspline],
      ['bspline inverse', fixed, moving, invertChain(bspline).transforms],
    ];
    for (const [name, src, ref, chain] of cases) {
      const opts = { interpolation: 'linear' as const, outputType: 'float32' as const };
      const serial = await resampleOn(undefined, src, ref, chain, opts);
      const plain = resample(src, ref, chain, opts);
      const a = serial.data as Float32Array;
      const b = plain.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      assert.ok(worst <= 1e-4, `${name}: differs from resample() by ${worst}`);
      assert.ok(a.some((v) => v !== 0), `${name}: empty image`);
      for (const threads of [1, 2, 3]) {
        const t = await resampleOn(team(threads), src, ref, chain, opts);
        assert.deepEqual(bytes(t), bytes(serial), `${name}: ${threads} threads`);
        assert.deepEqual(t.size, ref.size);
      }
    }
    assert.ok(team(2).helperBlocks > 0, 'the helpers did no block');
  });
}

test('resampleOn on a team into a scratch (a reset kernel arena, as coreg register passes it): the same pixels, in the arena', async () => {
  const fixed = imageFromFunction({ size: [70, 64, 60], spacing: [0.5, 0.45, 0.5], origin: [-2, 1, 0.5] }, scene3d);
  const moving = imageFromFunction({ size: [66, 68, 62], spacing: [0.5, 0.5, 0.5], origin: [0, 0, 0] }, scene3d);
  // an integer moving image: its float plane goes to the scratch too
  const bytesMoving: Image = { ...moving, data: Uint8Array.from(moving.data as Float32Array, (v) => Math.max(0, Math.min(255, Math.round(v)))) };
  const arena = KernelArena.create();
  assert.ok(arena, 'a shared WebAssembly memory');
  // what the last kernels left in the arena's pages: the scratch's arrays must not show it
  arena.f64(arena.alloc(8 * 2 ** 20), 2 ** 20).fill(7.5);
  let resets = 0;
  const scratch = {
    bytes: (n: number) => new Uint8Array(arena.memory.buffer, arena.alloc(n), n),
    reset: () => {
      resets++;
      assert.ok(arena.reset());
    },
  };
  scratch.reset();
  const opts = { interpolation: 'linear' as const, outputType: 'float32' as const };
  const { linear, bspline } = chains(fixed);
  for (const [src, chain] of [
    [moving, linear],
    [bytesMoving, bspline],
  ] as const) {
    const expected = await resampleOn(team(2), src, fixed, chain, opts);
    scratch.reset();
    const made = await resampleOn(team(2), src, fixed, chain, opts, scratch);
    assert.deepEqual(bytes(made), bytes(expected));
    const data = made.data as Float32Array;
    assert.equal(data.buffer.byteLength, arena.memory.buffer.byteLength, 'the pixels are in the arena');
    assert.ok(data.byteOffset >= ARENA_BASE);
  }
  assert.equal(resets, 3);
});

for (const d of [2, 3] as const) {
  test(`invertChainOn ${d}D: the B-spline chain's numeric inverse (field and residual report) is invertChain's, bit for bit, on 2 and 3 threads`, async () => {
    const fixed =
      d === 2
        ? imageFromFunction({ size: [80, 70], spacing: [1, 1], origin: [-3, 2] }, scene2d)
        : imageFromFunction({ size: [30, 28, 26], spacing: [1.1, 1, 1.2], origin: [-2, 1, 0.5] }, scene3d);
    const { bspline } = chains(fixed);
    const serial = invertChain(bspline);
    assert.equal(serial.numeric.length, 1);
    for (const threads of [2, 3]) {
      const t = await invertChainOn(team(threads), bspline);
      assert.deepEqual(t.numeric, serial.numeric, `report, ${threads} threads`);
      assert.equal(t.transforms.length, serial.transforms.length);
      const a = (t.transforms[1] as DisplacementFieldTransform).field;
      const b = (serial.transforms[1] as DisplacementFieldTransform).field;
      assert.deepEqual(a.size, b.size);
      assert.deepEqual(bytes(a), bytes(b), `field, ${threads} threads`);
      const p = [1, 2, 3].slice(0, d);
      const [qa, qb] = [new Float64Array(d), new Float64Array(d)];
      t.transforms[0].transformPoint(p, qa);
      serial.transforms[0].transformPoint(p, qb);
      assert.deepEqual(Array.from(qa), Array.from(qb), 'the linear part');
    }
    assert.ok(Number.isFinite(serial.numeric[0].meanResidual) && (serial.transforms[1] as DisplacementFieldTransform).field.data.some((v) => v !== 0));
  });
}

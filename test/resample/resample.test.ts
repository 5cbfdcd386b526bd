import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, indexToPhysical, type Image, gridOf } from '../../src/image/image.js';
import { CoregError } from '../../src/errors.js';
import type { LinearTransform, Transform } from '../../src/transform/transform.js';
import { ensureFloat32, resample, type ResampleInterpolation } from '../../src/resample/index.js';
import { composeLinear } from '../../src/transform/linear.js';
import { assertClose } from '../helpers.js';

/** x ↦ A·x + t (a local stand-in for the real transform classes). */
class Affine implements LinearTransform {
  readonly kind = 'affine';
  constructor(
    readonly dimension: 2 | 3,
    private readonly a: number[],
    private readonly t: number[],
  ) {}
  matrix(): Float64Array {
    return Float64Array.from(this.a);
  }
  offset(): Float64Array {
    return Float64Array.from(this.t);
  }
  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    const d = this.dimension;
    for (let r = 0; r < d; r++) {
      let s = this.t[r];
      for (let c = 0; c < d; c++) s += this.a[r * d + c] * p[c];
      out[r] = s;
    }
  }
}

function translation(t: number[]): Affine {
  const d = t.length as 2 | 3;
  const a = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) a[i * d + i] = 1;
  return new Affine(d, a, t);
}

/** Rotation by `angle` about `centre` (2D), or about the z axis through `centre` (3D). */
function rotation(angle: number, centre: number[]): Affine {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const d = centre.length as 2 | 3;
  const a = d === 2 ? [c, -s, s, c] : [c, -s, 0, s, c, 0, 0, 0, 1];
  const t = centre.map((x, r) => x - a.slice(r * d, r * d + d).reduce((acc, m, k) => acc + m * centre[k], 0));
  return new Affine(d, a, t);
}

/** Hides matrix()/offset() so that resample takes its generic per-voxel path. */
class Opaque implements Transform {
  readonly kind = 'opaque';
  readonly dimension: 2 | 3;
  constructor(private readonly inner: Transform) {
    this.dimension = inner.dimension;
  }
  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    this.inner.transformPoint(p, out);
  }
}

/** A smooth non-linear warp x ↦ x + amp·sin(x_{k+1}/scale) per axis k. */
class Warp implements Transform {
  readonly kind = 'warp';
  constructor(
    readonly dimension: 2 | 3,
    private readonly amp: number,
  ) {}
  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    const d = this.dimension;
    for (let k = 0; k < d; k++) out[k] = p[k] + this.amp * Math.sin(p[(k + 1) % d] / 7);
  }
}

function fill(img: Image, f: (p: number[], component: number) => number): Image {
  const d = img.dimension;
  const [nx, ny] = img.size;
  const nz = d === 3 ? img.size[2] : 1;
  const p = new Array<number>(d);
  const idx = new Array<number>(d);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    idx[0] = i;
    idx[1] = j;
    if (d === 3) idx[2] = k;
    indexToPhysical(img, idx, p);
    for (let c = 0; c < img.components; c++) img.data[(i + nx * (j + ny * k)) * img.components + c] = f(p, c);
  }
  return img;
}

const KINDS: ResampleInterpolation[] = ['nearest', 'linear', 'barycentric', 'bspline', 'label'];

test('identity returns the same pixels for every interpolation', () => {
  const img = createImage([13, 9], 'int16', { spacing: [0.7, 1.2], origin: [4, -3], direction: [0, -1, 1, 0] });
  for (let i = 0; i < img.data.length; i++) img.data[i] = ((i * 7919) % 301) - 150;
  for (const kind of KINDS) {
    for (const tr of [[], translation([0, 0]), [new Opaque(translation([0, 0]))]]) {
      const out = resample(img, img, tr, { interpolation: kind });
      assert.equal(out.data instanceof (kind === 'nearest' || kind === 'label' ? Int16Array : Float32Array), true, kind);
      for (let i = 0; i < img.data.length; i++) assertClose(out.data[i], img.data[i], 1e-4, `${kind} pixel ${i}`);
    }
  }
  const same = resample(img, gridOf(img), [], { interpolation: 'nearest' });
  assert.deepEqual(same.data, img.data);
});

test('an integer translation shifts exactly, 0 (defaultValue) outside', () => {
  const img = createImage([10, 8], 'uint8');
  for (let i = 0; i < img.data.length; i++) img.data[i] = 1 + ((i * 37) % 250);
  for (const kind of KINDS) {
    const out = resample(img, img, translation([2, -3]), { interpolation: kind });
    for (let j = 0; j < 8; j++) for (let i = 0; i < 10; i++) {
      const si = i + 2;
      const sj = j - 3;
      const inside = si < 10 && sj >= 0;
      assertClose(out.data[i + 10 * j], inside ? img.data[si + 10 * sj] : 0, 1e-4, `${kind} at ${i},${j}`);
    }
  }
  const withDefault = resample(img, img, translation([2, 0]), { interpolation: 'linear', defaultValue: -1 });
  assert.equal(withDefault.data[9], -1);
  // 3D (its linear rows are interpolated in one call): the same shift, defaultValue where the source is outside
  const vol = createImage([6, 5, 4], 'float32');
  for (let i = 0; i < vol.data.length; i++) vol.data[i] = (i * 7) % 23;
  const shifted = resample(vol, vol, translation([2, 0, -1]), { interpolation: 'linear', defaultValue: -1, outputType: 'float32' });
  for (let k = 0; k < 4; k++) for (let j = 0; j < 5; j++) for (let i = 0; i < 6; i++) {
    const inside = i + 2 < 6 && k - 1 >= 0;
    assert.equal(shifted.data[i + 6 * (j + 5 * k)], inside ? vol.data[i + 2 + 6 * (j + 5 * (k - 1))] : -1, `3D at ${i},${j},${k}`);
  }
});

test('onto a grid with other size, spacing, origin and direction: matches the analytic function', () => {
  // Moving: an affine function of the physical point on a rotated, anisotropic grid.
  const moving = createImage([70, 60], 'float32', { spacing: [1.1, 0.9], origin: [-30, -25], direction: [Math.cos(0.3), -Math.sin(0.3), Math.sin(0.3), Math.cos(0.3)] });
  const f = (p: ArrayLike<number>) => 50 + 1.5 * p[0] - 0.75 * p[1];
  fill(moving, f);
  const reference = { dimension: 2 as const, size: [31, 27], spacing: [0.6, 0.7], origin: [-14, 7], direction: [Math.cos(-0.5), -Math.sin(-0.5), Math.sin(-0.5), Math.cos(-0.5)] };
  const chains: [string, Transform[]][] = [
    ['rotation+translation (fast path)', [rotation(0.2, [1, 2]), translation([1.5, -2.5])]],
    ['same chain, generic path', [new Opaque(rotation(0.2, [1, 2])), translation([1.5, -2.5])]],
    ['non-linear warp', [new Warp(2, 1.5), rotation(-0.1, [0, 0])]],
  ];
  const q = new Float64Array(2);
  const r = new Float64Array(2);
  const p = [0, 0];
  for (const [name, chain] of chains) {
    for (const kind of ['linear', 'barycentric', 'bspline'] as ResampleInterpolation[]) {
      const out = resample(moving, reference, chain, { interpolation: kind });
      assert.deepEqual(out.size, reference.size);
      assert.deepEqual(out.spacing, reference.spacing);
      for (let j = 0; j < 27; j++) for (let i = 0; i < 31; i++) {
        indexToPhysical(out, [i, j], p);
        chain[0].transformPoint(p, q);
        chain[1].transformPoint(q, r);
        // B-spline: the mirror boundary bends an affine function only near the border; this region is far inside.
        assertClose(out.data[i + 31 * j], f(r), kind === 'bspline' ? 2e-3 : 1e-4, `${name} ${kind} at ${i},${j}`);
      }
    }
  }
});

test('fast (affine) and generic (per-voxel) paths agree in 3D, vector image', () => {
  const moving = createImage([12, 11, 10], 'float32', { spacing: [1, 1.5, 2], origin: [-6, -8, -9], components: 2 });
  fill(moving, (p, c) => (c === 0 ? Math.sin(p[0] / 3) * Math.cos(p[1] / 4) + p[2] / 10 : 3 + p[0] - 2 * p[2]));
  const reference = { dimension: 3 as const, size: [9, 8, 7], spacing: [1.3, 1.2, 1.1], origin: [-4, -5, -3], direction: [0, 1, 0, -1, 0, 0, 0, 0, 1] };
  const chain = [rotation(0.3, [0, 0, 0]), translation([0.5, -0.25, 1])];
  for (const kind of KINDS) {
    const fast = resample(moving, reference, chain, { interpolation: kind });
    const slow = resample(moving, reference, chain.map((t) => new Opaque(t)), { interpolation: kind });
    assert.equal(fast.components, 2);
    for (let i = 0; i < fast.data.length; i++) assertClose(fast.data[i], slow.data[i], 1e-5, `${kind} element ${i}`);
  }
  // Component 1 is affine: trilinear reproduces it where the mapped point is inside.
  const out = resample(moving, reference, chain, { interpolation: 'linear' });
  const p = [0, 0, 0];
  const q = new Float64Array(3);
  const r = new Float64Array(3);
  let inside = 0;
  for (let k = 0; k < 7; k++) for (let j = 0; j < 8; j++) for (let i = 0; i < 9; i++) {
    indexToPhysical(out, [i, j, k], p);
    chain[0].transformPoint(p, q);
    chain[1].transformPoint(q, r);
    const ci = [(r[0] + 6) / 1, (r[1] + 8) / 1.5, (r[2] + 9) / 2];
    const v = out.data[(i + 9 * (j + 8 * k)) * 2 + 1];
    if (ci.every((x, a) => x >= 0 && x <= moving.size[a] - 1)) {
      assertClose(v, 3 + r[0] - 2 * r[2], 1e-4, `at ${i},${j},${k}`);
      inside++;
    } else if (ci.some((x, a) => x < -0.5 || x > moving.size[a] - 0.5)) {
      assert.equal(v, 0);
    }
  }
  assert.ok(inside > 100, `${inside} voxels inside`);
});

test('label interpolation never invents labels; ties go to the smaller label', () => {
  const labels = [0, 3, 7, 12, 200];
  const img = createImage([24, 20, 6], 'uint8');
  // Blocky labels so that several labels meet in many neighbourhoods.
  for (let k = 0; k < 6; k++) for (let j = 0; j < 20; j++) for (let i = 0; i < 24; i++) img.data[i + 24 * (j + 20 * k)] = labels[(Math.floor(i / 3) + 2 * Math.floor(j / 4) + k) % 5];
  const out = resample(img, img, [rotation(0.3, [11.5, 9.5, 2.5]), translation([0.37, -0.21, 0.44])], { interpolation: 'label' });
  assert.ok(out.data instanceof Uint8Array);
  const seen = new Set(out.data);
  for (const v of seen) assert.ok(labels.includes(v), `invented label ${v}`);
  assert.ok(seen.size >= 4);
  // Linear interpolation of the same labels does invent values (the reason 'label' exists).
  const lin = resample(img, img, [rotation(0.3, [11.5, 9.5, 2.5])], { interpolation: 'linear', outputType: 'uint8' });
  assert.ok([...new Set(lin.data)].some((v) => !labels.includes(v)));

  const pair = createImage([2, 1], 'int16');
  pair.data.set([5, 2]);
  const grid = { dimension: 2 as const, size: [1, 1], spacing: [1, 1], origin: [0.5, 0], direction: [1, 0, 0, 1] };
  assert.equal(resample(pair, grid, [], { interpolation: 'label' }).data[0], 2, 'tie → smaller label');
  grid.origin = [0.4, 0];
  assert.equal(resample(pair, grid, [], { interpolation: 'label' }).data[0], 5, 'larger weight wins');
  // Three-way: labels 1 (weight 0.3+0.3), 9 (0.4) → 1 wins although its single weights are smaller.
  const quad = createImage([2, 2], 'uint8');
  quad.data.set([1, 9, 9, 1]);
  const g2 = { dimension: 2 as const, size: [1, 1], spacing: [1, 1], origin: [0.5, 0.5], direction: [1, 0, 0, 1] };
  assert.equal(resample(quad, g2, [], { interpolation: 'label' }).data[0], 1);
});

test('integer output types round and clamp; ensureFloat32; composeLinear of a chain', () => {
  const img = createImage([4, 1], 'float32');
  img.data.set([-10, 100.4, 300, 2.5]);
  const out = resample(img, img, [], { interpolation: 'linear', outputType: 'uint8' });
  assert.deepEqual([...out.data], [0, 100, 255, 3]);

  const u8 = createImage([3, 2], 'uint8', { components: 2 });
  u8.data.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const f = ensureFloat32(u8);
  assert.ok(f.data instanceof Float32Array);
  assert.deepEqual([...f.data], [...u8.data]);
  assert.equal(f.components, 2);
  assert.equal(ensureFloat32(f), f);

  const chain = [rotation(0.7, [3, 4]), translation([1, 2]), new Affine(2, [2, 0.5, 0, 1.5], [0, -1])];
  const composed = composeLinear(chain);
  const matrix = composed.matrix();
  const offset = composed.offset();
  const p = [2.5, -1.5];
  const a = new Float64Array(2);
  const b = new Float64Array(2);
  const c = new Float64Array(2);
  chain[0].transformPoint(p, a);
  chain[1].transformPoint(a, b);
  chain[2].transformPoint(b, c);
  assertClose(matrix[0] * p[0] + matrix[1] * p[1] + offset[0], c[0], 1e-12);
  assertClose(matrix[2] * p[0] + matrix[3] * p[1] + offset[1], c[1], 1e-12);
});

test('user errors are CoregErrors', () => {
  const img = createImage([4, 4], 'float32');
  const grid3 = { dimension: 3 as const, size: [2, 2, 2], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  assert.throws(() => resample(img, grid3, []), CoregError);
  assert.throws(() => resample(img, img, translation([0, 0, 0])), CoregError);
  assert.throws(() => resample(img, img, [], { interpolation: 'cubic' as ResampleInterpolation }), CoregError);
});

test('the chain shapes register writes, mapped with no call per voxel (B-spline then affine; affine then field), sample where the chain maps each voxel', async () => {
  const { AffineTransform } = await import('../../src/transform/linear.js');
  const { createBSplineTransformForImage } = await import('../../src/transform/bspline.js');
  const { DisplacementFieldTransform } = await import('../../src/transform/displacement-field.js');
  const { linear3d } = await import('../../src/interpolate/kernels.js');
  const { physicalToIndexMatrix } = await import('../../src/image/image.js');
  const moving = createImage([23, 19, 17], 'float32', { spacing: [1.1, 0.9, 1.3], origin: [-3, 2, 1], direction: [-1, 0, 0, 0, -1, 0, 0, 0, 1] });
  for (let i = 0; i < moving.data.length; i++) moving.data[i] = Math.sin(i * 0.013) * 50 + (i % 7);
  const reference = createImage([20, 18, 15], 'float32', { spacing: [1.2, 1, 1.4], origin: [-2, 1, 2], direction: [-1, 0, 0, 0, -1, 0, 0, 0, 1] });
  const a = new AffineTransform(3);
  a.setCenter([-10, -8, 10]);
  a.setParameters([1.02, 0.03, -0.01, 0.02, 0.98, 0.04, -0.02, 0.01, 1.01, 0.7, -0.4, 0.3]);
  const bs = createBSplineTransformForImage(reference, 8);
  bs.setParameters(Float64Array.from({ length: bs.numberOfParameters }, (_, i) => 1.5 * Math.sin(i * 0.7)));
  const fieldImage = createImage([12, 11, 10], 'float32', { spacing: [2.5, 2.5, 2.5], origin: [-28, -22, -2], components: 3 });
  for (let i = 0; i < fieldImage.data.length; i++) fieldImage.data[i] = Math.cos(i * 0.11) * 1.3;
  const field = new DisplacementFieldTransform(fieldImage);
  const n = physicalToIndexMatrix(moving);
  for (const chain of [
    [bs, a],
    [a, field],
  ] as Transform[][]) {
    const out = resample(moving, reference, chain, { interpolation: 'linear', outputType: 'float32' });
    // the generic path's operations, voxel by voxel
    let inside = 0;
    for (let k = 0, v = 0; k < 15; k++) {
      for (let j = 0; j < 18; j++) {
        for (let i = 0; i < 20; i++, v++) {
          let p = Float64Array.from(indexToPhysical(reference, [i, j, k]));
          if (chain[0] === bs) {
            const q = new Float64Array(3);
            bs.transformPoint(p, q);
            p = q;
          }
          for (const t of chain[0] === bs ? chain.slice(1) : chain) {
            const q = new Float64Array(3);
            t.transformPoint(p, q);
            p = q;
          }
          const u = [p[0] - moving.origin[0], p[1] - moving.origin[1], p[2] - moving.origin[2]];
          const ci = [0, 1, 2].map((r) => n[r * 3] * u[0] + n[r * 3 + 1] * u[1] + n[r * 3 + 2] * u[2]);
          const value = linear3d(moving.data as Float32Array, 23, 19, 17, ci[0], ci[1], ci[2]);
          if (value === value) inside++;
          assertClose(out.data[v], value === value ? Math.fround(value) : 0, 2e-5, `voxel ${v}`);
        }
      }
    }
    assert.ok(inside > 1000, `${inside} voxels inside`);
  }
});

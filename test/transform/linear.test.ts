import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AffineTransform,
  Euler2DTransform,
  Euler3DTransform,
  MatrixOffsetTransform,
  Similarity2DTransform,
  Similarity3DTransform,
  TranslationTransform,
  VersorRigid3DTransform,
  composeLinear,
  createTransform,
  eulerAnglesFromMatrix,
  fitTransformFrom,
  invertLinear,
  toAffine,
} from '../../src/transform/linear.js';
import { matMul } from '../../src/image/linalg.js';
import { assertArrayClose } from '../helpers.js';

/** Deterministic uniform numbers in [lo, hi). */
function rng(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0;
  return (lo = 0, hi = 1) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

function apply(t: { transformPoint(p: ArrayLike<number>, out: Float64Array): void; dimension: number }, p: ArrayLike<number>): Float64Array {
  const out = new Float64Array(t.dimension);
  t.transformPoint(p, out);
  return out;
}

/** A transform of each type with random but valid parameters and a random centre. */
function randomTransforms(rand: (lo?: number, hi?: number) => number): MatrixOffsetTransform[] {
  const out: MatrixOffsetTransform[] = [];
  const t2 = new TranslationTransform(2);
  t2.setParameters([rand(-5, 5), rand(-5, 5)]);
  const t3 = new TranslationTransform(3);
  t3.setParameters([rand(-5, 5), rand(-5, 5), rand(-5, 5)]);
  const e2 = new Euler2DTransform();
  e2.setParameters([rand(-1, 1), rand(-5, 5), rand(-5, 5)]);
  const s2 = new Similarity2DTransform();
  s2.setParameters([rand(0.7, 1.3), rand(-1, 1), rand(-5, 5), rand(-5, 5)]);
  const e3 = new Euler3DTransform();
  e3.setParameters([rand(-1, 1), rand(-1, 1), rand(-1, 1), rand(-5, 5), rand(-5, 5), rand(-5, 5)]);
  const e3zyx = new Euler3DTransform();
  e3zyx.setComputeZYX(true);
  e3zyx.setParameters([rand(-1, 1), rand(-1, 1), rand(-1, 1), rand(-5, 5), rand(-5, 5), rand(-5, 5)]);
  const v3 = new VersorRigid3DTransform();
  v3.setParameters([rand(-0.4, 0.4), rand(-0.4, 0.4), rand(-0.4, 0.4), rand(-5, 5), rand(-5, 5), rand(-5, 5)]);
  const s3 = new Similarity3DTransform();
  s3.setParameters([rand(-0.4, 0.4), rand(-0.4, 0.4), rand(-0.4, 0.4), rand(-5, 5), rand(-5, 5), rand(-5, 5), rand(0.7, 1.3)]);
  const a2 = new AffineTransform(2);
  a2.setParameters([1 + rand(-0.3, 0.3), rand(-0.3, 0.3), rand(-0.3, 0.3), 1 + rand(-0.3, 0.3), rand(-5, 5), rand(-5, 5)]);
  const a3 = new AffineTransform(3);
  const p3 = Array.from({ length: 12 }, (_, i) => (i < 9 ? (i % 4 === 0 ? 1 : 0) + rand(-0.3, 0.3) : rand(-5, 5)));
  a3.setParameters(p3);
  out.push(t2, t3, e2, s2, e3, e3zyx, v3, s3, a2, a3);
  for (const t of out) t.setCenter(Array.from({ length: t.dimension }, () => rand(-20, 20)));
  return out;
}

test('analytic jacobians match central finite differences for every type (2D and 3D)', () => {
  const rand = rng(7);
  for (let trial = 0; trial < 5; trial++) {
    for (const t of randomTransforms(rand)) {
      const d = t.dimension;
      const n = t.numberOfParameters;
      const p = Array.from({ length: d }, () => rand(-30, 30));
      const jac = new Float64Array(d * n);
      t.jacobian(p, jac);
      const base = Float64Array.from(t.parameters);
      const h = 1e-6;
      for (let k = 0; k < n; k++) {
        const plus = t.clone();
        const minus = t.clone();
        const pp = Float64Array.from(base);
        pp[k] += h;
        plus.setParameters(pp);
        pp[k] -= 2 * h;
        minus.setParameters(pp);
        const yp = apply(plus, p);
        const ym = apply(minus, p);
        for (let r = 0; r < d; r++) {
          const fd = (yp[r] - ym[r]) / (2 * h);
          assert.ok(Math.abs(fd - jac[r * n + k]) < 1e-5 * (1 + Math.abs(fd)), `${t.kind} d${d} J[${r}][${k}] = ${jac[r * n + k]}, FD ${fd}`);
        }
      }
    }
  }
});

test('Euler3D with angles (0.1, 0.2, 0.3) is Rz·Rx·Ry about the centre (ITK default), Rz·Ry·Rx with ComputeZYX', () => {
  const [ax, ay, az] = [0.1, 0.2, 0.3];
  const Rx = [1, 0, 0, 0, Math.cos(ax), -Math.sin(ax), 0, Math.sin(ax), Math.cos(ax)];
  const Ry = [Math.cos(ay), 0, Math.sin(ay), 0, 1, 0, -Math.sin(ay), 0, Math.cos(ay)];
  const Rz = [Math.cos(az), -Math.sin(az), 0, Math.sin(az), Math.cos(az), 0, 0, 0, 1];
  const c = [10, -4, 2];
  const tr = [1, 2, 3];
  for (const zyx of [false, true]) {
    const R = zyx ? matMul(matMul(Rz, Ry, 3, 3, 3), Rx, 3, 3, 3) : matMul(matMul(Rz, Rx, 3, 3, 3), Ry, 3, 3, 3);
    const t = new Euler3DTransform();
    t.setComputeZYX(zyx);
    t.setCenter(c);
    t.setParameters([ax, ay, az, ...tr]);
    assertArrayClose(t.matrix(), R, 1e-15, 'matrix');
    const x = [3, 7, -5];
    const expected = [0, 1, 2].map((r) => R[r * 3] * (x[0] - c[0]) + R[r * 3 + 1] * (x[1] - c[1]) + R[r * 3 + 2] * (x[2] - c[2]) + c[r] + tr[r]);
    assertArrayClose(apply(t, x), expected, 1e-12, 'point');
    assertArrayClose(eulerAnglesFromMatrix(R, zyx), [ax, ay, az], 1e-14, 'angles back');
    assert.deepEqual(Array.from(t.fixedParameters), [...c, zyx ? 1 : 0]);
  }
});

test('2D Euler and similarity follow ITK formulas (scale, angle, tx, ty)', () => {
  const s = new Similarity2DTransform();
  s.setCenter([5, 6]);
  s.setParameters([1.5, Math.PI / 6, 2, -1]);
  const x = [8, 2];
  const [dx, dy] = [3, -4];
  const k = 1.5, c = Math.cos(Math.PI / 6), sn = Math.sin(Math.PI / 6);
  assertArrayClose(apply(s, x), [k * (c * dx - sn * dy) + 5 + 2, k * (sn * dx + c * dy) + 6 - 1], 1e-12);
  const e = new Euler2DTransform();
  e.setParameters([Math.PI / 2, 1, 0]);
  assertArrayClose(apply(e, [1, 0]), [1, 1], 1e-15);
});

test('versor rigid equals the axis–angle rotation (Rodrigues)', () => {
  const axis = [1, 2, 2].map((v) => v / 3);
  const angle = 0.7;
  const t = new VersorRigid3DTransform();
  t.setParameters([...axis.map((v) => v * Math.sin(angle / 2)), 0, 0, 0]);
  const p = [4, -1, 3];
  const dot = axis[0] * p[0] + axis[1] * p[1] + axis[2] * p[2];
  const cross = [axis[1] * p[2] - axis[2] * p[1], axis[2] * p[0] - axis[0] * p[2], axis[0] * p[1] - axis[1] * p[0]];
  const expected = [0, 1, 2].map((i) => p[i] * Math.cos(angle) + cross[i] * Math.sin(angle) + axis[i] * dot * (1 - Math.cos(angle)));
  assertArrayClose(apply(t, p), expected, 1e-13);
});

test('inverse ∘ T is the identity to 1e-12, with the same type', () => {
  const rand = rng(11);
  for (const t of randomTransforms(rand)) {
    const inv = t.inverse();
    assert.equal(inv.constructor, t.constructor, t.kind);
    assertArrayClose(inv.getCenter(), t.getCenter(), 0, `${t.kind} centre`);
    for (let i = 0; i < 5; i++) {
      const p = Array.from({ length: t.dimension }, () => rand(-50, 50));
      assertArrayClose(apply(inv, apply(t, p)), p, 1e-12, t.kind);
      assertArrayClose(apply(invertLinear(t), apply(t, p)), p, 1e-12, t.kind);
    }
  }
  const singular = new AffineTransform(2);
  singular.setParameters([1, 2, 2, 4, 0, 0]);
  assert.throws(() => singular.inverse(), { name: 'CoregError', message: /singular/ });
});

test('composeLinear applies the first transform first', () => {
  const shift = new TranslationTransform(2);
  shift.setParameters([1, 0]);
  const quarter = new Euler2DTransform();
  quarter.setParameters([Math.PI / 2, 0, 0]);
  assertArrayClose(apply(composeLinear([shift, quarter]), [0, 0]), [0, 1], 1e-15);
  assertArrayClose(apply(composeLinear([quarter, shift]), [0, 0]), [1, 0], 1e-15);
  const rand = rng(3);
  const ts = randomTransforms(rand).filter((t) => t.dimension === 3);
  const all = composeLinear(ts);
  const p = [1, 2, 3];
  let q: Float64Array = Float64Array.from(p);
  for (const t of ts) q = apply(t, q);
  assertArrayClose(apply(all, p), q, 1e-10);
  assert.throws(() => composeLinear([shift, new TranslationTransform(3)]), { name: 'CoregError' });
});

test('setCenterKeepingMapping keeps T(x); setCenter (ITK) keeps the parameters and moves the rotation centre', () => {
  const rand = rng(5);
  for (const t of randomTransforms(rand)) {
    const before = t.clone();
    const params = Float64Array.from(t.parameters);
    const c = Array.from({ length: t.dimension }, () => rand(-10, 10));
    t.setCenterKeepingMapping(c);
    assertArrayClose(t.getCenter(), c, 0);
    const p = Array.from({ length: t.dimension }, () => rand(-10, 10));
    assertArrayClose(apply(t, p), apply(before, p), 1e-11, t.kind);
    const moved = before.clone();
    moved.setCenter(c);
    assertArrayClose(moved.parameters, params, 0, `${t.kind} parameters kept`);
    // With the same parameters, the centre is mapped to itself plus t.
    const tr = moved.getTranslation();
    assertArrayClose(apply(moved, c), c.map((v, i) => v + tr[i]), 1e-12, `${t.kind} centre image`);
  }
});

test('createTransform kinds and fitTransformFrom (polar decomposition, least-squares scale)', () => {
  assert.ok(createTransform('rigid', 3) instanceof Euler3DTransform);
  assert.ok(createTransform('rigid', 2) instanceof Euler2DTransform);
  assert.ok(createTransform('similarity', 3) instanceof Similarity3DTransform);
  assert.ok(createTransform('similarity', 2) instanceof Similarity2DTransform);
  assert.ok(createTransform('translation', 2) instanceof TranslationTransform);
  assert.equal(createTransform('affine', 3).numberOfParameters, 12);

  // A = R·S with S symmetric positive definite: the rigid fit recovers R.
  const rot = new Euler3DTransform();
  rot.setParameters([0.2, -0.3, 0.4, 0, 0, 0]);
  const S = [1.2, 0.1, 0, 0.1, 0.9, 0.05, 0, 0.05, 1.1];
  const affine = new AffineTransform(3);
  affine.setCenter([5, 5, 5]);
  affine.setParameters([...matMul(rot.matrix(), S, 3, 3, 3), 1, 2, 3]);
  const rigid = fitTransformFrom('rigid', affine);
  assert.ok(rigid instanceof Euler3DTransform);
  assertArrayClose(rigid.parameters.subarray(0, 3), [0.2, -0.3, 0.4], 1e-12);
  assertArrayClose(apply(rigid, [5, 5, 5]), apply(affine, [5, 5, 5]), 1e-12, 'centre maps alike');

  const sim = new Similarity3DTransform();
  sim.setParameters([0.1, 0.2, -0.1, 3, 4, 5, 1.3]);
  const back = fitTransformFrom('similarity', toAffine(sim), [1, 2, 3]);
  const p = [7, -3, 2];
  assertArrayClose(apply(back, p), apply(sim, p), 1e-12);
  assertArrayClose(back.parameters, (() => { const c = sim.clone(); c.setCenterKeepingMapping([1, 2, 3]); return c.parameters; })(), 1e-12);

  const tr = fitTransformFrom('translation', sim, [0, 0, 0]);
  assertArrayClose(apply(tr, [0, 0, 0]), apply(sim, [0, 0, 0]), 1e-12);
  const aff = fitTransformFrom('affine', sim);
  assertArrayClose(apply(aff, p), apply(sim, p), 1e-12);
});

test('toAffine keeps the centre and mapping; Euler3D angles survive gimbal lock', () => {
  const e = new Euler3DTransform();
  e.setCenter([1, 2, 3]);
  e.setParameters([Math.PI / 2, 0.3, 0, 1, 1, 1]);
  const a = toAffine(e);
  assertArrayClose(a.getCenter(), [1, 2, 3], 0);
  const p = [4, 5, 6];
  assertArrayClose(apply(a, p), apply(e, p), 1e-12);
  const back = new Euler3DTransform();
  back.setMatrix(e.matrix());
  assertArrayClose(back.matrix(), e.matrix(), 1e-12, 'gimbal lock sx = +1');
  e.setParameters([-Math.PI / 2, 0.3, 0, 0, 0, 0]);
  back.setMatrix(e.matrix());
  assertArrayClose(back.matrix(), e.matrix(), 1e-12, 'gimbal lock sx = −1');
});

test('re-centring reproduces the documented ITK ground truth of BrainProtonDensitySliceR10X13Y17', () => {
  // shared/data README: 10° with translation (13, 16) about (110.5, 128.5) = (13.09, 15.92) about (110, 128)
  // = (12.45, 16.08) about ITK's centre of mass (111.204, 131.591).
  const t = new Euler2DTransform();
  t.setCenter([110.5, 128.5]);
  t.setParameters([(10 * Math.PI) / 180, 13, 16]);
  t.setCenterKeepingMapping([110, 128]);
  assertArrayClose(t.getTranslation(), [13.09, 15.92], 0.006);
  t.setCenterKeepingMapping([111.204, 131.591]);
  assertArrayClose(t.getTranslation(), [12.45, 16.08], 0.006);
});

// Recovery of known transforms: the moving image is the fixed scene evaluated analytically at T⁻¹(y) for every
// moving pixel (never resampled by coreg), and register must find T to a tenth of a voxel on average.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import type { MetricName, StageConfig } from '../../src/register/config.js';
import { register } from '../../src/register/register.js';
import type { LinearKind } from '../../src/transform/linear.js';
import {
  imageFromFunction,
  mapAbout,
  meanPointErrorVoxels,
  movingFor,
  otherModality,
  rotation2d,
  rotation3d,
  scene2d,
  scene3d,
  type Grid,
  type TrueMap,
} from './synthetic.js';

const DEG = Math.PI / 180;

/** Fixed → moving truths: a few degrees, a few % of scale, a few mm, centres away from the grid centre. */
const TRUTH_2D: Record<LinearKind, TrueMap> = {
  translation: mapAbout([1, 0, 0, 1], [0, 0], [2.3, -1.7]),
  rigid: mapAbout(rotation2d(4 * DEG), [20, 27], [1.5, -2]),
  similarity: mapAbout(rotation2d(3 * DEG, 1.04), [27, 21], [-1.2, 1.8]),
  affine: mapAbout([1.04, 0.05, -0.03, 0.97], [22, 25], [1, -1.5]),
};

const TRUTH_3D: Record<LinearKind, TrueMap> = {
  translation: mapAbout([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0], [1.3, -1.1, 0.8]),
  rigid: mapAbout(rotation3d(3 * DEG, -2 * DEG, 4 * DEG), [10, 13, 11], [1.0, -1.2, 0.7]),
  similarity: mapAbout(rotation3d(2 * DEG, 3 * DEG, -3 * DEG, 1.04), [13, 11, 12], [-0.8, 1.1, 0.6]),
  affine: mapAbout([1.04, 0.03, -0.02, -0.03, 0.97, 0.02, 0.02, -0.03, 1.03], [11, 12, 13], [0.8, -1.0, 0.6]),
};

/** The transform kind tag register's result must carry for each stage kind. */
const RESULT_KIND: Record<2 | 3, Record<LinearKind, string>> = {
  2: { translation: 'translation', rigid: 'euler2d', similarity: 'similarity2d', affine: 'affine' },
  3: { translation: 'translation', rigid: 'euler3d', similarity: 'similarity3d', affine: 'affine' },
};

const LEVELS = [
  { shrink: 2, smooth: 1, iterations: 50 },
  { shrink: 1, smooth: 0, iterations: 100 },
];

interface Case {
  d: 2 | 3;
  kind: LinearKind;
  metric: MetricName;
  /** Moving grid (default: the fixed grid). */
  movingGrid?: Grid;
  stage?: Partial<StageConfig>;
  initializer?: 'none' | 'moments';
}

function isMultiModal(metric: MetricName): boolean {
  return metric === 'mi' || metric === 'nmi' || metric === 'jointEntropy';
}

async function recover(c: Case): Promise<{ error: number; fixed: Image }> {
  const fn = c.d === 2 ? scene2d : scene3d;
  const fixed = imageFromFunction({ size: c.d === 2 ? [48, 48] : [24, 24, 24] }, fn);
  const truth = (c.d === 2 ? TRUTH_2D : TRUTH_3D)[c.kind];
  const moving = movingFor(c.movingGrid ?? { size: fixed.size }, fn, truth, isMultiModal(c.metric) ? otherModality : undefined);
  const result = await register(fixed, moving, {
    stages: [{ transform: c.kind, metric: c.metric, levels: LEVELS, ...c.stage }],
    initializer: c.initializer ?? 'none',
  });
  assert.equal(result.transforms.length, 1);
  assert.equal(result.transforms[0].kind, RESULT_KIND[c.d][c.kind]);
  assert.equal(result.stages.length, 1);
  // Axes under 32 voxels are never shrunk (pyramid rule), so only 2D's 48 px axes are halved at level 1.
  assert.deepEqual(
    result.stages[0].levels.map((l) => l.shrink),
    c.d === 2 ? [[2, 2], [1, 1]] : [[1, 1, 1], [1, 1, 1]],
  );
  for (const l of result.stages[0].levels) assert.ok(Number.isFinite(l.value) && l.samples > 0 && l.iterations <= 100);
  return { error: meanPointErrorVoxels(fixed, result.transforms, truth), fixed };
}

async function expectRecovered(c: Case): Promise<void> {
  const { error } = await recover(c);
  assert.ok(error < 0.1, `${c.d}D ${c.kind}/${c.metric}: mean point error ${error.toFixed(4)} voxel ≥ 0.1`);
}

const KINDS: LinearKind[] = ['translation', 'rigid', 'similarity', 'affine'];

for (const kind of KINDS) {
  for (const metric of ['mse', 'ncc', 'mi'] as MetricName[]) {
    test(`2D ${kind} / ${metric}: recovers the known transform to < 0.1 voxel`, () => expectRecovered({ d: 2, kind, metric }));
  }
}

test('2D nmi (other modality) and lncc recover an affine and a similarity', async () => {
  await expectRecovered({ d: 2, kind: 'affine', metric: 'nmi' });
  await expectRecovered({ d: 2, kind: 'similarity', metric: 'lncc' });
  await expectRecovered({ d: 2, kind: 'affine', metric: 'lncc' });
});

test('2D with B-spline interpolation in the metric recovers an affine (mi)', () =>
  expectRecovered({ d: 2, kind: 'affine', metric: 'mi', stage: { interpolation: 'bspline' } }));

test('2D moving image on another grid (spacing, origin, 20° direction), moments initializer', async () => {
  // Centred near the fixed field of view but not on it; anisotropic spacing; rotated axes.
  const direction = rotation2d(20 * DEG);
  const spacing = [1.25, 0.8];
  const size = [50, 70];
  const center = [26, 22];
  const origin = center.slice();
  for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) origin[r] -= direction[r * 2 + c] * spacing[c] * ((size[c] - 1) / 2);
  await expectRecovered({ d: 2, kind: 'affine', metric: 'mse', movingGrid: { size, spacing, origin, direction }, initializer: 'moments' });
  await expectRecovered({ d: 2, kind: 'rigid', metric: 'mi', movingGrid: { size, spacing, origin, direction } });
});

for (const [kind, metric] of [
  ['translation', 'ncc'],
  ['rigid', 'mi'],
  ['similarity', 'ncc'],
  ['affine', 'mse'],
  ['affine', 'mi'],
] as [LinearKind, MetricName][]) {
  test(`3D ${kind} / ${metric}: recovers the known transform to < 0.1 voxel`, () => expectRecovered({ d: 3, kind, metric }));
}

test('3D moving image on another grid (spacing, origin, rotated direction), rigid / mi', () => {
  const direction = rotation3d(10 * DEG, -15 * DEG, 25 * DEG);
  const spacing = [1.3, 0.9, 1.1];
  const size = [22, 30, 26];
  const center = [13, 11, 12.5];
  const origin = center.slice();
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) origin[r] -= direction[r * 3 + c] * spacing[c] * ((size[c] - 1) / 2);
  return expectRecovered({ d: 3, kind: 'rigid', metric: 'mi', movingGrid: { size, spacing, origin, direction } });
});

// Regression: an absolute gradient tolerance once stopped mse at iteration 0 on small-valued images.
test('mse registration does not depend on the intensity unit (images × 0.001)', async () => {
    const fn = (p: ArrayLike<number>): number => 0.001 * scene2d(p);
    const fixed = imageFromFunction({ size: [48, 48] }, fn);
    const truth = TRUTH_2D.rigid;
    const moving = movingFor({ size: fixed.size }, fn, truth);
    const result = await register(fixed, moving, { stages: [{ transform: 'rigid', metric: 'mse', levels: LEVELS }], initializer: 'none' });
    const error = meanPointErrorVoxels(fixed, result.transforms, truth);
    assert.ok(error < 0.1, `mean point error ${error.toFixed(4)} voxel (iterations ${result.stages[0].levels.map((l) => l.iterations)})`);
  },
);

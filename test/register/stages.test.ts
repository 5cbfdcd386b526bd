// Determinism, multi-stage chains, the `initial` option, rotation search and progress/cancellation of register.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import type { RegistrationConfig, StageConfig } from '../../src/register/config.js';
import { register, type ProgressEvent } from '../../src/register/register.js';
import { Euler2DTransform, TranslationTransform } from '../../src/transform/linear.js';
import type { ParametricTransform, Transform } from '../../src/transform/transform.js';
import { assertArrayClose } from '../helpers.js';
import {
  applyMap,
  chainMap,
  imageFromFunction,
  mapAbout,
  meanPointErrorVoxels,
  movingFor,
  otherModality,
  rotation2d,
  scene2d,
  type TrueMap,
} from './synthetic.js';

const DEG = Math.PI / 180;
const LEVELS = [
  { shrink: 2, smooth: 1, iterations: 50 },
  { shrink: 1, smooth: 0, iterations: 100 },
];
const FIXED: Image = imageFromFunction({ size: [48, 48] }, scene2d);

function parametersOf(t: Transform): number[] {
  return Array.from((t as ParametricTransform).parameters);
}

test('same config and seed twice give bit-identical parameters (random sampling, jittered mi)', async () => {
  const truth = mapAbout(rotation2d(3 * DEG, 1.03), [27, 21], [-1.2, 1.8]);
  const moving = movingFor({ size: [48, 48] }, scene2d, truth, otherModality);
  const stage: StageConfig = { transform: 'similarity', metric: 'mi', levels: LEVELS, sampling: 'random', samplingPercentage: 0.3 };
  const config = (seed: number): RegistrationConfig => ({ stages: [stage], initializer: 'none', seed });
  const a = await register(FIXED, moving, config(7));
  const b = await register(FIXED, moving, config(7));
  const c = await register(FIXED, moving, config(12345));
  assert.deepEqual(parametersOf(a.transforms[0]), parametersOf(b.transforms[0]));
  assert.deepEqual(
    a.stages.map((s) => s.levels.map((l) => l.value)),
    b.stages.map((s) => s.levels.map((l) => l.value)),
  );
  // A different seed draws other samples (so other parameters) and still converges.
  assert.notDeepEqual(parametersOf(c.transforms[0]), parametersOf(a.transforms[0]));
  for (const r of [a, c]) {
    const error = meanPointErrorVoxels(FIXED, r.transforms, truth);
    assert.ok(error < 0.1, `mean point error ${error.toFixed(4)} voxel`);
  }
});

test('rigid,affine: the affine stage starts from the rigid result and ends close to an affine truth', async () => {
  const truth = mapAbout([1.04, 0.05, -0.03, 0.97], [22, 25], [1, -1.5]);
  const moving = movingFor({ size: [48, 48] }, scene2d, truth);
  const rigid: StageConfig = { transform: 'rigid', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 30 }] };
  const rigidOnly = await register(FIXED, moving, { stages: [rigid], initializer: 'none' });
  // An affine stage without iterations must hand back exactly where the rigid stage ended.
  const frozen = await register(FIXED, moving, {
    stages: [rigid, { transform: 'affine', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 0 }] }],
    initializer: 'none',
  });
  assert.equal(frozen.transforms[0].kind, 'affine');
  const r = chainMap(rigidOnly.transforms);
  const f = chainMap(frozen.transforms);
  assertArrayClose(f.A, r.A, 1e-12, 'matrix');
  assertArrayClose(f.o, r.o, 1e-9, 'offset');
  // Same samples (all pixels, no jitter for mse), same transform: same value.
  assert.equal(frozen.stages[1].levels[0].iterations, 0);
  assert.ok(Math.abs(frozen.stages[1].levels[0].value - rigidOnly.stages[0].levels[0].value) <= 1e-12 * Math.abs(rigidOnly.stages[0].levels[0].value));

  const full = await register(FIXED, moving, {
    stages: [
      { transform: 'rigid', metric: 'mse', levels: LEVELS },
      { transform: 'affine', metric: 'mse', levels: LEVELS },
    ],
    initializer: 'none',
  });
  assert.deepEqual(
    full.stages.map((s) => [s.transform, s.metric, s.levels.length]),
    [
      ['rigid', 'mse', 2],
      ['affine', 'mse', 2],
    ],
  );
  assert.equal(full.transforms.length, 1);
  assert.equal(full.transforms[0].kind, 'affine');
  const rigidError = meanPointErrorVoxels(FIXED, rigidOnly.transforms, truth);
  const error = meanPointErrorVoxels(FIXED, full.transforms, truth);
  assert.ok(rigidError > 0.3, `a rigid fit of this affine should be visibly off, got ${rigidError.toFixed(3)} voxel`);
  assert.ok(error < 0.1, `mean point error ${error.toFixed(4)} voxel`);
});

test('the initial chain is honoured: zero iterations return it, and optimisation starts from it', async () => {
  const truth = mapAbout([1, 0, 0, 1], [0, 0], [2.3, -1.7]);
  const moving = movingFor({ size: [48, 48] }, scene2d, truth);
  const shift = new TranslationTransform(2);
  shift.setParameters([3, -2]);
  const zero = await register(FIXED, moving, {
    stages: [{ transform: 'translation', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 0 }] }],
    initializer: 'moments',
  }, { initial: [shift] });
  const out = new Float64Array(2);
  zero.transforms[0].transformPoint([10, 20], out);
  assertArrayClose(out, [13, 18], 1e-12, 'T(10, 20)');

  // A chain of two: rotate 10° about (24, 24), then shift; an affine stage without iterations reproduces it.
  const rot = new Euler2DTransform();
  rot.setCenter([24, 24]);
  rot.setParameters([10 * DEG, 0, 0]);
  const chained = await register(FIXED, moving, {
    stages: [{ transform: 'affine', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 0 }] }],
  }, { initial: [rot, shift] });
  const expected: TrueMap = chainMap([rot, shift]);
  const got = chainMap(chained.transforms);
  assertArrayClose(got.A, expected.A, 1e-12, 'matrix');
  assertArrayClose(got.o, expected.o, 1e-9, 'offset');

  // A 60° truth that plain optimisation misses (see the rotation-search test) is reached from a 55° initial.
  const turned = mapAbout(rotation2d(60 * DEG), [25, 23], [1.5, -1]);
  const turnedMoving = movingFor({ size: [64, 64], origin: [-8, -8] }, scene2d, turned);
  const start = new Euler2DTransform();
  start.setCenter([25, 23]);
  start.setParameters([55 * DEG, 0, 0]);
  const started = await register(FIXED, turnedMoving, { stages: [{ transform: 'rigid', metric: 'ncc', levels: LEVELS }] }, { initial: [start] });
  const error = meanPointErrorVoxels(FIXED, started.transforms, turned);
  assert.ok(error < 0.1, `mean point error ${error.toFixed(4)} voxel`);
});

test('rotationSearch recovers a 60° rotation that plain optimisation misses', async () => {
  const truth = mapAbout(rotation2d(60 * DEG), [25, 23], [1.5, -1]);
  // A moving field of view large enough to hold the whole rotated scene.
  const moving = movingFor({ size: [64, 64], origin: [-8, -8] }, scene2d, truth, otherModality);
  const config = (rotationSearch: boolean): RegistrationConfig => ({
    stages: [{ transform: 'rigid', metric: 'mi', levels: LEVELS }],
    initializer: 'moments',
    rotationSearch,
  });
  const plain = await register(FIXED, moving, config(false));
  const searched = await register(FIXED, moving, config(true));
  const plainError = meanPointErrorVoxels(FIXED, plain.transforms, truth);
  const searchedError = meanPointErrorVoxels(FIXED, searched.transforms, truth);
  assert.ok(plainError > 5, `plain optimisation was expected to miss 60°, error ${plainError.toFixed(3)} voxel`);
  assert.ok(searchedError < 0.1, `with rotation search: mean point error ${searchedError.toFixed(4)} voxel`);
  // The recovered angle itself (Euler2D parameter 0).
  const angle = parametersOf(searched.transforms[0])[0];
  assert.ok(Math.abs(angle - 60 * DEG) < 0.2 * DEG, `angle ${(angle / DEG).toFixed(3)}°`);
});

test('onProgress reports every stage and level in order; aborting from it rejects with an AbortError', async () => {
  const truth = mapAbout(rotation2d(4 * DEG), [20, 27], [1.5, -2]);
  const moving = movingFor({ size: [48, 48] }, scene2d, truth);
  const config: RegistrationConfig = {
    stages: [
      { transform: 'translation', metric: 'mse', levels: LEVELS },
      { transform: 'rigid', metric: 'ncc', levels: LEVELS },
    ],
    initializer: 'none',
  };
  const events: ProgressEvent[] = [];
  await register(FIXED, moving, config, { onProgress: (e) => events.push({ ...e }) });
  assert.ok(events.length > 4);
  const seen = [...new Set(events.map((e) => `${e.stage}/${e.level}`))];
  assert.deepEqual(seen, ['0/0', '0/1', '1/0', '1/1']);
  for (const e of events) {
    assert.equal(e.stageCount, 2);
    assert.equal(e.levelCount, 2);
    assert.equal(e.transform, e.stage === 0 ? 'translation' : 'rigid');
    assert.equal(e.metric, e.stage === 0 ? 'mse' : 'ncc');
    assert.equal(e.maxIterations, LEVELS[e.level].iterations);
    assert.ok(e.iteration >= 1 && e.iteration <= e.maxIterations && Number.isFinite(e.value));
  }

  const controller = new AbortController();
  let calls = 0;
  await assert.rejects(
    register(FIXED, moving, config, {
      signal: controller.signal,
      onProgress: () => {
        calls++;
        controller.abort();
      },
    }),
    (e: Error) => e.name === 'AbortError',
  );
  assert.equal(calls, 1, 'no iteration runs after the abort');

  // Already aborted: rejects before doing any work.
  await assert.rejects(register(FIXED, moving, config, { signal: AbortSignal.abort() }), (e: Error) => e.name === 'AbortError');
});

test('the result maps fixed → moving: T(x) lands where the fixed point\'s content is in the moving image', async () => {
  const truth = mapAbout([1, 0, 0, 1], [0, 0], [3, 1]);
  const moving = movingFor({ size: [48, 48] }, scene2d, truth);
  const r = await register(FIXED, moving, { stages: [{ transform: 'translation', metric: 'mse', levels: LEVELS }], initializer: 'none' });
  const got = new Float64Array(2);
  const want = new Float64Array(2);
  r.transforms[0].transformPoint([20, 20], got);
  applyMap(truth, [20, 20], want);
  assertArrayClose(got, want, 0.05, 'T(20, 20)');
});

// What users can get wrong: inputs register rejects (with a CoregError saying what is wrong, never a NaN
// transform), configuration checks, and the command-line list parsers of config.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage, type Image } from '../../src/image/image.js';
import {
  defaultConfig,
  defaultLevels,
  parseLevelList,
  parseMetricList,
  parseTransformList,
  validateConfig,
  type RegistrationConfig,
  type StageConfig,
} from '../../src/register/config.js';
import { register } from '../../src/register/register.js';
import { TranslationTransform } from '../../src/transform/linear.js';
import type { Transform } from '../../src/transform/transform.js';
import { imageFromFunction, scene2d, scene3d } from './synthetic.js';

const FIXED = imageFromFunction({ size: [32, 32] }, scene2d);
const MOVING = imageFromFunction({ size: [32, 32], origin: [0.7, -0.4] }, scene2d);
const QUICK: RegistrationConfig = {
  stages: [{ transform: 'rigid', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 5 }] }],
  initializer: 'none',
};

/** Matches a CoregError about `subject` whose message matches `pattern` (and is one line). */
function coregError(subject: string | RegExp, pattern: RegExp, exitCode?: 1 | 2): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof CoregError, `expected a CoregError, got ${String(e)}`);
    if (typeof subject === 'string') assert.equal(e.subject, subject);
    else assert.match(e.subject, subject);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    if (exitCode !== undefined) assert.equal(e.exitCode, exitCode);
    return true;
  };
}

function withData(img: Image, fill: (data: Image['data']) => void): Image {
  const copy = { ...img, data: img.data.slice() };
  fill(copy.data);
  return copy;
}

test('images of different dimensions are rejected', async () => {
  const moving3d = imageFromFunction({ size: [16, 16, 16] }, scene3d);
  await assert.rejects(register(FIXED, moving3d, QUICK), coregError('--moving', /fixed image is 2D but the moving image is 3D/));
});

test('vector images are rejected: registration needs scalars', async () => {
  const rgb = createImage([32, 32], 'float32', { components: 3 });
  for (let i = 0; i < rgb.data.length; i++) rgb.data[i] = i % 7;
  await assert.rejects(register(FIXED, rgb, QUICK), coregError('--moving', /3 components per pixel.*scalar/));
  await assert.rejects(register(rgb, MOVING, QUICK), coregError('--fixed', /3 components per pixel/));
});

test('constant images are rejected (the similarity is undefined)', async () => {
  const flat = withData(FIXED, (d) => d.fill(5));
  await assert.rejects(register(flat, MOVING, QUICK), coregError('--fixed', /constant \(all pixels 5\)/));
  await assert.rejects(register(FIXED, flat, QUICK), coregError('--moving', /constant/));
});

test('NaN or infinite pixels are rejected with a hint', async () => {
  const withNaN = withData(MOVING, (d) => (d[100] = NaN));
  const withInf = withData(FIXED, (d) => (d[5] = Infinity));
  const allNaN = withData(MOVING, (d) => d.fill(NaN));
  await assert.rejects(register(FIXED, withNaN, QUICK), coregError('--moving', /NaN or infinite/));
  await assert.rejects(register(withInf, MOVING, QUICK), coregError('--fixed', /NaN or infinite/));
  await assert.rejects(register(FIXED, allNaN, QUICK), coregError('--moving', /no finite pixel value/));
});

test('empty masks, a mask of the wrong dimension, or a mask over a flat region are rejected', async () => {
  const empty = createImage([32, 32], 'uint8');
  await assert.rejects(register(FIXED, MOVING, QUICK, { fixedMask: empty }), coregError('--fixed-mask', /empty/));
  await assert.rejects(register(FIXED, MOVING, QUICK, { movingMask: empty }), coregError('--moving-mask', /empty/));
  const mask3d = createImage([8, 8, 8], 'uint8');
  mask3d.data.fill(1);
  await assert.rejects(register(FIXED, MOVING, QUICK, { fixedMask: mask3d }), coregError('--fixed-mask', /3D but the image is 2D/));
  // A mask that only covers pixels outside the fixed image selects nothing.
  const elsewhere = createImage([8, 8], 'uint8', { origin: [500, 500] });
  elsewhere.data.fill(1);
  await assert.rejects(register(FIXED, MOVING, QUICK, { fixedMask: elsewhere }), coregError('--fixed-mask', /selects no voxel/));
  // A mask over a flat patch of the fixed image: nothing to compare.
  const patched = withData(FIXED, (d) => {
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) d[y * 32 + x] = 0.25;
  });
  const corner = createImage([32, 32], 'uint8');
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) corner.data[y * 32 + x] = 1;
  await assert.rejects(register(patched, MOVING, QUICK, { fixedMask: corner }), coregError('--fixed-mask', /constant/));
});

test('images that do not overlap are rejected, not answered with a NaN transform', async () => {
  const farAway = imageFromFunction({ size: [32, 32], origin: [1000, 0] }, (p) => scene2d([p[0] - 1000, p[1]]));
  for (const metric of ['mse', 'mi', 'lncc'] as const) {
    const config: RegistrationConfig = { ...QUICK, stages: [{ ...QUICK.stages[0], metric }] };
    await assert.rejects(register(FIXED, farAway, config), coregError('registration', /0 of 1024 samples map inside the moving image: the images do not overlap/));
  }
  // The geometry initializer bridges the 1000 mm and the registration then succeeds.
  const r = await register(FIXED, farAway, { ...QUICK, initializer: 'geometry' });
  const p = new Float64Array(2);
  r.transforms[0].transformPoint([16, 16], p);
  assert.ok(Math.abs(p[0] - 1016) < 0.5 && Math.abs(p[1] - 16) < 0.5, `T(16, 16) = ${Array.from(p)}`);
});

test('a bad initial chain is rejected', async () => {
  const notLinear: Transform = { kind: 'warp', dimension: 2, transformPoint: (p, out) => ((out[0] = p[0] + Math.sin(p[1])), (out[1] = p[1])) };
  await assert.rejects(register(FIXED, MOVING, QUICK, { initial: [notLinear] }), coregError('--initial', /must be linear/));
  const shift3d = new TranslationTransform(3);
  await assert.rejects(register(FIXED, MOVING, QUICK, { initial: [shift3d] }), coregError('--initial', /is 3D but the images are 2D/));
});

test('register validates its configuration first', async () => {
  await assert.rejects(register(FIXED, MOVING, { stages: [] }), coregError('config', /at least one stage/, 2));
  const bad = { stages: [{ transform: 'rigid', metric: 'mutual-information' }] } as unknown as RegistrationConfig;
  await assert.rejects(register(FIXED, MOVING, bad), coregError('config: stage 1', /unknown metric "mutual-information"/, 2));
});

test('validateConfig accepts a full configuration unchanged and rejects each kind of nonsense', () => {
  const good: RegistrationConfig = {
    stages: [
      {
        transform: 'rigid',
        metric: 'mi',
        levels: [
          { shrink: 4, smooth: 2, iterations: 100 },
          { shrink: 1, smooth: 0, iterations: 0 },
        ],
        optimizer: 'regular-step',
        samplingPercentage: 1,
        bins: 64,
      },
      { transform: 'bspline', metric: 'lncc', gridSpacing: 10 },
    ],
    initializer: 'geometry',
    seed: 3,
  };
  const copy = structuredClone(good);
  assert.equal(validateConfig(good), good);
  assert.deepEqual(good, copy);

  const stage = (extra: Partial<StageConfig>): RegistrationConfig => ({ stages: [{ transform: 'affine', metric: 'mse', ...extra }] });
  const cases: [RegistrationConfig, RegExp][] = [
    [{ stages: [] }, /needs at least one stage/],
    [{} as RegistrationConfig, /needs at least one stage/],
    [{ stages: [{ transform: 'warp', metric: 'mse' }] } as unknown as RegistrationConfig, /unknown transform "warp"/],
    [{ stages: [{ transform: 'affine', metric: 'cc' }] } as unknown as RegistrationConfig, /unknown metric "cc"/],
    [stage({ optimizer: 'newton' as StageConfig['optimizer'] }), /unknown optimizer "newton" \(expected gradient-descent, regular-step, adam, lbfgs, stochastic\)/],
    [stage({ levels: [] }), /levels must not be empty/],
    [stage({ levels: [{ shrink: 0, smooth: 0, iterations: 5 }] }), /shrink factors must be integers ≥ 1, got 0/],
    [stage({ levels: [{ shrink: 1.5, smooth: 0, iterations: 5 }] }), /shrink factors must be integers ≥ 1, got 1.5/],
    [stage({ levels: [{ shrink: 1, smooth: -1, iterations: 5 }] }), /smoothing sigmas must be ≥ 0, got -1/],
    [stage({ levels: [{ shrink: 1, smooth: NaN, iterations: 5 }] }), /smoothing sigmas must be ≥ 0/],
    [stage({ levels: [{ shrink: 1, smooth: 0, iterations: 2.5 }] }), /iterations must be integers ≥ 0, got 2.5/],
    [stage({ samplingPercentage: 0 }), /samplingPercentage must be in \(0, 1\], got 0/],
    [stage({ samplingPercentage: 1.5 }), /samplingPercentage must be in \(0, 1\], got 1.5/],
    [stage({ bins: 3 }), /bins must be an integer in \[4, 1024\], got 3/],
    [stage({ bins: 20.5 }), /bins must be an integer/],
    [stage({ gridSpacing: 0 }), /gridSpacing must be > 0 mm, got 0/],
    [{ ...stage({}), seed: 1.5 }, /seed must be an integer, got 1.5/],
  ];
  for (const [config, pattern] of cases) {
    assert.throws(() => validateConfig(config, 'my.json'), coregError(/^my\.json/, pattern, 2), `expected ${pattern}`);
  }
  // The stage number is in the subject.
  assert.throws(
    () => validateConfig({ stages: [{ transform: 'rigid', metric: 'mse' }, { transform: 'affine', metric: 'mse', bins: 2 }] }),
    coregError('config: stage 2', /bins/, 2),
  );
});

test('parseTransformList and parseMetricList accept comma lists and name the option on error', () => {
  assert.deepEqual(parseTransformList('rigid, affine'), ['rigid', 'affine']);
  assert.deepEqual(parseTransformList('translation,rigid,similarity,affine,bspline,syn').length, 6);
  assert.throws(() => parseTransformList('rigid,afine'), coregError('--transform', /unknown transform "afine" \(expected translation, rigid/, 2));
  assert.throws(() => parseTransformList('rigid,'), coregError('--transform', /unknown transform ""/, 2));
  assert.deepEqual(parseMetricList('mi'), ['mi']);
  assert.deepEqual(parseMetricList('mi, mi,lncc'), ['mi', 'mi', 'lncc']);
  assert.deepEqual(parseMetricList('sad,mse,nssd,ncc,lncc,mi,nmi,jointEntropy').length, 8);
  assert.throws(() => parseMetricList('MI'), coregError('--metric', /unknown metric "MI"/, 2));
  assert.throws(() => parseMetricList('cc', 'stages[0].metric'), coregError('stages[0].metric', /unknown metric "cc"/, 2));
});

test('parseLevelList reads "4x2x1" lists and rejects malformed ones', () => {
  assert.deepEqual(parseLevelList('4x2x1', '--shrink', true), [4, 2, 1]);
  assert.deepEqual(parseLevelList('200', '--iterations', true), [200]);
  assert.deepEqual(parseLevelList('2x1.5x0', '--smooth', false), [2, 1.5, 0]);
  assert.deepEqual(parseLevelList(' 3 x 1 ', '--smooth', false), [3, 1]);
  for (const [text, integer] of [
    ['4x2.5', true],
    ['4xx1', true],
    ['', false],
    ['4x', false],
    ['-1x0', false],
    ['2,1', false],
    ['ax1', false],
    ['1e400x1', false],
  ] as [string, boolean][]) {
    assert.throws(() => parseLevelList(text, '--shrink', integer), coregError('--shrink', /expected numbers separated by "x" \(e\.g\. 4x2x1\)/, 2), JSON.stringify(text));
  }
});

test('defaultConfig: one metric for all stages or one per stage', () => {
  const c = defaultConfig();
  assert.deepEqual(c.stages, [
    { transform: 'rigid', metric: 'mi' },
    { transform: 'affine', metric: 'mi' },
  ]);
  assert.equal(c.initializer, 'moments');
  assert.ok(Number.isInteger(c.seed));
  assert.deepEqual(
    defaultConfig(['rigid', 'affine'], ['ncc', 'mi']).stages.map((s) => s.metric),
    ['ncc', 'mi'],
  );
  assert.throws(() => defaultConfig(['rigid'], ['mi', 'mi']), coregError('--metric', /one metric for all stages or one per stage \(1\), got 2/, 2));
});

test('defaultLevels go coarse to fine and end at full resolution without smoothing', () => {
  for (const size of [[48, 48], [256, 256], [24, 24, 24], [200, 180, 160], [512, 512, 3], [10, 10]]) {
    const levels = defaultLevels('affine', size);
    assert.ok(levels.length >= 1 && levels.length <= (size.length === 3 ? 4 : 3), `${size}: ${levels.length} levels`);
    const last = levels[levels.length - 1];
    assert.equal(last.shrink, 1);
    assert.equal(last.smooth, 0);
    for (let l = 1; l < levels.length; l++) assert.ok(levels[l].shrink < levels[l - 1].shrink, `${size}: shrink decreases`);
    for (const l of levels) assert.ok(Number.isInteger(l.iterations) && l.iterations > 0);
    assert.doesNotThrow(() => validateConfig({ stages: [{ transform: 'affine', metric: 'mi', levels }] }));
  }
  assert.equal(defaultLevels('rigid', [256, 256]).length, 3);
  assert.equal(defaultLevels('rigid', [24, 24, 24]).length, 1);
});

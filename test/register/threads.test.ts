// Threads inside one registration (src/parallel/team.ts behind register's ParallelFor): the transform
// parameters are bit-identical for 1, 2 and 3 threads (and without a team), 2D and 3D, linear and B-spline,
// mi and mse, with a moving mask. The blocks' sums are merged in block order and the blocks do not depend on
// the thread count, so anything but equality is a bug.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import type { RegistrationConfig } from '../../src/register/config.js';
import { register } from '../../src/register/register.js';
import { gaussianSmoothOn, prefetchFits, prefetchShrinkOn, smoothAndShrinkOn } from '../../src/register/parallel-smooth.js';
import { gaussianSmooth, smoothAndShrink } from '../../src/pyramid/index.js';
import { imageFromFunction, mapAbout, movingFor, rotation2d, rotation3d, scene2d, scene3d } from './synthetic.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

function parameters(result: Awaited<ReturnType<typeof register>>): number[] {
  return result.transforms.flatMap((t) => Array.from((t as unknown as { parameters: Float64Array }).parameters));
}

/** Bitwise equality (so that −0 ≠ 0 and NaN = NaN would show). */
function assertBitIdentical(a: number[], b: number[], what: string): void {
  assert.equal(a.length, b.length, what);
  const x = new Float64Array(a);
  const y = new Float64Array(b);
  assert.deepEqual(new Uint8Array(x.buffer), new Uint8Array(y.buffer), `${what}: ${a.slice(0, 6).join(',')} vs ${b.slice(0, 6).join(',')}`);
}

function scene(d: 2 | 3, big = false, prefetch = false): { fixed: Image; moving: Image; movingMask: Image; fixedMask?: Image } {
  if (prefetch) {
    // 2 × 140 000 voxels: enough for the pyramid's session (2^18 values)
    const fixed = imageFromFunction({ size: [56, 50, 50], spacing: [0.85, 0.9, 0.95], origin: [-1, -2, -1] }, scene3d);
    const grid = { size: [52, 52, 52], spacing: [0.9, 0.9, 0.9], origin: [-2, -2, -2] };
    const moving = movingFor(grid, scene3d, mapAbout(rotation3d(0.03, -0.02, 0.04, 1.02), [20, 20, 20], [0.8, -0.6, 0.5]));
    return { fixed, moving, movingMask: imageFromFunction(grid, () => 1) };
  }
  if (big) {
    // ≥ 2^16 samples (every voxel): the linear cost runs on the team (smaller levels stay in the calling thread)
    const fixed = imageFromFunction({ size: [42, 42, 40], spacing: [1.1, 1.1, 1.2], origin: [-1, -2, -1] }, scene3d);
    const grid = { size: [42, 42, 42], spacing: [1.15, 1.15, 1.15], origin: [-2, -2, -2] };
    const moving = movingFor(grid, scene3d, mapAbout(rotation3d(0.03, -0.02, 0.04, 1.02), [20, 20, 20], [0.8, -0.6, 0.5]));
    return { fixed, moving, movingMask: imageFromFunction(grid, () => 1) };
  }
  if (d === 2) {
    const fixed = imageFromFunction({ size: [64, 60], spacing: [0.8, 0.8], origin: [-2, -1] }, scene2d);
    const grid = { size: [60, 60], spacing: [0.9, 0.9], origin: [-3, -3] };
    const moving = movingFor(grid, scene2d, mapAbout(rotation2d(0.06, 1.03), [24, 24], [1.1, -0.8]));
    const movingMask = imageFromFunction(grid, (p) => ((p[0] - 24) ** 2 + (p[1] - 24) ** 2 < 25 ** 2 ? 1 : 0));
    return { fixed, moving, movingMask };
  }
  const fixed = imageFromFunction({ size: [32, 30, 28], spacing: [1.5, 1.5, 1.6], origin: [-1, -2, -1] }, scene3d);
  const grid = { size: [34, 34, 32], spacing: [1.4, 1.4, 1.5], origin: [-2, -2, -2] };
  const moving = movingFor(grid, scene3d, mapAbout(rotation3d(0.03, -0.02, 0.04, 1.02), [20, 20, 20], [0.8, -0.6, 0.5]));
  const movingMask = imageFromFunction(grid, () => 1);
  // a ball: stratified fresh draws from the voxels inside it, rejected outside (on every thread)
  const fixedMask = imageFromFunction({ size: [32, 30, 28], spacing: [1.5, 1.5, 1.6], origin: [-1, -2, -1] }, (p) => ((p[0] - 22) ** 2 + (p[1] - 20) ** 2 + (p[2] - 21) ** 2 < 15 ** 2 ? 1 : 0));
  return { fixed, moving, movingMask, fixedMask };
}

// Two pyramid levels of ≥ 2^18 values (made ahead by the helpers) and the full resolution.
const AHEAD_LEVELS = [
  { shrink: 4, smooth: 2, iterations: 3 },
  { shrink: 2, smooth: 1, iterations: 3 },
  { shrink: 1, smooth: 0, iterations: 2 },
];

const CASES: { name: string; d: 2 | 3; config: RegistrationConfig; mask?: boolean; big?: boolean; prefetch?: boolean; fixedMask?: boolean }[] = [
  {
    name: '3D affine mi, large enough for the team',
    d: 3,
    big: true,
    config: { stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 1, smooth: 0, iterations: 3 }] }] },
  },
  {
    // two pyramid levels (≥ 2^18 values): made by the helpers while the calling thread computes the input statistics
    name: '3D affine mi, pyramid levels made ahead on the team',
    d: 3,
    big: true,
    prefetch: true,
    config: { stages: [{ transform: 'affine', metric: 'mi', levels: AHEAD_LEVELS }] },
  },
  {
    // the same with mse (its samples are not drawn per block: the full-resolution level's made ahead as prepareLevel makes them)
    name: '3D affine mse, pyramid levels made ahead on the team',
    d: 3,
    big: true,
    prefetch: true,
    config: { stages: [{ transform: 'affine', metric: 'mse', levels: AHEAD_LEVELS }] },
  },
  {
    // a bspline stage's own coarse level (shrink 3, no affine level has it) made ahead with the affine's pyramid
    name: '3D affine,bspline mse, a bspline level made ahead with the affine pyramid',
    d: 3,
    big: true,
    prefetch: true,
    config: {
      stages: [
        { transform: 'affine', metric: 'mse', levels: AHEAD_LEVELS },
        { transform: 'bspline', metric: 'mse', gridSpacing: 12, subsetSize: 3000, levels: [{ shrink: 3, smooth: 1.5, iterations: 4 }, { shrink: 1, smooth: 0, iterations: 4 }] },
      ],
    },
  },
  { name: '2D affine mi', d: 2, config: { stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 2, smooth: 1, iterations: 15 }, { shrink: 1, smooth: 0, iterations: 15 }] }] } },
  { name: '2D rigid mse, moving mask', d: 2, mask: true, config: { stages: [{ transform: 'rigid', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 20 }] }] } },
  {
    name: '2D affine,bspline mi (L-BFGS, all pixels)',
    d: 2,
    config: {
      stages: [
        { transform: 'affine', metric: 'mi', levels: [{ shrink: 1, smooth: 0, iterations: 10 }] },
        { transform: 'bspline', metric: 'mi', gridSpacing: 12, levels: [{ shrink: 1, smooth: 0, iterations: 15 }] },
      ],
    },
  },
  { name: '3D affine mi', d: 3, config: { stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 1, smooth: 0, iterations: 10 }] }] } },
  { name: '3D affine mse', d: 3, config: { stages: [{ transform: 'affine', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 10 }] }] } },
  {
    name: '3D affine,bspline mi (stochastic, fresh samples)',
    d: 3,
    config: {
      stages: [
        { transform: 'affine', metric: 'mi', levels: [{ shrink: 1, smooth: 0, iterations: 5 }] },
        { transform: 'bspline', metric: 'mi', gridSpacing: 12, subsetSize: 5000, levels: [{ shrink: 1, smooth: 0, iterations: 15 }] },
      ],
    },
  },
  {
    name: '3D bspline mi (stochastic, fixed mask)',
    d: 3,
    fixedMask: true,
    config: { stages: [{ transform: 'bspline', metric: 'mi', gridSpacing: 12, subsetSize: 3000, levels: [{ shrink: 1, smooth: 0, iterations: 10 }] }] },
  },
  {
    // ≥ 8192 parameters: the merge and the descent steps run as team phases (3 and 4)
    name: '3D bspline mse (stochastic, fine grid: merge and steps on the team)',
    d: 3,
    config: { stages: [{ transform: 'bspline', metric: 'mse', gridSpacing: 3, subsetSize: 4000, levels: [{ shrink: 1, smooth: 0, iterations: 12 }] }] },
  },
  {
    name: '3D bspline mse (L-BFGS)',
    d: 3,
    config: { stages: [{ transform: 'bspline', metric: 'mse', optimizer: 'lbfgs', gridSpacing: 14, levels: [{ shrink: 1, smooth: 0, iterations: 8 }] }] },
  },
];

for (const c of CASES) {
  test(`register: ${c.name} gives bit-identical parameters on 1, 2 and 3 threads`, async () => {
    const { fixed, moving, movingMask, fixedMask } = scene(c.d, c.big, c.prefetch);
    const opts = { ...(c.mask ? { movingMask } : {}), ...(c.fixedMask ? { fixedMask } : {}) };
    const alone = await register(fixed, moving, c.config, opts);
    assert.equal(alone.threads, 1);
    const reference = parameters(alone);
    assert.ok(reference.every(Number.isFinite));
    for (const threads of [1, 2, 3]) {
      const r = await register(fixed, moving, c.config, { ...opts, parallel: team(threads) });
      assert.equal(r.threads, threads);
      assertBitIdentical(parameters(r), reference, `${threads} threads`);
    }
  });
}

test('the helpers took part in the registrations above (else their equality would prove nothing)', () => {
  for (const threads of [2, 3]) assert.ok(team(threads).helperBlocks > 0, `${threads} threads: the helpers did no block`);
});

test('pyramid levels on a team (smoothAndShrinkOn): the same float32 pixels as smoothAndShrink, both images in one session', async () => {
  const u8 = imageFromFunction({ size: [70, 64, 60], spacing: [1, 1.2, 0.9] }, scene3d);
  const fixed = { ...u8, data: Uint8Array.from(u8.data, (v) => Math.max(0, Math.min(255, Math.round(100 * v + 20)))) };
  const moving = imageFromFunction({ size: [66, 70, 61], spacing: [1.1, 1, 1] }, scene3d);
  for (const [sigmas, factors] of [
    [[1, 1, 1], [2, 2, 2]],
    [[2, 2, 0], [4, 4, 1]],
    [[1.5, 0, 0.7], [1, 1, 1]],
  ] as const) {
    const jobs = [fixed, moving].map((img) => ({ img, sigmasVoxels: sigmas, factors }));
    const reference = jobs.map((j) => smoothAndShrink(j.img, j.sigmasVoxels.map((s, a) => s * j.img.spacing[a]), j.factors));
    for (const threads of [2, 3]) {
      const before = team(threads).helperBlocks;
      for (let rep = 0; rep < 20 && team(threads).helperBlocks === before; rep++) {
        const out = await smoothAndShrinkOn(team(threads), jobs);
        out.forEach((img, k) => {
          assert.deepEqual([img.size, img.spacing, img.origin], [reference[k].size, reference[k].spacing, reference[k].origin]);
          assert.deepEqual(new Uint8Array(img.data.buffer), new Uint8Array(reference[k].data.buffer), `${threads} threads, image ${k}`);
        });
      }
      assert.ok(team(threads).helperBlocks > before, `${threads} threads: the helpers did no block`);
    }
  }
  // nothing to do: the image itself
  const same = await smoothAndShrinkOn(team(2), [{ img: moving, sigmasVoxels: [0, 0, 0], factors: [1, 1, 1] }]);
  assert.equal(same[0], moving);
});

test('pyramid smoothing on a team: the same float32 pixels as gaussianSmooth, 2D vector and 3D images', async () => {
  const vol = imageFromFunction({ size: [37, 29, 23], spacing: [1, 1.2, 0.9] }, scene3d);
  const pic = imageFromFunction({ size: [300, 41], spacing: [0.5, 1] }, scene2d);
  const vec = { ...pic, components: 2, data: Float32Array.from({ length: 2 * pic.data.length }, (_, i) => pic.data[i >> 1] * (i & 1 ? -1 : 2)) };
  for (const [img, sigma] of [[vol, [2, 1.5, 0]], [vol, 1.3], [vec, [1, 3]]] as const) {
    const reference = gaussianSmooth(img, sigma);
    for (const threads of [2, 3]) {
      // on a loaded machine the caller may finish a small image before a helper wakes: repeat until one helped (20
      // repetitions were not always enough when another test file kept both cores busy: 2 of 7 full runs one day)
      const before = team(threads).helperBlocks;
      for (let rep = 0; rep < 200 && team(threads).helperBlocks === before; rep++) {
        const out = await gaussianSmoothOn(team(threads), img, sigma);
        assert.deepEqual(new Uint8Array(out.data.buffer), new Uint8Array(reference.data.buffer), `${threads} threads`);
      }
      assert.ok(team(threads).helperBlocks > before, `${threads} threads: the helpers did no block`);
    }
  }
});

test('pyramid levels made ahead on a team (prefetchShrinkOn: x and y passes slab by slab, in the background): the same float32 pixels as smoothAndShrink', async () => {
  const u8 = imageFromFunction({ size: [70, 64, 60], spacing: [1, 1.2, 0.9] }, scene3d);
  const fixed = { ...u8, data: Uint8Array.from(u8.data, (v) => Math.max(0, Math.min(255, Math.round(100 * v + 20)))) };
  const moving = imageFromFunction({ size: [66, 70, 61], spacing: [1.1, 1, 1] }, scene3d);
  // a z pass (σ and a factor along z), none (σ 0, factor 1 along z), an image with nothing to do
  const jobs = [
    ...[fixed, moving].map((img) => ({ img, sigmasVoxels: [2, 2, 2], factors: [4, 4, 4] })),
    ...[fixed, moving].map((img) => ({ img, sigmasVoxels: [1, 1.5, 0], factors: [2, 2, 1] })),
    { img: moving, sigmasVoxels: [0, 0, 0], factors: [1, 1, 1] },
  ];
  const reference = jobs.map((j) => smoothAndShrink(j.img, j.sigmasVoxels.map((s, a) => s * j.img.spacing[a]), j.factors));
  for (const threads of [2, 3]) {
    const before = team(threads).helperBlocks;
    for (let rep = 0; rep < 10 && team(threads).helperBlocks === before; rep++) {
      const started = await prefetchShrinkOn(team(threads), jobs);
      assert.ok(started, 'large enough for a session');
      // (this thread busy elsewhere for a moment: the helpers take slabs meanwhile)
      const until = performance.now() + 20;
      while (performance.now() < until);
      const out = started.join();
      out.forEach((img, k) => {
        if (k === jobs.length - 1) return assert.equal(img, moving, 'nothing to do: the image itself');
        assert.deepEqual([img.size, img.spacing, img.origin], [reference[k].size, reference[k].spacing, reference[k].origin]);
        assert.deepEqual(new Uint8Array(img.data.buffer), new Uint8Array(reference[k].data.buffer), `${threads} threads, image ${k}`);
      });
    }
    assert.ok(team(threads).helperBlocks > before, `${threads} threads: the helpers did no block`);
  }
  // too little work for a session, or no helpers: nothing started
  const small = imageFromFunction({ size: [40, 40, 40], spacing: [1, 1, 1] }, scene3d);
  assert.equal(await prefetchShrinkOn(team(2), [{ img: small, sigmasVoxels: [1, 1, 1], factors: [2, 2, 2] }]), null);
  assert.equal(await prefetchShrinkOn(undefined, jobs), null);
  // prefetchFits says which job lists a session takes (register adds a later bspline stage's levels only when it does)
  assert.equal(prefetchFits(jobs), true);
  assert.equal(prefetchFits([{ img: small, sigmasVoxels: [1, 1, 1], factors: [2, 2, 2] }]), false);
  const huge = { ...small, size: [1200, 1200, 200], data: new Float32Array(0) };
  assert.equal(prefetchFits([{ img: huge, sigmasVoxels: [1, 1, 1], factors: [2, 2, 1] }]), false, 'too many bytes of passes');
  // a cancelled prefetch leaves the team usable
  const cancelled = await prefetchShrinkOn(team(2), jobs);
  cancelled!.cancel();
  const again = await prefetchShrinkOn(team(2), jobs);
  const out = again!.join();
  assert.deepEqual(new Uint8Array(out[0].data.buffer), new Uint8Array(reference[0].data.buffer));
});

test('register: an input error found while the helpers build the pyramid ahead (an empty fixed mask) stops them; the team then registers as before', async () => {
  const c = CASES.find((k) => k.prefetch)!;
  const { fixed, moving } = scene(c.d, c.big, c.prefetch);
  const empty = imageFromFunction({ size: fixed.size, spacing: fixed.spacing, origin: fixed.origin }, () => 0);
  await assert.rejects(register(fixed, moving, c.config, { fixedMask: empty, parallel: team(2) }), /is empty/);
  const reference = parameters(await register(fixed, moving, c.config));
  assertBitIdentical(parameters(await register(fixed, moving, c.config, { parallel: team(2) })), reference, 'after the error');
});

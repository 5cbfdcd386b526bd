// Phase 3 of the B-spline kernel (the merge of the blocks' partial gradients, by chunks of control points): the
// merged gradient equals the plain sum of the blocks' partials in block order, de-interleaved, bit for bit, on
// grids of several chunks, whichever order the chunks run in (as threads take them); 2D and 3D, TypeScript and
// WebAssembly kernels. Phase 4 (the stochastic descent's steps, BSplineRegistrationCost.stochasticSteps): the same
// iterates as optimize/stochastic.ts, bit for bit, on 1 and 2 threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeTeam } from '../../src/cli/worker-pool.js';
import { createImage, finiteRange } from '../../src/image/image.js';
import { optimizeStochasticGradientDescent, runToEnd, type StochasticGradientOptions } from '../../src/optimize/index.js';
import { BSplineRegistrationCost, bsplineBlockSize } from '../../src/register/bspline-cost.js';
import type { SampleSet } from '../../src/register/sampling.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { imageFromFunction, mapAbout, movingFor, rotation3d, scene3d } from './synthetic.js';
import { BlockedMetric, bsplineKernel, MERGE_CHUNK, mergeChunks, prepareMovingSampler, type BSplineKernelInit } from '../../src/register/sample-kernels.js';
import { wasmKernelsAvailable } from '../../src/wasm/kernels.js';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

function merged(d: 2 | 3, wasm: boolean): { expected: Float64Array; actual: Float64Array; chunks: number; P: number } {
  const rnd = lcg(d === 3 ? 11 : 13);
  const size = d === 3 ? [15, 13, 11] : [41, 37];
  const moving = createImage(size, 'float32', { spacing: d === 3 ? [1, 1.1, 1.2] : [1, 1.1], origin: d === 3 ? [0, 0, 0] : [0, 0] });
  for (let i = 0; i < moving.data.length; i++) moving.data[i] = 100 * rnd();
  // a control grid of several merge chunks
  const grid = d === 3 ? [14, 13, 12] : [52, 45];
  const nC = grid.reduce((a, b) => a * b, 1);
  const P = d * nC;
  const count = 6000;
  const points = new Float64Array(d * count);
  for (let i = 0; i < points.length; i++) points[i] = (0.1 + 0.8 * rnd()) * size[i % d] * moving.spacing[i % d];
  const fixed = Float64Array.from({ length: count }, () => 100 * rnd());
  const sampler = prepareMovingSampler(moving, 'linear');
  const blocked = new BlockedMetric(d, count, sampler, points, fixed, null, 'mi', { bins: 16, fixedRange: { min: 0, max: 100 }, movingRange: { min: 0, max: 100 } }, bsplineBlockSize(count));
  // supports in index order (as the sorted draws give them): each block reaches a slab of the grid
  const bases = new Int32Array(count);
  const starts = (d === 3 ? (grid[0] - 3) * (grid[1] - 3) * (grid[2] - 3) : (grid[0] - 3) * (grid[1] - 3)) - 1;
  for (let i = 0; i < count; i++) {
    const s = Math.floor((starts * i) / count);
    const x = s % (grid[0] - 3);
    const y = Math.floor(s / (grid[0] - 3)) % (grid[1] - 3);
    const z = d === 3 ? Math.floor(s / ((grid[0] - 3) * (grid[1] - 3))) : 0;
    bases[i] = rnd() < 0.05 ? -1 : x + grid[0] * (y + grid[1] * z);
  }
  const weights = Float32Array.from({ length: 4 * d * count }, () => rnd());
  const c = Float64Array.from({ length: P }, () => 0.5 * (rnd() - 0.5));
  const A = new Float64Array(d * d);
  for (let r = 0; r < d; r++) A[r * d + r] = 1;
  const init: BSplineKernelInit = {
    ...blocked.init,
    bases,
    weights,
    c,
    gradient: new Float64Array(P),
    A,
    t: new Float64Array(d),
    nx: grid[0],
    nxy: grid[0] * grid[1],
    P,
    gPartials: new Float64Array(blocked.blocks * P),
    ranges: new Int32Array(2 * blocked.blocks),
    stamp: Float64Array.from([1, 1]),
    draw: null,
    wasm,
  };
  const phases = bsplineKernel(init);
  for (let b = 0; b < blocked.blocks; b++) phases[0](b);
  blocked.finish();
  for (let b = 0; b < blocked.blocks; b++) phases[1](b);
  // the plain merge: every block's range added in block order, then de-interleaved
  const gI = new Float64Array(P);
  for (let b = 0; b < blocked.blocks; b++) for (let r = init.ranges[2 * b]; r < init.ranges[2 * b + 1]; r++) gI[r] += init.gPartials[b * P + r];
  const expected = new Float64Array(P);
  for (let k = 0; k < nC; k++) for (let a = 0; a < d; a++) expected[a * nC + k] = gI[d * k + a];
  const chunks = mergeChunks(P, d);
  for (let j = chunks - 1; j >= 0; j--) phases[3](j);
  phases.release?.();
  return { expected, actual: init.gradient, chunks, P };
}

for (const d of [2, 3] as const) {
  for (const wasm of d === 3 ? [false, true] : [false]) {
    test(`${d}D${wasm ? ' (WebAssembly kernel)' : ''}: the merge by chunks gives the blocks' partial gradients summed in block order, bit for bit`, { skip: wasm && !wasmKernelsAvailable() ? 'no WebAssembly SIMD' : false }, () => {
      const { expected, actual, chunks, P } = merged(d, wasm);
      assert.ok(chunks >= 2, `${chunks} chunk(s): the grid must span several`);
      // every chunk holds gradient (else a chunk's wrong offset could hide)
      const nC = P / d;
      for (let j = 0; j < chunks; j++) {
        let any = false;
        for (let k = j * MERGE_CHUNK; k < Math.min(nC, (j + 1) * MERGE_CHUNK) && !any; k++) any = expected[k] !== 0;
        assert.ok(any, `chunk ${j} has no gradient`);
      }
      assert.deepEqual(new Uint8Array(actual.buffer), new Uint8Array(expected.buffer));
    });
  }
}

// --- the stochastic descent on the cost's phases (BSplineRegistrationCost.stochasticSteps) ----------------------

function descentScene(): { cost: () => BSplineRegistrationCost; initial: Float64Array } {
  const grid = { size: [24, 22, 20], spacing: [1.4, 1.5, 1.6], origin: [0.5, 1, 0.5] };
  const fixed = imageFromFunction(grid, scene3d);
  const moving = movingFor({ size: [40, 40, 40], spacing: [1, 1, 1], origin: [-2, -2, -2] }, scene3d, mapAbout(rotation3d(0.02, -0.03, 0.04, 1.01), [16, 16, 16], [0.4, -0.3, 0.2]));
  const affine = new AffineTransform(3);
  affine.setCenter([16, 16, 16]);
  // a fine grid: ≥ 8192 parameters, so that the merge and the steps run as team phases
  const bs = createBSplineTransformForImage(fixed, 2.5);
  assert.ok(bs.numberOfParameters >= 8192 && mergeChunks(bs.numberOfParameters, 3) >= 3, `${bs.numberOfParameters} parameters`);
  const sampler = prepareMovingSampler(moving, 'linear', true);
  const empty: SampleSet = { dimension: 3, count: 0, points: new Float64Array(0), values: new Float64Array(0), voxels: new Int32Array(0) };
  const options = { metric: 'mi' as const, metricOptions: { bins: 20, fixedRange: finiteRange(fixed.data)!, movingRange: finiteRange(moving.data)! } };
  return {
    cost: () => new BSplineRegistrationCost(bs.clone(), affine, empty, sampler, { ...options, fresh: { image: fixed, count: 3000, seed: 5, shared: true } }),
    initial: new Float64Array(bs.numberOfParameters),
  };
}

test('stochastic steps on the cost phases = the stochastic optimiser, bit for bit (1 and 2 threads; clipped steps, averaging)', async () => {
  const { cost, initial } = descentScene();
  const options: StochasticGradientOptions = { maxIterations: 14, learningRate: 2000, maximumParameterStep: 0.3, averageFraction: 0.5 };
  const reference = optimizeStochasticGradientDescent(cost(), initial, options);
  assert.equal(reference.stopReason, 'maximum iterations');
  assert.ok(reference.parameters.some((v) => v !== 0));
  const team = createNodeTeam(2);
  try {
    for (const threads of [1, 2]) {
      const c = cost();
      if (threads === 2) await c.useThreads(team);
      const steps = c.stochasticSteps(initial, options);
      assert.ok(steps, 'applies to a fresh-sample cost without penalties or scales');
      const r = runToEnd(steps);
      c.dispose();
      assert.equal(r.iterations, reference.iterations);
      assert.deepEqual(r.history, reference.history, `${threads} thread(s): values`);
      assert.deepEqual(new Uint8Array(r.parameters.buffer), new Uint8Array(Float64Array.from(reference.parameters).buffer), `${threads} thread(s): parameters`);
    }
    assert.ok(team.helperBlocks > 0, 'the helper took part');
  } finally {
    await team.close();
  }
});

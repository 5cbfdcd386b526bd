// Phase 3 of the B-spline kernel (the merge of the blocks' partial gradients, by chunks of control points): the
// merged gradient equals the plain sum of the blocks' partials in block order, de-interleaved, bit for bit, on
// grids of several chunks (of MERGE_CHUNK control points, or a quarter of a smaller grid), whichever order the
// chunks run in (as threads take them); 2D and 3D, TypeScript and WebAssembly kernels. Phase 5 (a histogram's
// merge by fixed rows): the same cost and derivative coefficients as the calling thread's merge, bit for bit. Phase 4 (the stochastic descent's steps, BSplineRegistrationCost.stochasticSteps): the same
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
import { BlockedMetric, bsplineKernel, histogramMergeBuffers, histogramMergeChunks, MERGE_CHUNK, mergeChunkSize, mergeChunks, prepareMovingSampler, type BSplineKernelInit } from '../../src/register/sample-kernels.js';
import { wasmKernelsAvailable } from '../../src/wasm/kernels.js';
import { placeSamples } from '../../src/register/wasm-measure.js';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

function merged(d: 2 | 3, wasm: boolean, large = false): { expected: Float64Array; actual: Float64Array; chunks: number; P: number; histogram: { finished: [number, Float64Array]; merged: [number, Float64Array] } } {
  const rnd = lcg(d === 3 ? 11 : 13);
  const size = d === 3 ? [15, 13, 11] : [41, 37];
  const moving = createImage(size, 'float32', { spacing: d === 3 ? [1, 1.1, 1.2] : [1, 1.1], origin: d === 3 ? [0, 0, 0] : [0, 0] });
  for (let i = 0; i < moving.data.length; i++) moving.data[i] = 100 * rnd();
  // a control grid of several merge chunks
  const grid = large ? (d === 3 ? [18, 16, 16] : [70, 62]) : d === 3 ? [14, 13, 12] : [52, 45];
  const nC = grid.reduce((a, b) => a * b, 1);
  const P = d * nC;
  const count = 6000;
  const points = new Float64Array(d * count);
  for (let i = 0; i < points.length; i++) points[i] = (0.1 + 0.8 * rnd()) * size[i % d] * moving.spacing[i % d];
  const fixed = Float64Array.from({ length: count }, () => 100 * rnd());
  const sampler = prepareMovingSampler(moving, 'linear');
  const placed = wasm ? placeSamples(d, count, sampler.plane, null, { supports: true, always: true }) : null;
  const blocked = new BlockedMetric(d, count, sampler, points, fixed, null, 'mi', { bins: 16, fixedRange: { min: 0, max: 100 }, movingRange: { min: 0, max: 100 } }, bsplineBlockSize(count), placed?.packed);
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
    wasm: placed?.wasm ?? null,
  };
  const buffers = histogramMergeBuffers(16);
  const phases = bsplineKernel({ ...init, histogram: buffers });
  for (let b = 0; b < blocked.blocks; b++) phases[0](b);
  // phase 5's chunks in reverse (as threads may take them) and the calling thread's finalize; then finish()
  for (let c = histogramMergeChunks(16) - 1; c >= 0; c--) phases[5](c);
  const viaTeam: [number, Float64Array] = [blocked.finishMerged(buffers.merged, buffers.logs), Float64Array.from(init.coefficients)];
  const here: [number, Float64Array] = [blocked.finish(), Float64Array.from(init.coefficients)];
  for (let b = 0; b < blocked.blocks; b++) phases[1](b);
  // the plain merge: every block's range added in block order, then de-interleaved
  const gI = new Float64Array(P);
  for (let b = 0; b < blocked.blocks; b++) for (let r = init.ranges[2 * b]; r < init.ranges[2 * b + 1]; r++) gI[r] += init.gPartials[b * P + r];
  const expected = new Float64Array(P);
  for (let k = 0; k < nC; k++) for (let a = 0; a < d; a++) expected[a * nC + k] = gI[d * k + a];
  const chunks = mergeChunks(P, d);
  for (let j = chunks - 1; j >= 0; j--) phases[3](j);
  phases.release?.();
  return { expected, actual: init.gradient, chunks, P, histogram: { finished: here, merged: viaTeam } };
}

for (const d of [2, 3] as const) {
  for (const wasm of d === 3 ? [false, true] : [false]) {
    for (const large of [false, true]) {
      test(`${d}D${wasm ? ' (WebAssembly kernel)' : ''}, ${large ? 'chunks of MERGE_CHUNK' : 'a small grid in 4 chunks'}: the merge by chunks gives the blocks' partial gradients summed in block order, bit for bit; so does phase 5 the histogram`, { skip: wasm && !wasmKernelsAvailable() ? 'no WebAssembly SIMD' : false }, () => {
        const { expected, actual, chunks, P, histogram } = merged(d, wasm, large);
        const chunk = mergeChunkSize(P, d);
        assert.equal(chunk === MERGE_CHUNK, large);
        assert.ok(chunks >= 4, `${chunks} chunk(s): the grid must span several`);
        // every chunk holds gradient (else a chunk's wrong offset could hide)
        const nC = P / d;
        for (let j = 0; j < chunks; j++) {
          let any = false;
          for (let k = j * chunk; k < Math.min(nC, (j + 1) * chunk) && !any; k++) any = expected[k] !== 0;
          assert.ok(any, `chunk ${j} has no gradient`);
        }
        assert.deepEqual(new Uint8Array(actual.buffer), new Uint8Array(expected.buffer));
        assert.equal(histogram.merged[0], histogram.finished[0]);
        assert.ok(Number.isFinite(histogram.finished[0]) && histogram.finished[1].some((v) => v !== 0));
        assert.deepEqual(new Uint8Array(histogram.merged[1].buffer), new Uint8Array(histogram.finished[1].buffer));
      });
    }
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

// The WebAssembly SIMD kernels (src/wasm, wired in src/register/wasm-linear.ts) against the TypeScript reference
// kernels on random data, 2D and 3D, float32 and float64 planes, histogram and moment measures: the packed samples,
// the blocks' metric sums, ∂cost/∂m and the moment matrices agree to 1e-6 relative (in fact bit for bit), also
// when another instance over the same arena (another thread) runs a block's second phase, or when one thread runs
// the TypeScript kernel over the arena's arrays; the shared arena's allocator, reset and epochs; and whole
// registrations give the same transform with and without the module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeTeam } from '../../src/cli/worker-pool.js';
import { createImage, type Image } from '../../src/image/image.js';
import type { RegistrationConfig } from '../../src/register/config.js';
import type { SampledMetricName } from '../../src/metric/index.js';
import { sharedFloat64 } from '../../src/register/parallel-for.js';
import { BlockedMetric, bsplineKernel, linearKernel, prepareMovingSampler, type BSplineKernelInit, type LinearKernelInit } from '../../src/register/sample-kernels.js';
import { register } from '../../src/register/register.js';
import type { ParametricTransform } from '../../src/transform/transform.js';
import { ARENA_BASE, dropIdleArenas, KernelArena, releaseArena, setWasmKernels, wasmKernelsAvailable } from '../../src/wasm/kernels.js';
import { placeSamples } from '../../src/register/wasm-measure.js';
import { imageFromFunction, mapAbout, movingFor, rotation3d, scene3d } from '../register/synthetic.js';

const NO_WASM = wasmKernelsAvailable() ? false : 'WebAssembly SIMD is not available in this engine';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

interface Case {
  d: 2 | 3;
  type: 'float32' | 'float64';
  metric: SampledMetricName;
}

/** A random moving image, random sample points (about a tenth outside), random fixed values and affine. */
function setup(c: Case, seed: number): { moving: Image; points: Float64Array; fixed: Float64Array; A: Float64Array; t: Float64Array; count: number } {
  const rnd = lcg(seed);
  const size = c.d === 3 ? [13, 11, 9] : [37, 29];
  const moving = createImage(size, c.type, { spacing: c.d === 3 ? [1.1, 0.9, 1.3] : [0.8, 1.2], origin: c.d === 3 ? [-2, 1, 0.5] : [3, -1] });
  for (let i = 0; i < moving.data.length; i++) moving.data[i] = 100 * rnd() - 20;
  const count = 5000;
  const points = new Float64Array(c.d * count);
  // over the moving image's extent and 10% beyond on each side
  for (let i = 0; i < points.length; i++) {
    const a = i % c.d;
    const extent = size[a] * moving.spacing[a];
    points[i] = moving.origin[a] + (1.2 * rnd() - 0.1) * extent;
  }
  const fixed = new Float64Array(count);
  for (let i = 0; i < count; i++) fixed[i] = 50 * rnd();
  const A = new Float64Array(c.d * c.d);
  for (let r = 0; r < c.d; r++) for (let k = 0; k < c.d; k++) A[r * c.d + k] = (r === k ? 1 : 0) + 0.1 * (rnd() - 0.5);
  const t = Float64Array.from({ length: c.d }, () => rnd() - 0.5);
  return { moving, points, fixed, A, t, count };
}

/**
 * A linear kernel's init as LinearRegistrationCost makes it (with `wasm`: its data placed in a shared arena) and
 * two kernels over it: two "threads". `mixed`: the first kernel is the TypeScript one over the arena's arrays.
 */
function build(c: Case, s: ReturnType<typeof setup>, wasm: boolean, mixed = false): { init: LinearKernelInit; blocked: BlockedMetric; phases: ReturnType<typeof linearKernel>[] } {
  const sampler = prepareMovingSampler(s.moving, 'linear');
  const placed = wasm ? placeSamples(c.d, s.count, sampler.plane, { points: s.points, fixed: s.fixed }, { always: true }) : null;
  assert.equal(placed !== null, wasm, 'placed in an arena exactly when asked');
  const blocked = new BlockedMetric(
    c.d,
    s.count,
    sampler,
    s.points,
    s.fixed,
    null,
    c.metric,
    {
      bins: 24,
      fixedRange: { min: 0, max: 50 },
      movingRange: { min: -10, max: 70 },
    },
    undefined,
    placed?.packed,
  );
  const d = c.d;
  const init: LinearKernelInit = { ...blocked.init, params: sharedFloat64(d * d + d + 1), moments: sharedFloat64(blocked.blocks * d * (d + 1)), wasm: placed?.wasm ?? null };
  setWasmKernels(mixed ? false : wasm);
  const first = linearKernel(init);
  setWasmKernels(wasm);
  try {
    return { init, blocked, phases: [first, linearKernel(init)] };
  } finally {
    setWasmKernels(undefined);
  }
}

/**
 * One evaluation: phase 0 of block b on kernel (b % 2), phase 1 on kernel (b + shift) % 2 ("2 threads"); with
 * shift < 0, kernel 0 alone runs every block.
 */
function evaluate(r: ReturnType<typeof build>, s: ReturnType<typeof setup>, stamp: number, shift: number): { value: number; init: LinearKernelInit } {
  const d = s.A.length === 9 ? 3 : 2;
  const { init, blocked, phases } = r;
  init.params.set(s.A, 0);
  init.params.set(s.t, d * d);
  init.params[d * d + d] = stamp;
  const first = (b: number): number => (shift < 0 ? 0 : b % 2);
  const second = (b: number): number => (shift < 0 ? 0 : (b + shift) % 2);
  for (let b = 0; b < blocked.blocks; b++) phases[first(b)][0](b);
  const value = blocked.finish();
  for (let b = 0; b < blocked.blocks; b++) phases[second(b)][1](b);
  return { value, init };
}

function assertRelativelyEqual(a: ArrayLike<number>, b: ArrayLike<number>, n: number, what: string): void {
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    const scale = Math.max(Math.abs(x), Math.abs(y), 1e-300);
    assert.ok(x === y || Math.abs(x - y) <= 1e-6 * scale, `${what}[${i}]: wasm ${x} vs TypeScript ${y}`);
  }
  // stronger than asked: the kernels repeat the reference's operations, so the results are the same doubles
  assert.deepEqual(Array.from(a).slice(0, n), Array.from(b).slice(0, n), `${what}: not bit-identical`);
}

for (const d of [2, 3] as const) {
  for (const type of ['float32', 'float64'] as const) {
    for (const metric of ['mi', 'nmi', 'mse', 'ncc'] as SampledMetricName[]) {
      test(`wasm linear kernel = TypeScript kernel: ${d}D ${type} ${metric}`, { skip: NO_WASM }, () => {
        const c: Case = { d, type, metric };
        const s = setup(c, 17 + d + (type === 'float32' ? 0 : 100));
        const ts = build(c, s, false);
        const wa = build(c, s, true);
        assert.notEqual(wa.phases[0], ts.phases[0]);
        for (const [stamp, shift] of [
          [1, 0],
          [2, 1],
          [3, 1],
          [4, -1],
          [5, -1],
          [NaN, 0],
        ]) {
          // a different affine every evaluation
          s.t[0] += 0.23;
          const a = evaluate(wa, s, stamp, shift);
          const b = evaluate(ts, s, stamp, shift);
          assert.equal(a.value, b.value, 'metric value');
          const n = s.count;
          assert.deepEqual(Array.from(a.init.validCounts), Array.from(b.init.validCounts), 'valid samples per block');
          const blocks = ts.blocked.blocks;
          for (let blk = 0; blk < blocks; blk++) {
            const start = blk * ts.init.blockSize;
            const end = start + b.init.validCounts[blk];
            // (the packed samples are the arena's arrays: every thread's kernel writes and reads them there)
            assertRelativelyEqual(a.init.values.subarray(start, end), b.init.values.subarray(start, end), end - start, 'values');
            assertRelativelyEqual(a.init.grads.subarray(d * start, d * end), b.init.grads.subarray(d * start, d * end), d * (end - start), 'gradients');
            assert.deepEqual(Array.from(a.init.index.subarray(start, end)), Array.from(b.init.index.subarray(start, end)), 'sample index');
            assertRelativelyEqual(a.init.dValue.subarray(start, end), b.init.dValue.subarray(start, end), end - start, '∂cost/∂m');
          }
          assertRelativelyEqual(a.init.partials, b.init.partials, a.init.partials.length, 'block sums');
          assertRelativelyEqual(a.init.moments, b.init.moments, a.init.moments.length, 'moment matrices');
          let valid = 0;
          for (const v of a.init.validCounts) valid += v;
          assert.ok(valid > 0.3 * n && valid < n, `${valid} of ${n} samples inside: the test covers both`);
        }
      });
    }
  }
}

for (const d of [2, 3] as const) {
  test(`one thread on the TypeScript kernel, one on wasm, over one arena (${d}D mi): the TypeScript kernel's results`, { skip: NO_WASM }, () => {
    const c: Case = { d, type: 'float32', metric: 'mi' };
    const s = setup(c, 31 + d);
    const ts = build(c, s, false);
    const mixed = build(c, s, true, true);
    assert.equal(mixed.phases[0].release, undefined, 'the first kernel is the TypeScript one');
    assert.equal(typeof mixed.phases[1].release, 'function', 'the second is the WebAssembly one');
    for (const [stamp, shift] of [
      [1, 1],
      [2, 0],
      [3, 1],
      [4, -1],
    ]) {
      s.t[0] += 0.19;
      const a = evaluate(mixed, s, stamp, shift);
      const b = evaluate(ts, s, stamp, shift);
      assert.equal(a.value, b.value, `evaluation ${stamp}: metric value`);
      assert.deepEqual(Array.from(a.init.validCounts), Array.from(b.init.validCounts), `evaluation ${stamp}: valid samples per block`);
      assertRelativelyEqual(a.init.partials, b.init.partials, a.init.partials.length, `evaluation ${stamp}: block sums`);
      for (let blk = 0; blk < mixed.blocked.blocks; blk++) {
        const start = blk * mixed.init.blockSize;
        const end = start + b.init.validCounts[blk];
        assertRelativelyEqual(a.init.dValue.subarray(start, end), b.init.dValue.subarray(start, end), end - start, `evaluation ${stamp}: ∂cost/∂m`);
      }
      assertRelativelyEqual(a.init.moments, b.init.moments, a.init.moments.length, `evaluation ${stamp}: moment matrices`);
    }
    mixed.phases[1].release?.();
  });
}

test('a 3D affine mi registration gives the same transform with wasm and TypeScript kernels', { skip: NO_WASM }, async () => {
  const grid = { size: [24, 24, 24] };
  const fixed = imageFromFunction(grid, scene3d);
  const truth = mapAbout(rotation3d(0.05, -0.03, 0.04, 1.02), [12, 12, 12], [0.8, -0.6, 0.5]);
  const moving = movingFor(grid, scene3d, truth);
  const run = async (wasm: boolean): Promise<number[]> => {
    setWasmKernels(wasm);
    try {
      const r = await register(fixed, moving, {
        stages: [{ transform: 'affine', metric: 'mi', levels: [{ shrink: 2, smooth: 1, iterations: 30 }, { shrink: 1, smooth: 0, iterations: 30 }] }],
        initializer: 'none',
      });
      return Array.from((r.transforms[0] as ParametricTransform).parameters);
    } finally {
      setWasmKernels(undefined);
    }
  };
  const a = await run(true);
  const b = await run(false);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])), `parameter ${i}: wasm ${a[i]} vs TypeScript ${b[i]}`);
  assert.deepEqual(a, b, 'not bit-identical');
});

// --- B-spline kernel (3D) ---------------------------------------------------------------------------------------

function buildBSpline(kind: 'bspline' | 'float32' | 'float64', metric: SampledMetricName, wasm: boolean, seed: number): { init: BSplineKernelInit; blocked: BlockedMetric; phases: ReturnType<typeof bsplineKernel>[]; redraw: () => void } {
  const rnd = lcg(seed);
  const c: Case = { d: 3, type: kind === 'float32' ? 'float32' : 'float64', metric };
  const s = setup(c, seed);
  const sampler = prepareMovingSampler(s.moving, kind === 'bspline' ? 'bspline' : 'linear');
  // (as BSplineRegistrationCost places it; the supports here stay the test's own arrays, which the kernel copies)
  const placed = wasm ? placeSamples(3, s.count, sampler.plane, null, { supports: true, always: true }) : null;
  const blocked = new BlockedMetric(3, s.count, sampler, s.points, s.fixed, null, metric, { bins: 24, fixedRange: { min: 0, max: 50 }, movingRange: { min: -10, max: 70 } }, undefined, placed?.packed);
  const [gx, gy, gz] = [8, 7, 6];
  const P = 3 * gx * gy * gz;
  const bases = new Int32Array(s.count);
  const weights = new Float32Array(12 * s.count);
  const redraw = (): void => {
    for (let i = 0; i < s.count; i++) {
      bases[i] = rnd() < 0.1 ? -1 : Math.floor(rnd() * (gx - 3)) + gx * Math.floor(rnd() * (gy - 3)) + gx * gy * Math.floor(rnd() * (gz - 3));
      for (let j = 0; j < 12; j++) weights[12 * i + j] = rnd();
    }
  };
  redraw();
  const coef = new Float64Array(P);
  for (let j = 0; j < P; j++) coef[j] = 0.6 * (rnd() - 0.5);
  const init: BSplineKernelInit = {
    ...blocked.init,
    bases,
    weights,
    c: coef,
    gradient: new Float64Array(P),
    A: s.A,
    t: s.t,
    nx: gx,
    nxy: gx * gy,
    P,
    gPartials: new Float64Array(blocked.blocks * P),
    ranges: new Int32Array(2 * blocked.blocks),
    stamp: new Float64Array(2),
    draw: null,
    wasm: placed?.wasm ?? null,
  };
  setWasmKernels(wasm);
  try {
    return { init, blocked, phases: [bsplineKernel(init), bsplineKernel(init)], redraw };
  } finally {
    setWasmKernels(undefined);
  }
}

for (const kind of ['bspline', 'float32', 'float64'] as const) {
  for (const metric of ['mi', 'mse'] as SampledMetricName[]) {
    test(`wasm B-spline kernel = TypeScript kernel: 3D, moving ${kind === 'bspline' ? 'cubic B-spline' : `linear ${kind}`}, ${metric}`, { skip: NO_WASM }, () => {
      const a = buildBSpline(kind, metric, true, 5);
      const b = buildBSpline(kind, metric, false, 5);
      for (const [stamp, shift] of [
        [1, 0],
        [2, 1],
        [3, -1],
        [4, 1],
      ]) {
        // a new draw of the supports (as a stochastic sampler does) and new coefficients every evaluation
        for (const r of [a, b]) {
          r.redraw();
          r.init.c[stamp] += 0.1;
          r.init.stamp![0] = stamp;
          r.init.stamp![1] = shift < 0 ? 1 : 2;
        }
        const results = [a, b].map((r) => {
          const first = (blk: number): number => (shift < 0 ? 0 : blk % 2);
          const second = (blk: number): number => (shift < 0 ? 0 : (blk + shift) % 2);
          for (let blk = 0; blk < r.blocked.blocks; blk++) r.phases[first(blk)][0](blk);
          const value = r.blocked.finish();
          for (let blk = 0; blk < r.blocked.blocks; blk++) r.phases[second(blk)][1](blk);
          return value;
        });
        assert.equal(results[0], results[1], 'metric value');
        assert.deepEqual(Array.from(a.init.validCounts), Array.from(b.init.validCounts), 'valid samples per block');
        assert.deepEqual(Array.from(a.init.ranges), Array.from(b.init.ranges), 'control point ranges');
        for (let blk = 0; blk < b.blocked.blocks; blk++) {
          const start = blk * b.init.blockSize;
          const end = start + b.init.validCounts[blk];
          assertRelativelyEqual(a.init.values.subarray(start, end), b.init.values.subarray(start, end), end - start, 'values');
          assertRelativelyEqual(a.init.grads.subarray(3 * start, 3 * end), b.init.grads.subarray(3 * start, 3 * end), 3 * (end - start), 'gradients');
          assertRelativelyEqual(a.init.dValue.subarray(start, end), b.init.dValue.subarray(start, end), end - start, '∂cost/∂m');
          const o = blk * b.init.P;
          const from = b.init.ranges[2 * blk];
          const to = b.init.ranges[2 * blk + 1];
          assertRelativelyEqual(a.init.gPartials.subarray(o + from, o + to), b.init.gPartials.subarray(o + from, o + to), to - from, 'partial gradients');
        }
      }
    });
  }
}

test('a 3D affine (mse), bspline (mi) registration gives the same transforms with wasm and TypeScript kernels', { skip: NO_WASM }, async () => {
  const grid = { size: [20, 20, 20] };
  const fixed = imageFromFunction(grid, scene3d);
  const truth = mapAbout(rotation3d(0.03, -0.02, 0.02, 1.01), [10, 10, 10], [0.5, -0.4, 0.3]);
  const moving = movingFor(grid, scene3d, truth);
  const run = async (wasm: boolean): Promise<number[][]> => {
    setWasmKernels(wasm);
    try {
      const r = await register(fixed, moving, {
        stages: [
          { transform: 'affine', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 15 }] },
          { transform: 'bspline', metric: 'mi', gridSpacing: 8, levels: [{ shrink: 1, smooth: 0, iterations: 10 }] },
        ],
        initializer: 'none',
      });
      return r.transforms.map((t) => Array.from((t as ParametricTransform).parameters));
    } finally {
      setWasmKernels(undefined);
    }
  };
  const a = await run(true);
  const b = await run(false);
  assert.equal(a.length, b.length);
  for (let s = 0; s < a.length; s++) {
    for (let i = 0; i < a[s].length; i++) assert.ok(Math.abs(a[s][i] - b[s][i]) <= 1e-6 * Math.max(1, Math.abs(b[s][i])), `transform ${s} parameter ${i}: wasm ${a[s][i]} vs TypeScript ${b[s][i]}`);
  }
  assert.deepEqual(a, b, 'not bit-identical');
});

test('a team (2 threads) over one arena gives the parameters of one thread', { skip: NO_WASM }, async () => {
  const fixed = imageFromFunction({ size: [48, 46, 44], spacing: [1.5, 1.5, 1.6], origin: [-1, -2, -1] }, scene3d);
  const grid = { size: [50, 50, 48], spacing: [1.4, 1.4, 1.5], origin: [-2, -2, -2] };
  const moving = movingFor(grid, scene3d, mapAbout(rotation3d(0.03, -0.02, 0.04, 1.02), [30, 30, 30], [0.8, -0.6, 0.5]));
  // (more than TEAM_MIN_SAMPLES samples: the linear level runs on the team)
  const config: RegistrationConfig = {
    stages: [
      { transform: 'affine', metric: 'mi', samplingPercentage: 1, levels: [{ shrink: 1, smooth: 0, iterations: 6 }] },
      { transform: 'bspline', metric: 'mi', gridSpacing: 12, subsetSize: 5000, levels: [{ shrink: 1, smooth: 0, iterations: 6 }] },
    ],
  };
  const params = (r: Awaited<ReturnType<typeof register>>): number[] => r.transforms.flatMap((t) => Array.from((t as ParametricTransform).parameters));
  const alone = params(await register(fixed, moving, config));
  const team = createNodeTeam(2);
  try {
    const before = team.helperBlocks;
    const together = params(await register(fixed, moving, config, { parallel: team }));
    assert.ok(team.helperBlocks > before, 'the helper did no block');
    assert.deepEqual(together, alone);
  } finally {
    await team.close();
  }
});

test('the arena: 16-byte aligned allocations from ARENA_BASE, −1 and `failed` past 4 GiB', { skip: NO_WASM }, () => {
  const arena = KernelArena.create()!;
  const a = arena.alloc(10);
  const b = arena.alloc(1000);
  assert.equal(a, ARENA_BASE);
  assert.equal(b, ARENA_BASE + 16);
  assert.equal(arena.alloc(24) % 16, 0);
  assert.ok(arena.memory.buffer.byteLength >= b + 1000);
  assert.equal(arena.failed, false);
  assert.equal(arena.alloc(5 * 2 ** 30), -1, 'more than a 32-bit memory holds');
  assert.equal(arena.failed, true);
});

test('the arena: another thread attaching to its memory allocates after what is there; reset starts over, zeroed() zeroes', { skip: NO_WASM }, () => {
  const arena = KernelArena.create()!;
  const p = arena.alloc(64);
  arena.f64(p, 8).fill(7);
  const other = KernelArena.attach(arena.memory);
  assert.equal(other.alloc(16), p + 64, 'one allocator, in the memory');
  assert.equal(arena.reset(), true);
  const q = arena.zeroed(64);
  assert.equal(q, ARENA_BASE);
  assert.deepEqual(Array.from(arena.f64(q, 8)), new Array(8).fill(0));
});

test('the arena: a kernel built for an old epoch does not touch it; a reset during a build gives the arena up', { skip: NO_WASM }, () => {
  const arena = KernelArena.create()!;
  const epoch = arena.epoch;
  assert.equal(arena.build(epoch, () => 'built'), 'built');
  assert.equal(arena.reset(), true);
  assert.notEqual(arena.epoch, epoch);
  let ran = false;
  assert.equal(
    arena.build(epoch, () => {
      ran = true;
      return 1;
    }),
    null,
  );
  assert.equal(ran, false, 'the late build did not run');
  // a reset while a build is under way (another thread's): the arena must not be used again
  const during = arena.build(arena.epoch, () => arena.reset());
  assert.equal(during, false);
});

test('a released arena is reused (reset) by the next placement, whose kernels compute the same', { skip: NO_WASM }, () => {
  dropIdleArenas();
  const run = (r: ReturnType<typeof buildBSpline>, k: number): number => {
    for (let blk = 0; blk < r.blocked.blocks; blk++) r.phases[k][0](blk);
    const value = r.blocked.finish();
    for (let blk = 0; blk < r.blocked.blocks; blk++) r.phases[k][1](blk);
    return value;
  };
  const first = buildBSpline('float32', 'mi', true, 9);
  const expected = run(first, 0);
  const gradient = Float64Array.from(first.init.gPartials);
  assert.ok(typeof first.phases[1].release === 'function', 'a wasm kernel can be released');
  first.phases[1].release!();
  assert.throws(() => first.phases[1][0](0), /after its release/);
  for (const p of first.phases) p.release?.();
  const memory = first.init.wasm!.memory;
  releaseArena(KernelArena.attach(memory));
  // the same inputs again, in the reused arena (its pages still hold the last kernels' data until the reset)
  const second = buildBSpline('float32', 'mi', true, 9);
  assert.equal(second.init.wasm!.memory, memory, 'the same memory');
  assert.equal(run(second, 0), expected);
  assert.deepEqual(Array.from(second.init.gPartials), Array.from(gradient));
  // a kernel built over the first placement now (a late helper): it never touches the arena, and throws if run
  const late = bsplineKernel(first.init);
  assert.throws(() => late[0](0), /ended session/);
  for (const p of second.phases) p.release?.();
  dropIdleArenas();
});

test('BSplineRegistrationCost { wasm: false } (the TypeScript kernel) gives the default (wasm) cost bit for bit', { skip: NO_WASM }, async () => {
  const { BSplineRegistrationCost } = await import('../../src/register/bspline-cost.js');
  const { createBSplineTransformForImage } = await import('../../src/transform/bspline.js');
  const { AffineTransform } = await import('../../src/transform/linear.js');
  const { sampleFixedImage } = await import('../../src/register/sampling.js');
  const { finiteRange } = await import('../../src/image/image.js');
  const fixed = imageFromFunction({ size: [20, 18, 16], spacing: [1.2, 1.3, 1.5], origin: [1, 0, -1] }, scene3d);
  const moving = movingFor({ size: [26, 26, 24], spacing: [1, 1, 1], origin: [-1, -2, -2] }, scene3d, mapAbout(rotation3d(0.02, -0.01, 0.03, 1.01), [12, 12, 12], [0.3, -0.2, 0.4]));
  const samples = sampleFixedImage(fixed, { strategy: 'random', percentage: 0.5, seed: 3, jitter: true });
  const bs = createBSplineTransformForImage(fixed, 6);
  const params = Float64Array.from({ length: bs.numberOfParameters }, (_, i) => 0.4 * Math.sin(i * 0.7));
  const affine = new AffineTransform(3);
  const sampler = prepareMovingSampler(moving, 'linear');
  const options = { metric: 'mi' as const, metricOptions: { bins: 16, fixedRange: finiteRange(fixed.data)!, movingRange: finiteRange(moving.data)! } };
  const [ga, gb] = [new Float64Array(bs.numberOfParameters), new Float64Array(bs.numberOfParameters)];
  const va = new BSplineRegistrationCost(bs.clone(), affine, samples, sampler, options).evaluate(params, ga);
  const vb = new BSplineRegistrationCost(bs.clone(), affine, samples, sampler, { ...options, wasm: false }).evaluate(params, gb);
  assert.ok(Number.isFinite(va) && ga.some((v) => v !== 0));
  assert.equal(vb, va);
  assert.deepEqual(Array.from(gb), Array.from(ga));
});


// The WebAssembly SIMD kernels (src/wasm, wired in src/register/wasm-linear.ts) against the TypeScript reference
// kernels on random data, 2D and 3D, float32 and float64 planes, histogram and moment measures: the packed samples,
// the blocks' metric sums, ∂cost/∂m and the moment matrices agree to 1e-6 relative (in fact bit for bit), also
// when another instance (another thread) runs a block's second phase; and whole registrations give the same
// transform with and without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image } from '../../src/image/image.js';
import type { SampledMetricName } from '../../src/metric/index.js';
import { sharedFloat64 } from '../../src/register/parallel-for.js';
import { BlockedMetric, linearKernel, prepareMovingSampler, type LinearKernelInit } from '../../src/register/sample-kernels.js';
import { register } from '../../src/register/register.js';
import type { ParametricTransform } from '../../src/transform/transform.js';
import { setWasmKernels, wasmKernelsAvailable } from '../../src/wasm/kernels.js';
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

function build(c: Case, s: ReturnType<typeof setup>, wasm: boolean): { init: LinearKernelInit; blocked: BlockedMetric; phases: ReturnType<typeof linearKernel>[] } {
  const sampler = prepareMovingSampler(s.moving, 'linear');
  const blocked = new BlockedMetric(c.d, s.count, sampler, s.points, s.fixed, null, c.metric, {
    bins: 24,
    fixedRange: { min: 0, max: 50 },
    movingRange: { min: -10, max: 70 },
  });
  const d = c.d;
  const init: LinearKernelInit = { ...blocked.init, params: sharedFloat64(d * d + d + 2), moments: sharedFloat64(blocked.blocks * d * (d + 1)) };
  setWasmKernels(wasm);
  try {
    // two kernels over the same init: two "threads"
    return { init, blocked, phases: [linearKernel(init), linearKernel(init)] };
  } finally {
    setWasmKernels(undefined);
  }
}

/**
 * One evaluation: phase 0 of block b on kernel (b % 2), phase 1 on kernel (b + shift) % 2 ("2 threads"); with
 * shift < 0, kernel 0 alone runs every block and says so (threads = 1).
 */
function evaluate(r: ReturnType<typeof build>, s: ReturnType<typeof setup>, stamp: number, shift: number): { value: number; init: LinearKernelInit } {
  const d = s.A.length === 9 ? 3 : 2;
  const { init, blocked, phases } = r;
  init.params.set(s.A, 0);
  init.params.set(s.t, d * d);
  init.params[d * d + d] = stamp;
  init.params[d * d + d + 1] = shift < 0 ? 1 : 2;
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
            // one thread alone: the histogram measures keep the packed samples inside the module
            if (shift >= 0 || !metric.endsWith('i')) {
              assertRelativelyEqual(a.init.values.subarray(start, end), b.init.values.subarray(start, end), end - start, 'values');
              assertRelativelyEqual(a.init.grads.subarray(d * start, d * end), b.init.grads.subarray(d * start, d * end), d * (end - start), 'gradients');
              assert.deepEqual(Array.from(a.init.index.subarray(start, end)), Array.from(b.init.index.subarray(start, end)), 'sample index');
            }
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

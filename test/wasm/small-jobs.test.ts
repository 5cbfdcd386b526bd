// Small jobs stay on the TypeScript kernels unless WebAssembly is asked for: a linear kernel over fewer than
// WASM_MIN_SAMPLES samples (a 2D registration) neither compiles the module nor copies the image and samples into an
// arena (issue 13: 2D peak RSS). The kernels compute the same numbers either way (kernels.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { sharedFloat64 } from '../../src/register/parallel-for.js';
import { BlockedMetric, prepareMovingSampler, type LinearKernelInit } from '../../src/register/sample-kernels.js';
import { wasmLinearKernel } from '../../src/register/wasm-linear.js';
import { placeSamples } from '../../src/register/wasm-measure.js';
import { setWasmKernels, WASM_MIN_SAMPLES, wasmArena, wasmKernelsAvailable } from '../../src/wasm/kernels.js';

const NO_WASM = wasmKernelsAvailable() ? false : 'WebAssembly SIMD is not available in this engine';

/** A 2D linear kernel's init over `count` samples, placed in an arena as LinearRegistrationCost places it (when it is). */
function linearInit(count: number): LinearKernelInit {
  const moving = createImage([64, 64], 'float32');
  for (let i = 0; i < moving.data.length; i++) moving.data[i] = (i * 7919) % 101;
  const points = new Float64Array(2 * count);
  for (let i = 0; i < points.length; i++) points[i] = 2 + ((i * 0.618) % 1) * 58;
  const fixed = new Float64Array(count).map((_, i) => (i * 31) % 97);
  const sampler = prepareMovingSampler(moving, 'linear');
  const placed = placeSamples(2, count, sampler.plane, { points, fixed });
  const blocked = new BlockedMetric(2, count, sampler, points, fixed, null, 'mse', {}, undefined, placed?.packed);
  return { ...blocked.init, params: sharedFloat64(4 + 2 + 1), moments: sharedFloat64(blocked.blocks * 6), wasm: placed?.wasm ?? null };
}

test('wasmArena(samples): none below WASM_MIN_SAMPLES unless turned on explicitly; an arena from there on', { skip: NO_WASM }, () => {
  assert.equal(wasmArena(WASM_MIN_SAMPLES - 1), null);
  assert.notEqual(wasmArena(WASM_MIN_SAMPLES), null);
  assert.notEqual(wasmArena(), null);
  setWasmKernels(true);
  try {
    assert.notEqual(wasmArena(10), null);
  } finally {
    setWasmKernels(undefined);
  }
  setWasmKernels(false);
  try {
    assert.equal(wasmArena(WASM_MIN_SAMPLES), null);
  } finally {
    setWasmKernels(undefined);
  }
});

test('a linear kernel over a 2D level (fewer than WASM_MIN_SAMPLES samples) runs in TypeScript by default', { skip: NO_WASM }, () => {
  assert.equal(wasmLinearKernel(linearInit(5000)), null);
  assert.notEqual(wasmLinearKernel(linearInit(WASM_MIN_SAMPLES)), null);
  setWasmKernels(true);
  try {
    assert.notEqual(wasmLinearKernel(linearInit(5000)), null);
  } finally {
    setWasmKernels(undefined);
  }
});

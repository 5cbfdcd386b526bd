// Small jobs stay on the TypeScript kernels unless WebAssembly is asked for: a linear kernel over fewer than
// WASM_MIN_SAMPLES samples (a 2D registration) neither compiles the module nor copies the image and samples into a
// module memory (issue 13: 2D peak RSS). The kernels compute the same numbers either way (kernels.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { sharedFloat64 } from '../../src/register/parallel-for.js';
import { BlockedMetric, prepareMovingSampler, type LinearKernelInit } from '../../src/register/sample-kernels.js';
import { wasmLinearKernel } from '../../src/register/wasm-linear.js';
import { setWasmKernels, WASM_MIN_SAMPLES, wasmKernels, wasmKernelsAvailable } from '../../src/wasm/kernels.js';

const NO_WASM = wasmKernelsAvailable() ? false : 'WebAssembly SIMD is not available in this engine';

function linearInit(count: number): LinearKernelInit {
  const moving = createImage([64, 64], 'float32');
  for (let i = 0; i < moving.data.length; i++) moving.data[i] = (i * 7919) % 101;
  const points = new Float64Array(2 * count);
  for (let i = 0; i < points.length; i++) points[i] = 2 + ((i * 0.618) % 1) * 58;
  const fixed = new Float64Array(count).map((_, i) => (i * 31) % 97);
  const blocked = new BlockedMetric(2, count, prepareMovingSampler(moving, 'linear'), points, fixed, null, 'mse', {});
  return { ...blocked.init, params: sharedFloat64(4 + 2 + 2), moments: sharedFloat64(blocked.blocks * 6) };
}

test('wasmKernels(samples): none below WASM_MIN_SAMPLES unless turned on explicitly; an instance from there on', { skip: NO_WASM }, () => {
  assert.equal(wasmKernels(WASM_MIN_SAMPLES - 1), null);
  assert.notEqual(wasmKernels(WASM_MIN_SAMPLES), null);
  assert.notEqual(wasmKernels(), null);
  setWasmKernels(true);
  try {
    assert.notEqual(wasmKernels(10), null);
  } finally {
    setWasmKernels(undefined);
  }
  setWasmKernels(false);
  try {
    assert.equal(wasmKernels(WASM_MIN_SAMPLES), null);
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

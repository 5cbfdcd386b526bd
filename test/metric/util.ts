// Shared by the metric tests: a seeded generator and a finite-difference check of ∂cost/∂m_i.
import { evaluateMetric, type EvaluateOptions } from '../../src/metric/index.js';
import { assertClose } from '../helpers.js';

/** Deterministic uniform [0, 1) numbers (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fixed values and correlated moving values (m = 0.7·f + noise) of n samples, in roughly [0, 1]. */
export function correlatedSamples(n: number, seed: number): { f: Float64Array; m: Float64Array } {
  const rnd = random(seed);
  const f = new Float64Array(n);
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    f[i] = rnd();
    m[i] = 0.7 * f[i] + 0.3 * rnd();
  }
  return { f, m };
}

/** Checks dValue[i] against central differences of the value at the given sample indices. */
export function checkDerivative(name: string, f: Float64Array, m: Float64Array, options: EvaluateOptions, indices: number[], h = 1e-5, relTol = 1e-5): void {
  const n = f.length;
  const { dValue } = evaluateMetric(name, f, m, n, options);
  let scale = 0;
  for (const v of dValue) scale = Math.max(scale, Math.abs(v));
  if (!(scale > 0)) throw new Error(`${name}: derivative is identically zero`);
  for (const i of indices) {
    const keep = m[i];
    m[i] = keep + h;
    const plus = evaluateMetric(name, f, m, n, options).value;
    m[i] = keep - h;
    const minus = evaluateMetric(name, f, m, n, options).value;
    m[i] = keep;
    assertClose(dValue[i], (plus - minus) / (2 * h), relTol * scale, `${name} ∂/∂m[${i}]`);
  }
}

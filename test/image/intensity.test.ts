// Quantiles by selection: the values an ascending sort puts at the ranks asked for, on every kind of data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantiles, selectRank } from '../../src/image/intensity.js';
import { finiteRange } from '../../src/image/image.js';
import { robustRange } from '../../src/register/preset.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Nearest-rank quantiles of the finite values by a full sort (the definition). */
function bySort(data: ArrayLike<number>, qs: number[]): number[] {
  const v = Float64Array.from(Array.from(data).filter(Number.isFinite)).sort();
  return qs.map((q) => v[Math.min(v.length - 1, Math.max(0, Math.round(q * (v.length - 1))))]);
}

test('selectRank puts at rank k what a sort puts there, the smaller before and the larger after', () => {
  const rand = lcg(7);
  const makers: [string, (n: number) => Float64Array][] = [
    ['random', (n) => Float64Array.from({ length: n }, () => rand() * 1000 - 300)],
    ['few distinct values (uint8-like, mostly 0)', (n) => Float64Array.from({ length: n }, () => (rand() < 0.6 ? 0 : Math.floor(rand() * 5)))],
    ['ascending', (n) => Float64Array.from({ length: n }, (_, i) => i)],
    ['descending', (n) => Float64Array.from({ length: n }, (_, i) => n - i)],
    ['constant', (n) => new Float64Array(n).fill(3)],
    ['organ pipe', (n) => Float64Array.from({ length: n }, (_, i) => Math.min(i, n - 1 - i))],
    ['sawtooth', (n) => Float64Array.from({ length: n }, (_, i) => i % 17)],
  ];
  for (const [name, make] of makers) {
    for (const n of [1, 2, 3, 10, 101, 4096]) {
      const base = make(n);
      const sorted = Float64Array.from(base).sort();
      for (const k of new Set([0, 1, n >> 1, n - 2, n - 1, Math.floor(rand() * n)])) {
        if (k < 0 || k >= n) continue;
        const a = Float64Array.from(base);
        selectRank(a, k, 0, n - 1);
        assert.equal(a[k], sorted[k], `${name} n=${n} k=${k}`);
        for (let i = 0; i < k; i++) assert.ok(a[i] <= a[k], `${name} n=${n} k=${k}: a[${i}] > a[k]`);
        for (let i = k + 1; i < n; i++) assert.ok(a[i] >= a[k], `${name} n=${n} k=${k}: a[${i}] < a[k]`);
        assert.deepEqual(Float64Array.from(a).sort(), sorted, 'a permutation');
      }
    }
  }
});

test('quantiles: selection gives the same answer as a sort (several quantiles, strided subsets, non-finite values, keep)', () => {
  const rand = lcg(11);
  const qs = [0, 0.001, 0.005, 0.01, 0.5, 0.99, 0.995, 0.999, 1];
  for (const n of [1, 5, 1000, 123_457, 900_001]) {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rand() < 0.5 ? 0 : Math.round(rand() * 200) + (rand() < 0.01 ? 5000 : 0);
    if (n > 10) data[3] = NaN;
    const got = quantiles(data, qs)!;
    // the definition on the same evenly strided subset of at most 400 000 values
    const stride = Math.max(1, Math.floor(n / 400_000));
    const subset = Array.from({ length: Math.ceil(n / stride) }, (_, i) => data[i * stride]);
    assert.deepEqual(got, bySort(subset, qs), `n=${n}`);
    // quantiles asked for in any order, repeated
    const shuffled = [0.99, 0.01, 0.5, 0.01];
    assert.deepEqual(quantiles(data, shuffled), bySort(subset, shuffled), `n=${n}, unordered`);
  }
  const keep = (i: number): boolean => i % 3 === 0;
  const data = Float64Array.from({ length: 5000 }, () => rand());
  assert.deepEqual(quantiles(data, [0.1, 0.9], keep), bySort(data.filter((_, i) => keep(i)), [0.1, 0.9]));
  // many quantiles (one sort)
  const many = Array.from({ length: 50 }, (_, i) => i / 49);
  assert.deepEqual(quantiles(data, many), bySort(data, many));
  assert.equal(quantiles(new Float64Array([NaN, Infinity]), [0.5]), null);
});

test('robustRange: the quantiles clamped to the full finite range (the definition), without a pass over all values', () => {
  const rand = lcg(5);
  const definition = (data: ArrayLike<number>, q: [number, number] | null): { min: number; max: number } | null => {
    const full = finiteRange(data);
    if (!full) return null;
    const r = q ? quantiles(data, q) : null;
    return r && r[1] > r[0] ? { min: Math.max(full.min, r[0]), max: Math.min(full.max, r[1]) } : full;
  };
  const n = 1_000_003;
  const noisy = Float32Array.from({ length: n }, () => (rand() < 0.3 ? 0 : rand() * 500 - 100));
  const flat = new Float32Array(n).fill(7);
  flat[12345] = 9;
  // the strided subset (every 2nd value) holds only NaN: the full range comes from the others
  const hidden = Float64Array.from({ length: n }, (_, i) => (i % 2 === 0 ? NaN : i));
  for (const [name, data] of [['noisy', noisy], ['mostly constant', flat], ['finite values only off the subset', hidden], ['nothing finite', new Float64Array(9).fill(NaN)]] as const) {
    for (const q of [[0.005, 0.995], [0, 1], null] as ([number, number] | null)[]) {
      assert.deepEqual(robustRange(data, q), definition(data, q), `${name} ${JSON.stringify(q)}`);
    }
  }
});

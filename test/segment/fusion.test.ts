import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { majorityVote } from '../../src/segment/fusion.js';
import { assertClose } from '../helpers.js';
import { localWeights, locallyWeightedVote } from '../../src/segment/weighted-vote.js';
import { staple } from '../../src/segment/staple.js';
import { jointFusionWeights, jointLabelFusion } from '../../src/segment/joint-fusion.js';

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function errorRate(labels: ArrayLike<number>, truth: ArrayLike<number>): number {
  let wrong = 0;
  for (let i = 0; i < truth.length; i++) if (labels[i] !== truth[i]) wrong++;
  return wrong / truth.length;
}

test('majority vote: known answers, ties to the smallest label, sparse and negative labels, probabilities', () => {
  const votes = [Int32Array.from([0, 5, 300, 7, -2, 5]), Uint16Array.from([0, 5, 7, 300, 9, 9]), Int32Array.from([1, 300, 300, 7, 9, -2])];
  const r = majorityVote(votes, { probabilities: true });
  // voxel 1: 5,5,300 → 5; voxel 2: 300,7,300 → 300; voxel 4: -2,9,9 → 9; voxel 5: three different → smallest (-2)
  assert.deepEqual([...r.labels], [0, 5, 300, 7, 9, -2]);
  assert.deepEqual([...r.labelValues], [-2, 0, 1, 5, 7, 9, 300]);
  const p = r.probabilities!;
  for (let v = 0; v < 6; v++) {
    let sum = 0;
    for (const m of p) sum += m[v];
    assertClose(sum, 1, 1e-6, `probability sum at ${v}`);
  }
  assertClose(p[r.labelValues.indexOf(300)][2], 2 / 3, 1e-6);
  // Two atlases, 1 vs 2 everywhere: a tie, resolved to the smaller label whatever the order.
  assert.deepEqual([...majorityVote([Uint8Array.from([2, 1]), Uint8Array.from([1, 2])]).labels], [1, 1]);
  assert.equal(majorityVote([Uint8Array.from([4])]).probabilities, undefined);
});

/** assert.throws matcher: a CoregError about `subject` whose message matches `message`. */
function coregError(subject: string, message: RegExp = /./): (e: unknown) => boolean {
  return (e) => e instanceof CoregError && e.subject === subject && message.test(e.message);
}

test('fusion input errors are CoregErrors', () => {
  assert.throws(() => majorityVote([]), CoregError);
  assert.throws(() => majorityVote([Int32Array.from([1, 2]), Int32Array.from([1])]), /atlas 2 has 1 voxels/);
  assert.throws(() => majorityVote([Float32Array.from([1.5, 2])]), /labels must be integers/);
  const img = Float32Array.from([1, 2, 3, 4]);
  const lab = Int32Array.from([1, 1, 2, 2]);
  assert.throws(() => locallyWeightedVote([lab], [img], img, [2, 3]), /grid/);
  assert.throws(() => locallyWeightedVote([lab], [], img, [2, 2]), /1 label maps but 0 atlas images/);
  assert.throws(() => locallyWeightedVote([lab], [img], img, [2, 2], { radius: -1 }), coregError('radius', /integer ≥ 0/));
  assert.throws(() => locallyWeightedVote([lab], [img], img, [2, 2], { power: 0 }), coregError('power'));
  assert.throws(() => jointLabelFusion([lab], [img], img, [2, 2], { beta: -1 }), coregError('beta'));
  assert.throws(() => jointLabelFusion([lab], [img], img, [2, 2], { alpha: 0 }), coregError('alpha'));
  assert.throws(() => staple([lab], { maxIterations: 0 }), coregError('maxIterations'));
});

/** 20×10 target: left half a ramp, right half a different ramp; truth label 2 everywhere. */
function twoAtlasCase(): { target: Float32Array; images: Float32Array[]; votes: Int32Array[]; size: number[] } {
  const nx = 20;
  const ny = 10;
  const target = new Float32Array(nx * ny);
  const a = new Float32Array(nx * ny);
  const b = new Float32Array(nx * ny);
  const la = new Int32Array(nx * ny);
  const lb = new Int32Array(nx * ny);
  const random = rng(7);
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      const v = x + nx * y;
      target[v] = 10 * Math.sin(x / 2) + 5 * Math.cos(y / 3) + 50;
      const noise = 40 * (random() - 0.5);
      // Left: atlas A looks like the target and is right; B is dissimilar and wrong. Right: the reverse.
      if (x < nx / 2) {
        a[v] = target[v];
        b[v] = target[v] + noise;
        la[v] = 2;
        lb[v] = 1;
      } else {
        a[v] = target[v] + noise;
        b[v] = target[v];
        la[v] = 1;
        lb[v] = 2;
      }
    }
  }
  return { target, images: [a, b], votes: [la, lb], size: [nx, ny] };
}

test('locally weighted voting prefers the locally similar atlas (mse and ncc), where majority can only tie', () => {
  const { target, images, votes, size } = twoAtlasCase();
  const majority = majorityVote(votes);
  assert.ok(majority.labels.every((l) => l === 1), 'a 1-vs-2 tie goes to label 1 everywhere');
  for (const measure of ['mse', 'ncc'] as const) {
    const r = locallyWeightedVote(votes, images, target, size, { radius: 1, power: 2, measure, probabilities: true });
    // Away from the seam (windows of radius 1 see only one half) the similar atlas wins everywhere.
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 20; x++) {
        if (x === 9 || x === 10) continue;
        assert.equal(r.labels[x + 20 * y], 2, `${measure} at (${x},${y})`);
      }
    }
    assert.ok(r.probabilities![r.labelValues.indexOf(2)][5 + 20 * 5] > 0.9);
    const w = localWeights(images, target, size, { radius: 1, measure });
    assert.ok(w[0][2 + 20 * 3] > w[1][2 + 20 * 3] && w[1][17 + 20 * 3] > w[0][17 + 20 * 3], `${measure} weights`);
  }
});

test('locally weighted voting in 3D matches a brute-force window mean', () => {
  const size = [5, 4, 3];
  const n = 60;
  const random = rng(3);
  const target = Float32Array.from({ length: n }, () => random() * 10);
  const image = Float32Array.from({ length: n }, () => random() * 10);
  const w = localWeights([image], target, size, { radius: 1, power: 1 })[0];
  const at = (x: number, y: number, z: number): number => x + 5 * (y + 4 * z);
  for (const [x, y, z] of [
    [0, 0, 0],
    [2, 1, 1],
    [4, 3, 2],
  ]) {
    let s = 0;
    let c = 0;
    for (let k = z - 1; k <= z + 1; k++) for (let j = y - 1; j <= y + 1; j++) for (let i = x - 1; i <= x + 1; i++) {
      if (i < 0 || j < 0 || k < 0 || i >= 5 || j >= 4 || k >= 3) continue;
      const d = image[at(i, j, k)] - target[at(i, j, k)];
      s += d * d;
      c++;
    }
    assertClose(1 / w[at(x, y, z)], s / c, 1e-3 * (s / c), `window mean at ${x},${y},${z}`);
  }
});

/**
 * Labels 0, 1, 2 (40/30/30 %). Raters A and B flip 20 % of voxels to another label at random; rater C is biased:
 * it always swaps labels 1 and 2 (a mislabelled atlas), otherwise perfect.
 */
function biasedRaters(n: number): { truth: Uint8Array; votes: Uint8Array[] } {
  const random = rng(11);
  const truth = new Uint8Array(n);
  const votes = [new Uint8Array(n), new Uint8Array(n), new Uint8Array(n)];
  for (let v = 0; v < n; v++) {
    const r = random();
    const t = r < 0.4 ? 0 : r < 0.7 ? 1 : 2;
    truth[v] = t;
    for (let j = 0; j < 2; j++) votes[j][v] = random() < 0.2 ? (t + 1 + Math.floor(random() * 2)) % 3 : t;
    votes[2][v] = t === 0 ? 0 : 3 - t;
  }
  return { truth, votes };
}

test('STAPLE beats majority voting when one rater is biased, and is deterministic', () => {
  const { truth, votes } = biasedRaters(20000);
  const majority = majorityVote(votes);
  const s = staple(votes, { probabilities: true, tolerance: 1e-4 });
  const eMajority = errorRate(majority.labels, truth);
  const eStaple = errorRate(s.labels, truth);
  assert.ok(s.converged, `converged after ${s.iterations} iterations`);
  assert.ok(eMajority > 0.15, `majority error ${eMajority}`);
  assert.ok(eStaple < 0.01, `STAPLE error ${eStaple}`);
  // The biased rater's confusion matrix is recovered: truth 1 → says 2, truth 2 → says 1.
  const c = s.confusion[2];
  assertClose(c[0], 1, 0.02, 'C: 0 → 0');
  assertClose(c[1 * 3 + 2], 1, 0.02, 'C: 1 → 2');
  assertClose(c[2 * 3 + 1], 1, 0.02, 'C: 2 → 1');
  assertClose(s.confusion[0][1 * 3 + 1], 0.8, 0.03, 'A: 1 → 1');
  assertClose(s.priors[0], 0.4, 0.02, 'label-0 prior from vote frequencies');
  const again = staple(votes, { tolerance: 1e-4 });
  assert.deepEqual(again.labels, s.labels);
  assert.deepEqual(again.confusion, s.confusion);
  for (let v = 0; v < 50; v++) assertClose(s.probabilities![0][v] + s.probabilities![1][v] + s.probabilities![2][v], 1, 1e-5);
});

test('STAPLE recovers the ordering of good and bad raters (multi-label)', () => {
  const random = rng(5);
  const n = 8000;
  const truth = new Uint8Array(n);
  const flip = [0.02, 0.1, 0.25, 0.4];
  const votes = flip.map(() => new Uint8Array(n));
  for (let v = 0; v < n; v++) {
    const t = Math.floor(random() * 4);
    truth[v] = t;
    for (const [j, f] of flip.entries()) votes[j][v] = random() < f ? (t + 1 + Math.floor(random() * 3)) % 4 : t;
  }
  const s = staple(votes);
  const sensitivity = s.confusion.map((c) => (c[0] + c[5] + c[10] + c[15]) / 4);
  for (let j = 0; j < 3; j++) assert.ok(sensitivity[j] > sensitivity[j + 1], `rater ${j} (${sensitivity[j]}) above rater ${j + 1} (${sensitivity[j + 1]})`);
  for (const [j, f] of flip.entries()) assertClose(sensitivity[j], 1 - f, 0.04, `rater ${j}`);
  assert.ok(errorRate(s.labels, truth) <= errorRate(majorityVote(votes).labels, truth));
  // One label only: nothing to estimate.
  const single = staple([Uint8Array.from([3, 3]), Uint8Array.from([3, 3])]);
  assert.deepEqual([...single.labels], [3, 3]);
});

test('joint fusion weights: two atlases with the same error share less weight than an independent one', () => {
  const P = 4;
  const N = 3;
  const out = new Float64Array(N);
  const scratch = new Float64Array(N * (N + 1));
  // A errs on the first half of the patch, B and C (identical) on the second half, with equal magnitudes.
  jointFusionWeights(Float64Array.from([1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]), N, P, 2, 0.1, out, scratch);
  assertClose(out[0] + out[1] + out[2], 1, 1e-12);
  assertClose(out[1], out[2], 1e-12);
  assert.ok(out[1] < out[0], `a duplicated atlas (${out[1]}) weighs less than the independent one (${out[0]})`);
  // With C's error independent of B's instead, all three weigh the same.
  jointFusionWeights(Float64Array.from([1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1]), N, P, 2, 0.1, out, scratch);
  const independent = out.slice();
  jointFusionWeights(Float64Array.from([1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]), N, P, 2, 0.1, out, scratch);
  assert.ok(out[1] < independent[1] - 0.05, `duplicated ${out[1]} vs independent ${independent[1]}`);
  // Errors of zero (identical patches) with α keep the system solvable: equal weights.
  jointFusionWeights(new Float64Array(N * P), N, P, 2, 0.1, out, scratch);
  for (let i = 0; i < N; i++) assertClose(out[i], 1 / 3, 1e-12);
});

test('joint label fusion beats majority when two atlases make the same error', () => {
  const nx = 16;
  const ny = 16;
  const n = nx * ny;
  const random = rng(21);
  const target = new Float32Array(n);
  const a = new Float32Array(n);
  const bc = new Float32Array(n);
  const truth = new Int32Array(n);
  const wrong = new Int32Array(n);
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      const v = x + nx * y;
      target[v] = 100 + 20 * Math.sin(x / 3) * Math.cos(y / 4);
      // A errs a little (independent noise), B and C err more, identically, and carry a wrong label.
      a[v] = target[v] + 7 * (random() - 0.5) * 2;
      bc[v] = target[v] + 10 * (random() - 0.5) * 2;
      truth[v] = x < 8 ? 1 : 2;
      wrong[v] = 3;
    }
  }
  const votes = [truth, wrong, wrong.slice()];
  const images = [a, bc, bc.slice()];
  const majority = majorityVote(votes);
  assert.ok(majority.labels.every((l) => l === 3), 'majority follows the two agreeing atlases');
  const r = jointLabelFusion(votes, images, target, [nx, ny], { patchRadius: 1, searchRadius: 0, normalize: false, alpha: 0.1, probabilities: true });
  assert.ok(errorRate(r.labels, truth) < 0.05, `JLF error ${errorRate(r.labels, truth)}`);
  // Locally weighted voting weighs each atlas on its own and still lets the pair outvote A somewhere.
  const lw = locallyWeightedVote(votes, images, target, [nx, ny], { radius: 1, power: 1 });
  assert.ok(errorRate(r.labels, truth) < errorRate(lw.labels, truth), 'JLF beats independent weighting here');
  for (const p of r.probabilities!) for (const x of p) assert.ok(x >= 0 && x <= 1);
});

test('joint label fusion with local search corrects atlases misregistered by one voxel', () => {
  const nx = 20;
  const ny = 6;
  const n = nx * ny;
  const truthAt = (x: number): number => (x >= 10 ? 2 : 1);
  const intensityAt = (x: number): number => (x >= 10 ? 100 : 0) + 3 * Math.sin(x);
  const target = new Float32Array(n);
  const truth = new Int32Array(n);
  const images = [new Float32Array(n), new Float32Array(n)];
  const votes = [new Int32Array(n), new Int32Array(n)];
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      const v = x + nx * y;
      target[v] = intensityAt(x);
      truth[v] = truthAt(x);
      // Atlas 0 is the target moved one voxel right, atlas 1 one voxel left.
      images[0][v] = intensityAt(x - 1);
      votes[0][v] = truthAt(x - 1);
      images[1][v] = intensityAt(x + 1);
      votes[1][v] = truthAt(x + 1);
    }
  }
  const noSearch = jointLabelFusion(votes, images, target, [nx, ny], { patchRadius: 1, searchRadius: 0 });
  const withSearch = jointLabelFusion(votes, images, target, [nx, ny], { patchRadius: 1, searchRadius: 1 });
  assert.ok(errorRate(noSearch.labels, truth) > 0, 'without search the misregistered boundary is wrong somewhere');
  assert.equal(errorRate(withSearch.labels, truth), 0);
  const rawSearch = jointLabelFusion(votes, images, target, [nx, ny], { patchRadius: 2, searchRadius: 2, normalize: false });
  assert.equal(errorRate(rawSearch.labels, truth), 0, 'raw-intensity patches find the same matches');
  // 3D: the same along z.
  const n3 = n * 3;
  const rep = <T extends Float32Array | Int32Array>(a: T): T => {
    const out = new (a.constructor as new (len: number) => T)(n3);
    for (let z = 0; z < 3; z++) out.set(a, z * n);
    return out;
  };
  const r3 = jointLabelFusion(votes.map(rep), images.map(rep), rep(target), [nx, ny, 3], { patchRadius: 1, searchRadius: 1 });
  assert.equal(errorRate(r3.labels, rep(truth)), 0);
});

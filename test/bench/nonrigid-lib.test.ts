// The non-rigid and atlas bench arithmetic: ground-truth maps, chain order, TRE over maps, the pass rule,
// elastix transform-parameter relocation, Dice and majority vote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AffineTransform } from '../../src/transform/linear.js';
import { labelResamplingParameters, relocateInitialTransform } from '../../bench/lib/elastix-chain.js';
import { parseElastixParameters } from '../../bench/lib/elastix-params.js';
import { diceScores, majorityVote } from '../../bench/lib/labels.js';
import { affineWithBumps, bumpsFromJson, chainMap, displacementStats, itkBSpline2d, judgeNonrigid, mapTre } from '../../bench/lib/nonrigid.js';
import { createImage } from '../../src/image/image.js';
import { assertArrayClose, assertClose, dataPath } from '../helpers.js';

test('itkBSpline2d reproduces make_cases.py itk_bspline_2d at a few points', () => {
  const file = dataPath('itk/BSplineDisplacements1.txt');
  const f = itkBSpline2d(readFileSync(file, 'utf8'), file);
  // From /usr/bin/python3 with make_cases.itk_bspline_2d(BSplineDisplacements1.txt, (221, 257)).
  const expected: [number[], number[]][] = [
    [[0, 0], [0.0555555556, 0.0555555556]],
    [[37.5, 81.25], [39.4932836104, 83.2432836104]],
    [[110, 128], [116.8888888889, 134.8888888889]],
    [[150.3, 20.7], [151.3716860073, 21.7716860073]],
  ];
  const out = new Float64Array(2);
  for (const [p, q] of expected) {
    f(new Float64Array(p), out);
    assertArrayClose(out, q, 1e-9, `T(${p.join(', ')})`);
  }
});

test('itkBSpline2d: zero coefficients are the identity', () => {
  const f = itkBSpline2d(Array.from({ length: 7 }, () => '0 0 '.repeat(7)).join('\n'), 'zeros.txt');
  const out = new Float64Array(2);
  f(new Float64Array([12.5, 200]), out);
  assert.deepEqual(Array.from(out), [12.5, 200]);
});

test('affineWithBumps: T(x) = A·(x + u(x)) + b, the bump added before the affine', () => {
  const bumps = bumpsFromJson([[[10, 0, 0], [1, 2, 3], 5]]);
  const affine = { dimension: 3 as const, A: [2, 0, 0, 0, 1, 0, 0, 0, 1], b: [1, 1, 1] };
  const t = affineWithBumps(affine, bumps);
  const out = new Float64Array(3);
  t(new Float64Array([10, 0, 0]), out); // at the centre the weight is 1
  assertArrayClose(out, [2 * 11 + 1, 2 + 1, 3 + 1], 1e-12, 'centre');
  t(new Float64Array([15, 0, 0]), out); // one sigma away: weight e^(−1/2)
  const w = Math.exp(-0.5);
  assertArrayClose(out, [2 * (15 + w) + 1, 2 * w + 1, 3 * w + 1], 1e-12, 'one sigma');
  assert.throws(() => bumpsFromJson([[[1, 2], [1, 2, 3], 5]]), /not \[centre, amplitude, sigma\]/);
  assert.throws(() => bumpsFromJson(undefined), /missing/);
});

test('chainMap applies the first transform first; mapTre and displacementStats', () => {
  const scale = new AffineTransform(2);
  scale.setParameters([2, 0, 0, 2, 0, 0]);
  const shift = new AffineTransform(2);
  shift.setParameters([1, 0, 0, 1, 1, 0]);
  const out = new Float64Array(2);
  chainMap([scale, shift])(new Float64Array([3, 4]), out);
  assert.deepEqual(Array.from(out), [7, 8], 'shift(scale(x))');
  chainMap([shift, scale, shift])(new Float64Array([3, 4]), out);
  assert.deepEqual(Array.from(out), [9, 8], 'three transforms');
  const pts = new Float64Array([0, 0, 3, 4]);
  const gt = chainMap([shift]);
  const tre = mapTre(pts, 2, chainMap([scale, shift]), gt);
  assertClose(tre.mean, 2.5, 1e-12);
  assertClose(tre.max, 5, 1e-12);
  assert.equal(tre.points, 2);
  assert.deepEqual(displacementStats(pts, 2, gt), { mean: 1, max: 1, points: 2 });
  assert.throws(() => mapTre(new Float64Array(0), 2, gt, gt), /no foreground/);
});

test('judgeNonrigid: target, peers with margin, folding and memory', () => {
  const tre = (mean: number) => ({ mean, max: 3 * mean, points: 10 });
  const rule = { target: 0.03, peers: [{ name: 'elastix', mean: 0.027 }], margin: 0.01, maxFolded: 0, maxRssMB: 1536 };
  assert.equal(judgeNonrigid({ tre: tre(0.02), folded: 0, peakRssMB: 500 }, rule, false).pass, true);
  assert.match(judgeNonrigid({ tre: tre(0.04) }, rule, false).verdict, /> 0.03 mm/);
  assert.match(judgeNonrigid({ tre: tre(0.02) }, { ...rule, peers: [{ name: 'DIPY', mean: 0.005 }] }, false).verdict, /> DIPY \+ 0.01/);
  assert.match(judgeNonrigid({ tre: tre(0.02), folded: 3 }, rule, false).verdict, /3 folded/);
  assert.match(judgeNonrigid({ tre: tre(0.02), peakRssMB: 2000 }, rule, false).verdict, /peak RSS/);
  assert.equal(judgeNonrigid({}, rule, true).pass, false);
  assert.equal(judgeNonrigid({}, rule, false).pass, null);
});

test('relocateInitialTransform and labelResamplingParameters', () => {
  const tp = '(Transform "BSplineTransform")\n(InitialTransformParametersFileName "/tmp/work/out/TransformParameters.0.txt")\n(FinalBSplineInterpolationOrder 3)\n(ResultImagePixelType "short")\n';
  const moved = relocateInitialTransform(tp, '/cache/abc');
  assert.match(moved, /\(InitialTransformParametersFileName "\/cache\/abc\/TransformParameters\.0\.txt"\)/);
  const none = '(InitialTransformParametersFileName "NoInitialTransform")\n';
  assert.equal(relocateInitialTransform(none, '/cache/abc'), none);
  const labels = parseElastixParameters(labelResamplingParameters(moved));
  assert.deepEqual(labels.get('FinalBSplineInterpolationOrder'), [0]);
  assert.deepEqual(labels.get('ResultImagePixelType'), ['float']);
  assert.deepEqual(labels.get('Transform'), ['BSplineTransform']);
});

test('diceScores: per reference label, mean over the labels of the reference', () => {
  const ref = [0, 1, 1, 2, 2, 2, 0, 0];
  const seg = [0, 1, 2, 2, 2, 0, 3, 0];
  const d = diceScores(seg, ref);
  assertClose(d.labels.get(1) as number, (2 * 1) / (2 + 1), 1e-12, 'label 1');
  assertClose(d.labels.get(2) as number, (2 * 2) / (3 + 3), 1e-12, 'label 2');
  assert.equal(d.labels.has(3), false, 'labels only in the segmentation do not count');
  assertClose(d.mean, (2 / 3 + 2 / 3) / 2, 1e-12);
  assert.equal(diceScores(ref, ref).mean, 1);
  assert.throws(() => diceScores([1], [1, 2]), /same grid/);
});

test('majorityVote: most votes win, ties go to the lowest label', () => {
  const img = (v: number[]) => {
    const im = createImage([v.length, 1], 'float32');
    im.data.set(v);
    return im;
  };
  const vote = majorityVote([img([1, 5, 2, 7]), img([1, 3, 3, 0]), img([2, 3, 2, 9.0001])]);
  assert.deepEqual(Array.from(vote), [1, 3, 2, 0]);
  assert.throws(() => majorityVote([img([1]), img([1, 2])]), /same grid/);
});

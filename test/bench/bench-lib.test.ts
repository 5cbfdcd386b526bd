// The benchmark's own arithmetic: elastix transform parameters → A, b; foreground points; TRE; the pass rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '../../src/image/image.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { type Affine, foregroundPoints, targetRegistrationError, translationAffine } from '../../bench/lib/affine.js';
import { elastixLinear, euler3Matrix, formatElastixParameters, parseElastixParameters } from '../../bench/lib/elastix-params.js';
import { hashInputs, imageFileSet } from '../../bench/lib/cache.js';
import { median } from '../../bench/lib/process.js';
import { judge } from '../../bench/lib/table.js';
import { assertArrayClose, assertClose } from '../helpers.js';

// elastix 5.0.1's result for Border20 vs R10X13Y17 (2d_rigid_ms.txt), trimmed to the fields that matter.
const EULER_2D = `(Transform "EulerTransform")
(NumberOfParameters 3)
(TransformParameters 0.174488 13.088435 15.916830)
(InitialTransformParametersFileName "NoInitialTransform")
// Image specific
(FixedImageDimension 2)
(Direction 1.0000000000 0.0000000000 0.0000000000 1.0000000000)
(CenterOfRotationPoint 110.0000000000 128.0000000000)
`;

test('parseElastixParameters: strings, numbers, comments; formatElastixParameters round-trips', () => {
  const p = parseElastixParameters(EULER_2D + '(Metric "AdvancedMeanSquares") // a comment\n');
  assert.deepEqual(p.get('Transform'), ['EulerTransform']);
  assert.deepEqual(p.get('TransformParameters'), [0.174488, 13.088435, 15.91683]);
  assert.deepEqual(p.get('Metric'), ['AdvancedMeanSquares']);
  assert.deepEqual(parseElastixParameters(formatElastixParameters(p)), p);
});

test('elastixLinear: 2D Euler about its centre of rotation, x\' = R(x − c) + c + t', () => {
  const { A, b } = elastixLinear(parseElastixParameters(EULER_2D));
  const [c, s] = [Math.cos(0.174488), Math.sin(0.174488)];
  assertArrayClose(A, [c, -s, s, c], 1e-15, 'A');
  assertArrayClose(b, [13.088435 + 110 - (c * 110 - s * 128), 15.91683 + 128 - (s * 110 + c * 128)], 1e-12, 'b');
  // The ITK guide's R10X13Y17 is 13, 16 mm about (110.5, 128.5): this result must be within a few hundredths.
  const gtB = [37.004489718264544, -1.2000299222532327];
  assertClose(b[0], gtB[0], 0.1, 'b0');
  assertClose(b[1], gtB[1], 0.1, 'b1');
});

test('elastixLinear: translation, affine with centre, 2D similarity', () => {
  const t = elastixLinear(parseElastixParameters('(Transform "TranslationTransform")\n(FixedImageDimension 2)\n(TransformParameters 13 17)'));
  assert.deepEqual(t, translationAffine([13, 17]));
  const a = elastixLinear(parseElastixParameters('(Transform "AffineTransform")\n(FixedImageDimension 2)\n(TransformParameters 1 2 3 4 5 6)\n(CenterOfRotationPoint 10 20)'));
  assert.deepEqual(a.A, [1, 2, 3, 4]);
  assert.deepEqual(a.b, [5 + 10 - (10 + 40), 6 + 20 - (30 + 80)]);
  const sim = elastixLinear(parseElastixParameters('(Transform "SimilarityTransform")\n(FixedImageDimension 2)\n(TransformParameters 2 0.5 1 1)'));
  assertArrayClose(sim.A, [2 * Math.cos(0.5), -2 * Math.sin(0.5), 2 * Math.sin(0.5), 2 * Math.cos(0.5)], 1e-15, 'similarity A');
  assert.throws(() => elastixLinear(parseElastixParameters('(Transform "BSplineTransform")\n(FixedImageDimension 2)\n(TransformParameters 1)')), /not linear/);
  assert.throws(() => elastixLinear(parseElastixParameters('(Transform "EulerTransform")\n(FixedImageDimension 2)\n(TransformParameters 1 2)')), /expected 3/);
  assert.throws(
    () => elastixLinear(parseElastixParameters('(Transform "AffineTransform")\n(FixedImageDimension 2)\n(TransformParameters 1 0 0 1 0 0)\n(InitialTransformParametersFileName "T0.txt")')),
    /chains another file/,
  );
});

test('euler3Matrix: ITK order Rz·Rx·Ry by default, Rz·Ry·Rx with ComputeZYX', () => {
  const [a, b] = [0.3, -0.2];
  const Rx = [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)];
  const Ry = [Math.cos(b), 0, Math.sin(b), 0, 1, 0, -Math.sin(b), 0, Math.cos(b)];
  const mul = (p: number[], q: number[]): number[] => [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => p[r * 3] * q[c] + p[r * 3 + 1] * q[3 + c] + p[r * 3 + 2] * q[6 + c]));
  assertArrayClose(euler3Matrix(a, b, 0, false), mul(Rx, Ry), 1e-15, 'xy');
  assertArrayClose(euler3Matrix(a, b, 0, true), mul(Ry, Rx), 1e-15, 'zyx');
  const p = parseElastixParameters(`(Transform "EulerTransform")\n(FixedImageDimension 3)\n(ComputeZYX "true")\n(TransformParameters ${a} ${b} 0 1 2 3)\n(CenterOfRotationPoint 0 0 0)`);
  const e = elastixLinear(p);
  assertArrayClose(e.A, mul(Ry, Rx), 1e-15, 'parsed zyx');
  assert.deepEqual(e.b, [1, 2, 3]);
});

test('foregroundPoints: index → physical through origin, direction and spacing', () => {
  const img = createImage([3, 2], 'uint8', { spacing: [2, 3], origin: [10, 20], direction: [0, -1, 1, 0] });
  img.data[1] = 50; // (i, j) = (1, 0)
  img.data[5] = 21; // (2, 1)
  img.data[3] = 20; // not above the threshold
  const p = foregroundPoints(img, 20);
  // p = o + D·diag(s)·(i, j): column 0 of D is (0, 1), column 1 is (−1, 0).
  assert.deepEqual(Array.from(p), [10, 20 + 2, 10 - 3, 20 + 4]);
});

test('targetRegistrationError: mean and max over points, for an affine and for a coreg transform', () => {
  const pts = new Float64Array([0, 0, 10, 0, 0, 10]);
  const gt = translationAffine([1, 2]);
  const shifted: Affine = translationAffine([1, 2.5]);
  assert.deepEqual(targetRegistrationError(pts, shifted, gt), { mean: 0.5, max: 0.5, points: 3 });
  // A small rotation about the origin: errors grow with the distance from it.
  const rot: Affine = { dimension: 2, A: [1, -0.01, 0.01, 1], b: [1, 2] };
  const e = targetRegistrationError(pts, rot, gt);
  assertClose(e.max, 0.1, 1e-12);
  assertClose(e.mean, 0.2 / 3, 1e-12);
  const t = new AffineTransform(2);
  t.setParameters([1, -0.01, 0.01, 1, 1, 2]);
  const viaTransform = targetRegistrationError(pts, t, gt);
  assertClose(viaTransform.mean, e.mean, 1e-12);
  assertClose(viaTransform.max, e.max, 1e-12);
});

test('judge: targets, the elastix margin in 3D, and coreg errors', () => {
  const tool = (mean: number) => ({ tre: { mean, max: 2 * mean, points: 1 }, seconds: [1], medianSeconds: 1, iterations: '1' });
  assert.equal(judge({ coreg: tool(0.04), target: 0.05 }, false).pass, true);
  assert.match(judge({ coreg: tool(0.06), target: 0.05 }, false).verdict, /FAIL/);
  const elastix = { ...tool(0.01), cached: false };
  assert.equal(judge({ coreg: tool(0.02), elastix, target: 0.05, peerMargin: 0.01 }, false).pass, true);
  assert.match(judge({ coreg: tool(0.03), elastix, target: 0.05, peerMargin: 0.01 }, false).verdict, /FAIL.*elastix/);
  assert.equal(judge({ coreg: tool(0.03), target: 0.05, peerMargin: 0.01 }, false).pass, true, 'no peer: target only');
  assert.match(judge({ target: 0.05 }, true).verdict, /FAIL/);
  assert.equal(judge({ target: 0.05 }, false).pass, null);
});

test('imageFileSet and hashInputs: a detached header hashes with its data file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-bench-'));
  try {
    writeFileSync(join(dir, 'a.mhd'), 'NDims = 2\nDimSize = 1 1\nElementType = MET_UCHAR\nElementDataFile = a.raw\n');
    writeFileSync(join(dir, 'a.raw'), new Uint8Array([1]));
    writeFileSync(join(dir, 'b.nhdr'), 'NRRD0004\ntype: uchar\ndata file: b.raw\n');
    assert.deepEqual(imageFileSet(join(dir, 'a.mhd')), [join(dir, 'a.mhd'), join(dir, 'a.raw')]);
    assert.deepEqual(imageFileSet(join(dir, 'b.nhdr')), [join(dir, 'b.nhdr'), join(dir, 'b.raw')]);
    assert.deepEqual(imageFileSet(join(dir, 'c.png')), [join(dir, 'c.png')]);
    const before = hashInputs(imageFileSet(join(dir, 'a.mhd')), ['params']);
    assert.notEqual(hashInputs(imageFileSet(join(dir, 'a.mhd')), ['other params']), before);
    writeFileSync(join(dir, 'a.raw'), new Uint8Array([2]));
    assert.notEqual(hashInputs(imageFileSet(join(dir, 'a.mhd')), ['params']), before, 'the data file changed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('median', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test('speedTables: cores busy, elastix 1 → N and the machine line', async () => {
  const { speedTables } = await import('../../bench/suites/speed.js');
  const text = speedTables(
    {
      rows: [
        {
          case: '3D affine',
          metric: 'mi',
          coreg: { seconds: 2, registrationSeconds: 0.8, coresBusy: 1.85, peakRssMB: 266 },
          coreg1: { seconds: 2.3, registrationSeconds: 0.96, coresBusy: 1.19 },
          elastix: { seconds: 7.5, peakRssMB: 456 },
          elastix1: { seconds: 11.4 },
        },
      ],
      sizes: [],
      machine: { compute: [2, 1.98, 1.96], pages: [1.2, 1.5, 1.4] },
      notes: [],
    },
    2,
    3,
  );
  const row = text.split('\n').find((l) => l.startsWith('| 3D affine'))!;
  assert.match(row, /\| 0\.96 → 0\.80 \(1\.20×\) \|/);
  assert.match(row, /\| 1\.19 → 1\.85 \|/);
  assert.match(row, /\| 11\.4 → 7\.50 \(1\.52×\) \|/);
  assert.match(text, /independent arithmetic 1\.98× \(1\.96–2\.00×\); taking fresh memory page by page \(mmap, touch, munmap\) 1\.40× \(1\.20–1\.50×\)/);
});

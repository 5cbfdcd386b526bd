import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { ThinPlateSplineTransform } from '../../src/transform/tps.js';
import { resample } from '../../src/resample/resample.js';
import { Similarity2DTransform } from '../../src/transform/linear.js';
import { isLinear } from '../../src/transform/transform.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { assertArrayClose, dataPath } from '../helpers.js';
import { loadTransformChain } from '../../src/io/chain-io.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

function withTemp(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coreg-landmarks-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function csv(points: number[][]): string {
  return ['x,y' + (points[0].length === 3 ? ',z' : ''), ...points.map((p) => p.join(','))].join('\n') + '\n';
}

const FIXED = [[10, 12], [40, 8], [35, 45], [12, 38], [25, 25]];

/** Moving points of a known similarity: scale 1.1, 10°, about (20, 20), then shifted (3, −2). */
function similarityTruth(): Similarity2DTransform {
  const t = new Similarity2DTransform();
  t.setCenter([20, 20]);
  t.setParameters([1.1, (10 * Math.PI) / 180, 3, -2]);
  return t;
}

function mapped(t: { transformPoint(p: ArrayLike<number>, out: number[]): void }, points: number[][]): number[][] {
  return points.map((p) => {
    const out = [0, 0];
    t.transformPoint(p, out);
    return out;
  });
}

test('coreg landmarks --transform similarity: result.json, transform.tfm recovering the map exactly', withTemp(async (dir) => {
  const truth = similarityTruth();
  writeFileSync(join(dir, 'f.csv'), csv(FIXED));
  writeFileSync(join(dir, 'm.csv'), csv(mapped(truth, FIXED)));
  const out = join(dir, 'out');
  const r = await coreg(['landmarks', '--fixed-points', join(dir, 'f.csv'), '--moving-points', join(dir, 'm.csv'), '--transform', 'similarity', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /similarity fit to 5 landmark pairs/);
  assert.deepEqual(readdirSync(out).sort(), ['result.json', 'transform.tfm']);
  const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.equal(json.transform, 'similarity');
  assert.equal(json.points, 5);
  assert.deepEqual(json.transforms, ['transform.tfm']);
  assert.ok(json.residual.mean <= 1e-9 && json.residual.max <= 1e-9, JSON.stringify(json.residual));
  assert.equal(json.itkType, 'Similarity2DTransform_double_2_2');
  const chain = loadTransformChain(out, nodeTransformFiles);
  assert.equal(chain.length, 1);
  assert.ok(chain[0] instanceof Similarity2DTransform && isLinear(chain[0]));
  assertArrayClose(chain[0].matrix(), truth.matrix(), 1e-12, 'matrix');
  assertArrayClose(chain[0].offset(), truth.offset(), 1e-9, 'offset');
  assertArrayClose((chain[0] as Similarity2DTransform).getCenter(), [24.4, 25.6], 1e-12, 'centre = fixed centroid');
}));

test('coreg landmarks --transform tps with --reference and --moving: tps.tfm, displacement.nii.gz, warped.nii.gz', withTemp(async (dir) => {
  const moving = FIXED.map(([x, y], i) => (i === 4 ? [x + 3, y - 2] : [x + 1, y]));
  writeFileSync(join(dir, 'f.csv'), csv(FIXED));
  writeFileSync(join(dir, 'm.csv'), csv(moving));
  const ref = createImage([50, 52], 'float32', { spacing: [1, 1], origin: [0, 0] });
  const img = createImage([60, 60], 'uint8', { spacing: [1, 1], origin: [-2, -3] });
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37) % 251;
  writeImageFile(join(dir, 'ref.nii.gz'), ref);
  writeImageFile(join(dir, 'mov.nii.gz'), img);
  const out = join(dir, 'tps');
  const r = await coreg(['landmarks', '--fixed-points', join(dir, 'f.csv'), '--moving-points', join(dir, 'm.csv'), '--transform', 'tps', '--out', out,
    '--reference', join(dir, 'ref.nii.gz'), '--moving', join(dir, 'mov.nii.gz'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['displacement.nii.gz', 'result.json', 'tps.tfm', 'warped.nii.gz']);
  const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.deepEqual(JSON.parse(r.stdout), json);
  assert.equal(json.transform, 'tps');
  assert.deepEqual(json.transforms, ['tps.tfm']);
  assert.ok(json.residual.max <= 1e-9);
  assert.match(readFileSync(join(out, 'tps.tfm'), 'utf8'), /^Transform: ThinPlateR2LogRSplineKernelTransform_double_2_2$/m);
  const [tps] = loadTransformChain(out, nodeTransformFiles);
  assert.ok(tps instanceof ThinPlateSplineTransform);

  const field = readImageFile(join(out, 'displacement.nii.gz'));
  assert.equal(field.components, 2);
  assert.deepEqual(field.size, [50, 52]);
  // Voxel (25, 25) is the fifth landmark: u = q − p = (3, −2).
  const at = 2 * (25 + 50 * 25);
  assertArrayClose([field.data[at], field.data[at + 1]], [3, -2], 1e-5, 'displacement at the landmark');
  const y = [0, 0];
  tps.transformPoint([7, 40], y);
  const at2 = 2 * (7 + 50 * 40);
  assertArrayClose([field.data[at2], field.data[at2 + 1]], [y[0] - 7, y[1] - 40], 1e-5, 'displacement elsewhere');

  const warped = readImageFile(join(out, 'warped.nii.gz'));
  assert.deepEqual(warped.size, [50, 52]);
  const expected = resample(img, ref, [tps], { interpolation: 'linear', outputType: 'float32' });
  assertArrayClose(warped.data, expected.data, 1e-4, 'warped');
}));

test('coreg landmarks on ITK IterativeClosestPoint point files: rigid gives the translation (2,2)', withTemp(async (dir) => {
  const out = join(dir, 'icp');
  const r = await coreg(['landmarks', '--fixed-points', dataPath('itk/IterativeClosestPointFixedPoints.txt'),
    '--moving-points', dataPath('itk/IterativeClosestPointMovingPoints.txt'), '--transform', 'rigid', '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const [t] = loadTransformChain(join(out, 'transform.tfm'), nodeTransformFiles);
  assert.ok(isLinear(t));
  assertArrayClose(t.matrix(), [1, 0, 0, 1], 1e-12, 'rotation');
  assertArrayClose(t.offset(), [2, 2], 1e-9, 'translation');
}));

test('coreg landmarks errors: one line each, exit 2 for usage and 1 for failures, no output left behind', withTemp(async (dir) => {
  writeFileSync(join(dir, 'f.csv'), csv(FIXED));
  writeFileSync(join(dir, 'm4.csv'), csv(FIXED.slice(0, 4)));
  writeFileSync(join(dir, 'line.csv'), csv([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]));
  writeFileSync(join(dir, 'f3.csv'), csv(FIXED.map(([x, y]) => [x, y, 1])));
  writeImageFile(join(dir, 'vol.nii.gz'), createImage([4, 4, 4]));
  const f = join(dir, 'f.csv');
  const out = join(dir, 'never');
  const cases: [string[], number, RegExp][] = [
    [['--fixed-points', f, '--moving-points', f, '--transform', 'bspline', '--out', out], 2, /^coreg: error: --transform: expected rigid, similarity, affine, tps; got "bspline"$/],
    [['--fixed-points', f, '--moving-points', f, '--out', out], 2, /^coreg: error: --transform: required option not given$/],
    [['--fixed-points', f, '--moving-points', f, '--transform', 'rigid', '--out', out, '--moving', f], 2, /^coreg: error: --moving: needs --reference/],
    [['--fixed-points', f, '--moving-points', f, '--transform', 'rigid', '--out', out, '--kernel', 'r'], 2, /^coreg: error: --kernel: only applies to --transform tps$/],
    [['--fixed-points', f, '--moving-points', f, '--transform', 'tps', '--out', out, '--kernel', 'gauss'], 2, /^coreg: error: --kernel: expected r2logr or r/],
    [['--fixed-points', f, '--moving-points', join(dir, 'm4.csv'), '--transform', 'affine', '--out', out], 1, /m4\.csv: has 4 points but .*f\.csv has 5; landmarks must pair up one to one$/],
    [['--fixed-points', join(dir, 'line.csv'), '--moving-points', f, '--transform', 'affine', '--out', out], 1, /line\.csv: points are collinear/],
    [['--fixed-points', f, '--moving-points', join(dir, 'f3.csv'), '--transform', 'rigid', '--out', out], 1, /f3\.csv: holds 3D points but .*f\.csv holds 2D points$/],
    [['--fixed-points', f, '--moving-points', f, '--transform', 'rigid', '--out', out, '--reference', join(dir, 'vol.nii.gz')], 1, /vol\.nii\.gz: is a 3D image but the points are 2D$/],
    [['--fixed-points', join(dir, 'missing.csv'), '--moving-points', f, '--transform', 'rigid', '--out', out], 1, /missing\.csv: no such file$/],
  ];
  for (const [args, code, message] of cases) {
    const r = await coreg(['landmarks', ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), message);
    assert.equal(r.stdout, '');
    assert.ok(!existsSync(out), 'no output folder after a failure');
  }
  // An input cannot be overwritten by an output.
  const r = await coreg(['landmarks', '--fixed-points', join(dir, 'result.json'), '--moving-points', f, '--transform', 'rigid', '--out', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /would overwrite the input/);
}));

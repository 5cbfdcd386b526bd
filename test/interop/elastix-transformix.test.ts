// Interoperability with Debian's elastix/transformix 5.0.1: transformix maps points through coreg-written
// elastix parameter files (linear, B-spline, chains) as coreg maps them (≤ 1e-3 mm) and resamples images as
// `coreg apply` does; coreg reads a result folder elastix wrote (moved elsewhere: the chained file is found by its
// base name) and maps points as transformix does. Skips with a message when transformix is not installed.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, indexToPhysical, physicalToIndex, type Image } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { loadTransformChain } from '../../src/io/chain-io.js';
import { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import { transformChainPoint } from '../../src/transform/chain.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { formatItkHdf5Transform, initHdf5 } from '../../src/transform/itk-hdf5.js';
import { AffineTransform, Euler2DTransform, Euler3DTransform, TranslationTransform } from '../../src/transform/linear.js';
import type { Transform } from '../../src/transform/transform.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

const HAVE = spawnSync('transformix', ['--version'], { encoding: 'utf8' }).status === 0 && spawnSync('elastix', ['--version'], { encoding: 'utf8' }).status === 0;
const SKIP = HAVE ? false : 'elastix/transformix are not installed (Debian: apt-get install elastix)';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-elastix-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

function scene(p: ArrayLike<number>, d: number): number {
  let v = 20 + 60 * Math.exp(-((p[0] - 12) ** 2 + (p[1] - 10) ** 2 + (d === 3 ? (p[2] - 8) ** 2 : 0)) / 40);
  v += 10 * Math.sin(0.35 * p[0]) * Math.cos(0.25 * p[1]) + (d === 3 ? 5 * Math.sin(0.3 * p[2]) : 0);
  return v;
}

function makeImage(size: number[], spacing: number[], origin: number[], direction: number[]): Image {
  const img = createImage(size, 'float32', { spacing, origin, direction });
  const d = size.length;
  const n = img.data.length;
  const idx = new Array<number>(d).fill(0);
  for (let p = 0; p < n; p++) {
    let r = p;
    for (let a = 0; a < d; a++) {
      idx[a] = r % size[a];
      r = Math.floor(r / size[a]);
    }
    img.data[p] = scene(indexToPhysical(img, idx), d);
  }
  return img;
}

function transformix(args: string[]): void {
  const r = spawnSync('transformix', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `transformix ${args.join(' ')} failed:\n${r.stdout.slice(-2000)}`);
}

/** transformix's OutputPoint for each point. */
function transformixPoints(tp: string, points: number[][], out: string): number[][] {
  mkdirSync(out, { recursive: true });
  const file = join(out, 'in.txt');
  writeFileSync(file, `point\n${points.length}\n${points.map((p) => p.join(' ')).join('\n')}\n`);
  transformix(['-def', file, '-tp', tp, '-out', out]);
  const text = readFileSync(join(out, 'outputpoints.txt'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const m = /OutputPoint\s*=\s*\[([^\]]*)\]/.exec(line);
      assert.ok(m, `no OutputPoint in "${line}"`);
      return m[1].trim().split(/\s+/).map(Number);
    });
}

function randomBSpline(grid: { size: number[]; spacing: number[]; origin: number[] }, amplitude: number, seed: number): BSplineTransform {
  const d = grid.size.length as 2 | 3;
  const t = new BSplineTransform({ dimension: d, gridSize: grid.size, gridOrigin: grid.origin, gridSpacing: grid.spacing });
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const p = new Float64Array(t.numberOfParameters);
  for (let i = 0; i < p.length; i++) p[i] = amplitude * rnd();
  t.setParameters(p);
  return t;
}

function insidePoints(img: Image, count: number, margin: number): number[][] {
  const d = img.dimension;
  const pts: number[][] = [];
  for (let i = 0; i < count; i++) {
    const idx = img.size.map((n, a) => margin + ((n - 1 - 2 * margin) * ((i * (a + 3) * 0.6180339887) % 1)));
    pts.push(Array.from(indexToPhysical(img, idx)).slice(0, d));
  }
  return pts;
}

function maxDistance(a: number[][], b: number[][]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.hypot(...a[i].map((v, c) => v - b[i][c])));
  return m;
}

const c30 = Math.cos(0.3);
const s30 = Math.sin(0.3);
const CASES: { name: string; fixed: Image; moving: Image; chain: Transform[] }[] = [];
{
  // 2D: oblique fixed grid; rigid + affine + B-spline chain (first first).
  const fixed = makeImage([36, 30], [1.2, 0.9], [3, -4], [c30, -s30, s30, c30]);
  const moving = makeImage([40, 36], [1, 1], [-2, -6], [1, 0, 0, 1]);
  const e = new Euler2DTransform();
  e.setCenter([20, 8]);
  e.setParameters([0.1, 1.5, -2]);
  const a = new AffineTransform(2);
  a.setCenter([18, 10]);
  a.setParameters([1.05, 0.04, -0.03, 0.97, 0.7, 0.4]);
  const b = randomBSpline({ size: [8, 7], spacing: [7, 6.5], origin: [-10, -14] }, 1.2, 7);
  CASES.push({ name: '2d', fixed, moving, chain: [b, e, a] });
}
{
  const fixed = makeImage([20, 18, 14], [1.5, 1.25, 2], [2, -3, 1], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const moving = makeImage([24, 22, 20], [1.4, 1.3, 1.6], [-1, -5, -2], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const e = new Euler3DTransform();
  e.setCenter([15, 10, 12]);
  e.setParameters([0.05, -0.08, 0.12, 1, -1.5, 0.5]);
  const b = randomBSpline({ size: [7, 7, 6], spacing: [6, 5.5, 7], origin: [-6, -10, -10] }, 1, 3);
  const tr = new TranslationTransform(3);
  tr.setParameters([0.3, -0.2, 0.6]);
  CASES.push({ name: '3d', fixed, moving, chain: [tr, b, e] });
}

{
  // 2D: a dense displacement field (DeformationFieldTransform, written as a MetaImage beside the file) then an affine.
  const fixed = CASES[0].fixed;
  const field = createImage([30, 26], 'float32', { spacing: [1.5, 1.25], origin: [-4, -6], components: 2 });
  for (let j = 0; j < 26; j++) {
    for (let i = 0; i < 30; i++) {
      field.data[2 * (i + 30 * j)] = 1.5 * Math.sin(0.2 * i + 0.1 * j);
      field.data[2 * (i + 30 * j) + 1] = -1.2 * Math.cos(0.15 * j - 0.05 * i);
    }
  }
  const a = new AffineTransform(2);
  a.setParameters([0.98, 0.03, -0.02, 1.02, 0.5, -0.8]);
  CASES.push({ name: '2d-field', fixed, moving: CASES[0].moving, chain: [new DisplacementFieldTransform(field), a] });
}

/** Chains with a dense field go through an ITK .h5 file (a .tfm cannot hold one). */
function chainExt(chain: Transform[]): string {
  return chain.some((t) => t instanceof DisplacementFieldTransform) ? 'h5' : 'tfm';
}

function chainBytes(chain: Transform[]): string | Uint8Array {
  return chainExt(chain) === 'h5' ? formatItkHdf5Transform(chain) : formatItkTransformFile(chain);
}

before(async () => initHdf5());

for (const c of CASES) {
  test(`${c.name}: transformix maps points through coreg-written elastix files as coreg does (≤ 1e-3 mm)`, { skip: SKIP }, async () => {
    const dir = join(DIR, `w-${c.name}`);
    mkdirSync(dir);
    const fixedPath = join(dir, 'fixed.mha');
    writeImageFile(fixedPath, c.fixed);
    const tfm = join(dir, `chain.${chainExt(c.chain)}`);
    writeFileSync(tfm, chainBytes(c.chain));
    const tp = join(dir, 'TransformParameters.x.txt');
    const r = await coreg(['transform', 'convert', tfm, tp, '--reference', fixedPath]);
    assert.equal(r.code, 0, r.stderr);
    // Earlier elements beside it, named by absolute path.
    assert.equal(readdirSync(dir).filter((f) => f.startsWith('TransformParameters.x') && f.endsWith('.txt')).length, c.chain.length);
    assert.match(readFileSync(tp, 'utf8'), new RegExp(`InitialTransformParametersFileName "${dir}/`));
    const pts = insidePoints(c.fixed, 25, 2);
    const ours = pts.map((p) => {
      const out = new Float64Array(p.length);
      transformChainPoint(c.chain, p, out, new Float64Array(p.length));
      return Array.from(out);
    });
    const theirs = transformixPoints(tp, pts, join(dir, 'tx'));
    assert.ok(maxDistance(ours, theirs) <= 1e-3, `max |coreg − transformix| ${maxDistance(ours, theirs)} mm`);
    // Read back: coreg's reader gives the same map.
    const back = loadTransformChain(tp, nodeTransformFiles);
    const again = pts.map((p) => {
      const out = new Float64Array(p.length);
      transformChainPoint(back, p, out, new Float64Array(p.length));
      return Array.from(out);
    });
    assert.ok(maxDistance(ours, again) <= 1e-9);
  });

  test(`${c.name}: transformix resamples an image through coreg's elastix files as coreg apply does`, { skip: SKIP }, async () => {
    const dir = join(DIR, `img-${c.name}`);
    mkdirSync(dir);
    const fixedPath = join(dir, 'fixed.mha');
    const movingPath = join(dir, 'moving.mha');
    writeImageFile(fixedPath, c.fixed);
    writeImageFile(movingPath, c.moving);
    const chainPath = join(dir, `chain.${chainExt(c.chain)}`);
    writeFileSync(chainPath, chainBytes(c.chain));
    const tp = join(dir, 'TransformParameters.0.txt');
    assert.equal((await coreg(['transform', 'convert', chainPath, tp, '--reference', fixedPath])).code, 0);
    transformix(['-in', movingPath, '-tp', tp, '-out', dir]);
    const theirs = readImageFile(join(dir, 'result.nii'));
    const oursPath = join(dir, 'ours.nii.gz');
    const r = await coreg(['apply', '--reference', fixedPath, '--moving', movingPath, '--transform', tp, '--out', oursPath]);
    assert.equal(r.code, 0, r.stderr);
    const ours = readImageFile(oursPath);
    assert.deepEqual(theirs.size, ours.size);
    // Compare where the mapped point is well inside the moving image (borders differ by convention).
    const d = c.fixed.dimension;
    let compared = 0;
    let worst = 0;
    let sum = 0;
    const out = new Float64Array(d);
    const n = ours.data.length;
    for (let p = 0; p < n; p++) {
      const idx: number[] = [];
      let rest = p;
      for (let a = 0; a < d; a++) {
        idx.push(rest % c.fixed.size[a]);
        rest = Math.floor(rest / c.fixed.size[a]);
      }
      transformChainPoint(c.chain, indexToPhysical(c.fixed, idx), out, new Float64Array(d));
      const mi = physicalToIndex(c.moving, out);
      if (mi.some((v, a) => v < 1 || v > c.moving.size[a] - 2)) continue;
      compared++;
      sum += theirs.data[p];
      worst = Math.max(worst, Math.abs(ours.data[p] - theirs.data[p]));
    }
    assert.ok(compared > n / 3, `compared ${compared} of ${n}`);
    assert.ok(sum / compared > 15, 'transformix resampled the scene (not an empty image)');
    assert.ok(worst < 1e-3, `max |coreg − transformix| ${worst} (image range ~20…90)`);
  });
}

test('coreg reads a result folder elastix wrote (moved elsewhere) and maps points as transformix does', { skip: SKIP }, async () => {
  const dir = join(DIR, 'run');
  mkdirSync(dir);
  const c = CASES[0];
  const fixedPath = join(dir, 'fixed.mha');
  const movingPath = join(dir, 'moving.mha');
  writeImageFile(fixedPath, c.fixed);
  writeImageFile(movingPath, c.moving);
  const common = [
    '(FixedInternalImagePixelType "float")',
    '(MovingInternalImagePixelType "float")',
    '(Registration "MultiResolutionRegistration")',
    '(FixedImagePyramid "FixedRecursiveImagePyramid")',
    '(MovingImagePyramid "MovingRecursiveImagePyramid")',
    '(Interpolator "LinearInterpolator")',
    '(Metric "AdvancedMeanSquares")',
    '(Optimizer "AdaptiveStochasticGradientDescent")',
    '(ResampleInterpolator "FinalBSplineInterpolator")',
    '(FinalBSplineInterpolationOrder 1)',
    '(Resampler "DefaultResampler")',
    '(ImageSampler "RandomCoordinate")',
    '(NumberOfSpatialSamples 500)',
    '(NewSamplesEveryIteration "true")',
    '(NumberOfResolutions 1)',
    '(MaximumNumberOfIterations 30)',
    '(RandomSeed 1)',
    '(WriteResultImage "false")',
    '(AutomaticTransformInitialization "true")',
  ];
  writeFileSync(join(dir, 'affine.txt'), [...common, '(Transform "AffineTransform")', '(AutomaticScalesEstimation "true")'].join('\n'));
  writeFileSync(join(dir, 'bspline.txt'), [...common.filter((l) => !l.includes('AutomaticTransformInitialization')), '(Transform "BSplineTransform")', '(FinalGridSpacingInPhysicalUnits 8)'].join('\n'));
  const out = join(dir, 'out');
  mkdirSync(out);
  const r = spawnSync('elastix', ['-f', fixedPath, '-m', movingPath, '-p', join(dir, 'affine.txt'), '-p', join(dir, 'bspline.txt'), '-out', out, '-threads', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout.slice(-2000));
  assert.match(readFileSync(join(out, 'TransformParameters.1.txt'), 'utf8'), /InitialTransformParametersFileName "[^"]*TransformParameters\.0\.txt"/);
  const pts = insidePoints(c.fixed, 20, 3);
  const theirs = transformixPoints(join(out, 'TransformParameters.1.txt'), pts, join(dir, 'tx'));
  // Move the folder: the absolute chained path now points nowhere; coreg finds the file by its base name.
  const moved = join(DIR, 'moved-result');
  cpSync(out, moved, { recursive: true });
  rmSync(out, { recursive: true });
  const chain = loadTransformChain(join(moved, 'TransformParameters.1.txt'), nodeTransformFiles);
  assert.equal(chain.length, 2);
  // The folder itself works too (its last TransformParameters file).
  const fromFolder = loadTransformChain(moved, nodeTransformFiles);
  assert.deepEqual(fromFolder.map((t) => t.kind), ['affine', 'bspline']);
  assert.equal(chain[0].kind, 'affine');
  assert.equal(chain[1].kind, 'bspline');
  const ours = pts.map((p) => {
    const o = new Float64Array(2);
    transformChainPoint(chain, p, o, new Float64Array(2));
    return Array.from(o);
  });
  assert.ok(maxDistance(ours, theirs) <= 1e-3, `max |coreg − transformix| ${maxDistance(ours, theirs)} mm`);
  // A missing chained file: one line, exit 1, nothing written.
  rmSync(join(moved, 'TransformParameters.0.txt'));
  const outTfm = join(DIR, 'never.tfm');
  const bad = await coreg(['transform', 'convert', join(moved, 'TransformParameters.1.txt'), outTfm]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /^coreg: error: .*TransformParameters\.1\.txt: its initial transform .* is missing/);
  assert.equal(existsSync(outTfm), false);
});

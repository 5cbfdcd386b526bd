// Transform interchange and inverses: ITK binary .mat, FSL FLIRT and greedy/c3d RAS matrices against
// hand-computed cases from their published definitions, round trips through every writer, whole-chain inverses
// (exact for linear parts, numeric fields with a reported residual), and the CLI commands built on them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, indexToPhysical, type Image } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { formatTransformChainFiles, loadTransformChain, parseTransformFile } from '../../src/io/chain-io.js';
import { transformChainPoint } from '../../src/transform/chain.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { invertChain } from '../../src/transform/inverse.js';
import { AffineTransform, Euler3DTransform, Similarity2DTransform } from '../../src/transform/linear.js';
import { formatItkMatlabTransform, parseItkMatlabTransform } from '../../src/transform/matlab.js';
import { formatFslMatrix, formatRasMatrix, parseFslMatrix, parseRasMatrix } from '../../src/transform/world-matrices.js';
import type { Transform } from '../../src/transform/transform.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { assertArrayClose } from '../helpers.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-interchange-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

function map(chain: readonly Transform[], p: number[]): number[] {
  const out = new Float64Array(p.length);
  transformChainPoint(chain, p, out, new Float64Array(p.length));
  return Array.from(out);
}

const POINTS3 = [
  [0, 0, 0],
  [10, -5, 3],
  [-7.5, 12, 20],
  [33, 1, -9],
];

function affine3(): AffineTransform {
  const a = new AffineTransform(3);
  a.setCenter([5, -3, 8]);
  a.setParameters([1.02, 0.05, -0.03, -0.04, 0.97, 0.06, 0.02, -0.05, 1.08, 2.5, -1.25, 4]);
  return a;
}

/** MATLAB v4 bytes: header (type, rows, cols, imagf, namlen), name, values (float32 or float64). */
function matBytes(mats: [string, ArrayLike<number>][], bigEndian: boolean, float: boolean): Uint8Array {
  const parts: number[] = [];
  const size = float ? 4 : 8;
  for (const [name, values] of mats) {
    const buf = new DataView(new ArrayBuffer(20 + name.length + 1 + values.length * size));
    [(bigEndian ? 1000 : 0) + (float ? 10 : 0), values.length, 1, 0, name.length + 1].forEach((v, i) => buf.setInt32(i * 4, v, !bigEndian));
    for (let i = 0; i < name.length; i++) buf.setUint8(20 + i, name.charCodeAt(i));
    for (let i = 0; i < values.length; i++) {
      if (float) buf.setFloat32(20 + name.length + 1 + i * 4, values[i], !bigEndian);
      else buf.setFloat64(20 + name.length + 1 + i * 8, values[i], !bigEndian);
    }
    parts.push(...new Uint8Array(buf.buffer));
  }
  return Uint8Array.from(parts);
}

test('ITK binary .mat: hand-built MATLAB v4 bytes (big-endian float32 and ANTs names) read as the same affine', () => {
  const bytes0 = matBytes([['AffineTransform_float_3_3', [1, 0, 0, 0, 1, 0, 0, 0, 1, 3, -2, 0.5]], ['fixed', [1, 2, 3]]], true, true);
  const [t] = parseItkMatlabTransform(bytes0, 'ants.mat');
  // Translation (3, −2, 0.5) with identity matrix: x ↦ x + t whatever the centre.
  assertArrayClose(map([t], [1, 1, 1]), [4, -1, 1.5], 1e-12);
  // Written files are little-endian double, the ITK layout, and round-trip exactly.
  const a = affine3();
  const bytes = formatItkMatlabTransform([a]);
  assert.deepEqual(Array.from(new Int32Array(bytes.buffer.slice(0, 20))), [0, 12, 1, 0, 27]);
  assert.equal(new TextDecoder().decode(bytes.slice(20, 46)), 'AffineTransform_double_3_3');
  const [b] = parseItkMatlabTransform(bytes, 'x.mat');
  for (const p of POINTS3) assertArrayClose(map([b], p), map([a], p), 1e-12);
  // ANTs writes affines as MatrixOffsetTransformBase_double_3_3: T(x) = A(x − c) + t + c.
  const [c] = parseItkMatlabTransform(matBytes([['MatrixOffsetTransformBase_double_3_3', a.parameters], ['fixed', a.getCenter()]], false, false), 'ants.mat');
  for (const p of POINTS3) assertArrayClose(map([c], p), map([a], p), 1e-12);
  // Hand-computed: A = 2·I, t = 0, c = (1, 1, 1): x ↦ 2(x − c) + c.
  const [h] = parseItkMatlabTransform(matBytes([['MatrixOffsetTransformBase_double_3_3', [2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]], ['fixed', [1, 1, 1]]], false, false), 'h.mat');
  assertArrayClose(map([h], [3, 0, 1]), [5, -1, 1], 1e-12);
  assert.throws(() => formatItkMatlabTransform([new BSplineTransform({ dimension: 3, gridSize: [4, 4, 4], gridOrigin: [0, 0, 0], gridSpacing: [1, 1, 1] })]), /non-linear/);
  assert.throws(() => parseItkMatlabTransform(bytes.slice(0, 60), 't.mat'), /truncated/);
});

test('FSL FLIRT: a hand-computed case (radiological flip of scaled voxels) and round trips', () => {
  // Reference (fixed): 10³ voxels of 1 mm, identity LPS direction: det > 0, so FSL's x = (9 − i)·1.
  // Input (moving): 5³ voxels of 2 mm: x = (4 − i)·2. Identity FLIRT matrix: 9 − i_ref = 8 − 2·i_in, so
  // i_ref = 1 + 2·i_in, j_ref = 2·j_in, k_ref = 2·k_in. Physical (origin 0): x_ref = 1 + x_in, hence
  // T(fixed → moving) is the translation (−1, 0, 0).
  const ref = createImage([10, 10, 10], 'float32', { spacing: [1, 1, 1] });
  const inp = createImage([5, 5, 5], 'float32', { spacing: [2, 2, 2] });
  const identity = '1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n';
  const [t] = parseFslMatrix(identity, 'x.flirt.mat', ref, inp);
  for (const p of POINTS3) assertArrayClose(map([t], p), [p[0] - 1, p[1], p[2]], 1e-12);
  // A flipped storage (LPS direction diag(−1, 1, 1): det < 0, no flip): then scaled voxels = index·size and the
  // identity FLIRT matrix maps i_ref = 2·i_in, i.e. x_ref = −i_ref = 2·x_in/(−2)·(−1)… = x_in: the identity.
  const refNeg = createImage([10, 10, 10], 'float32', { spacing: [1, 1, 1], direction: [-1, 0, 0, 0, 1, 0, 0, 0, 1] });
  const inpNeg = createImage([5, 5, 5], 'float32', { spacing: [2, 2, 2], direction: [-1, 0, 0, 0, 1, 0, 0, 0, 1] });
  const [u] = parseFslMatrix(identity, 'x.flirt.mat', refNeg, inpNeg);
  for (const p of POINTS3) assertArrayClose(map([u], p), p, 1e-12);
  // FLIRT translation of +3 mm along its y: y_ref = y_in + 3, so T maps y ↦ y − 3.
  const [v] = parseFslMatrix('1 0 0 0\n0 1 0 3\n0 0 1 0\n0 0 0 1', 'x.flirt.mat', ref, ref);
  assertArrayClose(map([v], [2, 5, 1]), [2, 2, 1], 1e-12);
  // Round trip of a general affine through FLIRT text on oblique grids.
  const c = Math.cos(0.4);
  const s = Math.sin(0.4);
  const g1 = createImage([30, 20, 25], 'float32', { spacing: [1.2, 0.9, 2], origin: [4, -3, 7], direction: [c, -s, 0, s, c, 0, 0, 0, 1] });
  const g2 = createImage([22, 26, 18], 'float32', { spacing: [1, 1.5, 1.1], origin: [-2, 1, 3] });
  const a = affine3();
  const text = formatFslMatrix([a], g1, g2);
  const [back] = parseFslMatrix(text, 'y.flirt.mat', g1, g2);
  for (const p of POINTS3) assertArrayClose(map([back], p), map([a], p), 1e-9);
  assert.throws(() => parseFslMatrix(identity, 'x.flirt.mat', ref, undefined), /needs both images/);
});

test('greedy/c3d RAS matrices: LPS = diag(−1,−1,1)·RAS·diag(−1,−1,1), 3D and 2D', () => {
  // RAS translation (1, 2, 3) is LPS (−1, −2, 3); a RAS rotation about z is the same rotation in LPS.
  const [t] = parseRasMatrix('1 0 0 1\n0 1 0 2\n0 0 1 3\n0 0 0 1\n', 'greedy.ras.mat');
  assertArrayClose(map([t], [0, 0, 0]), [-1, -2, 3], 1e-12);
  const [r] = parseRasMatrix('0 -1 0 0\n1 0 0 0\n0 0 1 0\n0 0 0 1\n', 'rot.mat');
  assertArrayClose(map([r], [1, 0, 0]), [0, 1, 0], 1e-12);
  const [t2] = parseRasMatrix('1 0 5\n0 1 -2\n0 0 1', 'greedy2d.mat');
  assertArrayClose(map([t2], [0, 0]), [-5, 2], 1e-12);
  const a = affine3();
  const [back] = parseRasMatrix(formatRasMatrix([a]), 'x.txt');
  for (const p of POINTS3) assertArrayClose(map([back], p), map([a], p), 1e-12);
  assert.throws(() => parseRasMatrix('1 0 0 0\n0 1 0 0\n0 0 1 0\n1 0 0 1', 'bad.txt'), /last row/);
});

/** A smooth B-spline that fades to zero at its domain's border (no jump where the domain ends). */
function bspline2d(): BSplineTransform {
  const [nx, ny] = [13, 12];
  const b = new BSplineTransform({ dimension: 2, gridSize: [nx, ny], gridOrigin: [-12, -10], gridSpacing: [4, 4.5] });
  const p = new Float64Array(b.numberOfParameters);
  for (let i = 0; i < p.length; i++) {
    const [x, y] = [i % nx, Math.floor(i / nx) % ny];
    const inner = x >= 3 && x < nx - 3 && y >= 3 && y < ny - 3;
    p[i] = inner ? 1.2 * Math.sin(1.7 * i + 0.3) : 0;
  }
  b.setParameters(p);
  return b;
}

test('invertChain: linear chains exactly; a B-spline as a numeric field whose reported residual is honest', () => {
  const a = affine3();
  const e = new Euler3DTransform();
  e.setCenter([1, 2, 3]);
  e.setParameters([0.1, -0.2, 0.3, 1, 2, -3]);
  const inv = invertChain([a, e]);
  assert.equal(inv.numeric.length, 0);
  for (const p of POINTS3) assertArrayClose(map(inv.transforms, map([a, e], p)), p, 1e-10);

  const b = bspline2d();
  const s = new Similarity2DTransform();
  s.setCenter([3, 4]);
  s.setParameters([1.1, 0.2, 1, -2]);
  const chain = [b, s];
  const r = invertChain(chain);
  assert.equal(r.numeric.length, 1);
  const rep = r.numeric[0];
  assert.equal(rep.unconverged, 0);
  assert.ok(rep.maxResidual < 0.05, `residual ${rep.maxResidual}`);
  // Between grid points the linear interpolation of the inverse adds a little: still well under a voxel.
  let worst = 0;
  for (let i = 0; i < 200; i++) {
    const x = [-10 + ((i * 0.618) % 1) * 44, -8 + ((i * 0.414) % 1) * 44];
    const back = map(r.transforms, map(chain, x));
    worst = Math.max(worst, Math.hypot(back[0] - x[0], back[1] - x[1]));
  }
  assert.ok(worst <= rep.maxResidual * 1.5 + 1e-6 && worst < 0.05, `round trip ${worst} mm`);
});

function image2d(size: number[], spacing: number[], origin: number[]): Image {
  const img = createImage(size, 'float32', { spacing, origin });
  for (let j = 0; j < size[1]; j++) {
    for (let i = 0; i < size[0]; i++) {
      const p = indexToPhysical(img, [i, j]);
      img.data[i + size[0] * j] = 50 + 40 * Math.sin(0.3 * p[0]) * Math.cos(0.2 * p[1]) + 30 * Math.exp(-((p[0] - 10) ** 2 + (p[1] - 12) ** 2) / 30);
    }
  }
  return img;
}

test('coreg apply --inverse equals apply through the explicitly inverted file; transform invert twice is the identity', async () => {
  const fixedPath = join(DIR, 'f.mha');
  const movingPath = join(DIR, 'm.mha');
  writeImageFile(fixedPath, image2d([30, 28], [1, 1.1], [0, -2]));
  writeImageFile(movingPath, image2d([34, 30], [0.9, 1], [-3, -1]));
  const s = new Similarity2DTransform();
  s.setCenter([12, 10]);
  s.setParameters([1.05, 0.15, 1.5, -0.5]);
  const tfm = join(DIR, 's.tfm');
  writeFileSync(tfm, formatItkTransformFile([s]));
  const invTfm = join(DIR, 's-inv.tfm');
  assert.equal((await coreg(['transform', 'invert', tfm, invTfm])).code, 0);
  const a = join(DIR, 'a.nii.gz');
  const b = join(DIR, 'b.nii.gz');
  assert.equal((await coreg(['apply', '--reference', movingPath, '--moving', fixedPath, '--transform', tfm, '--inverse', '--out', a])).code, 0);
  assert.equal((await coreg(['apply', '--reference', movingPath, '--moving', fixedPath, '--transform', invTfm, '--out', b])).code, 0);
  const ia = readImageFile(a);
  const ib = readImageFile(b);
  let worst = 0;
  for (let i = 0; i < ia.data.length; i++) worst = Math.max(worst, Math.abs(ia.data[i] - ib.data[i]));
  assert.ok(worst < 1e-4, `apply --inverse vs inverted file: ${worst}`);
  const twice = join(DIR, 's-inv-inv.mat');
  assert.equal((await coreg(['transform', 'invert', invTfm, twice])).code, 0);
  const back = loadTransformChain(twice, nodeTransformFiles);
  for (const p of [[0, 0], [10, 5], [-4, 20]]) assertArrayClose(map(back, p), map([s], p), 1e-10);

  // A B-spline chain: invert writes a field (residual on stderr); the field's map undoes the chain.
  const chain = [bspline2d(), s];
  const chainTfm = join(DIR, 'bs.tfm');
  writeFileSync(chainTfm, formatItkTransformFile(chain));
  const field = join(DIR, 'bs-inv.nii.gz');
  const r = await coreg(['transform', 'invert', chainTfm, field, '--reference', movingPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^coreg: inverse of the bspline transform: a displacement field on a \d+×\d+ grid, residual .* max [0-9.e-]+ mm/m);
  const inv = loadTransformChain(field, nodeTransformFiles);
  let worstPt = 0;
  for (let i = 0; i < 100; i++) {
    const x = [4 + ((i * 0.618) % 1) * 18, 3 + ((i * 0.414) % 1) * 18];
    const y = map(chain, x);
    const back2 = map(inv, y);
    worstPt = Math.max(worstPt, Math.hypot(back2[0] - x[0], back2[1] - x[1]));
  }
  assert.ok(worstPt < 0.1, `inverse field round trip ${worstPt} mm`);
  // An ITK text file cannot hold the field: one line, exit 1, nothing written.
  const bad = join(DIR, 'bs-inv.tfm');
  const rb = await coreg(['transform', 'invert', chainTfm, bad, '--quiet']);
  assert.equal(rb.code, 1);
  assert.equal(rb.stderr.trim().split('\n').length, 1);
  assert.equal(existsSync(bad), false);
});

test('transform convert: every writer reads back as the same map; bad inputs fail with one line and write nothing', async () => {
  const a = affine3();
  const ref = createImage([20, 22, 18], 'float32', { spacing: [1.5, 1, 2], origin: [-3, 2, 5] });
  const mov = createImage([18, 18, 20], 'float32', { spacing: [1, 1.2, 1.1] });
  const refPath = join(DIR, 'ref3.nii.gz');
  const movPath = join(DIR, 'mov3.nii.gz');
  writeImageFile(refPath, ref);
  writeImageFile(movPath, mov);
  const tfm = join(DIR, 'a3.tfm');
  writeFileSync(tfm, formatItkTransformFile([a]));
  for (const [out, extra] of [
    ['a3.mat', []],
    ['a3.flirt.mat', ['--reference', refPath, '--moving', movPath]],
    ['a3-ras.txt', ['--to', 'ras']],
    ['a3.ras.mat', []],
    ['TransformParameters.a3.txt', ['--reference', refPath]],
    ['a3-copy.tfm', []],
  ] as [string, string[]][]) {
    const path = join(DIR, out);
    const r = await coreg(['transform', 'convert', tfm, path, ...extra]);
    assert.equal(r.code, 0, `${out}: ${r.stderr}`);
    const from = out.endsWith('-ras.txt') ? { from: 'ras' as const } : {};
    const chain = loadTransformChain(path, nodeTransformFiles, { fixedGrid: ref, movingGrid: mov, ...from });
    for (const p of POINTS3) assertArrayClose(map(chain, p), map([a], p), 1e-8, out);
  }
  // A plain-text .mat is ambiguous (FLIRT or greedy): refused with the way out; *.ras.mat is read as RAS.
  const plain = join(DIR, 'plain.mat');
  writeFileSync(plain, '1 0 0 1\n0 1 0 2\n0 0 1 3\n0 0 0 1\n');
  assert.throws(() => loadTransformChain(plain, nodeTransformFiles), /\*\.flirt\.mat .*\*\.ras\.mat/);
  const rasMat = join(DIR, 'plain.ras.mat');
  writeFileSync(rasMat, '1 0 0 1\n0 1 0 2\n0 0 1 3\n0 0 0 1\n');
  assertArrayClose(map(loadTransformChain(rasMat, nodeTransformFiles), [0, 0, 0]), [-1, -2, 3], 1e-12);
  assertArrayClose(map(loadTransformChain(plain, nodeTransformFiles, { from: 'ras' }), [0, 0, 0]), [-1, -2, 3], 1e-12);
  // Wrong dimension: a 3D transform applied to 2D images.
  const img2 = join(DIR, 'two.mha');
  writeImageFile(img2, image2d([10, 10], [1, 1], [0, 0]));
  const o = join(DIR, 'never.nii.gz');
  const r1 = await coreg(['apply', '--reference', img2, '--moving', img2, '--transform', join(DIR, 'TransformParameters.a3.txt'), '--out', o]);
  assert.equal(r1.code, 1);
  assert.equal(r1.stderr.trim().split('\n').length, 1);
  assert.equal(existsSync(o), false);
  // An elastix file of an unsupported type.
  const weird = join(DIR, 'TransformParameters.weird.txt');
  writeFileSync(weird, '(Transform "SplineKernelTransform")\n(NumberOfParameters 0)\n(TransformParameters)\n(FixedImageDimension 2)\n(MovingImageDimension 2)\n');
  const r2 = await coreg(['transform', 'convert', weird, join(DIR, 'never.tfm')]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /^coreg: error: .*weird\.txt: unsupported elastix transform "SplineKernelTransform"/);
  assert.equal(existsSync(join(DIR, 'never.tfm')), false);
  // FSL without the images.
  const r3 = await coreg(['transform', 'convert', join(DIR, 'a3.flirt.mat'), join(DIR, 'never2.tfm')]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /needs both images/);
  // A wrong number of parameters in an elastix file.
  const short = join(DIR, 'TransformParameters.short.txt');
  writeFileSync(short, '(Transform "AffineTransform")\n(NumberOfParameters 5)\n(TransformParameters 1 0 0 1 0)\n(FixedImageDimension 2)\n(MovingImageDimension 2)\n');
  assert.throws(() => parseTransformFile(readFileSync(short), short, nodeTransformFiles), /expected 6 TransformParameters/);
  // Writers refuse what they cannot hold.
  assert.throws(() => formatTransformChainFiles([a], join(DIR, 'x.flirt.mat')), /needs both images/);
});

test('apply and points read FSL matrices with their images (apply: --reference/--moving; points: --reference/--moving)', async () => {
  const ref = createImage([12, 10, 8], 'float32', { spacing: [2, 2, 2], origin: [1, -2, 3] });
  for (let i = 0; i < ref.data.length; i++) ref.data[i] = (i * 37) % 101;
  const mov = createImage([10, 12, 9], 'float32', { spacing: [2.2, 1.8, 2], origin: [-1, 0, 2] });
  for (let i = 0; i < mov.data.length; i++) mov.data[i] = (i * 53) % 97;
  const refPath = join(DIR, 'fsl-ref.nii.gz');
  const movPath = join(DIR, 'fsl-mov.nii.gz');
  writeImageFile(refPath, ref);
  writeImageFile(movPath, mov);
  const flirt = join(DIR, 'reg.flirt.mat');
  writeFileSync(flirt, formatFslMatrix([affine3()], readImageFile(refPath), readImageFile(movPath)));
  const tfm = join(DIR, 'reg-from-fsl.tfm');
  assert.equal((await coreg(['transform', 'convert', flirt, tfm, '--reference', refPath, '--moving', movPath])).code, 0);
  const a = join(DIR, 'fsl-a.nii.gz');
  const b = join(DIR, 'fsl-b.nii.gz');
  assert.equal((await coreg(['apply', '--reference', refPath, '--moving', movPath, '--transform', flirt, '--out', a])).code, 0);
  assert.equal((await coreg(['apply', '--reference', refPath, '--moving', movPath, '--transform', tfm, '--out', b])).code, 0);
  assert.deepEqual(Array.from(readImageFile(a).data), Array.from(readImageFile(b).data));
  const pin = join(DIR, 'fsl-in.csv');
  writeFileSync(pin, 'x,y,z\n3,4,5\n');
  const pout = join(DIR, 'fsl-out.csv');
  assert.equal((await coreg(['points', '--transform', flirt, '--reference', refPath, '--moving', movPath, '--in', pin, '--out', pout])).code, 0);
  const got = readFileSync(pout, 'utf8').trim().split('\n')[1].split(',').map(Number);
  assertArrayClose(got, map([affine3()], [3, 4, 5]), 1e-9);
});

test('invertChain: a 3D B-spline with displacements of several mm inverts inside its domain (chord steps)', async () => {
  const { createBSplineTransformForImage } = await import('../../src/transform/bspline.js');
  const { createImage: makeImage } = await import('../../src/image/image.js');
  const img = makeImage([40, 36, 30], 'float32', { spacing: [1.5, 1.5, 2], origin: [-5, 3, 1] });
  const b = createBSplineTransformForImage(img, 12);
  const nC = b.numberOfControlPoints;
  const q = new Float64Array(b.numberOfParameters);
  // smooth in space (|∇u| ≈ 0.2: no fold), several mm everywhere
  const [gx, gy] = b.gridSize;
  for (let i = 0; i < nC; i++) {
    const [ix, iy, iz] = [i % gx, Math.floor(i / gx) % gy, Math.floor(i / (gx * gy))];
    q[i] = 4 * Math.sin(0.6 * iy + 0.3 * iz);
    q[nC + i] = -3 * Math.cos(0.5 * ix);
    q[2 * nC + i] = 2.5 * Math.sin(0.7 * ix + 0.4 * iy + 1);
  }
  b.setParameters(q);
  const r = invertChain([b]);
  const rep = r.numeric[0];
  // (the forward map leaves gaps at the domain's border, where points have no preimage)
  const points = rep.size.reduce((a, n) => a * n, 1);
  assert.ok(rep.unconverged < 0.06 * points, `${rep.unconverged} of ${points} points without a preimage`);
  // (cells at the border, where the field switches between preimages, dominate the percentiles)
  assert.ok(rep.p99Residual < 2, `99th percentile residual ${rep.p99Residual}`);
  let worst = 0;
  for (let i = 0; i < 300; i++) {
    const x = [5 + ((i * 0.618) % 1) * 45, 12 + ((i * 0.414) % 1) * 40, 10 + ((i * 0.732) % 1) * 40];
    const back = map(r.transforms, map([b], x));
    worst = Math.max(worst, Math.hypot(back[0] - x[0], back[1] - x[1], back[2] - x[2]));
  }
  assert.ok(worst < 0.1, `round trip ${worst} mm`);
});

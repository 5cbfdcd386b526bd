import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { CoregError } from '../../src/errors.js';
import { BSplineTransform, createBSplineTransformForImage, createBSplineTransformFromDomain, type BSplineGridSpec } from '../../src/transform/bspline.js';
import { formatItkTransformFile, parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { SKIP_NO_DATA, assertArrayClose, assertClose, sharedPath, dataPath } from '../helpers.js';
import { readBSplineCoefficientsText } from '../../bench/lib/bspline-coefficients.js';
import { refineBSpline } from '../../src/transform/bspline-refine.js';
import { bsplineDisplacementField } from '../../src/transform/bspline-field.js';
import { indexToPhysicalMatrix, type GridGeometry } from '../../src/image/image.js';
import { jacobianDeterminantImage } from '../../src/transform/jacobian.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { transformChainPoint } from '../../src/transform/chain.js';

/** Deterministic uniform numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

function rotation2(deg: number): number[] {
  const a = (deg * Math.PI) / 180;
  return [Math.cos(a), -Math.sin(a), Math.sin(a), Math.cos(a)];
}

function rotation3(): number[] {
  // Rz(20°)·Rx(−15°): a proper rotation with no zero entries.
  const c1 = Math.cos(0.35);
  const s1 = Math.sin(0.35);
  const c2 = Math.cos(-0.26);
  const s2 = Math.sin(-0.26);
  const rz = [c1, -s1, 0, s1, c1, 0, 0, 0, 1];
  const rx = [1, 0, 0, 0, c2, -s2, 0, s2, c2];
  const out = new Array<number>(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += rz[r * 3 + k] * rx[k * 3 + c];
  return out;
}

const SPEC2: BSplineGridSpec = { dimension: 2, gridSize: [6, 7], gridOrigin: [-12, 5], gridSpacing: [8, 6.5], gridDirection: rotation2(25) };
const SPEC3: BSplineGridSpec = { dimension: 3, gridSize: [5, 6, 4], gridOrigin: [3, -20, 7], gridSpacing: [9, 7, 11], gridDirection: rotation3() };

function randomTransform(spec: BSplineGridSpec, seed: number, amplitude = 3): BSplineTransform {
  const t = new BSplineTransform(spec);
  const r = rng(seed);
  const p = new Float64Array(t.numberOfParameters);
  for (let i = 0; i < p.length; i++) p[i] = amplitude * (2 * r() - 1);
  t.setParameters(p);
  return t;
}

/** A physical point at continuous grid index g. */
function atGrid(t: BSplineTransform, g: ArrayLike<number>): Float64Array {
  const d = t.dimension;
  const p = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    let s = t.gridOrigin[r];
    for (let c = 0; c < d; c++) s += t.gridDirection[r * d + c] * t.gridSpacing[c] * g[c];
    p[r] = s;
  }
  return p;
}

/** Random points inside the transform domain (grid index in [1, size − 2]). */
function insidePoints(t: BSplineTransform, count: number, seed: number): Float64Array[] {
  const r = rng(seed);
  const pts: Float64Array[] = [];
  for (let n = 0; n < count; n++) pts.push(atGrid(t, t.gridSize.map((s) => 1 + r() * (s - 3))));
  return pts;
}

function apply(t: BSplineTransform, p: ArrayLike<number>): Float64Array {
  const out = new Float64Array(t.dimension);
  t.transformPoint(p, out);
  return out;
}

test('zero parameters are the identity; outside the domain T(x) = x and the jacobian vanishes', () => {
  for (const spec of [SPEC2, SPEC3]) {
    const t = new BSplineTransform(spec);
    for (const p of insidePoints(t, 20, 1)) assertArrayClose(apply(t, p), p, 0, 'identity');
    const field = bsplineDisplacementField(t, { dimension: spec.dimension, size: spec.dimension === 2 ? [7, 5] : [4, 3, 5], spacing: spec.dimension === 2 ? [3, 4] : [4, 5, 3], origin: Array.from(spec.gridOrigin), direction: Array.from(spec.gridDirection!) });
    assert.ok(field.every((v) => v === 0));
    const moved = randomTransform(spec, 2);
    const outside = atGrid(moved, moved.gridSize.map((s, i) => (i === 0 ? s - 1.5 : 2)));
    assertArrayClose(apply(moved, outside), outside, 0, 'outside');
    const outsideLow = atGrid(moved, moved.gridSize.map((_, i) => (i === 0 ? 0.9 : 2)));
    assertArrayClose(apply(moved, outsideLow), outsideLow, 0, 'outside below');
    assert.equal(moved.sparseJacobian(outside, new Float64Array(64), new Int32Array(64)), 0);
    const jac = new Float64Array(moved.dimension * moved.numberOfParameters).fill(7);
    moved.jacobian(outside, jac);
    assert.ok(jac.every((v) => v === 0));
    assert.equal(moved.isInside(outside), false);
    assert.equal(moved.jacobianDeterminant(outside), 1);
  }
});

test('parameter jacobian (dense and sparse) matches finite differences in 2D and 3D', () => {
  for (const [spec, seed] of [[SPEC2, 3], [SPEC3, 4]] as const) {
    const t = randomTransform(spec, seed);
    const d = t.dimension;
    const np = t.numberOfParameters;
    const nc = t.numberOfControlPoints;
    const dense = new Float64Array(d * np);
    const weights = new Float64Array(64);
    const indices = new Int32Array(64);
    const r = rng(seed + 10);
    for (const p of insidePoints(t, 4, seed)) {
      t.jacobian(p, dense);
      const count = t.sparseJacobian(p, weights, indices);
      assert.equal(count, 4 ** d);
      // The sparse form scattered into a dense matrix equals the dense one.
      const scattered = new Float64Array(d * np);
      for (let n = 0; n < count; n++) for (let a = 0; a < d; a++) scattered[a * np + a * nc + indices[n]] = weights[n];
      assertArrayClose(scattered, dense, 0, 'sparse vs dense');
      let sum = 0;
      for (let n = 0; n < count; n++) sum += weights[n];
      assertClose(sum, 1, 1e-14, 'partition of unity');
      // Finite differences on every support parameter and a few random others.
      const columns = new Set<number>();
      for (let n = 0; n < count; n++) for (let a = 0; a < d; a++) columns.add(a * nc + indices[n]);
      for (let i = 0; i < 20; i++) columns.add(Math.floor(r() * np));
      const h = 1e-3;
      for (const col of columns) {
        const save = t.parameters[col];
        t.parameters[col] = save + h;
        const plus = apply(t, p);
        t.parameters[col] = save - h;
        const minus = apply(t, p);
        t.parameters[col] = save;
        for (let a = 0; a < d; a++) assertClose(dense[a * np + col], (plus[a] - minus[a]) / (2 * h), 1e-9, `∂T${a}/∂θ${col}`);
      }
    }
  }
});

test('spatial jacobian and its determinant match finite differences in 2D and 3D', () => {
  for (const [spec, seed] of [[SPEC2, 5], [SPEC3, 6]] as const) {
    const t = randomTransform(spec, seed, 4);
    const d = t.dimension;
    const jac = new Float64Array(d * d);
    for (const p of insidePoints(t, 10, seed)) {
      t.spatialJacobian(p, jac);
      const fd = new Float64Array(d * d);
      const h = 1e-5;
      for (let j = 0; j < d; j++) {
        const q = Float64Array.from(p);
        q[j] = p[j] + h;
        const plus = apply(t, q);
        q[j] = p[j] - h;
        const minus = apply(t, q);
        for (let a = 0; a < d; a++) fd[a * d + j] = (plus[a] - minus[a]) / (2 * h);
      }
      assertArrayClose(jac, fd, 1e-7, 'dT/dx');
      const det =
        d === 2
          ? fd[0] * fd[3] - fd[1] * fd[2]
          : fd[0] * (fd[4] * fd[8] - fd[5] * fd[7]) - fd[1] * (fd[3] * fd[8] - fd[5] * fd[6]) + fd[2] * (fd[3] * fd[7] - fd[4] * fd[6]);
      assertClose(t.jacobianDeterminant(p), det, 1e-7, 'det');
    }
  }
});

test('the dense displacement field equals transformPoint at every pixel (separable and rotated grids)', () => {
  const cases: { spec: BSplineGridSpec; grid: GridGeometry }[] = [
    // Same axes as the control grid: separable path; the image extends past the domain on every side.
    { spec: SPEC2, grid: { dimension: 2, size: [23, 19], spacing: [2.5, 3], origin: Array.from(atGrid(new BSplineTransform(SPEC2), [0.2, 0.5])), direction: Array.from(SPEC2.gridDirection!) } },
    { spec: SPEC3, grid: { dimension: 3, size: [11, 9, 8], spacing: [3.5, 4, 4.5], origin: Array.from(atGrid(new BSplineTransform(SPEC3), [0.5, 0.3, 0.6])), direction: Array.from(SPEC3.gridDirection!) } },
    // Axes not parallel to the grid: point-by-point path.
    { spec: SPEC2, grid: { dimension: 2, size: [17, 15], spacing: [3, 3], origin: [-20, 0], direction: rotation2(-10) } },
    { spec: SPEC3, grid: { dimension: 3, size: [9, 8, 7], spacing: [5, 5, 6], origin: [-5, -25, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] } },
  ];
  for (const [i, { spec, grid }] of cases.entries()) {
    const t = randomTransform(spec, 20 + i);
    const d = t.dimension;
    const field = bsplineDisplacementField(t, grid);
    const sz = d === 3 ? grid.size[2] : 1;
    let o = 0;
    let insideCount = 0;
    const p = new Float64Array(d);
    for (let k = 0; k < sz; k++) {
      for (let j = 0; j < grid.size[1]; j++) {
        for (let x = 0; x < grid.size[0]; x++) {
          const idx = [x, j, k];
          for (let r = 0; r < d; r++) {
            let s = grid.origin[r];
            for (let c = 0; c < d; c++) s += grid.direction[r * d + c] * grid.spacing[c] * idx[c];
            p[r] = s;
          }
          const q = apply(t, p);
          if (t.isInside(p)) insideCount++;
          for (let a = 0; a < d; a++) assertClose(field[o + a], q[a] - p[a], 1e-4, `case ${i} pixel ${x},${j},${k} u${a}`);
          o += d;
        }
      }
    }
    assert.ok(insideCount > 10 && insideCount < o / d, `case ${i}: both inside and outside pixels (${insideCount})`);
    // Reusing an output buffer gives the same numbers.
    const again = bsplineDisplacementField(t, grid, new Float32Array(field.length).fill(9));
    assert.deepEqual(again, field);
  }
});

test('ITK BSplineWarping1 grid: fixed parameters of mesh 4×4 over 220×256 mm', () => {
  const t = createBSplineTransformFromDomain({ dimension: 2, origin: [0, 0], physicalDimensions: [220, 256], meshSize: [4, 4] });
  assert.deepEqual(Array.from(t.fixedParameters), [7, 7, -55, -64, 55, 64, 1, 0, 0, 1]);
  assert.equal(t.numberOfParameters, 98);
  const dom = t.domain;
  assertArrayClose(dom.origin, [0, 0], 1e-12, 'domain origin');
  assertArrayClose(dom.physicalDimensions, [220, 256], 1e-12, 'domain size');
  // A rotated domain puts the grid origin one cell before the domain along the rotated axes.
  const r = rotation2(30);
  const rt = createBSplineTransformFromDomain({ dimension: 2, origin: [10, 20], physicalDimensions: [100, 60], meshSize: [5, 3], direction: r });
  assertArrayClose(rt.gridOrigin, [10 - r[0] * 20 - r[1] * 20, 20 - r[2] * 20 - r[3] * 20], 1e-12, 'rotated origin');
  assertArrayClose(rt.domain.origin, [10, 20], 1e-12, 'rotated domain origin');
});

test('BSplineDisplacements1 matches the independent Python re-implementation (make_cases.py) to 1e-9', { skip: SKIP_NO_DATA }, (tc) => {
  const script = sharedPath('../peers/cases/make_cases.py');
  if (!existsSync(script)) return tc.skip('peers/cases/make_cases.py is absent');
  if (!existsSync('/usr/bin/python3')) return tc.skip('/usr/bin/python3 is absent');
  const coefFile = dataPath('itk/BSplineDisplacements1.txt');
  const { parameters, gridSize } = readBSplineCoefficientsText(readFileSync(coefFile, 'utf8'), 2, coefFile);
  assert.deepEqual(gridSize, [7, 7]);
  const t = createBSplineTransformFromDomain({ dimension: 2, origin: [0, 0], physicalDimensions: [220, 256], meshSize: [4, 4] });
  t.setParameters(parameters);
  const r = rng(99);
  const pts: number[] = [];
  for (let n = 0; n < 400; n++) pts.push(r() * 220, r() * 256);
  // Domain corners and edges, and the pixel centres of the 221×257 image along its borders.
  pts.push(0, 0, 220, 256, 0, 256, 220, 0, 110, 128, 55, 64, 165, 192);
  for (let x = 0; x <= 220; x += 11) pts.push(x, 0, x, 256);
  const code = [
    'import ast, json, sys',
    'import numpy as np',
    'tree = ast.parse(open(sys.argv[1]).read())',
    "ns = {'np': np}",
    'for node in tree.body:',
    "    if isinstance(node, ast.FunctionDef) and node.name in ('bspline3', 'itk_bspline_2d'):",
    "        exec(compile(ast.Module(body=[node], type_ignores=[]), 'make_cases.py', 'exec'), ns)",
    "f = ns['itk_bspline_2d'](sys.argv[2], (221, 257))",
    'p = np.array(json.load(sys.stdin), dtype=float).reshape(-1, 2)',
    "print(json.dumps({'points': f(p).ravel().tolist(), 'grid': f.grid}))",
  ].join('\n');
  const run = spawnSync('/usr/bin/python3', ['-c', code, script, coefFile], { input: JSON.stringify(pts), encoding: 'utf8' });
  if (run.status !== 0) {
    if (/No module named/.test(run.stderr)) return tc.skip(`python lacks numpy/scipy: ${run.stderr.trim().split('\n').pop()}`);
    assert.fail(`python failed: ${run.stderr}`);
  }
  const ref = JSON.parse(run.stdout) as { points: number[]; grid: { grid_origin: number[]; grid_spacing: number[]; grid_size: number[] } };
  assertArrayClose(t.gridOrigin, ref.grid.grid_origin, 1e-12, 'grid origin');
  assertArrayClose(t.gridSpacing, ref.grid.grid_spacing, 1e-12, 'grid spacing');
  assert.deepEqual(Array.from(t.gridSize), ref.grid.grid_size);
  let maxDisp = 0;
  for (let n = 0; n < pts.length / 2; n++) {
    const p = [pts[2 * n], pts[2 * n + 1]];
    const q = apply(t, p);
    assertArrayClose(q, [ref.points[2 * n], ref.points[2 * n + 1]], 1e-9, `T(${p})`);
    maxDisp = Math.max(maxDisp, Math.hypot(q[0] - p[0], q[1] - p[1]));
  }
  assert.ok(maxDisp > 9 && maxDisp < 10, `max displacement ${maxDisp} (README: 9.74 mm)`);
  // The dense field on the image grid agrees as well (float32 storage).
  const field = bsplineDisplacementField(t, { dimension: 2, size: [221, 257], spacing: [1, 1], origin: [0, 0], direction: [1, 0, 0, 1] });
  const q = apply(t, [37, 201]);
  assertClose(field[(201 * 221 + 37) * 2], q[0] - 37, 1e-5, 'field x');
  assertClose(field[(201 * 221 + 37) * 2 + 1], q[1] - 201, 1e-5, 'field y');
});

test('createBSplineTransformForImage lays the grid as elastix does and covers the image', () => {
  const img: GridGeometry = { dimension: 2, size: [221, 257], spacing: [1, 1], origin: [0, 0], direction: [1, 0, 0, 1] };
  const t = createBSplineTransformForImage(img, 55);
  // mesh = ceil(221/55) = 5, ceil(257/55) = 5 → 8 control points; centred on the pixel-centre box.
  assert.deepEqual(Array.from(t.gridSize), [8, 8]);
  assertArrayClose(t.gridSpacing, [55, 55], 0, 'spacing kept exactly');
  assertArrayClose(t.gridOrigin, [-(7 * 55 - 220) / 2, -(7 * 55 - 256) / 2], 1e-12, 'origin');
  // Rotated, anisotropic 3D image: every corner pixel centre is inside the domain.
  const dir = rotation3();
  const img3: GridGeometry = { dimension: 3, size: [40, 31, 12], spacing: [1.5, 2, 4], origin: [10, -30, 5], direction: dir };
  const t3 = createBSplineTransformForImage(img3, [10, 12, 16]);
  assert.deepEqual(Array.from(t3.gridSize), [Math.ceil(60 / 10) + 3, Math.ceil(62 / 12) + 3, Math.ceil(48 / 16) + 3]);
  assertArrayClose(t3.gridDirection, dir, 0, 'direction');
  for (let corner = 0; corner < 8; corner++) {
    const idx = [corner & 1 ? 39 : 0, corner & 2 ? 30 : 0, corner & 4 ? 11 : 0];
    const p = [0, 1, 2].map((r) => img3.origin[r] + [0, 1, 2].reduce((s, c) => s + dir[r * 3 + c] * img3.spacing[c] * idx[c], 0));
    assert.ok(t3.isInside(p), `corner ${corner} inside`);
    // Centred: the corner's grid index is symmetric about the grid's centre.
    const g = t3.gridIndex(p);
    const mirror = t3.gridIndex(
      [0, 1, 2].map((r) => img3.origin[r] + [0, 1, 2].reduce((s, c) => s + dir[r * 3 + c] * img3.spacing[c] * (img3.size[c] - 1 - idx[c]), 0)),
    );
    for (let a = 0; a < 3; a++) assertClose(g[a] + mirror[a], t3.gridSize[a] - 1, 1e-9, `centred axis ${a}`);
  }
});

test('errors: grid finer than the image, bad grids, bad spacing values', () => {
  const img: GridGeometry = { dimension: 2, size: [100, 100], spacing: [1, 2], origin: [0, 0], direction: [1, 0, 0, 1] };
  assert.throws(
    () => createBSplineTransformForImage(img, [5, 1.5]),
    (e: unknown) => e instanceof CoregError && e.subject === '--grid-spacing' && /grid spacing 1\.5 mm is finer than the image spacing/.test(e.message),
  );
  assert.throws(() => createBSplineTransformForImage(img, -3), (e: unknown) => e instanceof CoregError && /positive/.test(e.message));
  assert.throws(() => createBSplineTransformForImage(img, [5, 5, 5]), CoregError);
  assert.throws(() => new BSplineTransform({ dimension: 2, gridSize: [3, 7], gridOrigin: [0, 0], gridSpacing: [1, 1] }), /≥ 4/);
  assert.throws(() => new BSplineTransform({ dimension: 2, gridSize: [5, 7], gridOrigin: [0, 0], gridSpacing: [1, 0] }), /> 0/);
  assert.throws(() => new BSplineTransform({ dimension: 2, gridSize: [5, 7], gridOrigin: [0, 0], gridSpacing: [1, 1], gridDirection: [1, 2, 2, 4] }), /singular/);
  assert.throws(() => refineBSpline(new BSplineTransform(SPEC2), 1.5), CoregError);
  assert.throws(() => new BSplineTransform(SPEC2).setParameters([1, 2]), RangeError);
});

test('refinement reproduces the deformation exactly (factor 2 and 3, 2D and 3D, rotated grids)', () => {
  for (const [spec, seed] of [[SPEC2, 30], [SPEC3, 31]] as const) {
    const t = randomTransform(spec, seed, 5);
    for (const factor of [2, 3]) {
      const fine = refineBSpline(t, factor);
      assert.deepEqual(Array.from(fine.gridSize), t.gridSize.map((n) => (n - 3) * factor + 3));
      assertArrayClose(fine.gridSpacing, t.gridSpacing.map((s) => s / factor), 1e-12, 'spacing');
      assertArrayClose(fine.domain.origin, t.domain.origin, 1e-9, 'same domain');
      for (const p of insidePoints(t, 200, seed + factor)) assertArrayClose(apply(fine, p), apply(t, p), 1e-9, `refined ×${factor}`);
      // Domain corners too (the refined grid's boundary control points).
      const corner = atGrid(t, t.gridSize.map((n) => n - 2));
      assertArrayClose(apply(fine, corner), apply(t, corner), 1e-9, 'far corner');
    }
  }
});

test('.tfm round trip is exact; ITK v3 and float spellings are read; formatAs writes the v3 name', () => {
  for (const [spec, seed] of [[SPEC2, 40], [SPEC3, 41]] as const) {
    const t = randomTransform(spec, seed);
    t.parameters[3] = 0.1 + 0.2;
    t.parameters[5] = -1e-300;
    const text = formatItkTransformFile([t]);
    const d = t.dimension;
    assert.match(text, new RegExp(`^Transform: BSplineTransform_double_${d}_${d}$`, 'm'));
    const [back] = parseItkTransformFile(text, 'b.tfm');
    assert.ok(back instanceof BSplineTransform);
    assert.deepEqual(Array.from(back.parameters), Array.from(t.parameters));
    assert.deepEqual(Array.from(back.fixedParameters), Array.from(t.fixedParameters));
    const p = insidePoints(t, 1, seed)[0];
    assert.deepEqual(apply(back, p), apply(t, p));

    assert.equal(t.toItkTransform({ formatAs: 'BSplineDeformableTransform' }).type, `BSplineDeformableTransform_double_${d}_${d}`);
    const v3 = text.replace('Transform: BSplineTransform_', 'Transform: BSplineDeformableTransform_');
    assert.match(v3, new RegExp(`^Transform: BSplineDeformableTransform_double_${d}_${d}$`, 'm'));
    const [fromV3] = parseItkTransformFile(v3, 'v3.tfm');
    assert.deepEqual(Array.from((fromV3 as BSplineTransform).parameters), Array.from(t.parameters));
    const asFloat = parseItkTransformFile(text.replace('_double_', '_float_'), 'f.tfm')[0] as BSplineTransform;
    assert.deepEqual(Array.from(asFloat.fixedParameters), Array.from(t.fixedParameters));
    // The class name can also be set on the transform (clone keeps it).
    const named = t.clone();
    named.itkClassName = 'BSplineDeformableTransform';
    assert.match(formatItkTransformFile([named.clone()]), /BSplineDeformableTransform_double/);
  }
});

test('.tfm reading errors name the file and the problem', () => {
  const t = randomTransform(SPEC2, 50);
  const text = formatItkTransformFile([t]);
  const lines = text.split('\n');
  const fewer = lines.map((l) => (l.startsWith('Parameters:') ? l.split(' ').slice(0, -1).join(' ') : l)).join('\n');
  assert.throws(() => parseItkTransformFile(fewer, 'x.tfm'), (e: unknown) => e instanceof CoregError && e.subject === 'x.tfm' && /expected 84 parameters/.test(e.message));
  const badFixed = lines.map((l) => (l.startsWith('FixedParameters:') ? 'FixedParameters: 6 7 0 0 1 1' : l)).join('\n');
  assert.throws(() => parseItkTransformFile(badFixed, 'y.tfm'), (e: unknown) => e instanceof CoregError && /expected 10 fixed parameters/.test(e.message));
  const badSize = lines.map((l) => (l.startsWith('FixedParameters:') ? 'FixedParameters: 6 2.5 0 0 1 1 1 0 0 1' : l)).join('\n');
  assert.throws(() => parseItkTransformFile(badSize, 'z.tfm'), (e: unknown) => e instanceof CoregError && e.subject === 'z.tfm' && /grid size/.test(e.message));
});

test('coefficient text files: ITK order, grid size, and errors', () => {
  const f1 = dataPath('itk/BSplineDisplacements1.txt');
  const one = readBSplineCoefficientsText(readFileSync(f1, 'utf8'), 2, f1);
  assert.equal(one.parameters.length, 98);
  // Node (3,3) (centre) is (10,10); node (2,2) is (2,2): x block first, then y block.
  assert.equal(one.parameters[3 * 7 + 3], 10);
  assert.equal(one.parameters[49 + 3 * 7 + 3], 10);
  assert.equal(one.parameters[2 * 7 + 3], 5);
  assert.equal(one.parameters[2 * 7 + 4], 2);
  const f2 = dataPath('itk/BSplineDisplacements2.txt');
  const two = readBSplineCoefficientsText(readFileSync(f2, 'utf8'), 3, f2);
  assert.deepEqual(two.gridSize, [8, 8, 8]);
  assert.equal(two.parameters.length, 3 * 512);
});

test('coefficient text parsing errors', () => {
  assert.deepEqual(readBSplineCoefficientsText('1 2 3 4\n5 6 7 8\n', 2, 'c.txt'), { parameters: Float64Array.of(1, 3, 5, 7, 2, 4, 6, 8), gridSize: [2, 2] });
  assert.throws(() => readBSplineCoefficientsText('1 2 3\n', 2, 'c.txt'), (e: unknown) => e instanceof CoregError && e.subject === 'c.txt' && /line 1/.test(e.message));
  assert.throws(() => readBSplineCoefficientsText('1 2\n1 2 3 4\n', 2, 'c.txt'), /line 2/);
  assert.throws(() => readBSplineCoefficientsText('1 x\n', 2, 'c.txt'), /"x" is not a finite number/);
  assert.throws(() => readBSplineCoefficientsText('\n\n', 2, 'c.txt'), /no coefficients/);
  assert.throws(() => readBSplineCoefficientsText('1 2 3 4\n', 2, 'c.txt', [3, 1]), /do not form/);
});

test('clone copies the parameters, not the array', () => {
  const t = randomTransform(SPEC2, 60);
  const c = t.clone();
  assert.deepEqual(c.parameters, t.parameters);
  c.setParameters(Float64Array.from(c.parameters, (v) => v + 0.5));
  assertClose(c.parameters[7], t.parameters[7] + 0.5, 1e-15, 'update');
  assert.notEqual(c.parameters[7], t.parameters[7]);
});

test('eval jacobian of [linear…, B-spline, linear…] (analytic) matches central differences of the whole chain', () => {
  for (const d of [2, 3] as const) {
    const spec: BSplineGridSpec = d === 2 ? { dimension: 2, gridSize: [8, 7], gridOrigin: [-12, -10], gridSpacing: [6, 7] } : { dimension: 3, gridSize: [6, 6, 5], gridOrigin: [-10, -11, -8], gridSpacing: [6, 6, 7] };
    const bs = randomTransform(spec, 5, 2);
    const a = d === 2 ? [1.05, 0.1, -0.05, 0.97] : [1.05, 0.1, 0, -0.05, 0.97, 0.02, 0.03, 0, 1.1];
    const pre = new AffineTransform(d);
    pre.setParameters([...(d === 2 ? [1, 0.05, -0.03, 1.02] : [1, 0.05, 0, -0.03, 1.02, 0.01, 0, 0.02, 0.98]), ...new Array<number>(d).fill(0.7)]);
    const post = new AffineTransform(d);
    post.setParameters([...a, ...new Array<number>(d).fill(-2)]);
    const grid = { dimension: d, size: d === 2 ? [9, 8] : [6, 5, 4], spacing: new Array<number>(d).fill(1.5), origin: new Array<number>(d).fill(0.5), direction: d === 2 ? [1, 0, 0, 1] : [1, 0, 0, 0, 1, 0, 0, 0, 1] };
    for (const chain of [[bs], [bs, post], [pre, bs, post]]) {
      const det = jacobianDeterminantImage(chain, grid).data;
      const m = indexToPhysicalMatrix(grid);
      const h = 1e-4;
      const p = new Float64Array(d), q = new Float64Array(d), r = new Float64Array(d), s = new Float64Array(d);
      const J = new Float64Array(d * d);
      for (let v = 0; v < det.length; v += 7) {
        const idx = [v % grid.size[0], Math.floor(v / grid.size[0]) % grid.size[1], Math.floor(v / (grid.size[0] * grid.size[1]))];
        for (let c = 0; c < d; c++) {
          for (let t = 0; t < d; t++) p[t] = grid.origin[t] + idx.slice(0, d).reduce((acc, x, k) => acc + m[t * d + k] * x, 0) + (t === c ? h : 0);
          transformChainPoint(chain, p, q, s);
          p[c] -= 2 * h;
          transformChainPoint(chain, p, r, s);
          for (let t = 0; t < d; t++) J[t * d + c] = (q[t] - r[t]) / (2 * h);
        }
        const fd = d === 2 ? J[0] * J[3] - J[1] * J[2] : J[0] * (J[4] * J[8] - J[5] * J[7]) - J[1] * (J[3] * J[8] - J[5] * J[6]) + J[2] * (J[3] * J[7] - J[4] * J[6]);
        assert.ok(Math.abs(det[v] - fd) < 1e-5 * Math.max(1, Math.abs(fd)), `${d}D chain of ${chain.length} at voxel ${v}: ${det[v]} vs ${fd}`);
      }
    }
  }
});

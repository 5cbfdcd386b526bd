// Command-line round trips of the non-rigid chains, in-process in a temporary folder: register writes
// bspline.tfm + affine.tfm (or warp.nii.gz + inverse-warp.nii.gz + affine.tfm) listed in result.json; apply
// reproduces warped.nii.gz; points and points --inverse round-trip through the chain; the .tfm files hold exactly the
// parameters register() computes; the field NIfTI has a vector intent (checked with nibabel when Debian's Python has
// it); eval jacobian reports no folding.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { createImage, sameGrid } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import type { RegistrationConfig } from '../../src/register/config.js';
import { register } from '../../src/register/register.js';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import { formatItkTransformFile, parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { isLinear, type LinearTransform, type Transform } from '../../src/transform/transform.js';
import { loadTransformChain } from '../../src/io/chain-io.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-nonrigid-cli-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

const N = 48;
const L = N - 1;
type Vec = number[];

function blobs(p: Vec): number {
  const c = [
    [12, 14, 5, 90],
    [30, 11, 4, 70],
    [24, 30, 6, 80],
    [10, 36, 3.5, 60],
    [37, 34, 4, 50],
    [20, 21, 3, 40],
  ];
  let v = 10;
  for (const [x, y, s, a] of c) v += a * Math.exp(-((p[0] - x) ** 2 + (p[1] - y) ** 2) / (2 * s * s));
  return v;
}

/** True map fixed → moving: a shift (1.5, −1) mm after a smooth warp that vanishes on the border. */
function warp(p: Vec): Vec {
  const s = (v: number, k: number): number => Math.sin((k * Math.PI * v) / L);
  return [1.8 * s(p[0], 1) * s(p[1], 2), -1.5 * s(p[0], 2) * s(p[1], 1)];
}
function inverseOfTruth(y: Vec): Vec {
  const z = [y[0] - 1.5, y[1] + 1];
  let x = z.slice();
  for (let it = 0; it < 60; it++) {
    const w = warp(x);
    x = [z[0] - w[0], z[1] - w[1]];
  }
  return x;
}

const FIXED_PATH = join(DIR, 'fixed.nii.gz');
const MOVING_PATH = join(DIR, 'moving.nii.gz');
{
  // Spacing 1, origin (0, 0): NIfTI stores it as RAS (−x, −y); the LPS geometry read back is the same.
  const fixed = createImage([N, N], 'float32');
  const moving = createImage([N, N], 'float32');
  for (let j = 0; j < N; j++) {
    for (let i = 0; i < N; i++) {
      fixed.data[j * N + i] = blobs([i, j]);
      moving.data[j * N + i] = blobs(inverseOfTruth([i, j]));
    }
  }
  writeImageFile(FIXED_PATH, fixed);
  writeImageFile(MOVING_PATH, moving);
}

async function ok(args: string[]): Promise<string> {
  const r = await coreg(args);
  assert.equal(r.code, 0, `coreg ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const QUICK = ['--metric', 'mse', '--iterations', '30x40', '--shrink', '2x1', '--smooth', '1x0', '--initializer', 'geometry', '--quiet'];

interface ResultJson {
  transforms: string[];
  config: RegistrationConfig;
}

function readResult(dir: string): ResultJson {
  return JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as ResultJson;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const POINTS: Vec[] = [
  [10.25, 12.5],
  [23.5, 23.5],
  [35.75, 8.125],
  [30, 40.5],
  [5.5, 41],
];

function writePoints(path: string, points: Vec[]): void {
  writeFileSync(path, 'x,y,label\n' + points.map((p, i) => `${p[0]},${p[1]},p${i}`).join('\n') + '\n');
}

function readPoints(path: string): { points: Vec[]; labels: string[] } {
  const rows = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  assert.match(rows[0], /^x,y/);
  const body = rows.slice(1).map((r) => r.split(','));
  return { points: body.map((r) => [Number(r[0]), Number(r[1])]), labels: body.map((r) => r[2]) };
}

function applyChain(chain: readonly Transform[], p: Vec): Vec {
  let cur = Float64Array.from(p);
  for (const t of chain) {
    const next = new Float64Array(cur.length);
    t.transformPoint(cur, next);
    cur = next;
  }
  return Array.from(cur);
}

/** apply reproduces warped.nii.gz; points and points --inverse round-trip; eval jacobian finds no folding. */
async function checkChainTools(out: string, chain: Transform[]): Promise<void> {
  const warped = readImageFile(join(out, 'warped.nii.gz'));
  for (const [name, transforms] of [
    ['folder', ['--transform', out]],
    ['files', readResult(out).transforms.flatMap((f) => ['--transform', join(out, f)])],
  ] as const) {
    const applied = join(out, `applied-${name}.nii.gz`);
    await ok(['apply', '--reference', FIXED_PATH, '--moving', MOVING_PATH, ...transforms, '--out', applied]);
    const img = readImageFile(applied);
    assert.ok(sameGrid(img, warped));
    assert.equal(maxDifference(img.data, warped.data), 0, `apply --transform ${name} differs from warped.nii.gz`);
  }

  const p = join(out, 'p.csv');
  const q = join(out, 'q.csv');
  const r = join(out, 'r.csv');
  writePoints(p, POINTS);
  await ok(['points', '--transform', out, '--in', p, '--out', q]);
  const mapped = readPoints(q);
  assert.deepEqual(mapped.labels, ['p0', 'p1', 'p2', 'p3', 'p4']);
  for (const [i, x] of POINTS.entries()) {
    const expected = applyChain(chain, x);
    assert.ok(Math.hypot(mapped.points[i][0] - expected[0], mapped.points[i][1] - expected[1]) < 1e-9, `points: T(${x}) = ${mapped.points[i]} vs ${expected}`);
    // The chain really is non-linear and moves the point.
    assert.ok(Math.hypot(expected[0] - x[0], expected[1] - x[1]) > 0.3);
  }
  await ok(['points', '--transform', out, '--inverse', '--in', q, '--out', r]);
  const back = readPoints(r);
  for (const [i, x] of POINTS.entries()) {
    // Tolerance 1e-4 mm: the inverse iterates to 1e-6 mm per step.
    assert.ok(Math.hypot(back.points[i][0] - x[0], back.points[i][1] - x[1]) < 1e-4, `points --inverse: ${back.points[i]} vs ${x}`);
  }

  const jac = JSON.parse(await ok(['eval', 'jacobian', out, '--reference', FIXED_PATH, '--json'])) as { foldedCount: number; min: number };
  assert.equal(jac.foldedCount, 0);
  assert.ok(jac.min > 0);
}

test('register --transform affine,bspline: bspline.tfm + affine.tfm in result.json; apply, points, eval jacobian; exact parameters', async () => {
  const out = join(DIR, 'bspline');
  await ok(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', out, '--transform', 'affine,bspline', '--grid-spacing', '12', ...QUICK]);
  const json = readResult(out);
  assert.deepEqual(json.transforms, ['bspline.tfm', 'affine.tfm']);
  assert.deepEqual(readdirSync(out).sort(), ['affine.tfm', 'bspline.tfm', 'inverse-warped.nii.gz', 'result.json', 'warped.nii.gz']);

  const chain = loadTransformChain(out, nodeTransformFiles);
  assert.equal(chain.length, 2);
  assert.ok(chain[0] instanceof BSplineTransform);
  assert.ok(isLinear(chain[1]) && chain[1].kind === 'affine');
  const bsplineText = readFileSync(join(out, 'bspline.tfm'), 'utf8');
  assert.match(bsplineText, /^Transform: BSplineTransform_double_2_2$/m);

  // The files hold exactly what register() computes with the same settings (result.json's config).
  const result = await register(readImageFile(FIXED_PATH), readImageFile(MOVING_PATH), json.config);
  const [bs, affine] = result.transforms as [BSplineTransform, LinearTransform & { parameters: Float64Array; fixedParameters: Float64Array }];
  assert.deepEqual(Array.from(chain[0].parameters), Array.from(bs.parameters));
  assert.deepEqual(Array.from(chain[0].fixedParameters), Array.from(bs.fixedParameters));
  const readAffine = chain[1] as typeof affine;
  assert.deepEqual(Array.from(readAffine.parameters), Array.from(affine.parameters));
  assert.deepEqual(Array.from(readAffine.fixedParameters), Array.from(affine.fixedParameters));
  // Reading and writing again gives the same text.
  assert.equal(formatItkTransformFile(parseItkTransformFile(bsplineText, 'bspline.tfm')), bsplineText);

  await checkChainTools(out, chain);
});

/** Debian's Python (with nibabel), or undefined. */
const PYTHON = ['/usr/bin/python3'].find((p) => existsSync(p) && spawnSync(p, ['-c', 'import nibabel'], { encoding: 'utf8' }).status === 0);

test('register --transform affine,syn: warp.nii.gz (vector NIfTI, fixed → moving, LPS mm) + inverse-warp.nii.gz + affine.tfm', async (t) => {
  const out = join(DIR, 'syn');
  await ok(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', out, '--transform', 'affine,syn', ...QUICK]);
  const json = readResult(out);
  assert.deepEqual(json.transforms, ['warp.nii.gz', 'affine.tfm']);
  assert.ok(existsSync(join(out, 'inverse-warp.nii.gz')));

  const chain = loadTransformChain(out, nodeTransformFiles);
  assert.ok(chain[0] instanceof DisplacementFieldTransform);
  const field = chain[0].field;
  assert.equal(field.components, 2);
  assert.ok(sameGrid(field, readImageFile(FIXED_PATH)));
  const inverse = readImageFile(join(out, 'inverse-warp.nii.gz'));
  assert.equal(inverse.components, 2);
  assert.ok(sameGrid(inverse, field));

  await checkChainTools(out, chain);

  if (!PYTHON) {
    t.skip('/usr/bin/python3 with nibabel is not available: the NIfTI header was not checked independently');
    return;
  }
  // nibabel reads the header: vector intent (1007), 5 dimensions with the components on the 5th, and the same
  // vectors as coreg (ITK stores displacement vectors in LPS even in NIfTI; the grid itself is RAS there).
  const script = [
    'import json, sys, nibabel as nib, numpy as np',
    'img = nib.load(sys.argv[1]); h = img.header',
    'd = np.asarray(img.dataobj)',
    'print(json.dumps({"intent": int(h["intent_code"]), "dim": [int(v) for v in h["dim"]], "affine": img.affine.tolist(),',
    '  "v": [float(d[7, 11, 0, 0, 0]), float(d[7, 11, 0, 0, 1])]}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, join(out, 'warp.nii.gz')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const h = JSON.parse(r.stdout) as { intent: number; dim: number[]; affine: number[][]; v: number[] };
  assert.equal(h.intent, 1007);
  assert.equal(h.dim[0], 5);
  assert.deepEqual(h.dim.slice(1, 6), [N, N, 1, 1, 2]);
  // RAS voxel → world of an LPS image with origin 0 and spacing 1: diag(−1, −1, 1).
  assert.deepEqual(
    h.affine.map((row) => row.map((v) => Math.abs(v) < 1e-9 ? 0 : v)),
    [
      [-1, 0, 0, 0],
      [0, -1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ],
  );
  const k = 11 * N + 7;
  assert.deepEqual(h.v, [field.data[2 * k], field.data[2 * k + 1]]);
});

test('register --composite writes the chain as one file; inverse-warped.nii.gz is apply --inverse of the fixed image', async () => {
  const out = join(DIR, 'composite');
  const composite = join(DIR, 'composite-chain.tfm');
  await ok(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', out, '--transform', 'affine,bspline', '--grid-spacing', '12', '--composite', composite, ...QUICK]);
  const fromDir = loadTransformChain(out, nodeTransformFiles);
  const fromFile = loadTransformChain(composite, nodeTransformFiles);
  assert.equal(fromFile.length, 2);
  for (const p of POINTS) assert.deepEqual(applyChain(fromFile, p), applyChain(fromDir, p));
  const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { inverseWarped: string; inverseResidualMm: { transform: string; max: number; mean: number }[] };
  assert.equal(json.inverseWarped, 'inverse-warped.nii.gz');
  assert.equal(json.inverseResidualMm[0].transform, 'bspline');
  // The maximum sits at the domain's border, where the B-spline's displacement jumps to 0 (reported, not hidden).
  assert.ok(json.inverseResidualMm[0].mean < 0.1, `inverse residual ${JSON.stringify(json.inverseResidualMm[0])} mm`);
  const inverseWarped = readImageFile(join(out, 'inverse-warped.nii.gz'));
  const moving = readImageFile(MOVING_PATH);
  assert.deepEqual(inverseWarped.size, moving.size);
  const viaApply = join(DIR, 'inverse-apply.nii.gz');
  const r = await coreg(['apply', '--reference', MOVING_PATH, '--moving', FIXED_PATH, '--transform', out, '--inverse', '--out', viaApply]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^coreg: inverse of the bspline transform: a displacement field/);
  assert.ok(maxDifference(readImageFile(viaApply).data, inverseWarped.data) < 1e-4);
  // The inverse really undoes the registration: the fixed image brought to moving space resembles the moving image.
  let num = 0;
  let den = 0;
  const f = readImageFile(FIXED_PATH);
  for (let i = 0; i < moving.data.length; i++) {
    num += (inverseWarped.data[i] - moving.data[i]) ** 2;
    den += (f.data[i] - moving.data[i]) ** 2;
  }
  assert.ok(num < 0.5 * den, `inverse-warped vs moving ${num} vs fixed vs moving ${den}`);
  // A syn result's inverse comes from its stored inverse field (nothing inverted numerically, nothing printed).
  const syn = join(DIR, 'syn-inverse');
  const synH5 = join(DIR, 'syn-chain.h5');
  await ok(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', syn, '--transform', 'affine,syn', '--composite', synH5, ...QUICK]);
  // The .h5 composite holds the dense field and the affine: the same map as the folder.
  const synDir = loadTransformChain(syn, nodeTransformFiles);
  const synFile = loadTransformChain(synH5, nodeTransformFiles);
  assert.deepEqual(synFile.map((t) => t.kind), ['displacement-field', 'affine']);
  for (const p of POINTS) {
    const [a, b] = [applyChain(synFile, p), applyChain(synDir, p)];
    assert.ok(Math.hypot(a[0] - b[0], a[1] - b[1]) < 1e-5, `${a} vs ${b}`);
  }
  const rs = await coreg(['apply', '--reference', MOVING_PATH, '--moving', FIXED_PATH, '--transform', syn, '--inverse', '--out', join(DIR, 'syn-inv.nii.gz')]);
  assert.equal(rs.code, 0, rs.stderr);
  assert.equal(rs.stderr, '');
  assert.ok(maxDifference(readImageFile(join(DIR, 'syn-inv.nii.gz')).data, readImageFile(join(syn, 'inverse-warped.nii.gz')).data) < 1e-4);
  // --composite .tfm cannot hold a syn field: bad usage before anything runs.
  const bad = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', join(DIR, 'never'), '--transform', 'affine,syn', '--composite', join(DIR, 'x.tfm'), ...QUICK]);
  assert.equal(bad.code, 2);
  assert.equal(existsSync(join(DIR, 'never')), false);
});

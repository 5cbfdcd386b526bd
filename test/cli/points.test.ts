import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '../../src/image/image.js';
import { writeImageFile } from '../../src/io/node.js';
import { assertClose } from '../helpers.js';
import { runCoreg as coreg } from './run-in-process.js';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coreg-points-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const AFFINE_3D = '#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\nParameters: 1.1 0.2 0 -0.1 0.9 0.05 0 0.03 1.2 5 -3 2.5\nFixedParameters: 1 2 3\n';

function csvRows(text: string): string[][] {
  return text.trim().split('\n').map((l) => l.split(','));
}

test(
  'points: CSV forward then --inverse returns the input to 1e-12, extra columns copied, full precision',
  withDir(async (dir) => {
    writeFileSync(join(dir, 'a.tfm'), AFFINE_3D);
    const input = 'name,x,y,z,note\np1,0.1,0.2,0.30000000000000004,first\np2,-12.5,1e-7,100.25,second\n';
    writeFileSync(join(dir, 'p.csv'), input);
    const r = await coreg(['points', '--transform', join(dir, 'a.tfm'), '--in', join(dir, 'p.csv'), '--out', join(dir, 'q.csv')]);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const q = csvRows(readFileSync(join(dir, 'q.csv'), 'utf8'));
    assert.deepEqual(q[0], ['name', 'x', 'y', 'z', 'note']);
    assert.deepEqual([q[1][0], q[1][4], q[2][0], q[2][4]], ['p1', 'first', 'p2', 'second']);
    // T(x) = A·(x − c) + c + t with c = (1,2,3): x component of p1 = 1.1·(−0.9) + 0.2·(−1.8) + 1 + 5.
    assertClose(Number(q[1][1]), 1.1 * -0.9 + 0.2 * -1.8 + 6, 1e-12);
    const r2 = await coreg(['points', '--transform', join(dir, 'a.tfm'), '--in', join(dir, 'q.csv'), '--out', join(dir, 'r.csv'), '--inverse']);
    assert.deepEqual([r2.code, r2.stderr], [0, '']);
    const back = csvRows(readFileSync(join(dir, 'r.csv'), 'utf8'));
    const orig = csvRows(input);
    for (let i = 1; i < 3; i++) for (let a = 1; a < 4; a++) assertClose(Number(back[i][a]), Number(orig[i][a]), 1e-12, `row ${i} col ${a}`);
    // Shortest round-trip numbers: a value written and read back is the same double.
    assert.ok(q[1].slice(1, 4).every((v) => String(Number(v)) === v));
  }),
);

test(
  'points: Slicer .fcsv and .mrk.json stay in RAS through an LPS translation',
  withDir(async (dir) => {
    writeFileSync(join(dir, 't.tfm'), '#Insight Transform File V1.0\n#Transform 0\nTransform: TranslationTransform_double_3_3\nParameters: 10 20 30\nFixedParameters:\n');
    writeFileSync(join(dir, 'f.fcsv'), '# Markups fiducial file version = 4.11\n# CoordinateSystem = RAS\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n1,1,2,3,0,0,0,1,1,1,0,F-1,,\n');
    let r = await coreg(['points', '--transform', join(dir, 't.tfm'), '--in', join(dir, 'f.fcsv'), '--out', join(dir, 'g.fcsv')]);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    // RAS (1,2,3) = LPS (−1,−2,3) → LPS (9,18,33) = RAS (−9,−18,33).
    assert.ok(readFileSync(join(dir, 'g.fcsv'), 'utf8').endsWith('\n1,-9,-18,33,0,0,0,1,1,1,0,F-1,,\n'));
    // To CSV: LPS, the label carried along.
    r = await coreg(['points', '--transform', join(dir, 't.tfm'), '--in', join(dir, 'f.fcsv'), '--out', join(dir, 'g.csv')]);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    assert.equal(readFileSync(join(dir, 'g.csv'), 'utf8'), 'x,y,z,label\n9,18,33,F-1\n');
    writeFileSync(join(dir, 'm.mrk.json'), JSON.stringify({ markups: [{ type: 'Fiducial', coordinateSystem: 'RAS', controlPoints: [{ id: '1', label: 'A', position: [1, 2, 3] }] }] }));
    r = await coreg(['points', '--transform', join(dir, 't.tfm'), '--in', join(dir, 'm.mrk.json'), '--out', join(dir, 'n.mrk.json'), '--inverse']);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const json = JSON.parse(readFileSync(join(dir, 'n.mrk.json'), 'utf8')) as { markups: { coordinateSystem: string; controlPoints: { position: number[] }[] }[] };
    // Inverse: LPS (−1,−2,3) − (10,20,30) = (−11,−22,−27) = RAS (11,22,−27).
    assert.equal(json.markups[0].coordinateSystem, 'RAS');
    assert.deepEqual(json.markups[0].controlPoints[0].position, [11, 22, -27]);
  }),
);

test(
  'points: elastix point and index files (index needs --reference); a displacement field and its iterative inverse',
  withDir(async (dir) => {
    const field = createImage([30, 30], 'float32', { components: 2 });
    for (let j = 0; j < 30; j++) {
      for (let i = 0; i < 30; i++) {
        field.data[2 * (i + 30 * j)] = 2 * Math.sin(j / 5);
        field.data[2 * (i + 30 * j) + 1] = 1.5 * Math.cos(i / 6);
      }
    }
    writeImageFile(join(dir, 'u.nii.gz'), field);
    const ref = createImage([30, 30], 'uint8', { spacing: [0.5, 0.5], origin: [1, 2] });
    writeImageFile(join(dir, 'ref.nii.gz'), ref);
    writeFileSync(join(dir, 'i.txt'), 'index\n2\n10 20\n30 8\n');
    const u = join(dir, 'u.nii.gz');
    let r = await coreg(['points', '--transform', u, '--in', join(dir, 'i.txt'), '--out', join(dir, 'o.txt')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^coreg: error: --reference: .*i\.txt holds elastix "index" points/);
    assert.equal(existsSync(join(dir, 'o.txt')), false);
    r = await coreg(['points', '--transform', u, '--in', join(dir, 'i.txt'), '--out', join(dir, 'o.txt'), '--reference', join(dir, 'ref.nii.gz')]);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const lines = readFileSync(join(dir, 'o.txt'), 'utf8').trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['point', '2']);
    // index (10, 20) → physical (6, 12) → + u at grid point (6, 12).
    const [x, y] = lines[2].split(' ').map(Number);
    assertClose(x, 6 + Math.fround(2 * Math.sin(12 / 5)), 1e-6);
    assertClose(y, 12 + Math.fround(1.5 * Math.cos(6 / 6)), 1e-6);
    r = await coreg(['points', '--transform', u, '--in', join(dir, 'o.txt'), '--out', join(dir, 'back.txt'), '--inverse']);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    const back = readFileSync(join(dir, 'back.txt'), 'utf8').trim().split('\n').slice(2).map((l) => l.split(' ').map(Number));
    assertClose(back[0][0], 6, 1e-5);
    assertClose(back[0][1], 12, 1e-5);
    assertClose(back[1][0], 16, 1e-5);
    assertClose(back[1][1], 6, 1e-5);
  }),
);

test(
  'points: help says which way points go; errors are one line',
  withDir(async (dir) => {
    const help = await coreg(['points', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /a point p in the FIXED image corresponds to T\(p\) in the\s+MOVING image; use --inverse/);
    assert.match(help.stdout, /coreg points --transform reg\/ --in moving_points\.csv --out in_fixed\.csv --inverse/);
    writeFileSync(join(dir, 't.tfm'), AFFINE_3D);
    writeFileSync(join(dir, 'p2.csv'), 'x,y\n1,2\n');
    const cases: [string[], number, RegExp][] = [
      [['points', '--in', join(dir, 'p2.csv'), '--out', join(dir, 'o.csv')], 2, /--transform: required option not given$/],
      [['points', '--transform', join(dir, 't.tfm'), '--in', join(dir, 'p2.csv'), '--out', join(dir, 'o.csv')], 1, /p2\.csv: holds 2D points but the transform is 3D$/],
      [['points', '--transform', join(dir, 't.tfm'), '--in', join(dir, 'p2.csv'), '--out', join(dir, 'p2.csv')], 1, /would overwrite the input/],
    ];
    for (const [args, code, message] of cases) {
      const r = await coreg(args);
      assert.equal(r.code, code);
      const errLines = r.stderr.split('\n').filter((l) => l);
      assert.equal(errLines.length, 1);
      assert.match(errLines[0], message);
    }
    assert.equal(existsSync(join(dir, 'o.csv')), false);
  }),
);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CoregError } from '../../src/errors.js';
import { formatPointSet, parsePointSet } from '../../src/landmarks/point-io.js';
import { dataPath } from '../helpers.js';

function throwsCoreg(fn: () => unknown, subject: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CoregError && e.subject === subject && message.test(e.message) && !e.message.includes('\n'));
}

test('CSV: header in any column order, extra columns (quoted too) copied through, full precision', () => {
  const text = 'id,label,z,y,x\n1,"left, upper",3,2,1\n2,b,0.30000000000000004,1e-9,-7.125\n';
  const set = parsePointSet(text, 'p.csv');
  assert.equal(set.dimension, 3);
  assert.deepEqual(set.points, [[1, 2, 3], [-7.125, 1e-9, 0.30000000000000004]]);
  assert.deepEqual(set.labels, ['left, upper', 'b']);
  const moved = set.points.map((p) => p.map((v) => v + 1 / 3));
  const out = formatPointSet(moved, 'q.csv', set);
  assert.equal(out.split('\n')[0], 'id,label,z,y,x');
  assert.ok(out.split('\n')[1].startsWith('1,"left, upper",'));
  const back = parsePointSet(out, 'q.csv');
  assert.deepEqual(back.points, moved);
  assert.deepEqual(back.layout.format === 'csv' && back.layout.rows.map((r) => r[0]), ['1', '2']);
});

test('CSV errors: no header, missing x/y, wrong column count, non-numeric value', () => {
  throwsCoreg(() => parsePointSet('1,2\n3,4\n', 'a.csv'), 'a.csv', /no header/);
  throwsCoreg(() => parsePointSet('a,b\n1,2\n', 'a.csv'), 'a.csv', /no x and y/);
  throwsCoreg(() => parsePointSet('x,y,z\n1,2,3\n1,2\n', 'a.csv'), 'a.csv', /line 3: expected 3 columns/);
  throwsCoreg(() => parsePointSet('x,y\n1,abc\n', 'a.csv'), 'a.csv', /line 2: y value "abc" is not a number/);
  throwsCoreg(() => parsePointSet('x,y\n', 'a.csv'), 'a.csv', /no points/);
});

test('Slicer .fcsv: RAS read as LPS, written back in RAS with the other columns and comments kept', () => {
  const text = [
    '# Markups fiducial file version = 4.11',
    '# CoordinateSystem = RAS',
    '# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID',
    'vtkMRMLMarkupsFiducialNode_0,10.5,-20,30,0,0,0,1,1,1,0,F-1,"a, b",vtkMRMLScalarVolumeNode1',
    '',
  ].join('\n');
  const set = parsePointSet(text, 'f.fcsv');
  assert.deepEqual(set.points, [[-10.5, 20, 30]]);
  assert.deepEqual(set.labels, ['F-1']);
  const out = formatPointSet([[-11.5, 22, 33]], 'g.fcsv', set);
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.slice(0, 3), text.split('\n').slice(0, 3));
  assert.equal(lines[3], 'vtkMRMLMarkupsFiducialNode_0,11.5,-22,33,0,0,0,1,1,1,0,F-1,"a, b",vtkMRMLScalarVolumeNode1');
  // An LPS file stays LPS.
  const lps = parsePointSet('# CoordinateSystem = LPS\n# columns = id,x,y,z,label\n1,1,2,3,p\n', 'l.fcsv');
  assert.deepEqual(lps.points, [[1, 2, 3]]);
  assert.ok(formatPointSet([[4, 5, 6]], 'm.fcsv', lps).endsWith('1,4,5,6,p\n'));
  // From CSV to a new .fcsv: RAS, labels carried.
  const fresh = formatPointSet([[1, 2, 3]], 'n.fcsv', parsePointSet('x,y,z,label\n0,0,0,tip\n', 'n.csv'));
  assert.ok(fresh.includes('# CoordinateSystem = RAS'));
  assert.ok(fresh.trim().endsWith('1,-1,-2,3,0,0,0,1,1,1,0,tip,,'));
  throwsCoreg(() => formatPointSet([[1, 2]], 'n.fcsv'), 'n.fcsv', /3D points/);
});

test('Slicer .mrk.json: RAS and LPS markups converted on read and back on write, other fields kept', () => {
  const json = {
    '@schema': 'x',
    markups: [
      { type: 'Fiducial', coordinateSystem: 'RAS', controlPoints: [{ id: '1', label: 'A', position: [1, 2, 3], orientation: [1, 0, 0, 0, 1, 0, 0, 0, 1] }] },
      { type: 'Fiducial', coordinateSystem: 'LPS', controlPoints: [{ id: '1', label: 'B', position: [4, 5, 6] }] },
    ],
  };
  const set = parsePointSet(JSON.stringify(json), 'm.mrk.json');
  assert.deepEqual(set.points, [[-1, -2, 3], [4, 5, 6]]);
  const out = JSON.parse(formatPointSet([[-2, -3, 4], [5, 6, 7]], 'o.mrk.json', set)) as {
    '@schema': string;
    markups: { controlPoints: { position: number[]; orientation?: number[] }[] }[];
  };
  assert.deepEqual(out.markups[0].controlPoints[0].position, [2, 3, 4]);
  assert.deepEqual(out.markups[0].controlPoints[0].orientation, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.deepEqual(out.markups[1].controlPoints[0].position, [5, 6, 7]);
  assert.equal(out['@schema'], 'x');
  throwsCoreg(() => parsePointSet('{"markups":[{"controlPoints":[{"position":[1,2]}]}]}', 'b.mrk.json'), 'b.mrk.json', /position must be 3 numbers/);
  throwsCoreg(() => parsePointSet('{', 'b.mrk.json'), 'b.mrk.json', /not valid JSON/);
});

test('elastix point and index files; index needs a reference grid', () => {
  const pts = parsePointSet('point\n2\n1.5 2 3\n4 5 6\n', 'p.txt');
  assert.equal(pts.layout.format, 'elastix');
  assert.deepEqual(pts.points, [[1.5, 2, 3], [4, 5, 6]]);
  assert.equal(formatPointSet([[0.1, 0.2, 0.3]], 'o.txt', pts), 'point\n1\n0.1 0.2 0.3\n');
  const reference = { dimension: 2 as const, spacing: [2, 0.5], origin: [10, 20], direction: [0, -1, 1, 0] };
  const idx = parsePointSet('index\n1\n3 4\n', 'i.txt', { reference });
  // p = origin + D·diag(spacing)·i = (10 + 0·6 − 1·2, 20 + 1·6 + 0) = (8, 26)
  assert.deepEqual(idx.points, [[8, 26]]);
  throwsCoreg(() => parsePointSet('index\n1\n3 4\n', 'i.txt'), '--reference', /index/);
  throwsCoreg(() => parsePointSet('point\n3\n1 2\n3 4\n', 'p.txt'), 'p.txt', /says 3 points but holds 2/);
  throwsCoreg(() => parsePointSet('point\n2\n1 2\n3 4 5\n', 'p.txt'), 'p.txt', /line 4: expected 2 coordinates/);
});

test('plain whitespace-separated text (ITK example point files)', () => {
  const path = dataPath('itk/IterativeClosestPointFixedPoints.txt');
  const set = parsePointSet(readFileSync(path, 'utf8'), path);
  assert.equal(set.layout.format, 'text');
  assert.equal(set.dimension, 2);
  assert.equal(set.points.length, 8);
  assert.deepEqual(set.points[4], [7.07, 7.07]);
  assert.equal(formatPointSet([[1, 2]], 'o.txt', set), '1 2\n');
  throwsCoreg(() => parsePointSet('1 2\n3 4 5\n', 'q.txt'), 'q.txt', /line 2: expected 2 coordinates/);
  throwsCoreg(() => parsePointSet('1 x\n', 'q.txt'), 'q.txt', /y value "x"/);
});

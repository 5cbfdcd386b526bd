import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CoregError } from '../../src/errors.js';
import { checkLabelTable, labelName, parseLabelTable } from '../../src/segment/label-table.js';
import { dataPath } from '../helpers.js';

const ITKSNAP = `################################################
# ITK-SnAP Label Description File
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
################################################
    0     0    0    0        0  0  0    "Clear Label"
    1   255    0    0        1  1  1    "Left hippocampus"
    5     0  255    0      0.5  1  0    "CSF"
`;

const FREESURFER = `#$Id: FreeSurferColorLUT.txt $

#No. Label Name:                            R   G   B   A

0   Unknown                                 0   0   0   0
2   Left-Cerebral-White-Matter              245 245 245 0
17  Left-Hippocampus                        220 216 20  0
`;

function coregError(subject: string, message: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof CoregError && e.subject === subject && message.test(e.message);
}

test('AAL text table (MRIcron): 116 labels, CRLF lines, names by voxel value', () => {
  const table = parseLabelTable(readFileSync(dataPath('mni/aal.nii.txt'), 'utf8'), 'aal.nii.txt');
  assert.equal(table.format, 'aal');
  assert.equal(table.entries.size, 116);
  assert.equal(labelName(table, 1), 'Precentral_L');
  assert.equal(labelName(table, 116), 'Vermis_10');
  assert.equal(labelName(table, 0), 'background');
  checkLabelTable(table, [0, 1, 2, 116], 'aal.nii.txt');
  // MRIcron's binary palette beside it is not a table.
  const lut = readFileSync(dataPath('mni/aal.nii.lut'));
  assert.throws(() => parseLabelTable(new TextDecoder('latin1').decode(lut), 'aal.nii.lut'), (e: unknown) => e instanceof CoregError && e.subject === 'aal.nii.lut');
});

test('ITK-SNAP and FreeSurfer tables', () => {
  const snap = parseLabelTable(ITKSNAP, 'labels.txt');
  assert.equal(snap.format, 'itksnap');
  assert.deepEqual([...snap.entries.keys()], [0, 1, 5]);
  assert.equal(labelName(snap, 1), 'Left hippocampus');
  assert.deepEqual(snap.entries.get(5)!.color, [0, 255, 0, 0.5]);
  assert.equal(labelName(snap, 0), 'Clear Label');
  const fs = parseLabelTable(FREESURFER, 'FreeSurferColorLUT.txt');
  assert.equal(fs.format, 'freesurfer');
  assert.equal(labelName(fs, 17), 'Left-Hippocampus');
  assert.deepEqual(fs.entries.get(2)!.color, [245, 245, 245, 1]);
  assert.equal(labelName(fs, 3), undefined);
  assert.equal(labelName(undefined, 3), undefined);
});

test('label table errors', () => {
  const fs = parseLabelTable(FREESURFER, 'lut.txt');
  assert.throws(() => checkLabelTable(fs, [0, 2, 17, 41, 42], 'lut.txt'), coregError('lut.txt', /no entry for labels 41, 42/));
  assert.throws(() => parseLabelTable('# only comments\n\n', 't.txt'), coregError('t.txt', /no label entries/));
  assert.throws(() => parseLabelTable('hello world\n', 't.txt'), coregError('t.txt', /line 1: not a label table entry/));
  assert.throws(() => parseLabelTable('1 A 2001\n2 B\n', 't.txt'), coregError('t.txt', /line 2: not a valid AAL/));
  assert.throws(() => parseLabelTable('1 A 2001\n1 B 2002\n', 't.txt'), coregError('t.txt', /label 1 is listed twice/));
  assert.throws(() => parseLabelTable('1 A 2001\u0000', 't.lut'), coregError('t.lut', /binary/));
});

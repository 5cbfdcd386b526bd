import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CoregError } from '../../src/errors.js';
import { createImage } from '../../src/image/image.js';
import { assertNotInput, readImageFile, readTextFile, writeFileAtomic, writeFilesAtomic, writeImageFile } from '../../src/io/node.js';
import { SKIP_NO_DATA, sharedPath } from '../helpers.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'coreg-node-test-'));
}

function isCoregError(subject: string, message: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof CoregError && e.subject === subject && message.test(e.message);
}

test('reading a missing file, a directory or an empty file fails with CoregError(path)', () => {
  const dir = tempDir();
  try {
    const missing = join(dir, 'nope.nii.gz');
    assert.throws(() => readImageFile(missing), isCoregError(missing, /^no such file$/));
    // A folder is read as a DICOM series: this one holds none.
    assert.throws(() => readImageFile(dir), isCoregError(dir, /^no DICOM files in this folder$/));
    const empty = join(dir, 'empty.png');
    writeFileSync(empty, '');
    assert.throws(() => readImageFile(empty), isCoregError(empty, /^empty file$/));
    assert.throws(() => readTextFile(empty), isCoregError(empty, /^empty file$/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a MetaImage header whose data file is missing names that file', { skip: SKIP_NO_DATA }, () => {
  const dir = tempDir();
  try {
    const header = join(dir, 'BrainProtonDensitySliceBorder20.mhd');
    copyFileSync(sharedPath('itk/BrainProtonDensitySliceBorder20.mhd'), header);
    assert.throws(() => readImageFile(header), (e: unknown) => e instanceof CoregError && /BrainProtonDensitySliceBorder20\.raw/.test(`${e.subject} ${e.message}`));
    // With the data file beside it, it reads.
    copyFileSync(sharedPath('itk/BrainProtonDensitySliceBorder20.raw'), join(dir, 'BrainProtonDensitySliceBorder20.raw'));
    assert.deepEqual(readImageFile(header).size, [221, 257]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readTextFile drops a UTF-8 BOM', () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'points.csv');
    writeFileSync(p, '\ufeffx,y\n1,2\n');
    assert.equal(readTextFile(p), 'x,y\n1,2\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic writes and replaces, leaving no temporary files', () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'out.txt');
    writeFileAtomic(p, 'first');
    writeFileAtomic(p, new TextEncoder().encode('second'));
    assert.equal(readFileSync(p, 'utf8'), 'second');
    assert.deepEqual(readdirSync(dir), ['out.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed write leaves nothing behind: missing folder, directory target, one bad file of several', () => {
  const dir = tempDir();
  try {
    const inMissing = join(dir, 'no-such-folder', 'x.txt');
    assert.throws(() => writeFileAtomic(inMissing, 'x'), isCoregError(inMissing, /folder does not exist/));
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    assert.throws(() => writeFileAtomic(sub, 'x'), isCoregError(sub, /is a directory/));
    assert.throws(() => writeFilesAtomic([{ path: join(dir, 'header.mhd'), data: 'h' }, { path: inMissing, data: 'd' }]), CoregError);
    assert.deepEqual(readdirSync(dir), ['sub']);
    assert.deepEqual(readdirSync(sub), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeImageFile writes a header and its data file; an unwritable image writes nothing', () => {
  const dir = tempDir();
  try {
    const img = createImage([3, 2], 'int16', { spacing: [0.5, 2], origin: [1, -2] });
    img.data.set([1, -2, 3, -4, 5, -6]);
    writeImageFile(join(dir, 'a.mhd'), img);
    assert.deepEqual(readdirSync(dir).sort(), ['a.mhd', 'a.raw']);
    const back = readImageFile(join(dir, 'a.mhd'));
    assert.deepEqual(Array.from(back.data), [1, -2, 3, -4, 5, -6]);
    assert.deepEqual(back.spacing, [0.5, 2]);
    assert.deepEqual(back.origin, [1, -2]);
    const volume = createImage([2, 2, 2], 'uint8');
    assert.throws(() => writeImageFile(join(dir, 'v.png'), volume), isCoregError(join(dir, 'v.png'), /2D/));
    assert.deepEqual(readdirSync(dir).sort(), ['a.mhd', 'a.raw']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeImageFile to PNG warns about lost origin and float rescaling', () => {
  const dir = tempDir();
  try {
    const img = createImage([2, 2], 'float32', { origin: [5, 5] });
    img.data.set([0, 1, 2, 3]);
    const warnings: string[] = [];
    writeImageFile(join(dir, 'f.png'), img, { warn: (m) => warnings.push(m) });
    assert.equal(warnings.length, 2);
    assert.match(warnings[0], /origin/);
    assert.match(warnings[1], /float32/);
    assert.deepEqual(Array.from(readImageFile(join(dir, 'f.png')).data), [0, 85, 170, 255]);

    const field = createImage([2, 1], 'float32', { components: 2 });
    field.data.set([3, 4, 0, 0]);
    const vectorWarnings: string[] = [];
    writeImageFile(join(dir, 'v.png'), field, { warn: (m) => vectorWarnings.push(m) });
    assert.equal(vectorWarnings.length, 1);
    assert.match(vectorWarnings[0], /magnitude of the 2-component vectors/);
    assert.deepEqual(Array.from(readImageFile(join(dir, 'v.png')).data), [255, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('assertNotInput refuses the same file by any name (relative, symlink, hard link)', () => {
  const dir = tempDir();
  try {
    const input = join(dir, 'in.nii');
    writeFileSync(input, 'x');
    const ok = join(dir, 'out.nii');
    assertNotInput(ok, [input], '--out');
    assertNotInput(join(dir, 'missing-folder', 'out.nii'), [input], '--out');
    assert.throws(() => assertNotInput(input, [ok, input], '--out'), isCoregError('--out', /overwrite the input/));
    assert.throws(() => assertNotInput(relative(process.cwd(), input), [input], 'OUT'), CoregError);
    symlinkSync(input, join(dir, 'link.nii'));
    assert.throws(() => assertNotInput(join(dir, 'link.nii'), [input], 'OUT'), CoregError);
    linkSync(input, join(dir, 'hard.nii'));
    assert.throws(() => assertNotInput(join(dir, 'hard.nii'), [input], 'OUT'), CoregError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

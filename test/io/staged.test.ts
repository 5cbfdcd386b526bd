// stageFile: a file written now under a temporary name beside its target, renamed into place by writeFilesAtomic
// with the others (register writes each compressed image as soon as it is made); removed by discardStaged, by a
// failing writeFilesAtomic and by removeTemporaries (signals). Never visible under its own name before the commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoregError } from '../../src/errors.js';
import { discardStaged, removeTemporaries, stageFile, writeFilesAtomic } from '../../src/io/node.js';

function folder(): string {
  return mkdtempSync(join(tmpdir(), 'coreg-staged-'));
}

test('a staged file appears under its name only when writeFilesAtomic commits it with the others', () => {
  const dir = folder();
  try {
    const s = stageFile(join(dir, 'image.nii.gz'), new Uint8Array([1, 2, 3]));
    assert.ok(!existsSync(join(dir, 'image.nii.gz')));
    assert.ok(existsSync(s.staged) && s.staged.startsWith(join(dir, 'image.nii.gz.tmp-')));
    writeFilesAtomic([{ path: join(dir, 'result.json'), data: '{}' }, s]);
    assert.deepEqual(readdirSync(dir).sort(), ['image.nii.gz', 'result.json']);
    assert.deepEqual([...readFileSync(join(dir, 'image.nii.gz'))], [1, 2, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('staged files leave nothing behind: discardStaged, a failing commit, removeTemporaries', () => {
  const dir = folder();
  try {
    discardStaged([stageFile(join(dir, 'a.nii.gz'), 'a'), stageFile(join(dir, 'b.nii.gz'), 'b')]);
    assert.deepEqual(readdirSync(dir), []);

    const s = stageFile(join(dir, 'c.nii.gz'), 'c');
    // a file in a missing folder fails the commit after the staged one exists
    assert.throws(() => writeFilesAtomic([{ path: join(dir, 'result.json'), data: '{}' }, s, { path: join(dir, 'missing', 'x.txt'), data: 'x' }]), CoregError);
    assert.deepEqual(readdirSync(dir), []);

    stageFile(join(dir, 'd.nii.gz'), 'd');
    removeTemporaries();
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

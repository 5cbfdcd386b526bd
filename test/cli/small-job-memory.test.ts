// A small (2D) `coreg register` forces exactly one full collection: after reading its images (their decoding
// scratch). Per-level collections and one before the outputs are left out: each would cost ≈ 10 ms of the 2D speed
// target (≤ 0.5 × elastix, at its line) for 2.5–3.5 MB of peak RSS. Counted from V8's own --trace-gc log ("testing" = a forced collection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '../../src/image/image.js';
import { writePng } from '../../src/io/png.js';
import { REPO_ROOT } from '../helpers.js';

const COREG = join(REPO_ROOT, 'test', 'cli', 'coreg.ts');

function blob(cx: number, cy: number): Uint8Array {
  const img = createImage([48, 40], 'uint8');
  for (let y = 0; y < 40; y++) for (let x = 0; x < 48; x++) img.data[y * 48 + x] = Math.round(200 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 60));
  return writePng(img);
}

test('a small register forces one full collection, after reading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-small-gc-'));
  try {
    writeFileSync(join(dir, 'f.png'), blob(22, 20));
    writeFileSync(join(dir, 'm.png'), blob(25, 18));
    const r = spawnSync(
      process.execPath,
      ['--trace-gc', '--import', 'tsx', COREG, 'register', '--fixed', join(dir, 'f.png'), '--moving', join(dir, 'm.png'), '--out', join(dir, 'r'), '--transform', 'translation', '--metric', 'mse', '--iterations', '10x5', '--quiet'],
      { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'r', 'warped.nii.gz')));
    const forced = r.stdout.split('\n').filter((l) => /Mark-Compact.*\btesting\b/.test(l));
    assert.equal(forced.length, 1, r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// `coreg landmarks --auto` and `register --initializer landmarks` through the in-process CLI: outputs, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCoreg } from './run-in-process.js';
import { encodeImage } from '../../src/io/image-io.js';
import { createImage, type Image } from '../../src/image/image.js';
import { parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { parsePointSet } from '../../src/landmarks/point-io.js';
import { applyMotion, randomBlobs, render, rotation, type RigidMotion } from '../features/synthetic.js';

function write(dir: string, name: string, img: Image): string {
  const path = join(dir, name);
  writeFileSync(path, encodeImage(img, name)[0].bytes);
  return path;
}

const motion: RigidMotion = { R: rotation(2, -115), center: [80, 80], shift: [10, 14] };

function pair(dir: string): { fixed: string; moving: string } {
  const blobs = randomBlobs(2, 80, 10, 150, 21);
  return { fixed: write(dir, 'fixed.nii.gz', render(blobs, [160, 160])), moving: write(dir, 'moving.nii.gz', render(blobs, [160, 160], {}, motion)) };
}

test('landmarks --auto writes the contract files, consistent with each other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-auto-'));
  try {
    const { fixed, moving } = pair(dir);
    const out = join(dir, 'L');
    const r = await runCoreg(['landmarks', '--auto', '--fixed', fixed, '--moving', moving, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['fixed.fcsv', 'matches.csv', 'matches.png', 'moving.fcsv', 'result.json', 'transform.tfm', 'warped.nii.gz']);
    const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    assert.deepEqual(JSON.parse(r.stdout), json);
    assert.ok(json.keypoints.fixed > 20 && json.keypoints.moving > 20);
    assert.equal(json.transform, 'rigid');
    const rows = readFileSync(join(out, 'matches.csv'), 'utf8').trim().split('\n');
    assert.equal(rows[0], 'fx,fy,mx,my,score,inlier');
    assert.equal(rows.length - 1, json.matches);
    const inl = rows.slice(1).filter((l) => l.endsWith(',1'));
    assert.equal(inl.length, json.inliers);
    assert.ok(json.inliers >= 8 && json.residualMm < 1, `${json.inliers} inliers, residual ${json.residualMm}`);
    // Inlier rows are true correspondences: the moving point is the fixed point under the motion (within 1.5 mm).
    for (const l of inl) {
      const [fx, fy, mx, my] = l.split(',').map(Number);
      const q = applyMotion(motion, [fx, fy]);
      assert.ok(Math.hypot(q[0] - mx, q[1] - my) < 1.5, l);
    }
    // The transform file maps fixed → moving as the motion does.
    const t = parseItkTransformFile(readFileSync(join(out, 'transform.tfm'), 'utf8'), 'transform.tfm')[0];
    const y = new Float64Array(2);
    for (const p of [[30, 30], [130, 40], [80, 130]]) {
      t.transformPoint(p, y);
      const q = applyMotion(motion, p);
      assert.ok(Math.hypot(q[0] - y[0], q[1] - y[1]) < 1, `T(${p}) = ${Array.from(y)} vs ${q}`);
    }
    // The Slicer files hold the inlier landmarks (RAS on disk, z = 0 for 2D), paired in order.
    const fp = parsePointSet(readFileSync(join(out, 'fixed.fcsv'), 'utf8'), 'fixed.fcsv').points;
    const mp = parsePointSet(readFileSync(join(out, 'moving.fcsv'), 'utf8'), 'moving.fcsv').points;
    assert.equal(fp.length, json.inliers);
    assert.equal(mp.length, json.inliers);
    const first = inl[0].split(',').map(Number);
    assert.ok(Math.abs(fp[0][0] - first[0]) < 1e-9 && Math.abs(mp[0][1] - first[3]) < 1e-9 && fp[0][2] === 0);
    assert.deepEqual([...readFileSync(join(out, 'matches.png')).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('landmarks --auto: a constant image fails with one line naming the keypoints; nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-auto-'));
  try {
    const { fixed } = pair(dir);
    const flat = createImage([160, 160], 'float32');
    flat.data.fill(3);
    const moving = write(dir, 'flat.nii.gz', flat);
    const out = join(dir, 'L');
    const r = await runCoreg(['landmarks', '--auto', '--fixed', fixed, '--moving', moving, '--out', out]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^coreg: error: .*flat\.nii\.gz: too few keypoints to match \(keypoints: fixed \d+, moving 0;/);
    assert.ok(!existsSync(join(out, 'result.json')));
    // Unrelated images: no consistent match, the counts named.
    const other = write(dir, 'other.nii.gz', render(randomBlobs(2, 80, 10, 150, 99), [160, 160]));
    const r2 = await runCoreg(['landmarks', '--auto', '--fixed', fixed, '--moving', other, '--out', out]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /^coreg: error: .*other\.nii\.gz: no consistent match \(gradient: keypoints fixed \d+, moving \d+, \d+ matches, \d+ inliers/);
    assert.ok(!existsSync(join(out, 'result.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('landmarks: --auto usage errors exit 2; point mode unchanged', async () => {
  const cases: [string[], RegExp][] = [
    [['landmarks', '--auto', '--moving', 'm.nii', '--out', 'o'], /--fixed: is required with --auto/],
    [['landmarks', '--auto', '--fixed', 'f.nii', '--moving', 'm.nii', '--out', 'o', '--transform', 'tps'], /--transform: with --auto: expected rigid, similarity, affine/],
    [['landmarks', '--auto', '--fixed', 'f.nii', '--moving', 'm.nii', '--out', 'o', '--descriptor', 'sift'], /--descriptor: expected auto, gradient, mind/],
    [['landmarks', '--auto', '--fixed', 'f.nii', '--moving', 'm.nii', '--out', 'o', '--fixed-points', 'p.csv'], /--fixed-points: does not go with --auto/],
    [['landmarks', '--fixed-points', 'p.csv', '--moving-points', 'q.csv', '--transform', 'rigid', '--out', 'o', '--fixed-mask', 'm.nii'], /--fixed-mask: only applies to --auto/],
    [['landmarks', '--moving-points', 'q.csv', '--transform', 'rigid', '--out', 'o'], /--fixed-points: required option not given/],
  ];
  for (const [args, re] of cases) {
    const r = await runCoreg(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

test('register --initializer landmarks reaches a 2D pose turned by 115°; result.json and matches.csv; report picture', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-auto-'));
  try {
    const { fixed, moving } = pair(dir);
    const out = join(dir, 'R');
    const html = join(dir, 'report.html');
    const r = await runCoreg(['register', '--fixed', fixed, '--moving', moving, '--out', out, '--transform', 'rigid', '--metric', 'mse', '--initializer', 'landmarks', '--quiet', '--html', html]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    assert.ok(json.landmarks.inliers >= 8, JSON.stringify(json.landmarks));
    assert.equal(json.landmarks.matchesFile, 'matches.csv');
    assert.ok(existsSync(join(out, 'matches.csv')));
    const t = parseItkTransformFile(readFileSync(join(out, 'transform.tfm'), 'utf8'), 'transform.tfm')[0];
    const y = new Float64Array(2);
    for (const p of [[30, 30], [130, 40], [80, 130]]) {
      t.transformPoint(p, y);
      const q = applyMotion(motion, p);
      assert.ok(Math.hypot(q[0] - y[0], q[1] - y[1]) < 0.1, `T(${p}) = ${Array.from(y)} vs ${q}`);
    }
    const page = readFileSync(html, 'utf8');
    assert.match(page, /Automated landmarks \(initializer\)/);
    // The page is made before the files are renamed into place: the matched pairs come from memory.
    assert.match(page, /matched keypoints, fixed \| moving/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { labelOverlap } from '../../src/report/overlap.js';
import { phantom2d } from './phantom.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

function setup(): { dir: string; atlasArgs: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-segment-'));
  const target = phantom2d(24, 24);
  writeImageFile(join(dir, 'target.nii.gz'), target.image);
  writeImageFile(join(dir, 'truth.nii.gz'), target.labels);
  const atlasArgs: string[] = [];
  for (const [i, [x, y]] of [
    [21, 25],
    [26, 22],
    [25, 27],
  ].entries()) {
    const p = phantom2d(x, y);
    writeImageFile(join(dir, `a${i + 1}.nii.gz`), p.image);
    writeImageFile(join(dir, `a${i + 1}_seg.nii.gz`), p.labels);
    atlasArgs.push('--atlas', `${join(dir, `a${i + 1}.nii.gz`)},${join(dir, `a${i + 1}_seg.nii.gz`)}`);
  }
  writeFileSync(join(dir, 'table.txt'), '1 Body 9001\n2 Disk 9002\n3 Square 9003\n');
  return { dir, atlasArgs };
}

test('coreg segment end to end: labels, probabilities, warped atlases, report with named volumes', async () => {
  const { dir, atlasArgs } = setup();
  try {
    const out = join(dir, 'seg.nii.gz');
    const r = await coreg([
      'segment', '--target', join(dir, 'target.nii.gz'), ...atlasArgs, '--out', out, '--transform', 'affine', '--fusion', 'staple',
      '--probabilities', join(dir, 'prob'), '--keep-warped', join(dir, 'warped'), '--report', join(dir, 'report.json'),
      '--label-table', join(dir, 'table.txt'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /segmented .* with staple from 3 of 3 atlases/);
    const seg = readImageFile(out);
    assert.equal(seg.data.constructor, Uint8Array);
    assert.ok(labelOverlap(seg, readImageFile(join(dir, 'truth.nii.gz'))).mean! > 0.9);
    assert.deepEqual(readdirSync(join(dir, 'prob')).sort(), ['label_0.nii.gz', 'label_1.nii.gz', 'label_2.nii.gz', 'label_3.nii.gz']);
    assert.deepEqual(readdirSync(join(dir, 'warped')).sort(), [
      '1_a1_image.nii.gz', '1_a1_labels.nii.gz', '2_a2_image.nii.gz', '2_a2_labels.nii.gz', '3_a3_image.nii.gz', '3_a3_labels.nii.gz',
    ]);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    assert.equal(report.fusion, 'staple');
    assert.deepEqual(report.transform, ['affine']);
    assert.equal(report.selected.length, 3);
    assert.equal(report.ranking, null);
    assert.deepEqual(report.failed, []);
    assert.equal(report.timings.registrations.length, 3);
    assert.deepEqual(report.volumes.map((v: { name: string }) => v.name), ['Body', 'Disk', 'Square']);
    assert.ok(report.volumes[1].volumeMm3 > 60 && report.volumes[1].volumeMm3 < 100, `disk area ${report.volumes[1].volumeMm3}`);

    // Selection with the default fusion (jlf) and --quiet: nothing on stdout.
    const q = await coreg(['segment', '--target', join(dir, 'target.nii.gz'), ...atlasArgs, '--out', join(dir, 'seg2.nii.gz'), '--transform', 'affine', '--select', '2', '--report', join(dir, 'r2.json'), '--quiet']);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, '');
    const r2 = JSON.parse(readFileSync(join(dir, 'r2.json'), 'utf8'));
    assert.equal(r2.fusion, 'jlf');
    assert.equal(r2.selected.length, 2);
    assert.equal(r2.ranking.length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('coreg segment errors: one line, exit codes, no output left behind', async () => {
  const { dir, atlasArgs } = setup();
  try {
    const out = join(dir, 'seg.nii.gz');
    const base = ['segment', '--target', join(dir, 'target.nii.gz'), '--out', out, '--transform', 'affine'];
    const cases: [string[], number, RegExp][] = [
      [[...base], 2, /^coreg: error: --atlas: required option not given/],
      [[...base, '--atlas', join(dir, 'a1.nii.gz')], 2, /^coreg: error: --atlas: expected IMAGE,LABELS/],
      [[...base, ...atlasArgs, '--fusion', 'vote'], 2, /^coreg: error: --fusion: invalid value 'vote'/],
      [[...base, ...atlasArgs, '--select', '0'], 2, /^coreg: error: --select: must be at least 1/],
      [[...base, ...atlasArgs, '--transform', 'affine,warp'], 2, /^coreg: error: --transform: unknown transform "warp"/],
      [[...base, ...atlasArgs, '--metric', 'mi,mi'], 2, /^coreg: error: --metric: give one metric/],
    ];
    writeFileSync(join(dir, 'wrong.txt'), '1 Body 9001\n');
    cases.push([[...base, ...atlasArgs, '--label-table', join(dir, 'wrong.txt')], 1, /wrong\.txt: does not match the atlas labels: no entry for labels 2, 3$/m]);
    const fractional = createImage([48, 48], 'float32');
    fractional.data[5] = 0.5;
    writeImageFile(join(dir, 'frac.nii.gz'), fractional);
    cases.push([[...base, '--atlas', `${join(dir, 'a1.nii.gz')},${join(dir, 'frac.nii.gz')}`], 1, /frac\.nii\.gz: labels must be integers/]);
    writeImageFile(join(dir, 'small.nii.gz'), createImage([40, 48], 'uint8'));
    cases.push([[...base, '--atlas', `${join(dir, 'a1.nii.gz')},${join(dir, 'small.nii.gz')}`], 1, /small\.nii\.gz: is not on the same grid/]);
    const flat = createImage([48, 48], 'float32');
    flat.data.fill(3);
    writeImageFile(join(dir, 'flat.nii.gz'), flat);
    cases.push([[...base, '--atlas', `${join(dir, 'flat.nii.gz')},${join(dir, 'a1_seg.nii.gz')}`], 1, /^coreg: error: --atlas: all 1 atlases failed/]);
    for (const [args, code, message] of cases) {
      const r = await coreg(args);
      assert.equal(r.code, code, `${args.slice(-2).join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('coreg: error')).length, 1);
      assert.ok(!existsSync(out), 'no output after a failure');
    }
    // A failed atlas next to a good one: a warning, and the segmentation still written.
    const mixed = await coreg([...base, ...atlasArgs.slice(0, 2), '--atlas', `${join(dir, 'flat.nii.gz')},${join(dir, 'a1_seg.nii.gz')}`, '--fusion', 'majority']);
    assert.equal(mixed.code, 0, mixed.stderr);
    assert.match(mixed.stderr, /^coreg: warning: atlas .*flat\.nii\.gz: left out/);
    assert.match(mixed.stdout, /from 1 of 2 atlases \(1 left out\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('coreg segment --threads: worker threads give the same labels as one thread; 0 is bad usage', async () => {
  const { dir, atlasArgs } = setup();
  try {
    const base = ['segment', '--target', join(dir, 'target.nii.gz'), ...atlasArgs, '--transform', 'affine', '--fusion', 'jlf', '--quiet'];
    const one = await coreg([...base, '--threads', '1', '--out', join(dir, 'one.nii.gz')]);
    const three = await coreg([...base, '--threads', '3', '--out', join(dir, 'three.nii.gz')]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(three.code, 0, three.stderr);
    assert.deepEqual([...readImageFile(join(dir, 'three.nii.gz')).data], [...readImageFile(join(dir, 'one.nii.gz')).data]);
    // --config supplies the stages when --transform is not given.
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ stages: [{ transform: 'rigid', metric: 'ncc', levels: [{ shrink: 1, smooth: 0, iterations: 30 }] }] }));
    const cfgArgs = ['segment', '--target', join(dir, 'target.nii.gz'), ...atlasArgs, '--config', join(dir, 'cfg.json'), '--fusion', 'majority', '--quiet'];
    const fromFile = await coreg([...cfgArgs, '--out', join(dir, 'cfg.nii.gz'), '--report', join(dir, 'cfg-report.json')]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'cfg-report.json'), 'utf8')).transform, ['rigid']);
    const missing = await coreg(['segment', '--target', join(dir, 'target.nii.gz'), ...atlasArgs, '--config', join(dir, 'nope.json'), '--out', join(dir, 'x.nii.gz')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.json/);
    const bad = await coreg([...base, '--threads', '0', '--out', join(dir, 'bad.nii.gz')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^coreg: error: --threads: must be at least 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

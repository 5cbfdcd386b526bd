// The atlas benchmark's own logic: the checks per target, the leave-one-out summary, the tables, reading a
// --keep-warped folder, and the --select K trade-off from kept warps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { writeImageFile } from '../../src/io/node.js';
import { ELASTIX_PUBLISHED_MAJORITY, judgeTarget, KEY, summarize, summaryTable, targetTable, type AtlasRow, type TargetResult } from '../../bench/lib/atlas-table.js';
import { fuseKept, readKeptWarped, selectionTradeoff, type KeptAtlas } from '../../bench/lib/atlas-warped.js';
import { diceScores } from '../../bench/lib/labels.js';
import { assertClose } from '../helpers.js';

const row = (key: string | undefined, dice: number | undefined, extra: Partial<AtlasRow> = {}): AtlasRow => ({ key, group: 'fusion', tool: 'coreg', method: key ?? 'per atlas', dice, ...extra });

function target(t: number, elastix: number | undefined, majority: number, jlf: number, best: number, extra: AtlasRow[] = []): TargetResult {
  const rows = [row(KEY.elastixMajority, elastix, { tool: 'elastix', seconds: 100, cached: true }), row(KEY.coregMajority, majority, { seconds: 50, estimated: true }), row(KEY.coregJlf, jlf, { seconds: 60, peakRssMB: 300 }), row(KEY.coregBestSingle, best), ...extra];
  return { target: t, atlases: [1, 2, 3, 4, 5, 6].filter((s) => s !== t), rows, checks: judgeTarget(t, rows), notes: [] };
}

test('judgeTarget: ≥ elastix, strict > for JLF, the published figure only stands in for target 6', () => {
  const [peer, overMajority, overBest] = judgeTarget(3, target(3, 0.89, 0.89, 0.9, 0.9).rows);
  assert.equal(peer.pass, true, 'equal to elastix reaches it');
  assert.equal(overMajority.pass, true);
  assert.equal(overBest.pass, false, 'equal to the best single atlas does not beat it');
  assert.match(overBest.detail, /0\.9000 > 0\.9000/);

  assert.equal(judgeTarget(3, target(3, undefined, 0.95, 0.96, 0.9).rows)[0].pass, null, 'no elastix, not the published target');
  const published = judgeTarget(6, target(6, undefined, ELASTIX_PUBLISHED_MAJORITY - 0.001, 0.96, 0.9).rows)[0];
  assert.equal(published.pass, false);
  assert.match(published.detail, /published/);
  assert.deepEqual(judgeTarget(6, []).map((c) => c.pass), [null, null, null]);
});

test('summarize: mean of each keyed row over the targets that have it, per-atlas rows left out, check counts', () => {
  const a = target(1, 0.88, 0.9, 0.92, 0.85, [row(undefined, 0.5), row('coreg:staple', 0.8, { seconds: 10 })]);
  const b = target(2, 0.9, 0.89, 0.88, 0.86, [row(undefined, 0.7), row('coreg:staple', undefined, { missing: 'error: x' })]);
  const s = summarize([a, b]);
  assert.deepEqual(s.rows.map((r) => r.key), [KEY.elastixMajority, KEY.coregMajority, KEY.coregJlf, KEY.coregBestSingle, 'coreg:staple']);
  const by = new Map(s.rows.map((r) => [r.key, r]));
  assertClose(by.get(KEY.coregMajority)!.dice!, 0.895, 1e-12);
  assert.equal(by.get(KEY.coregMajority)!.estimated, true);
  assert.equal(by.get(KEY.coregJlf)!.seconds, 60);
  assert.equal(by.get(KEY.coregJlf)!.peakRssMB, 300);
  assert.equal(by.get('coreg:staple')!.targets, 1);
  assert.equal(by.get('coreg:staple')!.dice, 0.8);
  // a: 0.9 ≥ 0.88, 0.92 > 0.9, 0.92 > 0.85; b: 0.89 < 0.9, 0.88 < 0.89, 0.88 > 0.86.
  assert.deepEqual(
    s.checks.map((c) => [c.pass, c.fail, c.notJudged]),
    [
      [1, 1, 0],
      [1, 1, 0],
      [2, 0, 0],
    ],
  );
  const table = summaryTable([a, b]);
  assert.match(table, /mean Dice over 2 targets/);
  assert.match(table, /\| 0\.8000 \(1 of 2\) \|/);
  assert.match(table, /\| coreg JLF > coreg majority \| 1 of 2 \| 1 \| 0 \| \*\*FAIL\*\* \|/);
});

test('targetTable: estimated times marked ~, cached *, missing results shown', () => {
  const t = target(6, 0.89, 0.9, 0.91, 0.87, [row('coreg:weighted', undefined, { missing: 'error: coreg failed' })]);
  t.notes.push('ranking: subj3 first');
  const md = targetTable(t);
  assert.match(md, /\| 100\.0\* \|/);
  assert.match(md, /\| ~50\.0 \|/);
  assert.match(md, /\| error: coreg failed \|/);
  assert.match(md, /\| coreg JLF > best single coreg atlas \| 0\.9100 > 0\.8700 \(best single coreg atlas\) \| pass \|/);
  assert.match(md, /\n\n- ranking: subj3 first$/);
});

// A 6×6×6 grid; label 1 in x < 3, label 2 elsewhere, and intensity = 100·label, so the images match the labels.
function volume(fill: (x: number, y: number, z: number) => number, type: 'uint8' | 'float32'): Image {
  const img = createImage([6, 6, 6], type);
  for (let z = 0, v = 0; z < 6; z++) for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++, v++) img.data[v] = fill(x, y, z);
  return img;
}
const truthLabel = (x: number): number => (x < 3 ? 1 : 2);
/** An atlas whose boundary sits at x < cut (truth: cut 3). */
function atlas(subject: number, cut: number): KeptAtlas {
  const labels = volume((x) => (x < cut ? 1 : 2), 'uint8');
  return { subject, name: `s${subject}`, labels: labels.data, image: volume((x) => (x < cut ? 100 : 200), 'float32').data as Float32Array };
}

test('readKeptWarped: the --keep-warped naming, input order, subject from the file name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-atlas-kept-'));
  try {
    for (const [n, subject, cut] of [
      [2, 5, 2],
      [1, 3, 4],
    ]) {
      writeImageFile(join(dir, `${n}_subj${subject}_t1_labels.nii.gz`), volume((x) => (x < cut ? 1 : 2), 'uint8'));
      writeImageFile(join(dir, `${n}_subj${subject}_t1_image.nii.gz`), volume((x) => (x < cut ? 100 : 200), 'float32'));
    }
    writeFileSync(join(dir, 'notes.txt'), 'not an atlas');
    const kept = readKeptWarped(dir);
    assert.deepEqual(
      kept.map((a) => [a.subject, a.name]),
      [
        [3, '1_subj3_t1'],
        [5, '2_subj5_t1'],
      ],
    );
    assert.ok(kept[0].image instanceof Float32Array);
    assert.equal(kept[0].labels[3], 1, 'subject 3 cuts at x = 4');
    assert.equal(kept[1].labels[3], 2, 'subject 5 cuts at x = 2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuseKept and selectionTradeoff: every method, best-K curves, ranking time only below N', () => {
  const truth = volume((x) => truthLabel(x), 'uint8');
  const targetImage = volume((x) => 100 * truthLabel(x), 'float32');
  const dice = (labels: ArrayLike<number>): number => diceScores(labels, truth.data).mean;
  // Two atlases off by one column on opposite sides, one exact: majority and JLF recover the truth.
  const kept = [atlas(1, 2), atlas(2, 3), atlas(4, 4)];
  const fused = fuseKept(kept, targetImage, ['majority', 'weighted', 'staple', 'jlf']);
  assert.deepEqual(fused.map((f) => f.method), ['majority', 'weighted', 'staple', 'jlf']);
  for (const f of fused) {
    assert.equal(dice(f.labels), 1, f.method);
    assert.ok(f.seconds >= 0);
  }
  // Ranked: the exact atlas (index 1), then the one reaching a column too far (index 2), then index 0.
  const points = selectionTradeoff(kept, targetImage, [1, 2, 0], [10, 20, 40], 5, dice);
  assert.deepEqual(points.map((p) => p.subjects), [[2], [2, 4], [2, 4, 1]]);
  assert.equal(points[0].majorityDice, 1);
  assert.equal(points[0].jlfDice, 1);
  assert.equal(points[0].majoritySeconds, 5 + 20);
  assert.ok(points[1].majorityDice < 1, 'two atlases tie on column x = 3: the lower (wrong) label wins there');
  assert.equal(points[1].jlfDice, 1, 'JLF weighs the atlas whose image matches the target there');
  assert.equal(points[2].majorityDice, 1);
  assert.ok(points[1].jlfSeconds >= 5 + 60 && points[1].jlfSeconds < 5 + 60 + 5);
  assert.ok(points[2].majoritySeconds >= 70 && points[2].majoritySeconds < 75, 'all atlases: no ranking');

  // Registrations overlapped 2-fold: K = 1 cannot overlap, K ≥ 2 and the ranking run twice as fast.
  const overlapped = selectionTradeoff(kept, targetImage, [1, 2, 0], [10, 20, 40], 5, dice, 2);
  assert.equal(overlapped[0].majoritySeconds, 2.5 + 20);
  assert.ok(overlapped[1].majoritySeconds >= 2.5 + 30 && overlapped[1].majoritySeconds < 2.5 + 30 + 5);
  assert.ok(overlapped[2].majoritySeconds >= 35 && overlapped[2].majoritySeconds < 40);
});

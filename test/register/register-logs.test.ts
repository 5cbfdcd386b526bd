// `coreg register` logs without a terminal: one stderr line per level (stage, level, iterations, final metric,
// seconds, stop reason), --verbose per-iteration lines, --json stdout pure, --quiet nothing at all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeImageFile } from '../../src/io/node.js';
import { imageFromFunction, mapAbout, movingFor, rotation2d, scene2d } from './synthetic.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-logs-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
const FIXED = join(DIR, 'f.nii.gz');
const MOVING = join(DIR, 'm.nii.gz');
writeImageFile(FIXED, imageFromFunction({ size: [40, 40] }, scene2d));
writeImageFile(MOVING, movingFor({ size: [40, 40] }, scene2d, mapAbout(rotation2d(0.04), [20, 20], [1, -1])));

const BASE = ['register', '--fixed', FIXED, '--moving', MOVING, '--transform', 'translation,rigid', '--metric', 'mse', '--iterations', '10x10', '--shrink', '2x1', '--smooth', '1x0'];

test('not on a terminal: one line per level on stderr; --json keeps stdout pure JSON', async () => {
  const r = await coreg([...BASE, '--out', join(DIR, 'a'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 4, r.stderr);
  assert.match(lines[0], /^coreg: stage 1\/2 translation\/mse level 1\/2: \d+ iterations, metric [-0-9.e+]+, [0-9.]+ s, stop: .+$/);
  assert.match(lines[3], /^coreg: stage 2\/2 rigid\/mse level 2\/2: /);
  const json = JSON.parse(r.stdout) as { stages: unknown[] };
  assert.equal(json.stages.length, 2);
});

test('--verbose adds one line per iteration; --quiet leaves stderr empty', async () => {
  const v = await coreg([...BASE, '--out', join(DIR, 'b'), '--verbose']);
  assert.equal(v.code, 0, v.stderr);
  const its = v.stderr.split('\n').filter((l) => / iteration \d+\/10 metric /.test(l));
  assert.ok(its.length >= 4, v.stderr);
  const q = await coreg([...BASE, '--out', join(DIR, 'c'), '--quiet']);
  assert.equal(q.code, 0);
  assert.equal(q.stderr, '');
  assert.equal(q.stdout, '');
  // An error with --quiet: the error line is all there is.
  const e = await coreg([...BASE, '--out', join(DIR, 'd'), '--quiet', '--fixed-mask', join(DIR, 'missing.nii.gz')]);
  assert.equal(e.code, 1);
  assert.equal(e.stderr.trim().split('\n').length, 1);
  assert.match(e.stderr, /^coreg: error: /);
});

// `coreg register` in-process on small synthetic files (PNG fixed, NIfTI moving) in a temporary folder.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, sameGrid } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { imageFromFunction, mapAbout, meanPointErrorVoxels, movingFor, rotation2d, scene2d } from './synthetic.js';
import { runCoreg as coreg } from '../cli/run-in-process.js';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-register-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

const TRUTH = mapAbout(rotation2d((3 * Math.PI) / 180), [22, 26], [1.5, -1]);
const FIXED_PATH = join(DIR, 'fixed.png');
const MOVING_PATH = join(DIR, 'moving.nii.gz');
{
  // PNG fixed (uint8, spacing 1, origin 0); float NIfTI moving with its own spacing and origin.
  const scene = imageFromFunction({ size: [48, 48] }, scene2d);
  const png = createImage([48, 48], 'uint8');
  for (let i = 0; i < png.data.length; i++) png.data[i] = Math.round(40 + 150 * scene.data[i]);
  writeImageFile(FIXED_PATH, png);
  const moving = movingFor({ size: [44, 52], spacing: [1.1, 0.95], origin: [-0.5, -1] }, (p) => 40 + 150 * scene2d(p), TRUTH);
  writeImageFile(MOVING_PATH, moving);
}


function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

const QUICK = ['--transform', 'rigid', '--metric', 'ncc', '--iterations', '30x40', '--shrink', '2x1', '--smooth', '1x0', '--initializer', 'none', '--quiet'];

interface ResultJson {
  stages: { transform: string; metric: string; levels: { iterations: number; value: number; seconds: number }[] }[];
  seconds: number;
  cpuSeconds?: number;
  transforms: string[];
  config?: { seed?: number };
}

test('register writes warped.nii.gz (float32 on the fixed grid), a parseable transform.tfm and result.json', async () => {
  const out = join(DIR, 'out-basic');
  const r = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', out, ...QUICK]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(readdirSync(out).sort(), ['inverse-warped.nii.gz', 'result.json', 'transform.tfm', 'warped.nii.gz']);

  const fixed = readImageFile(FIXED_PATH);
  const warped = readImageFile(join(out, 'warped.nii.gz'));
  assert.ok(warped.data instanceof Float32Array, 'warped is float32');
  assert.ok(sameGrid(warped, fixed), 'warped is on the fixed grid');
  // The warped moving image matches the fixed one inside (borders may fall outside the moving image).
  let worst = 0;
  for (let y = 8; y < 40; y++) for (let x = 8; x < 40; x++) worst = Math.max(worst, Math.abs(warped.data[y * 48 + x] - fixed.data[y * 48 + x]));
  assert.ok(worst < 4, `largest inner difference ${worst} (of 0…255)`);

  const chain = parseItkTransformFile(readFileSync(join(out, 'transform.tfm'), 'utf8'), 'transform.tfm');
  assert.equal(chain.length, 1);
  assert.equal(chain[0].kind, 'euler2d');
  const error = meanPointErrorVoxels(fixed, chain, TRUTH);
  assert.ok(error < 0.1, `transform.tfm is off the truth by ${error.toFixed(3)} voxel`);

  const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as ResultJson;
  assert.deepEqual(json.transforms, ['transform.tfm']);
  assert.equal(typeof json.seconds, 'number');
  // the registration's CPU time: a process that computed for `seconds` used some
  assert.ok(typeof json.cpuSeconds === 'number' && json.cpuSeconds > 0 && json.cpuSeconds < 64 * json.seconds + 1, `cpuSeconds ${json.cpuSeconds}`);
  assert.equal(json.stages.length, 1);
  assert.equal(json.stages[0].transform, 'rigid');
  assert.equal(json.stages[0].metric, 'ncc');
  assert.equal(json.stages[0].levels.length, 2);
  json.stages[0].levels.forEach((l, i) => {
    assert.ok(Number.isInteger(l.iterations) && l.iterations >= 0 && l.iterations <= [30, 40][i]);
    assert.ok(Number.isFinite(l.value) && Number.isFinite(l.seconds) && l.seconds >= 0);
  });
  assert.ok(json.stages[0].levels[1].value < -0.99, `final ncc cost ${json.stages[0].levels[1].value}`);
  // --quiet: nothing on stdout.
  assert.equal(r.stdout, '');
});

test('--json prints result.json on stdout', async () => {
  const out = join(DIR, 'out-json');
  const r = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', out, ...QUICK.filter((a) => a !== '--quiet'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as ResultJson;
  const written = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as ResultJson;
  assert.deepEqual(printed, written);
  assert.equal(printed.stages[0].transform, 'rigid');
});

test('--config values are used and command-line options override them', async () => {
  const configPath = join(DIR, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      stages: [{ transform: 'translation', metric: 'mse', levels: [{ shrink: 1, smooth: 0, iterations: 7 }] }],
      initializer: 'none',
      seed: 42,
    }),
  );
  const fromFile = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', join(DIR, 'out-config'), '--config', configPath, '--json']);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const a = JSON.parse(fromFile.stdout) as ResultJson;
  assert.deepEqual(
    a.stages.map((s) => [s.transform, s.metric, s.levels.length]),
    [['translation', 'mse', 1]],
  );
  assert.ok(a.stages[0].levels[0].iterations <= 7);
  assert.equal(a.config?.seed, 42);

  const overridden = await coreg([
    'register',
    '--fixed',
    FIXED_PATH,
    '--moving',
    MOVING_PATH,
    '--out',
    join(DIR, 'out-override'),
    '--config',
    configPath,
    '--metric',
    'ncc',
    '--iterations',
    '0',
    '--seed',
    '5',
    '--json',
  ]);
  assert.equal(overridden.code, 0, overridden.stderr);
  const b = JSON.parse(overridden.stdout) as ResultJson;
  assert.deepEqual(
    b.stages.map((s) => [s.transform, s.metric, s.levels.map((l) => l.iterations)]),
    [['translation', 'ncc', [0]]],
  );
  assert.equal(b.config?.seed, 5);
});

test('usage errors exit 2 with one line: a metric count that fits no stage list, a missing --fixed, a bad list', async () => {
  const twoMetrics = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', join(DIR, 'x'), '--transform', 'rigid', '--metric', 'mi,mi']);
  assert.equal(twoMetrics.code, 2);
  assert.deepEqual(lines(twoMetrics.stderr), ['coreg: error: --metric: give one metric for all stages or one per stage (1), got 2']);

  const noFixed = await coreg(['register', '--moving', MOVING_PATH, '--out', join(DIR, 'y')]);
  assert.equal(noFixed.code, 2);
  assert.equal(lines(noFixed.stderr).length, 1);
  assert.match(noFixed.stderr, /^coreg: error: --fixed/);

  const badShrink = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', join(DIR, 'z'), '--shrink', '4xx1']);
  assert.equal(badShrink.code, 2);
  assert.deepEqual(lines(badShrink.stderr), ['coreg: error: --shrink: expected numbers separated by "x" (e.g. 4x2x1), got "4xx1"']);

  for (const name of ['x', 'y', 'z']) assert.ok(!existsSync(join(DIR, name)), `no output folder ${name} after a usage error`);
});

test('a registration that fails exits 1 with one line and writes nothing', async () => {
  const flatPath = join(DIR, 'flat.nii.gz');
  const flat = createImage([48, 48], 'float32');
  flat.data.fill(3);
  writeImageFile(flatPath, flat);
  const out = join(DIR, 'out-failed');
  const r = await coreg(['register', '--fixed', FIXED_PATH, '--moving', flatPath, '--out', out, ...QUICK]);
  assert.equal(r.code, 1);
  assert.equal(lines(r.stderr).length, 1);
  assert.match(r.stderr, /^coreg: error: --moving: image is constant/);
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'no partial output');
});

test('--smooth takes voxels (default, or a "vox" suffix) or mm ("mm" suffix), as the level log shows', async () => {
  // The NIfTI as the fixed image: spacing (1.1, 0.95) mm, so voxels and mm differ.
  const smoothOf = async (smooth: string): Promise<number[]> => {
    const out = join(DIR, `out-smooth-${smooth}`);
    const args = ['register', '--fixed', MOVING_PATH, '--moving', FIXED_PATH, '--out', out, ...QUICK.slice(0, QUICK.indexOf('--smooth')), '--smooth', smooth, '--initializer', 'none', '--quiet'];
    const r = await coreg(args);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { stages: { levels: { smoothMm: number[] }[] }[] };
    return json.stages[0].levels[0].smoothMm;
  };
  assert.deepEqual(await smoothOf('2x0'), [2.2, 1.9]);
  assert.deepEqual(await smoothOf('2x0vox'), [2.2, 1.9]);
  assert.deepEqual(await smoothOf('2x0mm'), [2, 2]);
  const bad = await coreg(['register', '--fixed', MOVING_PATH, '--moving', FIXED_PATH, '--out', join(DIR, 'bad'), '--smooth', '2x0cm']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^coreg: error: --smooth: expected numbers separated by "x"/);
});

test('register records the modality preset in result.json; --winsorize overrides it, nonsense is bad usage', async () => {
  const out = join(DIR, 'preset');
  const r = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', out, '--transform', 'rigid', '--winsorize', '0.01,0.99', '--iterations', '20x10', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { preset: { fixed: { modality: string }; stages: { winsorize: unknown; bins: number }[] } };
  assert.equal(json.preset.fixed.modality, 'mr');
  assert.deepEqual(json.preset.stages[0].winsorize, { fixed: [0.01, 0.99], moving: [0.01, 0.99] });
  assert.equal(json.preset.stages[0].bins, 32);
  for (const bad of ['0.9,0.1', '0.5', 'x,y']) {
    const b = await coreg(['register', '--fixed', FIXED_PATH, '--moving', MOVING_PATH, '--out', join(DIR, 'bad'), '--winsorize', bad, '--quiet']);
    assert.equal(b.code, 2, `--winsorize ${bad}: ${b.stderr}`);
    assert.match(b.stderr, /^coreg: error: --winsorize: /m);
  }
});

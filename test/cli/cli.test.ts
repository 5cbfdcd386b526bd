import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/main.js';
import { createImage } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { REPO_ROOT, dataPath } from '../helpers.js';

const COREG = join(REPO_ROOT, 'test', 'cli', 'coreg.ts');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a subprocess from source (through tsx). */
function spawnCoreg(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', COREG, ...args], { cwd: REPO_ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI in this process with captured output (fast; same code path as the binary). */
async function runCoreg(args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

test('subprocess: --version, usage errors (exit 2) and a missing file (exit 1) print one line each', async () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const [version, unknownOption, missingFile] = await Promise.all([
    spawnCoreg(['--version']),
    spawnCoreg(['info', '--bogus', 'x.png']),
    spawnCoreg(['info', 'no/such/file.nii.gz']),
  ]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), pkg.version);

  assert.equal(unknownOption.code, 2);
  assert.deepEqual(lines(unknownOption.stderr), ['coreg: error: --bogus: unknown option']);
  assert.equal(unknownOption.stdout, '');

  assert.equal(missingFile.code, 1);
  assert.deepEqual(lines(missingFile.stderr), ['coreg: error: no/such/file.nii.gz: no such file']);
});

test('bin/coreg.js --version / -V answer without loading the commands (start-up), the same as the program', async () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const bin = (args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [join(REPO_ROOT, 'bin', 'coreg.js'), ...args], { cwd: REPO_ROOT }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
    });
  for (const flag of ['--version', '-V']) {
    const r = await bin([flag]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${pkg.version}\n`, '']);
    assert.equal((await runCoreg([flag])).stdout, r.stdout);
  }
});

test('info --json prints the contract object for the MNI (subprocess) and ITK data', async () => {
  const [nifti, mhd] = await Promise.all([
    spawnCoreg(['info', '--json', dataPath('mni/ch2bet-corner.nii.gz')]),
    runCoreg(['info', dataPath('itk/BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd'), '--json']),
  ]);
  assert.equal(nifti.code, 0, nifti.stderr);
  assert.deepEqual(JSON.parse(nifti.stdout), {
    dimension: 3,
    size: [6, 5, 4],
    spacing: [1, 1, 1],
    origin: [90, 125, -71],
    direction: [-1, 0, 0, 0, -1, 0, 0, 0, 1],
    pixelType: 'uint8',
    components: 1,
    min: 0,
    max: 0,
  });
  assert.equal(mhd.code, 0, mhd.stderr);
  const info = JSON.parse(mhd.stdout);
  assert.deepEqual(Object.keys(info), ['dimension', 'size', 'spacing', 'origin', 'direction', 'pixelType', 'components', 'min', 'max']);
  assert.deepEqual(info.size, [221, 257]);
  // TransformMatrix lists columns: axis 0 = (0.866, 0.5), axis 1 = (-0.5, 0.866); row-major here.
  const d = info.direction as number[];
  [0.866, -0.5, 0.5, 0.866].forEach((v, i) => assert.ok(Math.abs(d[i] - v) < 1e-3, `direction ${d}`));
  assert.equal(info.min, 1);
  assert.equal(info.max, 249);
});

test('info: PNG values and the readable table', async () => {
  const json = await runCoreg(['info', '--json', dataPath('itk/BrainProtonDensitySliceShifted13x17y.png')]);
  assert.equal(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout);
  assert.deepEqual([info.size, info.spacing, info.origin, info.direction, info.pixelType, info.components, info.min, info.max], [
    [221, 257], [1, 1], [0, 0], [1, 0, 0, 1], 'uint8', 1, 1, 249,
  ]);
  const table = await runCoreg(['info', dataPath('itk/BrainT1Slice.png')]);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^size {8}181 x 217$/m);
  assert.match(table.stdout, /^max {9}214$/m);
});

test('info --json of an image without finite values prints null, never NaN', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-cli-test-'));
  try {
    const img = createImage([2, 2], 'float32');
    img.data.fill(NaN);
    writeImageFile(join(dir, 'nan.mha'), img);
    const r = await runCoreg(['info', '--json', join(dir, 'nan.mha')]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.min, null);
    assert.equal(info.max, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert png → nii.gz → mha → nrrd → png round trip keeps pixels and geometry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-cli-test-'));
  try {
    const src = dataPath('itk/BrainProtonDensitySliceShifted13x17y.png');
    const chain = [src, 'a.nii.gz', 'b.mha', 'c.nrrd', 'd.png'].map((f, i) => (i === 0 ? f : join(dir, f)));
    for (let i = 1; i < chain.length; i++) {
      const r = await runCoreg(['convert', chain[i - 1], chain[i]]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'identity geometry and uint8: no warnings');
    }
    const original = readImageFile(src);
    for (const f of chain.slice(1)) {
      const img = readImageFile(f);
      assert.deepEqual([img.dimension, img.size, img.spacing, img.components], [2, [221, 257], [1, 1], 1], f);
      assert.deepEqual(img.origin.map((v) => v + 0), [0, 0], f);
      assert.deepEqual(img.direction.map((v) => v + 0), [1, 0, 0, 1], f);
      assert.deepEqual(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), Buffer.from(original.data), f);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert refuses OUT == IN, fails cleanly and leaves no output; warns when PNG drops geometry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-cli-test-'));
  try {
    const input = join(dir, 'in.nii.gz');
    writeImageFile(input, createImage([4, 3, 2], 'int16'));
    const same = await runCoreg(['convert', input, input]);
    assert.equal(same.code, 1);
    assert.deepEqual(lines(same.stderr), [`coreg: error: ${input}: would overwrite the input ${input}; choose another output file`]);

    const volumeToPng = await runCoreg(['convert', input, join(dir, 'out.png')]);
    assert.equal(volumeToPng.code, 1);
    assert.equal(lines(volumeToPng.stderr).length, 1);
    assert.match(volumeToPng.stderr, /^coreg: error: .*out\.png: PNG holds 2D images only/);

    const unknown = await runCoreg(['convert', input, join(dir, 'out.jpg')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /out\.jpg: unknown image format/);

    writeFileSync(join(dir, 'corrupt.nii.gz'), 'not gzip data at all');
    const corrupt = await runCoreg(['convert', join(dir, 'corrupt.nii.gz'), join(dir, 'out.mha')]);
    assert.equal(corrupt.code, 1);
    assert.equal(lines(corrupt.stderr).length, 1);
    assert.deepEqual(readdirSync(dir).sort(), ['corrupt.nii.gz', 'in.nii.gz']);

    const rotated = await runCoreg(['convert', dataPath('itk/BrainProtonDensitySliceBorder20DirectionPlus30.mhd'), join(dir, 'rot.png')]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.deepEqual(lines(rotated.stderr).map((l) => l.replace(/:.*/, '')), ['coreg']);
    assert.match(rotated.stderr, /^coreg: warning: .*rot\.png: PNG cannot store origin or direction/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors map to exit 2 with one line; --help exits 0', async () => {
  const cases: [string[], string][] = [
    [[], 'coreg: error: command: missing (see --help)'],
    [['frobnicate'], 'coreg: error: frobnicate: unknown command'],
    [['info'], 'coreg: error: FILE: missing required argument'],
    [['convert', 'only-one.png'], 'coreg: error: OUT: missing required argument'],
    [['info', 'a.png', 'b.png'], 'coreg: error: info: too many arguments (expected 1, got 2)'],
    [['info', '--jsn', 'a.png'], 'coreg: error: --jsn: unknown option (did you mean --json?)'],
  ];
  for (const [args, line] of cases) {
    const r = await runCoreg(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.deepEqual(lines(r.stderr), [line]);
    assert.equal(r.stdout, '');
  }
  const help = await runCoreg(['convert', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: coreg convert/);
  assert.equal(help.stderr, '');
});

test('--debug adds the stack trace after the error line', async () => {
  const r = await runCoreg(['--debug', 'info', 'missing.png']);
  assert.equal(r.code, 1);
  const out = lines(r.stderr);
  assert.equal(out[0], 'coreg: error: missing.png: no such file');
  assert.ok(out.length > 1 && /at /.test(out[out.length - 1]));
});

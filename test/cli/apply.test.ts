import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, pixelTypeOf } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { dataPath, skipUnlessData } from '../helpers.js';
import { runCoreg as coreg } from './run-in-process.js';

function translationTfm(t: number[]): string {
  return `#Insight Transform File V1.0\n#Transform 0\nTransform: TranslationTransform_double_${t.length}_${t.length}\nParameters: ${t.join(' ')}\nFixedParameters:\n`;
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coreg-apply-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Pixels (x < nx − sx, y < ny − sy) of `out` equal `fixed` (within `tol`): where moving(x + s) exists. */
function assertShiftReproduces(outPath: string, fixedPath: string, shift: [number, number], tol = 0): void {
  const out = readImageFile(outPath);
  const fixed = readImageFile(fixedPath);
  const [nx, ny] = fixed.size;
  let compared = 0;
  for (let y = 0; y < ny - shift[1]; y++) {
    for (let x = 0; x < nx - shift[0]; x++) {
      if (tol === 0) assert.equal(out.data[x + nx * y], fixed.data[x + nx * y], `pixel (${x}, ${y})`);
      else assert.ok(Math.abs(out.data[x + nx * y] - fixed.data[x + nx * y]) <= tol, `pixel (${x}, ${y}): ${out.data[x + nx * y]} vs ${fixed.data[x + nx * y]}`);
      compared++;
    }
  }
  assert.ok(compared > 40000);
  // Beyond the moving image: 0.
  assert.equal(out.data[nx - 1 + nx * (ny - 1)], 0);
}

for (const [fixedFile, movingFile] of [
  ['itk/BrainProtonDensitySliceBorder20.mhd', 'itk/BrainProtonDensitySliceShifted13x17y.png'],
  // The committed copies with image axes rotated by +30° (D): the shift is D·(13, 17) mm.
  ['itk/BrainProtonDensitySliceBorder20DirectionPlus30.mhd', 'itk/BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd'],
]) {
  test(
    `apply: ${movingFile} through T(x) = x + D·(13,17) reproduces ${fixedFile} (float32), also from a register-style folder and a field`,
    { skip: skipUnlessData(fixedFile, movingFile) },
    withDir(async (dir) => {
      const fixedPath = dataPath(fixedFile);
      const movingPath = dataPath(movingFile);
      const fixed = readImageFile(fixedPath);
      const D = fixed.direction;
      const rot = (v: [number, number]): number[] => [D[0] * v[0] + D[1] * v[1], D[2] * v[0] + D[3] * v[1]];
      // Exact for axis-aligned images; rotated ones within 1e-4 grey levels (measured 3e-6: the files' 7-digit direction
      // cosines are orthonormal only to about 1e-8).
      const tol = D[1] === 0 && D[2] === 0 ? 0 : 1e-4;
      writeFileSync(join(dir, 't.tfm'), translationTfm(rot([13, 17])));
      const r = await coreg(['apply', '--reference', fixedPath, '--moving', movingPath, '--transform', join(dir, 't.tfm'), '--out', join(dir, 'o.nii.gz')]);
      assert.deepEqual([r.code, r.stderr], [0, '']);
      assert.equal(pixelTypeOf(readImageFile(join(dir, 'o.nii.gz')).data), 'float32');
      assertShiftReproduces(join(dir, 'o.nii.gz'), fixedPath, [13, 17], tol);

      // A register output folder: two translations in result.json order plus a uniform displacement field.
      const reg = join(dir, 'reg');
      mkdirSync(reg);
      writeFileSync(join(reg, 'a.tfm'), translationTfm(rot([10, 0])));
      writeFileSync(join(reg, 'b.tfm'), translationTfm(rot([3, 12])));
      const field = createImage([221, 257], 'float32', { components: 2, direction: D });
      const u = rot([0, 5]);
      for (let i = 0; i < field.data.length; i += 2) field.data.set(u, i);
      writeImageFile(join(reg, 'field.nii.gz'), field);
      writeFileSync(join(reg, 'result.json'), JSON.stringify({ stages: [], transforms: ['a.tfm', 'field.nii.gz', 'b.tfm'] }));
      const r2 = await coreg(['apply', '--reference', fixedPath, '--moving', movingPath, '--transform', reg, '--out', join(dir, 'o2.nii.gz')]);
      assert.deepEqual([r2.code, r2.stderr], [0, '']);
      assertShiftReproduces(join(dir, 'o2.nii.gz'), fixedPath, [13, 17], tol);
    }),
  );
}

test(
  'apply: several --transform apply first first; nearest and label keep the moving pixel type',
  withDir(async (dir) => {
    const moving = createImage([20, 10], 'uint16', { spacing: [2, 1] });
    for (let i = 0; i < moving.data.length; i++) moving.data[i] = (i % 7) * 1000;
    writeImageFile(join(dir, 'm.nii.gz'), moving);
    // The scale (2, 1) applies first, then the translation (4, 0): T(x) = (2x + 4, y).
    writeFileSync(
      join(dir, 's.tfm'),
      '#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_2_2\nParameters: 2 0 0 1 0 0\nFixedParameters: 0 0\n',
    );
    writeFileSync(join(dir, 't.tfm'), translationTfm([4, 0]));
    const ref = createImage([8, 10], 'uint8', { spacing: [2, 1] });
    writeImageFile(join(dir, 'ref.nii.gz'), ref);
    for (const interpolation of ['nearest', 'label']) {
      const out = join(dir, `${interpolation}.nii.gz`);
      const r = await coreg(['apply', '--reference', join(dir, 'ref.nii.gz'), '--moving', join(dir, 'm.nii.gz'), '--transform', join(dir, 's.tfm'), '--transform', join(dir, 't.tfm'), '--out', out, '--interpolation', interpolation]);
      assert.deepEqual([r.code, r.stderr], [0, '']);
      const img = readImageFile(out);
      assert.equal(pixelTypeOf(img.data), 'uint16');
      // Reference voxel i sits at x = 2i, maps to 4i + 4 mm = moving index 2i + 2.
      for (let j = 0; j < 10; j++) for (let i = 0; i < 8; i++) assert.equal(img.data[i + 8 * j], moving.data[2 * i + 2 + 20 * j]);
    }
  }),
);

test(
  'apply errors: one line, exit 2 for usage and 1 for failures, nothing written',
  withDir(async (dir) => {
    const img = createImage([6, 5], 'uint8');
    writeImageFile(join(dir, 'a.nii.gz'), img);
    writeFileSync(join(dir, 't.tfm'), translationTfm([1, 0]));
    const a = join(dir, 'a.nii.gz');
    const t = join(dir, 't.tfm');
    const o = join(dir, 'o.nii.gz');
    const cases: [string[], number, RegExp][] = [
      [['apply', '--reference', a, '--moving', a, '--out', o], 2, /^coreg: error: --transform: required option not given$/],
      [['apply', '--reference', a, '--moving', a, '--transform', t, '--out', o, '--interpolation', 'cubic'], 2, /^coreg: error: --interpolation: invalid value 'cubic'/],
      [['apply', '--reference', a, '--moving', a, '--transform', join(dir, 'none.tfm'), '--out', o], 1, /none\.tfm: no such file$/],
      [['apply', '--reference', a, '--moving', a, '--transform', t, '--out', a], 1, /would overwrite the input/],
      [['apply', '--reference', a, '--moving', a, '--transform', dir, '--out', o], 1, /result\.json: no such file$/],
      [['apply', '--reference', a, '--moving', a, '--transform', t, '--out', join(dir, 'o.xyz')], 1, /unknown image format/],
    ];
    writeFileSync(join(dir, 'bad.tfm'), translationTfm([1, 2, 3]));
    cases.push([['apply', '--reference', a, '--moving', a, '--transform', join(dir, 'bad.tfm'), '--out', o], 1, /--transform: the transforms are 3D but the images are 2D/]);
    for (const [args, code, message] of cases) {
      const r = await coreg(args);
      assert.equal(r.code, code, args.join(' '));
      const lines = r.stderr.split('\n').filter((l) => l);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
    }
    assert.equal(existsSync(o), false);
    assert.deepEqual(readdirSync(dir).sort(), ['a.nii.gz', 'bad.tfm', 't.tfm']);
  }),
);

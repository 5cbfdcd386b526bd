// Analyze 7.5 .hdr/.img as ITK reads it: nibabel (Debian python3-nibabel) writes the files; coreg's voxels must
// equal nibabel's, spacing |pixdim|, and ITK's geometry (identity direction, origin 0) is checked through Debian
// transformix (ITK 5), which resamples the file onto that grid with an identity transform. Skips without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageFile } from '../../src/io/node.js';
import { assertArrayClose } from '../helpers.js';

const PYTHON = '/usr/bin/python3';
const SKIP_NO_NIBABEL: string | false = spawnSync(PYTHON, ['-c', 'import nibabel'], { encoding: 'utf8' }).status === 0 ? false : `nibabel is not importable by ${PYTHON} (install python3-nibabel)`;
const SKIP_NO_TRANSFORMIX: string | false = SKIP_NO_NIBABEL || (spawnSync('transformix', ['--version']).error ? 'transformix (Debian elastix) is not installed' : false);

/** nibabel writes an Analyze pair; returns nibabel's values (x fastest) as it reads the pair back. */
function writeAnalyze(hdr: string, endian: '<' | '>', dtype: string, slope: number | null): number[] {
  const script = `
import sys, json, numpy as np, nibabel as nib
a = (np.arange(4*5*6).reshape(4,5,6, order='F') * 3 - 20).astype(np.dtype('${endian}${dtype}'))
cls = nib.Spm2AnalyzeImage if ${slope === null ? 'False' : 'True'} else nib.AnalyzeImage
img = cls(a, np.diag([-1.5, 2.0, 2.5, 1]))
img.set_data_dtype(np.dtype('${endian}${dtype}'))
${slope === null ? '' : `img.header['scl_slope'] = ${slope}`}
nib.save(img, sys.argv[1])
back = nib.load(sys.argv[1])
print(json.dumps(np.asarray(back.get_fdata()).reshape(-1, order='F').tolist()))
`;
  const r = spawnSync(PYTHON, ['-c', script, hdr], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as number[];
}

test('Analyze 7.5 written by nibabel reads with the same voxels, spacing from pixdim, ITK geometry', { skip: SKIP_NO_NIBABEL }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-analyze-'));
  try {
    for (const [endian, dtype, slope] of [['<', 'i2', null], ['>', 'i2', null], ['<', 'f4', null], ['>', 'u1', null], ['<', 'i2', 0.5]] as const) {
      const hdr = join(dir, `a-${endian === '<' ? 'le' : 'be'}-${dtype}-${slope ?? 1}.hdr`);
      const expected = writeAnalyze(hdr, endian, dtype, slope);
      const img = readImageFile(hdr);
      assert.deepEqual(img.size, [4, 5, 6]);
      assertArrayClose(img.spacing, [1.5, 2, 2.5], 1e-6, 'spacing');
      assertArrayClose(img.origin, [0, 0, 0], 0, 'origin');
      assertArrayClose(img.direction, [1, 0, 0, 0, 1, 0, 0, 0, 1], 0, 'direction');
      assertArrayClose(img.data, expected, 1e-6, hdr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Analyze 7.5: transformix (ITK) sees the same voxels on the same grid', { skip: SKIP_NO_TRANSFORMIX }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-analyze-'));
  try {
    const hdr = join(dir, 'a.hdr');
    writeAnalyze(hdr, '<', 'i2', null);
    const tp = join(dir, 'tp.txt');
    // Identity on coreg's reading of the grid; anything ITK placed elsewhere would come out as -999.
    writeFileSync(tp, ['(Transform "TranslationTransform")', '(NumberOfParameters 3)', '(TransformParameters 0 0 0)',
      '(InitialTransformParametersFileName "NoInitialTransform")', '(HowToCombineTransforms "Compose")', '(FixedImageDimension 3)',
      '(MovingImageDimension 3)', '(FixedInternalImagePixelType "float")', '(MovingInternalImagePixelType "float")', '(Size 4 5 6)',
      '(Index 0 0 0)', '(Spacing 1.5 2 2.5)', '(Origin 0 0 0)', '(Direction 1 0 0 0 1 0 0 0 1)', '(UseDirectionCosines "true")',
      '(ResampleInterpolator "FinalBSplineInterpolator")', '(FinalBSplineInterpolationOrder 0)', '(Resampler "DefaultResampler")',
      '(DefaultPixelValue -999)', '(ResultImageFormat "mha")', '(ResultImagePixelType "short")', '(CompressResultImage "false")', ''].join('\n'));
    const out = join(dir, 'tx');
    mkdirSync(out);
    const r = spawnSync('transformix', ['-in', hdr, '-out', out, '-tp', tp], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assertArrayClose(readImageFile(join(out, 'result.mha')).data, readImageFile(hdr).data, 0, 'transformix vs coreg');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

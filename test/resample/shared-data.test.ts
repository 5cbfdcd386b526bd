// Real data: the ITK example pair whose ground truth is an exact integer shift of (13, 17) mm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readImageFile } from '../../src/io/node.js';
import type { LinearTransform } from '../../src/transform/transform.js';
import { resample, type ResampleInterpolation } from '../../src/resample/index.js';
import { SKIP_NO_DATA, sharedPath } from '../helpers.js';

const shift: LinearTransform = {
  kind: 'translation',
  dimension: 2,
  matrix: () => Float64Array.of(1, 0, 0, 1),
  offset: () => Float64Array.of(13, 17),
  transformPoint(p, out) {
    out[0] = p[0] + 13;
    out[1] = p[1] + 17;
  },
};

test('Shifted13x17y resampled through T(x) = x + (13, 17) reproduces Border20 exactly', { skip: SKIP_NO_DATA }, () => {
  const fixed = readImageFile(sharedPath('itk/BrainProtonDensitySliceBorder20.mhd'));
  const moving = readImageFile(sharedPath('itk/BrainProtonDensitySliceShifted13x17y.mhd'));
  const [nx, ny] = fixed.size;
  for (const kind of ['nearest', 'linear', 'bspline', 'label'] as ResampleInterpolation[]) {
    const out = resample(moving, fixed, shift, { interpolation: kind });
    let compared = 0;
    for (let j = 0; j + 17 < ny; j++) {
      for (let i = 0; i + 13 < nx; i++) {
        const k = i + nx * j;
        assert.ok(Math.abs(out.data[k] - fixed.data[k]) < 1e-3, `${kind} at ${i},${j}: ${out.data[k]} vs ${fixed.data[k]}`);
        compared++;
      }
    }
    assert.equal(compared, (nx - 13) * (ny - 17));
    // Beyond the moving image: 0.
    assert.equal(out.data[nx * ny - 1], 0);
  }
});

// Real data: the ITK example pair whose ground truth is an exact integer shift of (13, 17) mm (also as the
// committed copies with axes rotated by +30°, where the shift is D·(13, 17) mm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readImageFile } from '../../src/io/node.js';
import type { LinearTransform } from '../../src/transform/transform.js';
import { resample, type ResampleInterpolation } from '../../src/resample/index.js';
import { dataPath, skipUnlessData } from '../helpers.js';

function translation(t: [number, number]): LinearTransform {
  return {
    kind: 'translation',
    dimension: 2,
    matrix: () => Float64Array.of(1, 0, 0, 1),
    offset: () => Float64Array.from(t),
    transformPoint(p, out) {
      out[0] = p[0] + t[0];
      out[1] = p[1] + t[1];
    },
  };
}

for (const [fixedFile, movingFile] of [
  ['itk/BrainProtonDensitySliceBorder20.mhd', 'itk/BrainProtonDensitySliceShifted13x17y.mhd'],
  ['itk/BrainProtonDensitySliceBorder20DirectionPlus30.mhd', 'itk/BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd'],
]) {
test(`${movingFile} resampled through T(x) = x + D·(13, 17) reproduces ${fixedFile} exactly`, { skip: skipUnlessData(fixedFile, movingFile) }, () => {
  const fixed = readImageFile(dataPath(fixedFile));
  const moving = readImageFile(dataPath(movingFile));
  const D = fixed.direction;
  const shift = translation([D[0] * 13 + D[1] * 17, D[2] * 13 + D[3] * 17]);
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
}

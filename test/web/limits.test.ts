// The browser app's size check: the voxel count each format's header declares, read before decoding, equals the
// decoded image's; sizes beyond the page's budget get a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, numberOfPixels } from '../../src/image/image.js';
import { decodeImage, encodeImage } from '../../src/io/image-io.js';
import { BYTES_PER_VOXEL, declaredElements, memoryBudgetBytes, tooLargeMessage } from '../../src/web/limits.js';

test('declaredElements reads NIfTI (.nii, .nii.gz), MetaImage, NRRD and PNG headers', () => {
  const img3 = createImage([7, 5, 3], 'int16', { spacing: [1, 2, 3] });
  for (let i = 0; i < img3.data.length; i++) img3.data[i] = i;
  const img2 = createImage([9, 4], 'uint8');
  for (let i = 0; i < img2.data.length; i++) img2.data[i] = i;
  const cases: [string, ReturnType<typeof createImage>][] = [
    ['a.nii', img3],
    ['a.nii.gz', img3],
    ['a.mha', img3],
    ['a.nrrd', img3],
    ['b.png', img2],
  ];
  for (const [name, img] of cases) {
    const bytes = encodeImage(img, name)[0].bytes;
    const decoded = decodeImage(bytes, { name });
    const declared = declaredElements(bytes, name);
    // PNG: width × height × 4 (an upper bound: RGBA), the others exactly voxels × components.
    if (name.endsWith('.png')) assert.equal(declared, numberOfPixels(decoded) * 4, name);
    else assert.equal(declared, numberOfPixels(decoded) * decoded.components, name);
  }
  assert.equal(declaredElements(new TextEncoder().encode('hello'), 'x.nii'), null);
  assert.equal(declaredElements(new TextEncoder().encode('NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1200 1200 1200\n\n'), 'x.nrrd'), 1200 ** 3);
});

test('tooLargeMessage and the memory budget', () => {
  const budget = memoryBudgetBytes(new URLSearchParams('memoryMB=100'), 8);
  assert.equal(budget, 100 * 2 ** 20);
  assert.equal(memoryBudgetBytes(new URLSearchParams(), 8), 4 * 2 ** 30);
  assert.equal(memoryBudgetBytes(new URLSearchParams(), undefined), 2 * 2 ** 30);
  assert.equal(tooLargeMessage(Math.floor(budget / BYTES_PER_VOXEL), budget), null);
  assert.match(tooLargeMessage(Math.floor(budget / BYTES_PER_VOXEL) + 1, budget) ?? '', /^too large for this browser's memory: .* the page allows 100 MB$/);
});

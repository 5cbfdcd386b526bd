import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { createImage, type Image } from '../../src/image/image.js';
import {
  checkerboardPicture,
  deformationGridPicture,
  encodeRasterPng,
  greyPicture,
  imageViews,
  jacobianPicture,
  jointHistogram,
  labelContourPicture,
  overlayPicture,
  checkPictureImage,
  orientationLetter,
  drawText,
  createRaster,
  linePlotRaster,
  textWidth,
} from '../../src/report/picture.js';
import { TranslationTransform } from '../../src/transform/linear.js';

/** A smooth blob image with some structure (2D or 3D). */
function blob(size: number[], spacing?: number[], shift = 0): Image {
  const img = createImage(size, 'float32', { spacing });
  const [nx, ny] = size;
  const nz = size[2] ?? 1;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const dx = x - nx / 2 - shift;
        const dy = y - ny / 2;
        const dz = size.length === 3 ? z - nz / 2 : 0;
        const r = Math.sqrt(dx * dx + dy * dy + dz * dz);
        // Structure only inside the disc: a shifted copy has the same values (and so the same display window).
        img.data[(z * ny + y) * nx + x] = r < nx / 3 ? 100 + 20 * Math.sin(dx / 3) + 5 * Math.cos(dy / 2) : 0;
      }
  return img;
}

test('a checkerboard of an image with itself equals the image', () => {
  for (const img of [blob([40, 30]), blob([20, 18, 16], [1, 1.5, 2])]) {
    const a = checkerboardPicture(img, img);
    const b = greyPicture(img);
    assert.equal(a.width, b.width);
    assert.equal(a.height, b.height);
    assert.deepEqual(a.data, b.data);
  }
  // …and differs from it when the second image differs.
  const other = blob([40, 30], undefined, 5);
  assert.notDeepEqual(checkerboardPicture(blob([40, 30]), other).data, greyPicture(blob([40, 30])).data);
});

function fringes(r: { data: Uint8Array }): number {
  let n = 0;
  for (let k = 0; k < r.data.length; k += 3) if (Math.abs(r.data[k] - r.data[k + 1]) > 8) n++;
  return n;
}

test('the overlay of aligned images has no magenta/green fringes; a misaligned pair has them, and the transform removes them', () => {
  const fixed = blob([48, 40]);
  assert.equal(fringes(overlayPicture(fixed, fixed)), 0);
  const moving = blob([48, 40], undefined, 4); // moving(x + 4) = fixed(x) inside
  assert.ok(fringes(overlayPicture(fixed, moving)) > 100);
  const t = new TranslationTransform(2);
  t.setParameters([4, 0]);
  const aligned = overlayPicture(fixed, moving, { chain: [t] });
  // Only the 4 columns the shifted moving image does not cover may differ.
  let inner = 0;
  for (let y = 0; y < aligned.height; y++)
    for (let x = 0; x < aligned.width - 5; x++) {
      const k = 3 * (y * aligned.width + x);
      if (Math.abs(aligned.data[k] - aligned.data[k + 1]) > 8) inner++;
    }
  assert.equal(inner, 0);
  // Magenta = fixed in red and blue.
  const k = 3 * (20 * aligned.width + 10);
  assert.equal(aligned.data[k], aligned.data[k + 2]);
});

test('the joint histogram of an image with itself is diagonal', () => {
  for (const img of [blob([40, 30]), blob([16, 14, 12])]) {
    const h = jointHistogram(img, img, [], { bins: 64 });
    let total = 0;
    for (let j = 0; j < h.bins; j++)
      for (let i = 0; i < h.bins; i++) {
        const c = h.counts[j * h.bins + i];
        total += c;
        if (i !== j) assert.equal(c, 0, `off-diagonal bin (${i}, ${j})`);
      }
    assert.equal(total, img.data.length);
  }
  const shifted = jointHistogram(blob([40, 30]), blob([40, 30], undefined, 3), [], { bins: 64 });
  let off = 0;
  for (let j = 0; j < 64; j++) for (let i = 0; i < 64; i++) if (i !== j) off += shifted.counts[j * 64 + i];
  assert.ok(off > 0);
});

test('3D views honour the physical aspect ratio and the radiological/neurological convention', () => {
  const img = createImage([20, 10, 5], 'float32', { spacing: [1, 2, 4] });
  const views = imageViews(img);
  assert.deepEqual(views.map((v) => [v.name, v.width, v.height]), [
    ['axial', 20, 20],
    ['coronal', 20, 20],
    ['sagittal', 20, 20],
  ]);
  // A bright patient-left half (+x in LPS): on the right of the screen in radiological convention.
  for (let i = 0; i < img.data.length; i++) img.data[i] = i % 20 >= 10 ? 100 : 0;
  const rad = greyPicture(img, { convention: 'radiological' });
  const neu = greyPicture(img, { convention: 'neurological' });
  const px = (r: typeof rad, x: number, y: number) => r.data[3 * (y * r.width + x)];
  assert.equal(px(rad, 18, 10), 255);
  assert.equal(px(rad, 1, 10), 0);
  assert.equal(px(neu, 18, 10), 0);
  assert.equal(px(neu, 1, 10), 255);
  assert.equal(imageViews(img, { layout: 'mosaic', slices: 6 }).length, 6);
});

test('thumbnails (maxPanel): no panel side above the limit, the physical aspect ratio kept; a small image keeps its pixels', () => {
  const img = createImage([180, 90, 45], 'float32', { spacing: [1, 2, 4] });
  const views = imageViews(img, { maxPanel: 60 });
  assert.deepEqual(views.map((v) => [v.name, v.width, v.height]), [
    ['axial', 60, 60],
    ['coronal', 60, 60],
    ['sagittal', 60, 60],
  ]);
  assert.equal(views[0].pixelMm, 3);
  const wide = imageViews(createImage([200, 50], 'float32'), { maxPanel: 100 });
  assert.deepEqual([wide[0].width, wide[0].height], [100, 25]);
  const small = imageViews(createImage([40, 36], 'float32'), { maxPanel: 100 });
  assert.deepEqual([small[0].width, small[0].height, small[0].pixelMm], [40, 36, 1]);
});

test('3D panels carry orientation letters: radiological axial R left, L right, A top, P bottom; neurological swaps R/L', () => {
  assert.deepEqual([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]].map(orientationLetter), ['L', 'R', 'P', 'A', 'S', 'I']);
  const img = createImage([40, 40, 40], 'float32');
  // Reads the 5×7 letter drawn at (x, y) with glyph pixels `scale` wide as rows of 0/1.
  const read = (r: ReturnType<typeof greyPicture>, x: number, y: number) =>
    Array.from({ length: 7 }, (_, j) => Array.from({ length: 5 }, (_, i) => (r.data[3 * ((y + j) * r.width + x + i)] === 255 ? '1' : '0')).join('')).join('');
  const glyph = { R: '11110100011000111110101001001010001', L: '10000100001000010000100001000011111', A: '01110100011000111111100011000110001', P: '11110100011000111110100001000010000' };
  const rad = greyPicture(img, { convention: 'radiological' });
  // The axial panel is the first 40×40 pixels.
  assert.equal(read(rad, 2, 16), glyph.R);
  assert.equal(read(rad, 33, 16), glyph.L);
  assert.equal(read(rad, 17, 2), glyph.A);
  assert.equal(read(rad, 17, 31), glyph.P);
  const neu = greyPicture(img, { convention: 'neurological' });
  assert.equal(read(neu, 2, 16), glyph.L);
  assert.equal(read(neu, 33, 16), glyph.R);
  // Without letters, an empty image is black (the gaps between panels dark grey).
  const bare = greyPicture(img, { letters: false });
  assert.ok(bare.data.subarray(0, 3 * 40).every((v) => v === 0));
});

test('plot text: the 3×5 font draws its glyphs; the landscape plot has a legend in the series colours', () => {
  const r = createRaster(20, 12);
  drawText(r, '10', 1, 1, [255, 255, 255], 1);
  const row = (y: number) => Array.from({ length: 7 }, (_, i) => (r.data[3 * (y * 20 + 1 + i)] ? '1' : '0')).join('');
  // "1" = 010/110/010/010/111 and "0" = 111/101/101/101/111, one blank column between.
  assert.deepEqual([1, 2, 3, 4, 5].map(row), ['0100111', '1100101', '0100101', '0100101', '1110111']);
  assert.equal(textWidth('10', 2), 14);
  const xs = [-2, -1, 0, 1, 2];
  const plot = linePlotRaster(xs, [{ name: 'mse', values: xs.map((x) => x * x), colour: [31, 119, 180] }, { name: 'mi', values: xs.map((x) => Math.abs(x)), colour: [214, 39, 40] }], 240, 160, { xLabel: 'shift (mm)' });
  let blue = 0;
  let red = 0;
  // The legend row (the bottom 20 pixels) holds both colours.
  for (let k = 240 * 140; k < 240 * 160; k++) {
    if (plot.data[3 * k] === 31 && plot.data[3 * k + 1] === 119) blue++;
    if (plot.data[3 * k] === 214 && plot.data[3 * k + 1] === 39) red++;
  }
  assert.ok(blue >= 40 && red >= 40, `legend swatches (${blue}, ${red})`);
});

test('Jacobian picture: folds are yellow, shrinkage blue, growth red, 1 white', () => {
  const det = createImage([4, 1], 'float32');
  det.data.set([-0.5, 0.5, 1, 2]);
  const r = jacobianPicture(det);
  assert.deepEqual(Array.from(r.data), [255, 230, 0, 0, 0, 255, 255, 255, 255, 255, 0, 0]);
});

test('deformation grid of the identity is straight lines; a translation moves them', () => {
  const img = blob([48, 48]);
  const id = deformationGridPicture(img, [], { gridMm: 8 });
  const isLine = (r: typeof id, x: number, y: number) => r.data[3 * (y * r.width + x)] === 255 && r.data[3 * (y * r.width + x) + 2] === 0;
  const cols = [];
  for (let x = 0; x < 48; x++) if (isLine(id, x, 3)) cols.push(x);
  // Vertical lines every 8 pixels, the same on every row.
  for (const x of cols) for (let y = 0; y < 48; y++) if (!isLine(id, x, y)) assert.fail(`column ${x} broken at row ${y}`);
  const t = new TranslationTransform(2);
  t.setParameters([3, 0]);
  const moved = deformationGridPicture(img, [t], { gridMm: 8 });
  const cols2 = [];
  for (let x = 0; x < 48; x++) if (isLine(moved, x, 3) && isLine(moved, x, 40)) cols2.push(x);
  assert.deepEqual(cols, [7, 15, 23, 31, 39]);
  assert.deepEqual(cols2, [4, 12, 20, 28, 36, 44]);
});

test('label contours are drawn on label borders only, in the label colour', () => {
  const img = blob([30, 30]);
  const labels = createImage([30, 30], 'uint8');
  for (let y = 10; y < 20; y++) for (let x = 10; x < 20; x++) labels.data[y * 30 + x] = 3;
  const r = labelContourPicture(img, labels);
  const g = greyPicture(img);
  const changed: number[] = [];
  for (let k = 0; k < 900; k++) if (r.data[3 * k] !== g.data[3 * k] || r.data[3 * k + 1] !== g.data[3 * k + 1] || r.data[3 * k + 2] !== g.data[3 * k + 2]) changed.push(k);
  // The 36 border pixels of the 10×10 square.
  assert.equal(changed.length, 36);
  assert.ok(changed.every((k) => { const x = k % 30; const y = Math.floor(k / 30); return x === 10 || x === 19 || y === 10 || y === 19; }));
});

test('PNG bytes decode back to the raster (fast-png)', () => {
  const r = greyPicture(blob([17, 9]));
  const png = decode(encodeRasterPng(r));
  assert.equal(png.width, 17);
  assert.equal(png.height, 9);
  assert.deepEqual(Array.from(png.data as Uint8Array), Array.from(r.data));
});

test('4D (vector) images are a clear error', () => {
  const img = createImage([4, 4, 4], 'float32');
  img.components = 3;
  img.data = new Float32Array(4 * 4 * 4 * 3);
  assert.throws(() => checkPictureImage(img, 'IMAGE'), /4D or vector image/);
  assert.throws(() => greyPicture(img), /4D or vector image/);
});

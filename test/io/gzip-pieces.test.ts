// gzipPieces (io/node.ts): a gzip member deflated in independent pieces at once (pigz's layout). Node's gunzip, the
// JS decoder and Python's gzip module (an independent reader, when /usr/bin/python3 is there) give the bytes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { gunzipBounded, setNativeGunzip } from '../../src/io/compression.js';
import { gunzipChunkSize, gzipPieces, imageFilePartsAsync, nodeGunzip, readImageFile, stageFile, writeFilesAtomic } from '../../src/io/node.js';
import { niftiParts, writeNifti } from '../../src/io/nifti.js';
import { createImage } from '../../src/image/image.js';

/** Float-like bytes: runs of zeros (a head's background) and noisy values. */
function data(n: number): Uint8Array {
  const f = new Float32Array(Math.ceil(n / 4));
  let s = 7;
  for (let i = 0; i < f.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    f[i] = (i >> 12) % 3 === 0 ? 0 : (s >>> 8) / 4096;
  }
  return new Uint8Array(f.buffer, 0, n);
}

test('gzipPieces: several pieces make one gzip member that every reader inflates to the same bytes', async () => {
  for (const [n, options] of [
    [(4 << 20) * 3 + 12345, { level: 6, strategy: constants.Z_RLE }],
    [(4 << 20) * 2, { level: 6 }],
    [1000, { level: 6 }],
  ] as const) {
    const bytes = data(n);
    const gz = Buffer.concat(await gzipPieces([bytes], options));
    assert.deepEqual([gz[0], gz[1], gz[2]], [0x1f, 0x8b, 8], 'a gzip header');
    assert.ok(Buffer.from(gunzipSync(gz)).equals(Buffer.from(bytes)), `${n}: Node's gunzip`);
    setNativeGunzip(null);
    try {
      assert.ok(Buffer.from(gunzipBounded(gz, n)).equals(Buffer.from(bytes)), `${n}: the JS decoder (CRC-32 and length checked)`);
    } finally {
      setNativeGunzip(nodeGunzip);
    }
    if (existsSync('/usr/bin/python3')) {
      const dir = mkdtempSync(join(tmpdir(), 'coreg-gz-'));
      try {
        writeFileSync(join(dir, 'x.gz'), gz);
        writeFileSync(join(dir, 'x.raw'), bytes);
        const r = spawnSync('/usr/bin/python3', ['-c', 'import gzip,sys; a=gzip.open(sys.argv[1]).read(); b=open(sys.argv[2],"rb").read(); print(a==b)', join(dir, 'x.gz'), join(dir, 'x.raw')], { encoding: 'utf8' });
        assert.equal(r.stdout.trim(), 'True', `${n}: Python's gzip module (${r.stderr})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
});

test('nodeGunzip: one output buffer sized by the gzip trailer, and the same bytes whatever the trailer says', () => {
  const a = data(300_000);
  const b = data(70_001).map((v) => v ^ 0x5a);
  const one = gzipSync(a);
  assert.equal(gunzipChunkSize(one, 1 << 30), a.length, 'ISIZE read from the trailer');
  assert.equal(gunzipChunkSize(one, a.length - 1), undefined, 'never above the bound');
  assert.equal(gunzipChunkSize(gzipSync(data(1000)), 1 << 30), undefined, 'small outputs keep zlib\'s own chunk');
  const out = nodeGunzip(one, 1 << 30);
  assert.ok(Buffer.from(out).equals(Buffer.from(a)));
  // written once into its own buffer: no join, no copy
  assert.equal(out.byteOffset, 0);
  assert.equal(out.buffer.byteLength, a.length);
  // two members: the trailer gives the last member's size only (smaller than the whole), so zlib writes several chunks
  const two = Buffer.concat([one, gzipSync(b)]);
  assert.equal(gunzipChunkSize(two, 1 << 30), b.length);
  const both = nodeGunzip(two, 1 << 30);
  assert.ok(Buffer.from(both).equals(Buffer.concat([a, b])));
  assert.equal(both.buffer.byteLength, both.length, 'an array of its own');
  // a damaged trailer that states more than the data holds: zlib refuses it (its own ISIZE check), and
  // gunzipBounded's JS decoder then names the mismatch
  const lying = Buffer.from(one);
  lying.writeUInt32LE(a.length + 1000, lying.length - 4);
  assert.throws(() => nodeGunzip(lying, 1 << 30));
  assert.throws(() => gunzipBounded(lying, 1 << 30), /size mismatch/);
  // the bound still holds when the trailer is within it but the data is not
  const tooMuch = Buffer.concat([gzipSync(data(200_000)), one]);
  assert.throws(() => gunzipBounded(tooMuch, 400_000), /400000/);
});

test('gzipPieces: parts compressed as they are (the header a piece of its own) make the file of their concatenation', async () => {
  const header = data(352);
  const pixels = data((4 << 20) * 2 + 4000);
  const parts = await gzipPieces([header, pixels], { level: 6, strategy: constants.Z_RLE });
  assert.ok(parts.length >= 5, 'gzip header, the header\'s piece, three pixel pieces, trailer');
  const gz = Buffer.concat(parts);
  const whole = Buffer.concat([header, pixels]);
  assert.ok(gunzipSync(gz).equals(whole), "Node's gunzip");
  setNativeGunzip(null);
  try {
    assert.ok(Buffer.from(gunzipBounded(gz, whole.length)).equals(whole), 'the JS decoder (CRC-32 and length checked)');
  } finally {
    setNativeGunzip(nodeGunzip);
  }
  // small in all: one plain gzip of the joined parts, as gzip itself writes it
  const small = await gzipPieces([header, data(5000)], { level: 6 });
  assert.equal(small.length, 1);
  assert.ok(Buffer.from(small[0]).equals(gzipSync(Buffer.concat([header, data(5000)]), { level: 6 })));
});

test('a .nii.gz output: the image\'s own pixel bytes compressed and written in pieces read back as the image', async () => {
  const img = createImage([96, 101, 130], 'float32', { spacing: [1, 1.5, 2], origin: [3, -4, 5] });
  const f = img.data as Float32Array;
  for (let i = 0; i < f.length; i++) f[i] = i % 7 === 0 ? 0 : Math.sin(i * 0.001) * 100;
  const { header, pixels } = niftiParts(img);
  assert.equal(pixels.buffer, img.data.buffer, 'a view of the image, not a copy');
  assert.ok(Buffer.concat([header, pixels]).equals(Buffer.from(writeNifti(img))), 'writeNifti\'s bytes');
  const dir = mkdtempSync(join(tmpdir(), 'coreg-gzparts-'));
  try {
    const path = join(dir, 'out.nii.gz');
    const files = await imageFilePartsAsync(path, img);
    assert.ok(Array.isArray(files[0].data), 'the file as its buffers');
    writeFilesAtomic(files.map((p) => stageFile(p.path, p.data)));
    const back = readImageFile(path);
    assert.deepEqual(back.size, img.size);
    assert.deepEqual(back.spacing, img.spacing);
    assert.ok(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(f.buffer)));
    if (existsSync('/usr/bin/python3')) {
      const r = spawnSync('/usr/bin/python3', ['-c', 'import gzip,sys; a=gzip.open(sys.argv[1]).read(); print(len(a))', path], { encoding: 'utf8' });
      assert.equal(r.stdout.trim(), String(352 + f.byteLength), `Python's gzip module (${r.stderr})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The bounded gzip/zlib inflater against Node's zlib (an independent implementation): every block type and
// strategy, multi-member gzip, the declared-size limit, and damaged CRC-32 / ISIZE / Adler-32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { adler32, crc32, gunzipBounded, gunzipPrefix, inflateZlibBounded } from '../../src/io/compression.js';

function data(n: number, seed: number, mode: number): Uint8Array {
  const a = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = mode === 0 ? s >>> 24 : mode === 1 ? (s >>> 28 < 3 ? s >>> 24 : a[Math.max(0, i - 1 - ((s >>> 8) & 1023))]) : (i % 7) * 3;
  }
  return a;
}

test('inflate equals the input for every level and strategy (Node zlib compresses)', () => {
  for (const [t, n] of [0, 1, 100, 5000, 70000, 300000].entries()) {
    for (const mode of [0, 1, 2]) {
      const src = data(n, t + 1, mode);
      for (const level of [0, 1, 6, 9]) {
        for (const strategy of [constants.Z_DEFAULT_STRATEGY, constants.Z_FIXED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE]) {
          assert.deepEqual(gunzipBounded(gzipSync(src, { level, strategy }), n), src);
          assert.deepEqual(inflateZlibBounded(deflateSync(src, { level, strategy }), n), src);
          assert.deepEqual(inflateZlibBounded(deflateRawSync(src, { level, strategy }), n), src);
        }
      }
    }
  }
});

test('checksums match Node zlib', () => {
  const src = data(100000, 3, 1);
  const gz = gzipSync(src);
  assert.equal(crc32(src), gz.readUInt32LE(gz.length - 8));
  const z = deflateSync(src);
  assert.equal(adler32(src), z.readUInt32BE(z.length - 4));
});

test('no more than the declared size: "too large" as soon as it is exceeded', () => {
  const src = data(50000, 5, 1);
  assert.throws(() => gunzipBounded(gzipSync(src), 49999, 'the header declares'), /too large: .*49999 bytes the header declares/);
  assert.throws(() => inflateZlibBounded(deflateSync(src), 100), /too large/);
  // A bomb: 256 MiB of zeros in 1 MiB members stops at the limit at once.
  const one = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const bomb = Buffer.concat(Array.from({ length: 256 }, () => one));
  const t0 = performance.now();
  assert.throws(() => gunzipBounded(bomb, 1000), /too large/);
  assert.ok(performance.now() - t0 < 1000);
  assert.deepEqual(gunzipPrefix(gzipSync(src), 352), src.subarray(0, 352));
});

test('multi-member gzip and zero padding after it are read; damage is found', () => {
  const a = data(3000, 1, 1);
  const b = data(5000, 2, 0);
  const two = Buffer.concat([gzipSync(a), gzipSync(b), Buffer.alloc(16)]);
  assert.deepEqual(gunzipBounded(two, 8000), Uint8Array.from([...a, ...b]));
  const gz = gzipSync(data(20000, 9, 1));
  const crc = Buffer.from(gz);
  crc[crc.length - 6] ^= 1;
  assert.throws(() => gunzipBounded(crc, 20000), /CRC-32 mismatch/);
  const isize = Buffer.from(gz);
  isize.writeUInt32LE(123, isize.length - 4);
  assert.throws(() => gunzipBounded(isize, 20000), /size mismatch/);
  assert.throws(() => gunzipBounded(gz.subarray(0, gz.length - 3), 20000), /truncated/);
  assert.throws(() => gunzipBounded(Buffer.concat([gz, Buffer.from('junk')]), 20000), /unexpected bytes after/);
  const z = Buffer.from(deflateSync(data(20000, 4, 1)));
  z[z.length - 1] ^= 1;
  assert.throws(() => inflateZlibBounded(z, 20000), /Adler-32 mismatch/);
});

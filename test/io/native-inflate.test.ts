// Node's zlib behind the readers' zlib streams (io/node.ts installs it): the same bytes as the JS decoder on every
// level and strategy, and on any failure the JS decoder's exact message (Adler-32, truncation, limit, dictionary).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync, deflateSync } from 'node:zlib';
import { inflateZlibBounded, setNativeInflateZlib } from '../../src/io/compression.js';
import { nodeInflateZlib, readImageFile } from '../../src/io/node.js';
import { encodeImage } from '../../src/io/image-io.js';
import { createImage } from '../../src/image/image.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

function data(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s >>> 28 < 3 ? s >>> 24 : a[Math.max(0, i - 1 - ((s >>> 8) & 1023))];
  }
  return a;
}

/** inflateZlibBounded with the JS decoder only (the hook removed), then the hook put back as io/node.ts set it. */
function jsOnly<T>(f: () => T): T {
  setNativeInflateZlib(null);
  try {
    return f();
  } finally {
    setNativeInflateZlib(nodeInflateZlib);
  }
}

/** The message a call throws (or 'no error'). */
function messageOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  }
}

test('the native decoder is used for zlib streams and gives the JS decoder\'s bytes', () => {
  let calls = 0;
  setNativeInflateZlib((b, l) => (calls++, nodeInflateZlib(b, l)));
  try {
    for (const n of [0, 1, 100, 70000]) {
      const src = data(n, n + 1);
      for (const level of [0, 1, 6, 9]) {
        for (const strategy of [constants.Z_DEFAULT_STRATEGY, constants.Z_FIXED, constants.Z_RLE]) {
          const z = deflateSync(src, { level, strategy });
          const native = inflateZlibBounded(z, n);
          assert.deepEqual(native, src);
          assert.deepEqual(jsOnly(() => inflateZlibBounded(z, n)), native);
          // an array of its own (not a view into Node's shared pool)
          assert.equal(native.byteOffset, 0);
          assert.equal(native.buffer.byteLength, native.length);
        }
      }
    }
    assert.ok(calls > 0);
    // raw deflate (no zlib header) stays with the JS decoder
    const before = calls;
    const raw = data(5000, 7);
    assert.deepEqual(inflateZlibBounded(deflateRawSync(raw), 5000), raw);
    assert.equal(calls, before);
  } finally {
    setNativeInflateZlib(nodeInflateZlib);
  }
});

test('a stream the native decoder refuses gets the JS decoder\'s message', () => {
  const src = data(20000, 4);
  const z = Buffer.from(deflateSync(src));
  const adler = Buffer.from(z);
  adler[adler.length - 1] ^= 1;
  const cases: [Uint8Array, number][] = [
    [adler, 20000],
    [z.subarray(0, z.length - 2), 20000],
    [z.subarray(0, z.length >> 1), 20000],
    [z, 19999],
    [z, 100],
    [deflateSync(src, { dictionary: Buffer.from('abc') }), 20000],
  ];
  for (const [bytes, limit] of cases) {
    const expected = jsOnly(() => messageOf(() => inflateZlibBounded(bytes, limit, 'the header declares')));
    assert.notEqual(expected, 'no error');
    assert.equal(messageOf(() => inflateZlibBounded(bytes, limit, 'the header declares')), expected);
  }
  // trailing bytes after the checksum are ignored by both
  const trailing = Buffer.concat([z, Buffer.from([1, 2, 3])]);
  assert.deepEqual(inflateZlibBounded(trailing, 20000), src);
  assert.deepEqual(jsOnly(() => inflateZlibBounded(trailing, 20000)), src);
});

test('a PNG reads the same through the native decoder as through the JS one', () => {
  const img = createImage([37, 23], 'uint16');
  const d = img.data as Uint16Array;
  for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761) >>> 16;
  const dir = mkdtempSync(join(tmpdir(), 'coreg-native-inflate-'));
  try {
    const file = join(dir, 'a.png');
    writeFileSync(file, encodeImage(img, file)[0].bytes);
    const native = readImageFile(file);
    const js = jsOnly(() => readImageFile(file));
    assert.deepEqual(native.data, js.data);
    assert.deepEqual(native.data, img.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

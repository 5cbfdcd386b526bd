// gzipInPieces (io/node.ts): a gzip member deflated in independent pieces at once (pigz's layout). Node's gunzip, the
// JS decoder and Python's gzip module (an independent reader, when /usr/bin/python3 is there) give the bytes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { gunzipBounded, setNativeGunzip } from '../../src/io/compression.js';
import { gzipInPieces, nodeGunzip } from '../../src/io/node.js';

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

test('gzipInPieces: several pieces make one gzip member that every reader inflates to the same bytes', async () => {
  for (const [n, options] of [
    [(4 << 20) * 3 + 12345, { level: 6, strategy: constants.Z_RLE }],
    [(4 << 20) * 2, { level: 6 }],
    [1000, { level: 6 }],
  ] as const) {
    const bytes = data(n);
    const gz = await gzipInPieces(bytes, options);
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

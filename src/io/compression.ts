// gzip / zlib for the readers (runs in Node and browsers). Decompression is bounded: the caller says how many
// bytes the file's header declares, and inflating stops as soon as the data would exceed that (a zip bomb never
// gets further than its header promised). Every gzip member's CRC-32 and ISIZE and every zlib stream's Adler-32
// are checked, so that flipped bytes inside a compressed image are an error, not silently wrong pixels.
// Compression goes through fflate.
import { gzipSync, zlibSync } from 'fflate';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function gzip(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return gzipSync(bytes, { level });
}

export function deflateZlib(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return zlibSync(bytes, { level });
}

/** Thrown when compressed data would decompress to more than its header declares. Message starts "too large". */
export class DecompressLimitError extends Error {
  constructor(limit: number, what: string) {
    super(`too large: the compressed data decompresses to more than the ${limit} bytes ${what}`);
    this.name = 'DecompressLimitError';
  }
}

// ---- checksums -------------------------------------------------------------------------------------

let crcTable: Int32Array | undefined;

/** CRC-32 (gzip, PNG) of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  const t = crcTable;
  let c = -1;
  for (let i = start; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Adler-32 (zlib) of bytes[start, end). */
export function adler32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let a = 1;
  let b = 0;
  let i = start;
  while (i < end) {
    const stop = Math.min(end, i + 3800);
    for (; i < stop; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

// ---- raw DEFLATE (RFC 1951) ------------------------------------------------------------------------

const LENGTH_BASE = new Uint16Array([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]);
const LENGTH_EXTRA = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
const DIST_BASE = new Uint16Array([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]);
const DIST_EXTRA = new Uint8Array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A Huffman decoding table: entry (symbol << 4) | code length, indexed by the next `bits` input bits. */
interface HuffTable {
  table: Int32Array;
  bits: number;
}

function corrupt(what: string): Error {
  return new Error(`corrupt compressed data (${what})`);
}

function buildHuffman(lengths: Uint8Array, n: number): HuffTable {
  let maxBits = 0;
  const count = new Uint16Array(16);
  for (let i = 0; i < n; i++) {
    count[lengths[i]]++;
    if (lengths[i] > maxBits) maxBits = lengths[i];
  }
  const bits = Math.max(maxBits, 1);
  const table = new Int32Array(1 << bits);
  count[0] = 0;
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left = (left << 1) - count[len];
    if (left < 0) throw corrupt('over-subscribed Huffman code');
  }
  const next = new Uint16Array(16);
  for (let len = 1, code = 0; len <= 15; len++) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  for (let sym = 0; sym < n; sym++) {
    const len = lengths[sym];
    if (len === 0) continue;
    const code = next[len]++;
    let rev = 0;
    for (let k = 0; k < len; k++) rev |= ((code >> k) & 1) << (len - 1 - k);
    for (let i = rev; i < table.length; i += 1 << len) table[i] = (sym << 4) | len;
  }
  return { table, bits };
}

let fixedTables: [HuffTable, HuffTable] | undefined;
function fixedHuffman(): [HuffTable, HuffTable] {
  if (!fixedTables) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    const d = new Uint8Array(30).fill(5);
    fixedTables = [buildHuffman(l, 288), buildHuffman(d, 30)];
  }
  return fixedTables;
}

/** A growing output buffer that refuses to grow past `limit` bytes. */
class BoundedOutput {
  buf: Uint8Array;
  length = 0;
  constructor(
    readonly limit: number,
    initial: number,
    private readonly what: string,
  ) {
    this.buf = new Uint8Array(Math.max(1, Math.min(limit, initial)));
  }
  /** Makes room for `n` bytes in total (throws DecompressLimitError beyond the limit). */
  reserve(n: number): Uint8Array {
    if (n > this.limit) throw new DecompressLimitError(this.limit, this.what);
    if (n > this.buf.length) {
      const grown = new Uint8Array(Math.min(this.limit, Math.max(n, this.buf.length * 2)));
      grown.set(this.buf);
      this.buf = grown;
    }
    return this.buf;
  }
  result(): Uint8Array {
    return this.buf.length === this.length ? this.buf : this.buf.subarray(0, this.length);
  }
}

/**
 * Inflates the raw DEFLATE stream starting at byte `start` of `src`, appending to `out`. Returns the byte offset
 * just after the stream. With `stopAt`, returns early (-1) once `out` holds that many bytes.
 */
function inflateRaw(src: Uint8Array, srcLength: number, start: number, out: BoundedOutput, stopAt = Infinity): number {
  const totalBits = srcLength * 8;
  let p = start * 8; // bit position
  const memberStart = out.length;
  let o = out.length;
  let buf = out.buf;
  const lengths = new Uint8Array(320);
  const peek = (): number => {
    const i = p >>> 3;
    return ((src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> (p & 7)) >>> 0;
  };
  const readBits = (n: number): number => {
    const v = peek() & ((1 << n) - 1);
    p += n;
    return v;
  };
  const decode = (h: HuffTable): number => {
    const e = h.table[peek() & ((1 << h.bits) - 1)];
    const len = e & 15;
    if (len === 0) throw corrupt('invalid Huffman code');
    p += len;
    return e >> 4;
  };
  let final: number;
  do {
    if (p + 3 > totalBits) throw corrupt('truncated');
    final = readBits(1);
    const type = readBits(2);
    if (type === 0) {
      let i = (p + 7) >>> 3;
      if (i + 4 > srcLength) throw corrupt('truncated');
      const len = src[i] | (src[i + 1] << 8);
      const nlen = src[i + 2] | (src[i + 3] << 8);
      if (len !== (~nlen & 0xffff)) throw corrupt('stored block length check');
      i += 4;
      if (i + len > srcLength) throw corrupt('truncated');
      buf = out.reserve(o + len);
      buf.set(src.subarray(i, i + len), o);
      o += len;
      p = (i + len) * 8;
      out.length = o;
      if (o >= stopAt) return -1;
      continue;
    }
    let lit: HuffTable;
    let dist: HuffTable;
    if (type === 1) {
      [lit, dist] = fixedHuffman();
    } else if (type === 2) {
      const hlit = readBits(5) + 257;
      const hdist = readBits(5) + 1;
      const hclen = readBits(4) + 4;
      if (hlit > 286 || hdist > 30) throw corrupt('bad code counts');
      const cl = new Uint8Array(19);
      for (let i = 0; i < hclen; i++) cl[CODE_LENGTH_ORDER[i]] = readBits(3);
      const clTable = buildHuffman(cl, 19);
      lengths.fill(0);
      let i = 0;
      while (i < hlit + hdist) {
        if (p > totalBits) throw corrupt('truncated');
        const sym = decode(clTable);
        if (sym < 16) lengths[i++] = sym;
        else {
          let rep: number;
          let val = 0;
          if (sym === 16) {
            if (i === 0) throw corrupt('repeat with no previous length');
            val = lengths[i - 1];
            rep = 3 + readBits(2);
          } else if (sym === 17) rep = 3 + readBits(3);
          else rep = 11 + readBits(7);
          if (i + rep > hlit + hdist) throw corrupt('code lengths overflow');
          lengths.fill(val, i, i + rep);
          i += rep;
        }
      }
      if (lengths[256] === 0) throw corrupt('no end-of-block code');
      lit = buildHuffman(lengths.subarray(0, hlit), hlit);
      dist = buildHuffman(lengths.slice(hlit, hlit + hdist), hdist);
    } else {
      throw corrupt('invalid block type');
    }
    // The hot loop, with the bit reads inlined (src is padded, so reading 4 bytes past a position is safe).
    const lt = lit.table;
    const lmask = (1 << lit.bits) - 1;
    const dt = dist.table;
    const dmask = (1 << dist.bits) - 1;
    for (;;) {
      if (p > totalBits) throw corrupt('truncated');
      let i = p >>> 3;
      let e = lt[((src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> (p & 7)) & lmask];
      if ((e & 15) === 0) throw corrupt('invalid Huffman code');
      p += e & 15;
      const sym = e >> 4;
      if (sym < 256) {
        if (o >= buf.length) buf = out.reserve(o + 1);
        buf[o++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        const li = sym - 257;
        if (li >= 29) throw corrupt('invalid length code');
        let len = LENGTH_BASE[li];
        const lx = LENGTH_EXTRA[li];
        i = p >>> 3;
        let w = ((src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> (p & 7)) >>> 0;
        if (lx) {
          len += w & ((1 << lx) - 1);
          p += lx;
          w >>>= lx;
        }
        // lx ≤ 5 and p & 7 ≤ 7: at least 20 bits are left in w for the distance code (≤ 15 bits).
        e = dt[w & dmask];
        if ((e & 15) === 0) throw corrupt('invalid Huffman code');
        p += e & 15;
        const di = e >> 4;
        if (di >= 30) throw corrupt('invalid distance code');
        let d = DIST_BASE[di];
        const dx = DIST_EXTRA[di];
        if (dx) {
          i = p >>> 3;
          d += (((src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> (p & 7)) >>> 0) & ((1 << dx) - 1);
          p += dx;
        }
        if (d > o - memberStart) throw corrupt('distance too far back');
        if (o + len > buf.length) buf = out.reserve(o + len);
        if (d >= len && len > 8) {
          buf.copyWithin(o, o - d, o - d + len);
          o += len;
        } else {
          for (let k = 0; k < len; k++, o++) buf[o] = buf[o - d];
        }
      }
      if (o >= stopAt) {
        out.length = o;
        return -1;
      }
    }
    out.length = o;
  } while (!final);
  if (p > totalBits) throw corrupt('truncated');
  out.length = o;
  return (p + 7) >>> 3;
}

/** A copy with 8 zero bytes after the data, so that the inflater may read 4 bytes past any position. */
function padded(bytes: Uint8Array): Uint8Array {
  const p = new Uint8Array(bytes.length + 8);
  p.set(bytes);
  return p;
}

// ---- gzip (RFC 1952) and zlib (RFC 1950) -------------------------------------------------------------

/** Offset of the deflate data of the gzip member at `at`. */
function gzipHeaderEnd(bytes: Uint8Array, at: number): number {
  if (at + 10 > bytes.length) throw corrupt('truncated gzip header');
  if (bytes[at] !== 0x1f || bytes[at + 1] !== 0x8b) throw corrupt('not gzip data');
  if (bytes[at + 2] !== 8) throw corrupt(`unknown gzip compression method ${bytes[at + 2]}`);
  const flags = bytes[at + 3];
  let p = at + 10;
  if (flags & 4) {
    if (p + 2 > bytes.length) throw corrupt('truncated gzip header');
    p += 2 + (bytes[p] | (bytes[p + 1] << 8));
  }
  if (flags & 8) while (p < bytes.length && bytes[p++] !== 0);
  if (flags & 16) while (p < bytes.length && bytes[p++] !== 0);
  if (flags & 2) p += 2;
  if (p >= bytes.length) throw corrupt('truncated gzip header');
  return p;
}

/** The little-endian unsigned 32-bit integer at `at` (gzip's CRC-32 and ISIZE). */
export function readUint32LE(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** The bytes of `parts` one after another, in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A platform's own gunzip (bounded by `limit` output bytes); it throws on anything it does not decode. */
export type NativeGunzip = (bytes: Uint8Array, limit: number) => Uint8Array;
let nativeGunzip: NativeGunzip | null = null;

/**
 * Lets a platform adapter (io/node.ts: Node's zlib) decode gzip natively, several times faster than the decoder
 * below. Any failure there falls back to that decoder, which then reports the exact problem (CRC, ISIZE, limit).
 */
export function setNativeGunzip(f: NativeGunzip | null): void {
  nativeGunzip = f;
}

/** A platform's own inflate of one zlib stream (RFC 1950, Adler-32 checked), bounded by `limit` output bytes. */
export type NativeInflateZlib = (bytes: Uint8Array, limit: number) => Uint8Array;
let nativeInflateZlib: NativeInflateZlib | null = null;

/**
 * Lets a platform adapter decode zlib streams (PNG image data, MetaImage .zraw, NRRD zlib) natively, as
 * setNativeGunzip does for gzip: any failure there falls back to the decoder below for the exact message.
 */
export function setNativeInflateZlib(f: NativeInflateZlib | null): void {
  nativeInflateZlib = f;
}

/**
 * gunzip (every member), producing at most `limit` bytes; `what` says where the limit comes from (for the
 * message, e.g. "the header declares"). Checks each member's CRC-32 and ISIZE. Zero bytes after the last member
 * are ignored (padding); anything else there is an error.
 */
export function gunzipBounded(bytes: Uint8Array, limit: number, what = 'allowed'): Uint8Array {
  if (nativeGunzip) {
    try {
      return nativeGunzip(bytes, limit);
    } catch {
      // decoded again below, for the precise error
    }
  }
  const out = new BoundedOutput(limit, Math.min(limit, Math.max(bytes.length * 4, 1 << 16)), what);
  const src = padded(bytes);
  let at = 0;
  do {
    const begin = out.length;
    const end = inflateRaw(src, bytes.length, gzipHeaderEnd(bytes, at), out);
    if (end + 8 > bytes.length) throw corrupt('truncated: no gzip trailer');
    const crc = readUint32LE(bytes, end);
    const isize = readUint32LE(bytes, end + 4);
    const n = out.length - begin;
    if (crc32(out.buf, begin, out.length) !== crc) throw new Error('corrupt compressed data (gzip CRC-32 mismatch: the data is damaged)');
    if (n % 2 ** 32 !== isize) throw new Error(`size mismatch: the gzip trailer says ${isize} bytes, the data holds ${n}`);
    at = end + 8;
    while (at < bytes.length && bytes[at] === 0) at++;
    if (at < bytes.length && !(bytes[at] === 0x1f && at + 1 < bytes.length && bytes[at + 1] === 0x8b)) throw corrupt('unexpected bytes after the gzip data');
  } while (at < bytes.length);
  return out.result();
}

/** The first `n` decompressed bytes of a gzip stream (fewer if it is shorter); no checksum (it is partial). */
export function gunzipPrefix(bytes: Uint8Array, n: number): Uint8Array {
  const out = new BoundedOutput(n + (1 << 17), n, 'allowed');
  inflateRaw(padded(bytes.subarray(0, Math.min(bytes.length, n * 4 + 65536))), Math.min(bytes.length, n * 4 + 65536), gzipHeaderEnd(bytes, 0), out, n);
  return out.result().subarray(0, Math.min(n, out.length));
}

/** Inflates raw deflate data (RFC 1951, e.g. DICOM's deflated transfer syntax), at most `limit` bytes. */
export function inflateRawBounded(bytes: Uint8Array, limit: number, what = 'allowed'): Uint8Array {
  const out = new BoundedOutput(limit, Math.min(limit, Math.max(bytes.length * 4, 1 << 16)), what);
  inflateRaw(padded(bytes), bytes.length, 0, out);
  return out.result();
}

/** Inflates zlib-wrapped data (MetaImage .zraw; also gzip or raw deflate, as ITK's readers accept), at most `limit` bytes. */
export function inflateZlibBounded(bytes: Uint8Array, limit: number, what = 'allowed'): Uint8Array {
  if (isGzip(bytes)) return gunzipBounded(bytes, limit, what);
  const zlib = bytes.length >= 2 && (bytes[0] & 0x0f) === 8 && ((bytes[0] << 8) | bytes[1]) % 31 === 0;
  if (zlib && nativeInflateZlib && !(bytes[1] & 0x20)) {
    try {
      return nativeInflateZlib(bytes, limit);
    } catch {
      // decoded again below, for the precise error
    }
  }
  const out = new BoundedOutput(limit, Math.min(limit, Math.max(bytes.length * 4, 1 << 16)), what);
  const src = padded(bytes);
  if (!zlib) {
    inflateRaw(src, bytes.length, 0, out);
    return out.result();
  }
  if (bytes[1] & 0x20) throw corrupt('zlib preset dictionary is not supported');
  const end = inflateRaw(src, bytes.length, 2, out);
  if (end + 4 > bytes.length) throw corrupt('truncated: no zlib checksum');
  const sum = ((bytes[end] << 24) | (bytes[end + 1] << 16) | (bytes[end + 2] << 8) | bytes[end + 3]) >>> 0;
  if (adler32(out.buf, 0, out.length) !== sum) throw new Error('corrupt compressed data (zlib Adler-32 mismatch: the data is damaged)');
  return out.result();
}

// gzip / zlib through fflate (runs in Node and browsers); wraps its errors in a readable message.
import { gunzipSync, gzipSync, unzlibSync, zlibSync, decompressSync } from 'fflate';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** gunzip (all members); throws Error('truncated or corrupt gzip data') on bad input. */
export function gunzip(bytes: Uint8Array): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new Error(`truncated or corrupt gzip data (${(e as Error).message})`, { cause: e });
  }
}

export function gzip(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return gzipSync(bytes, { level });
}

/** Inflate zlib-wrapped data (MetaImage .zraw); also accepts gzip or raw deflate, as ITK's readers do. */
export function inflateZlib(bytes: Uint8Array): Uint8Array {
  try {
    return isGzip(bytes) ? gunzipSync(bytes) : bytes.length >= 2 && (bytes[0] & 0x0f) === 8 && ((bytes[0] << 8) | bytes[1]) % 31 === 0 ? unzlibSync(bytes) : decompressSync(bytes);
  } catch (e) {
    throw new Error(`truncated or corrupt compressed data (${(e as Error).message})`, { cause: e });
  }
}

export function deflateZlib(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return zlibSync(bytes, { level });
}

// The package (Cornerstone's JPEG lossless decoder, rii-mango/JPEGLosslessDecoderJS) ships no declarations:
// the part coreg uses.
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    constructor(buffer?: ArrayBuffer | null, numBytes?: number);
    /** Decoded samples (Uint8Array for 1 byte per sample, Uint16Array for 2; platform byte order). */
    decode(buffer?: ArrayBuffer, offset?: number, length?: number, numBytes?: number): Uint8Array | Uint16Array;
  }
}

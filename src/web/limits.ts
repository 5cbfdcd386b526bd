/**
 * How many pixels a file declares, read from its header before the file is decoded, and whether the page can
 * afford to register images that large. A declared size the browser cannot hold is refused with a message
 * instead of being allocated (which would fail, or take the tab down).
 */
import { Gunzip } from 'fflate';
import { concatBytes } from '../io/compression.js';

/** Bytes the app needs per voxel of the larger image: float copies, pyramid, warped, viewer pictures, files. */
export const BYTES_PER_VOXEL = 48;

function gunzipPrefix(bytes: Uint8Array, want: number): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let have = 0;
  const g = new Gunzip((chunk) => {
    parts.push(chunk);
    have += chunk.length;
  });
  try {
    for (let o = 0; o < bytes.length && have < want; o += 4096) g.push(bytes.subarray(o, Math.min(bytes.length, o + 4096)), false);
  } catch {
    return null;
  }
  if (have < want) return null;
  return concatBytes(parts);
}

function product(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

function textHeader(bytes: Uint8Array): string {
  return new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 8192)));
}

/** Voxels times components as the header states them; null when the header cannot be read here. */
export function declaredElements(bytes: Uint8Array, name: string): number | null {
  const lower = name.toLowerCase();
  if (lower.endsWith('.nrrd') || lower.endsWith('.nhdr')) {
    const m = /^sizes:\s*([0-9 \t]+)$/im.exec(textHeader(bytes));
    return m ? product(m[1].trim().split(/\s+/).map(Number)) : null;
  }
  if (lower.endsWith('.mha') || lower.endsWith('.mhd')) {
    const h = textHeader(bytes);
    const m = /^DimSize\s*=\s*([0-9 \t]+)$/im.exec(h);
    const c = /^ElementNumberOfChannels\s*=\s*(\d+)/im.exec(h);
    return m ? product(m[1].trim().split(/\s+/).map(Number)) * (c ? Number(c[1]) : 1) : null;
  }
  if (lower.endsWith('.png')) {
    if (bytes.length < 24) return null;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return v.getUint32(16, false) * v.getUint32(20, false) * 4;
  }
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz') || lower.endsWith('.hdr')) {
    const head = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipPrefix(bytes, 540) ?? gunzipPrefix(bytes, 348) : bytes;
    if (!head || head.length < 348) return null;
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    for (const little of [true, false]) {
      const sizeofHdr = v.getInt32(0, little);
      if (sizeofHdr === 348) {
        const n = Math.min(7, Math.max(1, v.getInt16(40, little)));
        const dims: number[] = [];
        for (let i = 1; i <= n; i++) dims.push(Math.max(1, v.getInt16(40 + 2 * i, little)));
        return product(dims);
      }
      if (sizeofHdr === 540 && head.length >= 540) {
        const n = Math.min(7, Math.max(1, Number(v.getBigInt64(16, little))));
        const dims: number[] = [];
        for (let i = 1; i <= n; i++) dims.push(Math.max(1, Number(v.getBigInt64(16 + 8 * i, little))));
        return product(dims);
      }
    }
  }
  return null;
}

/** The memory the page allows itself: ?memoryMB=…, else half the device memory the browser reports, else 2 GB. */
export function memoryBudgetBytes(params: URLSearchParams, deviceMemoryGB: number | undefined): number {
  const given = Number(params.get('memoryMB'));
  if (given > 0) return given * 2 ** 20;
  if (deviceMemoryGB && deviceMemoryGB > 0) return Math.max(1, deviceMemoryGB / 2) * 2 ** 30;
  return 2 * 2 ** 30;
}

/** A message when `elements` voxels are too many for `budget` bytes, else null. */
export function tooLargeMessage(elements: number, budget: number): string | null {
  const need = elements * BYTES_PER_VOXEL;
  if (need <= budget) return null;
  const mb = (b: number): string => `${Math.round(b / 2 ** 20)} MB`;
  return `too large for this browser's memory: ${elements.toLocaleString('en')} values need about ${mb(need)}, the page allows ${mb(budget)}`;
}

/**
 * Shared memory for images sent to workers: pixels on a SharedArrayBuffer reach every worker without a copy.
 * SharedArrayBuffer exists in Node and in cross-origin-isolated pages; elsewhere images are copied instead.
 */
import type { Image, PixelArray } from '../image/image.js';

export function sharedMemoryAvailable(): boolean {
  return typeof SharedArrayBuffer === 'function';
}

/** The same pixel values on a SharedArrayBuffer (the array itself when it already is, or when sharing is unavailable). */
export function sharePixels<T extends PixelArray>(data: T): T {
  if (!sharedMemoryAvailable() || data.buffer instanceof SharedArrayBuffer) return data;
  const Ctor = data.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(data.byteLength));
  out.set(data as never);
  return out;
}

/** A plain copy of `image`'s geometry with its pixels on shared memory, ready to post to any number of workers. */
export function shareImage(image: Image): Image {
  return {
    dimension: image.dimension,
    size: [...image.size],
    spacing: [...image.spacing],
    origin: [...image.origin],
    direction: [...image.direction],
    components: image.components,
    data: sharePixels(image.data),
  };
}

/** The buffers of `images` that can be moved (transferred) to another thread: those not on shared memory. */
export function transferables(images: readonly (Image | undefined)[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const img of images) {
    const b = img?.data.buffer;
    if (b instanceof ArrayBuffer && !out.includes(b)) out.push(b);
  }
  return out;
}

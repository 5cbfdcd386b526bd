/**
 * Image pixels as the interpolation kernels read them: one float plane per component (uint8…int16 and float32
 * images as Float32Array, wider types as Float64Array) so that the kernels stay monomorphic.
 */
import type { Image } from '../image/image.js';
import type { Plane } from './kernels.js';

/** One component of `image` as a float plane for the kernels (no copy when it already is one). */
export function interpolationPlane(image: Image, component = 0, allocate?: (n: number, wide: boolean) => Plane): Plane {
  const data = image.data;
  const nc = image.components;
  if (nc === 1 && (data instanceof Float32Array || data instanceof Float64Array)) return data;
  const n = data.length / nc;
  const wide = data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint32Array;
  // `allocate`: where a converted plane goes (e.g. shared memory), instead of a plain array
  const plane = allocate ? allocate(n, wide) : wide ? new Float64Array(n) : new Float32Array(n);
  // (one component: the engine's own converting copy, ~2× a loop's speed on a full-resolution head)
  if (nc === 1) plane.set(data);
  else for (let i = 0, p = component; i < n; i++, p += nc) plane[i] = data[p];
  return plane;
}

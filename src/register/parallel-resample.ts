/**
 * Resampling on a team of threads (parallel-for.ts): register's warped.nii.gz and inverse-warped.nii.gz.
 *
 * The chain travels to the helpers as data (a linear element as its matrix and offset, a B-spline as its grid and
 * coefficients, a displacement field as its image) and every thread, the calling one included, rebuilds it from
 * that data; the output rows are cut into blocks (one slice in 3D) that do not depend on the thread count, and
 * every voxel is computed by the same code from the same numbers, so the image is bit-identical for any number of
 * threads. A chain holding another kind of transform is resampled serially (the same for every thread count).
 */
import type { GridLike, Image, PixelArray } from '../image/image.js';
import { prepareResample, resampleRowCount, resampleRows, type ResampleOptions, type ResampleSetup } from '../resample/resample.js';
import { BSplineTransform, type BSplineGridSpec } from '../transform/bspline.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import { AffineTransform } from '../transform/linear.js';
import { isLinear, type Transform } from '../transform/transform.js';
import { shareArray, sharedFloat32, sharedFloat64, type BlockKernel, type ParallelFor, type SharedScratch } from './parallel-for.js';

/** One element of a chain as plain data. */
export type TransformData =
  | { type: 'linear'; dimension: 2 | 3; matrix: number[]; offset: number[] }
  | { type: 'bspline'; grid: BSplineGridSpec; parameters: Float64Array }
  | { type: 'field'; field: Image; name: string };

/** The chain as data (typed arrays on shared memory), or null when an element has no data form here. */
export function chainData(chain: readonly Transform[]): TransformData[] | null {
  const out: TransformData[] = [];
  for (const t of chain) {
    if (isLinear(t)) out.push({ type: 'linear', dimension: t.dimension, matrix: Array.from(t.matrix()), offset: Array.from(t.offset()) });
    else if (t instanceof BSplineTransform) {
      out.push({
        type: 'bspline',
        grid: { dimension: t.dimension, gridSize: [...t.gridSize], gridOrigin: [...t.gridOrigin], gridSpacing: [...t.gridSpacing], gridDirection: [...t.gridDirection] },
        parameters: shareArray(t.parameters),
      });
    } else if (t instanceof DisplacementFieldTransform) {
      const f = t.field;
      out.push({ type: 'field', name: 'displacement field', field: { ...f, size: f.size.slice(), data: shareArray(f.data as Float32Array) } });
    } else return null;
  }
  return out;
}

/** The chain rebuilt from its data (the same numbers in every thread). */
export function chainFromData(data: readonly TransformData[]): Transform[] {
  return data.map((e) => {
    if (e.type === 'linear') {
      const t = new AffineTransform(e.dimension);
      t.fitMapping(e.matrix, e.offset);
      return t;
    }
    if (e.type === 'bspline') {
      const t = new BSplineTransform(e.grid);
      t.setParameters(e.parameters);
      return t;
    }
    return new DisplacementFieldTransform(e.field, e.name);
  });
}

export interface ResampleKernelInit {
  setup: ResampleSetup;
  chain: TransformData[];
  out: PixelArray;
  rowsPerBlock: number;
}

/** One phase: block b = output rows [b·rowsPerBlock, (b+1)·rowsPerBlock). */
export function resampleKernel(init: ResampleKernelInit): readonly BlockKernel[] {
  const rows = resampleRows(init.setup, chainFromData(init.chain), init.out);
  const total = resampleRowCount(init.setup);
  const n = init.rowsPerBlock;
  return [(b: number) => rows(b * n, Math.min(total, (b + 1) * n))];
}

/** Output voxels from which resampling runs on the team (a 2D slice of 256² does not; a 64³ volume does). */
export const MIN_PARALLEL_VOXELS = 1 << 18;
/** Output voxels from which resampling stays on the calling thread again (memory; 256³ and a CT do). */
export const MAX_PARALLEL_VOXELS = 1 << 24;

/** Rows per block: one slice in 3D, about 64 blocks in 2D (never depends on the thread count). */
function rowsPerBlock(reference: GridLike): number {
  return reference.dimension === 3 ? reference.size[1] : Math.max(1, Math.ceil(reference.size[1] / 64));
}

/**
 * resample(moving, reference, chain, opts) with its rows split over `team`'s threads; the same pixels for any
 * thread count (also without a team).
 */
export async function resampleOn(
  team: ParallelFor | undefined,
  moving: Image,
  reference: GridLike,
  transforms: readonly Transform[],
  opts: ResampleOptions = {},
  /** Where the shared plane and output go on a team (default: new SharedArrayBuffers). */
  scratch?: SharedScratch,
): Promise<Image> {
  // Small images are not worth a session (its start costs more than the rows), and huge ones stay on this thread
  // too: their shared copies are not collected promptly (a helper's session keeps them), which cost a
  // 512×512×300 CT 0.75 GB more peak memory. The pixels are the same either way.
  const voxels = reference.size.reduce((a, b) => a * b, 1);
  const parallel = team !== undefined && team.threads > 1 && voxels >= MIN_PARALLEL_VOXELS && voxels < MAX_PARALLEL_VOXELS;
  // On a team the pixels are read by every thread: a single-component image goes to shared memory once, already
  // as the float plane linear sampling reads (not as a private plane and then a shared copy of it).
  const kind = opts.interpolation ?? 'linear';
  const source = parallel && moving.components === 1 && (kind === 'linear' || kind === 'barycentric') ? sharedPlaneImage(moving, scratch) : moving;
  const { setup, chain, out } = prepareResample(source, reference, transforms, opts);
  const data = chainData(chain);
  const total = resampleRowCount(setup);
  if (!data) {
    resampleRows(setup, chain, out.data)(0, total);
    return out;
  }
  const n = rowsPerBlock(setup.reference);
  const blocks = Math.ceil(total / n);
  if (!parallel) {
    resampleRows(setup, chainFromData(data), out.data)(0, total);
    return out;
  }
  const shared: ResampleSetup = { ...setup, sources: setup.sources.map((s) => shareArray(s)) };
  const init: ResampleKernelInit = { setup: shared, chain: data, out: sharedLike(out.data, scratch), rowsPerBlock: n };
  const session = await team!.open('register.resample', init, resampleKernel(init));
  try {
    session.run(0, blocks);
  } finally {
    session.close();
  }
  return { ...out, data: init.out };
}

/** A one-component image with its pixels as a float plane on shared memory (float64 for 32-bit integers and float64, as interpolationPlane). */
function sharedPlaneImage(img: Image, scratch?: SharedScratch): Image {
  const d = img.data;
  if ((d instanceof Float32Array || d instanceof Float64Array) && typeof SharedArrayBuffer === 'function' && d.buffer instanceof SharedArrayBuffer) return img;
  const wide = d instanceof Float64Array || d instanceof Int32Array || d instanceof Uint32Array;
  // (every element is set below: the scratch's old bytes need no zeroing)
  const plane = scratch ? scratchArray(scratch, (wide ? Float64Array : Float32Array) as PixelArrayConstructor<Float32Array | Float64Array>, d.length, false) : wide ? sharedFloat64(d.length) : sharedFloat32(d.length);
  plane.set(d as ArrayLike<number>);
  return { ...img, data: plane };
}

/** An array of the same type and length as `a` on shared memory (zeros: every row is written). */
function sharedLike(a: PixelArray, scratch?: SharedScratch): PixelArray {
  if (typeof SharedArrayBuffer !== 'function') return a;
  if (scratch) return scratchArray(scratch, a.constructor as PixelArrayConstructor, a.length, true);
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => PixelArray;
  return new Ctor(new SharedArrayBuffer(a.byteLength));
}

type PixelArrayConstructor<T extends PixelArray = PixelArray> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** n elements of `Ctor` in `scratch`, which may hold an earlier image's bytes: zeroed when `zero`. */
function scratchArray<T extends PixelArray>(scratch: SharedScratch, Ctor: PixelArrayConstructor<T>, n: number, zero: boolean): T {
  const bytes = scratch.bytes(n * Ctor.BYTES_PER_ELEMENT);
  if (zero) bytes.fill(0);
  return new Ctor(bytes.buffer, bytes.byteOffset, n);
}

/**
 * ITK's HDF5 transform files (`.h5`; ANTs' composite transforms), through h5wasm (HDF5 compiled to WebAssembly:
 * the same code in Node and in browsers). ITK's HDF5TransformIO layout:
 *   /TransformGroup/<i>/TransformType              one string, e.g. "AffineTransform_double_3_3"
 *   /TransformGroup/<i>/TransformParameters        float64 array
 *   /TransformGroup/<i>/TransformFixedParameters   float64 array
 * A composite is group 0 ("CompositeTransform_double_D_D", no parameter datasets) followed by its components in
 * ITK's queue order (the last applies first, as in .tfm files; coreg reverses them). A
 * DisplacementFieldTransform's fixed parameters are the field grid (size, origin, spacing, direction row-major)
 * and its parameters the displacements (LPS mm, d per pixel, x fastest).
 *
 * h5wasm loads asynchronously (≈ 0.4 s): call `initHdf5()` once before parsing or formatting.
 */
import { CoregError } from '../errors.js';
import { createImage } from '../image/image.js';
import { DisplacementFieldTransform } from './displacement-field.js';
import { formatItkTransformFile, parseItkTransformFile } from './itk-tfm.js';
import { isLinear, type ItkWritable, type Transform } from './transform.js';
import { toAffine } from './linear.js';

interface H5Entity {
  keys?(): string[];
  get?(name: string): H5Entity | null;
  readonly value?: unknown;
  create_group?(name: string): H5Entity;
  create_dataset?(args: { name: string; data: unknown }): unknown;
}

interface H5File extends H5Entity {
  close(): unknown;
}

interface H5Lib {
  File: new (name: string, mode: string) => H5File;
}

interface H5Fs {
  writeFile(path: string, data: Uint8Array): void;
  readFile(path: string): Uint8Array;
  unlink(path: string): void;
}

let lib: H5Lib | undefined;
let fs: H5Fs | undefined;
let counter = 0;

/** Loads h5wasm (once). */
export async function initHdf5(): Promise<void> {
  if (lib) return;
  const mod = (await import('h5wasm')) as unknown as { default: H5Lib & { ready: Promise<{ FS: H5Fs }> } };
  const h5 = mod.default;
  const module = await h5.ready;
  fs = module.FS;
  lib = h5;
}

/** True once initHdf5() has finished. */
export function hdf5Ready(): boolean {
  return lib !== undefined;
}

function need(fileName: string): { lib: H5Lib; fs: H5Fs } {
  if (!lib || !fs) throw new CoregError(fileName, 'the HDF5 reader is not loaded (call initHdf5() first)');
  return { lib, fs };
}

function asNumbers(v: unknown, what: string, fileName: string): Float64Array {
  if (v === null || v === undefined) return new Float64Array(0);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Float64Array.from(v as unknown as ArrayLike<number>);
  if (typeof v === 'number') return Float64Array.of(v);
  if (Array.isArray(v)) return Float64Array.from(v.flat(8) as number[]);
  throw new CoregError(fileName, `${what} is not a numeric array`);
}

function asString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  if (v instanceof Uint8Array) return new TextDecoder().decode(v).replace(/\0+$/, '');
  return String(v);
}

/** Reads an ITK HDF5 transform file (coreg order: the first transform applies first). */
export function parseItkHdf5Transform(bytes: Uint8Array, fileName: string): Transform[] {
  const { lib: h5, fs: mem } = need(fileName);
  if (bytes.length < 8 || bytes[0] !== 0x89 || bytes[1] !== 0x48 || bytes[2] !== 0x44 || bytes[3] !== 0x46) {
    throw new CoregError(fileName, 'not an HDF5 file');
  }
  const path = `/coreg-read-${counter++}.h5`;
  mem.writeFile(path, bytes);
  let file: H5File | undefined;
  try {
    try {
      file = new h5.File(path, 'r');
    } catch (e) {
      throw new CoregError(fileName, `cannot be read as HDF5 (${(e as Error).message})`);
    }
    const group = file.get?.('TransformGroup');
    if (!group || typeof group.keys !== 'function') throw new CoregError(fileName, 'no /TransformGroup (not an ITK transform file)');
    const names = group.keys().filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    if (names.length === 0) throw new CoregError(fileName, '/TransformGroup holds no transform');
    const blocks = names.map((n) => {
      const g = group.get!(n);
      const type = g?.get?.('TransformType');
      if (!g || !type) throw new CoregError(fileName, `/TransformGroup/${n} has no TransformType`);
      return {
        type: asString(type.value),
        parameters: asNumbers(g.get!('TransformParameters')?.value, `/TransformGroup/${n}/TransformParameters`, fileName),
        fixed: asNumbers(g.get!('TransformFixedParameters')?.value, `/TransformGroup/${n}/TransformFixedParameters`, fileName),
      };
    });
    const composite = /^CompositeTransform_/.test(blocks[0].type);
    const parts = composite ? blocks.slice(1) : blocks;
    if (!composite && parts.length > 1) throw new CoregError(fileName, 'several transforms without a CompositeTransform');
    const out: Transform[] = [];
    for (const b of parts) {
      const m = /^(DisplacementFieldTransform)_(double|float)_([23])_([23])$/.exec(b.type);
      if (m) {
        out.push(fieldFromParameters(b.parameters, b.fixed, Number(m[3]) as 2 | 3, fileName));
        continue;
      }
      if (/^CompositeTransform_/.test(b.type)) throw new CoregError(fileName, 'a nested composite transform is not supported');
      const text = `#Insight Transform File V1.0\n#Transform 0\nTransform: ${b.type}\nParameters: ${Array.from(b.parameters).map(String).join(' ')}\nFixedParameters: ${Array.from(b.fixed).map(String).join(' ')}\n`;
      out.push(...parseItkTransformFile(text, fileName));
    }
    for (const t of out) if (t.dimension !== out[0].dimension) throw new CoregError(fileName, 'mixes 2D and 3D transforms');
    // ITK's queue applies its last component first.
    return composite ? out.reverse() : out;
  } finally {
    file?.close();
    mem.unlink(path);
  }
}

function fieldFromParameters(params: Float64Array, fixed: Float64Array, d: 2 | 3, fileName: string): DisplacementFieldTransform {
  if (fixed.length !== d * (d + 3)) throw new CoregError(fileName, `DisplacementFieldTransform: expected ${d * (d + 3)} fixed parameters, got ${fixed.length}`);
  const size = Array.from(fixed.subarray(0, d));
  if (size.some((s) => !Number.isInteger(s) || s < 1)) throw new CoregError(fileName, 'DisplacementFieldTransform: bad field size');
  const count = size.reduce((a, b) => a * b, 1);
  if (params.length !== count * d) throw new CoregError(fileName, `DisplacementFieldTransform: expected ${count * d} parameters, got ${params.length}`);
  const image = createImage(size, 'float64', {
    origin: Array.from(fixed.subarray(d, 2 * d)),
    spacing: Array.from(fixed.subarray(2 * d, 3 * d)),
    direction: Array.from(fixed.subarray(3 * d)),
    components: d,
  });
  (image.data as Float64Array).set(params);
  return new DisplacementFieldTransform(image, fileName);
}

function itkBlock(t: Transform): { type: string; parameters: Float64Array; fixed: Float64Array } {
  if (t instanceof DisplacementFieldTransform) {
    const f = t.field;
    const d = f.dimension;
    return {
      type: `DisplacementFieldTransform_double_${d}_${d}`,
      parameters: Float64Array.from(f.data as ArrayLike<number>),
      fixed: Float64Array.from([...f.size, ...f.origin, ...f.spacing, ...f.direction]),
    };
  }
  const writable = t as Partial<ItkWritable>;
  const data = typeof writable.toItkTransform === 'function' ? writable.toItkTransform() : isLinear(t) ? toAffine(t).toItkTransform() : undefined;
  if (!data) {
    // Fails with the .tfm writer's message for transforms ITK files cannot hold.
    formatItkTransformFile([t]);
    throw new CoregError('transform', `a "${t.kind}" transform cannot be written to an ITK transform file`);
  }
  return { type: data.type, parameters: Float64Array.from(data.parameters), fixed: Float64Array.from(data.fixedParameters) };
}

/** Writes a chain as an ITK HDF5 transform file (several transforms: a CompositeTransform, as ANTs writes). */
export function formatItkHdf5Transform(chain: readonly Transform[]): Uint8Array {
  const { lib: h5, fs: mem } = need('transform');
  if (chain.length === 0) throw new CoregError('transform', 'nothing to write (empty chain)');
  const d = chain[0].dimension;
  const blocks = chain.length === 1 ? [itkBlock(chain[0])] : chain.slice().reverse().map(itkBlock);
  const path = `/coreg-write-${counter++}.h5`;
  const file = new h5.File(path, 'w');
  try {
    for (const [name, value] of [['ITKVersion', '5.0.0'], ['HDFVersion', 'h5wasm'], ['OSName', 'coreg'], ['OSVersion', '']]) {
      file.create_dataset!({ name, data: [value] });
    }
    const group = file.create_group!('TransformGroup');
    let i = 0;
    if (chain.length > 1) {
      group.create_group!(String(i++)).create_dataset!({ name: 'TransformType', data: [`CompositeTransform_double_${d}_${d}`] });
    }
    for (const b of blocks) {
      const g = group.create_group!(String(i++));
      g.create_dataset!({ name: 'TransformType', data: [b.type] });
      g.create_dataset!({ name: 'TransformFixedParameters', data: b.fixed });
      g.create_dataset!({ name: 'TransformParameters', data: b.parameters });
    }
  } finally {
    file.close();
  }
  const bytes = mem.readFile(path);
  mem.unlink(path);
  return Uint8Array.from(bytes);
}

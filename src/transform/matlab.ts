/**
 * ITK/ANTs binary transform files (`.mat`): ITK's MatlabTransformIO writes each transform as two MATLAB v4
 * (level 1) matrices, the parameters named by the transform type (e.g. "AffineTransform_double_3_3", ANTs'
 * "MatrixOffsetTransformBase_double_3_3") and the fixed parameters named "fixed".
 *
 * A MATLAB v4 matrix: five int32 (type = M·1000 + O·100 + P·10 + T, rows, columns, imaginary flag, name
 * length with its NUL), the name, then the values column by column. M: 0 little-endian, 1 big-endian; P: 0
 * double, 1 float, 2 int32, 3 int16, 4 uint16, 5 uint8; T: 0 full numeric matrix.
 */
import { CoregError } from '../errors.js';
import { parseItkTransformFile } from './itk-tfm.js';
import { composeLinear } from './linear.js';
import { isLinear, type Transform } from './transform.js';

interface MatlabMatrix {
  name: string;
  values: Float64Array;
}

const ELEMENT_BYTES = [8, 4, 4, 2, 2, 1];

function readMatrices(bytes: Uint8Array, fileName: string): MatlabMatrix[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: MatlabMatrix[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (pos + 20 > bytes.length) throw new CoregError(fileName, 'truncated MATLAB v4 header');
    let little = true;
    let type = view.getInt32(pos, true);
    if (type < 0 || type > 9999) {
      type = view.getInt32(pos, false);
      little = false;
    }
    const m = Math.floor(type / 1000);
    const o = Math.floor(type / 100) % 10;
    const prec = Math.floor(type / 10) % 10;
    const t = type % 10;
    if (type < 0 || type > 9999 || (m !== 0 && m !== 1) || o !== 0 || t !== 0 || prec > 5 || (m === 1) === little) {
      throw new CoregError(fileName, 'not an ITK binary transform file (MATLAB v4 matrices)');
    }
    const rows = view.getInt32(pos + 4, little);
    const cols = view.getInt32(pos + 8, little);
    const imag = view.getInt32(pos + 12, little);
    const namlen = view.getInt32(pos + 16, little);
    if (rows < 0 || cols < 0 || namlen < 1 || namlen > 1024 || imag !== 0) throw new CoregError(fileName, 'bad MATLAB v4 matrix header');
    pos += 20;
    if (pos + namlen > bytes.length) throw new CoregError(fileName, 'truncated MATLAB v4 matrix name');
    let name = '';
    for (let i = 0; i < namlen; i++) {
      const c = bytes[pos + i];
      if (c === 0) break;
      name += String.fromCharCode(c);
    }
    pos += namlen;
    const count = rows * cols;
    const size = ELEMENT_BYTES[prec];
    if (count > 1e8 || pos + count * size > bytes.length) throw new CoregError(fileName, `truncated MATLAB v4 matrix "${name}"`);
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const p = pos + i * size;
      switch (prec) {
        case 0: values[i] = view.getFloat64(p, little); break;
        case 1: values[i] = view.getFloat32(p, little); break;
        case 2: values[i] = view.getInt32(p, little); break;
        case 3: values[i] = view.getInt16(p, little); break;
        case 4: values[i] = view.getUint16(p, little); break;
        default: values[i] = view.getUint8(p);
      }
      if (!Number.isFinite(values[i])) throw new CoregError(fileName, `matrix "${name}" holds a non-finite value`);
    }
    pos += count * size;
    out.push({ name, values });
  }
  return out;
}

/** True when the bytes start like a MATLAB v4 matrix (and are not text). */
export function looksLikeMatlabV4(bytes: Uint8Array): boolean {
  if (bytes.length < 20) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true);
  const be = view.getInt32(0, false);
  return (le >= 0 && le < 100 && le % 10 === 0) || (be >= 1000 && be < 1100 && be % 10 === 0);
}

/** Reads an ITK/ANTs binary .mat transform file (one or more transforms, in file order). */
export function parseItkMatlabTransform(bytes: Uint8Array, fileName: string): Transform[] {
  const mats = readMatrices(bytes, fileName);
  if (mats.length === 0 || mats.length % 2 !== 0) throw new CoregError(fileName, 'expected pairs of parameter and "fixed" matrices');
  const lines = ['#Insight Transform File V1.0'];
  for (let i = 0; i < mats.length; i += 2) {
    const [params, fixed] = [mats[i], mats[i + 1]];
    if (fixed.name !== 'fixed') throw new CoregError(fileName, `matrix ${i + 1} should be named "fixed", got "${fixed.name}"`);
    if (!/^[A-Za-z][A-Za-z0-9]*_(double|float)_[23]_[23]$/.test(params.name)) {
      throw new CoregError(fileName, `unsupported transform type "${params.name}"`);
    }
    lines.push(`#Transform ${i / 2}`, `Transform: ${params.name}`, `Parameters: ${Array.from(params.values).map(String).join(' ')}`, `FixedParameters: ${Array.from(fixed.values).map(String).join(' ')}`);
  }
  return parseItkTransformFile(lines.join('\n') + '\n', fileName);
}

function matrixBytes(name: string, values: ArrayLike<number>): Uint8Array {
  const namlen = name.length + 1;
  const out = new Uint8Array(20 + namlen + values.length * 8);
  const view = new DataView(out.buffer);
  view.setInt32(0, 0, true); // little-endian double full matrix
  view.setInt32(4, values.length, true); // rows: a column vector, as ITK writes it
  view.setInt32(8, 1, true);
  view.setInt32(12, 0, true);
  view.setInt32(16, namlen, true);
  for (let i = 0; i < name.length; i++) out[20 + i] = name.charCodeAt(i);
  for (let i = 0; i < values.length; i++) view.setFloat64(20 + namlen + i * 8, values[i], true);
  return out;
}

/**
 * Writes a linear chain as one ITK binary .mat file (the composed AffineTransform_double_D_D, centre 0, as ANTs
 * writes affines). Non-linear chains cannot be stored in this format.
 */
export function formatItkMatlabTransform(chain: readonly Transform[]): Uint8Array {
  if (chain.length === 0) throw new CoregError('transform', 'nothing to write (empty chain)');
  if (!chain.every(isLinear)) throw new CoregError('transform', 'a .mat file holds one linear transform; this chain has non-linear parts (write .h5 or .tfm files)');
  const a = composeLinear(chain.filter(isLinear));
  const d = a.dimension;
  const data = a.toItkTransform();
  const p = matrixBytes(`AffineTransform_double_${d}_${d}`, data.parameters);
  const f = matrixBytes('fixed', data.fixedParameters);
  const out = new Uint8Array(p.length + f.length);
  out.set(p, 0);
  out.set(f, p.length);
  return out;
}

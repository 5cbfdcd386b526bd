/**
 * ITK's text transform format ("#Insight Transform File V1.0", .tfm/.txt), read and written exactly as ITK's
 * TxtTransformIO does: one "#Transform N" block per transform with "Transform:", "Parameters:" and
 * "FixedParameters:" lines, numbers in shortest round-trip form.
 *
 * Order: ITK's CompositeTransform applies the LAST-added transform first (its queue is applied back to front),
 * and a file lists the composite's queue front to back. coreg's lists apply their FIRST element first, so a
 * composite's components are reversed on reading and on writing.
 */
import { CoregError } from '../errors.js';
import {
  AffineTransform,
  Euler2DTransform,
  Euler3DTransform,
  type MatrixOffsetTransform,
  Similarity2DTransform,
  Similarity3DTransform,
  toAffine,
  TranslationTransform,
  VersorRigid3DTransform,
} from './linear.js';
import { readItkBSpline } from './bspline-tfm.js';
import { readItkThinPlateSpline } from './tps.js';
import { isLinear, type ItkTransformBlock, type ItkTransformData, type ItkTransformReader, type ItkWritable, type Transform } from './transform.js';

/**
 * The transform types coreg reads from ITK files, by ITK class name (without "_double_D_D"; the double and float
 * spellings and both dimensions are routed to the same reader, which may throw for a dimension it does not
 * support). To read more types, pass an extended copy to parseItkTransformFile.
 */
export type ItkTransformReaders = Readonly<Record<string, ItkTransformReader>>;

function blockLabel(b: ItkTransformBlock): string {
  return `transform ${b.index} (${b.type})`;
}

function expectCounts(b: ItkTransformBlock, fileName: string, nParams: number, nFixed: readonly number[]): void {
  if (b.parameters.length !== nParams) {
    throw new CoregError(fileName, `${blockLabel(b)}: expected ${nParams} parameters, got ${b.parameters.length}`);
  }
  if (!nFixed.includes(b.fixedParameters.length)) {
    throw new CoregError(fileName, `${blockLabel(b)}: expected ${nFixed.join(' or ')} fixed parameters, got ${b.fixedParameters.length}`);
  }
}

function linearReader(make: (d: 2 | 3) => MatrixOffsetTransform, dims: readonly (2 | 3)[]): ItkTransformReader {
  return (b, fileName) => {
    if (!dims.includes(b.dimension)) throw new CoregError(fileName, `unsupported transform type "${b.type}"`);
    const t = make(b.dimension);
    const fixedCounts = t instanceof TranslationTransform ? [0] : t instanceof Euler3DTransform ? [3, 4] : [b.dimension];
    expectCounts(b, fileName, t.numberOfParameters, fixedCounts);
    t.setFixedParameters(b.fixedParameters);
    t.setParameters(b.parameters);
    return t;
  };
}

/** Every transform type coreg reads: ITK's linear transforms, B-splines and thin-plate splines. */
export const ITK_TRANSFORM_READERS: ItkTransformReaders = Object.freeze({
  AffineTransform: linearReader((d) => new AffineTransform(d), [2, 3]),
  MatrixOffsetTransformBase: linearReader((d) => new AffineTransform(d), [2, 3]),
  TranslationTransform: linearReader((d) => new TranslationTransform(d), [2, 3]),
  Euler2DTransform: linearReader(() => new Euler2DTransform(), [2]),
  Similarity2DTransform: linearReader(() => new Similarity2DTransform(), [2]),
  Euler3DTransform: linearReader(() => new Euler3DTransform(), [3]),
  VersorRigid3DTransform: linearReader(() => new VersorRigid3DTransform(), [3]),
  Similarity3DTransform: linearReader(() => new Similarity3DTransform(), [3]),
  BSplineTransform: readItkBSpline,
  // ITK 3's name for the same transform (its files read the same way).
  BSplineDeformableTransform: readItkBSpline,
  ThinPlateSplineKernelTransform: readItkThinPlateSpline('r'),
  ThinPlateR2LogRSplineKernelTransform: readItkThinPlateSpline('r2logr'),
});

const HEADER = '#Insight Transform File V1.0';
const TYPE_NAME = /^([A-Za-z][A-Za-z0-9]*)_(double|float)_([0-9]+)_([0-9]+)$/;
const NUMBER = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

function parseNumbers(value: string, what: string, fileName: string, label: string): Float64Array {
  const tokens = value.split(/\s+/).filter((s) => s.length > 0);
  const out = new Float64Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const v = NUMBER.test(tokens[i]) ? Number(tokens[i]) : NaN;
    if (!Number.isFinite(v)) throw new CoregError(fileName, `${label}: ${what} value "${tokens[i]}" is not a finite number`);
    out[i] = v;
  }
  return out;
}

interface RawBlock {
  type: string;
  parameters?: Float64Array;
  fixedParameters?: Float64Array;
}

/**
 * Parses an ITK text transform file. Returns the transforms in coreg's order: for a CompositeTransform file,
 * the first element applies first to a fixed point (T(x) = Tn(…T1(x))); other multi-transform files are
 * returned in file order. `readers` says which types it knows (default: all of coreg's).
 */
export function parseItkTransformFile(text: string, fileName: string, readers: ItkTransformReaders = ITK_TRANSFORM_READERS): Transform[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  let first = 0;
  while (first < lines.length && lines[first].trim() === '') first++;
  if (first >= lines.length || !lines[first].trim().startsWith(HEADER)) {
    throw new CoregError(fileName, `not an ITK transform file (missing "${HEADER}" header)`);
  }
  const blocks: RawBlock[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new CoregError(fileName, `line ${i + 1}: expected "Name: value", got "${line.slice(0, 40)}"`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const current = blocks[blocks.length - 1];
    if (name === 'Transform') {
      if (value === '') throw new CoregError(fileName, `line ${i + 1}: empty transform type`);
      blocks.push({ type: value });
    } else if (name === 'Parameters' || name === 'FixedParameters') {
      if (!current) throw new CoregError(fileName, `line ${i + 1}: "${name}:" before any "Transform:" line`);
      const label = `transform ${blocks.length - 1} (${current.type})`;
      const key = name === 'Parameters' ? 'parameters' : 'fixedParameters';
      if (current[key]) throw new CoregError(fileName, `${label}: "${name}:" given twice`);
      current[key] = parseNumbers(value, name, fileName, label);
    } else if (name === 'ComponentTransformFile') {
      throw new CoregError(fileName, 'composite transforms stored as separate component files are not supported');
    }
    // Other fields are ignored, as ITK does.
  }
  if (blocks.length === 0) throw new CoregError(fileName, 'no transform in the file');

  const isComposite = (type: string): boolean => type.startsWith('CompositeTransform_');
  let compositeDimension: number | undefined;
  if (isComposite(blocks[0].type)) {
    const m = TYPE_NAME.exec(blocks[0].type);
    if (!m || m[3] !== m[4] || (m[3] !== '2' && m[3] !== '3')) throw new CoregError(fileName, `unsupported transform type "${blocks[0].type}"`);
    compositeDimension = Number(m[3]);
  }
  const start = compositeDimension === undefined ? 0 : 1;
  const transforms: Transform[] = [];
  for (let index = start; index < blocks.length; index++) {
    const raw = blocks[index];
    const label = `transform ${index} (${raw.type})`;
    if (isComposite(raw.type)) throw new CoregError(fileName, `${label}: a composite transform may only be the first transform of a file`);
    const m = TYPE_NAME.exec(raw.type);
    const reader = m && Object.hasOwn(readers, m[1]) ? readers[m[1]] : undefined;
    if (!m || !reader || m[3] !== m[4] || (m[3] !== '2' && m[3] !== '3')) throw new CoregError(fileName, `unsupported transform type "${raw.type}"`);
    if (!raw.parameters) throw new CoregError(fileName, `${label}: missing "Parameters:" line`);
    if (!raw.fixedParameters) throw new CoregError(fileName, `${label}: missing "FixedParameters:" line`);
    const dimension = Number(m[3]) as 2 | 3;
    if (compositeDimension !== undefined && dimension !== compositeDimension) {
      throw new CoregError(fileName, `${label}: ${dimension}D transform inside a ${compositeDimension}D composite`);
    }
    const block: ItkTransformBlock = {
      type: raw.type,
      className: m[1],
      dimension,
      parameters: raw.parameters,
      fixedParameters: raw.fixedParameters,
      index,
    };
    transforms.push(reader(block, fileName));
  }
  // ITK's composite applies its last component first; coreg's lists apply the first first.
  if (compositeDimension !== undefined) transforms.reverse();
  return transforms;
}

function hasItkData(t: Transform): t is Transform & ItkWritable {
  return typeof (t as Partial<ItkWritable>).toItkTransform === 'function';
}

function itkDataOf(t: Transform): ItkTransformData {
  if (hasItkData(t)) return t.toItkTransform();
  if (isLinear(t)) return toAffine(t).toItkTransform();
  throw new CoregError('transform', `a "${t.kind}" transform cannot be written to an ITK transform file`);
}

/** Numbers as ITK writes them (double-conversion's shortest ECMAScript form, which is JavaScript's String). */
function formatNumbers(values: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new CoregError('transform', 'cannot write a non-finite parameter to an ITK transform file');
    parts.push(String(values[i]));
  }
  return parts.join(' ');
}

/**
 * Writes transforms (coreg order: the first applies first) in ITK's text layout. One transform → one block;
 * several → a CompositeTransform block first, then the components in ITK's queue order (reversed).
 */
export function formatItkTransformFile(transforms: Transform[]): string {
  if (transforms.length === 0) throw new RangeError('formatItkTransformFile needs at least one transform');
  const d = transforms[0].dimension;
  for (const t of transforms) {
    if (t.dimension !== d) throw new CoregError('transform', `cannot write ${d}D and ${t.dimension}D transforms in one file`);
  }
  const out: string[] = [HEADER];
  let count = 0;
  if (transforms.length > 1) {
    out.push(`#Transform ${count++}`, `Transform: CompositeTransform_double_${d}_${d}`);
  }
  const ordered = transforms.length > 1 ? transforms.slice().reverse() : transforms;
  for (const t of ordered) {
    const data = itkDataOf(t);
    out.push(`#Transform ${count++}`, `Transform: ${data.type}`);
    out.push(`Parameters: ${formatNumbers(data.parameters)}`, `FixedParameters: ${formatNumbers(data.fixedParameters)}`);
  }
  return out.join('\n') + '\n';
}

// elastix parameter / transform-parameter files: "(Name value …)" lines, and the linear map they describe.
import type { Affine } from './affine.js';

export type ElastixValue = string | number;
export type ElastixParameters = Map<string, ElastixValue[]>;

/** Parses "(Name v1 v2 …)" lines; quoted values stay strings, others become numbers when they are numbers. */
export function parseElastixParameters(text: string): ElastixParameters {
  const out: ElastixParameters = new Map();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    const m = /^\((\w+)\s*(.*)\)$/.exec(line);
    if (!m) continue;
    const values: ElastixValue[] = [];
    for (const tok of m[2].match(/"[^"]*"|\S+/g) ?? []) {
      if (tok.startsWith('"')) values.push(tok.slice(1, -1));
      else values.push(Number.isFinite(Number(tok)) ? Number(tok) : tok);
    }
    out.set(m[1], values);
  }
  return out;
}

/** Writes parameters back in elastix's syntax (strings quoted). */
export function formatElastixParameters(params: ElastixParameters): string {
  const lines: string[] = [];
  for (const [name, values] of params) {
    lines.push(`(${name} ${values.map((v) => (typeof v === 'string' ? `"${v}"` : String(v))).join(' ')})`);
  }
  return lines.join('\n') + '\n';
}

function numbers(params: ElastixParameters, name: string): number[] {
  const v = params.get(name);
  if (!v || v.some((x) => typeof x !== 'number')) throw new Error(`elastix transform parameters: "${name}" is missing or not numeric`);
  return v as number[];
}

function rotation2(theta: number): number[] {
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  return [c, -s, s, c];
}

function mul3(a: number[], b: number[]): number[] {
  const out = new Array<number>(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c];
  return out;
}

/** ITK's Euler3DTransform rotation: Rz·Rx·Ry, or Rz·Ry·Rx when ComputeZYX is set. */
export function euler3Matrix(rx: number, ry: number, rz: number, zyx: boolean): number[] {
  const [cx, sx, cy, sy, cz, sz] = [Math.cos(rx), Math.sin(rx), Math.cos(ry), Math.sin(ry), Math.cos(rz), Math.sin(rz)];
  const Rx = [1, 0, 0, 0, cx, -sx, 0, sx, cx];
  const Ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const Rz = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  return zyx ? mul3(Rz, mul3(Ry, Rx)) : mul3(Rz, mul3(Rx, Ry));
}

/** Rotation matrix of a unit versor given by its vector part (w ≥ 0 implied, as in ITK). */
function versorMatrix(x: number, y: number, z: number): number[] {
  const w = Math.sqrt(Math.max(0, 1 - x * x - y * y - z * z));
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ];
}

/**
 * The fixed → moving map x' = A·x + b of a single-stage linear elastix result (TransformParameters.N.txt).
 * elastix's centred transforms are T(x) = A·(x − c) + c + t with c = CenterOfRotationPoint.
 */
export function elastixLinear(params: ElastixParameters): Affine {
  const kind = params.get('Transform')?.[0];
  const initial = params.get('InitialTransformParametersFileName')?.[0];
  if (initial !== undefined && initial !== 'NoInitialTransform') throw new Error(`elastix transform chains another file (${initial}); only single-stage results are read`);
  const dim = numbers(params, 'FixedImageDimension')[0];
  if (dim !== 2 && dim !== 3) throw new Error(`elastix transform parameters: dimension ${dim}`);
  const d: 2 | 3 = dim;
  const p = numbers(params, 'TransformParameters');
  const c = params.has('CenterOfRotationPoint') ? numbers(params, 'CenterOfRotationPoint') : new Array<number>(d).fill(0);
  const expect = (n: number): void => {
    if (p.length !== n) throw new Error(`elastix ${String(kind)} in ${d}D: expected ${n} parameters, got ${p.length}`);
  };
  let A: number[];
  let t: number[];
  switch (kind) {
    case 'TranslationTransform':
      expect(d);
      A = d === 2 ? [1, 0, 0, 1] : [1, 0, 0, 0, 1, 0, 0, 0, 1];
      t = p.slice(0, d);
      break;
    case 'EulerTransform':
      if (d === 2) {
        expect(3);
        A = rotation2(p[0]);
        t = p.slice(1, 3);
      } else {
        expect(6);
        A = euler3Matrix(p[0], p[1], p[2], params.get('ComputeZYX')?.[0] === 'true');
        t = p.slice(3, 6);
      }
      break;
    case 'SimilarityTransform':
      if (d === 2) {
        expect(4);
        A = rotation2(p[1]).map((v) => v * p[0]);
        t = p.slice(2, 4);
      } else {
        expect(7);
        A = versorMatrix(p[0], p[1], p[2]).map((v) => v * p[6]);
        t = p.slice(3, 6);
      }
      break;
    case 'AffineTransform':
      expect(d * d + d);
      A = p.slice(0, d * d);
      t = p.slice(d * d);
      break;
    default:
      throw new Error(`elastix transform "${String(kind)}" is not linear`);
  }
  const b = t.map((ti, r) => {
    let s = ti + c[r];
    for (let k = 0; k < d; k++) s -= A[r * d + k] * c[k];
    return s;
  });
  return { dimension: d, A, b };
}

/**
 * Plain-text homogeneous matrices other tools write for linear transforms:
 *
 * - greedy / c3d_affine_tool (`--to ras`): a 4×4 (3×3 in 2D) matrix mapping FIXED → MOVING physical points in
 *   RAS mm (ITK's mapping, with x and y negated on both sides): T_lps = F·M·F, F = diag(−1, −1, 1[, 1]).
 * - FSL FLIRT (`*.flirt.mat`, `--from/--to fsl`): a 4×4 matrix mapping the INPUT (moving) image's "scaled voxel"
 *   coordinates to the REFERENCE (fixed) image's: x_ref = M·x_in. Scaled voxel coordinates are voxel index ×
 *   voxel size, with the first axis flipped, x = (nx − 1 − i)·dx, when the image's voxel-to-world matrix has a
 *   positive determinant (FSL's "neurological" storage; the determinant is the same in RAS and LPS). So with
 *   W = voxel → LPS world and S = voxel → scaled voxel, T = W_in·S_in⁻¹·M⁻¹·S_ref·W_ref⁻¹ (fixed → moving).
 */
import { CoregError } from '../errors.js';
import { AffineTransform, composeLinear } from './linear.js';
import { determinant, invertMatrixOrNull } from './linalg.js';
import { isLinear, type Transform } from './transform.js';

/** Geometry of an image as FLIRT needs it (an Image fits). */
export interface VoxelGrid {
  dimension: 2 | 3;
  size: readonly number[];
  spacing: readonly number[];
  origin: readonly number[];
  direction: readonly number[];
}

type Mat4 = Float64Array;

function mul(a: Mat4, b: Mat4, n: number): Mat4 {
  const out = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[r * n + k] * b[k * n + c];
      out[r * n + c] = s;
    }
  }
  return out;
}

function inv(a: Mat4, n: number, subject: string): Mat4 {
  const r = invertMatrixOrNull(a, n);
  if (!r) throw new CoregError(subject, 'the matrix is singular');
  return Float64Array.from(r);
}

/** Parses whitespace-separated numbers: a (d+1)×(d+1) homogeneous matrix with last row 0 … 0 1. */
export function parseHomogeneousMatrix(text: string, fileName: string): { n: 3 | 4; m: Mat4 } {
  const tokens = text.replace(/#[^\n]*/g, '').split(/[\s,]+/).filter((s) => s.length > 0);
  const values = tokens.map(Number);
  if (values.some((v, i) => !Number.isFinite(v) || !/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(tokens[i]))) {
    throw new CoregError(fileName, 'not a matrix of numbers');
  }
  const n = values.length === 16 ? 4 : values.length === 9 ? 3 : 0;
  if (n === 0) throw new CoregError(fileName, `expected a 4×4 (3D) or 3×3 (2D) matrix, got ${values.length} numbers`);
  const m = Float64Array.from(values);
  for (let c = 0; c < n; c++) {
    const want = c === n - 1 ? 1 : 0;
    if (Math.abs(m[(n - 1) * n + c] - want) > 1e-6) throw new CoregError(fileName, `the last row must be ${n === 4 ? '0 0 0 1' : '0 0 1'}`);
  }
  return { n: n as 3 | 4, m };
}

export function formatHomogeneousMatrix(m: ArrayLike<number>, n: number): string {
  const lines: string[] = [];
  for (let r = 0; r < n; r++) {
    const row: string[] = [];
    for (let c = 0; c < n; c++) row.push(String(m[r * n + c] === 0 ? 0 : m[r * n + c]));
    lines.push(row.join(' '));
  }
  return lines.join('\n') + '\n';
}

/** A chain's linear map as a homogeneous (d+1)×(d+1) matrix in LPS. */
function linearChainMatrix(chain: readonly Transform[], what: string): { n: number; m: Mat4 } {
  if (chain.length === 0) throw new CoregError('transform', 'nothing to write (empty chain)');
  if (!chain.every(isLinear)) throw new CoregError('transform', `${what} holds one linear transform; this chain has non-linear parts`);
  const a = composeLinear(chain.filter(isLinear));
  const d = a.dimension;
  const n = d + 1;
  const A = a.matrix();
  const o = a.offset();
  const m = new Float64Array(n * n);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) m[r * n + c] = A[r * d + c];
    m[r * n + d] = o[r];
  }
  m[n * n - 1] = 1;
  return { n, m };
}

function affineFromHomogeneous(m: Mat4, n: number): AffineTransform {
  const d = (n - 1) as 2 | 3;
  const A = new Float64Array(d * d);
  const o = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) A[r * d + c] = m[r * n + c];
    o[r] = m[r * n + d];
  }
  const t = new AffineTransform(d);
  t.fitMapping(A, o);
  return t;
}

/** F·M·F with F = diag(−1, −1, 1[, 1]): RAS ↔ LPS (its own inverse). */
function flipRasLps(m: Mat4, n: number): Mat4 {
  const out = Float64Array.from(m);
  const sign = (i: number): number => (i < 2 ? -1 : 1);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) out[r * n + c] = m[r * n + c] * sign(r) * sign(c);
  return out;
}

/** greedy/c3d RAS matrix text → coreg transform (fixed → moving, LPS). */
export function parseRasMatrix(text: string, fileName: string): Transform[] {
  const { n, m } = parseHomogeneousMatrix(text, fileName);
  return [affineFromHomogeneous(flipRasLps(m, n), n)];
}

/** A linear chain as greedy/c3d RAS matrix text. */
export function formatRasMatrix(chain: readonly Transform[]): string {
  const { n, m } = linearChainMatrix(chain, 'a RAS matrix file');
  return formatHomogeneousMatrix(flipRasLps(m, n), n);
}

/** Voxel index → LPS world (4×4). */
function voxelToWorld(g: VoxelGrid): Mat4 {
  const m = new Float64Array(16);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) m[r * 4 + c] = g.direction[r * 3 + c] * g.spacing[c];
    m[r * 4 + 3] = g.origin[r];
  }
  m[15] = 1;
  return m;
}

/** Voxel index → FSL scaled voxel coordinates (4×4). */
function voxelToFsl(g: VoxelGrid): Mat4 {
  const m = new Float64Array(16);
  const flip = determinant(Array.from(g.direction), 3) > 0;
  m[0] = flip ? -g.spacing[0] : g.spacing[0];
  m[3] = flip ? (g.size[0] - 1) * g.spacing[0] : 0;
  m[5] = g.spacing[1];
  m[10] = g.spacing[2];
  m[15] = 1;
  return m;
}

function checkFslGrids(fixed: VoxelGrid | undefined, moving: VoxelGrid | undefined, subject: string): asserts moving is VoxelGrid {
  if (!fixed || !moving) {
    throw new CoregError(subject, 'an FSL FLIRT matrix needs both images: give the fixed (FLIRT -ref) and the moving (FLIRT -in) image (e.g. --reference and --moving)');
  }
  if (fixed.dimension !== 3 || moving.dimension !== 3) throw new CoregError(subject, 'FSL FLIRT matrices are 3D; the images are 2D');
}

/** FLIRT matrix text (input = moving, reference = fixed) → coreg transform (fixed → moving, LPS). */
export function parseFslMatrix(text: string, fileName: string, fixed: VoxelGrid | undefined, moving: VoxelGrid | undefined): Transform[] {
  checkFslGrids(fixed, moving, fileName);
  const { n, m } = parseHomogeneousMatrix(text, fileName);
  if (n !== 4) throw new CoregError(fileName, 'an FSL FLIRT matrix is 4×4');
  const fixedGrid = fixed as VoxelGrid;
  const t = mul(mul(mul(mul(voxelToWorld(moving), inv(voxelToFsl(moving), 4, fileName), 4), inv(m, 4, fileName), 4), voxelToFsl(fixedGrid), 4), inv(voxelToWorld(fixedGrid), 4, fileName), 4);
  return [affineFromHomogeneous(t, 4)];
}

/** A linear chain (fixed → moving) as FLIRT matrix text (input = moving, reference = fixed). */
export function formatFslMatrix(chain: readonly Transform[], fixed: VoxelGrid | undefined, moving: VoxelGrid | undefined): string {
  checkFslGrids(fixed, moving, '--to fsl');
  const fixedGrid = fixed as VoxelGrid;
  const { n, m } = linearChainMatrix(chain, 'an FSL matrix');
  if (n !== 4) throw new CoregError('transform', 'FSL FLIRT matrices are 3D');
  const flirt = mul(mul(mul(mul(voxelToFsl(fixedGrid), inv(voxelToWorld(fixedGrid), 4, '--reference'), 4), inv(m, 4, 'transform'), 4), voxelToWorld(moving), 4), inv(voxelToFsl(moving), 4, '--moving'), 4);
  return formatHomogeneousMatrix(flirt, 4);
}

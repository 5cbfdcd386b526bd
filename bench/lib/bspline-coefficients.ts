// ITK's example B-spline coefficient files (BSplineDisplacements*.txt), as the benchmarks and tests read them.
import { CoregError } from '../../src/errors.js';

/**
 * Reads ITK's example coefficient files (BSplineDisplacements*.txt): one line per grid row, each node's
 * displacement components side by side, x fastest, then rows (y), then planes (z). Returns the parameters in
 * ITK order (all x, then all y[, then all z]) and the grid size: 2D = [nodes per line, lines]; 3D =
 * `gridSize` when given, else a grid with as many rows as nodes per line (ITK's examples use cubic grids).
 */
export function readBSplineCoefficientsText(
  text: string,
  dimension: 2 | 3,
  fileName: string,
  gridSize?: ArrayLike<number>,
): { parameters: Float64Array; gridSize: number[] } {
  const d = dimension;
  const values: number[] = [];
  let perLine = -1;
  let lines = 0;
  const rows = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < rows.length; i++) {
    const tokens = rows[i].trim().split(/\s+/).filter((s) => s.length > 0);
    if (tokens.length === 0) continue;
    if (tokens.length % d !== 0) throw new CoregError(fileName, `line ${i + 1}: ${tokens.length} numbers is not a whole number of ${d}D displacements`);
    if (perLine < 0) perLine = tokens.length / d;
    else if (tokens.length / d !== perLine) throw new CoregError(fileName, `line ${i + 1}: ${tokens.length / d} nodes, expected ${perLine} as on the first line`);
    for (const tok of tokens) {
      const v = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(tok) ? Number(tok) : NaN;
      if (!Number.isFinite(v)) throw new CoregError(fileName, `line ${i + 1}: "${tok}" is not a finite number`);
      values.push(v);
    }
    lines++;
  }
  if (lines === 0) throw new CoregError(fileName, 'no coefficients in the file');
  const nodes = values.length / d;
  let size: number[];
  if (gridSize) {
    size = Array.from(gridSize);
    if (size.length !== d) throw new CoregError(fileName, `grid size needs ${d} values, got ${size.length}`);
  } else if (d === 2) {
    size = [perLine, lines];
  } else {
    size = [perLine, perLine, lines / perLine];
  }
  if (size.reduce((p, v) => p * v, 1) !== nodes || size[0] !== perLine) {
    throw new CoregError(fileName, `${nodes} nodes in ${lines} lines of ${perLine} do not form a ${size.join('×')} grid`);
  }
  const parameters = new Float64Array(values.length);
  for (let n = 0; n < nodes; n++) for (let a = 0; a < d; a++) parameters[a * nodes + n] = values[n * d + a];
  return { parameters, gridSize: size };
}

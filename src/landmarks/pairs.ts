/**
 * Landmark pairs kept in one plain text file, one pair per line: "x y  x' y'" (2D) or "x y z  x' y' z'" (3D),
 * fixed point first — the layout of ITK's LandmarkWarping examples (e.g. LandmarkWarping2Landmarks1.txt).
 * Blank lines and '#' comments are skipped.
 */
import { CoregError } from '../errors.js';

export interface LandmarkPairs {
  dimension: 2 | 3;
  fixed: number[][];
  moving: number[][];
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function parseLandmarkPairs(text: string, fileName: string): LandmarkPairs {
  const fixed: number[][] = [];
  const moving: number[][] = [];
  let dimension: 2 | 3 | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const tokens = line.split(/[\s,]+/);
    if (tokens.length !== 4 && tokens.length !== 6) throw new CoregError(fileName, `line ${i + 1}: expected 4 (2D) or 6 (3D) numbers, fixed point then moving point; got ${tokens.length}`);
    const d = (tokens.length / 2) as 2 | 3;
    if (dimension !== undefined && d !== dimension) throw new CoregError(fileName, `line ${i + 1}: a ${d}D pair after ${dimension}D pairs`);
    dimension = d;
    const values = tokens.map((tok) => (NUMBER.test(tok) ? Number(tok) : NaN));
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new CoregError(fileName, `line ${i + 1}: "${tokens[bad]}" is not a number`);
    fixed.push(values.slice(0, d));
    moving.push(values.slice(d));
  }
  if (dimension === undefined) throw new CoregError(fileName, 'no landmark pairs in the file');
  return { dimension, fixed, moving };
}

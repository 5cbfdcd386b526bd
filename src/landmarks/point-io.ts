/**
 * Point-set files, read into LPS mm and written back in each format's own coordinate system:
 * - CSV with a header naming x, y[, z] (LPS mm, or RAS with the `ras` option) or r, a[, s] (RAS mm); other columns
 *   are kept and copied through on writing, coordinates in the system they were read in.
 * - 3D Slicer .fcsv (RAS unless its "# CoordinateSystem" line says LPS) and .mrk.json markups
 *   (controlPoints[].position, each markup's "coordinateSystem" RAS or LPS; LPS when absent).
 * - elastix/transformix point files: "point" or "index" on the first line, the count on the second, then one
 *   point per line; "index" points need a reference grid to become physical points.
 * - Plain text: whitespace-separated coordinates, one point per line, no header (as ITK's example point files).
 * Numbers are written in JavaScript's shortest round-trip form, so no precision is lost.
 */
import { CoregError } from '../errors.js';
import { indexToPhysicalMatrix, type Dimension } from '../image/image.js';

export type PointFileFormat = 'csv' | 'fcsv' | 'mrk.json' | 'elastix' | 'text';

export type CoordinateSystem = 'RAS' | 'LPS';

/** What a writer needs to reproduce a file around new coordinates. */
export type PointLayout =
  | { format: 'csv'; delimiter: string; header: string[]; coordinateColumns: number[]; rows: string[][]; system?: CoordinateSystem }
  | { format: 'fcsv'; preamble: string[]; columns: string[]; coordinateColumns: number[]; rows: string[][]; system: CoordinateSystem }
  | { format: 'mrk.json'; json: unknown; systems: CoordinateSystem[] }
  | { format: 'elastix'; kind: 'point' | 'index' }
  | { format: 'text' };

export interface PointSet {
  dimension: Dimension;
  /** LPS mm, one array of `dimension` numbers per point. */
  points: number[][];
  /** Per-point names when the file has them (Slicer labels, a CSV "label" column). */
  labels?: string[];
  layout: PointLayout;
}

/** The geometry needed to turn elastix "index" points into physical points. */
export interface PointReferenceGrid {
  dimension: Dimension;
  spacing: number[];
  origin: number[];
  direction: number[];
}

export interface ReadPointOptions {
  /** Required for elastix "index" point files. */
  reference?: PointReferenceGrid;
  /** What to name in the error when the reference is missing (default "--reference"). */
  referenceOption?: string;
  /** CSV coordinates are RAS (--ras); a CSV header r,a[,s] says so by itself. */
  ras?: boolean;
}

const FCSV_DEFAULT_COLUMNS = ['id', 'x', 'y', 'z', 'ow', 'ox', 'oy', 'oz', 'vis', 'sel', 'lock', 'label', 'desc', 'associatedNodeID'];
const MARKUPS_SCHEMA = 'https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#';
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const AXES = ['x', 'y', 'z'];
const RAS_AXES = ['r', 'a', 's'];

/** The format implied by a file name, or undefined for names that need a look at the content (.txt, .pts, …). */
export function pointFormatOf(fileName: string): PointFileFormat | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.mrk.json') || lower.endsWith('.json')) return 'mrk.json';
  if (lower.endsWith('.fcsv')) return 'fcsv';
  if (lower.endsWith('.csv')) return 'csv';
  return undefined;
}

function parseNumber(token: string): number {
  const t = token.trim();
  return NUMBER.test(t) ? Number(t) : NaN;
}

/** One CSV line into fields (double quotes with "" escapes; fields are returned unquoted, untrimmed). */
function splitCsvLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === delimiter) {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields;
}

function quoteCsvField(field: string, delimiter: string): string {
  return field.includes(delimiter) || field.includes('"') || /[\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

function textLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
}

function formatNumber(v: number): string {
  return Object.is(v, -0) ? '0' : String(v);
}

function readCoordinates(fields: string[], columns: number[], fileName: string, lineNo: number): number[] {
  const p: number[] = [];
  for (let a = 0; a < columns.length; a++) {
    const raw = fields[columns[a]];
    const v = parseNumber(raw);
    if (!Number.isFinite(v)) throw new CoregError(fileName, `line ${lineNo}: ${AXES[a]} value "${raw.trim()}" is not a number`);
    p.push(v);
  }
  return p;
}

function rasToLps(p: number[]): number[] {
  return [0 - p[0], 0 - p[1], p[2]];
}

/** LPS ↔ RAS for 2D or 3D points (x and y negated; its own inverse). */
function flipXY(p: number[]): number[] {
  const out = p.slice();
  out[0] = 0 - p[0];
  out[1] = 0 - p[1];
  return out;
}

function parseCsv(text: string, fileName: string, ras = false): PointSet {
  const lines = textLines(text);
  let h = 0;
  while (h < lines.length && lines[h].trim() === '') h++;
  if (h >= lines.length) throw new CoregError(fileName, 'empty point file');
  const headerLine = lines[h];
  const delimiter = headerLine.includes(',') ? ',' : headerLine.includes('\t') ? '\t' : headerLine.includes(';') ? ';' : ',';
  const header = splitCsvLine(headerLine, delimiter).map((s) => s.trim());
  if (header.every((s) => Number.isFinite(parseNumber(s)))) throw new CoregError(fileName, 'no header line (the first line must name the columns, e.g. x,y,z)');
  const lower = header.map((s) => s.toLowerCase());
  const coordinateColumns: number[] = [];
  // A header r,a[,s] holds RAS coordinates (MNI and other RAS tools); x,y[,z] holds LPS unless --ras says RAS.
  const rasHeader = !lower.includes('x') && lower.includes('r') && lower.includes('a');
  for (const axis of rasHeader ? RAS_AXES : AXES) {
    const at = lower.indexOf(axis);
    if (at < 0) break;
    coordinateColumns.push(at);
  }
  if (coordinateColumns.length < 2) throw new CoregError(fileName, `header "${headerLine.trim()}" has no x and y (or r and a) columns`);
  const system: CoordinateSystem = rasHeader || ras ? 'RAS' : 'LPS';
  const dimension = coordinateColumns.length as Dimension;
  const labelColumn = lower.indexOf('label');
  const rows: string[][] = [];
  const points: number[][] = [];
  const labels: string[] = [];
  for (let i = h + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const fields = splitCsvLine(lines[i], delimiter);
    if (fields.length !== header.length) throw new CoregError(fileName, `line ${i + 1}: expected ${header.length} columns as in the header, got ${fields.length}`);
    const p = readCoordinates(fields, coordinateColumns, fileName, i + 1);
    points.push(system === 'RAS' ? flipXY(p) : p);
    rows.push(fields);
    if (labelColumn >= 0) labels.push(fields[labelColumn].trim());
  }
  if (points.length === 0) throw new CoregError(fileName, 'no points after the header');
  return { dimension, points, labels: labelColumn >= 0 ? labels : undefined, layout: { format: 'csv', delimiter, header, coordinateColumns, rows, system } };
}

function parseSystem(value: string, fileName: string): CoordinateSystem {
  const v = value.trim().toUpperCase();
  if (v === 'RAS' || v === '0') return 'RAS';
  if (v === 'LPS' || v === '1') return 'LPS';
  throw new CoregError(fileName, `unknown coordinate system "${value.trim()}" (expected RAS or LPS)`);
}

function parseFcsv(text: string, fileName: string): PointSet {
  const lines = textLines(text);
  const preamble: string[] = [];
  let columns = FCSV_DEFAULT_COLUMNS;
  let system: CoordinateSystem = 'RAS';
  const rows: string[][] = [];
  const points: number[][] = [];
  const labels: string[] = [];
  let coordinateColumns = [1, 2, 3];
  let labelColumn = 11;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      preamble.push(line);
      let m: RegExpExecArray | null;
      if ((m = /^#\s*columns\s*=\s*(.*)$/i.exec(line))) {
        columns = m[1].split(',').map((s) => s.trim());
        coordinateColumns = ['x', 'y', 'z'].map((a) => columns.indexOf(a));
        if (coordinateColumns.some((c) => c < 0)) throw new CoregError(fileName, `line ${i + 1}: the columns line does not name x, y and z`);
        labelColumn = columns.indexOf('label');
      } else if ((m = /^#\s*CoordinateSystem\s*=\s*(.*)$/i.exec(line))) {
        system = parseSystem(m[1], fileName);
      }
      continue;
    }
    const fields = splitCsvLine(line, ',');
    if (fields.length < columns.length) throw new CoregError(fileName, `line ${i + 1}: expected ${columns.length} columns, got ${fields.length}`);
    const p = readCoordinates(fields, coordinateColumns, fileName, i + 1);
    points.push(system === 'RAS' ? rasToLps(p) : p);
    rows.push(fields);
    labels.push(labelColumn >= 0 && labelColumn < fields.length ? fields[labelColumn] : '');
  }
  if (points.length === 0) throw new CoregError(fileName, 'no points in the file');
  return { dimension: 3, points, labels, layout: { format: 'fcsv', preamble, columns, coordinateColumns, rows, system } };
}

interface MarkupsJson {
  markups?: { coordinateSystem?: unknown; controlPoints?: { position?: unknown; label?: unknown }[] }[];
}

function parseMarkupsJson(text: string, fileName: string): PointSet {
  let json: MarkupsJson;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, '')) as MarkupsJson;
  } catch {
    throw new CoregError(fileName, 'not valid JSON');
  }
  if (!json || !Array.isArray(json.markups)) throw new CoregError(fileName, 'no "markups" list (expected a 3D Slicer .mrk.json file)');
  const points: number[][] = [];
  const labels: string[] = [];
  const systems: CoordinateSystem[] = [];
  json.markups.forEach((markup, mi) => {
    const system = markup.coordinateSystem === undefined ? 'LPS' : parseSystem(String(markup.coordinateSystem), fileName);
    systems.push(system);
    const cps = markup.controlPoints ?? [];
    if (!Array.isArray(cps)) throw new CoregError(fileName, `markups[${mi}].controlPoints is not a list`);
    cps.forEach((cp, ci) => {
      const pos = cp?.position;
      if (!Array.isArray(pos) || pos.length !== 3 || !pos.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new CoregError(fileName, `markups[${mi}].controlPoints[${ci}].position must be 3 numbers`);
      }
      const p = (pos as number[]).slice();
      points.push(system === 'RAS' ? rasToLps(p) : p);
      labels.push(typeof cp.label === 'string' ? cp.label : '');
    });
  });
  if (points.length === 0) throw new CoregError(fileName, 'no control points in the file');
  return { dimension: 3, points, labels, layout: { format: 'mrk.json', json, systems } };
}

/** Non-empty lines split on whitespace, with their 1-based line numbers ('#' comment lines skipped). */
function tokenLines(text: string): { tokens: string[]; lineNo: number }[] {
  const out: { tokens: string[]; lineNo: number }[] = [];
  textLines(text).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    out.push({ tokens: t.split(/[\s,]+/), lineNo: i + 1 });
  });
  return out;
}

function readNumberRows(rows: { tokens: string[]; lineNo: number }[], fileName: string): number[][] {
  const d = rows[0].tokens.length;
  if (d !== 2 && d !== 3) throw new CoregError(fileName, `line ${rows[0].lineNo}: expected 2 or 3 coordinates, got ${d}`);
  return rows.map(({ tokens, lineNo }) => {
    if (tokens.length !== d) throw new CoregError(fileName, `line ${lineNo}: expected ${d} coordinates like the first point, got ${tokens.length}`);
    return tokens.map((tok, a) => {
      const v = parseNumber(tok);
      if (!Number.isFinite(v)) throw new CoregError(fileName, `line ${lineNo}: ${AXES[a]} value "${tok}" is not a number`);
      return v;
    });
  });
}

function parseElastixOrText(text: string, fileName: string, opts: ReadPointOptions): PointSet {
  const rows = tokenLines(text);
  if (rows.length === 0) throw new CoregError(fileName, 'empty point file');
  const first = rows[0].tokens[0].toLowerCase();
  if (first !== 'point' && first !== 'index') {
    if (!Number.isFinite(parseNumber(rows[0].tokens[0]))) {
      throw new CoregError(fileName, `unrecognised point file (expected a CSV header x,y[,z], "point"/"index" or numbers; got "${rows[0].tokens[0]}")`);
    }
    const points = readNumberRows(rows, fileName);
    return { dimension: points[0].length as Dimension, points, layout: { format: 'text' } };
  }
  if (rows[0].tokens.length !== 1) throw new CoregError(fileName, `line ${rows[0].lineNo}: expected only "${first}"`);
  if (rows.length < 2 || rows[1].tokens.length !== 1 || !/^\d+$/.test(rows[1].tokens[0])) {
    throw new CoregError(fileName, 'the second line of an elastix point file must be the number of points');
  }
  const count = Number(rows[1].tokens[0]);
  const body = rows.slice(2);
  if (body.length !== count) throw new CoregError(fileName, `says ${count} points but holds ${body.length}`);
  if (count === 0) throw new CoregError(fileName, 'no points in the file');
  let points = readNumberRows(body, fileName);
  const d = points[0].length as Dimension;
  if (first === 'index') {
    const ref = opts.reference;
    const option = opts.referenceOption ?? '--reference';
    if (!ref) throw new CoregError(option, `${fileName} holds elastix "index" points: give the image they index with ${option}`);
    if (ref.dimension !== d) throw new CoregError(fileName, `holds ${d}D indices but the reference image is ${ref.dimension}D`);
    const m = indexToPhysicalMatrix(ref);
    points = points.map((idx) => {
      const p: number[] = [];
      for (let r = 0; r < d; r++) {
        let s = ref.origin[r];
        for (let c = 0; c < d; c++) s += m[r * d + c] * idx[c];
        p.push(s);
      }
      return p;
    });
  }
  return { dimension: d, points, layout: { format: 'elastix', kind: first } };
}

/** Reads a point file's text (format from the name, else from the content); points come out in LPS mm. */
export function parsePointSet(text: string, fileName: string, opts: ReadPointOptions = {}): PointSet {
  const format = pointFormatOf(fileName);
  if (format === 'mrk.json') return parseMarkupsJson(text, fileName);
  if (format === 'fcsv') return parseFcsv(text, fileName);
  if (format === 'csv') return parseCsv(text, fileName, opts.ras);
  // Unknown extension: a header with letters and a comma/tab is a CSV; otherwise elastix or plain text.
  const firstLine = textLines(text).find((l) => l.trim() !== '') ?? '';
  if (/[A-Za-z]/.test(firstLine) && /[,\t;]/.test(firstLine)) return parseCsv(text, fileName, opts.ras);
  if (opts.ras) throw new CoregError('--ras', `applies to CSV point files; ${fileName} is not one`);
  return parseElastixOrText(text, fileName, opts);
}

/** The format a file name asks for when writing; names without a known extension follow `template`. */
function outputFormatOf(fileName: string, template?: PointSet): PointFileFormat {
  const f = pointFormatOf(fileName);
  if (f) return f;
  if (template && (template.layout.format === 'elastix' || template.layout.format === 'text')) return template.layout.format;
  return 'elastix';
}

function checkPoints(points: readonly ArrayLike<number>[], dimension: number, fileName: string): void {
  for (let i = 0; i < points.length; i++) {
    if (points[i].length !== dimension) throw new CoregError(fileName, `point ${i + 1} has ${points[i].length} coordinates, expected ${dimension}`);
    for (let a = 0; a < dimension; a++) {
      if (!Number.isFinite(points[i][a])) throw new CoregError(fileName, `point ${i + 1} has a non-finite coordinate`);
    }
  }
}

function toSystem(p: ArrayLike<number>, system: CoordinateSystem): number[] {
  return system === 'RAS' ? [0 - p[0], 0 - p[1], p[2]] : [p[0], p[1], p[2]];
}

/**
 * Text of a point file holding `points` (LPS mm) in the format of `fileName`'s extension. With a `template`
 * (the set the points came from) of the same format and the same number of points, everything else in it is
 * kept: other CSV/.fcsv columns, comment lines, markup fields, coordinate systems.
 */
export function formatPointSet(points: readonly ArrayLike<number>[], fileName: string, template?: PointSet, opts: { ras?: boolean } = {}): string {
  const format = outputFormatOf(fileName, template);
  if (opts.ras && format !== 'csv') throw new CoregError('--ras', `applies to CSV point files; ${fileName} is not one`);
  const dimension = points.length ? points[0].length : (template?.dimension ?? 3);
  checkPoints(points, dimension, fileName);
  const sameLayout = template && template.layout.format === format && template.points.length === points.length ? template.layout : undefined;
  const labels = template && template.points.length === points.length ? template.labels : undefined;
  if ((format === 'fcsv' || format === 'mrk.json') && dimension !== 3) {
    throw new CoregError(fileName, `3D Slicer files hold 3D points; these are ${dimension}D (write .csv or .txt instead)`);
  }
  switch (format) {
    case 'csv': {
      if (sameLayout?.format === 'csv') {
        const { delimiter, header, coordinateColumns, rows } = sameLayout;
        const ras = sameLayout.system === 'RAS' || opts.ras;
        const out = [header.map((h) => quoteCsvField(h, delimiter)).join(delimiter)];
        rows.forEach((row, i) => {
          const fields = row.slice();
          const p = ras ? flipXY(Array.from(points[i])) : points[i];
          coordinateColumns.forEach((col, a) => (fields[col] = formatNumber(p[a])));
          out.push(fields.map((f, c) => (coordinateColumns.includes(c) ? f : quoteCsvField(f, delimiter))).join(delimiter));
        });
        return out.join('\n') + '\n';
      }
      const ras = opts.ras || (template?.layout.format === 'csv' && template.layout.system === 'RAS');
      const header = (ras ? RAS_AXES : AXES).slice(0, dimension);
      if (labels) header.push('label');
      const out = [header.join(',')];
      points.forEach((p, i) => {
        const fields = (ras ? flipXY(Array.from(p)) : Array.from(p)).map(formatNumber);
        if (labels) fields.push(quoteCsvField(labels[i], ','));
        out.push(fields.join(','));
      });
      return out.join('\n') + '\n';
    }
    case 'fcsv': {
      if (sameLayout?.format === 'fcsv') {
        const { preamble, coordinateColumns, rows, system } = sameLayout;
        const out = preamble.slice();
        rows.forEach((row, i) => {
          const fields = row.slice();
          const q = toSystem(points[i], system);
          coordinateColumns.forEach((col, a) => (fields[col] = formatNumber(q[a])));
          out.push(fields.map((f, c) => (coordinateColumns.includes(c) ? f : quoteCsvField(f, ','))).join(','));
        });
        return out.join('\n') + '\n';
      }
      const out = ['# Markups fiducial file version = 4.11', '# CoordinateSystem = RAS', `# columns = ${FCSV_DEFAULT_COLUMNS.join(',')}`];
      points.forEach((p, i) => {
        const q = toSystem(p, 'RAS');
        const label = labels?.[i] || `F-${i + 1}`;
        out.push([String(i + 1), ...q.map(formatNumber), '0', '0', '0', '1', '1', '1', '0', quoteCsvField(label, ','), '', ''].join(','));
      });
      return out.join('\n') + '\n';
    }
    case 'mrk.json': {
      if (sameLayout?.format === 'mrk.json') {
        const json = structuredClone(sameLayout.json) as MarkupsJson;
        let i = 0;
        json.markups!.forEach((markup, mi) => {
          for (const cp of markup.controlPoints ?? []) cp.position = toSystem(points[i++], sameLayout.systems[mi]);
        });
        return JSON.stringify(json, null, 4) + '\n';
      }
      const controlPoints = points.map((p, i) => ({
        id: String(i + 1),
        label: labels?.[i] || `F-${i + 1}`,
        position: [p[0], p[1], p[2]],
        positionStatus: 'defined',
      }));
      const json = { '@schema': MARKUPS_SCHEMA, markups: [{ type: 'Fiducial', coordinateSystem: 'LPS', coordinateUnits: 'mm', controlPoints }] };
      return JSON.stringify(json, null, 4) + '\n';
    }
    case 'elastix':
      // Written as physical points: an index would only make sense on a grid the caller did not name.
      return ['point', String(points.length), ...points.map((p) => Array.from(p, formatNumber).join(' '))].join('\n') + '\n';
    case 'text':
      return points.map((p) => Array.from(p, formatNumber).join(' ')).join('\n') + '\n';
  }
}

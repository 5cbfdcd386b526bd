/**
 * Label tables: names (and colours) of label values, from three common text formats.
 *
 * - AAL / MRIcron (`aal.nii.txt`): "value name code" per line, e.g. "1 Precentral_L 2001" (the code is AAL's
 *   own region number, not the voxel value).
 * - ITK-SNAP label description: "value R G B A visible mesh "name"" per line (A in 0…1), '#' comments.
 * - FreeSurfer colour table (FreeSurferColorLUT.txt): "value name R G B A" per line, '#' comments.
 */
import { CoregError } from '../errors.js';

export type LabelTableFormat = 'aal' | 'itksnap' | 'freesurfer';

export interface LabelEntry {
  value: number;
  name: string;
  /** R, G, B in 0…255 and A in 0…1 (ITK-SNAP opacity; FreeSurfer's A is 0…255 "transparency" → 1 − A/255). */
  color?: [number, number, number, number];
}

export interface LabelTable {
  format: LabelTableFormat;
  /** By label value. */
  entries: Map<number, LabelEntry>;
}

const INTEGER = /^[-+]?\d+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function isInteger(s: string): boolean {
  return INTEGER.test(s);
}

/** One data line as an entry of `format`, or null when it is not of that format. */
function parseLine(line: string, format: LabelTableFormat): LabelEntry | null {
  if (format === 'itksnap') {
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+"(.*)"\s*$/.exec(line);
    if (!m || !isInteger(m[1]) || ![2, 3, 4, 5, 6, 7].every((k) => NUMBER.test(m[k]))) return null;
    return { value: Number(m[1]), name: m[8], color: [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])] };
  }
  const t = line.trim().split(/\s+/);
  if (format === 'freesurfer') {
    if (t.length !== 6 || !isInteger(t[0]) || !t.slice(2).every(isInteger)) return null;
    return { value: Number(t[0]), name: t[1], color: [Number(t[2]), Number(t[3]), Number(t[4]), 1 - Number(t[5]) / 255] };
  }
  if (t.length !== 3 || !isInteger(t[0]) || !isInteger(t[2])) return null;
  return { value: Number(t[0]), name: t[1] };
}

/** Guesses the format from the first data line. */
function detectFormat(line: string): LabelTableFormat | null {
  for (const f of ['itksnap', 'freesurfer', 'aal'] as const) if (parseLine(line, f)) return f;
  return null;
}

/**
 * Parses a label table (format detected from its first data line). `subject` is the file name for errors.
 * Blank lines and '#' comments are skipped; every other line must be an entry of the same format.
 */
export function parseLabelTable(text: string, subject: string): LabelTable {
  if (text.includes('\u0000')) throw new CoregError(subject, 'is a binary file, not a label table (expected AAL, ITK-SNAP or FreeSurfer text)');
  const lines = text.split(/\r\n|\r|\n/);
  let format: LabelTableFormat | null = null;
  const entries = new Map<number, LabelEntry>();
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (format === null) {
      format = detectFormat(line);
      if (format === null) {
        throw new CoregError(subject, `line ${i + 1}: not a label table entry (expected "value name code" (AAL), ITK-SNAP "value R G B A vis mesh \\"name\\"" or FreeSurfer "value name R G B A")`);
      }
    }
    const entry = parseLine(line, format);
    if (!entry) throw new CoregError(subject, `line ${i + 1}: not a valid ${formatName(format)} entry: "${line.length > 60 ? line.slice(0, 57) + '...' : line}"`);
    if (entries.has(entry.value)) throw new CoregError(subject, `line ${i + 1}: label ${entry.value} is listed twice`);
    entries.set(entry.value, entry);
  }
  if (format === null) throw new CoregError(subject, 'has no label entries');
  return { format, entries };
}

function formatName(format: LabelTableFormat): string {
  return format === 'aal' ? 'AAL ("value name code")' : format === 'itksnap' ? 'ITK-SNAP' : 'FreeSurfer colour table';
}

/**
 * Throws CoregError(subject) when labels other than 0 in `present` have no entry in the table (the table is then
 * for another atlas). Entries for labels that are absent are fine (a segmentation may lose small structures).
 */
export function checkLabelTable(table: LabelTable, present: Iterable<number>, subject: string): void {
  const missing: number[] = [];
  for (const v of present) if (v !== 0 && !table.entries.has(v)) missing.push(v);
  if (missing.length > 0) {
    missing.sort((a, b) => a - b);
    const shown = missing.slice(0, 8).join(', ') + (missing.length > 8 ? `, … (${missing.length} in all)` : '');
    throw new CoregError(subject, `does not match the atlas labels: no entry for label${missing.length > 1 ? 's' : ''} ${shown}`);
  }
}

/** The name of a label value, or undefined (0 is "background" unless the table names it). */
export function labelName(table: LabelTable | undefined, value: number): string | undefined {
  const e = table?.entries.get(value);
  if (e) return e.name;
  return value === 0 && table ? 'background' : undefined;
}

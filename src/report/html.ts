/**
 * One self-contained HTML report (browser-safe: strings and bytes only). Pictures are inlined as PNG data URIs,
 * plots are inline SVG, the style sheet is inline; the page loads nothing from anywhere (a Content-Security-Policy
 * forbids it).
 */

export type ReportBlock =
  | { kind: 'heading'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'warnings'; items: string[] }
  | { kind: 'table'; caption?: string; header?: string[]; rows: (string | number | null)[][] }
  | { kind: 'figures'; items: { caption: string; png: Uint8Array }[] }
  | { kind: 'svg'; caption: string; svg: string }
  | { kind: 'pre'; caption?: string; text: string };

export interface Report {
  title: string;
  subtitle?: string;
  blocks: ReportBlock[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 of bytes. */
export function base64(bytes: Uint8Array): string {
  const out: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    chunk += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? B64[n & 63] : '=');
    if (chunk.length >= 8192) {
      out.push(chunk);
      chunk = '';
    }
  }
  out.push(chunk);
  return out.join('');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Short human number: integers as is, others to 4 significant digits; null → '–'. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

/** "Nice" tick values covering lo..hi. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

export interface PlotSeries {
  name: string;
  x: readonly number[];
  y: readonly number[];
  colour?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/**
 * A line plot as clean inline SVG: axes with ticks, labels and a legend. With `normalize`, each series is scaled
 * to 0..1 over its own range (for measures on different scales).
 */
export function svgLinePlot(series: PlotSeries[], opts: { xLabel: string; yLabel: string; width?: number; height?: number; normalize?: boolean; markers?: number[] } = { xLabel: '', yLabel: '' }): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 300;
  const L = 64;
  const R = 16;
  const T = 12;
  const Bm = 44;
  const ys = series.map((s) => {
    if (!opts.normalize) return s.y.slice();
    const f = s.y.filter(Number.isFinite);
    const lo = Math.min(...f);
    const hi = Math.max(...f);
    return s.y.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
  });
  const allX = series.flatMap((s) => s.x.filter(Number.isFinite));
  const allY = ys.flatMap((y) => y.filter(Number.isFinite));
  let x0 = Math.min(...allX);
  let x1 = Math.max(...allX);
  let y0 = Math.min(...allY);
  let y1 = Math.max(...allY);
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - Bm - ((y - y0) / (y1 - y0)) * (H - T - Bm);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - Bm}" fill="none" stroke="#999"/>`);
  for (const t of ticks(x0, x1)) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${H - Bm}" y2="${H - Bm + 4}" stroke="#666"/><text x="${x}" y="${H - Bm + 16}" text-anchor="middle">${formatNumber(t)}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${L - 4}" x2="${L}" y1="${y}" y2="${y}" stroke="#666"/><line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${L - 6}" y="${y}" dy="4" text-anchor="end">${formatNumber(t)}</text>`);
  }
  for (const m of opts.markers ?? []) {
    const x = px(m).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${H - Bm}" stroke="#bbb" stroke-dasharray="3 3"/>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(T + H - Bm) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(opts.yLabel)}</text>`);
  series.forEach((s, k) => {
    const colour = s.colour ?? PALETTE[k % PALETTE.length];
    const pts: string[] = [];
    for (let i = 0; i < s.x.length; i++) if (Number.isFinite(s.x[i]) && Number.isFinite(ys[k][i])) pts.push(`${px(s.x[i]).toFixed(1)},${py(ys[k][i]).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.6" points="${pts.join(' ')}"/>`);
    parts.push(`<rect x="${L + 8}" y="${T + 6 + 14 * k}" width="10" height="3" fill="${colour}"/><text x="${L + 22}" y="${T + 11 + 14 * k}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222;background:#fff}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{display:inline-block;margin:6px 12px 6px 0;vertical-align:top}
figure img{max-width:100%;image-rendering:pixelated;border:1px solid #ccc;background:#000}figcaption{font-size:12px;color:#555}
.warn{background:#fff4e0;border-left:4px solid #f0a000;padding:6px 10px;margin:4px 0}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
`;

function cell(v: string | number | null): string {
  if (typeof v === 'number') return `<td class="n">${formatNumber(v)}</td>`;
  return `<td>${escapeHtml(v ?? '–')}</td>`;
}

/** The whole page as one string. */
export function renderReportHtml(report: Report): string {
  const body: string[] = [];
  body.push(`<h1>${escapeHtml(report.title)}</h1>`);
  if (report.subtitle) body.push(`<p class="sub">${escapeHtml(report.subtitle)}</p>`);
  for (const b of report.blocks) {
    switch (b.kind) {
      case 'heading':
        body.push(`<h2>${escapeHtml(b.text)}</h2>`);
        break;
      case 'text':
        body.push(`<p>${escapeHtml(b.text)}</p>`);
        break;
      case 'warnings':
        for (const w of b.items) body.push(`<div class="warn">${escapeHtml(w)}</div>`);
        break;
      case 'table': {
        const head = b.header ? `<tr>${b.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>` : '';
        const cap = b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : '';
        body.push(`<table>${cap}${head}${b.rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</table>`);
        break;
      }
      case 'figures':
        for (const f of b.items) {
          body.push(`<figure><img alt="${escapeHtml(f.caption)}" src="data:image/png;base64,${base64(f.png)}"><figcaption>${escapeHtml(f.caption)}</figcaption></figure>`);
        }
        break;
      case 'svg':
        body.push(`<figure>${b.svg}<figcaption>${escapeHtml(b.caption)}</figcaption></figure>`);
        break;
      case 'pre':
        if (b.caption) body.push(`<p>${escapeHtml(b.caption)}</p>`);
        body.push(`<pre>${escapeHtml(b.text)}</pre>`);
        break;
    }
  }
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(report.title)}</title><style>${STYLE}</style></head><body>\n${body.join('\n')}\n</body></html>\n`
  );
}

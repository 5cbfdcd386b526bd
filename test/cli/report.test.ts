// Pictures and reports through the CLI; the report rendered in real headless Chromium (Debian `chromium`,
// driven by playwright-core): no network request, no console error, a screenshot that is not blank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decode } from 'fast-png';
import { createImage, type Image } from '../../src/image/image.js';
import { writeImageFile } from '../../src/io/node.js';
import { writeNifti } from '../../src/io/nifti.js';
import { writeFileSync } from 'node:fs';
import { runCoreg as coreg } from './run-in-process.js';

const CHROMIUM = '/usr/bin/chromium';
const SKIP_NO_CHROMIUM: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)`;

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coreg-report-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function phantom(size: number[], shift: number[], spacing?: number[]): Image {
  const img = createImage(size, 'float32', { spacing });
  const [nx, ny] = size;
  const nz = size[2] ?? 1;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const dx = x - nx / 2 - shift[0];
        const dy = y - ny / 2 - shift[1];
        const dz = size.length === 3 ? z - nz / 2 : 0;
        const r = Math.sqrt(dx * dx + dy * dy + dz * dz);
        img.data[(z * ny + y) * nx + x] = r < nx / 3 ? 100 + 30 * Math.exp(-((dx - 4) ** 2 + dy ** 2) / 8) : r < nx / 3 + 2 ? 160 : 0;
      }
  return img;
}

async function renderInChromium(htmlPath: string): Promise<{ requests: string[]; errors: string[]; png: Uint8Array }> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    const url = pathToFileURL(htmlPath).href;
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });
    const png = await page.screenshot({ fullPage: true });
    // Every inlined picture decoded.
    const broken = await page.evaluate(() => Array.from(document.images).filter((i) => !i.complete || i.naturalWidth === 0).length);
    assert.equal(broken, 0, 'images that did not decode');
    return { requests, errors, png: new Uint8Array(png) };
  } finally {
    await browser.close();
  }
}

function distinctColours(png: Uint8Array): number {
  const img = decode(png);
  const seen = new Set<number>();
  const c = img.channels;
  for (let k = 0; k < img.data.length; k += c) seen.add((img.data[k] << 16) | (img.data[k + 1] << 8) | img.data[k + 2]);
  return seen.size;
}

test('register --html writes a self-contained report that Chromium renders offline with no request and no console error', { skip: SKIP_NO_CHROMIUM, timeout: 120_000 }, withDir(async (dir) => {
  writeImageFile(join(dir, 'f.nii.gz'), phantom([48, 40], [0, 0]));
  writeImageFile(join(dir, 'm.nii.gz'), phantom([48, 40], [3, -2]));
  const r = await coreg(['register', '--fixed', join(dir, 'f.nii.gz'), '--moving', join(dir, 'm.nii.gz'), '--out', join(dir, 'r'), '--transform', 'translation', '--metric', 'mse', '--initializer', 'none', '--quiet', '--html', join(dir, 'r.html')]);
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(join(dir, 'r.html'), 'utf8');
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external reference');
  assert.ok((html.match(/src="data:image\/png;base64,/g) ?? []).length >= 8, 'pictures inlined');
  assert.ok(html.includes('<svg'), 'metric plot as inline SVG');
  const { requests, errors, png } = await renderInChromium(join(dir, 'r.html'));
  assert.deepEqual(requests, []);
  assert.deepEqual(errors, []);
  assert.ok(distinctColours(png) > 50, 'screenshot is not blank');
  // coreg report on the same folder gives the same kind of page.
  const again = await coreg(['report', join(dir, 'r'), '--out', join(dir, 'again.html')]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(readFileSync(join(dir, 'again.html'), 'utf8').includes('Joint histogram'));
}));

test('register --html is written with the other outputs: an HTML file that cannot be written leaves no result behind', withDir(async (dir) => {
  writeImageFile(join(dir, 'f.nii.gz'), phantom([32, 28], [0, 0]));
  writeImageFile(join(dir, 'm.nii.gz'), phantom([32, 28], [2, -1]));
  const r = await coreg(['register', '--fixed', join(dir, 'f.nii.gz'), '--moving', join(dir, 'm.nii.gz'), '--out', join(dir, 'r'), '--transform', 'translation', '--metric', 'mse', '--initializer', 'none', '--quiet', '--html', join(dir, 'missing', 'r.html')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(join(dir, 'r', 'result.json')) && !existsSync(join(dir, 'r', 'warped.nii.gz')), 'no result without its report');
  assert.ok(!existsSync(join(dir, 'r')) || readdirSync(join(dir, 'r')).every((f) => !f.endsWith('.nii.gz') && !f.endsWith('.json') && !f.endsWith('.tfm')), readdirSync(join(dir, 'r')).join(','));
}));

test('bad input: report of a folder without results, snapshot of a 4D image, change without overlap: one error line, nothing written', withDir(async (dir) => {
  mkdirSync(join(dir, 'empty'));
  let r = await coreg(['report', join(dir, 'empty'), '--out', join(dir, 'x.html')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^coreg: error: .*empty: holds no result\.json: not a register output folder\n$/);
  assert.ok(!existsSync(join(dir, 'x.html')));

  const vec = createImage([6, 5, 4], 'float32');
  vec.components = 3;
  vec.data = new Float32Array(6 * 5 * 4 * 3);
  writeImageFile(join(dir, 'v.nii'), vec);
  r = await coreg(['snapshot', join(dir, 'v.nii'), '--out', join(dir, 'v.png')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^coreg: error: .*v\.nii: has 3 values per voxel \(a 4D or vector image\)/m);
  assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('coreg: error:')).length, 1);
  assert.ok(!existsSync(join(dir, 'v.png')));

  const a = phantom([16, 16, 12], [0, 0]);
  const b = phantom([16, 16, 12], [0, 0]);
  b.origin = [500, 0, 0];
  writeFileSync(join(dir, 'a.nii'), writeNifti(a));
  writeFileSync(join(dir, 'b.nii'), writeNifti(b));
  r = await coreg(['change', '--baseline', join(dir, 'a.nii'), '--followup', join(dir, 'b.nii'), '--out', join(dir, 'ch')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^coreg: error: --followup: does not overlap the baseline/);
  assert.ok(!existsSync(join(dir, 'ch')) || readdirSync(join(dir, 'ch')).length === 0);
  r = await coreg(['histogram', join(dir, 'a.nii'), join(dir, 'b.nii'), '--out', join(dir, 'h.png')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^coreg: error: .*b\.nii: does not overlap the fixed image\n$/);
  assert.ok(!existsSync(join(dir, 'h.png')));

  r = await coreg(['snapshot', join(dir, 'a.nii'), '--out', join(dir, 'a.jpg')]);
  assert.equal(r.code, 2);
}));

test('snapshot, histogram and landscape write PNGs (and CSV) of the right shape', withDir(async (dir) => {
  const f = phantom([40, 36], [0, 0]);
  writeImageFile(join(dir, 'f.nii.gz'), f);
  writeImageFile(join(dir, 'm.nii.gz'), phantom([40, 36], [2, 0]));
  let r = await coreg(['snapshot', join(dir, 'f.nii.gz'), '--overlay', join(dir, 'm.nii.gz'), '--out', join(dir, 's.png')]);
  assert.equal(r.code, 0, r.stderr);
  const s = decode(readFileSync(join(dir, 's.png')));
  assert.deepEqual([s.width, s.height], [40, 36]);
  r = await coreg(['histogram', join(dir, 'f.nii.gz'), join(dir, 'f.nii.gz'), '--bins', '32', '--out', join(dir, 'h.png')]);
  assert.equal(r.code, 0, r.stderr);
  const h = decode(readFileSync(join(dir, 'h.png')));
  assert.equal(h.width, h.height);
  // Of an image with itself: only the diagonal bins are lit (bottom-left to top-right).
  const scale = h.width / 32;
  for (let j = 0; j < 32; j++)
    for (let i = 0; i < 32; i++) {
      const k = h.channels * ((Math.floor((31 - j) * scale + scale / 2)) * h.width + Math.floor(i * scale + scale / 2));
      const lit = h.data[k] + h.data[k + 1] + h.data[k + 2] > 0;
      if (i !== j) assert.ok(!lit, `bin (${i}, ${j}) lit`);
    }
  // The moving phantom is the fixed one moved 2 mm along +x: every measure is lowest at a shift of +2.
  r = await coreg(['landscape', '--fixed', join(dir, 'f.nii.gz'), '--moving', join(dir, 'm.nii.gz'), '--metric', 'mse,ncc,mi', '--shift', 'x:-6:6', '--steps', '13', '--out', join(dir, 'land')]);
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(join(dir, 'land', 'landscape.csv'), 'utf8').trim().split('\n');
  assert.equal(rows[0], 'shift_x_mm,mse,ncc,mi');
  const table = rows.slice(1).map((l) => l.split(',').map(Number));
  for (let c = 1; c <= 3; c++) {
    const best = table.reduce((a, b) => (b[c] < a[c] ? b : a));
    assert.equal(best[0], 2, `column ${rows[0].split(',')[c]}`);
  }
  const png = decode(readFileSync(join(dir, 'land', 'landscape.png')));
  assert.ok(png.width > 100 && png.height > 100);
  r = await coreg(['landscape', '--fixed', join(dir, 'f.nii.gz'), '--moving', join(dir, 'm.nii.gz'), '--rotate', '-5:5', '--shift', 'x:1:2', '--out', join(dir, 'l2')]);
  assert.equal(r.code, 2);
}));

/** The inlined pictures of a report: caption → decoded PNG. */
function reportPictures(html: string): Map<string, ReturnType<typeof decode>> {
  const out = new Map<string, ReturnType<typeof decode>>();
  for (const m of html.matchAll(/<img alt="([^"]*)" src="data:image\/png;base64,([^"]*)">/g)) out.set(m[1], decode(Buffer.from(m[2], 'base64')));
  return out;
}

/** The pixels of a picture whose colour is exactly `rgb`. */
function countColour(png: ReturnType<typeof decode>, rgb: number[]): number {
  let n = 0;
  for (let k = 0; k < png.data.length; k += png.channels) if (png.data[k] === rgb[0] && png.data[k + 1] === rgb[1] && png.data[k + 2] === rgb[2]) n++;
  return n;
}

test('segment --html writes the segmentation report (contours, volumes, per-atlas pictures); coreg report on its JSON adds Dice with --reference', { timeout: 120_000 }, withDir(async (dir) => {
  const target = phantom([40, 36], [0, 0]);
  const labels = createImage([40, 36], 'uint8');
  for (let i = 0; i < target.data.length; i++) labels.data[i] = target.data[i] > 120 ? 2 : target.data[i] > 50 ? 1 : 0;
  writeImageFile(join(dir, 't.nii.gz'), target);
  writeImageFile(join(dir, 'a.nii.gz'), phantom([40, 36], [1, 0]));
  writeImageFile(join(dir, 'b.nii.gz'), phantom([40, 36], [0, -1]));
  writeImageFile(join(dir, 'l.nii.gz'), labels);
  const atlases = ['a', 'b'].flatMap((n) => ['--atlas', `${join(dir, `${n}.nii.gz`)},${join(dir, 'l.nii.gz')}`]);
  const r = await coreg(['segment', '--target', join(dir, 't.nii.gz'), ...atlases, '--out', join(dir, 'seg.nii.gz'),
    '--transform', 'translation', '--fusion', 'majority', '--threads', '1', '--quiet', '--report', join(dir, 'seg.json'), '--html', join(dir, 'seg.html')]);
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(join(dir, 'seg.html'), 'utf8');
  assert.ok(html.includes('Volumes per label') && html.includes('data:image/png;base64,'));
  // Per atlas: the checkerboard with the target and the warped label contours, each a picture of the target's shape.
  const pics = reportPictures(html);
  for (const n of ['a', 'b']) {
    const board = pics.get(`${join(dir, `${n}.nii.gz`)}: checkerboard target / warped atlas image`);
    const contours = pics.get(`${join(dir, `${n}.nii.gz`)}: its warped label contours over the target`);
    assert.ok(board && contours, `pictures of atlas ${n}`);
    assert.deepEqual([board.width, board.height, contours.width, contours.height], [40, 36, 40, 36]);
    // Both labels' contours drawn in their colours (label 1 and label 2 of the fixed palette).
    assert.ok(countColour(contours, [55, 255, 113]) > 10 && countColour(contours, [172, 55, 255]) > 10, 'contours of labels 1 and 2');
  }
  assert.equal(readdirSync(dir).filter((f) => f.includes('.tmp')).length, 0);
  // From the JSON file: no per-atlas pictures without --keep-warped (said in the page), Dice with --reference.
  const again = await coreg(['report', join(dir, 'seg.json'), '--reference', join(dir, 'l.nii.gz'), '--out', join(dir, 'seg2.html')]);
  assert.equal(again.code, 0, again.stderr);
  const html2 = readFileSync(join(dir, 'seg2.html'), 'utf8');
  const dice = /mean Dice over the reference labels: ([\d.]+)/.exec(html2);
  assert.ok(dice && Number(dice[1]) > 0.7 && Number(dice[1]) <= 1, `mean Dice ${dice?.[1]}`);
  assert.ok(html2.includes('No per-atlas pictures') && !html2.includes('warped label contours'));
  // With --keep-warped the JSON lists the files and the report shows each atlas from them.
  const k = await coreg(['segment', '--target', join(dir, 't.nii.gz'), ...atlases, '--out', join(dir, 'seg3.nii.gz'),
    '--transform', 'translation', '--fusion', 'majority', '--threads', '1', '--quiet', '--report', join(dir, 'seg3.json'), '--keep-warped', join(dir, 'kept')]);
  assert.equal(k.code, 0, k.stderr);
  const json = JSON.parse(readFileSync(join(dir, 'seg3.json'), 'utf8')) as { warped: { name: string; labels: string; image: string }[] };
  assert.equal(json.warped.length, 2);
  for (const w of json.warped) assert.ok(existsSync(w.labels) && existsSync(w.image));
  const fromFiles = await coreg(['report', join(dir, 'seg3.json'), '--out', join(dir, 'seg3.html')]);
  assert.equal(fromFiles.code, 0, fromFiles.stderr);
  const pics3 = reportPictures(readFileSync(join(dir, 'seg3.html'), 'utf8'));
  for (const n of ['a', 'b']) {
    const a = pics.get(`${join(dir, `${n}.nii.gz`)}: its warped label contours over the target`)!;
    const b = pics3.get(`${join(dir, `${n}.nii.gz`)}: its warped label contours over the target`);
    assert.ok(b, `atlas ${n} from the kept files`);
    assert.deepEqual(Buffer.from(b.data), Buffer.from(a.data), 'the same picture from memory and from the kept files');
  }
}));

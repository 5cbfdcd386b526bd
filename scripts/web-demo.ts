// Runs the browser app in headless Chromium on your own files, as a user picking them would, and saves
// screenshots and the page's outputs (the figures beside the CLI's in the README come from this):
//   node --import tsx scripts/web-demo.ts register --fixed F --moving M [--preset affine] --out DIR
//   node --import tsx scripts/web-demo.ts segment --target T --atlas IMG,LABELS [--atlas …] [--fusion jlf]
//        [--transform affine,bspline] --out DIR
// Prints the page's own time (result.json "seconds", or the segmentation's) and the wall time from click to done.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildWeb } from './web-build.js';
import { startWebServer } from './web-server.js';

const [mode, ...rest] = process.argv.slice(2);
const opts: Record<string, string[]> = {};
for (let i = 0; i < rest.length; i += 2) (opts[rest[i].replace(/^--/, '')] ??= []).push(rest[i + 1]);
const one = (k: string, d?: string): string => {
  const v = opts[k]?.[0] ?? d;
  if (v === undefined) throw new Error(`--${k} is needed`);
  return v;
};
const file = (path: string): { name: string; mimeType: string; buffer: Buffer } => ({ name: basename(path), mimeType: 'application/octet-stream', buffer: readFileSync(path) });

const out = one('out');
mkdirSync(out, { recursive: true });
await buildWeb();
const server = await startWebServer({ port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const offOrigin: string[] = [];
page.on('request', (r) => {
  const u = r.url();
  if (!(u.startsWith(server.url) || u.startsWith('blob:') || u.startsWith('data:'))) offOrigin.push(u);
});
await page.goto(server.url);
try {
  if (mode === 'register') {
    await page.selectOption('#preset', one('preset', 'affine'));
    await page.setInputFiles('#fixed-file', file(one('fixed')));
    await page.setInputFiles('#moving-file', file(one('moving')));
    await page.waitForFunction(() => !(document.getElementById('run') as HTMLButtonElement).disabled, undefined, { timeout: 120_000 });
    const t0 = Date.now();
    await page.click('#run');
    await page.waitForFunction(() => ['done', 'error', 'cancelled'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 3_600_000 });
    const wall = (Date.now() - t0) / 1000;
    const message = await page.textContent('#message');
    if ((await page.evaluate(() => document.body.dataset.state)) !== 'done') throw new Error(message ?? 'failed');
    await page.waitForTimeout(1000);
    await page.locator('#viewer').screenshot({ path: join(out, 'register-blend-checkerboard.png') });
    await page.selectOption('#view', 'jacobian');
    await page.waitForTimeout(1000);
    await page.locator('#viewer').screenshot({ path: join(out, 'register-jacobian.png') });
    writeFileSync(join(out, 'result.json'), (await page.textContent('#result')) ?? '');
    writeFileSync(join(out, 'transform.txt'), (await page.textContent('#transform')) ?? '');
    writeFileSync(join(out, 'settings.json'), await page.inputValue('#config'));
    type Times = { registerSeconds?: number; outputSeconds?: number; viewSeconds?: number };
    const times = await page.evaluate(() => {
      const c = (globalThis as unknown as { coreg: Times }).coreg;
      return { registerSeconds: c.registerSeconds, outputSeconds: c.outputSeconds, viewSeconds: c.viewSeconds };
    });
    console.log(JSON.stringify({ mode, ...times, wallSeconds: wall, message, offOrigin, screenshots: [join(out, 'register-blend-checkerboard.png'), join(out, 'register-jacobian.png')] }));
  } else if (mode === 'segment') {
    await page.setInputFiles('#seg-target', file(one('target')));
    const atlases = opts.atlas ?? [];
    for (let i = 0; i < atlases.length; i++) {
      if (i > 0) await page.click('#seg-add');
      const [img, labels] = atlases[i].split(',');
      await page.setInputFiles(`#atlas-list .atlas:nth-child(${i + 1}) .atlas-image`, file(img));
      await page.setInputFiles(`#atlas-list .atlas:nth-child(${i + 1}) .atlas-labels`, file(labels));
    }
    await page.selectOption('#seg-fusion', one('fusion', 'jlf'));
    await page.fill('#seg-transform', one('transform', 'affine,bspline'));
    const t0 = Date.now();
    await page.click('#seg-run');
    await page.waitForFunction(() => ['done', 'error', 'cancelled'].includes(document.body.dataset.segState ?? ''), undefined, { timeout: 3_600_000 });
    const wall = (Date.now() - t0) / 1000;
    const message = await page.textContent('#seg-message');
    if ((await page.evaluate(() => document.body.dataset.segState)) !== 'done') throw new Error(message ?? 'failed');
    await page.waitForTimeout(1000);
    await page.locator('#segment').screenshot({ path: join(out, 'segment.png') });
    writeFileSync(join(out, 'report.json'), (await page.textContent('#seg-report')) ?? '');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#seg-downloads a[data-name="seg.nii.gz"]')]);
    await download.saveAs(join(out, 'seg.nii.gz'));
    console.log(JSON.stringify({ mode, wallSeconds: wall, message, offOrigin, screenshot: join(out, 'segment.png'), labels: join(out, 'seg.nii.gz') }));
  } else {
    throw new Error('usage: web-demo.ts register|segment …');
  }
} finally {
  await browser.close();
  await server.close();
}

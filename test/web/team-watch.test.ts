// The team's watchdog in a real browser (Debian's chromium through playwright-core): a helper Web Worker that is
// terminated in the middle of a phase, while holding a block, makes run() throw one line (CoregError --threads)
// instead of hanging (src/parallel/browser.ts createBrowserWatch: each helper holds a Web Lock for its session,
// the browser releases it when the worker ends, a watchdog worker waits for it); without the watch the same run
// hangs. A watched team still computes, and a kernel's error is run()'s error. The page owns the helpers (so that
// it can terminate one while the calling worker is blocked); they reach the calling worker's pool by
// MessagePorts. Skips when /usr/bin/chromium is absent (.ci/run installs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startWebServer, type RunningServer } from '../../scripts/web-server.js';
import { REPO_ROOT } from '../helpers.js';
import type { Outcome } from './harness/page.js';

/** As app.test.ts: headless Chromium as root in a container. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage'];
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SKIP: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium)`;
const HARNESS = join(REPO_ROOT, 'test/web/harness');
const DIR = mkdtempSync(join(tmpdir(), 'coreg-team-watch-'));
let server: RunningServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;

before(async () => {
  if (SKIP) return;
  await build({
    entryPoints: { page: join(HARNESS, 'page.ts'), caller: join(HARNESS, 'caller.ts'), helper: join(HARNESS, 'helper.ts') },
    outdir: DIR,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
  });
  copyFileSync(join(HARNESS, 'index.html'), join(DIR, 'index.html'));
  server = await startWebServer({ port: 0, root: DIR });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.ready === '1');
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(DIR, { recursive: true, force: true });
});

function runTeam(opts: { kernel: string; helpers: number; blocks: number; terminate: boolean; watch: boolean; timeoutMs: number }): Promise<Outcome | 'timeout'> {
  return page!.evaluate((o) => (globalThis as unknown as { runTeam: (x: typeof o) => Promise<Outcome | 'timeout'> }).runTeam(o), opts);
}

test('browser team: a helper worker terminated mid-phase (holding a block) makes run() throw one line, not hang', { skip: SKIP, timeout: 120_000 }, async () => {
  const r = await runTeam({ kernel: 'test.stall', helpers: 2, blocks: 8, terminate: true, watch: true, timeoutMs: 30_000 });
  assert.notEqual(r, 'timeout', 'the team hung when its helper was terminated');
  if (r === 'timeout') return;
  assert.equal(r.watched, true, 'the browser has Web Locks: the team is watched');
  assert.equal(r.ok, false);
  assert.equal(r.subject, '--threads');
  assert.match(r.error ?? '', /^CoregError: a worker thread died in the middle of the computation/);
  assert.ok(!/\n/.test(r.error ?? ''), 'one line');
  assert.ok(r.terminatedAfterMs! < 15_000, `reported ${r.terminatedAfterMs} ms after the termination`);
});

test('browser team: without the watch the same run hangs (what the watch is for)', { skip: SKIP, timeout: 60_000 }, async () => {
  const r = await runTeam({ kernel: 'test.stall', helpers: 1, blocks: 4, terminate: true, watch: false, timeoutMs: 6_000 });
  assert.equal(r, 'timeout');
});

test('browser team: a watched team computes on its helpers; a kernel error is run()\'s error', { skip: SKIP, timeout: 60_000 }, async () => {
  const ok = await runTeam({ kernel: 'test.square', helpers: 2, blocks: 4000, terminate: false, watch: true, timeoutMs: 30_000 });
  assert.notEqual(ok, 'timeout');
  if (ok === 'timeout') return;
  assert.equal(ok.ok, true, ok.error);
  assert.equal(ok.watched, true);
  const failed = await runTeam({ kernel: 'test.fail', helpers: 2, blocks: 8, terminate: false, watch: true, timeoutMs: 30_000 });
  assert.notEqual(failed, 'timeout');
  if (failed === 'timeout') return;
  assert.equal(failed.ok, false);
  assert.match(failed.error ?? '', /block 3 failed on purpose/);
});

// `npm run web`: builds the app, serves it with cross-origin isolation headers and examples/ at /examples/, prints
// its URL; nothing outside those two folders is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'web.ts');

function rawGet(url: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('npm run web -- --port 0 prints its URL and serves the app, examples/ and COOP/COEP headers', { timeout: 120_000 }, async () => {
  // Built into a folder of its own, so that the browser tests' web-dist/ is never rebuilt under them.
  const dist = mkdtempSync(join(tmpdir(), 'coreg-web-dist-'));
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--port', '0'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, COREG_WEB_DIST: join(dist, 'web-dist') },
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('exit', (code) => reject(new Error(`web exited with ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await rawGet(url, '/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /text\/html/);
    assert.equal(index.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(index.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.match(index.body.toString(), /<script type="module" src="app.js">/);
    for (const f of ['/app.js', '/worker.js', '/style.css']) assert.equal((await rawGet(url, f)).status, 200, f);
    const png = await rawGet(url, '/examples/BrainProtonDensitySliceBorder20.png');
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.deepEqual([...png.body.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    for (const p of ['/examples/../package.json', '/examples/%2e%2e/package.json', '/../package.json', '/%2e%2e/src/web/app.ts', '/nothing-here']) {
      assert.equal((await rawGet(url, p)).status, 404, p);
    }
  } finally {
    child.kill('SIGTERM');
    rmSync(dist, { recursive: true, force: true });
  }
});

test('npm run web with a bad --port is bad usage: exit 2, one error line', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--port', 'eighty'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "coreg: error: --port: expected a port number 0-65535, got 'eighty'\n");
  assert.equal(r.stdout, '');
});

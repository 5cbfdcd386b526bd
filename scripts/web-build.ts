// Builds the browser app (src/web) into web-dist/: app.js and worker.js bundled by esbuild (NiiVue included, no
// CDN), index.html and style.css copied. The folder is plain static files, deployable anywhere.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The build output (COREG_WEB_DIST overrides it, e.g. for tests that must not touch the shared one). */
export const WEB_DIST = process.env.COREG_WEB_DIST ?? join(ROOT, 'web-dist');

/** Builds into a temporary folder and renames it into place (never a half-built web-dist/). */
export async function buildWeb(out = WEB_DIST): Promise<string> {
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build({
    entryPoints: { app: join(ROOT, 'src/web/app.ts'), worker: join(ROOT, 'src/web/worker.ts') },
    outdir: tmp,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(ROOT, 'src/web', f), join(tmp, f));
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  return out;
}

/** The newest modification time of the files under dir (ms). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds when the output is missing or older than a source file under src/ (a stale build tests old code). */
export async function ensureWebBuild(out = WEB_DIST): Promise<string> {
  const files = ['index.html', 'app.js', 'worker.js'].map((f) => join(out, f));
  if (files.every((f) => existsSync(f))) {
    const built = Math.min(...files.map((f) => statSync(f).mtimeMs));
    if (built >= newestMtime(join(ROOT, 'src'))) return out;
  }
  return buildWeb(out);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildWeb();
  console.log(`built ${out}`);
}

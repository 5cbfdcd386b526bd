// A small static server for the browser app: web-dist/ at /, the repository's examples/ at /examples/, with the
// cross-origin isolation headers (COOP/COEP) that give the page SharedArrayBuffer (the worker pool then shares
// pixels instead of copying them). Only GET/HEAD of regular files below those two folders are served.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { ROOT, WEB_DIST } from './web-build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

export interface WebServerOptions {
  port?: number;
  host?: string;
  /** Send COOP/COEP (default true). Without them the app still works; the pool copies pixels. */
  isolation?: boolean;
  root?: string;
  examples?: string;
}

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

function resolveInside(base: string, rel: string): string | null {
  const p = normalize(join(base, rel));
  return p === base || p.startsWith(base.endsWith(sep) ? base : base + sep) ? p : null;
}

export function startWebServer(opts: WebServerOptions = {}): Promise<RunningServer> {
  const root = opts.root ?? WEB_DIST;
  const examples = opts.examples ?? join(ROOT, 'examples');
  const host = opts.host ?? '127.0.0.1';
  const isolation = opts.isolation ?? true;
  const server = createServer((req, res) => {
    const headers: Record<string, string> = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
    if (isolation) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, headers).end('bad request\n');
      return;
    }
    let file: string | null;
    if (path === '/examples' || path.startsWith('/examples/')) file = resolveInside(examples, path.slice('/examples'.length));
    else file = resolveInside(root, path.endsWith('/') ? path + 'index.html' : path);
    let size = -1;
    if (file) {
      try {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      } catch {
        size = -1;
      }
    }
    if (!file || size < 0) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    const lower = file.toLowerCase();
    const type = lower.endsWith('.nii.gz') || lower.endsWith('.gz') ? 'application/gzip' : TYPES[extname(lower)] ?? 'application/octet-stream';
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': String(size) });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port ?? 8080;
      resolve({
        server,
        url: `http://${host}:${port}/`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

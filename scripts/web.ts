// `npm run web [-- --port P] [-- --no-isolation]`: builds the browser app and serves it (prints its URL).
import { buildWeb } from './web-build.js';
import { startWebServer } from './web-server.js';

const args = process.argv.slice(2);
let port = 8080;
let isolation = true;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--port' || a.startsWith('--port=')) {
    const v = a.includes('=') ? a.slice(7) : args[++i];
    port = /^\d+$/.test(v ?? '') ? Number(v) : NaN;
    if (!(port >= 0 && port <= 65535)) {
      process.stderr.write(`coreg: error: --port: expected a port number 0-65535, got '${v ?? ''}'\n`);
      process.exit(2);
    }
  } else if (a === '--no-isolation') isolation = false;
  else {
    process.stderr.write(`coreg: error: ${a}: unknown option (npm run web -- [--port P] [--no-isolation])\n`);
    process.exit(2);
  }
}
try {
  await buildWeb();
  const { url } = await startWebServer({ port, isolation });
  process.stdout.write(`${url}\n`);
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  process.stderr.write(`coreg: error: ${err.code === 'EADDRINUSE' ? `--port: ${port} is in use` : `web: ${err.message.split('\n')[0]}`}\n`);
  process.exit(1);
}

// Runs the CLI from source for the subprocess tests: node --import tsx test/cli/coreg.ts ARGS…
import { installProcessHandlers, run } from '../../src/cli/main.js';

installProcessHandlers();
process.exitCode = await run(process.argv.slice(2));

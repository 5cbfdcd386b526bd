// Process-level behaviour of the `coreg` binary: SIGINT/SIGTERM remove what the command started writing and end
// with one line (exit 130/143), and a closed stdout (`coreg info x | head -1`) ends quietly.
import { removeTemporaries } from '../io/node.js';

let installed = false;
/** Commands that run their own interrupt handling (batch, template: cancel tasks first) claim the signals. */
let claimedSignals = 0;

/** While claimed, SIGINT/SIGTERM are left to the command's own handler (which ends with its own line). */
export function claimSignals(): () => void {
  claimedSignals++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    claimedSignals--;
  };
}

/** Exit codes of a command ended by a signal (128 + signal number, as shells report them). */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** Installs the handlers once per process (bin/coreg.js calls it; in-process tests do not). */
export function installProcessHandlers(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.on(signal, () => {
      if (claimedSignals > 0) return;
      // Temporaries and output locks go; files already renamed into place are complete (the renames of one
      // command happen together, synchronously, so a signal never lands between them).
      removeTemporaries();
      process.stderr.write(`coreg: error: ${signal}: interrupted; unfinished outputs removed\n`);
      process.exit(code);
    });
  }
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      // The reader went away (e.g. `| head -1`): nothing more to say, and not a failure.
      removeTemporaries();
      process.exit(process.exitCode ?? 0);
    }
    throw e;
  });
}

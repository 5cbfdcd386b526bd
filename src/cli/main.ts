// The `coreg` command line: global options, the command list, and the contract's exit codes.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { bindContext, createContext, reportError } from './common.js';
import type { CliIO } from './common.js';
import { convertCommand } from './commands/convert.js';
import { infoCommand } from './commands/info.js';
import { applyCommand } from './commands/apply.js';
import { evalCommand } from './commands/eval.js';
import { pointsCommand } from './commands/points.js';
import { registerCommand } from './commands/register.js';
import { landmarksCommand } from './commands/landmarks.js';
import { segmentCommand } from './commands/segment.js';
import { transformCommand } from './commands/transform.js';
import { dicomCommand } from './commands/dicom.js';
import { resampleCommand } from './commands/resample.js';
import { initHdf5 } from '../transform/itk-hdf5.js';

/** Every command, one factory each (src/cli/commands/<name>.ts). Add new commands here. */
const COMMANDS: (() => Command)[] = [infoCommand, convertCommand, registerCommand, applyCommand, pointsCommand, evalCommand, landmarksCommand, segmentCommand, transformCommand, dicomCommand, resampleCommand];

function packageVersion(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two folders below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Applies coreg's output routing and error handling to a command and all its subcommands. */
function configureTree(cmd: Command, io: CliIO): void {
  cmd.exitOverride();
  cmd.configureOutput({
    writeOut: (s) => io.stdout.write(s),
    // Commander's own error text and help-on-error are replaced by reportError's single line.
    writeErr: () => undefined,
    outputError: () => undefined,
  });
  cmd.showSuggestionAfterError(true);
  for (const sub of cmd.commands) configureTree(sub, io);
}

export function buildProgram(): Command {
  const program = new Command('coreg')
    .description('Image registration for 2D and 3D medical images in physical space (LPS mm)')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces with errors')
    .helpCommand(false);
  for (const make of COMMANDS) program.addCommand(make());
  return program;
}

/** Runs the command line (argv without node and script) and returns the exit code. */
export async function run(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // Scanned directly too, so that stack traces also show for errors raised while parsing.
  let debug = argv.includes('--debug');
  try {
    const program = buildProgram();
    configureTree(program, io);
    const ctx = createContext(io, debug);
    bindContext(program, ctx);
    program.hook('preAction', () => {
      debug = ctx.debug = Boolean(program.opts().debug) || debug;
    });
    // HDF5 transform files need h5wasm, which loads asynchronously (≈ 0.4 s): only when a .h5 is named.
    if (argv.some((a) => /\.(h5|hdf5)$/i.test(a))) await initHdf5();
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err, io, debug);
  }
}

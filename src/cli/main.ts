// The `coreg` command line: global options, the command list, and the contract's exit codes.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { bindContext, createContext, reportError } from './common.js';
import type { CliIO } from './common.js';
import { pathPolicy, trackInputs } from '../io/node.js';
export { installProcessHandlers } from './process.js';
import { initHdf5 } from '../transform/itk-hdf5.js';

/**
 * Every command: its name and its factory's module (src/cli/commands/<name>.ts), loaded only when that command runs
 * (or for help and errors): a command does not pay for the others' modules. Add new commands here.
 */
const COMMANDS: Record<string, () => Promise<() => Command>> = {
  info: async () => (await import('./commands/info.js')).infoCommand,
  convert: async () => (await import('./commands/convert.js')).convertCommand,
  register: async () => (await import('./commands/register.js')).registerCommand,
  apply: async () => (await import('./commands/apply.js')).applyCommand,
  points: async () => (await import('./commands/points.js')).pointsCommand,
  eval: async () => (await import('./commands/eval.js')).evalCommand,
  landmarks: async () => (await import('./commands/landmarks.js')).landmarksCommand,
  segment: async () => (await import('./commands/segment.js')).segmentCommand,
  transform: async () => (await import('./commands/transform.js')).transformCommand,
  dicom: async () => (await import('./commands/dicom.js')).dicomCommand,
  resample: async () => (await import('./commands/resample.js')).resampleCommand,
  batch: async () => (await import('./commands/batch.js')).batchCommand,
  template: async () => (await import('./commands/template.js')).templateCommand,
  snapshot: async () => (await import('./commands/snapshot.js')).snapshotCommand,
  histogram: async () => (await import('./commands/histogram.js')).histogramCommand,
  report: async () => (await import('./commands/report.js')).reportCommand,
  change: async () => (await import('./commands/change.js')).changeCommand,
  landscape: async () => (await import('./commands/landscape.js')).landscapeCommand,
};

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

/** The program with the command named in `argv` (all of them when none is, for help and suggestions). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('coreg')
    .description('Image registration for 2D and 3D medical images in physical space (LPS mm)')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces with errors')
    .option('--allow-outside-paths', 'let files named inside other files (data files, result.json transforms) lie outside their folder (trusted files only)')
    .helpCommand(false);
  const name = argv.find((a) => !a.startsWith('-'));
  const names = name !== undefined && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS);
  for (const make of await Promise.all(names.map((n) => COMMANDS[n]()))) program.addCommand(make());
  return program;
}

/** Runs the command line (argv without node and script) and returns the exit code. */
export async function run(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // Scanned directly too, so that stack traces also show for errors raised while parsing.
  let debug = argv.includes('--debug');
  try {
    const program = await buildProgram(argv);
    configureTree(program, io);
    const ctx = createContext(io, debug);
    bindContext(program, ctx);
    // Every file read is recorded, so that no output can overwrite an input (see assertNotOverwritingInputs).
    trackInputs(true);
    pathPolicy.allowOutsidePaths = false;
    program.hook('preAction', () => {
      debug = ctx.debug = Boolean(program.opts().debug) || debug;
      pathPolicy.allowOutsidePaths = Boolean(program.opts().allowOutsidePaths);
    });
    // HDF5 transform files need h5wasm, which loads asynchronously (≈ 0.4 s): only when a .h5 is named.
    if (argv.some((a) => /\.(h5|hdf5)$/i.test(a))) await initHdf5();
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err, io, debug);
  }
}

// `coreg batch MANIFEST.csv --out DIR`: one registration per manifest row, N at a time on this machine or as one
// Slurm job array; DIR/<id>/ per row, DIR/status.csv, --resume (see src/cli/batch.ts).
import { claimSignals } from '../process.js';
import { Command } from 'commander';
import { join } from 'node:path';
import { CoregError } from '../../errors.js';
import { readTextFile } from '../../io/node.js';
import { coregVersion, defaultJobs, parseManifest, runBatch, splitShellWords, type Backend, type BatchOutcome } from '../batch.js';
import { commandAction, parseIntegerOption, usageError, type CliContext } from '../common.js';

interface BatchCliOptions {
  out: string;
  jobs?: number;
  backend?: string;
  slurmArgs?: string;
  resume?: boolean;
}

export function parseBackend(value: string | undefined): Backend {
  const b = value ?? 'local';
  if (b !== 'local' && b !== 'slurm') throw usageError('--backend', `expected local or slurm, got '${b}'`);
  return b;
}

/**
 * Runs `body` with SIGINT/SIGTERM turned into an abort; when one arrives and the body has cleaned up, prints one
 * line and exits 130/143 (the contract for interrupted commands).
 */
export async function withInterrupts<T>(ctx: CliContext, what: string, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let got: NodeJS.Signals | null = null;
  const handler = (sig: NodeJS.Signals): void => {
    if (got) return;
    got = sig;
    controller.abort();
  };
  const release = claimSignals();
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    const result = await body(controller.signal);
    if (got) {
      ctx.io.stderr.write(`coreg: error: ${what}: interrupted (${got}); running tasks were cancelled\n`);
      process.exit(got === 'SIGINT' ? 130 : 143);
    }
    return result;
  } finally {
    release();
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}

/** The contract's ending: exit 0 when every row is done, else one error line (exit 1). */
export function finishBatch(outcome: BatchOutcome, statusFile: string): void {
  const failed = outcome.rows.filter((r) => r.state !== 'done');
  if (failed.length > 0) {
    const names = failed.slice(0, 5).map((r) => r.id).join(', ') + (failed.length > 5 ? ', …' : '');
    throw new CoregError(statusFile, `${failed.length} of ${outcome.rows.length} rows failed (${names})`);
  }
}

export function batchCommand(): Command {
  return new Command('batch')
    .description(
      'register every row of MANIFEST.csv (header id,fixed,moving[,transform,metric,fixed_mask,moving_mask,…]); each row\'s\n' +
        'register outputs go to DIR/<id>/ (whole or not at all), DIR/status.csv has id,state,seconds,error.\n' +
        'Exit 0 when every row is done, 1 when any failed (after all ran).',
    )
    .argument('<MANIFEST>', 'CSV manifest (paths relative to its folder)')
    .requiredOption('--out <DIR>', 'output folder')
    .option('--jobs <N>', 'registrations at once (default: the number of cores; slurm: the array throttle %N)', parseIntegerOption('--jobs', 1))
    .option('--backend <B>', 'local (child processes on this machine, default) or slurm (one sbatch --array job)')
    .option('--slurm-args <ARGS>', 'extra sbatch options, e.g. "--partition=short --time=1:00:00 --mem=4G"')
    .option('--resume', 'skip rows whose folder holds a complete result made from the same inputs and settings')
    .action(
      commandAction<BatchCliOptions>(async (ctx, opts, args) => {
        const manifest = args[0] as string;
        const backend = parseBackend(opts.backend);
        if (opts.slurmArgs !== undefined && backend !== 'slurm') throw usageError('--slurm-args', 'only with --backend slurm');
        const slurmArgs = opts.slurmArgs ? splitShellWords(opts.slurmArgs) : [];
        const rows = parseManifest(readTextFile(manifest), manifest);
        const outcome = await withInterrupts(ctx, opts.out, (signal) =>
          runBatch({
            out: opts.out,
            rows,
            backend,
            jobs: opts.jobs ?? defaultJobs(),
            slurmArgs,
            resume: Boolean(opts.resume),
            version: coregVersion(),
            signal,
            log: (line) => ctx.io.stderr.write(`${line}\n`),
          }),
        );
        const done = outcome.rows.filter((r) => r.state === 'done').length;
        ctx.print(`${done} of ${outcome.rows.length} rows done; status in ${join(opts.out, 'status.csv')}`);
        finishBatch(outcome, join(opts.out, 'status.csv'));
      }),
    );
}

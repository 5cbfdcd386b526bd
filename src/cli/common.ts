// What every command shares: where output goes, how warnings look, and how any failure becomes exactly one
// `coreg: error: <subject>: <message>` line plus the contract's exit code (0 ok, 1 failure, 2 bad usage).
import { Command, CommanderError } from 'commander';
import { CoregError } from '../errors.js';
import type { WarningSink } from '../errors.js';

/** Anything with write(text), e.g. process.stdout. */
export interface TextSink {
  write(text: string): unknown;
}

export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
}

/** Handed to every command action. */
export interface CliContext {
  io: CliIO;
  /** --debug: print stack traces with errors. */
  debug: boolean;
  /** Prints `coreg: warning: <message>` on stderr. */
  warn: WarningSink;
  /** Writes one line to stdout. */
  print(line: string): void;
}

export function createContext(io: CliIO, debug: boolean): CliContext {
  return {
    io,
    debug,
    warn: (message: string) => {
      io.stderr.write(`coreg: warning: ${oneLine(message)}\n`);
    },
    print: (line: string) => {
      io.stdout.write(`${line}\n`);
    },
  };
}

const contexts = new WeakMap<Command, CliContext>();

/** Makes `ctx` available to every command below `program` (see contextOf). */
export function bindContext(program: Command, ctx: CliContext): void {
  contexts.set(program, ctx);
}

/** The context bound to the root of `cmd`'s command tree. */
export function contextOf(cmd: Command): CliContext {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  const ctx = contexts.get(root);
  if (!ctx) throw new Error(`command '${cmd.name()}' run outside coreg's run()`);
  return ctx;
}

/**
 * Wraps a command's handler for Command.action(): it receives the context, the parsed options and the
 * positional arguments (variadic ones as arrays). Errors propagate to run(), which reports them.
 */
export function commandAction<O extends object = Record<string, unknown>>(
  handler: (ctx: CliContext, opts: O, args: (string | string[])[], cmd: Command) => void | Promise<void>,
): (...actionArgs: unknown[]) => Promise<void> {
  return async (...actionArgs: unknown[]) => {
    const cmd = actionArgs[actionArgs.length - 1] as Command;
    await handler(contextOf(cmd), cmd.opts<O>(), cmd.processedArgs as (string | string[])[], cmd);
  };
}

/** A bad-usage error (exit code 2) about an option or argument. */
export function usageError(option: string, message: string): CoregError {
  return new CoregError(option, message, 2);
}

/** Option-value parser for Option.argParser(): a finite number. */
export function parseNumberOption(option: string): (value: string) => number {
  return (value: string) => {
    const v = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(v)) throw usageError(option, `expected a number, got '${value}'`);
    return v;
  };
}

/** Option-value parser for Option.argParser(): an integer ≥ min. */
export function parseIntegerOption(option: string, min = -Infinity): (value: string) => number {
  return (value: string) => {
    const v = /^[-+]?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(v)) throw usageError(option, `expected an integer, got '${value}'`);
    if (v < min) throw usageError(option, `must be at least ${min}, got ${v}`);
    return v;
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** "--metric <name>" / "-m, --metric <name>" → "--metric". */
function longFlag(flags: string): string {
  const long = /--[\w-]+/.exec(flags);
  return long ? long[0] : flags.split(/[ ,]/)[0];
}

/** Commander's usage message → [subject, what is wrong]. */
function describeCommanderError(err: CommanderError): [string, string] {
  const m = oneLine(err.message.replace(/^error: /, ''));
  const suggestion = /\(Did you mean (.+?)\?\)/.exec(m);
  const hint = suggestion ? ` (did you mean ${suggestion[1]}?)` : '';
  let r: RegExpExecArray | null;
  if ((r = /^unknown option '([^']+)'/.exec(m))) return [r[1], `unknown option${hint}`];
  if ((r = /^unknown command '([^']+)'/.exec(m))) return [r[1], `unknown command${hint}`];
  if ((r = /^missing required argument '([^']+)'/.exec(m))) return [r[1], 'missing required argument'];
  if ((r = /^option '([^']+)' argument missing/.exec(m))) return [longFlag(r[1]), 'missing value'];
  if ((r = /^required option '([^']+)' not specified/.exec(m))) return [longFlag(r[1]), 'required option not given'];
  if ((r = /^option '([^']+)' argument '([^']*)' is invalid\.\s*(.*)$/.exec(m))) return [longFlag(r[1]), `invalid value '${r[2]}'${r[3] ? `: ${r[3]}` : ''}`];
  if ((r = /^option '([^']+)' cannot be used with (?:option|environment variable) '([^']+)'/.exec(m))) return [longFlag(r[1]), `cannot be used with ${longFlag(r[2])}`];
  if ((r = /^too many arguments(?: for '([^']+)')?\. Expected (\d+) arguments? but got (\d+)/.exec(m))) {
    return [r[1] ?? 'coreg', `too many arguments (expected ${r[2]}, got ${r[3]})`];
  }
  return ['coreg', m];
}

/**
 * Reports a failure on stderr as one line and returns the exit code. CoregError keeps its subject and code;
 * commander's usage errors become exit 2; file-system errors name their path; anything else is an internal
 * error (with its stack under --debug).
 */
export function reportError(err: unknown, io: CliIO, debug: boolean): number {
  let subject: string;
  let message: string;
  let code: number;
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return 0; // --help, --version
    if (err.code === 'commander.help') {
      [subject, message, code] = ['command', 'missing (see --help)', 2];
    } else {
      [subject, message] = describeCommanderError(err);
      code = 2;
    }
  } else if (err instanceof CoregError) {
    [subject, message, code] = [err.subject, err.message, err.exitCode];
  } else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).path === 'string') {
    const e = err as NodeJS.ErrnoException;
    [subject, message, code] = [e.path!, e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message, 1];
  } else {
    subject = 'internal error';
    message = err instanceof Error ? err.message : String(err);
    if (!debug) message += ' (rerun with --debug for details)';
    code = 1;
  }
  io.stderr.write(`coreg: error: ${oneLine(subject)}: ${oneLine(message)}\n`);
  if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return code;
}

/** --ras's help text (points, eval tre, landmarks, register --fixed-points). */
export const RAS_HELP = 'CSV point coordinates are RAS (e.g. MNI coordinates), in and out (a CSV header r,a[,s] says so by itself)';

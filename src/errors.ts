/**
 * One error type for everything a user can cause (bad file, bad option, impossible request).
 * The command line prints it as `coreg: error: <subject>: <message>` and exits with `exitCode`.
 */
export class CoregError extends Error {
  /** The file path or option the problem is about (e.g. "brain.nii.gz" or "--metric"). */
  readonly subject: string;
  /** 1 for failures, 2 for bad usage (contract). */
  readonly exitCode: 1 | 2;
  constructor(subject: string, message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'CoregError';
    this.subject = subject;
    this.exitCode = exitCode;
  }
}

/** Receives non-fatal warnings (e.g. qform/sform disagreement). Libraries never print on their own. */
export type WarningSink = (message: string) => void;

import type { Command } from 'commander';
import { Option } from 'commander';
import { ErrorCode, LockstepError } from '../core/errors.js';

/** The `--sequences` option as parsed, with `--machines`, its former name. */
export interface SequencesCliOptions {
  sequences?: string;
  machines?: string;
}

/**
 * Adds `--sequences <dir>` to a command, and `--machines <dir>`, its deprecated former name, hidden from the help
 * so that scripts written for it keep working.
 */
export function withSequencesOption(command: Command, description: string): Command {
  return command
    .option('--sequences <dir>', description)
    .addOption(new Option('--machines <dir>', 'deprecated: use --sequences').hideHelp());
}

/**
 * The directory (or file) given by `--sequences`, or by `--machines`.
 *
 * @throws LockstepError INVALID_USAGE when `required` and neither was given, or both were, differently.
 */
export function sequencesPath(opts: SequencesCliOptions, required: true): string;
export function sequencesPath(opts: SequencesCliOptions, required: false): string | undefined;
export function sequencesPath(opts: SequencesCliOptions, required: boolean): string | undefined {
  if (opts.sequences !== undefined && opts.machines !== undefined && opts.sequences !== opts.machines) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `--sequences ${opts.sequences} and --machines ${opts.machines} disagree: --machines is the old name of --sequences, give one`,
    );
  }
  const path = opts.sequences ?? opts.machines;
  if (path === undefined && required)
    throw new LockstepError(ErrorCode.invalidUsage, 'missing --sequences <dir>: the directory (or file) of sequence definitions');
  return path;
}

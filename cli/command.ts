// The opening every command shares: parse the declared flags, answer --help, and check the
// positional argument, each usage error printed with the command's help and exit code 2.
import { err, ok, type Result } from 'neverthrow';
import { parseArgs, type FlagSpec, type ParsedArgs } from './args.ts';
import { EXIT_OK, EXIT_USAGE, type CliIo } from './io.ts';

export interface CommandSpec {
  /** The command's name as typed: `replay`. */
  readonly name: string;
  /** Its flags; `--help` is added. */
  readonly flags: Readonly<Record<string, FlagSpec>>;
  readonly help: string;
  /**
   * What the one positional argument is (`TRACE`); `null`: the command takes none (checked before
   * --help, as a usage error); absent: positionals are the command's own business.
   */
  readonly positional?: string | null;
}

export interface OpenedCommand {
  readonly args: ParsedArgs;
  /** The positional argument, when the spec names one. */
  readonly positional: string;
}

/** The parsed command line, or the exit code when usage was wrong or help was asked for. */
export function openCommand(
  argv: readonly string[],
  io: CliIo,
  spec: CommandSpec,
): Result<OpenedCommand, number> {
  const parsed = parseArgs(argv, { ...spec.flags, help: { kind: 'boolean' } });
  if (parsed.isErr()) return err(usageError(io, spec, parsed.error));
  const args = parsed.value;
  if (spec.positional === null && args.positionals.length > 0)
    return err(usageError(io, spec, 'takes no arguments'));
  if (args.flags.help === true) {
    io.out(spec.help);
    return err(EXIT_OK);
  }
  if (spec.positional == null) return ok({ args, positional: '' });
  const [positional, ...extra] = args.positionals;
  if (positional === undefined || extra.length > 0)
    return err(usageError(io, spec, `expected exactly one ${spec.positional} file`));
  return ok({ args, positional });
}

/** Prints a usage error with the command's help; returns the usage exit code. */
export function usageError(io: CliIo, spec: CommandSpec, problem: string): number {
  io.err(`memgov ${spec.name}: ${problem}\n${spec.help}`);
  return EXIT_USAGE;
}

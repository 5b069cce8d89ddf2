// The opening every command shares: parse the declared flags, answer --help, and check the
// positional arguments. A usage error is one line that names the problem and where the help is
// (exit 2): the whole help printed after it would scroll the error out of sight.
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
  /**
   * true: what follows `--` is the agent's command line (`memgov run -- claude`), kept in
   * `args.rest`; otherwise it counts as positional arguments.
   */
  readonly agentCommand?: boolean;
}

export interface OpenedCommand {
  readonly args: ParsedArgs;
  /** The positional argument, when the spec names one. */
  readonly positional: string;
  /** Every positional argument (with what followed `--` unless it is the agent's command). */
  readonly positionals: readonly string[];
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
  const positionals =
    spec.agentCommand === true ? args.positionals : [...args.positionals, ...args.rest];
  const [first, ...extra] = positionals;
  if (spec.positional === null && first !== undefined) {
    const hint = spec.agentCommand === true ? ' (put the agent command after --)' : '';
    return err(usageError(io, spec, `unexpected argument ${JSON.stringify(first)}${hint}`));
  }
  if (args.flags.help === true) {
    io.out(spec.help);
    return err(EXIT_OK);
  }
  if (spec.positional == null) return ok({ args, positional: '', positionals });
  if (first === undefined || extra.length > 0)
    return err(usageError(io, spec, `expected exactly one ${spec.positional} file`));
  return ok({ args, positional: first, positionals });
}

/** Prints a one-line usage error pointing at the command's help; returns the usage exit code. */
export function usageError(io: CliIo, spec: Pick<CommandSpec, 'name'>, problem: string): number {
  io.err(`memgov ${spec.name}: ${problem} (see memgov ${spec.name} --help)\n`);
  return EXIT_USAGE;
}

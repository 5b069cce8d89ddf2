// A small, strict argument parser: every flag is declared, unknown flags are usage errors, and
// `--flag=value` and `--flag value` both work (an optional value only as `--flag=value`). Pure:
// argv in, parsed options or an error out.
import { err, ok, type Result } from 'neverthrow';

export interface FlagSpec {
  /**
   * `string` flags take a value; `boolean` flags take none; `optional` flags stand alone (true) or
   * take a value after `=` only (`--inspect`, `--inspect=9465`), so `--inspect -- agent` and
   * `--inspect --dry-run` never swallow the next argument.
   */
  readonly kind: 'string' | 'boolean' | 'optional';
}

export interface ParsedArgs {
  readonly flags: Readonly<Record<string, string | boolean>>;
  readonly positionals: readonly string[];
  /** Everything after a bare `--`, untouched (an agent command line). */
  readonly rest: readonly string[];
}

export function parseArgs(
  argv: readonly string[],
  spec: Readonly<Record<string, FlagSpec>>,
): Result<ParsedArgs, string> {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      return ok({ flags, positionals, rest: argv.slice(i + 1) });
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') return err(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const flag = spec[name];
    if (flag === undefined) return err(`unknown option --${name}`);
    if (flag.kind === 'boolean') {
      if (eq !== -1) return err(`option --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    if (flag.kind === 'optional') {
      if (eq === -1) flags[name] = true;
      else if (eq === arg.length - 1) return err(`option --${name}= needs a value after the =`);
      else flags[name] = arg.slice(eq + 1);
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') return err(`option --${name} needs a value`);
    flags[name] = value;
  }
  return ok({ flags, positionals, rest: [] });
}

/** Reads a string flag that parseArgs has already type-checked. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags[name];
  return typeof value === 'string' ? value : undefined;
}

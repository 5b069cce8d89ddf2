// The CLI's window on the world: commands write through this so tests can capture output and
// exit codes without spawning processes.
export interface CliIo {
  /** Writes to standard output exactly as given (no newline added). */
  out(text: string): void;
  /** Writes to standard error exactly as given (no newline added). */
  err(text: string): void;
  /** Environment variables, read once at start. */
  env: Readonly<Record<string, string | undefined>>;
  /** Current working directory, for resolving relative paths in messages. */
  cwd: string;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

/** Exit codes: 0 ok, 1 runtime failure (bad input file, unreadable cgroup), 2 usage or config. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

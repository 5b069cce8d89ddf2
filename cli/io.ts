// The CLI's window on the world: commands write through this so tests can capture output and
// exit codes without spawning processes.
import { fstatSync, writeSync } from 'node:fs';
import { errnoCode, errnoSummary, sleepSync } from '../adapters/errno.ts';

/** Why standard output takes no more: its reader went away (EPIPE, `| head`), or another error. */
export type OutFailure =
  { readonly readerGone: true } | { readonly readerGone: false; readonly detail: string };

export interface CliIo {
  /** Writes to standard output exactly as given (no newline added). */
  out(text: string): void;
  /** Writes to standard error exactly as given (no newline added). */
  err(text: string): void;
  /**
   * Null while standard output works; once a write failed, why (later output is dropped), so a
   * long command can stop early. Absent where output cannot fail (tests' in-memory io).
   */
  readonly outFailure?: () => OutFailure | null;
  /** Environment variables, read once at start. */
  env: Readonly<Record<string, string | undefined>>;
  /** Current working directory, for resolving relative paths in messages. */
  cwd: string;
}

const STDOUT_FD = 1;
/** Backoff while a non-blocking pipe is full: short at first, so a fast reader costs little. */
const FIRST_RETRY_MS = 1;
const LONGEST_RETRY_MS = 32;

/**
 * Standard output written synchronously: a command that loops without yielding (replay) waits
 * for a slow reader here instead of queueing all it prints in memory, as process.stdout does for
 * a pipe. The pipe may be non-blocking (process.stderr, when it shares the pipe, makes it so):
 * EAGAIN then sleeps synchronously and tries again.
 */
function createStdout(): { write: (text: string) => void; failure: () => OutFailure | null } {
  let failure: OutFailure | null = null;
  const write = (text: string): void => {
    if (failure !== null || text === '') return;
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    let retryMs = FIRST_RETRY_MS;
    while (offset < bytes.length) {
      try {
        offset += writeSync(STDOUT_FD, bytes, offset, bytes.length - offset);
        retryMs = FIRST_RETRY_MS;
      } catch (error) {
        const code = errnoCode(error);
        if (code === 'EAGAIN') {
          sleepSync(retryMs);
          retryMs = Math.min(retryMs * 2, LONGEST_RETRY_MS);
        } else if (code !== 'EINTR') {
          failure =
            code === 'EPIPE'
              ? { readerGone: true }
              : { readerGone: false, detail: errnoSummary(error) };
          return;
        }
      }
    }
  };
  return { write, failure: () => failure };
}

const stdout = createStdout();

/**
 * process.stdout.isTTY, without building process.stdout where fd 1 cannot be a terminal (a pipe,
 * a file): that stream brings node:net and the stream modules, +1.7 MiB of peak RSS for a daemon
 * that logs through `out` anyway (docs/BENCHMARKS.md, "Footprint within target").
 */
export function stdoutIsTerminal(): boolean {
  try {
    if (!fstatSync(STDOUT_FD).isCharacterDevice()) return false;
  } catch {
    // fd 1 unusable: process.stdout says what it makes of that, as before.
  }
  return process.stdout.isTTY === true;
}

export const processIo: CliIo = {
  out: stdout.write,
  err: (text) => void process.stderr.write(text),
  outFailure: stdout.failure,
  env: process.env,
  cwd: process.cwd(),
};

/** Exit codes: 0 ok, 1 runtime failure (bad input file, unreadable cgroup), 2 usage or config. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

// Transports deliver one command to the agent (SPEC section 5). `command` runs a configured argv
// (never through a shell: no string is ever interpolated into a command line); `stdin` types a
// line into the agent memgov launched. Both resolve with an outcome and never throw.
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { PerformResult } from './executor.ts';

const STDERR_TAIL_CHARS = 400;
/** After SIGTERM a timed-out command gets this long before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/** Runs argv with a timeout; exit 0 is ok. Aborting or timing out kills the command's group. */
export function runArgv(
  argv: readonly string[],
  options: { timeoutMs: number; signal: AbortSignal; env?: NodeJS.ProcessEnv },
): Promise<PerformResult> {
  const [program, ...args] = argv;
  if (program === undefined) return Promise.resolve({ outcome: 'failed', detail: 'empty argv' });
  return new Promise((resolve) => {
    let stderrTail = '';
    let settled = false;
    let why: 'timed-out' | 'aborted' | null = null;
    const child = spawn(program, args, {
      shell: false,
      detached: true, // its own process group, so a timeout kills what it started too
      stdio: ['ignore', 'ignore', 'pipe'],
      env: options.env ?? process.env,
    });
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const stop = (reason: 'timed-out' | 'aborted'): void => {
      if (settled || why !== null) return;
      why = reason;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => stop('timed-out'), options.timeoutMs);
    const onAbort = (): void => stop('aborted');
    options.signal.addEventListener('abort', onAbort, { once: true });
    const settle = (result: PerformResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    child.on('error', (error) =>
      settle({ outcome: 'failed', detail: `${program}: ${error.message}` }),
    );
    child.on('close', (code, signal) => {
      const tail = stderrTail.trim();
      if (why === 'timed-out') {
        settle({
          outcome: 'timed-out',
          detail: `${program} ran longer than ${options.timeoutMs} ms`,
        });
      } else if (why === 'aborted') {
        settle({
          outcome: 'failed',
          detail: `${program} was stopped: ${String(options.signal.reason)}`,
        });
      } else if (code === 0) {
        settle({ outcome: 'ok' });
      } else {
        const how = signal === null ? `exited with ${String(code)}` : `was killed by ${signal}`;
        settle({ outcome: 'failed', detail: `${program} ${how}${tail === '' ? '' : `: ${tail}`}` });
      }
    });
  });
}

/** Types one line into a stream the agent reads (its stdin); ok once the bytes are handed over. */
export function typeLine(stream: Writable | null, text: string): Promise<PerformResult> {
  if (stream === null || stream.destroyed || !stream.writable) {
    return Promise.resolve({
      outcome: 'failed',
      detail: 'the agent is not running (no stdin to type into)',
    });
  }
  return new Promise((resolve) => {
    stream.write(`${text}\n`, (error) =>
      resolve(
        error
          ? { outcome: 'failed', detail: `writing to the agent's stdin: ${error.message}` }
          : { outcome: 'ok' },
      ),
    );
  });
}

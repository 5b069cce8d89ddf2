// The command transport runs a configured argv (docs/TRANSPORTS.md), never through a shell: no
// string is ever interpolated into a command line. It resolves with an outcome and never throws.
import { spawn } from 'node:child_process';
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import type { Delivery, Transport, TransportError } from './transport.ts';

/** What a delivery settles to before it is split into ok and error. */
export type Settled = Delivery | TransportError;

const STDERR_TAIL_CHARS = 400;
/** After SIGTERM a timed-out command gets this long before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/** Runs argv with a timeout; exit 0 is ok. Aborting or timing out kills the command's group. */
export function runArgv(
  argv: readonly string[],
  options: { timeoutMs: number; signal: AbortSignal; env?: NodeJS.ProcessEnv },
): Promise<Settled> {
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
    const settle = (result: Settled): void => {
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

/** Splits a settled outcome into the ok and error sides of a Result. */
export function toResult(settled: Promise<Settled>): ResultAsync<Delivery, TransportError> {
  return ResultAsync.fromSafePromise(settled).andThen((result) =>
    result.outcome === 'failed' || result.outcome === 'timed-out'
      ? errAsync<Delivery, TransportError>({ outcome: result.outcome, detail: result.detail })
      : okAsync<Delivery, TransportError>({ outcome: result.outcome, detail: result.detail }),
  );
}

/** The command transport for one request: argv per action, MEMGOV_ACTION/MEMGOV_RATIO in env. */
export function commandTransport(options: {
  argvOf: (action: 'compact' | 'clear') => readonly string[] | null;
  timeoutMs: number;
  ratio: number;
}): Transport {
  return {
    send: (action, _text, signal) => {
      const argv = options.argvOf(action);
      if (argv === null)
        return okAsync({ outcome: 'skipped', detail: `no command is configured for ${action}` });
      const env = { ...process.env, MEMGOV_ACTION: action, MEMGOV_RATIO: String(options.ratio) };
      return toResult(runArgv(argv, { timeoutMs: options.timeoutMs, signal, env }));
    },
  };
}

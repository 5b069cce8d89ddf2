// Runs deploy/entrypoint.sh for real, in a process group of its own, and reads what it says:
// its own notes on stderr ("memgov-entrypoint: ..."), the JSON records of the memgov it runs on
// stdout. At cleanup everything it started is ended, pass or fail: the entrypoint (SIGTERM, then
// SIGKILL to its whole group), the agent's own process group, and the memgovs it logged.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { identify, signalVerified, type ProcessIdentity } from '../../adapters/proc.ts';
import { BUNDLE } from '../support/cli.ts';
import {
  isGone,
  pollUntil,
  type Cleanup,
  type ExitStatus,
  type LogRecord,
} from '../support/daemon.ts';

export const ENTRYPOINT = new URL('../../deploy/entrypoint.sh', import.meta.url).pathname;
const NOTE_PREFIX = 'memgov-entrypoint: ';

export interface EntrypointProcess {
  readonly pid: number;
  /** The entrypoint's own lines, without their prefix, in order. */
  notes(): readonly string[];
  /** The JSON records of the memgov processes the loop ran (their stdout), in order. */
  records(): readonly LogRecord[];
  /** The pids of the memgov processes the loop started, from its "memgov started" notes. */
  memgovPids(): readonly number[];
  /** The agent's pid, once the entrypoint has noted its start. */
  agentPid(): number | undefined;
  exitStatus(): ExitStatus | null;
  readonly exited: Promise<ExitStatus>;
  /** Everything it wrote, both streams, for failure messages. */
  readonly output: () => string;
}

/**
 * Kills a memgov this test did not start as its child (`memgov start --detach` made it) at
 * cleanup: SIGKILL, verified against pid reuse. The tests check clean stops where they matter.
 */
export function killLater(cleanup: Cleanup, pid: number): void {
  const identity = identify(pid);
  if (identity.isErr()) return;
  cleanup.add(async () => {
    if (isGone(pid)) return;
    signalVerified(identity.value, 'SIGKILL', { group: false });
    await pollUntil(`memgov ${pid} to die`, 5_000, () => (isGone(pid) ? true : undefined));
  });
}

/** Starts `deploy/entrypoint.sh AGENT...` with PATH and `env` as its whole environment. */
export function startEntrypoint(
  cleanup: Cleanup,
  agent: readonly string[],
  env: Readonly<Record<string, string>>,
): EntrypointProcess {
  const child = spawn(ENTRYPOINT, agent, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('deploy/entrypoint.sh did not start');
  const notes: string[] = [];
  const records: LogRecord[] = [];
  const memgovs: number[] = [];
  const started: ProcessIdentity[] = [];
  let agentPid: number | undefined;
  let output = '';
  let status: ExitStatus | null = null;

  const onNote = (note: string): void => {
    notes.push(note);
    const memgov = /^memgov started \(pid (\d+), attempt \d+\)$/.exec(note);
    const agentStart = /^agent started \(pid (\d+),/.exec(note);
    const pidText = memgov?.[1] ?? agentStart?.[1];
    if (pidText === undefined) return;
    if (agentStart !== null) agentPid = Number(pidText);
    else memgovs.push(Number(pidText));
    // Identified now, so cleanup never signals a pid the system has since given to another.
    const found = identify(Number(pidText));
    if (found.isOk()) started.push(found.value);
  };
  const lineReader = (onLine: (line: string) => void): ((chunk: string) => void) => {
    let partial = '';
    return (chunk) => {
      output += chunk;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on(
    'data',
    lineReader((line) => {
      if (!line.startsWith('{')) return;
      try {
        records.push(JSON.parse(line) as LogRecord);
      } catch {
        // A line memgov did not write (the agent's, in the plain-child mode).
      }
    }),
  );
  child.stderr.setEncoding('utf8');
  child.stderr.on(
    'data',
    lineReader((line) => {
      if (line.startsWith(NOTE_PREFIX)) onNote(line.slice(NOTE_PREFIX.length));
    }),
  );
  const exited = new Promise<ExitStatus>((resolve) =>
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    }),
  );

  cleanup.add(async () => {
    if (status === null) {
      child.kill('SIGTERM');
      // Bounded: whatever is left is killed below.
      await pollUntil('the entrypoint to exit', 10_000, () => status ?? undefined).catch(
        () => undefined,
      );
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // The group is empty: everything in it has exited.
    }
    // The agent leads a process group of its own (setsid, or a tmux pane): not in the one above.
    for (const identity of started) signalVerified(identity, 'SIGKILL', { group: true });
  });

  return {
    pid,
    notes: () => notes,
    records: () => records,
    memgovPids: () => memgovs,
    agentPid: () => agentPid,
    exitStatus: () => status,
    exited,
    output: () => output,
  };
}

/** The pid a lock file names, if it names one. */
export function lockOwner(lockPath: string): number | undefined {
  try {
    const { pid } = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown };
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** JSON records of a memgov log file (memgov start --detach writes one). */
export function logFileRecords(path: string): LogRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogRecord);
}

/** Live `memgov run` processes of the bundle whose arguments mention `dir`. */
export function memgovRunsUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return (
          argv.includes(BUNDLE) &&
          argv.includes('run') &&
          argv.some((arg) => arg.startsWith(dir)) &&
          !isGone(pid)
        );
      } catch {
        return false;
      }
    });
}

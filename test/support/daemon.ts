// Runs the real memgov bundle as a daemon against a real child cgroup of our own, reads its JSON
// log as it comes, and cleans up after it: every process a test starts is killed (memgov with
// SIGTERM, then SIGKILL after a deadline; the agent's whole process group; anything left in the
// test cgroup) and every cgroup it creates is removed, pass or fail. Waits are bounded polls.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  createChildCgroup,
  removeChildCgroup,
  tasksOf,
  writableV1Parent,
} from '../../adapters/cgroup/v1-admin.ts';
import {
  identify,
  readProcStat,
  signalVerified,
  type ProcessIdentity,
} from '../../adapters/proc.ts';
import { BUNDLE } from './cli.ts';

export const MIB = 1024 * 1024;
const POLL_MS = 20;

/** Polls `probe` until it returns a value, or fails after `timeoutMs` (with `detail()` if given). */
export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined,
  detail: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const more = detail();
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${more === '' ? '' : `\n${more}`}`,
      );
    }
    await delay(POLL_MS);
  }
}

/** Removes a cgroup directory a test made; rmdir fails with EBUSY while killed tasks still leave. */
export async function removeCgroupDir(dir: string): Promise<void> {
  await pollUntil(`rmdir ${dir}`, 5_000, () => {
    try {
      rmdirSync(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code === 'EBUSY') return undefined;
      throw error;
    }
  });
}

/** Cleanup steps run in reverse order of registration; every step runs even if one throws. */
export class Cleanup {
  private readonly steps: (() => void | Promise<void>)[] = [];

  add(step: () => void | Promise<void>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    const failures: unknown[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `cleanup failed: ${failures.map(String).join('; ')}`);
    }
  }
}

/** A fresh temporary directory, removed at cleanup. */
export function tempDir(cleanup: Cleanup, prefix = 'memgov-it-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Whether a process has exited: no /proc entry, or a zombie nobody reaped yet. */
export function isGone(pid: number): boolean {
  return readProcStat(pid).match(
    (stat) => stat.state === 'Z' || stat.state === 'X',
    (error) => error.kind === 'gone',
  );
}

/** Our own v1 memory cgroup when children can be created in it; else why not (tests skip). */
export const cgroupParent = writableV1Parent();

function oomKillsIn(dir: string): number {
  const match = /^oom_kill (\d+)$/m.exec(readFileSync(`${dir}/memory.oom_control`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`${dir}/memory.oom_control has no oom_kill line`);
  return Number(match[1]);
}

export interface TestCgroup {
  readonly dir: string;
  readonly limitBytes: number;
  /** The processes in it now (cgroup.procs). */
  pids(): number[];
  /** The kernel's OOM-kill counter for this cgroup (memory.oom_control `oom_kill`). */
  oomKills(): number;
}

/**
 * Creates `<our cgroup>/memgov-it-<pid>-<random>` with a memory limit. At cleanup every process
 * still inside is SIGKILLed (only our own agents ever join it), then the cgroup is removed.
 */
export function createTestCgroup(cleanup: Cleanup, limitBytes: number): TestCgroup {
  const parent = cgroupParent._unsafeUnwrap();
  const name = `memgov-it-${process.pid}-${randomBytes(4).toString('hex')}`;
  const dir = createChildCgroup(parent, name, limitBytes)._unsafeUnwrap();
  cleanup.add(async () => {
    for (const pid of tasksOf(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    await pollUntil(`the processes in ${dir} to exit`, 5_000, () =>
      tasksOf(dir).every(isGone) ? true : undefined,
    );
    removeChildCgroup(dir, parent)._unsafeUnwrap();
  });
  return { dir, limitBytes, pids: () => tasksOf(dir), oomKills: () => oomKillsIn(dir) };
}

/** One JSON log line of memgov (tslog: `message`, `level`, then the record's fields). */
export interface LogRecord {
  readonly message: string;
  readonly level: string;
  readonly [field: string]: unknown;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface DaemonProcess {
  readonly pid: number;
  /** Every JSON record memgov logged so far, in order. */
  records(): readonly LogRecord[];
  /** Records with this message. */
  named(message: string): readonly LogRecord[];
  /** Everything on stdout and stderr (the launched agent's output is interleaved on stdout). */
  output(): string;
  /** Set once the process has exited. */
  exitStatus(): ExitStatus | null;
  readonly exited: Promise<ExitStatus>;
  /** Waits for a record (counting from index `from`) that matches; fails if memgov exits first. */
  waitFor(
    what: string,
    match: (record: LogRecord) => boolean,
    timeoutMs: number,
    from?: number,
  ): Promise<LogRecord>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** kill -9, as the OOM killer or a node drain would. */
  kill9(): Promise<ExitStatus>;
  /** The agents memgov launched, as identified from /proc when their start was logged. */
  agents(): readonly ProcessIdentity[];
  /** The last lines of output, for failure messages. */
  tail(lines?: number): string;
}

/**
 * Starts `node dist/memgov.mjs <args>`, optionally with `-- <agent...>`, with PATH and `env` as
 * its environment. Registers its stop (and the SIGKILL of every agent process group it launched)
 * with `cleanup`.
 */
export function startMemgov(
  cleanup: Cleanup,
  args: readonly string[],
  agent: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): DaemonProcess {
  const argv = [BUNDLE, ...args, ...(agent.length > 0 ? ['--', ...agent] : [])];
  const child: ChildProcess = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('memgov did not start');
  const records: LogRecord[] = [];
  const agents: ProcessIdentity[] = [];
  let output = '';
  let partial = '';
  let status: ExitStatus | null = null;
  const onLine = (line: string): void => {
    if (!line.startsWith('{')) return;
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      return;
    }
    records.push(record);
    if (record.message === 'agent started' && typeof record.pid === 'number') {
      const found = identify(record.pid);
      if (found.isOk()) agents.push(found.value);
    }
  };
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    output += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (output += chunk));
  // 'exit', not 'close': an agent that outlives a SIGKILLed memgov keeps the stdout pipe open.
  const exited = new Promise<ExitStatus>((resolve) =>
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    }),
  );

  const tail = (lines = 25): string => output.split('\n').slice(-lines).join('\n');
  const waitExit = async (timeoutMs: number): Promise<ExitStatus | undefined> => {
    const timer = new AbortController();
    try {
      return await Promise.race([
        exited,
        delay(timeoutMs, undefined, { signal: timer.signal }).catch(() => undefined),
      ]);
    } finally {
      timer.abort();
    }
  };
  const kill = async (signal: NodeJS.Signals, graceMs: number): Promise<ExitStatus> => {
    if (status !== null) return status;
    child.kill(signal);
    const after = await waitExit(graceMs);
    if (after !== undefined) return after;
    child.kill('SIGKILL');
    const killed = await waitExit(5_000);
    if (killed === undefined) throw new Error(`memgov ${pid} survived SIGKILL`);
    return killed;
  };
  const handle: DaemonProcess = {
    pid,
    records: () => records,
    named: (message) => records.filter((r) => r.message === message),
    output: () => output,
    exitStatus: () => status,
    exited,
    waitFor: (what, match, timeoutMs, from = 0) =>
      pollUntil(
        what,
        timeoutMs,
        () => {
          const found = records.slice(from).find(match);
          if (found !== undefined) return found;
          if (status !== null) {
            throw new Error(`memgov exited (${JSON.stringify(status)}) before ${what}\n${tail()}`);
          }
          return undefined;
        },
        tail,
      ),
    stop: (graceMs = 8_000) => kill('SIGTERM', graceMs),
    kill9: () => kill('SIGKILL', 5_000),
    agents: () => agents,
    tail,
  };
  cleanup.add(async () => {
    await handle.stop();
    // memgov launches its agent in a process group of its own: a SIGKILLed memgov leaves it.
    for (const identity of agents) signalVerified(identity, 'SIGKILL', { group: true });
  });
  return handle;
}

/** The synthetic agent's command line, joined to the test cgroup. */
export function syntheticAgent(
  cgroupDir: string,
  options: Readonly<Record<string, number | string>>,
): string[] {
  return [
    process.execPath,
    BUNDLE,
    'synthetic-agent',
    '--join-cgroup',
    cgroupDir,
    ...Object.entries(options).flatMap(([flag, value]) => [`--${flag}`, String(value)]),
  ];
}

/** Writes a JSON config file (memgov reads JSON or YAML) and returns its path. */
export function writeConfig(dir: string, config: Readonly<Record<string, unknown>>): string {
  const path = join(dir, 'memgov.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** An action record as `memgov status --json` prints it. */
export interface StatusAction {
  readonly seq: number;
  readonly action: 'compact' | 'clear' | 'archive-terminate';
  readonly atMs: number;
  readonly ratio: number;
  readonly outcome: string;
  readonly detail: string | null;
}

export interface StatusJson {
  readonly decided: boolean;
  readonly tier?: number;
  readonly actions?: readonly StatusAction[];
  readonly oomKills?: { readonly kills: number };
  readonly compactWindow?: { readonly compactAtMs: number; readonly open: boolean } | null;
}

/** `memgov status --json --state-file F`, run as the shipped bundle (without blocking). */
export function statusJson(stateFile: string): Promise<StatusJson> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BUNDLE, 'status', '--json', '--state-file', stateFile],
      { env: { PATH: process.env.PATH ?? '' }, timeout: 10_000 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`memgov status failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as StatusJson);
      },
    );
  });
}

/** Polls `memgov status --json` until `match` holds (each poll is one process start). */
export async function waitForStatus(
  stateFile: string,
  what: string,
  match: (status: StatusJson) => boolean,
  timeoutMs: number,
): Promise<StatusJson> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusJson | string = 'no status read yet';
  for (;;) {
    try {
      const status = await statusJson(stateFile);
      if (match(status)) return status;
      last = status;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify(last)}`,
      );
    }
    await delay(100);
  }
}

/** The `decision` records that decided an action, as [action, ratio] pairs. */
export function actionsDecided(daemon: DaemonProcess): { action: string; ratio: number }[] {
  return daemon
    .named('decision')
    .filter((r) => typeof r.action === 'string')
    .map((r) => ({ action: r.action as string, ratio: r.ratio as number }));
}

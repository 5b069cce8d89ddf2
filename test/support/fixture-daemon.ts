// The real daemon, in process, over a copy of a cgroup v1 fixture whose usage the test sets: the
// way to drive the governor through its ladder with no real memory pressure and no kernel.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../cli/config.ts';
import { memoryLog, type LogFields } from '../../actors/log.ts';
import { runDaemon } from '../../cli/daemon.ts';
import { pollUntil } from './daemon.ts';

/** The cgroup v1 fixture each daemon's scratch dir gets a copy of (as `cgroup/`). */
export const FIXTURE = new URL('../fixtures/cgroup/v1-limited/', import.meta.url).pathname;
/** memory.limit_in_bytes of the fixture. */
export const FIXTURE_LIMIT_BYTES = 64 * 1024 * 1024;

export interface FixtureDaemon {
  /** A scratch directory for the test's own files, removed by `stop`. */
  readonly work: string;
  readonly stateFile: string;
  readonly log: ReturnType<typeof memoryLog>;
  /** Sets the cgroup's usage to this fraction of the limit (inactive_file stays as the fixture's). */
  setRatio(ratio: number): void;
  /** The fields of the first record with this message (from index `from`) and a match, waited for. */
  waitFor(
    message: string,
    match?: (fields: LogFields) => boolean,
    timeoutMs?: number,
  ): Promise<LogFields>;
  /** Every record's fields with this message. */
  named(message: string): LogFields[];
  /** Resolves with the exit code once the daemon ended on its own (or was stopped). */
  readonly exited: Promise<number>;
  /**
   * Stops the daemon (as SIGTERM would), returns its exit code, and removes the scratch dir
   * unless `keep` (a later daemon restarts over the same cgroup, state file and archives).
   */
  stop(options?: { readonly keep?: boolean }): Promise<number>;
}

/** The cgroup the daemon reads, and how a test sets its ratio (only on the fixture copy). */
function ratioControl(work: string, realCgroup: string | undefined, fresh: boolean) {
  if (realCgroup !== undefined) {
    const setRatio = (): void => {
      throw new Error(`the ratio of the real cgroup ${realCgroup} is the kernel's`);
    };
    return { cgroup: realCgroup, setRatio };
  }
  const cgroup = join(work, 'cgroup');
  if (fresh) cpSync(FIXTURE, cgroup, { recursive: true });
  const usage = join(cgroup, 'memory.usage_in_bytes');
  const setRatio = (ratio: number): void =>
    writeFileSync(usage, `${Math.round(ratio * FIXTURE_LIMIT_BYTES)}\n`);
  return { cgroup, setRatio };
}

/**
 * Starts runDaemon on a fixture copy at `initialRatio`, with fast polling. `daemon` holds the
 * daemon settings (`agent`, `archive`...) as a config file would; `env` is the daemon's env.
 */
export function startFixtureDaemon(options: {
  readonly initialRatio: number;
  readonly daemon?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly prepare?: (work: string) => Readonly<Record<string, unknown>>;
  /** The agent memgov launches (`memgov run -- ARGV`), and where; default none (attached). */
  readonly agentCommand?: readonly string[];
  readonly cwd?: string;
  /**
   * A real cgroup directory to govern instead of the fixture copy: the kernel sets the ratio
   * (`initialRatio` is ignored and `setRatio` throws).
   */
  readonly realCgroup?: string;
  /** The scratch dir of an earlier daemon kept with `stop({keep: true})`: memgov restarted. */
  readonly work?: string;
}): FixtureDaemon {
  const work = options.work ?? mkdtempSync(join(tmpdir(), 'memgov-fx-'));
  const { cgroup, setRatio } = ratioControl(work, options.realCgroup, options.work === undefined);
  if (options.realCgroup === undefined) setRatio(options.initialRatio);
  const stateFile = join(work, 'state');
  const config = loadConfig({
    env: {},
    flags: { minPollMs: '100', urgentPollMs: '100' },
    daemonFlags: {
      cgroup,
      stateFile,
      logLevel: 'debug',
      archive: { dir: join(work, 'archive') },
      ...options.daemon,
      ...options.prepare?.(work),
    },
  })._unsafeUnwrap();
  const log = memoryLog();
  let stopDaemon: (why: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => (stopDaemon = resolve));
  const done = runDaemon({
    config,
    agentCommand: options.agentCommand ?? [],
    log,
    stopSignal,
    env: options.env ?? {},
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const named = (message: string): LogFields[] =>
    log.records.filter((r) => r.message === message).map((r) => r.fields);
  return {
    work,
    stateFile,
    log,
    setRatio,
    named,
    waitFor: (message, match = () => true, timeoutMs = 10_000) =>
      pollUntil(
        `a "${message}" log record`,
        timeoutMs,
        () => named(message).find(match),
        () => log.records.map((r) => `${r.message} ${JSON.stringify(r.fields)}`).join('\n'),
      ),
    exited: done,
    stop: async ({ keep = false } = {}) => {
      stopDaemon('test over');
      const code = await done;
      if (!keep) rmSync(work, { recursive: true, force: true });
      return code;
    },
  };
}

// What the composition root (cli/daemon.ts) is given: the validated config, the agent command,
// the log, and the seams tests use (clock, stop signal, env, cwd, a cgroup read to fault).
import type { Result } from 'neverthrow';
import type { CgroupReading } from '../adapters/cgroup/reader.ts';
import type { MemgovConfig } from './config.ts';
import type { Log } from '../actors/log.ts';

export interface DaemonOptions {
  readonly config: MemgovConfig;
  /** The agent command line after `--`, empty when attaching or observing. */
  readonly agentCommand: readonly string[];
  readonly log: Log;
  readonly now?: () => number;
  /** Resolves when the daemon should stop (default: SIGTERM or SIGINT). */
  readonly stopSignal?: Promise<string>;
  /** Where agent CLIs keep their sessions ($CLAUDE_CONFIG_DIR, $HOME...); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where a tmux-launched agent starts and restarts; default memgov's own cwd. */
  readonly cwd?: string;
  /** Where the companion instance lock lives (default /dev/shm); tests give their own. */
  readonly shmDir?: string;
  /** Replaces the cgroup read: fault injection in tests (a read that throws, vanishes, lies). */
  readonly read?: (real: () => Result<CgroupReading, string>) => Result<CgroupReading, string>;
}

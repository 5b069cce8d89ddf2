// The sampler actor: reads the cgroup when the governor's deadline comes, at once when asked
// (right after an action) and, on cgroup v2, when the kernel changes memory.events. It sends
// SAMPLE or SAMPLER.READ_FAILED to the supervisor and never decides anything.
import { fromCallback } from 'xstate';
import type { SamplerCommand } from '../machines/supervisor.machine.ts';
import type { CgroupReader, CgroupReading } from '../adapters/cgroup/reader.ts';
import { watchFileChanges, type FileWatch } from '../adapters/cgroup/watch.ts';
import type { Result } from 'neverthrow';
import { errorMessage } from '../lib/errors.ts';
import type { Log } from './log.ts';
import type { ProcessIdentity } from '../adapters/proc.ts';
import { incarnationKey } from '../machines/policy.ts';
import type { ToolUse } from '../machines/attribution.ts';

export interface SamplerPorts {
  /** One consistent reading of the cgroup; returns errors as values (a throw is a crash). */
  readonly read: () => Result<CgroupReading, string>;
  /** Wall-clock milliseconds. */
  readonly now: () => number;
  /**
   * Watches for kernel memory events (cgroup v2 memory.events); calls `onChange` on each
   * change. Returns a closer, or null where nothing can be watched (cgroup v1).
   */
  readonly watchEvents?: (onChange: () => void) => { close(): Promise<void> } | null;
  /**
   * The governed agent's verified identity now, or null when none is known. Each new incarnation
   * (pid + start time) is reported as AGENT.STARTED before the sample that first sees it.
   */
  readonly agentIdentity?: () => ProcessIdentity | null;
  /**
   * The largest child subtree of the agent in this reading (actors/attribution.ts), or null; only
   * called on a successful read, and the sample carries what it returns.
   */
  readonly attribute?: (reading: CgroupReading) => ToolUse | null;
}

export function createSamplerLogic(ports: SamplerPorts) {
  return fromCallback<SamplerCommand, { firstSampleAtMs: number }>(
    ({ sendBack, receive, input }) => {
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      const sampleNow = (): void => {
        if (stopped) return;
        clearTimeout(timer);
        timer = undefined;
        try {
          readAndReport();
        } catch (error) {
          // A throw here runs outside XState (in a timer): report it, so the supervisor restarts
          // this sampler within its budget instead of the exception ending the process.
          stopped = true;
          sendBack({
            type: 'SAMPLER.CRASHED',
            detail: errorMessage(error),
          });
        }
      };
      let reportedAgent: string | null = null;
      const reportAgent = (t: number): void => {
        const identity = ports.agentIdentity?.() ?? null;
        if (identity === null || incarnationKey(identity) === reportedAgent) return;
        reportedAgent = incarnationKey(identity);
        const { pid, startTicks } = identity;
        sendBack({ type: 'AGENT.STARTED', pid, startTicks, atMs: t });
      };
      const readAndReport = (): void => {
        const t = ports.now();
        reportAgent(t);
        const reading = ports.read();
        if (reading.isOk()) {
          const r = reading.value;
          const tool = ports.attribute?.(r) ?? null;
          sendBack({
            type: 'SAMPLE',
            sample: {
              t,
              current: r.currentBytes,
              inactiveFile: r.inactiveFileBytes,
              limit: r.limitBytes,
              ...(tool === null ? {} : { tool }),
              ...(r.pressureSomeAvg10Pct === undefined
                ? {}
                : { pressureSomeAvg10Pct: r.pressureSomeAvg10Pct }),
            },
            oomKills: r.oomKills,
          });
        } else {
          sendBack({ type: 'SAMPLER.READ_FAILED', atMs: t, detail: reading.error });
        }
      };
      const schedule = (atMs: number): void => {
        clearTimeout(timer);
        timer = setTimeout(sampleNow, Math.max(0, atMs - ports.now()));
      };
      receive((command) => (command.type === 'SCHEDULE' ? schedule(command.atMs) : sampleNow()));
      const watcher = ports.watchEvents?.(sampleNow) ?? null;
      schedule(input.firstSampleAtMs);
      return () => {
        stopped = true;
        clearTimeout(timer);
        void watcher?.close();
      };
    },
  );
}

/**
 * Samples at once when `memory.events` changes (cgroup v2): on every inotify notification whose
 * re-read shows new content (adapters/cgroup/watch.ts). The governor's timed read stays the safety
 * net: a lost notification costs at most one polling interval. When the process's cgroup moves,
 * the watch follows it to the new directory's file.
 */
export function watchEventsFile(reader: CgroupReader, log: Log, moves: { rewatch?: () => void }) {
  return (onChange: () => void) => {
    const start = (): FileWatch | null => {
      const handle = reader.handle();
      if (handle.version !== 2) return null;
      const path = handle.paths.events;
      const onError = (detail: string): void =>
        log.warn('watching memory.events failed', { path, detail });
      const watched = watchFileChanges(path, { onChange: () => onChange(), onError });
      if (watched.isErr()) onError(watched.error);
      return watched.unwrapOr(null);
    };
    let watcher = start();
    moves.rewatch = () => {
      void watcher?.close();
      watcher = start();
    };
    return {
      close: async () => {
        moves.rewatch = undefined;
        await watcher?.close();
      },
    };
  };
}

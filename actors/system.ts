// The composition root: wires the real sampler, executor, state file, lock, agent and log into
// the supervisor machine, restores the last state, and runs until a signal, the agent's own
// exit, or a spent restart budget. Returns the process exit code.
import { watch } from 'chokidar';
import { createActor, type Snapshot } from 'xstate';
import { formatCgroupError } from '../adapters/cgroup/parse.ts';
import type { Result } from 'neverthrow';
import {
  openCgroup,
  readCgroup,
  type CgroupHandle,
  type CgroupReading,
} from '../adapters/cgroup/reader.ts';
import { acquireLock, formatLockError } from '../adapters/lock.ts';
import {
  formatStateFileError,
  moveAside,
  readStateFile,
  writeStateFile,
} from '../adapters/state-file.ts';
import type { MemgovConfig } from '../adapters/config-file.ts';
import { createTmux, type Tmux } from '../adapters/tmux.ts';
import { launchesInTmux, resolveTransport, type AgentConfig } from '../machines/daemon-config.ts';
import type { GovernorContext } from '../machines/governor.machine.ts';
import { tierOf } from '../machines/records.ts';
import { createSupervisorMachine, type SupervisorContext } from '../machines/supervisor.machine.ts';
import { attachedAgent, launchedAgent, tmuxLaunchedAgent, type AgentHandle } from './agent.ts';
import { createExecutorLogic } from './executor.ts';
import type { Log } from './log.ts';
import { createPerform } from './perform.ts';
import { profileFor } from './profiles.ts';
import { createSamplerLogic } from './sampler.ts';

export const EXIT_BUDGET_SPENT = 3;

/** Without a durable change, the state file is still refreshed this often (for `status`). */
const STATUS_REFRESH_MS = 30_000;

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
  /** Replaces the cgroup read: fault injection in tests (a read that throws, vanishes, lies). */
  readonly read?: (real: () => Result<CgroupReading, string>) => Result<CgroupReading, string>;
}

/** What the state file holds: the supervisor's persisted snapshot, children included. */
interface PersistedSystem {
  readonly status?: string;
  readonly value?: unknown;
  readonly context?: {
    readonly governor?: GovernorContext | null;
    readonly handedOverSeq?: number;
  };
}

/** The parts of the governor's context whose change must reach disk at once. */
function durableKey(governor: GovernorContext | null): string {
  if (governor === null) return '';
  const { lastCompact, clearedSinceCompact, tier3Armed, speed } = governor.facts;
  return JSON.stringify([
    lastCompact,
    clearedSinceCompact,
    tier3Armed,
    speed,
    governor.actions,
    governor.oom,
  ]);
}

/** Resolves on SIGTERM or SIGINT; `dispose` removes the listeners (in-process callers). */
function waitForSignal(): { signal: Promise<string>; dispose: () => void } {
  const listeners: [NodeJS.Signals, () => void][] = [];
  const signal = new Promise<string>((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const) {
      const listener = (): void => resolve(name);
      listeners.push([name, listener]);
      process.once(name, listener);
    }
  });
  return {
    signal,
    dispose: () => listeners.forEach(([name, l]) => process.removeListener(name, l)),
  };
}

function watchEventsFile(handle: CgroupHandle, log: Log) {
  if (handle.version !== 2) return undefined;
  const path = handle.paths.events;
  return (onChange: () => void) => {
    // inotify, never polling: cgroup files have size 0 and a fixed mtime, so polling sees nothing.
    const watcher = watch(path, { usePolling: false, ignoreInitial: true, persistent: true });
    watcher.on('change', onChange);
    watcher.on('error', (error) =>
      log.warn('watching memory.events failed', { path, detail: String(error) }),
    );
    return { close: () => watcher.close() };
  };
}

/** The tmux server of `agent.tmuxSocket`: a path (holds a `/`) for -S, else a name for -L. */
function tmuxClient(agent: AgentConfig): Tmux {
  const socket = agent.tmuxSocket;
  if (socket === null) return createTmux();
  return createTmux(socket.includes('/') ? { socketPath: socket } : { socketName: socket });
}

/** Reads the state file; an unusable one is moved aside (kept) and the governor starts fresh. */
function restoreState(path: string, log: Log, nowMs: number): PersistedSystem | null | 'refused' {
  const read = readStateFile(path);
  if (read.isErr()) {
    log.error('cannot read the state file', { path, detail: formatStateFileError(read.error) });
    return 'refused';
  }
  const state = read.value;
  if (state.kind === 'missing') return null;
  if (state.kind === 'unusable') {
    const moved = moveAside(path, nowMs);
    log.warn('state file unusable: moved aside, starting fresh', {
      path,
      reason: state.reason,
      movedTo: moved.isOk() ? moved.value : null,
      moveError: moved.isErr() ? formatStateFileError(moved.error) : null,
    });
    return null;
  }
  return state.snapshot as PersistedSystem;
}

export async function runDaemon(options: DaemonOptions): Promise<number> {
  const { config, log } = options;
  const now = options.now ?? Date.now;
  const { daemon, policy } = config;

  const cgroup = openCgroup(daemon.cgroup === null ? {} : { dir: daemon.cgroup });
  if (cgroup.isErr()) {
    log.error('no memory cgroup to govern', { detail: formatCgroupError(cgroup.error) });
    return 1;
  }
  const handle = cgroup.value;

  const lock = acquireLock(`${daemon.stateFile}.lock`);
  if (lock.isErr()) {
    if (lock.error.kind === 'held') {
      log.info('another memgov already governs here; exiting', { ownerPid: lock.error.ownerPid });
      return 0;
    }
    log.error('cannot take the instance lock', { detail: formatLockError(lock.error) });
    return 1;
  }

  const restored = restoreState(daemon.stateFile, log, now());
  if (restored === 'refused') {
    lock.value.release();
    return 1;
  }

  const env = options.env ?? process.env;
  const profile = profileFor(daemon.agent);
  const tmux = tmuxClient(daemon.agent);
  const launch = {
    argv: options.agentCommand,
    backoffMs: 1_000,
    maxBackoffMs: 60_000,
    healthyAfterMs: 60_000,
    now,
  };
  const agent: AgentHandle =
    options.agentCommand.length === 0
      ? attachedAgent({ pid: daemon.agent.pid, pidfile: daemon.agent.pidfile }, log)
      : launchesInTmux(daemon.agent)
        ? tmuxLaunchedAgent({ ...launch, tmux, profile, env, cwd: process.cwd() }, log)
        : launchedAgent(launch, log);
  const transport = resolveTransport(daemon.agent, agent.launched);
  const realRead = (): Result<CgroupReading, string> =>
    readCgroup(handle).mapErr(formatCgroupError);

  let persistedKey = '';
  let persistedAtMs = Number.NEGATIVE_INFINITY;
  // A restored decision was logged before the restart: log only what comes after it.
  let lastLoggedT = restored?.context?.governor?.decision?.t ?? Number.NaN;
  let lastEffectSeq = Math.max(
    0,
    ...(restored?.context?.governor?.actions ?? [])
      .filter((r) => r.usedBytesAfter !== null)
      .map((r) => r.seq),
  );
  const machine = createSupervisorMachine({ policy, budget: daemon.supervisor }).provide({
    actors: {
      sampler: createSamplerLogic({
        read: options.read ? () => options.read?.(realRead) ?? realRead() : realRead,
        now,
        ...(handle.version === 2 ? { watchEvents: watchEventsFile(handle, log) } : {}),
      }),
      executor: createExecutorLogic({
        perform: createPerform({ config: daemon, transport, agent, log, now, tmux, env, profile }),
        now,
      }),
    },
    actions: {
      persist: ({ context, self }) => {
        const key = durableKey(context.governor);
        const nowMs = now();
        // Durable facts are written at once; otherwise a refresh now and then keeps `status` current.
        if (key === persistedKey && nowMs - persistedAtMs < STATUS_REFRESH_MS) return;
        // XState runs this action before it replaces the actor's snapshot: the snapshot is one
        // event old, the `context` given here is current. Write the current one, or a kill -9
        // right after a dispatch would lose the action and a restart would run it again.
        const current = { ...(self.getPersistedSnapshot() as object), context };
        const written = writeStateFile(daemon.stateFile, current, nowMs);
        // Acting matters more than recording: a failed write is logged, governing goes on.
        if (written.isErr())
          log.error('state file not written', { detail: formatStateFileError(written.error) });
        else {
          persistedKey = key;
          persistedAtMs = nowMs;
        }
      },
      report: ({ context }) => {
        reportDecision(
          context,
          log,
          policy,
          () => lastLoggedT,
          (t) => (lastLoggedT = t),
        );
        lastEffectSeq = reportEffects(context, log, lastEffectSeq);
      },
      reportResult: ({ context, event }) => {
        if (event.type !== 'ACTION.RESULT') return;
        const record = context.governor?.actions.find((r) => r.seq === event.seq);
        const fields = {
          seq: event.seq,
          action: record?.action ?? null,
          outcome: event.outcome,
          detail: event.detail ?? null,
          durationMs: event.durationMs,
          usedBytesBefore: record?.usedBytes ?? null,
        };
        if (event.outcome === 'ok' || event.outcome === 'skipped')
          log.info('action result', fields);
        else log.warn('action result', fields);
      },
      logRestart: ({ context }, params) =>
        log.warn('child restarted', { child: params.child, restarts: context.restarts }),
      logReadFailure: ({ event }) => {
        if (event.type === 'SAMPLER.READ_FAILED')
          log.error('cgroup read failed', { detail: event.detail });
      },
    },
  });

  const governor = restored?.context?.governor ?? null;
  const canRestoreWhole =
    restored?.status === 'active' && restored.value !== undefined && governor !== null;
  // Every action the governor had dispatched counts as handed over: none runs twice.
  const snapshot = canRestoreWhole
    ? {
        ...restored,
        context: {
          ...restored.context,
          handedOverSeq: Math.max(restored.context?.handedOverSeq ?? 0, governor.actionSeq),
        },
      }
    : undefined;
  const actor = createActor(machine, {
    input: { governor },
    ...(snapshot === undefined ? {} : { snapshot: snapshot as unknown as Snapshot<unknown> }),
  });
  log.info('memgov started', {
    cgroup: handle.dir,
    cgroupVersion: handle.version,
    stateFile: daemon.stateFile,
    restored: governor !== null,
    transport,
    profile: profile.name,
    dryRun: daemon.dryRun,
    agentCommand: options.agentCommand,
  });

  const done = new Promise<number>((resolve) => {
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status !== 'done') return;
        if (snapshot.value === 'failed') {
          log.error('restart budget spent: giving up so the outer loop can restart memgov', {
            failure: snapshot.context.failure,
            restarts: snapshot.context.restarts,
          });
          resolve(EXIT_BUDGET_SPENT);
        } else resolve(0);
      },
      error: (error) => {
        log.error('supervisor crashed', { detail: String(error) });
        resolve(EXIT_BUDGET_SPENT);
      },
    });
  });
  actor.start();
  // Whatever was in flight when memgov last stopped ran (or not) then: it is never run again.
  if (governor?.actions.some((record) => record.outcome === 'pending') === true) {
    actor.send({
      type: 'ACTIONS.INTERRUPTED',
      detail: 'memgov restarted while the action ran',
      atMs: now(),
    });
  }

  const signals = options.stopSignal === undefined ? waitForSignal() : null;
  const stopReason = await Promise.race([
    (options.stopSignal ?? signals?.signal ?? new Promise<string>(() => undefined)).then(
      (name) => ({
        kind: 'signal' as const,
        name,
      }),
    ),
    agent.finished.then((code) => ({ kind: 'agent' as const, code })),
    done.then((code) => ({ kind: 'supervisor' as const, code })),
  ]);
  let exitCode = 0;
  if (stopReason.kind === 'supervisor') exitCode = stopReason.code;
  else {
    log.info(
      'stopping',
      stopReason.kind === 'signal'
        ? { signal: stopReason.name }
        : { agentExitCode: stopReason.code },
    );
    persistedKey = '';
    actor.send({ type: 'STOP' });
    if (stopReason.kind === 'agent') exitCode = stopReason.code;
  }
  actor.stop();
  signals?.dispose();
  await agent.shutdown(daemon.agent.terminateGraceMs);
  lock.value.release();
  return exitCode;
}

/** Logs what each finished action achieved, once the first sample after it has measured it. */
function reportEffects(context: SupervisorContext, log: Log, afterSeq: number): number {
  let newest = afterSeq;
  for (const record of context.governor?.actions ?? []) {
    if (record.seq <= afterSeq || record.usedBytesAfter === null) continue;
    log.info('action effect', {
      seq: record.seq,
      action: record.action,
      outcome: record.outcome,
      usedBytesBefore: record.usedBytes,
      usedBytesAfter: record.usedBytesAfter,
      freedBytes: record.usedBytes - record.usedBytesAfter,
    });
    newest = Math.max(newest, record.seq);
  }
  return newest;
}

/** One structured log record per decision (not per repeat of the same sample). */
function reportDecision(
  context: SupervisorContext,
  log: Log,
  policy: MemgovConfig['policy'],
  lastT: () => number,
  setLastT: (t: number) => void,
): void {
  const governor = context.governor;
  const decision = governor?.decision;
  if (governor === null || decision === null || decision === undefined || decision.t === lastT())
    return;
  setLastT(decision.t);
  const record = {
    t: decision.t,
    ratio: Number(decision.ratio.toFixed(4)),
    usedBytes: decision.usedBytes,
    limitBytes: decision.limitBytes,
    action: decision.action,
    reason: decision.reason,
    tier: tierOf(governor.facts, decision.t, policy),
    speed: decision.speed,
    nextPollMs: decision.nextPollMs,
    growthBytesPerSec: Math.round(decision.growthBytesPerSec),
  };
  if (decision.action !== null) log.warn('decision', record);
  else log.debug('decision', record);
}

// The composition root: wires the real sampler, executor, state file, lock, agent and log into
// the supervisor machine, restores the last state, and runs until a signal, the agent's own
// exit, or a spent restart budget. Returns the process exit code. The opt-in observers (metrics,
// inspector) and the decision journal hang off the same hooks that log: none of them has a timer,
// and none of their failures stops governing.
import { watch, type FSWatcher } from 'chokidar';
import { createActor, type AnyStateMachine, type InspectionEvent, type Snapshot } from 'xstate';
import { formatCgroupError } from '../adapters/cgroup/parse.ts';
import type { Result } from 'neverthrow';
import {
  createCgroupReader,
  type CgroupReader,
  type CgroupReading,
} from '../adapters/cgroup/reader.ts';
import { acquireInstanceLock, formatLockError } from '../adapters/lock.ts';
import { removeCrashedTemps } from '../adapters/archive.ts';
import {
  formatStateFileError,
  moveAside,
  readStateFile,
  writeStateFile,
} from '../adapters/state-file.ts';
import type { MemgovConfig } from '../adapters/config-file.ts';
import { createInspector } from '../adapters/inspector.ts';
import {
  formatJournalError,
  openJournal,
  type Journal,
  type JournalRecord,
} from '../adapters/journal.ts';
import {
  createMetrics,
  formatListenError,
  serveMetrics,
  type DaemonMetrics,
  type HttpEndpoint,
  type ListenError,
} from '../adapters/metrics.ts';
import { createTmux, type Tmux } from '../adapters/tmux.ts';
import {
  journalPathOf,
  launchesInTmux,
  resolveTransport,
  type AgentConfig,
  type DaemonConfig,
} from '../machines/daemon-config.ts';
import {
  createGovernorMachine,
  stateString,
  type GovernorContext,
} from '../machines/governor.machine.ts';
import { TIER_OF_ACTION, type Decision } from '../machines/policy.ts';
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
  /** Where the companion instance lock lives (default /dev/shm); tests give their own. */
  readonly shmDir?: string;
  /** Replaces the cgroup read: fault injection in tests (a read that throws, vanishes, lies). */
  readonly read?: (real: () => Result<CgroupReading, string>) => Result<CgroupReading, string>;
}

/** What the state file holds: the supervisor's persisted snapshot, children included. */
interface PersistedSystem {
  readonly status?: string;
  readonly value?: unknown;
  readonly context?: {
    readonly governor?: GovernorContext | null;
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

/**
 * Samples at once when `memory.events` changes (cgroup v2). When the process's cgroup moves, the
 * watch follows it to the new directory's file.
 */
function watchEventsFile(reader: CgroupReader, log: Log, moves: { rewatch?: () => void }) {
  return (onChange: () => void) => {
    const start = (): FSWatcher | null => {
      const handle = reader.handle();
      if (handle.version !== 2) return null;
      const path = handle.paths.events;
      // inotify, never polling: cgroup files have size 0 and a fixed mtime, so polling sees nothing.
      const watcher = watch(path, { usePolling: false, ignoreInitial: true, persistent: true });
      watcher.on('change', onChange);
      watcher.on('error', (error) =>
        log.warn('watching memory.events failed', { path, detail: String(error) }),
      );
      return watcher;
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

/** How often a cgroup read that keeps failing is logged again at error level. */
const READ_FAILURE_NOTICE_MS = 60_000;

/**
 * Logs failed cgroup reads without flooding: the first failure at error, repeats at debug with an
 * error-level reminder a minute, and one line when reads work again. A vanished cgroup retried
 * every second would otherwise write 3,600 error lines an hour.
 */
function readFailureLog(log: Log, now: () => number) {
  let failingSinceMs: number | null = null;
  let failures = 0;
  let noticedAtMs = 0;
  return {
    failed(detail: string): void {
      const nowMs = now();
      failures++;
      if (failingSinceMs === null) {
        failingSinceMs = nowMs;
        noticedAtMs = nowMs;
        log.error('cgroup read failed', { detail });
      } else if (nowMs - noticedAtMs >= READ_FAILURE_NOTICE_MS) {
        noticedAtMs = nowMs;
        log.error('cgroup read still failing', { detail, failures, forMs: nowMs - failingSinceMs });
      } else log.debug('cgroup read failed', { detail });
    },
    succeeded(): void {
      if (failingSinceMs === null) return;
      log.info('cgroup read recovered', { failures, forMs: now() - failingSinceMs });
      failingSinceMs = null;
      failures = 0;
    },
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
  if (read.isErr() && read.error.kind === 'symlink') {
    // Planted or not, a link is never followed: the link itself is moved aside (rename does not
    // follow it), kept for whoever looks into it, and memgov starts fresh and governs.
    const moved = moveAside(path, nowMs);
    if (moved.isOk()) {
      log.warn('state file is a symbolic link: moved aside, starting fresh', {
        path,
        movedTo: moved.value,
      });
      return null;
    }
  }
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

/** Environment variables that hold paths and names, never credentials: the inspector shows them. */
const PLAIN_ENV = new Set([
  'PATH',
  'HOME',
  'PWD',
  'OLDPWD',
  'SHELL',
  'TERM',
  'LANG',
  'USER',
  'LOGNAME',
  'HOSTNAME',
  'TMPDIR',
  'SHLVL',
  'AGENT_DATA',
  '_',
]);

/** What the inspector must never show: environment values, and arguments after each argv[0]. */
function inspectorSecrets(
  env: Readonly<Record<string, string | undefined>>,
  agentCommand: readonly string[],
  daemon: DaemonConfig,
): string[] {
  const values = Object.entries(env)
    .filter(([name]) => !PLAIN_ENV.has(name) && !name.startsWith('LC_'))
    .map(([, value]) => value ?? '');
  return [
    ...values,
    ...agentCommand.slice(1),
    ...(daemon.agent.commandArgv.compact ?? []).slice(1),
    ...(daemon.agent.commandArgv.clear ?? []).slice(1),
  ];
}

/** Every leaf state of a machine as `region.state` paths, the form stateString() prints. */
function leafStates(machine: AnyStateMachine): string[] {
  const leaves: string[] = [];
  const walk = (node: AnyStateMachine['root'], path: string): void => {
    const children = Object.entries(node.states);
    if (children.length === 0) leaves.push(path);
    for (const [key, child] of children) walk(child, path === '' ? key : `${path}.${key}`);
  };
  walk(machine.root, '');
  return leaves;
}

/** The opt-in observers and the journal, as the daemon's hooks feed them. */
interface Observers {
  readonly metrics: DaemonMetrics | null;
  readonly inspect: ((event: InspectionEvent) => void) | undefined;
  /** Appends to the journal, if there is one; a failure is logged once per kind of failure. */
  journal(record: JournalRecord): void;
  /** Binds the inspector (its actors must exist first, so this comes after createActor). */
  startInspector(): Promise<void>;
  close(): Promise<void>;
}

/** Logs where a listener listens, or why it could not start: one line, no retry. */
function listening(what: string, path: string, log: Log) {
  return {
    ok: (endpoint: HttpEndpoint): HttpEndpoint => {
      const { host, port } = endpoint;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
      log.info(`${what} listening`, { host, port, url });
      return endpoint;
    },
    err: (error: ListenError): null => {
      log.error(`${what} not served: governing goes on without it`, {
        detail: formatListenError(error),
      });
      return null;
    },
  };
}

function openJournalOf(daemon: DaemonConfig, log: Log): Journal | null {
  const path = journalPathOf(daemon);
  if (path === null) return null;
  const opened = openJournal({
    path,
    maxBytes: daemon.journal.maxBytes,
    keep: daemon.journal.keep,
  });
  if (opened.isErr()) {
    log.error('journal not opened: governing goes on without it', {
      detail: formatJournalError(opened.error),
    });
    return null;
  }
  return opened.value;
}

async function startObservers(
  config: MemgovConfig,
  env: Readonly<Record<string, string | undefined>>,
  agentCommand: readonly string[],
  log: Log,
): Promise<Observers> {
  const { daemon, policy } = config;
  const endpoints: HttpEndpoint[] = [];
  let metrics: DaemonMetrics | null = null;
  if (daemon.metrics.enabled) {
    const created = await createMetrics({
      governorStates: leafStates(createGovernorMachine(policy)),
    });
    if (created.isErr())
      log.error('metrics not served: governing goes on without them', { detail: created.error });
    else {
      const report = listening('metrics', '/metrics', log);
      const served = (await serveMetrics(created.value, daemon.metrics)).match(
        report.ok,
        report.err,
      );
      if (served !== null) {
        metrics = created.value;
        endpoints.push(served);
      }
    }
  }
  const inspector = daemon.inspect.enabled
    ? createInspector({ ...daemon.inspect, secrets: inspectorSecrets(env, agentCommand, daemon) })
    : null;
  const journal = openJournalOf(daemon, log);
  const reported = new Set<string>();
  return {
    metrics,
    inspect: inspector?.observe,
    journal: (record) => {
      const written = journal?.append(record);
      if (written === undefined || written.isOk()) return;
      const kind = `${written.error.kind}:${written.error.code ?? ''}`;
      if (reported.has(kind)) return;
      reported.add(kind);
      log.error('journal not written: governing goes on (logged once per kind of failure)', {
        detail: formatJournalError(written.error),
      });
    },
    startInspector: async () => {
      if (inspector === null) return;
      const report = listening('inspector', '/', log);
      (await inspector.listen()).match(report.ok, report.err);
    },
    close: async () => {
      journal?.close();
      await Promise.all([inspector?.close(), ...endpoints.map((e) => e.close())]);
    },
  };
}

export async function runDaemon(options: DaemonOptions): Promise<number> {
  const { config, log } = options;
  const now = options.now ?? Date.now;
  const { daemon, policy } = config;

  const moves: { rewatch?: () => void } = {};
  const cgroup = createCgroupReader({
    ...(daemon.cgroup === null ? {} : { dir: daemon.cgroup }),
    onMoved: (fromDir, toDir) => {
      log.warn('memory cgroup moved: governing the new one', { fromDir, toDir });
      moves.rewatch?.();
    },
  });
  if (cgroup.isErr()) {
    log.error('no memory cgroup to govern', { detail: formatCgroupError(cgroup.error) });
    return 1;
  }
  const reader = cgroup.value;
  const handle = reader.handle();

  const lock = acquireInstanceLock(
    daemon.stateFile,
    options.shmDir === undefined ? {} : { shmDir: options.shmDir },
  );
  if (lock.isErr()) {
    if (lock.error.kind === 'held') {
      log.info('another memgov already governs here; exiting', { ownerPid: lock.error.ownerPid });
      return 0;
    }
    log.error('cannot take the instance lock', { detail: formatLockError(lock.error) });
    return 1;
  }
  if (lock.value.degraded !== null) {
    log.warn('no lock beside the state file; a lock in shared memory keeps this the only memgov', {
      detail: formatLockError(lock.value.degraded),
    });
  }
  // What a crash left in the archive directory goes now, not at the next archive.
  void removeCrashedTemps(daemon.archive.dir).then(
    (removed) => {
      if (removed.length > 0) log.info('removed the temp dirs a crash left', { removed });
    },
    (error: unknown) =>
      log.warn('cleaning the archive directory failed', { detail: String(error) }),
  );

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
        ? tmuxLaunchedAgent(
            {
              ...launch,
              tmux,
              profile,
              env,
              cwd: process.cwd(),
              oomKills: () =>
                reader.read().match(
                  (r) => r.oomKills,
                  () => null,
                ),
            },
            log,
          )
        : launchedAgent(launch, log);
  const transport = resolveTransport(daemon.agent, agent.launched);
  const realRead = (): Result<CgroupReading, string> => reader.read().mapErr(formatCgroupError);
  const readFailures = readFailureLog(log, now);
  const read = (): Result<CgroupReading, string> => {
    const reading = options.read ? options.read(realRead) : realRead();
    if (reading.isOk()) readFailures.succeeded();
    return reading;
  };
  const observers = await startObservers(config, env, options.agentCommand, log);
  const { metrics } = observers;
  const governorStates = (self: { getSnapshot(): unknown }): string => {
    const children = (self.getSnapshot() as { children?: Record<string, unknown> }).children;
    const governorRef = children?.governor as { getSnapshot(): { value: unknown } } | undefined;
    return governorRef === undefined ? '' : stateString(governorRef.getSnapshot().value);
  };

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
        read,
        now,
        ...(handle.version === 2 ? { watchEvents: watchEventsFile(reader, log, moves) } : {}),
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
      report: ({ context, event, self }) => {
        const state = governorStates(self);
        const decided = reportDecision(
          context,
          log,
          policy,
          () => lastLoggedT,
          (t) => (lastLoggedT = t),
        );
        lastEffectSeq = reportEffects(context, log, lastEffectSeq);
        metrics?.governorStates(state === '' ? [] : state.split(','));
        if (decided === null || event.type !== 'GOVERNOR.DECIDED' || event.sample === null) return;
        const { decision, tier, oomKills } = decided;
        metrics?.decided({
          ratio: decision.ratio,
          limitBytes: decision.limitBytes,
          workingSetBytes: decision.usedBytes,
          tier,
          pollIntervalMs: decision.nextPollMs,
          oomKills,
        });
        observers.journal({
          kind: 'sample',
          t: decision.t,
          current: event.sample.current,
          inactiveFile: event.sample.inactiveFile,
          limit: decision.limitBytes,
          ratio: decision.ratio,
          state,
          tier,
          action: decision.action,
          reason: decision.reason,
          nextPollMs: decision.nextPollMs,
        });
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
        const action = record?.action ?? 'unknown';
        metrics?.actionFinished({
          action,
          tier: record === undefined ? 0 : TIER_OF_ACTION[record.action],
          outcome: event.outcome,
          durationMs: event.durationMs,
        });
        observers.journal({
          kind: 'result',
          t: event.finishedAtMs,
          seq: event.seq,
          action,
          outcome: event.outcome,
          durationMs: event.durationMs,
          detail: event.detail ?? null,
        });
      },
      logRestart: ({ context }, params) => {
        log.warn('child restarted', { child: params.child, restarts: context.restarts });
        metrics?.childRestarted(params.child);
      },
      logReadFailure: ({ event }) => {
        if (event.type !== 'SAMPLER.READ_FAILED') return;
        readFailures.failed(event.detail);
        metrics?.readFailed();
      },
    },
  });

  const governor = restored?.context?.governor ?? null;
  const canRestoreWhole =
    restored?.status === 'active' && restored.value !== undefined && governor !== null;
  // A restore re-emits no request: every action the governor had dispatched stays handed over.
  const snapshot = canRestoreWhole ? restored : undefined;
  const actor = createActor(machine, {
    input: { governor },
    ...(observers.inspect === undefined ? {} : { inspect: observers.inspect }),
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
  const inspecting = observers.startInspector();
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
  await inspecting;
  await observers.close();
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
): { decision: Decision; tier: number; oomKills: number } | null {
  const governor = context.governor;
  const decision = governor?.decision;
  if (governor === null || decision === null || decision === undefined || decision.t === lastT())
    return null;
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
  return { decision, tier: record.tier, oomKills: governor.oom.kills };
}

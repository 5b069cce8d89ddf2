// Reporting (docs/DESIGN.md, "Observability"): what the supervisor's reporting actions do with
// each decision, action result, child restart and failed cgroup read: one log record, the
// metrics, and the decision journal. Nothing here decides or blocks governing; a failed observer
// is logged and governing goes on.
import type { JournalRecord } from '../adapters/journal.ts';
import type { DaemonMetrics } from '../adapters/metrics.ts';
import type { PolicyConfig } from '../machines/config.ts';
import { stateString, type GovernorContext } from '../machines/governor.machine.ts';
import { tierOfAction, type Decision, type Sample } from '../machines/policy.ts';
import { tierOf } from '../machines/records.ts';
import type { ToolUse } from '../machines/attribution.ts';
import type {
  ChildName,
  SupervisorContext,
  SupervisorEvent,
} from '../machines/supervisor.machine.ts';
import type { Log } from './log.ts';

/** How often a cgroup read that keeps failing is logged again at error level. */
const READ_FAILURE_NOTICE_MS = 60_000;

/**
 * Logs failed cgroup reads without flooding: the first failure at error, repeats at debug with an
 * error-level reminder a minute, and one line when reads work again. A vanished cgroup retried
 * every second would otherwise write 3,600 error lines an hour.
 */
export function readFailureLog(log: Log, now: () => number) {
  let failingSinceMs: number | null = null;
  let failures = 0;
  let noticedAtMs = 0;
  return {
    failed: (detail: string): void => {
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
    succeeded: (): void => {
      if (failingSinceMs === null) return;
      log.info('cgroup read recovered', { failures, forMs: now() - failingSinceMs });
      failingSinceMs = null;
      failures = 0;
    },
  };
}

export interface ReportingPorts {
  readonly log: Log;
  readonly policy: PolicyConfig;
  readonly metrics: DaemonMetrics | null;
  /** Appends to the decision journal, if there is one (failures are the journal's to log). */
  readonly journal: (record: JournalRecord) => void;
  /** Counts a failed cgroup read towards the flood-proof log. */
  readonly readFailed: (detail: string) => void;
  /** The governor's context restored at start: what it had reported is not reported again. */
  readonly restored: GovernorContext | null;
}

type ActionArgs = {
  readonly context: SupervisorContext;
  readonly event: SupervisorEvent;
  readonly self: { getSnapshot(): unknown };
};

/** The supervisor's reporting actions (`report`, `reportResult`, `logRestart`, `logReadFailure`). */
export function createReporting(ports: ReportingPorts) {
  const { log, policy, metrics } = ports;
  // A restored decision was logged before the restart: log only what comes after it.
  let lastLoggedT = ports.restored?.decision?.t ?? Number.NaN;
  const quiet = quietLine(log);
  // A restored governor's kills were journaled before the restart.
  let oomKillsJournaled = ports.restored?.oom.kills ?? 0;
  let lastEffectSeq = Math.max(
    0,
    ...(ports.restored?.actions ?? []).filter((r) => r.usedBytesAfter !== null).map((r) => r.seq),
  );
  return {
    report: ({ context, event, self }: ActionArgs): void => {
      const state = governorStates(self);
      const governor = context.governor;
      const decision = governor?.decision ?? null;
      const isNew = governor !== null && decision !== null && decision.t !== lastLoggedT;
      const sample = event.type === 'GOVERNOR.DECIDED' ? event.sample : null;
      const pressure = pressureOf(sample);
      const tier = isNew ? reportDecision(governor, decision, pressure, { log, policy }) : null;
      lastEffectSeq = reportEffects(context, log, lastEffectSeq);
      metrics?.governorStates(state === '' ? [] : state.split(','));
      if (governor === null || decision === null || tier === null) return;
      lastLoggedT = decision.t;
      quiet(decision, tier);
      metrics?.decided({
        ratio: decision.ratio,
        limitBytes: decision.limitBytes,
        workingSetBytes: decision.usedBytes,
        tier,
        pollIntervalMs: decision.nextPollMs,
        oomKills: governor.oom.kills,
        ...(decision.tool === undefined ? {} : { toolBytes: decision.tool.bytes }),
        ...pressure,
      });
      if (sample !== null) {
        ports.journal({
          kind: 'sample',
          t: decision.t,
          current: sample.current,
          inactiveFile: sample.inactiveFile,
          limit: decision.limitBytes,
          ratio: decision.ratio,
          state,
          tier,
          action: decision.action,
          reason: decision.reason,
          nextPollMs: decision.nextPollMs,
          ...(decision.tool === undefined ? {} : { tool: journalTool(decision.tool) }),
          ...pressure,
        });
      }
      if (governor.oom.kills > oomKillsJournaled) {
        reportOomKill(governor, governor.oom.kills - oomKillsJournaled, state, ports);
        oomKillsJournaled = governor.oom.kills;
      }
    },
    reportResult: ({ context, event }: ActionArgs): void => {
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
      if (event.outcome === 'ok' || event.outcome === 'skipped') log.info('action result', fields);
      else log.warn('action result', fields);
      const action = record?.action ?? 'unknown';
      metrics?.actionFinished({
        action,
        tier: record === undefined ? 0 : tierOfAction(record.action, record.replaces),
        outcome: event.outcome,
        durationMs: event.durationMs,
      });
      ports.journal({
        kind: 'result',
        t: event.finishedAtMs,
        seq: event.seq,
        action,
        outcome: event.outcome,
        durationMs: event.durationMs,
        detail: event.detail ?? null,
      });
    },
    logRestart: ({ context }: ActionArgs, params: { child: ChildName }): void => {
      log.warn('child restarted', { child: params.child, restarts: context.restarts });
      metrics?.childRestarted(params.child);
    },
    logReadFailure: ({ event }: ActionArgs): void => {
      if (event.type !== 'SAMPLER.READ_FAILED') return;
      ports.readFailed(event.detail);
      metrics?.readFailed();
    },
  };
}

/** The tool as the journal keeps it: what a reader needs, not the start time. */
function journalTool(tool: ToolUse): NonNullable<JournalRecord & { kind: 'sample' }>['tool'] {
  return { pid: tool.pid, pgid: tool.pgid, bytes: tool.bytes, command: tool.command };
}

/** The governor child's state value as one string, or '' while no governor runs. */
function governorStates(self: { getSnapshot(): unknown }): string {
  const children = (self.getSnapshot() as { children?: Record<string, unknown> }).children;
  const governorRef = children?.governor as { getSnapshot(): { value: unknown } } | undefined;
  return governorRef === undefined ? '' : stateString(governorRef.getSnapshot().value);
}

/** A rise of the cgroup's oom_kill counter: the kernel won a race. Logged and journaled. */
function reportOomKill(
  governor: GovernorContext,
  kills: number,
  state: string,
  ports: Pick<ReportingPorts, 'log' | 'journal'>,
): void {
  const { oom } = governor;
  const t = oom.lastAtMs ?? governor.decision?.t ?? 0;
  const tier = oom.tierAtLast ?? 0;
  ports.log.error('kernel OOM kill', { t, kills, totalKills: oom.kills, tier, state });
  ports.journal({ kind: 'oom', t, kills, totalKills: oom.kills, tier, state });
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

/** The sample's PSI as a field to spread into records: none when the kernel has no PSI. */
function pressureOf(sample: Sample | null): { pressureSomeAvg10Pct?: number } {
  const pct = sample?.pressureSomeAvg10Pct;
  return pct === undefined ? {} : { pressureSomeAvg10Pct: pct };
}

/** At info level, one "all quiet" line a minute between actions. */
const QUIET_EVERY_MS = 60_000;

/**
 * Decisions without an action are logged at debug; at info a person would see nothing for hours
 * and wonder whether memgov works. So once a minute (in sample time) one line says what it sees.
 */
function quietLine(log: Log): (decision: Decision, tier: number) => void {
  let lastAtMs = Number.NEGATIVE_INFINITY;
  return (decision, tier) => {
    if (decision.action !== null) {
      lastAtMs = decision.t;
      return;
    }
    if (decision.t - lastAtMs < QUIET_EVERY_MS) return;
    lastAtMs = decision.t;
    log.info('all quiet', {
      ratio: Number(decision.ratio.toFixed(4)),
      usedMiB: Math.round(decision.usedBytes / 1024 ** 2),
      limitMiB: Math.round(decision.limitBytes / 1024 ** 2),
      tier,
      nextPollMs: decision.nextPollMs,
    });
  };
}

/** One structured log record per decision (not per repeat of the same sample); returns the tier. */
function reportDecision(
  governor: GovernorContext,
  decision: Decision,
  pressure: { pressureSomeAvg10Pct?: number },
  { log, policy }: { log: Log; policy: PolicyConfig },
): number {
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
    ...(decision.replaces === undefined ? {} : { replaces: decision.replaces }),
    ...(decision.tool === undefined ? {} : { tool: decision.tool }),
    ...pressure,
  };
  if (decision.action !== null) log.warn('decision', record);
  else log.debug('decision', record);
  return record.tier;
}

// How each rung is carried out for the generic profile: compact and clear over the configured
// transport, archive-terminate as archive-then-SIGTERM of the verified agent. `--dry-run`
// decides and logs but performs nothing. Every path resolves with an outcome; none throws.
import { archiveSession, formatArchiveError } from '../adapters/archive.ts';
import {
  formatProcError,
  signalVerified,
  waitForExit,
  type ProcessIdentity,
} from '../adapters/proc.ts';
import type { DaemonConfig, TransportKind } from '../machines/daemon-config.ts';
import type { PendingAction } from '../machines/records.ts';
import type { AgentHandle } from './agent.ts';
import type { PerformResult } from './executor.ts';
import type { Log } from './log.ts';
import { runArgv, typeLine } from './transports.ts';

export interface PerformDeps {
  readonly config: DaemonConfig;
  readonly transport: TransportKind;
  readonly agent: AgentHandle;
  readonly log: Log;
  readonly now: () => number;
}

const EXIT_POLL_MS = 100;

async function sendRung(
  request: PendingAction & { action: 'compact' | 'clear' },
  signal: AbortSignal,
  deps: PerformDeps,
): Promise<PerformResult> {
  const { agent: agentConfig } = deps.config;
  if (deps.transport === 'none') {
    return { outcome: 'skipped', detail: 'observe only: no agent transport is configured' };
  }
  if (deps.transport === 'command') {
    const argv = agentConfig.commandArgv[request.action];
    if (argv === null)
      return { outcome: 'skipped', detail: `no command is configured for ${request.action}` };
    return runArgv(argv, {
      timeoutMs: agentConfig.actionTimeoutMs,
      signal,
      env: { ...process.env, MEMGOV_ACTION: request.action, MEMGOV_RATIO: String(request.ratio) },
    });
  }
  const text = agentConfig.commands[request.action];
  if (text === null)
    return { outcome: 'skipped', detail: `the profile has no ${request.action} command` };
  return typeLine(deps.agent.stdin(), text);
}

async function stopAgent(identity: ProcessIdentity, deps: PerformDeps): Promise<PerformResult> {
  const { terminateGraceMs, killAfterMs } = deps.config.agent;
  deps.agent.expectExit();
  const sent = signalVerified(identity, 'SIGTERM', { group: true });
  if (sent.isErr())
    return { outcome: 'failed', detail: `SIGTERM not sent: ${formatProcError(sent.error)}` };
  const firstWaitMs = killAfterMs ?? terminateGraceMs;
  if (
    (await waitForExit(identity, { timeoutMs: firstWaitMs, pollMs: EXIT_POLL_MS })) === 'exited'
  ) {
    return { outcome: 'ok', detail: `SIGTERM (${sent.value}); the agent exited` };
  }
  if (killAfterMs === null) {
    return {
      outcome: 'failed',
      detail: `SIGTERM (${sent.value}); still running after ${firstWaitMs} ms`,
    };
  }
  const killed = signalVerified(identity, 'SIGKILL', { group: true });
  if (killed.isErr())
    return { outcome: 'failed', detail: `SIGKILL not sent: ${formatProcError(killed.error)}` };
  const gone = await waitForExit(identity, { timeoutMs: 2_000, pollMs: EXIT_POLL_MS });
  return gone === 'exited'
    ? { outcome: 'ok', detail: `SIGTERM, then SIGKILL after ${killAfterMs} ms; the agent exited` }
    : { outcome: 'failed', detail: 'still running after SIGKILL' };
}

async function archiveThenTerminate(
  request: PendingAction,
  deps: PerformDeps,
): Promise<PerformResult> {
  const { archive } = deps.config;
  const notes: string[] = [];
  const identity = deps.agent.identity();
  if (archive.paths.length > 0) {
    const nowMs = deps.now();
    const archived = await archiveSession({
      sources: archive.paths,
      archiveRoot: archive.dir,
      reason: 'tier3',
      nowMs,
      deadlineMs: nowMs + archive.deadlineMs,
      retain: archive.retain,
      extraManifest: {
        seq: request.seq,
        ratio: request.ratio,
        usedBytes: request.usedBytes,
        limitBytes: request.limitBytes,
        agentPid: identity?.pid ?? null,
      },
    });
    if (archived.isOk()) {
      const a = archived.value;
      notes.push(
        `archived ${a.files} files (${a.bytes} bytes) to ${a.dir}${a.complete ? '' : ' (incomplete)'}`,
      );
      deps.log.info('session archived', { ...a });
    } else {
      // Stopping the agent matters more than the archive: go on, and say so.
      notes.push(`archive failed: ${formatArchiveError(archived.error)}`);
      deps.log.error('archive failed', { detail: formatArchiveError(archived.error) });
    }
  }
  if (identity === null) {
    const detail = [...notes, 'no agent process is known: nothing to stop'].join('; ');
    return { outcome: deps.transport === 'none' ? 'skipped' : 'failed', detail };
  }
  const stopped = await stopAgent(identity, deps);
  return {
    outcome: stopped.outcome,
    detail: [...notes, stopped.detail ?? ''].filter((n) => n !== '').join('; '),
  };
}

/** The executor's `perform` for the configured profile and transport. */
export function createPerform(deps: PerformDeps) {
  return async (request: PendingAction, signal: AbortSignal): Promise<PerformResult> => {
    if (deps.config.dryRun)
      return { outcome: 'skipped', detail: `dry run: would ${request.action}` };
    if (request.action === 'archive-terminate') return archiveThenTerminate(request, deps);
    return sendRung({ ...request, action: request.action }, signal, deps);
  };
}

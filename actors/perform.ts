// How each rung is carried out for the configured profile: compact and clear over the configured
// transport (tmux: typed only into an idle agent, then followed to completion), a checkpoint
// archive after each compact, archive-terminate as archive-then-SIGTERM of the verified agent.
// `--dry-run` decides and logs but performs nothing. Every path resolves with an outcome; none
// throws.
import { archiveSession, formatArchiveError } from '../adapters/archive/write.ts';
import type { Env } from '../adapters/session-files.ts';
import {
  formatProcError,
  identify,
  readRssBytes,
  signalVerified,
  waitForExit,
  type ProcessIdentity,
} from '../adapters/proc.ts';
import type { Tmux } from '../adapters/tmux.ts';
import { typeCommand } from '../transports/tmux.ts';
import type { DaemonConfig, TransportKind } from '../machines/daemon-config.ts';
import type { PendingAction } from '../machines/records.ts';
import { TIER_OF_ACTION } from '../machines/policy.ts';
import { profileFor, type AgentProfile, type RungProbe, type SessionSet } from '../agents/index.ts';
import type { AgentHandle } from './agent.ts';
import type { PerformResult } from './executor.ts';
import type { SessionLineage } from './lineage.ts';
import type { Log } from './log.ts';
import { toResult, type Settled } from '../transports/command.ts';
import { TRANSPORTS } from '../transports/index.ts';
import { pause } from '../lib/time.ts';

export interface PerformDeps {
  readonly config: DaemonConfig;
  readonly transport: TransportKind;
  readonly agent: AgentHandle;
  readonly log: Log;
  readonly now: () => number;
  /** The tmux server the agent's pane is on (tmux transport); default none. */
  readonly tmux?: Tmux | null;
  /** Where the agent keeps its sessions ($CLAUDE_CONFIG_DIR, $HOME...); default process.env. */
  readonly env?: Env;
  /** Default: the profile the config names. */
  readonly profile?: AgentProfile;
  /** The agent's session ids since launch or attach; each action adds the one it sees. */
  readonly lineage?: SessionLineage;
}

const EXIT_POLL_MS = 100;
/** How often the profile's completion signal (transcript, session file) is read. */
const COMPLETION_POLL_MS = 250;

/** The handle's identity, else the verified process of the configured pane. */
async function rootIdentity(deps: PerformDeps): Promise<ProcessIdentity | null> {
  const known = deps.agent.identity();
  if (known !== null) return known;
  const target = paneTarget(deps);
  if (deps.tmux == null || target === null) return null;
  const pid = await deps.tmux.panePid(target);
  if (pid.isErr()) return null;
  const found = identify(pid.value);
  return found.isOk() ? found.value : null;
}

/**
 * The agent's identity: the process the profile recognises at or below the root (a shell in the
 * pane started the CLI), else the root itself. Looked up on every action, so a relaunched agent
 * is found again.
 */
async function agentIdentity(deps: PerformDeps): Promise<ProcessIdentity | null> {
  const root = await rootIdentity(deps);
  const profile = deps.profile ?? profileFor(deps.config.agent);
  if (root === null || profile.findAgent === undefined) return root;
  return (await profile.findAgent(root, deps.env ?? process.env)) ?? root;
}

function paneTarget(deps: PerformDeps): string | null {
  return deps.agent.pane?.() ?? deps.config.agent.tmuxTarget;
}

/** Adds the agent's session id now to the lineage; returns the chain (empty without one). */
async function observeSession(
  identity: ProcessIdentity | null,
  deps: PerformDeps,
): Promise<readonly string[]> {
  if (deps.lineage === undefined) return [];
  const profile = deps.profile ?? profileFor(deps.config.agent);
  if (identity !== null) {
    const id = await profile.sessionId(identity.pid, deps.env ?? process.env).catch(() => null);
    deps.lineage.observe(id);
  }
  return deps.lineage.chain();
}

/**
 * The name of the profile's prompt without an answer (a trust dialog) that the pane shows now, or
 * null: a command typed into it would answer it (Enter confirms the first choice, Escape exits).
 */
async function unansweredPrompt(
  tmux: Tmux,
  target: string,
  profile: AgentProfile,
): Promise<string | null> {
  const questions = profile.startupPrompts.filter((prompt) => prompt.keys === null);
  if (questions.length === 0) return null;
  const text = await tmux.capturePane(target);
  if (text.isErr()) return null;
  return questions.find((prompt) => prompt.shows.test(text.value))?.name ?? null;
}

/** Types the rung's command into the agent's pane, then follows it until it finished. */
async function sendOverTmux(
  action: 'compact' | 'clear',
  text: string,
  signal: AbortSignal,
  deps: PerformDeps,
  profile: AgentProfile,
): Promise<PerformResult> {
  const { agent: agentConfig } = deps.config;
  const target = paneTarget(deps);
  if (deps.tmux == null || target === null) {
    return { outcome: 'failed', detail: 'the tmux transport has no pane (set agent.tmuxTarget)' };
  }
  const asked = await unansweredPrompt(deps.tmux, target, profile);
  if (asked !== null) {
    deps.log.warn('the agent asks a question memgov does not answer', { action, prompt: asked });
    const detail = `the agent shows its ${asked} prompt, which memgov never answers: nothing typed (answer it in the pane)`;
    return { outcome: 'failed', detail };
  }
  const identity = await agentIdentity(deps);
  let probe: RungProbe;
  try {
    probe = await profile.probe(action, text, {
      env: deps.env ?? process.env,
      tmux: deps.tmux,
      target,
      pid: identity?.pid ?? null,
      now: deps.now,
    });
  } catch (error) {
    return { outcome: 'failed', detail: `the ${profile.name} checks failed: ${String(error)}` };
  }
  const typed = await typeCommand(deps.tmux, target, text, {
    isIdle: probe.isIdle,
    taken: probe.taken,
    idleDeadlineMs: agentConfig.idleDeadlineMs,
    busyPolicy: agentConfig.busyPolicy,
    enterKey: agentConfig.enterKey ?? profile.enterKey,
    signal,
  });
  if (typed.outcome !== 'ok') {
    if (typed.outcome === 'skipped')
      deps.log.warn('agent busy: rung skipped', { action, detail: typed.detail });
    return typed;
  }
  return followToCompletion(action, typed.detail, probe, signal, deps);
}

/** Polls the probe's `finished` after the command was taken, until done, failed or timed out. */
async function followToCompletion(
  action: 'compact' | 'clear',
  typedDetail: string | undefined,
  probe: RungProbe,
  signal: AbortSignal,
  deps: PerformDeps,
): Promise<PerformResult> {
  const { agent: agentConfig } = deps.config;
  const startedMs = performance.now();
  for (;;) {
    const done = await probe.finished().catch((error: unknown): { kind: 'pending' } => {
      deps.log.warn('completion check failed', { action, detail: String(error) });
      return { kind: 'pending' };
    });
    const waitedMs = Math.round(performance.now() - startedMs);
    if (done.kind === 'done')
      return { outcome: 'ok', detail: `${typedDetail}; ${done.detail} after ${waitedMs} ms` };
    if (done.kind === 'failed')
      return { outcome: 'failed', detail: `${typedDetail}; ${done.detail}` };
    if (signal.aborted) {
      return {
        outcome: 'failed',
        detail: `${typedDetail}; stopped while waiting for it to finish: ${String(signal.reason)}`,
      };
    }
    if (waitedMs >= agentConfig.actionTimeoutMs) {
      return {
        outcome: 'timed-out',
        detail: `${typedDetail}; not finished ${agentConfig.actionTimeoutMs} ms later`,
      };
    }
    await pause(Math.min(COMPLETION_POLL_MS, agentConfig.actionTimeoutMs - waitedMs), signal);
  }
}

/** The tmux path yields only the four delivery outcomes; the other two never come from it. */
function asSettled(result: PerformResult): Settled {
  const { outcome, detail = '' } = result;
  if (outcome === 'ok' || outcome === 'skipped') return { outcome, detail };
  return { outcome: outcome === 'timed-out' ? 'timed-out' : 'failed', detail };
}

async function sendRung(
  request: PendingAction & { action: 'compact' | 'clear' },
  signal: AbortSignal,
  deps: PerformDeps,
): Promise<PerformResult> {
  const { agent: agentConfig } = deps.config;
  const profile = deps.profile ?? profileFor(agentConfig);
  if (profile.name !== 'generic' && profile.commands[request.action] === null) {
    const detail = profile.missingRung(request.action);
    deps.log.info('rung skipped', { action: request.action, profile: profile.name, detail });
    return { outcome: 'skipped', detail };
  }
  const text = profile.commands[request.action];
  const typesText = deps.transport === 'stdin' || deps.transport === 'tmux';
  if (typesText && text === null)
    return { outcome: 'skipped', detail: `the profile has no ${request.action} command` };
  const transport = TRANSPORTS[deps.transport]({
    argvOf: (action) => agentConfig.commandArgv[action],
    timeoutMs: agentConfig.actionTimeoutMs,
    ratio: request.ratio,
    stdinOf: () => deps.agent.stdin(),
    tmux: () => ({
      send: (action, line, tmuxSignal) =>
        toResult(sendOverTmux(action, line, tmuxSignal, deps, profile).then(asSettled)),
    }),
  });
  const sent = await transport.send(request.action, text ?? '', signal);
  return sent.match<PerformResult>(
    (delivery) => delivery,
    (error) => error,
  );
}

/** The agent's session set with its lineage; null (a warning logged) when it cannot be read. */
async function agentSessionSet(
  identity: ProcessIdentity,
  profile: AgentProfile,
  deps: PerformDeps,
): Promise<SessionSet | null> {
  const lineage = await observeSession(identity, deps);
  const set = await profile.sessionSet(identity.pid, deps.env ?? process.env, lineage).then(
    (found) =>
      found.match(
        (value) => ({ value }),
        (e) => ({ error: e.detail }),
      ),
    (error: unknown) => ({ error: String(error) }),
  );
  if (!('error' in set)) return set.value;
  deps.log.warn('session files not found', { profile: profile.name, detail: set.error });
  return null;
}

/**
 * Archives `config.archive.paths` and the profile's session set, incrementally (files unchanged
 * since the last archive are hard-linked from it). Returns a note for the action's detail, or
 * null when there is nothing to archive. Never rejects: a failed archive is a note, not a throw.
 */
async function archiveAll(
  reason: 'checkpoint' | 'tier3',
  request: PendingAction,
  identity: ProcessIdentity | null,
  deps: PerformDeps,
): Promise<string | null> {
  const { archive } = deps.config;
  const profile = deps.profile ?? profileFor(deps.config.agent);
  const sources = [...archive.paths];
  let exclude: ((relPath: string, absPath: string) => boolean) | undefined;
  let profileExtra: Readonly<Record<string, unknown>> = { profile: profile.name };
  const set = identity === null ? null : await agentSessionSet(identity, profile, deps);
  if (set !== null) {
    sources.push(...set.sources.filter((source) => !sources.includes(source)));
    exclude = set.exclude;
    profileExtra = { profile: profile.name, ...set.extraManifest };
  }
  if (sources.length === 0) return null;
  const nowMs = deps.now();
  const archived = await archiveSession({
    sources,
    archiveRoot: archive.dir,
    reason,
    nowMs,
    deadlineMs: nowMs + archive.deadlineMs,
    retain: archive.retain,
    incremental: true,
    ...(exclude === undefined ? {} : { exclude }),
    extraManifest: {
      ...profileExtra,
      seq: request.seq,
      tier: TIER_OF_ACTION[request.action],
      ratio: request.ratio,
      usedBytes: request.usedBytes,
      limitBytes: request.limitBytes,
      agentPid: identity?.pid ?? null,
      agentRssBytes: identity === null ? null : readRssBytes(identity.pid),
    },
  });
  if (archived.isErr()) {
    deps.log.error('archive failed', { reason, detail: formatArchiveError(archived.error) });
    return `${reason === 'checkpoint' ? 'checkpoint' : 'archive'} failed: ${formatArchiveError(archived.error)}`;
  }
  const a = archived.value;
  deps.log.info(reason === 'checkpoint' ? 'session checkpointed' : 'session archived', { ...a });
  const linked =
    a.linked === undefined || a.linked === 0 ? '' : `, ${a.linked} unchanged files linked`;
  const what = reason === 'checkpoint' ? 'checkpoint: archived' : 'archived';
  return `${what} ${a.files} files (${a.bytes} bytes${linked}) to ${a.dir}${a.complete ? '' : ' (incomplete)'}`;
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
  const identity = await agentIdentity(deps);
  // Stopping the agent matters more than the archive: a failed archive is noted, and we go on.
  const note = await archiveAll('tier3', request, identity, deps);
  const notes = note === null ? [] : [note];
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
    await observeSession(await agentIdentity(deps), deps);
    const result = await sendRung({ ...request, action: request.action }, signal, deps);
    // A /clear has moved the agent to a new session: the chain gets it now.
    if (request.action === 'clear') await observeSession(await agentIdentity(deps), deps);
    if (request.action !== 'compact' || result.outcome !== 'ok') return result;
    // Tier 1 checkpoint: if the kernel wins a later race, a recent archive is still there, and
    // tier 3 only tops it up (its archive links what did not change since).
    const note = await archiveAll('checkpoint', request, await agentIdentity(deps), deps);
    if (note === null) return result;
    return {
      outcome: 'ok',
      detail: result.detail === undefined ? note : `${result.detail}; ${note}`,
    };
  };
}

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
import type { TmuxTransportOptions } from '../transports/tmux.ts';
import type { DaemonConfig, TransportKind } from '../machines/daemon-config.ts';
import type { PendingAction } from '../machines/records.ts';
import type { Tier3Stop } from '../machines/agent-lifecycle.machine.ts';
import { tierOfAction } from '../machines/policy.ts';
import { profileFor, type AgentProfile, type SessionSet } from '../agents/index.ts';
import type { AgentHandle } from './agent.ts';
import type { PerformResult } from './executor.ts';
import type { SessionLineage } from './lineage.ts';
import type { Log } from './log.ts';
import { TRANSPORTS } from '../transports/index.ts';
import { stopTool } from './stop-tool.ts';

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

/** The agent's pane and the profile's checks for each command typed there (tmux transport). */
function paneOptions(
  deps: PerformDeps,
  profile: AgentProfile,
  identity: ProcessIdentity | null,
): TmuxTransportOptions | null {
  const target = paneTarget(deps);
  const tmux = deps.tmux;
  if (tmux == null || target === null) return null;
  const { agent: agentConfig } = deps.config;
  const pid = identity?.pid ?? null;
  const ports = { env: deps.env ?? process.env, tmux, target, pid, now: deps.now };
  return {
    tmux,
    target,
    checksFor: async (action, text) => {
      // A prompt memgov never answers (a trust dialog) would take the typed keys as its answer.
      const asked = await unansweredPrompt(tmux, target, profile);
      if (asked !== null) {
        deps.log.warn('the agent asks a question memgov does not answer', {
          action,
          prompt: asked,
        });
        throw new Error(
          `the agent shows its ${asked} prompt, which memgov never answers: nothing typed (answer it in the pane)`,
        );
      }
      return profile.probe(action, text, ports).catch((error: unknown) => {
        throw new Error(`the ${profile.name} checks failed: ${String(error)}`);
      });
    },
    typing: {
      idleDeadlineMs: agentConfig.idleDeadlineMs,
      busyPolicy: agentConfig.busyPolicy,
      enterKey: agentConfig.enterKey ?? profile.enterKey,
    },
    finishTimeoutMs: agentConfig.actionTimeoutMs,
    onCheckFailed: (action, detail) => deps.log.warn('completion check failed', { action, detail }),
  };
}

async function sendRung(
  request: PendingAction & { action: 'compact' | 'clear' },
  signal: AbortSignal,
  deps: PerformDeps,
  identity: ProcessIdentity | null,
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
  const pane = deps.transport === 'tmux' ? paneOptions(deps, profile, identity) : null;
  const transport = TRANSPORTS[deps.transport]({
    argvOf: (action) => agentConfig.commandArgv[action],
    timeoutMs: agentConfig.actionTimeoutMs,
    ratio: request.ratio,
    stdinOf: () => deps.agent.stdin(),
    paneOf: () => pane,
  });
  const sent = await transport.send(request.action, text ?? '', signal);
  return sent.match<PerformResult>(
    (delivery) => {
      if (delivery.outcome === 'skipped' && deps.transport === 'tmux')
        deps.log.warn('agent busy: rung skipped', {
          action: request.action,
          detail: delivery.detail,
        });
      return delivery;
    },
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
/** What an archive wrote, for the action's detail, and its directory (null when it failed). */
interface ArchiveNote {
  readonly note: string;
  readonly dir: string | null;
}

async function archiveAll(
  reason: 'checkpoint' | 'tier3',
  request: PendingAction,
  identity: ProcessIdentity | null,
  deps: PerformDeps,
): Promise<ArchiveNote | null> {
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
      tier: tierOfAction(request.action, request.replaces),
      ratio: request.ratio,
      usedBytes: request.usedBytes,
      limitBytes: request.limitBytes,
      agentPid: identity?.pid ?? null,
      agentRssBytes: identity === null ? null : readRssBytes(identity.pid),
    },
  });
  if (archived.isErr()) {
    deps.log.error('archive failed', { reason, detail: formatArchiveError(archived.error) });
    const failed = `${reason === 'checkpoint' ? 'checkpoint' : 'archive'} failed: ${formatArchiveError(archived.error)}`;
    return { note: failed, dir: null };
  }
  const a = archived.value;
  deps.log.info(reason === 'checkpoint' ? 'session checkpointed' : 'session archived', { ...a });
  const linked =
    a.linked === undefined || a.linked === 0 ? '' : `, ${a.linked} unchanged files linked`;
  const what = reason === 'checkpoint' ? 'checkpoint: archived' : 'archived';
  const note = `${what} ${a.files} files (${a.bytes} bytes${linked}) to ${a.dir}${a.complete ? '' : ' (incomplete)'}`;
  return { note, dir: a.dir };
}

async function stopAgent(
  identity: ProcessIdentity,
  stop: Tier3Stop,
  deps: PerformDeps,
): Promise<PerformResult> {
  const { terminateGraceMs, killAfterMs } = deps.config.agent;
  deps.agent.expectExit(stop);
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
  const archived = await archiveAll('tier3', request, identity, deps);
  const notes = archived === null ? [] : [archived.note];
  if (identity === null) {
    const detail = [...notes, 'no agent process is known: nothing to stop'].join('; ');
    return { outcome: deps.transport === 'none' ? 'skipped' : 'failed', detail };
  }
  const stop = {
    atMs: request.atMs,
    earlierTier3AtMs: request.earlierTier3AtMs ?? [],
    archiveDir: archived?.dir ?? null,
  };
  const stopped = await stopAgent(identity, stop, deps);
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
    if (request.action === 'stop-tool') {
      const { agent, log } = deps;
      return stopTool(request, signal, {
        agent,
        log,
        killAfterMs: deps.config.agent.toolKillAfterMs,
      });
    }
    // One lookup per rung (a /proc walk with a shell in the pane): the agent process does not
    // change while it compacts or clears.
    const identity = await agentIdentity(deps);
    await observeSession(identity, deps);
    const result = await sendRung({ ...request, action: request.action }, signal, deps, identity);
    // A /clear has moved the agent to a new session: the chain gets it now.
    if (request.action === 'clear') await observeSession(identity, deps);
    if (request.action !== 'compact' || result.outcome !== 'ok') return result;
    // Tier 1 checkpoint: if the kernel wins a later race, a recent archive is still there, and
    // tier 3 only tops it up (its archive links what did not change since).
    const note = (await archiveAll('checkpoint', request, identity, deps))?.note ?? null;
    if (note === null) return result;
    return {
      outcome: 'ok',
      detail: result.detail === undefined ? note : `${result.detail}; ${note}`,
    };
  };
}

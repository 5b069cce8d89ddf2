// Codex CLI (docs/AGENTS.md), measured on 0.171.0 against a local fake model: /compact and /new in
// its TUI, `codex resume <id>` continues a thread. Where its files are and what their records mean
// is read in codex-files.ts. What this profile does with them:
// - Launch: `--disable daemon_auto_start`. Otherwise the TUI starts `codex app-server` and a
//   `pid-update-loop`, each in its own session and process group, which make the model calls and
//   survive SIGTERM to the TUI's group (192 + 86 MB left running); disabled, it is one process.
// - Busy: the pane's "esc to interrupt" shows only until the first token (gone for 21 s of a 30 s
//   answer), so busy is also a turn open in the thread's rollout (`task_started` with no end yet,
//   written as the turn begins), never "no marker = idle".
// - Refused: "'/compact' is disabled while a task is in progress." shows in the pane only.
// - /new: a new thread at once (its lock file), its rollout only with the next message; the
//   conversation stays in the thread before it (lineage).
// A process holding no thread lock (another version) is driven by its pane, as before.
import { basename } from 'node:path';
import { ok } from 'neverthrow';
import { identify, readProcessCwd, startedAtMs } from '../adapters/proc.ts';
import { paneShows, type Predicate } from '../adapters/tmux.ts';
import type { Env } from '../adapters/session-files.ts';
import {
  currentThread,
  findCodexSession,
  holdsAnswer,
  lastCompactedAtMs,
  openTurnAtMs,
  rolloutPathOf,
  rolloutRecords,
  turnsSince,
} from './codex-files.ts';
import type {
  AgentProfile,
  Completion,
  ProfilePorts,
  RungName,
  RungProbe,
  SessionChoice,
} from './profile.ts';
import { BUSY_MARKER, fileProfile, paneProbe, resumeIn } from './terminal.ts';

export { codexHome, findCodexSession, parseCodexMeta, parseRolloutName } from './codex-files.ts';

/** The feature that starts the app-server daemon (`--disable <FEATURE>` = features.<name>=false). */
const DAEMON_FEATURE = 'daemon_auto_start';
const PENDING: Completion = { kind: 'pending' };

/** `codex resume <id>`, from the session's cwd. */
export function codexResumeCommand(session: { cwd: string; sessionId: string }) {
  return resumeIn(session.cwd, ['codex', 'resume', session.sessionId]);
}

/** Where `codex` itself stands in `argv` (after `env VAR=...` or a wrapper); -1 when absent. */
function codexIndex(argv: readonly string[]): number {
  return argv.findIndex((arg) => basename(arg) === 'codex');
}

/**
 * `argv` with `--disable daemon_auto_start` after the `codex` program, so the CLI starts no
 * detached helpers; unchanged when it names no `codex` or already says how the daemon starts.
 */
export function codexLaunchArgv(argv: readonly string[]): string[] {
  const at = codexIndex(argv);
  if (at === -1 || argv.includes(DAEMON_FEATURE)) return [...argv];
  return [...argv.slice(0, at + 1), '--disable', DAEMON_FEATURE, ...argv.slice(at + 1)];
}

/**
 * `codex resume <id>` in place of the original invocation (what ran before `codex`, such as
 * `env VAR=...`, is kept; its own arguments are dropped: a prompt would be sent again). No
 * `codex` in argv (a wrapper script): `resume <id>` is appended for it to pass on.
 */
export function codexResumeArgv(argv: readonly string[], sessionId: string | null) {
  if (sessionId === null) return null;
  const at = codexIndex(argv);
  if (at === -1) return [...argv, 'resume', sessionId];
  return [...argv.slice(0, at + 1), 'resume', sessionId];
}

/** How often the pane says `text` was refused: "'/compact' is disabled while a task is in progress." */
function refusalsIn(pane: string, text: string): number {
  return pane.split(`'${text}' is disabled while a task is in progress.`).length - 1;
}

async function paneText(ports: ProfilePorts): Promise<string> {
  return (await ports.tmux.capturePane(ports.target)).unwrapOr('');
}

/** The process's start (wall-clock ms): a turn left open by an earlier process is not running. */
function processStartMs(pid: number): number {
  const identity = identify(pid);
  return (identity.isOk() ? startedAtMs(identity.value) : null) ?? Number.NEGATIVE_INFINITY;
}

/** Idle: no busy marker in the pane and no turn open in the current thread's rollout. */
function codexIdle(ports: ProfilePorts, pid: number): Predicate {
  const startMs = processStartMs(pid);
  return async () => {
    if (BUSY_MARKER.test(await paneText(ports))) return false;
    const thread = await currentThread(pid, ports.env);
    const records = thread === null ? null : await rolloutRecords(ports.env, thread);
    const openAtMs = records === null ? null : openTurnAtMs(records);
    return openAtMs === null || openAtMs < startMs;
  };
}

/** The refusal the pane shows since the probe was built, as a failed completion; else null. */
async function refusal(ports: ProfilePorts, text: string, before: number) {
  if (refusalsIn(await paneText(ports), text) <= before) return null;
  const words = `'${text}' is disabled while a task is in progress.`;
  return { kind: 'failed', detail: `the CLI refused: ${words}` } as const;
}

/** /compact: taken when a turn starts (or the CLI refuses); done on a `compacted` record. */
function compactProbe(text: string, ports: ProfilePorts, pid: number, thread: string) {
  const sinceMs = ports.now();
  const panePromise = paneText(ports).then((pane) => refusalsIn(pane, text));
  const paneTaken = paneShows(ports.tmux, ports.target, /Compacting context|Context compacted/);
  const since = async () => {
    const records = await rolloutRecords(ports.env, thread);
    return records === null ? null : turnsSince(records, sinceMs);
  };
  const probe: RungProbe = {
    isIdle: codexIdle(ports, pid),
    taken: async () => {
      if ((await refusal(ports, text, await panePromise)) !== null) return true;
      const seen = await since();
      return seen?.started === true || seen?.compacted === true || (await paneTaken());
    },
    finished: async () => {
      const refused = await refusal(ports, text, await panePromise);
      if (refused !== null) return refused;
      const seen = await since();
      if (seen?.compacted === true)
        return { kind: 'done', detail: `compaction finished (a compacted record in ${thread})` };
      if (seen?.aborted === true) return { kind: 'failed', detail: 'the compaction was aborted' };
      if (seen?.ended === true)
        return { kind: 'failed', detail: 'the compact turn ended without a compacted record' };
      return PENDING;
    },
  };
  return probe;
}

/** /new: done when the process works in a new thread (made at once, before any rollout). */
function newProbe(text: string, ports: ProfilePorts, pid: number, thread: string): RungProbe {
  const panePromise = paneText(ports).then((pane) => refusalsIn(pane, text));
  const fresh = async () => {
    const now = await currentThread(pid, ports.env);
    return now !== null && now !== thread ? now : null;
  };
  return {
    isIdle: codexIdle(ports, pid),
    taken: async () =>
      (await fresh()) !== null || (await refusal(ports, text, await panePromise)) !== null,
    finished: async () => {
      const refused = await refusal(ports, text, await panePromise);
      if (refused !== null) return refused;
      const id = await fresh();
      return id === null ? PENDING : { kind: 'done', detail: `new session ${id} (was ${thread})` };
    },
  };
}

async function codexProbe(action: RungName, text: string, ports: ProfilePorts) {
  const thread = ports.pid === null ? null : await currentThread(ports.pid, ports.env);
  if (ports.pid === null || thread === null) return paneProbe(ports);
  return action === 'compact'
    ? compactProbe(text, ports, ports.pid, thread)
    : newProbe(text, ports, ports.pid, thread);
}

/**
 * The thread of `lineage` whose rollout holds the latest compaction, else the newest holding a
 * model answer: after /new the conversation is in the thread before. Null when none holds either.
 */
export async function codexConversation(
  lineage: readonly string[],
  env: Env,
): Promise<SessionChoice | null> {
  let summary: { sessionId: string; atMs: number } | null = null;
  let answered: string | null = null;
  for (const sessionId of lineage) {
    const records = await rolloutRecords(env, sessionId);
    if (records === null) continue;
    const atMs = lastCompactedAtMs(records);
    if (atMs !== null && (summary === null || atMs >= summary.atMs)) summary = { sessionId, atMs };
    if (holdsAnswer(records)) answered = sessionId;
  }
  if (summary !== null)
    return { sessionId: summary.sessionId, why: 'it holds the latest compaction' };
  if (answered !== null)
    return { sessionId: answered, why: 'no compaction: the newest thread with answers' };
  return null;
}

/** The rollouts of the lineage and the current thread, with the chain in the manifest. */
async function codexSessionSet(pid: number, env: Env, lineage: readonly string[] = []) {
  const current = await currentThread(pid, env);
  const cwd = await readProcessCwd(pid);
  if (current === null || cwd.isErr()) return null;
  const chain = [...lineage.filter((id) => id !== current), current];
  const sources: string[] = [];
  for (const id of chain) {
    const path = await rolloutPathOf(env, id);
    if (path !== null) sources.push(path);
  }
  const resume = await codexConversation(chain, env);
  return {
    sources,
    exclude: () => false,
    extraManifest: {
      ...{ profile: 'codex', sessionId: current, cwd: cwd.value, lineage: chain },
      resumeSessionId: resume?.sessionId ?? current,
      resumeWhy: resume?.why ?? 'the live thread',
    },
  };
}

export function codexProfile(): AgentProfile {
  const base = fileProfile({
    name: 'codex',
    commands: { compact: '/compact', clear: '/new' },
    find: (env, cwd) => findCodexSession(env, { cwd }),
    resumeArgv: codexResumeArgv,
    resumeCommand: ({ cwd, sessionId }) =>
      sessionId === null ? null : codexResumeCommand({ cwd, sessionId }),
  });
  return {
    ...base,
    launchArgv: codexLaunchArgv,
    probe: codexProbe,
    sessionSet: async (pid, env, lineage) => {
      const set = await codexSessionSet(pid, env, lineage).catch(() => null);
      return set === null ? base.sessionSet(pid, env, lineage) : ok(set);
    },
    sessionId: async (pid, env) => (await currentThread(pid, env)) ?? base.sessionId(pid, env),
    conversationSession: (lineage, _cwd, env) => codexConversation(lineage, env).catch(() => null),
  };
}

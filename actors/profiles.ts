// Agent profiles (SPEC section 5): what memgov knows about each agent CLI. A profile is data (its
// compact and clear commands, its Enter key, its resume prompt) plus small functions that build
// the checks the tmux transport needs (idle, taken, finished), the set of files that make up a
// session, and the argv that resumes it. All I/O goes through the adapters; nothing here types
// into a pane or signals a process. Facts behind each profile: research/agent-control.md.
import { readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { ok, type Result } from 'neverthrow';
import {
  agentManifestExtra,
  findAiderHistory,
  findCodexSession,
  findGeminiSession,
  type AgentSessionFile,
} from '../adapters/agent-sessions.ts';
import {
  clearFinished,
  commandTaken,
  compactFailedAfter,
  findClearedSession,
  findCompaction,
  findTranscript,
  readSessionFor,
  readTranscriptTail,
  sessionArchiveSet,
  type ClaudeSessionError,
  type Env,
  type SessionArchiveSet,
  type SessionFile,
  type TranscriptRecord,
} from '../adapters/claude-session.ts';
import { paneLacks, paneShows, type Predicate, type Tmux } from '../adapters/tmux.ts';
import type { ActionWithCommand, AgentConfig, ProfileName } from '../machines/daemon-config.ts';

/** What a profile's checks may look at: the agent's pane and process, and where its files live. */
export interface ProfilePorts {
  readonly env: Env;
  readonly tmux: Tmux;
  readonly target: string;
  /** The agent's process id (the pane's process in launch mode); null when none is known. */
  readonly pid: number | null;
  /** Wall-clock milliseconds: transcript records carry wall-clock timestamps. */
  readonly now: () => number;
}

/** Whether a typed command has done its work: pending, done (with what showed it), or failed. */
export type Completion =
  | { readonly kind: 'pending' }
  | { readonly kind: 'done'; readonly detail: string }
  | { readonly kind: 'failed'; readonly detail: string };

/** The checks for one command, built before it is typed so they compare with what was there. */
export interface RungProbe {
  readonly isIdle: Predicate;
  readonly taken: Predicate;
  /** Polled after the command was taken, until it is not pending or the action times out. */
  readonly finished: () => Promise<Completion>;
}

/** The files of the agent's current session, ready for archiveSession; null when none is found. */
export type SessionSet = SessionArchiveSet;

export interface AgentProfile {
  readonly name: ProfileName;
  /** The text typed for each rung; null when the CLI has no such command. */
  readonly commands: Readonly<Record<ActionWithCommand, string | null>>;
  /** Why a rung with no command is skipped (logged and returned as the action's detail). */
  readonly missingRung: (action: ActionWithCommand) => string;
  readonly enterKey: string;
  /** Builds the checks for typing `text` as `action` now. Never rejects. */
  readonly probe: (
    action: ActionWithCommand,
    text: string,
    ports: ProfilePorts,
  ) => Promise<RungProbe>;
  /** The current session's files (for tier 1's checkpoint and tier 3's archive). Never rejects. */
  readonly sessionSet: (
    pid: number,
    env: Env,
  ) => Promise<Result<SessionSet | null, ClaudeSessionError>>;
  /** The current session's id, when the CLI has one (remembered for the relaunch). */
  readonly sessionId: (pid: number, env: Env) => Promise<string | null>;
  /** The argv that resumes `sessionId` from the original `argv`; null: relaunch as it was. */
  readonly resumeArgv: (argv: readonly string[], sessionId: string | null) => string[] | null;
  /** What a resumed CLI shows when it asks how to resume (answered `y`, Enter); null: never asks. */
  readonly resumePrompt: RegExp | null;
}

/** Transcripts grow to hundreds of MiB: only this much of the end is read per check. */
const TAIL_BYTES = 4 << 20;
/**
 * Claude Code, Codex: "esc to interrupt" while working; Gemini: "esc to cancel"; Aider's spinner:
 * "Waiting for <model>" (it shows no esc hint).
 */
const BUSY_MARKER = /esc to (?:interrupt|cancel)|Waiting for \S/i;
const ALWAYS: Predicate = () => true;

function hasNoCommand(name: string) {
  return (action: ActionWithCommand): string => `the ${name} profile has no ${action} command`;
}

/** The generic profile: the configured commands; no idle, taken or completion signal to read. */
function genericProfile(agent: AgentConfig): AgentProfile {
  return {
    name: 'generic',
    commands: agent.commands,
    missingRung: hasNoCommand('generic'),
    enterKey: 'Enter',
    probe: () =>
      Promise.resolve({
        isIdle: ALWAYS,
        taken: ALWAYS,
        finished: () => Promise.resolve({ kind: 'done', detail: 'typed (no completion signal)' }),
      }),
    sessionSet: () => Promise.resolve(ok(null)),
    sessionId: () => Promise.resolve(null),
    resumeArgv: () => null,
    resumePrompt: null,
  };
}

// ----------------------------------------------------------------------------------- claude-code

async function claudeSession(pid: number | null, env: Env): Promise<SessionFile | null> {
  if (pid === null) return null;
  const read = await readSessionFor(pid, env);
  return read.isOk() ? read.value : null;
}

async function transcriptRecords(
  env: Env,
  session: SessionFile,
): Promise<readonly TranscriptRecord[] | null> {
  const path = await findTranscript(env, session.cwd, session.sessionId);
  if (path.isErr() || path.value === null) return null;
  const tail = await readTranscriptTail(path.value, TAIL_BYTES);
  return tail.isOk() ? tail.value.records : null;
}

/** Idle when sessions/<pid>.json says so; without a status, when the pane lacks the busy marker. */
function claudeIdle(ports: ProfilePorts): Predicate {
  const paneIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
  return async () => {
    const session = await claudeSession(ports.pid, ports.env);
    if (session !== null && session.status !== 'unknown') return session.status === 'idle';
    return paneIdle();
  };
}

async function claudeProbe(
  action: ActionWithCommand,
  text: string,
  ports: ProfilePorts,
): Promise<RungProbe> {
  const sinceMs = ports.now();
  const before = await claudeSession(ports.pid, ports.env);
  const isIdle = claudeIdle(ports);
  if (action === 'compact') {
    const records = async (): Promise<readonly TranscriptRecord[] | null> => {
      const session = await claudeSession(ports.pid, ports.env);
      return session === null ? null : transcriptRecords(ports.env, session);
    };
    const paneTaken = paneShows(ports.tmux, ports.target, /Compacting|Compacted/);
    return {
      isIdle,
      taken: async () => {
        const found = await records();
        return found === null ? paneTaken() : commandTaken(found, text, sinceMs);
      },
      finished: async () => {
        const found = await records();
        if (found === null) return { kind: 'pending' };
        const failure = compactFailedAfter(found, sinceMs);
        if (failure !== null) return { kind: 'failed', detail: `compaction failed: ${failure}` };
        const evidence = findCompaction(found, sinceMs);
        if (evidence === null) return { kind: 'pending' };
        const tokens = evidence.preTokens === null ? '' : `, ${evidence.preTokens} tokens before`;
        return { kind: 'done', detail: `compaction finished (${evidence.form}${tokens})` };
      },
    };
  }
  // /clear: a new session id in sessions/<pid>.json, or (versions that keep the old id there) a
  // new transcript in the project directory.
  const newSession = async (): Promise<string | null> => {
    if (before === null) return null;
    const after = await claudeSession(ports.pid, ports.env);
    if (clearFinished(before.sessionId, after)) return after?.sessionId ?? null;
    const found = await findClearedSession(ports.env, before, sinceMs);
    return found.isOk() ? found.value : null;
  };
  return {
    isIdle,
    taken: async () => (await newSession()) !== null,
    finished: async () => {
      const id = await newSession();
      return id === null
        ? { kind: 'pending' }
        : { kind: 'done', detail: `new session ${id} (was ${before?.sessionId ?? 'unknown'})` };
    },
  };
}

/**
 * Drops Claude Code's own `--resume X`, `--resume=X`, `-r X`, `--continue` and `-c`, so exactly one
 * resume is given. Only when the program is `claude` itself: a wrapper (`sh -c '...'`, a script)
 * keeps its arguments untouched, and the appended `--resume <sid>` reaches claude through it.
 */
function withoutResume(argv: readonly string[]): string[] {
  if (argv[0] === undefined || basename(argv[0]) !== 'claude') return [...argv];
  const kept: string[] = [argv[0]];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    if (arg === '--resume' || arg === '-r') {
      i++;
      continue;
    }
    if (arg.startsWith('--resume=') || arg === '--continue' || arg === '-c') continue;
    kept.push(arg);
  }
  return kept;
}

function claudeProfile(): AgentProfile {
  return {
    name: 'claude-code',
    commands: { compact: '/compact', clear: '/clear' },
    missingRung: hasNoCommand('claude-code'),
    enterKey: 'Enter',
    probe: claudeProbe,
    sessionSet: async (pid, env) => {
      const read = await readSessionFor(pid, env);
      if (read.isErr() || read.value === null) return read.map(() => null);
      const session = read.value;
      const set = await sessionArchiveSet(env, session);
      return set.map((s) => ({
        ...s,
        extraManifest: { ...s.extraManifest, agentVersion: session.version },
      }));
    },
    sessionId: async (pid, env) => (await claudeSession(pid, env))?.sessionId ?? null,
    resumeArgv: (argv, sessionId) =>
      sessionId === null ? null : [...withoutResume(argv), '--resume', sessionId],
    resumePrompt: /Resume from summary/i,
  };
}

// ---------------------------------------------------------------------------- codex, gemini, aider

/** The process's cwd, from /proc; null when it cannot be read. */
async function processCwd(pid: number): Promise<string | null> {
  return readlink(`/proc/${pid}/cwd`).catch(() => null);
}

/**
 * The terminal CLIs other than Claude Code write no status file and no record of a typed command
 * that memgov reads yet, so: idle when the pane lacks the busy marker; taken at once (Enter is
 * not verified); finished when the pane is idle again (checked after the first poll).
 */
function paneProbe(ports: ProfilePorts): RungProbe {
  const isIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
  let polls = 0;
  return {
    isIdle,
    taken: ALWAYS,
    finished: async () => {
      polls += 1;
      if (polls < 2 || !(await isIdle())) return { kind: 'pending' };
      return { kind: 'done', detail: 'the agent is idle again (no completion record is read)' };
    },
  };
}

function fileProfile(
  name: 'codex' | 'gemini' | 'aider',
  commands: Readonly<Record<ActionWithCommand, string | null>>,
  find: (env: Env, cwd: string) => Promise<Result<AgentSessionFile | null, ClaudeSessionError>>,
  resumeArgv: AgentProfile['resumeArgv'],
  missingRung: AgentProfile['missingRung'] = hasNoCommand(name),
): AgentProfile {
  const session = async (pid: number, env: Env) => {
    const cwd = await processCwd(pid);
    if (cwd === null) return null;
    const found = await find(env, cwd);
    return found.isOk() ? found.value : null;
  };
  return {
    name,
    commands,
    missingRung,
    enterKey: 'Enter',
    probe: (_action, _text, ports) => Promise.resolve(paneProbe(ports)),
    sessionSet: async (pid, env) => {
      const cwd = await processCwd(pid);
      if (cwd === null) return ok(null);
      const found = await find(env, cwd);
      return found.map((file) =>
        file === null
          ? null
          : { sources: [file.path], exclude: () => false, extraManifest: agentManifestExtra(file) },
      );
    },
    sessionId: async (pid, env) => (await session(pid, env))?.sessionId ?? null,
    resumeArgv,
    resumePrompt: null,
  };
}

export const AIDER_NO_COMPACT = 'aider has no compact command; skipping to the next rung';

/** The profile named in the config; the generic one takes its commands from the config. */
export function profileFor(agent: AgentConfig): AgentProfile {
  switch (agent.profile) {
    case 'generic':
      return genericProfile(agent);
    case 'claude-code':
      return claudeProfile();
    case 'codex':
      // Codex's TUI starts a new conversation with /new; `codex resume <id>` continues one.
      return fileProfile(
        'codex',
        { compact: '/compact', clear: '/new' },
        (env, cwd) => findCodexSession(env, { cwd }),
        (argv, id) => (id === null ? null : [argv[0] ?? 'codex', 'resume', id]),
      );
    case 'gemini':
      return fileProfile(
        'gemini',
        { compact: '/compress', clear: '/clear' },
        findGeminiSession,
        (argv, id) => [...withoutResume(argv), '--resume', id ?? 'latest'],
      );
    case 'aider':
      // Aider summarises its history in the background: there is no compact rung to take.
      return fileProfile(
        'aider',
        { compact: null, clear: '/clear' },
        findAiderHistory,
        (argv) =>
          argv.includes('--restore-chat-history') ? null : [...argv, '--restore-chat-history'],
        (action) =>
          action === 'compact' ? AIDER_NO_COMPACT : 'the aider profile has no clear command',
      );
  }
}

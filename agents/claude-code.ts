// Claude Code (docs/AGENTS.md), the first-class profile: /compact and /clear, busy and idle from
// its own status file, taken and finished from its transcript, the session's files for the
// archive, and `claude --resume <sid>` from the session's cwd. This file finds and reads the
// files; what their text and records mean is parsed in claude-code-parse.ts. Everything read is
// undocumented Claude Code internals that change between versions, so each reader tolerates the
// forms seen:
// - `sessions/<pid>.json` (v2.1.139+): camelCase `sessionId`, `cwd`, `status` idle|busy|waiting|
//   shell, `procStart` (on Linux the /proc/PID/stat starttime verbatim, as a string), plus
//   `startedAt`, `updatedAt`, `statusUpdatedAt`, `version` and more. Older `pid-<pid>.json` files
//   hold `session_id` and `cwd` only. SDK-driven sessions never write `status`.
// - Project directories: every UTF-16 code unit outside [A-Za-z0-9] becomes `-` (so `/`, `.`,
//   `_`, spaces all fold); names past 200 characters were cut and given a hash suffix, a scheme
//   v2.1.224 changed again, and v2.1.234 added CLAUDE_CODE_PROJECT_DIR_NAME to rename the
//   directory outright. So the transcript is looked for where the name says, then by session id
//   across `projects/*`.
// - `/clear` rotates the session id; v2.1.119 left the old id in `sessions/<pid>.json`, later
//   versions update it. A new transcript file in the project directory is the fallback signal.
import { basename, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  existingPaths,
  existsAs,
  isSafeSessionId,
  listNames,
  readFirstRecord,
  readTranscriptTail,
  type Env,
  type PathKind,
  type SessionFileError,
  type TranscriptRecord,
} from '../adapters/session-files.ts';
import { paneLacks, paneShows, type Predicate } from '../adapters/tmux.ts';
import {
  claudeConfigDir,
  findClaudeProcess,
  findClearedSession,
  findTranscript,
  projectDirOf,
  readSessionFor,
  TAIL_BYTES,
  unsafeId,
  type SessionFile,
} from './claude-code-files.ts';
import {
  clearFinished,
  commandTaken,
  compactCompletion,
  compactFailedAfter,
  holdsConversation,
  lastCompactionAtMs,
  type ClaudeSession,
} from './claude-code-parse.ts';
import type {
  AgentProfile,
  ProfilePorts,
  ResumeCommand,
  RungName,
  RungProbe,
  SessionChoice,
  SessionSet,
  StartupPrompt,
} from './profile.ts';
import { BUSY_MARKER, hasNoCommand, resumeIn } from './terminal.ts';

export {
  claudeConfigDir,
  findClaudeProcess,
  findClearedSession,
  findSessions,
  findTranscript,
  projectDirName,
  readSessionFor,
  sessionForProcess,
  transcriptPath,
  type SessionFile,
  type SessionMatch,
} from './claude-code-files.ts';

const CREDENTIALS = '.credentials.json';
/** Enough for the first record of a legacy `agent-*.jsonl` file (its sessionId). */
const FIRST_LINE_BYTES = 64 * 1024;

// ------------------------------------------------------------------------------------- archives

/** What the manifest records so that `memgov restore` can print the resume command. */
function sessionManifestExtra(env: Env, session: ClaudeSession): Record<string, unknown> {
  return {
    profile: 'claude-code',
    sessionId: session.sessionId,
    cwd: session.cwd,
    agentPid: session.pid,
    claudeConfigDir: claudeConfigDir(env),
  };
}

/** Legacy `agent-*.jsonl` files of the project directory whose first record names `sid`. */
async function legacyAgentFiles(projectDir: string, sid: string): Promise<[string, PathKind][]> {
  const found: [string, PathKind][] = [];
  for (const name of await listNames(projectDir)) {
    if (!/^agent-[A-Za-z0-9_-]+\.jsonl$/.test(name)) continue;
    const path = join(projectDir, name);
    if ((await readFirstRecord(path, FIRST_LINE_BYTES))?.sessionId === sid)
      found.push([path, 'file']);
  }
  return found;
}

/** Everything that may belong to the session, in archive order, existing or not. */
async function sessionCandidates(
  env: Env,
  session: ClaudeSession,
  project: { dir: string; transcript: string | null },
): Promise<[string, PathKind][]> {
  const root = claudeConfigDir(env);
  const sid = session.sessionId;
  const candidates: [string, PathKind][] = [];
  if (project.transcript !== null) candidates.push([project.transcript, 'file']);
  candidates.push([join(project.dir, sid), 'dir'], ...(await legacyAgentFiles(project.dir, sid)));
  candidates.push([join(root, 'file-history', sid), 'dir']);
  const todos = join(root, 'todos');
  for (const name of await listNames(todos)) {
    if (name.startsWith(`${sid}-`) && name.endsWith('.json'))
      candidates.push([join(todos, name), 'file']);
  }
  candidates.push([join(root, 'session-env', sid), 'dir']);
  const sessions = join(root, 'sessions');
  const sessionFile = (await existsAs(join(sessions, `${session.pid}.json`), 'file'))
    ? join(sessions, `${session.pid}.json`)
    : join(sessions, `pid-${session.pid}.json`);
  candidates.push([sessionFile, 'file'], [join(root, 'plans'), 'dir']);
  return candidates;
}

/**
 * The paths that make up `session`, existing ones only, in this order: the transcript
 * `projects/<dir>/<sid>.jsonl`, its `projects/<dir>/<sid>/` (subagents, tool results), legacy
 * `projects/<dir>/agent-*.jsonl` whose first record names the session, `file-history/<sid>/`,
 * `todos/<sid>-*.json`, `session-env/<sid>/`, the session file, and `plans/` (plans are named by
 * slug, not session). Never `.credentials.json`: not listed, and excluded inside directories
 * (archiveSession skips them too: two locks, one door).
 */
export async function sessionArchiveSet(
  env: Env,
  session: ClaudeSession,
): Promise<Result<SessionSet, SessionFileError>> {
  if (!isSafeSessionId(session.sessionId)) {
    return err(unsafeId(claudeConfigDir(env), session.sessionId));
  }
  const project = await projectDirOf(env, session);
  if (project.isErr()) return err(project.error);
  const candidates = await sessionCandidates(env, session, project.value);
  const sources = await existingPaths(candidates, (path) => basename(path) === CREDENTIALS);
  return ok({
    sources,
    exclude: (_relPath, absPath) => basename(absPath) === CREDENTIALS,
    extraManifest: sessionManifestExtra(env, session),
  });
}

/** `claude --resume <sid>` from the session's cwd (resume only looks in that cwd's project). */
export function resumeCommand(session: Pick<ClaudeSession, 'cwd' | 'sessionId'>): ResumeCommand {
  return resumeIn(session.cwd, ['claude', '--resume', session.sessionId]);
}

// -------------------------------------------------------------------------------------- profile

async function claudeSession(pid: number | null, env: Env): Promise<SessionFile | null> {
  if (pid === null) return null;
  const read = await readSessionFor(pid, env);
  return read.isOk() ? read.value : null;
}

/** The end of the live session's transcript; null when it cannot be found or read. */
async function liveRecords(ports: ProfilePorts): Promise<readonly TranscriptRecord[] | null> {
  const session = await claudeSession(ports.pid, ports.env);
  return session === null ? null : transcriptRecords(ports.env, session.cwd, session.sessionId);
}

/**
 * What the real CLI (2.1.197) may ask as it starts. After `--resume` of an old, large session a
 * select menu whose default is "Resume from summary (recommended)": Enter takes it (`y` is not
 * one of its options). The folder-trust dialog ("Is this a project you created or one you
 * trust?") and the API-key and first-run dialogs are questions for a person: reported only.
 */
const CLAUDE_PROMPTS: readonly StartupPrompt[] = [
  { name: 'resume-choice', shows: /Resume from summary/i, keys: ['Enter'] },
  {
    name: 'trust',
    shows: /Is this a project you created or one you trust|Do you trust the files in this folder/i,
    keys: null,
  },
  { name: 'api-key', shows: /Do you want to use this API key/i, keys: null },
  { name: 'first-run', shows: /Choose the text style|Select login method/i, keys: null },
];

/**
 * Whether the pane shows one of those questions: a command typed then would answer it (Enter
 * confirms the trust dialog's first choice), so the agent is not idle.
 */
function asksQuestion(ports: ProfilePorts): Predicate {
  return async () => {
    const text = await ports.tmux.capturePane(ports.target);
    return text.isOk() && CLAUDE_PROMPTS.some((prompt) => prompt.shows.test(text.value));
  };
}

/** Idle when sessions/<pid>.json says so; without a status, when the pane lacks the busy marker. */
function claudeIdle(ports: ProfilePorts): Predicate {
  const paneIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
  const asks = asksQuestion(ports);
  return async () => {
    if (await asks()) return false;
    const session = await claudeSession(ports.pid, ports.env);
    if (session !== null && session.status !== 'unknown') return session.status === 'idle';
    return paneIdle();
  };
}

/**
 * /compact: taken when sessions/<pid>.json turns busy (the command was only typed into an idle
 * agent), the transcript records the command or a refusal, or the pane shows it. The real CLI
 * appends the command record only when compaction finishes, which takes minutes on a real model
 * (docs/AGENTS.md), so the record alone would report a good compaction as not taken.
 * Finished by its records: compact_boundary, or failed at once on the CLI's error or refusal.
 */
function compactProbe(text: string, ports: ProfilePorts, sinceMs: number): RungProbe {
  const paneTaken = paneShows(ports.tmux, ports.target, /Compacting|Compacted/);
  return {
    isIdle: claudeIdle(ports),
    taken: async () => {
      const session = await claudeSession(ports.pid, ports.env);
      if (session?.status === 'busy') return true;
      const found = await liveRecords(ports);
      if (found === null) return paneTaken();
      return commandTaken(found, text, sinceMs) || compactFailedAfter(found, sinceMs) !== null;
    },
    finished: async () => {
      const found = await liveRecords(ports);
      return found === null ? { kind: 'pending' } : compactCompletion(found, sinceMs);
    },
  };
}

/**
 * /clear: a new session id in sessions/<pid>.json, or (versions that keep the old id there) a new
 * transcript in the project directory.
 */
function clearProbe(ports: ProfilePorts, sinceMs: number, before: SessionFile | null): RungProbe {
  const newSession = async (): Promise<string | null> => {
    if (before === null) return null;
    const after = await claudeSession(ports.pid, ports.env);
    if (clearFinished(before.sessionId, after)) return after?.sessionId ?? null;
    const found = await findClearedSession(ports.env, before, sinceMs);
    return found.isOk() ? found.value : null;
  };
  return {
    isIdle: claudeIdle(ports),
    taken: async () => (await newSession()) !== null,
    finished: async () => {
      const id = await newSession();
      return id === null
        ? { kind: 'pending' }
        : { kind: 'done', detail: `new session ${id} (was ${before?.sessionId ?? 'unknown'})` };
    },
  };
}

async function claudeProbe(action: RungName, text: string, ports: ProfilePorts) {
  const sinceMs = ports.now();
  const before = await claudeSession(ports.pid, ports.env);
  return action === 'compact'
    ? compactProbe(text, ports, sinceMs)
    : clearProbe(ports, sinceMs, before);
}

/**
 * Drops Claude Code's own `--resume X`, `--resume=X`, `-r X`, `--continue` and `-c`, so exactly one
 * resume is given. Only when the program is `claude` itself: a wrapper (`sh -c '...'`, a script)
 * keeps its arguments untouched, and the appended `--resume <sid>` reaches claude through it.
 */
export function withoutResume(argv: readonly string[]): string[] {
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

/** The records at the end of `sessionId`'s transcript in `cwd`; null when it is not there. */
async function transcriptRecords(env: Env, cwd: string, sessionId: string) {
  const path = await findTranscript(env, cwd, sessionId);
  if (path.isErr() || path.value === null) return null;
  const tail = await readTranscriptTail(path.value, TAIL_BYTES);
  return tail.isOk() ? tail.value.records : null;
}

/**
 * The session of `lineage` whose transcript holds the latest compact summary, else the newest
 * holding a model answer: a /clear leaves the conversation in the session before it, and
 * resuming the compacted one brings the summary back at a fraction of the memory
 * (docs/AGENTS.md: 365 MB resumed against 779 MB grown). Null when none holds either.
 */
export async function conversationSession(
  lineage: readonly string[],
  cwd: string,
  env: Env,
): Promise<SessionChoice | null> {
  let summary: { sessionId: string; atMs: number } | null = null;
  let answered: string | null = null;
  for (const sessionId of lineage) {
    const records = await transcriptRecords(env, cwd, sessionId);
    if (records === null) continue;
    const atMs = lastCompactionAtMs(records);
    if (atMs !== null && (summary === null || atMs >= summary.atMs)) summary = { sessionId, atMs };
    if (holdsConversation(records)) answered = sessionId;
  }
  if (summary !== null)
    return { sessionId: summary.sessionId, why: 'it holds the latest compact summary' };
  if (answered !== null)
    return { sessionId: answered, why: 'no compact summary: the newest session with answers' };
  return null;
}

/** Every path of `sets`, each once, in order. */
function mergedSources(sets: readonly SessionSet[]): string[] {
  return [...new Set(sets.flatMap((set) => set.sources))];
}

/**
 * The live session's set, with the files of the earlier sessions of `lineage` (same cwd and
 * process: a /clear changes only the id). The manifest lists the chain and the session that
 * `memgov restore` prints the resume command for.
 */
async function claudeSessionSet(pid: number, env: Env, lineage: readonly string[] = []) {
  const read = await readSessionFor(pid, env);
  if (read.isErr() || read.value === null) return read.map(() => null);
  const session = read.value;
  const chain = [...lineage.filter((id) => id !== session.sessionId), session.sessionId];
  const sets: SessionSet[] = [];
  for (const sessionId of chain) {
    const set = await sessionArchiveSet(env, { ...session, sessionId });
    if (set.isErr()) return err(set.error);
    sets.push(set.value);
  }
  const current = sets.at(-1) as SessionSet;
  const resume = await conversationSession(chain, session.cwd, env);
  return ok({
    ...current,
    sources: mergedSources(sets),
    extraManifest: {
      ...current.extraManifest,
      agentVersion: session.version,
      lineage: chain,
      resumeSessionId: resume?.sessionId ?? session.sessionId,
      resumeWhy: resume?.why ?? 'the live session',
    },
  });
}

export function claudeCodeProfile(): AgentProfile {
  return {
    name: 'claude-code',
    commands: { compact: '/compact', clear: '/clear' },
    missingRung: hasNoCommand('claude-code'),
    enterKey: 'Enter',
    findAgent: (root, env) => findClaudeProcess(root, env).catch(() => null),
    probe: claudeProbe,
    sessionSet: claudeSessionSet,
    conversationSession: (lineage, cwd, env) =>
      conversationSession(lineage, cwd, env).catch(() => null),
    sessionId: async (pid, env) => (await claudeSession(pid, env))?.sessionId ?? null,
    resumeArgv: (argv, sessionId) =>
      sessionId === null ? null : [...withoutResume(argv), '--resume', sessionId],
    startupPrompts: CLAUDE_PROMPTS,
    resumeCommand: ({ cwd, sessionId }) =>
      sessionId === null ? null : resumeCommand({ cwd, sessionId }),
  };
}

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
import { fileOwnership, type ProcessIdentity } from '../adapters/proc.ts';
import { processTree } from '../adapters/proc-tree.ts';
import {
  existingPaths,
  existsAs,
  findInSubdirs,
  homeOf,
  isFileAt,
  isSafeSessionId,
  listNames,
  nonEmpty,
  readFirstRecord,
  readPidFile,
  readPidFiles,
  readTranscriptTail,
  timedFiles,
  type Env,
  type PathKind,
  type SessionFileError,
  type TranscriptRecord,
} from '../adapters/session-files.ts';
import { paneLacks, paneShows, type Predicate } from '../adapters/tmux.ts';
import {
  clearedSessionId,
  clearFinished,
  commandTaken,
  compactCompletion,
  compactFailedAfter,
  encodeCwd,
  parseSessionFile,
  type ClaudeSession,
} from './claude-code-parse.ts';
import type {
  AgentProfile,
  ProfilePorts,
  ResumeCommand,
  RungName,
  RungProbe,
  SessionSet,
} from './profile.ts';
import { BUSY_MARKER, hasNoCommand, resumeIn } from './terminal.ts';

/** A session read from disk: where it was and when it was last written. */
export interface SessionFile extends ClaudeSession {
  readonly path: string;
  readonly mtimeMs: number;
}

/** Whether a `sessions/<pid>.json` belongs to the live process that now holds the pid. */
export type SessionMatch =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'matched';
      readonly session: SessionFile;
      /** procStart: equal start ticks; fileTime: written after the process started; unverified: neither could be checked. */
      readonly verifiedBy: 'procStart' | 'fileTime' | 'unverified';
    }
  | { readonly kind: 'stale'; readonly session: SessionFile; readonly detail: string };

const CREDENTIALS = '.credentials.json';
/** Enough for the first record of a legacy `agent-*.jsonl` file (its sessionId). */
const FIRST_LINE_BYTES = 64 * 1024;
/** Transcripts grow to hundreds of MiB: only this much of the end is read per check. */
const TAIL_BYTES = 4 << 20;
const CURRENT_NAME = /^(\d{1,10})\.json$/;
const LEGACY_NAME = /^pid-(\d{1,10})\.json$/;

function unsafeId(path: string, id: string): SessionFileError {
  return { kind: 'unsafe', path, detail: `unsafe session id ${JSON.stringify(id)}` };
}

// ------------------------------------------------------------------------------- where it lives

/** `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`. */
export function claudeConfigDir(env: Env): string {
  return nonEmpty(env.CLAUDE_CONFIG_DIR) ? env.CLAUDE_CONFIG_DIR : join(homeOf(env), '.claude');
}

/** The project directory's name: CLAUDE_CODE_PROJECT_DIR_NAME when set (v2.1.234+), else encodeCwd. */
export function projectDirName(env: Env, cwd: string): string {
  const named = env.CLAUDE_CODE_PROJECT_DIR_NAME;
  const usable = nonEmpty(named) && !named.includes('/') && named !== '..' && named !== '.';
  return usable ? named : encodeCwd(cwd);
}

/** Where the transcript of `sessionId` in `cwd` is expected: `projects/<name>/<sid>.jsonl`. */
export function transcriptPath(
  env: Env,
  cwd: string,
  sessionId: string,
): Result<string, SessionFileError> {
  const projects = join(claudeConfigDir(env), 'projects');
  if (!isSafeSessionId(sessionId)) return err(unsafeId(projects, sessionId));
  return ok(join(projects, projectDirName(env, cwd), `${sessionId}.jsonl`));
}

/**
 * The transcript of `sessionId`: at transcriptPath, else the first `projects/*\/<sid>.jsonl`
 * (sorted by name): project directory names changed between versions. Null when none exists.
 */
export async function findTranscript(
  env: Env,
  cwd: string,
  sessionId: string,
): Promise<Result<string | null, SessionFileError>> {
  const expected = transcriptPath(env, cwd, sessionId);
  if (expected.isErr()) return err(expected.error);
  const there = await isFileAt(expected.value);
  if (there.isErr()) return err(there.error);
  if (there.value) return ok(expected.value);
  return findInSubdirs(join(claudeConfigDir(env), 'projects'), `${sessionId}.jsonl`);
}

/** The directory of the session's transcript, or where it would be. */
async function projectDirOf(
  env: Env,
  session: ClaudeSession,
): Promise<Result<{ dir: string; transcript: string | null }, SessionFileError>> {
  const transcript = await findTranscript(env, session.cwd, session.sessionId);
  return transcript.map((found) => ({
    transcript: found,
    dir:
      found === null
        ? join(claudeConfigDir(env), 'projects', projectDirName(env, session.cwd))
        : join(found, '..'),
  }));
}

// -------------------------------------------------------------------------------- session files

function readSessionPath(path: string, pid: number) {
  return readPidFile(path, pid, parseSessionFile);
}

/** `sessions/<pid>.json`, else the legacy `sessions/pid-<pid>.json`; null when neither exists. */
export async function readSessionFor(
  pid: number,
  env: Env,
): Promise<Result<SessionFile | null, SessionFileError>> {
  const dir = join(claudeConfigDir(env), 'sessions');
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    return err({ kind: 'unsafe', path: dir, detail: `${pid} is not a process id` });
  }
  const current = await readSessionPath(join(dir, `${pid}.json`), pid);
  if (current.isErr() || current.value !== null) return current;
  return readSessionPath(join(dir, `pid-${pid}.json`), pid);
}

/**
 * Every session file under `sessions/`, both generations, sorted by pid (current first when a pid
 * has both). Files that cannot be used are listed in `unusable`, not fatal.
 */
export async function findSessions(
  env: Env,
): Promise<Result<{ sessions: SessionFile[]; unusable: SessionFileError[] }, SessionFileError>> {
  const dir = join(claudeConfigDir(env), 'sessions');
  const read = await readPidFiles(dir, [CURRENT_NAME, LEGACY_NAME], parseSessionFile);
  return read.map(({ found, unusable }) => ({
    sessions: found.sort(
      (a, b) => a.pid - b.pid || (a.format === b.format ? 0 : a.format === 'current' ? -1 : 1),
    ),
    unusable,
  }));
}

/**
 * The session file of the live process `identity` (adopted from /proc), checked so that a pid the
 * kernel has handed to another process never matches (see fileOwnership: `procStart`, else the
 * file's write time against the process's start).
 */
export async function sessionForProcess(
  identity: ProcessIdentity,
  env: Env,
  options: { readonly procRoot?: string; readonly ticksPerSec?: number } = {},
): Promise<Result<SessionMatch, SessionFileError>> {
  const read = await readSessionFor(identity.pid, env);
  if (read.isErr()) return err(read.error);
  const session = read.value;
  if (session === null) return ok({ kind: 'none' });
  const owner = await fileOwnership(identity, session, options);
  return ok(
    owner.owned
      ? { kind: 'matched', session, verifiedBy: owner.verifiedBy }
      : { kind: 'stale', session, detail: owner.detail },
  );
}

/**
 * Claude among `root` and its descendants (parents first): the first process whose
 * `sessions/<pid>.json` is its own (sessionForProcess: procStart equals its start ticks). A shell
 * in the pane has no such file, and claude runs in a process group of its own there, so the
 * pane's pid reaches neither its session nor, by signal, claude (docs/AGENTS.md). Null when none
 * matches or `root` is no longer the process it was.
 */
export async function findClaudeProcess(
  root: ProcessIdentity,
  env: Env,
  procRoot?: string,
): Promise<ProcessIdentity | null> {
  const tree = processTree(root.pid, procRoot);
  if (tree.isErr() || tree.value[0]?.startTicks !== root.startTicks) return null;
  for (const { pid, startTicks, pgrp } of tree.value) {
    const identity = { pid, startTicks, pgrp };
    const match = await sessionForProcess(
      identity,
      env,
      procRoot === undefined ? {} : { procRoot },
    );
    if (match.isOk() && match.value.kind === 'matched') return identity;
  }
  return null;
}

/** Lists the project directory of `session` and applies clearedSessionId. */
export async function findClearedSession(
  env: Env,
  session: ClaudeSession,
  sinceMs: number,
): Promise<Result<string | null, SessionFileError>> {
  const project = await projectDirOf(env, session);
  if (project.isErr()) return err(project.error);
  const files = await timedFiles(project.value.dir, /\.jsonl$/, { followLinks: true });
  return files.map((found) => clearedSessionId(found, session.sessionId, sinceMs));
}

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
  if (session === null) return null;
  const path = await findTranscript(ports.env, session.cwd, session.sessionId);
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

async function claudeSessionSet(pid: number, env: Env) {
  const read = await readSessionFor(pid, env);
  if (read.isErr() || read.value === null) return read.map(() => null);
  const session = read.value;
  const set = await sessionArchiveSet(env, session);
  return set.map((s) => ({
    ...s,
    extraManifest: { ...s.extraManifest, agentVersion: session.version },
  }));
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
    sessionId: async (pid, env) => (await claudeSession(pid, env))?.sessionId ?? null,
    resumeArgv: (argv, sessionId) =>
      sessionId === null ? null : [...withoutResume(argv), '--resume', sessionId],
    resumePrompt: /Resume from summary/i,
    resumeCommand: ({ cwd, sessionId }) =>
      sessionId === null ? null : resumeCommand({ cwd, sessionId }),
  };
}

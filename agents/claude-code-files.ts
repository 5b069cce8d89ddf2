// Where Claude Code keeps its files and how memgov finds and reads them (docs/AGENTS.md): the
// config directory, the project directory and transcript of a session, and `sessions/<pid>.json`
// tied to the live process that holds the pid. The forms seen across versions are listed at the
// top of agents/claude-code.ts; the text of each file is parsed in claude-code-parse.ts.
import { join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { fileOwnership, type ProcessIdentity } from '../adapters/proc.ts';
import { processTree } from '../adapters/proc-tree.ts';
import {
  findInSubdirs,
  homeOf,
  isFileAt,
  isSafeSessionId,
  nonEmpty,
  readPidFile,
  readPidFiles,
  timedFiles,
  type Env,
  type SessionFileError,
} from '../adapters/session-files.ts';
import {
  clearedSessionId,
  encodeCwd,
  parseSessionFile,
  type ClaudeSession,
} from './claude-code-parse.ts';

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

/** Transcripts grow to hundreds of MiB: only this much of the end is read per check. */
export const TAIL_BYTES = 4 << 20;
const CURRENT_NAME = /^(\d{1,10})\.json$/;
const LEGACY_NAME = /^pid-(\d{1,10})\.json$/;

export function unsafeId(path: string, id: string): SessionFileError {
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
export async function projectDirOf(
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

// Where the other agent CLIs keep a session, and how to resume it (SPEC section 5; facts in
// research/agent-control.md, checked against public docs and readers of these files):
// - Codex CLI: `$CODEX_HOME` (default ~/.codex) `/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl`,
//   first line `{"type":"session_meta","payload":{"id","cwd",...}}` (older: `{"id",...}` at the
//   top level); resumed by `codex resume <id>`. A resumed session appends to its old file, so the
//   session in use is the most recently written file, not the newest name.
// - Gemini CLI: `$GEMINI_CLI_HOME` (default ~) `/.gemini/tmp/<project>/chats/session-*.json[l]`;
//   `<project>` was a SHA-256 of the cwd and is now a slug of its basename, mapped in
//   `~/.gemini/projects.json` and marked by `<project>/.project_root`; resumed by
//   `gemini --resume <id>` or `--resume latest`, scoped to the cwd.
// - Aider: `.aider.chat.history.md` in the cwd (or AIDER_CHAT_HISTORY_FILE); `aider
//   --restore-chat-history` reloads it. Aider has no session id.
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  CLAUDE_PROFILE,
  displayCommand,
  isSafeSessionId,
  readHead,
  resumeCommand as claudeResumeCommand,
  type ClaudeSessionError,
  type Env,
  type ResumeCommand,
} from './claude-session.ts';
import { errnoCode, errnoSummary } from './errno.ts';
import { isRecord } from '../lib/record.ts';

export type AgentProfile = 'claude-code' | 'codex' | 'gemini' | 'aider';

/** io: the file system failed; garbled: a file memgov cannot use; unsafe: a refused name. */
export type AgentSessionError = ClaudeSessionError;

/** One session file of an agent CLI. */
export interface AgentSessionFile {
  readonly profile: 'codex' | 'gemini' | 'aider';
  /** Null for aider (no ids), or when the file does not say. */
  readonly sessionId: string | null;
  readonly cwd: string;
  readonly path: string;
  readonly mtimeMs: number;
}

/** Up to this much of a file is read to find its first record. */
const HEAD_BYTES = 64 * 1024;
/** Codex rollout files looked at, newest names first, before giving up. */
const DEFAULT_CODEX_SCAN = 200;
const ROLLOUT =
  /^rollout-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.jsonl$/;
const GEMINI_CHAT = /^session-.+\.jsonl?$/;

function isMissing(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function home(env: Env): string {
  return env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/** A string field of a JSON text that may be cut short: parsed whole, else found by pattern. */
function stringField(text: string, key: string): string | null {
  const match = new RegExp(`"${key}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`).exec(text);
  if (match === null) return null;
  try {
    const value: unknown = JSON.parse(`"${match[1] ?? ''}"`);
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

async function listDir(path: string): Promise<Result<Dirent[], AgentSessionError>> {
  try {
    return ok(await readdir(path, { withFileTypes: true }));
  } catch (error) {
    return isMissing(error) ? ok([]) : err({ kind: 'io', path, detail: errnoSummary(error) });
  }
}

// ---------------------------------------------------------------------------------------- codex

/** `$CODEX_HOME`, else `$HOME/.codex`. */
export function codexHome(env: Env): string {
  return nonEmpty(env.CODEX_HOME) ? env.CODEX_HOME : join(home(env), '.codex');
}

/** `rollout-2025-05-07T17-24-21-<uuid>.jsonl` → its time text and session id; else null. */
export function parseRolloutName(name: string): { timestamp: string; id: string } | null {
  const match = ROLLOUT.exec(name);
  return match === null ? null : { timestamp: match[1] ?? '', id: (match[2] ?? '').toLowerCase() };
}

/**
 * The id and cwd in a rollout's first line: `session_meta` with a `payload` (current), or the
 * fields at the top level (older). The line may be cut short (instructions make it long): fields
 * are then found by pattern. Never throws.
 */
export function parseCodexMeta(head: string): { id: string | null; cwd: string | null } {
  const newline = head.indexOf('\n');
  const line = newline === -1 ? head : head.slice(0, newline);
  try {
    const value: unknown = JSON.parse(line);
    if (isRecord(value)) {
      const meta = isRecord(value.payload) ? value.payload : value;
      return {
        id: typeof meta.id === 'string' ? meta.id : null,
        cwd: typeof meta.cwd === 'string' ? meta.cwd : null,
      };
    }
  } catch {
    // cut short: fall through to the patterns
  }
  return { id: stringField(line, 'id'), cwd: stringField(line, 'cwd') };
}

/** Rollout files under `sessions/`, newest names first (the date directories, then the name). */
async function rolloutFiles(
  root: string,
  limit: number,
): Promise<Result<string[], AgentSessionError>> {
  const found: string[] = [];
  const descending = (entries: Dirent[], pattern: RegExp): string[] =>
    entries
      .filter((e) => e.isDirectory() && pattern.test(e.name))
      .map((e) => e.name)
      .sort()
      .reverse();
  const years = await listDir(root);
  if (years.isErr()) return err(years.error);
  for (const year of descending(years.value, /^\d{4}$/)) {
    const months = await listDir(join(root, year));
    if (months.isErr()) return err(months.error);
    for (const month of descending(months.value, /^\d{2}$/)) {
      const days = await listDir(join(root, year, month));
      if (days.isErr()) return err(days.error);
      for (const day of descending(days.value, /^\d{2}$/)) {
        const dir = join(root, year, month, day);
        const files = await listDir(dir);
        if (files.isErr()) return err(files.error);
        const names = files.value
          .filter((e) => e.isFile() && ROLLOUT.test(e.name))
          .map((e) => e.name)
          .sort()
          .reverse();
        for (const name of names) {
          found.push(join(dir, name));
          if (found.length >= limit) return ok(found);
        }
      }
    }
  }
  return ok(found);
}

/**
 * The Codex session in use: among the newest `scanFiles` rollouts (by name), the most recently
 * written one whose first record names `cwd` (any cwd when not given). Null when there is none.
 */
export async function findCodexSession(
  env: Env,
  options: { readonly cwd?: string; readonly scanFiles?: number } = {},
): Promise<Result<AgentSessionFile | null, AgentSessionError>> {
  const files = await rolloutFiles(
    join(codexHome(env), 'sessions'),
    options.scanFiles ?? DEFAULT_CODEX_SCAN,
  );
  if (files.isErr()) return err(files.error);
  const timed: { path: string; mtimeMs: number }[] = [];
  for (const path of files.value) {
    const found = await stat(path).catch(() => undefined);
    if (found?.isFile() === true) timed.push({ path, mtimeMs: found.mtimeMs });
  }
  timed.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.path < b.path ? 1 : -1));
  for (const { path, mtimeMs } of timed) {
    const meta = parseCodexMeta((await readHead(path, HEAD_BYTES)) ?? '');
    if (options.cwd !== undefined && meta.cwd !== options.cwd) continue;
    const name = path.slice(path.lastIndexOf('/') + 1);
    const sessionId = meta.id ?? parseRolloutName(name)?.id ?? null;
    return ok({ profile: 'codex', sessionId, cwd: meta.cwd ?? options.cwd ?? '', path, mtimeMs });
  }
  return ok(null);
}

/** `codex resume <id>`, from the session's cwd. */
export function codexResumeCommand(session: { cwd: string; sessionId: string }): ResumeCommand {
  const argv = ['codex', 'resume', session.sessionId];
  return { cwd: session.cwd, argv, display: displayCommand(session.cwd, argv) };
}

// --------------------------------------------------------------------------------------- gemini

/** `$GEMINI_CLI_HOME/.gemini`, else `$HOME/.gemini`. */
export function geminiDir(env: Env): string {
  return join(nonEmpty(env.GEMINI_CLI_HOME) ? env.GEMINI_CLI_HOME : home(env), '.gemini');
}

/** The older project directory name: the SHA-256 of the cwd, in hex. */
export function geminiProjectHash(cwd: string): string {
  return createHash('sha256').update(cwd).digest('hex');
}

/** `projects.json`: `{"projects": {"<cwd>": "<slug>"}}` → cwd → slug. Never throws. */
export function parseGeminiProjects(text: string): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  try {
    const value: unknown = JSON.parse(text);
    const projects = isRecord(value) && isRecord(value.projects) ? value.projects : {};
    for (const [cwd, slug] of Object.entries(projects)) {
      if (typeof slug === 'string' && slug !== '' && !slug.includes('/') && !slug.startsWith('.')) {
        map.set(cwd, slug);
      }
    }
  } catch {
    // no usable map
  }
  return map;
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then(
    (found) => found.isDirectory(),
    () => false,
  );
}

/**
 * The `chats/` directory of `cwd`: the slug from `projects.json`, else the SHA-256 name, else the
 * project directory whose `.project_root` holds the cwd. Null when none exists.
 */
export async function findGeminiChatsDir(
  env: Env,
  cwd: string,
): Promise<Result<string | null, AgentSessionError>> {
  const root = geminiDir(env);
  const tmp = join(root, 'tmp');
  const projects = await readFile(join(root, 'projects.json'), 'utf8').catch(() => '');
  const slug = parseGeminiProjects(projects).get(cwd);
  for (const name of [slug, geminiProjectHash(cwd)]) {
    if (name === undefined) continue;
    const chats = join(tmp, name, 'chats');
    if (await isDir(chats)) return ok(chats);
  }
  const entries = await listDir(tmp);
  if (entries.isErr()) return err(entries.error);
  const names = entries.value.filter((e) => e.isDirectory()).map((e) => e.name);
  for (const name of names.sort()) {
    const marker = await readFile(join(tmp, name, '.project_root'), 'utf8').catch(() => undefined);
    if (marker?.trim() === cwd && (await isDir(join(tmp, name, 'chats')))) {
      return ok(join(tmp, name, 'chats'));
    }
  }
  return ok(null);
}

/** The most recently written chat of `cwd`, with the `sessionId` its metadata names. */
export async function findGeminiSession(
  env: Env,
  cwd: string,
): Promise<Result<AgentSessionFile | null, AgentSessionError>> {
  const chats = await findGeminiChatsDir(env, cwd);
  if (chats.isErr() || chats.value === null) return chats.map(() => null);
  const dir = chats.value;
  const entries = await listDir(dir);
  if (entries.isErr()) return err(entries.error);
  let newest: { path: string; mtimeMs: number } | null = null;
  for (const entry of entries.value) {
    if (!entry.isFile() || !GEMINI_CHAT.test(entry.name)) continue;
    const path = join(dir, entry.name);
    const found = await stat(path).catch(() => undefined);
    if (found === undefined) continue;
    if (newest === null || found.mtimeMs > newest.mtimeMs)
      newest = { path, mtimeMs: found.mtimeMs };
  }
  if (newest === null) return ok(null);
  const sessionId = stringField((await readHead(newest.path, HEAD_BYTES)) ?? '', 'sessionId');
  return ok({ profile: 'gemini', sessionId, cwd, ...newest });
}

/** `gemini --resume <id>` (or `latest` without an id), from the session's cwd. */
export function geminiResumeCommand(session: {
  cwd: string;
  sessionId: string | null;
}): ResumeCommand {
  const argv = ['gemini', '--resume', session.sessionId ?? 'latest'];
  return { cwd: session.cwd, argv, display: displayCommand(session.cwd, argv) };
}

// ---------------------------------------------------------------------------------------- aider

/** `$AIDER_CHAT_HISTORY_FILE` (relative to the cwd), else `<cwd>/.aider.chat.history.md`. */
export function aiderHistoryPath(env: Env, cwd: string): string {
  const configured = env.AIDER_CHAT_HISTORY_FILE;
  return nonEmpty(configured) ? resolve(cwd, configured) : join(cwd, '.aider.chat.history.md');
}

/** The chat history file of `cwd`; null when it does not exist. */
export async function findAiderHistory(
  env: Env,
  cwd: string,
): Promise<Result<AgentSessionFile | null, AgentSessionError>> {
  const path = aiderHistoryPath(env, cwd);
  try {
    const found = await stat(path);
    if (!found.isFile()) return ok(null);
    return ok({ profile: 'aider', sessionId: null, cwd, path, mtimeMs: found.mtimeMs });
  } catch (error) {
    return isMissing(error) ? ok(null) : err({ kind: 'io', path, detail: errnoSummary(error) });
  }
}

/** `aider --restore-chat-history`, from the cwd that holds the history. */
export function aiderResumeCommand(session: { cwd: string }): ResumeCommand {
  const argv = ['aider', '--restore-chat-history'];
  return { cwd: session.cwd, argv, display: displayCommand(session.cwd, argv) };
}

// ------------------------------------------------------------------------------------ manifests

/** What an archive's manifest records about the session (restore reads it back). */
export function agentManifestExtra(session: AgentSessionFile): Record<string, unknown> {
  return { profile: session.profile, sessionId: session.sessionId, cwd: session.cwd };
}

/**
 * The resume command an archive's manifest implies: `profile` (a manifest with a `sessionId` and
 * no profile is Claude Code's), `cwd` (absolute) and `sessionId` (needed for claude-code and
 * codex; gemini falls back to `latest`; aider has none). Null when the manifest names no session.
 */
export function resumeFromManifest(
  manifest: Readonly<Record<string, unknown>>,
): { profile: AgentProfile; command: ResumeCommand } | null {
  const { cwd } = manifest;
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0')) return null;
  const sessionId =
    typeof manifest.sessionId === 'string' && isSafeSessionId(manifest.sessionId)
      ? manifest.sessionId
      : null;
  const profile =
    manifest.profile === undefined && sessionId !== null ? CLAUDE_PROFILE : manifest.profile;
  switch (profile) {
    case CLAUDE_PROFILE:
      return sessionId === null
        ? null
        : { profile: CLAUDE_PROFILE, command: claudeResumeCommand({ cwd, sessionId }) };
    case 'codex':
      return sessionId === null
        ? null
        : { profile: 'codex', command: codexResumeCommand({ cwd, sessionId }) };
    case 'gemini':
      return { profile: 'gemini', command: geminiResumeCommand({ cwd, sessionId }) };
    case 'aider':
      return { profile: 'aider', command: aiderResumeCommand({ cwd }) };
    default:
      return null;
  }
}

// Codex CLI (docs/AGENTS.md). Its TUI compacts with /compact and starts a new conversation with
// /new; `codex resume <id>` continues one. Sessions live in `$CODEX_HOME` (default ~/.codex)
// `/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl`, first line
// `{"type":"session_meta","payload":{"id","cwd",...}}` (older: `{"id",...}` at the top level). A
// resumed session appends to its old file, so the session in use is the most recently written
// file, not the newest name. Busy: the pane's "esc to interrupt" (see terminal.ts).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  homeOf,
  listDir,
  nonEmpty,
  readHead,
  stringField,
  type Env,
  type SessionFileError,
} from '../adapters/session-files.ts';
import { isRecord } from '../lib/record.ts';
import type { AgentProfile } from './profile.ts';
import { fileProfile, resumeIn, type AgentSessionFile } from './terminal.ts';

/** Up to this much of a rollout is read to find its first record. */
const HEAD_BYTES = 64 * 1024;
/** Rollout files looked at, newest names first, before giving up. */
const DEFAULT_CODEX_SCAN = 200;
const ROLLOUT =
  /^rollout-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.jsonl$/;

/** `$CODEX_HOME`, else `$HOME/.codex`. */
export function codexHome(env: Env): string {
  return nonEmpty(env.CODEX_HOME) ? env.CODEX_HOME : join(homeOf(env), '.codex');
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

/** The names in `dir` matching `pattern`, newest first: directories, or with `files` regular files. */
async function newestNames(
  dir: string,
  pattern: RegExp,
  files = false,
): Promise<Result<string[], SessionFileError>> {
  return (await listDir(dir)).map((entries) =>
    entries
      .filter((e) => (files ? e.isFile() : e.isDirectory()) && pattern.test(e.name))
      .map((e) => e.name)
      .sort()
      .reverse(),
  );
}

/** Rollout files under `sessions/`, newest names first (the date directories, then the name). */
async function rolloutFiles(
  root: string,
  limit: number,
): Promise<Result<string[], SessionFileError>> {
  const found: string[] = [];
  const years = await newestNames(root, /^\d{4}$/);
  if (years.isErr()) return err(years.error);
  for (const year of years.value) {
    const months = await newestNames(join(root, year), /^\d{2}$/);
    if (months.isErr()) return err(months.error);
    for (const month of months.value) {
      const days = await newestNames(join(root, year, month), /^\d{2}$/);
      if (days.isErr()) return err(days.error);
      for (const day of days.value) {
        const dir = join(root, year, month, day);
        const names = await newestNames(dir, ROLLOUT, true);
        if (names.isErr()) return err(names.error);
        for (const name of names.value) {
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
): Promise<Result<AgentSessionFile | null, SessionFileError>> {
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
export function codexResumeCommand(session: { cwd: string; sessionId: string }) {
  return resumeIn(session.cwd, ['codex', 'resume', session.sessionId]);
}

export function codexProfile(): AgentProfile {
  return fileProfile({
    name: 'codex',
    commands: { compact: '/compact', clear: '/new' },
    find: (env, cwd) => findCodexSession(env, { cwd }),
    resumeArgv: (argv, id) => (id === null ? null : [argv[0] ?? 'codex', 'resume', id]),
    resumeCommand: ({ cwd, sessionId }) =>
      sessionId === null ? null : codexResumeCommand({ cwd, sessionId }),
  });
}

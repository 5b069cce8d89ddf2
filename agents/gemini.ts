// Gemini CLI (docs/AGENTS.md). It compacts with /compress and clears with /clear; `gemini --resume
// <id>` (or `--resume latest`) continues a session, scoped to the cwd. Chats live in
// `$GEMINI_CLI_HOME` (default ~) `/.gemini/tmp/<project>/chats/session-*.json[l]`; `<project>`
// was a SHA-256 of the cwd and is now a slug of its basename, mapped in `~/.gemini/projects.json`
// and marked by `<project>/.project_root`. Busy: the pane's "esc to cancel" (see terminal.ts).
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  homeOf,
  firstSubdir,
  nonEmpty,
  type Env,
  type SessionFileError,
} from '../adapters/session-files.ts';
import { readProcessCwd } from '../adapters/proc.ts';
import { isRecord } from '../lib/record.ts';
import { withoutResume } from './claude-code.ts';
import {
  currentChat,
  geminiConversation,
  listGeminiChats,
  sessionFiles,
  type GeminiChatFile,
} from './gemini-files.ts';
import { findGeminiProcess } from './gemini-process.ts';
import { geminiProbe } from './gemini-probe.ts';
import type { AgentProfile } from './profile.ts';
import { agentManifestExtra, fileProfile, resumeIn, type AgentSessionFile } from './terminal.ts';

/** `$GEMINI_CLI_HOME/.gemini`, else `$HOME/.gemini`. */
export function geminiDir(env: Env): string {
  return join(nonEmpty(env.GEMINI_CLI_HOME) ? env.GEMINI_CLI_HOME : homeOf(env), '.gemini');
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

/** The project directory under `tmp` whose `.project_root` holds `cwd` and that has `chats/`. */
function markedChatsDir(
  tmp: string,
  cwd: string,
): Promise<Result<string | null, SessionFileError>> {
  return firstSubdir(tmp, async (dir) => {
    const marker = await readFile(join(dir, '.project_root'), 'utf8').catch(() => undefined);
    const chats = join(dir, 'chats');
    return marker?.trim() === cwd && (await isDir(chats)) ? chats : null;
  });
}

/**
 * The `chats/` directory of `cwd`: the slug from `projects.json`, else the SHA-256 name, else the
 * project directory whose `.project_root` holds the cwd. Null when none exists.
 */
export async function findGeminiChatsDir(
  env: Env,
  cwd: string,
): Promise<Result<string | null, SessionFileError>> {
  const root = geminiDir(env);
  const tmp = join(root, 'tmp');
  const projects = await readFile(join(root, 'projects.json'), 'utf8').catch(() => '');
  const slug = parseGeminiProjects(projects).get(cwd);
  for (const name of [slug, geminiProjectHash(cwd)]) {
    if (name === undefined) continue;
    const chats = join(tmp, name, 'chats');
    if (await isDir(chats)) return ok(chats);
  }
  return markedChatsDir(tmp, cwd);
}

/** The live chat of `cwd` (chosen by content: never a resume's stub), with its session id. */
export async function findGeminiSession(
  env: Env,
  cwd: string,
): Promise<Result<AgentSessionFile | null, SessionFileError>> {
  const chats = await chatsOf(env, cwd);
  if (chats.isErr()) return err(chats.error);
  const current = currentChat(chats.value);
  if (current === null) return ok(null);
  const { path, mtimeMs, sessionId } = current;
  return ok({ profile: 'gemini', sessionId, cwd, path, mtimeMs });
}

/** Every chat file of `cwd` ([] when it has no chats directory yet). */
async function chatsOf(env: Env, cwd: string): Promise<Result<GeminiChatFile[], SessionFileError>> {
  const dir = await findGeminiChatsDir(env, cwd);
  if (dir.isErr()) return err(dir.error);
  return dir.value === null ? ok([]) : listGeminiChats(dir.value);
}

/** `gemini --resume <id>` (or `latest` without an id), from the session's cwd. */
export function geminiResumeCommand(session: { cwd: string; sessionId: string | null }) {
  return resumeIn(session.cwd, ['gemini', '--resume', session.sessionId ?? 'latest']);
}

/**
 * The live chat and the chats of the earlier sessions of `lineage` (a /clear leaves the
 * conversation in the one before); the manifest names the chain and the session to resume.
 */
async function geminiSessionSet(pid: number, env: Env, lineage: readonly string[] = []) {
  const cwd = await readProcessCwd(pid);
  if (cwd.isErr()) return ok(null);
  const chats = await chatsOf(env, cwd.value);
  if (chats.isErr()) return err(chats.error);
  const current = currentChat(chats.value);
  if (current === null) return ok(null);
  const session: AgentSessionFile = { profile: 'gemini', cwd: cwd.value, ...current };
  const chain = [...lineage.filter((id) => id !== current.sessionId)];
  if (current.sessionId !== null) chain.push(current.sessionId);
  const files = sessionFiles(chats.value);
  const sources = chain.flatMap((id) => files.get(id)?.path ?? []);
  const resume = await geminiConversation(chain, chats.value);
  return ok({
    sources: sources.length > 0 ? sources : [current.path],
    exclude: () => false,
    extraManifest: {
      ...agentManifestExtra(session),
      lineage: chain,
      resumeSessionId: resume?.sessionId ?? current.sessionId,
      resumeWhy: resume?.why ?? 'the live session',
    },
  });
}

async function conversationIn(lineage: readonly string[], cwd: string, env: Env) {
  const chats = await chatsOf(env, cwd);
  return chats.isErr() ? null : geminiConversation(lineage, chats.value);
}

/**
 * The variables that make gemini start non-interactive: its terminal UI asks the `is-in-ci`
 * package, which sees CI (unless "0" or "false"), CONTINUOUS_INTEGRATION or any `CI_` name
 * (the CLI's own troubleshooting page). In a tmux pane it then never draws its input box: CI's
 * `CI=true` made all three real-gemini tests wait 30 s for it (docs/AGENTS.md).
 */
export function geminiCiVariables(env: Env): string[] {
  return Object.keys(env)
    .filter((key) => key === 'CI' || key === 'CONTINUOUS_INTEGRATION' || key.startsWith('CI_'))
    .filter((key) => !(key === 'CI' && (env.CI === '0' || env.CI === 'false')))
    .sort();
}

function geminiLaunchWarning(env: Env): string | null {
  const names = geminiCiVariables(env);
  if (names.length === 0) return null;
  const unset = names.map((name) => `-u ${name}`).join(' ');
  return `gemini starts non-interactive when ${names.join(', ')} is set, and memgov cannot type into it: start it as \`env ${unset} gemini ...\``;
}

export function geminiProfile(): AgentProfile {
  const base = fileProfile({
    name: 'gemini',
    commands: { compact: '/compress', clear: '/clear' },
    find: findGeminiSession,
    // As before the move: a `claude` program's own resume flags are dropped, others kept.
    resumeArgv: (argv, id) => [...withoutResume(argv), '--resume', id ?? 'latest'],
    resumeCommand: geminiResumeCommand,
  });
  return {
    ...base,
    findAgent: (root) => findGeminiProcess(root).catch(() => null),
    launchWarning: geminiLaunchWarning,
    probe: geminiProbe(findGeminiSession),
    sessionSet: (pid, env, lineage) => geminiSessionSet(pid, env, lineage),
    conversationSession: (lineage, cwd, env) => conversationIn(lineage, cwd, env).catch(() => null),
  };
}

// Which of Gemini CLI's chat files is which session (docs/AGENTS.md, "Gemini CLI"). Measured on
// 0.61.0: a chat is `chats/session-<ts>-<id8>.jsonl`, its first line `{sessionId, ...}`. Each
// `--resume` adds a stub file with the same sessionId (873-895 bytes: the metadata line and the
// start context, no turn) and about the same mtime as the real one, so files are grouped by the
// id their first line names and the largest of a group is that session's conversation. A /clear
// starts a new session with a new file at once; that file is deleted when the CLI exits with
// nothing sent, yet its id is the one the exit banner offers to resume.
import { readFile, stat } from 'node:fs/promises';
import { ok, type Result } from 'neverthrow';
import {
  readHead,
  stringField,
  timedFiles,
  type SessionFileError,
} from '../adapters/session-files.ts';
import type { SessionChoice } from './profile.ts';

/** The first line of a chat is its metadata; 64 KiB holds it with room. */
const HEAD_BYTES = 64 * 1024;
const GEMINI_CHAT = /^session-.+\.jsonl?$/;
/** /compress keeps its summary in the history as a `<state_snapshot>` text. */
const SNAPSHOT = '<state_snapshot>';
/** A record of a model answer. */
const ANSWER = '"type":"gemini"';

/** One chat file, with the session id its metadata names (null when it names none). */
export interface GeminiChatFile {
  readonly path: string;
  readonly mtimeMs: number;
  readonly sizeBytes: number;
  readonly sessionId: string | null;
}

/** The chat files of a `chats/` directory, each with its session id and size. */
export async function listGeminiChats(
  chatsDir: string,
): Promise<Result<GeminiChatFile[], SessionFileError>> {
  const files = await timedFiles(chatsDir, GEMINI_CHAT);
  if (files.isErr()) return files.map(() => []);
  const chats: GeminiChatFile[] = [];
  for (const { path, mtimeMs } of files.value) {
    const sizeBytes = (await stat(path).catch(() => undefined))?.size;
    if (sizeBytes === undefined) continue;
    const sessionId = stringField((await readHead(path, HEAD_BYTES)) ?? '', 'sessionId');
    chats.push({ path, mtimeMs, sizeBytes, sessionId });
  }
  return ok(chats);
}

/** The newer of two files, by mtime, then by name (the name starts with the start minute). */
function newer(a: GeminiChatFile, b: GeminiChatFile): boolean {
  return a.mtimeMs !== b.mtimeMs ? a.mtimeMs > b.mtimeMs : a.path > b.path;
}

/**
 * Per session id, the file that holds the conversation: the largest (a resume's stub repeats the
 * id with no turn in it), with the newest mtime of the group (a stub can be the newer one).
 */
export function sessionFiles(chats: readonly GeminiChatFile[]): Map<string, GeminiChatFile> {
  const byId = new Map<string, GeminiChatFile>();
  for (const chat of chats) {
    if (chat.sessionId === null) continue;
    const seen = byId.get(chat.sessionId);
    if (seen === undefined) byId.set(chat.sessionId, chat);
    else {
      const best = chat.sizeBytes > seen.sizeBytes ? chat : seen;
      byId.set(chat.sessionId, { ...best, mtimeMs: Math.max(chat.mtimeMs, seen.mtimeMs) });
    }
  }
  return byId;
}

/**
 * The live session's file: of the sessions in `chats`, the one written last (after /clear the
 * new, still empty session; after a resume the resumed one, never its stub). Files that name no
 * session count only when no file names one.
 */
export function currentChat(chats: readonly GeminiChatFile[]): GeminiChatFile | null {
  let current: GeminiChatFile | null = null;
  const named = [...sessionFiles(chats).values()];
  for (const chat of named.length > 0 ? named : chats)
    if (current === null || newer(chat, current)) current = chat;
  return current;
}

/** What a session's file shows: a /compress snapshot, a model answer. */
async function contentOf(file: GeminiChatFile): Promise<{ snapshot: boolean; answered: boolean }> {
  const text = await readFile(file.path, 'utf8').catch(() => '');
  return { snapshot: text.includes(SNAPSHOT), answered: text.includes(ANSWER) };
}

/**
 * Which session of `lineage` (oldest first) holds the conversation: the newest with a /compress
 * snapshot, else the newest with a model answer; null when none has a file with either (an id
 * whose file the CLI deleted, as after /clear and exit, is never picked).
 */
export async function geminiConversation(
  lineage: readonly string[],
  chats: readonly GeminiChatFile[],
): Promise<SessionChoice | null> {
  const files = sessionFiles(chats);
  let snapshot: string | null = null;
  let answered: string | null = null;
  for (const sessionId of lineage) {
    const file = files.get(sessionId);
    if (file === undefined) continue;
    const content = await contentOf(file);
    if (content.snapshot) snapshot = sessionId;
    if (content.answered) answered = sessionId;
  }
  if (snapshot !== null)
    return { sessionId: snapshot, why: 'it holds the latest /compress summary' };
  if (answered !== null)
    return { sessionId: answered, why: 'no /compress summary: the newest session with answers' };
  return null;
}

// Aider (docs/AGENTS.md). It clears with /clear and has no compact command: it summarises its
// history in the background, so the compact rung is skipped and the log says so. The chat lives
// in `.aider.chat.history.md` in the cwd (or AIDER_CHAT_HISTORY_FILE); `aider
// --restore-chat-history` reloads it. Aider has no session id. Busy: the spinner's "Waiting for
// <model>" (see terminal.ts).
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import {
  ioError,
  isMissing,
  nonEmpty,
  type Env,
  type SessionFileError,
} from '../adapters/session-files.ts';
import type { AgentProfile } from './profile.ts';
import { fileProfile, resumeIn, type AgentSessionFile } from './terminal.ts';

export const AIDER_NO_COMPACT = 'aider has no compact command; skipping to the next rung';

/** `$AIDER_CHAT_HISTORY_FILE` (relative to the cwd), else `<cwd>/.aider.chat.history.md`. */
export function aiderHistoryPath(env: Env, cwd: string): string {
  const configured = env.AIDER_CHAT_HISTORY_FILE;
  return nonEmpty(configured) ? resolve(cwd, configured) : join(cwd, '.aider.chat.history.md');
}

/** The chat history file of `cwd`; null when it does not exist. */
export async function findAiderHistory(
  env: Env,
  cwd: string,
): Promise<Result<AgentSessionFile | null, SessionFileError>> {
  const path = aiderHistoryPath(env, cwd);
  try {
    const found = await stat(path);
    if (!found.isFile()) return ok(null);
    return ok({ profile: 'aider', sessionId: null, cwd, path, mtimeMs: found.mtimeMs });
  } catch (error) {
    return isMissing(error) ? ok(null) : err(ioError(path, error));
  }
}

/** `aider --restore-chat-history`, from the cwd that holds the history. */
export function aiderResumeCommand(session: { cwd: string }) {
  return resumeIn(session.cwd, ['aider', '--restore-chat-history']);
}

export function aiderProfile(): AgentProfile {
  return fileProfile({
    name: 'aider',
    commands: { compact: null, clear: '/clear' },
    find: findAiderHistory,
    resumeArgv: (argv) =>
      argv.includes('--restore-chat-history') ? null : [...argv, '--restore-chat-history'],
    resumeCommand: aiderResumeCommand,
    missingRung: (action) =>
      action === 'compact' ? AIDER_NO_COMPACT : 'the aider profile has no clear command',
  });
}

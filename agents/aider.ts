// Aider (docs/AGENTS.md, "aider, from its source"). It clears with /clear and has no compact
// command: it summarises its history in the background, so the compact rung is skipped and the
// log says so. Aider has no session id. What its source says, and memgov follows:
// - The chat history file is `--chat-history-file`, else AIDER_CHAT_HISTORY_FILE, else
//   `.aider.chat.history.md` at the git root of the cwd (aider/args.py), the cwd outside a repo.
// - A message is appended as `#### <text>` when it is sent, the answer only when it has streamed
//   (aider/io.py user_input, ai_output). The spinner "Waiting for <model>" stops at the first
//   token, so a history ending in an unanswered message is what says "busy while streaming".
// - `--restore-chat-history` reloads the whole file, also what came before a /clear (which empties
//   only the messages in memory): a relaunch after tier 3 brings the pre-clear conversation back.
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { identify, readProcessArgv, readProcessCwd, startedAtMs } from '../adapters/proc.ts';
import {
  existsAs,
  ioError,
  isMissing,
  nonEmpty,
  readTextTail,
  type Env,
  type SessionFileError,
} from '../adapters/session-files.ts';
import { paneLacks } from '../adapters/tmux.ts';
import type { AgentProfile, ProfilePorts, RungName, RungProbe } from './profile.ts';
import {
  BUSY_MARKER,
  fileProfile,
  paneProbe,
  resumeIn,
  type AgentSessionFile,
} from './terminal.ts';

export const AIDER_NO_COMPACT = 'aider has no compact command; skipping to the next rung';
const HISTORY_NAME = '.aider.chat.history.md';
const HISTORY_FLAG = '--chat-history-file';

/** Where aider writes its chat: the flag, the variable (both relative to the cwd), the git root. */
export function aiderHistoryPath(
  env: Env,
  cwd: string,
  argv: readonly string[] = [],
  gitRoot: string | null = null,
): string {
  const flag = flagValue(argv, HISTORY_FLAG);
  if (flag !== null) return resolve(cwd, flag);
  const configured = env.AIDER_CHAT_HISTORY_FILE;
  if (nonEmpty(configured)) return resolve(cwd, configured);
  return join(gitRoot ?? cwd, HISTORY_NAME);
}

/** `--flag VALUE` or `--flag=VALUE`, the last one given (argparse keeps the last). */
function flagValue(argv: readonly string[], flag: string): string | null {
  let value: string | null = null;
  argv.forEach((arg, i) => {
    if (arg === flag && i + 1 < argv.length) value = argv[i + 1] ?? null;
    else if (arg.startsWith(`${flag}=`)) value = arg.slice(flag.length + 1);
  });
  return value;
}

/** The nearest directory at or above `cwd` holding `.git` (a directory, or a worktree's file). */
export async function gitRootOf(cwd: string): Promise<string | null> {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const git = join(dir, '.git');
    if ((await existsAs(git, 'dir')) || (await existsAs(git, 'file'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** The chat history of the aider working in `cwd` (its argv when `pid` is known); null: none. */
export async function findAiderHistory(
  env: Env,
  cwd: string,
  pid?: number,
): Promise<Result<AgentSessionFile | null, SessionFileError>> {
  const argv = pid === undefined ? [] : (await readProcessArgv(pid)).unwrapOr([]);
  const path = aiderHistoryPath(env, cwd, argv, await gitRootOf(cwd));
  try {
    const found = await stat(path);
    if (!found.isFile()) return ok(null);
    return ok({ profile: 'aider', sessionId: null, cwd, path, mtimeMs: found.mtimeMs });
  } catch (error) {
    return isMissing(error) ? ok(null) : err(ioError(path, error));
  }
}

/**
 * Whether the history ends in a message still waiting for its answer: the last line that is
 * neither blank nor a `>` note (tool output) is a `#### ` message that is not a /command.
 */
export function historyAwaitsAnswer(text: string): boolean {
  const lines = text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('>'));
  const last = lines.at(-1) ?? '';
  return last.startsWith('#### ') && !last.startsWith('#### /');
}

/** The last 64 KiB of the history is plenty for its last message (aider writes it whole). */
const TAIL_BYTES = 64 * 1024;

/** Busy by the history: written by this process (not left by an earlier one) and unanswered. */
async function awaitsAnswer(pid: number | null, env: Env): Promise<boolean> {
  if (pid === null) return false;
  const cwd = await readProcessCwd(pid);
  if (cwd.isErr()) return false;
  const found = await findAiderHistory(env, cwd.value, pid);
  if (found.isErr() || found.value === null) return false;
  const identity = identify(pid);
  const startMs = identity.isOk() ? (startedAtMs(identity.value) ?? 0) : 0;
  if (found.value.mtimeMs < startMs) return false;
  const tail = await readTextTail(found.value.path, TAIL_BYTES);
  return tail.isOk() && historyAwaitsAnswer(tail.value.text);
}

/** Idle: no spinner in the pane and no message waiting for its streamed answer. */
function aiderProbe(_action: RungName, _text: string, ports: ProfilePorts): Promise<RungProbe> {
  const paneIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
  const isIdle = async () => (await paneIdle()) && !(await awaitsAnswer(ports.pid, ports.env));
  return Promise.resolve({ ...paneProbe(ports), isIdle });
}

/** `aider --restore-chat-history`, from the cwd that holds the history. */
export function aiderResumeCommand(session: { cwd: string }) {
  return resumeIn(session.cwd, ['aider', '--restore-chat-history']);
}

export function aiderProfile(): AgentProfile {
  return {
    ...fileProfile({
      name: 'aider',
      commands: { compact: null, clear: '/clear' },
      find: findAiderHistory,
      resumeArgv: (argv) =>
        argv.includes('--restore-chat-history') ? null : [...argv, '--restore-chat-history'],
      resumeCommand: aiderResumeCommand,
      missingRung: (action) =>
        action === 'compact' ? AIDER_NO_COMPACT : 'the aider profile has no clear command',
    }),
    probe: aiderProbe,
  };
}

// The checks memgov runs around a command typed into Gemini CLI (docs/AGENTS.md, "Gemini CLI").
// Busy: the pane's spinner line "⠙ Thinking... (esc to cancel, 21s)" stays through the wait and
// the whole streamed answer (measured on 0.61.0), and the live chat's last message is the user's
// until the answer is written (the answer's record is appended when it ends). /compress is done
// when the pane shows "Chat history compressed from N to M tokens." after the typed command, and
// refused with one of the CLI's own lines (the CompressionMessage texts of 0.61.0).
import { readProcessCwd } from '../adapters/proc.ts';
import { readTextTail, type Env } from '../adapters/session-files.ts';
import { paneLacks } from '../adapters/tmux.ts';
import { isRecord } from '../lib/record.ts';
import type { Completion, ProfilePorts, RungName, RungProbe } from './profile.ts';
import { ALWAYS, BUSY_MARKER, paneProbe, type FindSession } from './terminal.ts';

const COMPRESSED = /Chat history compressed from \d+ to \d+ tokens/;
const COMPRESS_REFUSED =
  /Nothing to compress\.|Compression was not beneficial[^\n]*|Chat history compression did not reduce size\.|Could not compress chat history[^\n]*|Chat history compression failed[^\n]*|Already compressing[^\n]*/;

/** The type of the last message record of a chat (`user`, `gemini`, `info`...); null: none. */
export function lastMessageType(text: string): string | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const line = lines[i]?.trim() ?? '';
    if (line === '' || line.startsWith('{"$set"')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isRecord(value) && typeof value.type === 'string') return value.type;
    } catch {
      // A line being written: look further up.
    }
  }
  return null;
}

/**
 * The end of a chat holds its last message: 1 MiB covers the 300 KB replies the tests send. A
 * record longer than that does not parse in the window and reads as "not the user's", which it
 * almost always is (an answer). The file is polled while waiting for idle: never read whole.
 */
const CHAT_TAIL_BYTES = 1024 * 1024;

/** Whether the live chat of the agent `pid` waits for an answer (its last message is the user's). */
async function chatAwaitsAnswer(pid: number | null, env: Env, find: FindSession) {
  if (pid === null) return false;
  const cwd = await readProcessCwd(pid);
  if (cwd.isErr()) return false;
  const found = await find(env, cwd.value);
  if (found.isErr() || found.value === null) return false;
  const tail = await readTextTail(found.value.path, CHAT_TAIL_BYTES);
  return tail.isOk() && lastMessageType(tail.value.text) === 'user';
}

/** The pane's text after the last line that shows `command` typed; null when none does. */
function afterTyped(pane: string, command: string): string | null {
  const at = pane.lastIndexOf(`> ${command}`);
  return at < 0 ? null : pane.slice(at + command.length + 2);
}

/** What the pane says of a /compress typed as `command`: done, refused, or not yet. */
export function compressOutcome(pane: string, command: string): Completion {
  const after = afterTyped(pane, command);
  if (after === null) return { kind: 'pending' };
  const refused = COMPRESS_REFUSED.exec(after);
  if (refused !== null) return { kind: 'failed', detail: `gemini: ${refused[0]}` };
  const compressed = COMPRESSED.exec(after);
  if (compressed !== null) return { kind: 'done', detail: `${compressed[0]} (the pane)` };
  return { kind: 'pending' };
}

/** The checks for `action` typed as `text`: idle by pane and chat; /compress by its result line. */
export function geminiProbe(find: FindSession) {
  return (action: RungName, text: string, ports: ProfilePorts): Promise<RungProbe> => {
    const paneIdle = paneLacks(ports.tmux, ports.target, BUSY_MARKER);
    const isIdle = async () =>
      (await paneIdle()) && !(await chatAwaitsAnswer(ports.pid, ports.env, find));
    if (action !== 'compact') return Promise.resolve({ ...paneProbe(ports), isIdle });
    return Promise.resolve({
      isIdle,
      taken: ALWAYS,
      finished: async () => {
        const pane = await ports.tmux.capturePane(ports.target);
        return pane.isOk() ? compressOutcome(pane.value, text) : { kind: 'pending' };
      },
    });
  };
}

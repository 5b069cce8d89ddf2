// The real Gemini CLI (pinned by scripts/install-agent-clis.sh) for the real-agent tests: its own
// HOME with a settings.json choosing the API key (no auth dialog) and a trustedFolders.json
// trusting the project (no trust dialog), offline against test/support/fake-gemini-api.ts. The
// CLI is a node wrapper that relaunches itself as a child `node --max-old-space-size=...` in the
// same process group; every process of the pane's tree is recorded (pid and start time) so a test
// can check that none is left, and stop() ends what is left of them.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { geminiCiVariables } from '../../agents/gemini.ts';
import { isRecord } from '../../lib/record.ts';
import { pause } from '../../lib/time.ts';
import { lastUserText, type FakeGemini } from './fake-gemini-api.ts';
import {
  agentCliPath,
  descendantsOf,
  requireAgentCli,
  shellQuote,
  socketNamer,
} from './real-cli.ts';
import { pollUntil } from './daemon.ts';
import { killTmuxServer } from './tmux.ts';

export function geminiBinaryPath(): string {
  return agentCliPath('gemini/node_modules/.bin/gemini');
}

export function requireGeminiBinary(): void {
  requireAgentCli('Gemini CLI', geminiBinaryPath());
}

/** A process as recorded: its pid and its start time (field 22 of /proc/PID/stat). */
export interface RecordedProcess {
  pid: number;
  startTicks: string;
}

export interface RealGemini {
  socket: string;
  home: string;
  cwd: string;
  capturePane(): string;
  /** Types `text`, pauses (Enter right after the text is not always taken), presses Enter. */
  sendLine(text: string): Promise<void>;
  /** Waits until the pane shows the input box and no spinner. */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /** The pane's process and its descendants now, each also kept for stop(). */
  recordTree(): RecordedProcess[];
  /** The chats directory of the project (`~/.gemini/tmp/project/chats`). */
  chatsDir: string;
  /** Its chat files now: path, the sessionId of the first line, size. */
  chatFiles(): ChatFile[];
  stop(): void;
}

export interface ChatFile {
  path: string;
  sessionId: string | null;
  sizeBytes: number;
}

function chatFilesIn(dir: string): ChatFile[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^session-.*\.jsonl$/.test(name))
    .flatMap((name) => {
      const path = join(dir, name);
      try {
        const head: unknown = JSON.parse(readFileSync(path, 'utf8').split('\n')[0] ?? '');
        const sessionId =
          isRecord(head) && typeof head.sessionId === 'string' ? head.sessionId : null;
        return [{ path, sessionId, sizeBytes: statSync(path).size }];
      } catch {
        return [];
      }
    });
}

/** Resolves once `probe` holds on two looks `gapMs` apart (a CLI that just drew its box). */
async function steadily(
  what: string,
  timeoutMs: number,
  probe: () => boolean,
  gapMs: number,
  detail: () => string,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    await pollUntil(what, left, () => (probe() ? true : undefined), detail);
    await pause(gapMs);
    if (probe()) return;
  }
}

function startTicksOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the recorded process still runs (same pid, same start time). */
export function stillRuns(process: RecordedProcess): boolean {
  return startTicksOf(process.pid) === process.startTicks;
}

/** A HOME and project cwd for gemini, and the argv that starts it there offline. */
export function prepareRealGemini(baseUrl: string): { home: string; cwd: string; argv: string[] } {
  const home = mkdtempSync(join(tmpdir(), 'memgov-real-gemini-'));
  const cwd = join(home, 'project');
  mkdirSync(join(home, '.gemini'), { recursive: true });
  mkdirSync(cwd);
  const settings = { security: { auth: { selectedType: 'gemini-api-key' } } };
  writeFileSync(join(home, '.gemini', 'settings.json'), JSON.stringify(settings));
  writeFileSync(
    join(home, '.gemini', 'trustedFolders.json'),
    JSON.stringify({ [cwd]: 'TRUST_FOLDER' }),
  );
  const env = {
    HOME: home,
    GEMINI_API_KEY: 'memgov-dummy-key',
    GOOGLE_GEMINI_BASE_URL: baseUrl,
    TERM: 'xterm-256color',
    COLORTERM: 'truecolor',
  };
  const assigns = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  // CI sets CI=true, which would start gemini non-interactive (agents/gemini.ts).
  const unsets = geminiCiVariables(process.env).flatMap((name) => ['-u', name]);
  return { home, cwd, argv: ['env', ...unsets, ...assigns, geminiBinaryPath()] };
}

/** A tmux socket name of its own for each real gemini of this run. */
export const geminiSocketName = socketNamer('memgov-gemini');

const SPINNER = /esc to cancel/;
const INPUT_BOX = /Type your message/;

/** The gemini in pane `target` of tmux server `socket` (launched by memgov), HOME `home`. */
export function realGeminiIn(where: {
  socket: string;
  target: string;
  home: string;
  cwd: string;
}): RealGemini {
  const { socket, target, home, cwd } = where;
  const tmux = (args: string[]): string =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: 'pipe' });
  const recorded = new Map<string, RecordedProcess>();
  const capturePane = (): string => {
    try {
      return tmux(['capture-pane', '-p', '-t', target]);
    } catch {
      return '';
    }
  };
  return {
    socket,
    home,
    cwd,
    chatsDir: join(home, '.gemini', 'tmp', 'project', 'chats'),
    chatFiles: () => chatFilesIn(join(home, '.gemini', 'tmp', 'project', 'chats')),
    capturePane,
    sendLine: async (text) => {
      tmux(['send-keys', '-t', target, '-l', text]);
      await pause(400);
      tmux(['send-keys', '-t', target, 'Enter']);
    },
    // Idle on two looks 1 s apart: a line typed as the relaunched CLI draws its box was lost
    // (1 run of 3).
    waitForIdle: (timeoutMs = 30_000) =>
      steadily(
        'gemini idle',
        timeoutMs,
        () => {
          const pane = capturePane();
          return INPUT_BOX.test(pane) && !SPINNER.test(pane);
        },
        1_000,
        () => `pane:\n${capturePane()}`,
      ),
    recordTree: () => {
      const root = Number(tmux(['display-message', '-p', '-t', target, '#{pane_pid}']).trim());
      const tree = descendantsOf(root).flatMap((pid) => {
        const startTicks = startTicksOf(pid);
        return startTicks === null ? [] : [{ pid, startTicks }];
      });
      for (const p of tree) recorded.set(`${p.pid}:${p.startTicks}`, p);
      return tree;
    },
    stop: () => {
      killTmuxServer(socket);
      for (const p of recorded.values()) if (stillRuns(p)) process.kill(p.pid, 'SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Sends `prompt` once gemini is idle; returns the chat turn that carried it (unique prompts). */
export async function sendGeminiTurn(gemini: RealGemini, fake: FakeGemini, prompt: string) {
  await gemini.waitForIdle(30_000);
  await gemini.sendLine(prompt);
  return pollUntil(
    `"${prompt}" at the fake`,
    20_000,
    () => fake.turnRequests().find((r) => lastUserText(r.body).includes(prompt)),
    () => `pane:\n${gemini.capturePane()}`,
  );
}

/**
 * Gemini typed into an interactive bash in a pane of its own tmux server, as a person starts it:
 * with job control, so the CLI runs in a process group of its own, not the pane's.
 */
export function startGeminiInShell(baseUrl: string): { gemini: RealGemini; shellPid: number } {
  const { home, cwd, argv } = prepareRealGemini(baseUrl);
  const socket = geminiSocketName();
  const tmux = (args: string[]): string =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  tmux(['new-session', '-d', '-s', 'main', '-x', '160', '-y', '50', '-c', cwd]);
  tmux(['respawn-pane', '-k', '-t', 'main', 'exec bash --norc --noprofile -i']);
  tmux(['send-keys', '-t', 'main', '-l', argv.map(shellQuote).join(' ')]);
  tmux(['send-keys', '-t', 'main', 'Enter']);
  const shellPid = Number(tmux(['display-message', '-p', '-t', 'main', '#{pane_pid}']).trim());
  return { gemini: realGeminiIn({ socket, target: 'main', home, cwd }), shellPid };
}

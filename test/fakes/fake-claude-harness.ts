// Starts test/fakes/fake-claude.ts in a pane of a test's own tmux server and reads what it leaves
// behind (sessions/<pid>.json, the transcript, the debug log), the way a claude-code profile would.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Tmux } from '../../adapters/tmux.ts';

const FAKE = fileURLToPath(new URL('./fake-claude.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface SessionFile {
  readonly pid: number;
  readonly sessionId: string;
  readonly cwd: string;
  readonly status: 'idle' | 'busy' | 'waiting';
  /** Field 22 of /proc/PID/stat as a decimal string, as the real CLI writes it. */
  readonly procStart: string | null;
  readonly startedAt: number;
}

/** One transcript line, loosely typed: tests look at the fields the real CLI writes. */
// A type, not an interface: it must fit Readonly<Record<string, unknown>> (adapters/session-files.ts).
export type TranscriptRecord = {
  readonly type: string;
  readonly subtype?: string;
  readonly sessionId: string;
  readonly uuid: string;
  readonly parentUuid: string | null;
  readonly timestamp: string;
  readonly isCompactSummary?: boolean;
  readonly compactMetadata?: { trigger: string; preTokens: number };
  readonly message?: { role: string; content: unknown };
};

export interface FakeClaude {
  /** The pane id (`%N`): the tmux target. */
  readonly pane: string;
  readonly pid: number;
  readonly configDir: string;
  /** The agent's working directory: a temp dir whose name holds a `.`. */
  readonly cwd: string;
  readonly debugLogPath: string;
  /** sessions/<pid>.json now; null when missing or half-written. */
  readonly session: () => SessionFile | null;
  readonly transcriptPath: (sessionId: string) => string;
  /** The records of a session's transcript ([] when it has none yet). */
  readonly records: (sessionId?: string) => TranscriptRecord[];
  readonly debugLog: () => string[];
}

export interface FakeClaudeHarness {
  /** Starts a fake in a new session; `configDir` and `cwd` default to fresh temp dirs. */
  readonly start: (
    args?: readonly string[],
    options?: { configDir?: string; cwd?: string },
  ) => Promise<FakeClaude>;
  /** Every pid started, for cleanup. */
  readonly pids: number[];
  readonly cleanup: () => void;
}

/** Polls `check` every `pollMs` until it holds or `timeoutMs` passes; resolves with the last answer. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 5_000, pollMs = 25 }: { timeoutMs?: number; pollMs?: number } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || performance.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The project directory name for a cwd, as the fake (and newer real versions) write it. */
export function encodeCwd(cwd: string): string {
  return cwd.replace(/[^A-Za-z0-9]/g, '-');
}

export function readJsonLines(path: string): TranscriptRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as TranscriptRecord);
}

/** The text of a user record's message (string content, or the text parts joined). */
export function userText(record: TranscriptRecord): string | null {
  if (record.type !== 'user' || record.message === undefined) return null;
  const { content } = record.message;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: { text?: unknown }) => (typeof part.text === 'string' ? part.text : ''))
      .join('');
  }
  return null;
}

export function createFakeClaudeHarness(tmux: Tmux): FakeClaudeHarness {
  const root = mkdtempSync(join(tmpdir(), 'memgov-fake-claude-'));
  const pids: number[] = [];
  let count = 0;

  const start = async (
    args: readonly string[] = [],
    options: { configDir?: string; cwd?: string } = {},
  ): Promise<FakeClaude> => {
    count += 1;
    const cwd = options.cwd ?? join(root, `project.${count}`);
    mkdirSync(cwd, { recursive: true });
    const configDir = options.configDir ?? join(root, `config-${count}`);
    mkdirSync(configDir, { recursive: true });
    const debugLogPath = join(root, `debug-${count}.log`);
    const created = await tmux.run([
      'new-session',
      '-d',
      '-P',
      '-F',
      '#{pane_id}',
      '-s',
      `fake-${count}`,
      '-x',
      '120',
      '-y',
      '30',
      '-c',
      cwd,
      '-e',
      `CLAUDE_CONFIG_DIR=${configDir}`,
      '--',
      process.execPath,
      '--expose-gc',
      '--import',
      TSX_LOADER,
      FAKE,
      '--debug-log',
      debugLogPath,
      ...args,
    ]);
    const pane = created._unsafeUnwrap().trim();
    // Keep a pane whose process exited, so its exit status can be read.
    (await tmux.run(['set-option', '-w', '-t', pane, 'remain-on-exit', 'on']))._unsafeUnwrap();
    const pid = (await tmux.panePid(pane))._unsafeUnwrap();
    pids.push(pid);
    const sessionPath = join(configDir, 'sessions', `${pid}.json`);
    const session = (): SessionFile | null => {
      try {
        return JSON.parse(readFileSync(sessionPath, 'utf8')) as SessionFile;
      } catch {
        return null;
      }
    };
    const transcriptPath = (sessionId: string): string =>
      join(configDir, 'projects', encodeCwd(cwd), `${sessionId}.jsonl`);
    const fake: FakeClaude = {
      pane,
      pid,
      configDir,
      cwd,
      debugLogPath,
      session,
      transcriptPath,
      records: (sessionId) => {
        const id = sessionId ?? session()?.sessionId;
        return id === undefined ? [] : readJsonLines(transcriptPath(id));
      },
      debugLog: () => {
        try {
          return readFileSync(debugLogPath, 'utf8')
            .split('\n')
            .filter((l) => l !== '');
        } catch {
          return [];
        }
      },
    };
    // Ready once it has written its session file and drawn its prompt.
    const ready = await eventually(
      async () =>
        fake.session() !== null &&
        (await tmux.capturePane(pane)).unwrapOr('').includes('? for shortcuts'),
      { timeoutMs: 15_000 },
    );
    if (!ready)
      throw new Error(`fake-claude in ${pane} did not start: ${fake.debugLog().join('\n')}`);
    return fake;
  };

  const cleanup = (): void => {
    for (const pid of pids) {
      try {
        // Only a fake of ours (a reused pid names someone else); it leads its group (tmux setsid).
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(FAKE))
          process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(root, { recursive: true, force: true });
  };

  return { start, pids, cleanup };
}

/**
 * The exit status of the pane's process once tmux has reaped it (`'0'`), else null. A tmux built
 * with libutempter can miss the SIGCHLD of a pane process that exits while it updates utmp for
 * that pane (tmux/tmux#311, seen here with 3.3a about one run in three): the pane shows dead with
 * no status and the process stays a zombie. A SIGCHLD to the test's own server makes it reap.
 */
export async function paneExitStatus(client: Tmux, pane: string): Promise<string | null> {
  const shown = await client.run([
    'display-message',
    '-p',
    '-t',
    pane,
    '#{pane_dead}\t#{pane_dead_status}\t#{pid}',
  ]);
  const [dead, status = '', serverPid = ''] = shown.unwrapOr('').replace(/\n$/, '').split('\t');
  if (dead !== '1') return null;
  if (status !== '') return status;
  if (/^\d+$/.test(serverPid)) process.kill(Number(serverPid), 'SIGCHLD');
  return null;
}

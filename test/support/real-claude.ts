// The real Claude Code CLI in a tmux pane, for the real-agent tests (test/real-agents/): its own
// tmux socket, its own HOME with a pre-written ~/.claude.json (no first-run prompt), offline
// against test/support/fake-anthropic.ts. Everything it starts is recorded and ended by stop().
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRecord } from '../../lib/record.ts';
import { pause } from '../../lib/time.ts';
import {
  agentCliPath,
  commOf,
  descendantsOf,
  processTable,
  requireAgentCli,
  shellQuote,
  socketNamer,
} from './real-cli.ts';
import { killTmuxServer } from './tmux.ts';

/** Where scripts/install-agent-clis.sh puts the native binary (npm leaves bin/ a placeholder). */
export function claudeBinaryPath(): string {
  return agentCliPath('claude/node_modules/@anthropic-ai/claude-code-linux-x64/claude');
}

export function requireClaudeBinary(): void {
  requireAgentCli('Claude Code CLI', claudeBinaryPath());
}

// A dummy key: the CLI only checks that the last 20 characters were approved in ~/.claude.json.
const API_KEY = 'sk-ant-memgov-test-0123456789abcdefghij';

/** One line of ~/.claude/sessions/<pid>.json, as the real CLI writes it. */
export interface ClaudeSessionFile {
  pid: number;
  sessionId: string;
  status?: string;
}

export interface RealClaude {
  socket: string;
  home: string;
  cwd: string;
  /** The PID of the pane's first process (claude itself, or the shell that started it). */
  panePid: number;
  tmux(args: string[]): string;
  capturePane(): string;
  /** The claude process among the pane's descendants (the pane process included). */
  findClaudePid(): number | undefined;
  readSessionFile(pid: number): ClaudeSessionFile | undefined;
  /** Waits until claude's sessions/<pid>.json says idle; returns it. */
  waitForIdle(timeoutMs?: number): Promise<ClaudeSessionFile>;
  /** Types `text`, pauses (Enter right after the text is not always taken), presses Enter. */
  sendLine(text: string): Promise<void>;
  /** The parsed records of projects/<cwd>/<sessionId>.jsonl ([] when it is not there). */
  readTranscript(sessionId: string): Record<string, unknown>[];
  transcriptPath(sessionId: string): string | undefined;
  stop(): void;
}

export interface RealClaudeOptions {
  baseUrl: string;
  /** Start claude from a bash in the pane instead of as the pane's process. */
  viaShell?: boolean;
  extraArgs?: string[];
  /** false: the project folder is not trusted yet, so claude starts with its trust dialog. */
  trusted?: boolean;
  /** Start in the HOME and cwd of an earlier claude (a relaunch) instead of fresh ones. */
  reuse?: { home: string; cwd: string };
  /**
   * A v1 memory cgroup to start claude in: the pane's shell writes its own pid to cgroup.procs,
   * then execs claude, so every page claude faults in is charged there (v1 charges the cgroup of
   * the task that faults a page in, and a process moved later keeps its old charges).
   */
  cgroupDir?: string;
}

function writeClaudeJson(home: string, cwd: string, trusted: boolean): void {
  const config = {
    hasCompletedOnboarding: true,
    projects: trusted ? { [cwd]: { hasTrustDialogAccepted: true } } : {},
    customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
  };
  writeFileSync(join(home, '.claude.json'), JSON.stringify(config));
}

/** A HOME, a project cwd and a `claude` link (basename checks see "claude"). */
function prepareHome(trusted = true): { home: string; cwd: string; bin: string } {
  const home = mkdtempSync(join(tmpdir(), 'memgov-real-claude-'));
  const cwd = join(home, 'project');
  const bin = join(home, 'bin', 'claude');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(join(home, 'bin'));
  symlinkSync(claudeBinaryPath(), bin);
  writeClaudeJson(home, cwd, trusted);
  return { home, cwd, bin };
}

/** `env VAR=... <bin> <extraArgs>`: the argv that runs claude offline with its own HOME. */
function launchArgv(bin: string, home: string, options: RealClaudeOptions): string[] {
  const env = {
    HOME: home,
    ANTHROPIC_BASE_URL: options.baseUrl,
    ANTHROPIC_API_KEY: API_KEY,
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    TERM: 'xterm-256color',
  };
  const assigns = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return ['env', ...assigns, bin, ...(options.extraArgs ?? [])];
}

function launchCommand(bin: string, home: string, options: RealClaudeOptions): string {
  const run = launchArgv(bin, home, options).map(shellQuote).join(' ');
  const enter =
    options.cgroupDir === undefined
      ? ''
      : `echo $$ > ${shellQuote(`${options.cgroupDir}/cgroup.procs`)} && `;
  const start =
    options.viaShell === true ? `bash -c ${shellQuote(`${run}; exec bash`)}` : `exec ${run}`;
  return `${enter}${start}`;
}

function findClaudeAmong(rootPid: number): number | undefined {
  const table = processTable();
  return descendantsOf(rootPid).find((pid) => table.get(pid)?.[1] === 'claude');
}

function parseJsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        const value: unknown = JSON.parse(line);
        return isRecord(value) ? [{ ...value }] : [];
      } catch {
        return [];
      }
    });
}

function readSessionFileIn(home: string, pid: number): ClaudeSessionFile | undefined {
  try {
    const value: unknown = JSON.parse(
      readFileSync(join(home, '.claude/sessions', `${pid}.json`), 'utf8'),
    );
    if (!isRecord(value) || typeof value.sessionId !== 'string') return undefined;
    const status = typeof value.status === 'string' ? value.status : undefined;
    return { pid, sessionId: value.sessionId, status };
  } catch {
    return undefined;
  }
}

function transcriptPathIn(home: string, sessionId: string): string | undefined {
  const projects = join(home, '.claude/projects');
  if (!existsSync(projects)) return undefined;
  return readdirSync(projects)
    .map((dir) => join(projects, dir, `${sessionId}.jsonl`))
    .find((path) => existsSync(path));
}

async function waitIdleIn(claude: RealClaude, timeoutMs: number): Promise<ClaudeSessionFile> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = claude.findClaudePid();
    const session = pid === undefined ? undefined : claude.readSessionFile(pid);
    if (session?.status === 'idle') return session;
    if (Date.now() > deadline)
      throw new Error(`claude not idle after ${timeoutMs} ms; pane:\n${claude.capturePane()}`);
    await pause(200);
  }
}

/** A tmux socket name of its own for each real claude of this run. */
export const claudeSocketName = socketNamer('memgov-claude');

/** A HOME and cwd for claude, and the argv that starts it there (for memgov to launch). */
export function prepareRealClaude(options: RealClaudeOptions): {
  home: string;
  cwd: string;
  argv: string[];
} {
  const { home, cwd, bin } = prepareHome(options.trusted);
  return { home, cwd, argv: launchArgv(bin, home, options) };
}

/**
 * The claude in pane `target` of tmux server `socket` (started by this file or by memgov), whose
 * HOME is `home`. The pane's process is read again on each look: memgov relaunches it.
 */
export function realClaudeIn(where: {
  socket: string;
  target: string;
  home: string;
  cwd: string;
}): RealClaude {
  const { socket, target, home, cwd } = where;
  const tmux = (args: string[]): string =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: 'pipe' });
  const panePidNow = (): number | undefined => {
    try {
      return Number(tmux(['display-message', '-p', '-t', target, '#{pane_pid}']).trim());
    } catch {
      return undefined;
    }
  };
  const recordedPids = new Map<number, string>();
  const panePid = panePidNow() ?? -1;
  if (panePid > 0) recordedPids.set(panePid, commOf(panePid));
  const claude: RealClaude = {
    socket,
    home,
    cwd,
    panePid,
    tmux,
    capturePane: () => tmux(['capture-pane', '-p', '-t', target]),
    findClaudePid: () => {
      const root = panePidNow();
      const pid = root === undefined ? undefined : findClaudeAmong(root);
      if (pid !== undefined) recordedPids.set(pid, 'claude');
      return pid;
    },
    readSessionFile: (pid) => readSessionFileIn(home, pid),
    waitForIdle: (timeoutMs = 30_000) => waitIdleIn(claude, timeoutMs),
    sendLine: async (text) => {
      tmux(['send-keys', '-t', target, '-l', text]);
      await pause(400);
      tmux(['send-keys', '-t', target, 'Enter']);
    },
    transcriptPath: (sessionId) => transcriptPathIn(home, sessionId),
    readTranscript: (sessionId) => {
      const path = transcriptPathIn(home, sessionId);
      return path === undefined ? [] : parseJsonLines(readFileSync(path, 'utf8'));
    },
    stop: () => stopAll(socket, home, recordedPids),
  };
  return claude;
}

/** Starts the real claude in a detached tmux session on a socket of its own. */
export function startRealClaude(options: RealClaudeOptions): RealClaude {
  const { home, cwd, bin } =
    options.reuse === undefined
      ? prepareHome(options.trusted)
      : { ...options.reuse, bin: join(options.reuse.home, 'bin', 'claude') };
  const socket = claudeSocketName();
  const tmux = (args: string[]): string =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  tmux(['new-session', '-d', '-s', 'main', '-x', '160', '-y', '50', '-c', cwd]);
  tmux(['respawn-pane', '-k', '-t', 'main', launchCommand(bin, home, options)]);
  return realClaudeIn({ socket, target: 'main', home, cwd });
}

/**
 * Ends the tmux server on our own socket, then SIGKILLs each recorded PID still running the
 * program it ran when recorded (claude has its own process group, so the server's end can miss it;
 * a PID reused by someone else is left alone).
 */
function stopAll(socket: string, home: string, pids: Map<number, string>): void {
  killTmuxServer(socket);
  for (const [pid, comm] of pids) {
    try {
      if (comm !== '' && commOf(pid) === comm) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone with the tmux server.
    }
  }
  rmSync(home, { recursive: true, force: true });
}

// The real Codex CLI (pinned by scripts/install-agent-clis.sh) for the real-agent tests: its own
// HOME and CODEX_HOME under a temp dir, a config.toml whose model provider is
// test/support/fake-openai.ts (offline), the project trusted (no first-run question), and the
// argv memgov launches it with. What the tests read back: the pane, the process tree below the
// pane, and the rollout files.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTurnAtMs } from '../../agents/codex-files.ts';
import { pollUntil } from './daemon.ts';
import { lastInputText, type FakeOpenAI } from './fake-openai.ts';
import { killTmuxServer } from './tmux.ts';
import { agentCliPath, commOf, descendantsOf, requireAgentCli, socketNamer } from './real-cli.ts';

/** Where scripts/install-agent-clis.sh puts the native binary of @openai/codex-linux-x64. */
export function codexBinaryPath(): string {
  const platform = 'codex/node_modules/@openai/codex-linux-x64';
  return agentCliPath(`${platform}/vendor/x86_64-unknown-linux-musl/bin/codex`);
}

export function requireCodexBinary(): void {
  requireAgentCli('Codex CLI', codexBinaryPath(), 'codex');
}

/** A custom provider needs no OpenAI login; retries off so a fake's error shows at once. */
function configToml(baseUrl: string, cwd: string): string {
  return [
    'model = "fake-model"',
    'model_provider = "fake"',
    'check_for_update_on_startup = false',
    '[model_providers.fake]',
    'name = "fake"',
    `base_url = "${baseUrl}"`,
    'wire_api = "responses"',
    'env_key = "FAKE_OPENAI_KEY"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    `[projects."${cwd}"]`,
    'trust_level = "trusted"',
    '',
  ].join('\n');
}

export interface CodexSetup {
  home: string;
  codexHome: string;
  cwd: string;
  /** `env HOME=... CODEX_HOME=... <bin>/codex`: what memgov is told to launch. */
  argv: string[];
}

/** A HOME, CODEX_HOME, project cwd and a `codex` link (basename checks see "codex"). */
export function prepareRealCodex(baseUrl: string): CodexSetup {
  const home = mkdtempSync(join(tmpdir(), 'memgov-real-codex-'));
  const codexHome = join(home, '.codex');
  const cwd = join(home, 'project');
  const bin = join(home, 'bin', 'codex');
  for (const dir of [codexHome, cwd, join(home, 'bin')]) mkdirSync(dir, { recursive: true });
  symlinkSync(codexBinaryPath(), bin);
  writeFileSync(join(codexHome, 'config.toml'), configToml(baseUrl, cwd));
  const env = {
    HOME: home,
    CODEX_HOME: codexHome,
    FAKE_OPENAI_KEY: 'dummy',
    TERM: 'xterm-256color',
  };
  const assigns = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return { home, codexHome, cwd, argv: ['env', ...assigns, bin] };
}

export interface RealCodex extends CodexSetup {
  socket: string;
  target: string;
  tmux(args: string[]): string;
  capturePane(): string;
  /** The pane's process now (codex itself: `env` execs it); undefined when the pane is gone. */
  panePid(): number | undefined;
  /** Every pid seen below the pane so far (recorded on each look), with its command name. */
  recorded: Map<number, string>;
  /** Records the pane's process tree now; returns its pids. */
  recordTree(): number[];
  /** Types `text`, pauses (Enter right after the text was not taken: 300 ms worked 10/10), Enter. */
  sendLine(text: string): Promise<void>;
  /** The rollout files under CODEX_HOME/sessions, and their parsed records. */
  rollouts(): string[];
  records(path: string): Record<string, unknown>[];
  stop(): void;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The codex memgov runs in pane `target` of tmux server `socket`. */
export function realCodexIn(setup: CodexSetup, socket: string, target: string): RealCodex {
  const tmux = (args: string[]): string =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: 'pipe' });
  const recorded = new Map<number, string>();
  const codex: RealCodex = {
    ...setup,
    socket,
    target,
    tmux,
    recorded,
    capturePane: () => tmux(['capture-pane', '-p', '-t', target]),
    panePid: () => {
      try {
        return Number(tmux(['display-message', '-p', '-t', target, '#{pane_pid}']).trim());
      } catch {
        return undefined;
      }
    },
    recordTree: () => {
      const root = codex.panePid();
      const pids = root === undefined ? [] : descendantsOf(root);
      for (const pid of pids) recorded.set(pid, commOf(pid));
      return pids;
    },
    sendLine: async (text) => {
      tmux(['send-keys', '-t', target, '-l', text]);
      await new Promise((resolve) => setTimeout(resolve, 400));
      tmux(['send-keys', '-t', target, 'Enter']);
    },
    rollouts: () =>
      filesUnder(join(setup.codexHome, 'sessions')).filter((p) => p.endsWith('.jsonl')),
    records: (path) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () => {
      killTmuxServer(socket);
      for (const [pid, comm] of recorded)
        if (comm !== '' && commOf(pid) === comm) process.kill(pid, 'SIGKILL');
      rmSync(setup.home, { recursive: true, force: true });
    },
  };
  return codex;
}

/** Whether `pid` runs and is not a zombie (an exited child its parent has not reaped yet). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The recorded pids still running what they ran when recorded. */
export function survivors(recorded: ReadonlyMap<number, string>): number[] {
  return [...recorded]
    .filter(([pid, comm]) => comm !== '' && running(pid) && commOf(pid) === comm)
    .map(([pid]) => pid);
}

/** A tmux socket of its own per codex. */
export const socketName = socketNamer('memgov-codex');

/** No turn open in any rollout: the CLI's own state (the pane is no guide while it streams). */
export function codexIdle(codex: RealCodex): boolean {
  return codex.rollouts().every((path) => openTurnAtMs(codex.records(path)) === null);
}

/** Sends `prompt` once codex is ready and idle; returns the request after its answer ended. */
export async function sendTurn(codex: RealCodex, fake: FakeOpenAI, prompt: string) {
  await pollUntil('codex ready and idle', 30_000, () =>
    codex.capturePane().includes('›') && codexIdle(codex) ? true : undefined,
  );
  await codex.sendLine(prompt);
  return pollUntil(`"${prompt}" at the fake`, 30_000, () =>
    fake.turnRequests().find((r) => lastInputText(r.body).includes(prompt)),
  );
}

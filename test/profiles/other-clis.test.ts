// The executor's perform with the codex, gemini and aider profiles over the tmux transport,
// against test/fakes/fake-tui-cli.ts in real tmux panes on a tmux server of this file's own
// (`-L memgov-other-clis-<pid>`), killed in afterAll whatever happened. What the fake received is
// read back from its debug log; what it did, from the session artefacts it writes.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { killFakeGroups, killTmuxServer } from '../support/tmux.ts';
import { attachedAgent } from '../../actors/agent.ts';
import { memoryLog } from '../../actors/log.ts';
import { createPerform } from '../../actors/perform.ts';
import { AIDER_NO_COMPACT } from '../../agents/aider.ts';
import { createTmux } from '../../adapters/tmux.ts';
import {
  defaultDaemonConfig,
  type AgentConfig,
  type DaemonConfig,
} from '../../machines/daemon-config.ts';
import type { Action } from '../../machines/policy.ts';
import type { PendingAction } from '../../machines/records.ts';
import { eventually, paneExitStatus } from '../fakes/fake-claude-harness.ts';

const SERVER = `memgov-other-clis-${process.pid}`;
const tmux = createTmux({ socketName: SERVER, callTimeoutMs: 5_000 });
const work = mkdtempSync(join(tmpdir(), 'memgov-other-clis-'));
const FAKE = fileURLToPath(new URL('../fakes/fake-tui-cli.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const pids: number[] = [];

afterAll(() => {
  killFakeGroups(pids, FAKE);
  killTmuxServer(SERVER);
  rmSync(work, { recursive: true, force: true });
});

type Kind = 'codex' | 'gemini' | 'aider';

interface Fake {
  readonly kind: Kind;
  readonly pane: string;
  readonly pid: number;
  readonly cwd: string;
  readonly home: string;
  readonly env: Readonly<Record<string, string>>;
  readonly debugLog: () => string[];
}

let count = 0;
async function startFake(kind: Kind, args: readonly string[] = []): Promise<Fake> {
  count += 1;
  const root = join(work, `${kind}-${count}`);
  const cwd = join(root, 'project.dir');
  const home = join(root, 'home');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(home, { recursive: true });
  const env = { HOME: home, CODEX_HOME: join(home, '.codex') };
  const debugLogPath = join(root, 'debug.log');
  const created = await tmux.run([
    'new-session',
    '-d',
    '-P',
    '-F',
    '#{pane_id}',
    '-s',
    `fake-${count}`,
    '-x',
    '100',
    '-y',
    '25',
    '-c',
    cwd,
    '-e',
    `HOME=${home}`,
    '-e',
    `CODEX_HOME=${env.CODEX_HOME}`,
    '--',
    process.execPath,
    '--import',
    TSX_LOADER,
    FAKE,
    '--kind',
    kind,
    '--debug-log',
    debugLogPath,
    ...args,
  ]);
  const pane = created._unsafeUnwrap().trim();
  (await tmux.run(['set-option', '-w', '-t', pane, 'remain-on-exit', 'on']))._unsafeUnwrap();
  const pid = (await tmux.panePid(pane))._unsafeUnwrap();
  pids.push(pid);
  const debugLog = (): string[] => {
    try {
      return readFileSync(debugLogPath, 'utf8')
        .split('\n')
        .filter((l) => l !== '');
    } catch {
      return [];
    }
  };
  const ready = await eventually(() => debugLog().some((l) => / start kind=/.test(l)), {
    timeoutMs: 15_000,
  });
  if (!ready) throw new Error(`fake ${kind} in ${pane} did not start`);
  await eventually(async () => (await tmux.capturePane(pane)).unwrapOr('').includes('fake'));
  return { kind, pane, pid, cwd, home, env, debugLog };
}

let requests = 0;
function request(action: Action): PendingAction {
  requests += 1;
  return {
    seq: requests,
    action,
    atMs: Date.now(),
    ratio: 0.8,
    usedBytes: 800_000_000,
    limitBytes: 1_000_000_000,
  };
}

let setups = 0;
function setup(fake: Fake, agentOverrides: Partial<AgentConfig> = {}) {
  setups += 1;
  const base = defaultDaemonConfig(join(work, `data-${setups}`));
  const config: DaemonConfig = {
    ...base,
    agent: {
      ...base.agent,
      profile: fake.kind,
      transport: 'tmux',
      tmuxTarget: fake.pane,
      idleDeadlineMs: 5_000,
      actionTimeoutMs: 10_000,
      terminateGraceMs: 5_000,
      ...agentOverrides,
    },
    archive: { ...base.archive, dir: join(work, `archive-${setups}`) },
  };
  const log = memoryLog();
  const perform = createPerform({
    config,
    transport: 'tmux',
    agent: attachedAgent({ pid: fake.pid, pidfile: null }, log),
    log,
    now: Date.now,
    tmux,
    env: fake.env,
  });
  const run = (action: Action) => perform(request(action), new AbortController().signal);
  return { log, run };
}

/** Every file under `dir` (recursively) whose name matches, sorted. */
function filesUnder(dir: string, name: RegExp): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((p) => name.test(p.slice(p.lastIndexOf('/') + 1)))
      .map((p) => join(dir, p))
      .sort();
  } catch {
    return [];
  }
}

function jsonLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The fake's conversation files: rollouts (codex) or chats (gemini), oldest name first. */
function conversations(fake: Fake): string[] {
  if (fake.kind === 'codex')
    return filesUnder(join(fake.env.CODEX_HOME ?? '', 'sessions'), /^rollout-.*\.jsonl$/);
  const project = createHash('sha256').update(fake.cwd).digest('hex');
  return filesUnder(join(fake.home, '.gemini', 'tmp', project, 'chats'), /^session-.*\.jsonl$/);
}

const keyLines = (fake: Fake): string[] => fake.debugLog().filter((l) => / keys /.test(l));

const CASES = [
  {
    kind: 'codex',
    compact: '/compact',
    clear: '/new',
    compactRecord: 'compacted',
    compactDone: 'the agent is idle again',
  },
  {
    kind: 'gemini',
    compact: '/compress',
    clear: '/clear',
    compactRecord: 'compressed',
    // The gemini profile reads the CLI's own result line (agents/gemini-probe.ts).
    compactDone: 'Chat history compressed from \\d+ to \\d+ tokens',
  },
] as const;

describe.each(CASES)('perform over tmux with the $kind profile', (c) => {
  it(`types ${c.compact} into the idle agent and sees the compact record`, async () => {
    const fake = await startFake(c.kind, ['--command-ms', '500']);
    const [file] = conversations(fake);
    expect(file).toBeDefined();
    const { run } = setup(fake);

    const result = await run('compact');

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(
      new RegExp(`typed "${c.compact}"; .*${c.compactDone}.* after \\d+ ms`),
    );
    expect(fake.debugLog().some((l) => l.includes(`command ${c.compact} done`))).toBe(true);
    expect(conversations(fake)).toEqual([file]);
    const types = jsonLines(file ?? '').map((r) => r.type);
    expect(types.filter((t) => t === c.compactRecord)).toHaveLength(1);
  });

  it(`types ${c.clear} and a fresh conversation starts`, async () => {
    const fake = await startFake(c.kind, ['--command-ms', '500']);
    const before = conversations(fake);
    expect(before).toHaveLength(1);
    const { run } = setup(fake);

    const result = await run('clear');

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(new RegExp(`typed "${c.clear}"; `));
    const after = conversations(fake);
    expect(after).toHaveLength(2);
    const fresh = after.find((p) => !before.includes(p)) ?? '';
    const records = jsonLines(fresh);
    // Only the header: no message of the old conversation was carried over.
    expect(records).toHaveLength(1);
    const id =
      c.kind === 'codex' ? (records[0]?.payload as { id?: string }).id : records[0]?.sessionId;
    expect(typeof id).toBe('string');
    const old = jsonLines(before[0] ?? '')[0];
    const oldId = c.kind === 'codex' ? (old?.payload as { id?: string }).id : old?.sessionId;
    expect(id).not.toBe(oldId);
  });

  it('types nothing while the agent is busy (policy skip)', async () => {
    const fake = await startFake(c.kind, ['--busy-ms', '4000']);
    // Start a busy spell the way a user would: a prompt and Enter.
    (await tmux.run(['send-keys', '-t', fake.pane, '-l', 'hello']))._unsafeUnwrap();
    (await tmux.run(['send-keys', '-t', fake.pane, 'Enter']))._unsafeUnwrap();
    expect(
      await eventually(async () =>
        /esc to (interrupt|cancel)/.test((await tmux.capturePane(fake.pane)).unwrapOr('')),
      ),
    ).toBe(true);
    const keysBefore = keyLines(fake).length;
    const { run, log } = setup(fake, { idleDeadlineMs: 600, busyPolicy: 'skip' });

    const result = await run('compact');

    expect(result.outcome).toBe('skipped');
    expect(result.detail).toMatch(/^agent stayed busy for \d+ ms; skipped to the next tier$/);
    expect(keyLines(fake)).toHaveLength(keysBefore);
    expect(fake.debugLog().filter((l) => /dropped while busy/.test(l))).toEqual([]);
    expect(log.records.some((r) => r.message === 'agent busy: rung skipped')).toBe(true);
    const [file] = conversations(fake);
    expect(jsonLines(file ?? '').some((r) => r.type === c.compactRecord)).toBe(false);
  });
});

describe('perform over tmux with the aider profile', () => {
  it('skips compact (aider has none) and types nothing', async () => {
    const fake = await startFake('aider');
    const { run } = setup(fake);

    const result = await run('compact');

    expect(result).toEqual({ outcome: 'skipped', detail: AIDER_NO_COMPACT });
    expect(keyLines(fake)).toEqual([]);
  });

  it('types /clear and the marker lands in .aider.chat.history.md', async () => {
    const fake = await startFake('aider', ['--command-ms', '500']);
    const history = join(fake.cwd, '.aider.chat.history.md');
    expect(readFileSync(history, 'utf8')).toMatch(/^\n# aider chat started at /);
    const { run } = setup(fake);

    const result = await run('clear');

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(/^typed "\/clear"; .*the agent is idle again/);
    expect(readFileSync(history, 'utf8').split('\n')).toContain('#### /clear');
  });

  it('exits 0 on SIGTERM', async () => {
    const fake = await startFake('aider');
    process.kill(fake.pid, 'SIGTERM');
    expect(await eventually(() => paneExitStatus(tmux, fake.pane))).toBe('0');
    expect(fake.debugLog().at(-1)).toMatch(/ exit 0 \(SIGTERM\)$/);
  });
});

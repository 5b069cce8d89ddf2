// The executor's perform with the claude-code (and aider) profile over the tmux transport, against
// test/fakes/fake-claude.ts in real tmux panes on a tmux server of this file's own
// (`-L memgov-perform-<pid>`), killed in afterAll whatever happened. What the fake received is
// read back from its debug log, transcript and sessions/<pid>.json.
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { killFakeGroups, killTmuxServer } from '../support/tmux.ts';
import { attachedAgent, type AgentHandle } from '../../actors/agent.ts';
import { tmuxLaunchedAgent } from '../../actors/agent-tmux.ts';
import { memoryLog } from '../../actors/log.ts';
import { createPerform } from '../../actors/perform.ts';
import { AIDER_NO_COMPACT } from '../../agents/aider.ts';
import { profileFor } from '../../agents/index.ts';
import { listArchives } from '../../adapters/archive/list.ts';
import type { Manifest } from '../../adapters/archive/manifest.ts';
import { verifyArchive } from '../../adapters/archive/verify.ts';
import { createTmux } from '../../adapters/tmux.ts';
import {
  defaultDaemonConfig,
  type AgentConfig,
  type DaemonConfig,
} from '../../machines/daemon-config.ts';
import type { Action } from '../../machines/policy.ts';
import type { PendingAction } from '../../machines/records.ts';
import {
  createFakeClaudeHarness,
  encodeCwd,
  eventually,
  paneExitStatus,
  type FakeClaude,
} from '../fakes/fake-claude-harness.ts';

const SERVER = `memgov-perform-${process.pid}`;
const tmux = createTmux({ socketName: SERVER, callTimeoutMs: 5_000 });
const harness = createFakeClaudeHarness(tmux);
const work = mkdtempSync(join(tmpdir(), 'memgov-perform-tmux-'));
const launchedPids: number[] = [];
const FAKE = fileURLToPath(new URL('../fakes/fake-claude.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

afterAll(() => {
  killFakeGroups(launchedPids, FAKE);
  killTmuxServer(SERVER);
  harness.cleanup();
  rmSync(work, { recursive: true, force: true });
});

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
function setup(
  fake: Pick<FakeClaude, 'pane' | 'pid' | 'configDir'> | null,
  agentOverrides: Partial<AgentConfig> = {},
  agentHandle?: AgentHandle,
) {
  setups += 1;
  const base = defaultDaemonConfig(join(work, `data-${setups}`));
  const config: DaemonConfig = {
    ...base,
    agent: {
      ...base.agent,
      profile: 'claude-code',
      transport: 'tmux',
      tmuxTarget: fake?.pane ?? null,
      idleDeadlineMs: 5_000,
      actionTimeoutMs: 10_000,
      terminateGraceMs: 5_000,
      ...agentOverrides,
    },
    archive: { ...base.archive, dir: join(work, `archive-${setups}`) },
  };
  const log = memoryLog();
  const agent = agentHandle ?? attachedAgent({ pid: fake?.pid ?? null, pidfile: null }, log);
  const perform = createPerform({
    config,
    transport: 'tmux',
    agent,
    log,
    now: Date.now,
    tmux,
    env: { CLAUDE_CONFIG_DIR: fake?.configDir ?? join(work, 'nowhere') },
  });
  const run = (action: Action) => perform(request(action), new AbortController().signal);
  return { config, log, run };
}

const readManifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

/** Debug-log lines that record keys arriving, with the fake's status at that moment. */
const keyLines = (fake: FakeClaude): string[] => fake.debugLog().filter((l) => / keys /.test(l));

describe('perform over tmux with the claude-code profile', () => {
  it('types /compact only when idle, sees it finish in the transcript, and checkpoints', async () => {
    // Idle for 1 s, then busy for 1.5 s, over and over.
    const fake = await harness.start(['--busy-pattern', '1500/2500', '--compact-ms', '300']);
    expect(await eventually(() => fake.session()?.status === 'busy', { timeoutMs: 4_000 })).toBe(
      true,
    );
    const { run, config } = setup(fake);

    const result = await run('compact');

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(
      /^waited \d+ ms for the agent to be idle; typed "\/compact"; taken on the first Enter; compaction finished \(boundary, \d+ tokens before\) after \d+ ms; checkpoint: archived \d+ files \(\d+ bytes\) to .*-checkpoint$/,
    );
    expect(keyLines(fake).filter((l) => / keys status=busy /.test(l))).toEqual([]);
    expect(fake.debugLog().filter((l) => /dropped while busy/.test(l))).toEqual([]);
    const records = fake.records();
    expect(records.filter((r) => r.subtype === 'compact_boundary')).toHaveLength(1);

    const archives = (await listArchives(config.archive.dir))._unsafeUnwrap();
    expect(archives.map((a) => a.reason)).toEqual(['checkpoint']);
    const dir = archives[0]?.dir ?? '';
    const manifest = readManifest(dir);
    const sid = fake.session()?.sessionId ?? '';
    expect(manifest).toMatchObject({
      reason: 'checkpoint',
      profile: 'claude-code',
      sessionId: sid,
      cwd: fake.cwd,
      agentPid: fake.pid,
      agentVersion: '2.0.0-fake',
      claudeConfigDir: fake.configDir,
      tier: 1,
      usedBytes: 800_000_000,
      limitBytes: 1_000_000_000,
    });
    // The agent's own resident memory when it was archived (the fake holds real buffers).
    expect(manifest).toHaveProperty('agentRssBytes', expect.any(Number));
    expect((manifest as unknown as { agentRssBytes: number }).agentRssBytes).toBeGreaterThan(
      16 * 1024 * 1024,
    );
    expect(manifest.files.map((f) => f.path)).toContain(fake.transcriptPath(sid));
    expect((await verifyArchive(dir)).isOk()).toBe(true);
  });

  it('sees /clear finish by the new session id', async () => {
    const fake = await harness.start();
    const before = fake.session()?.sessionId ?? '';
    const { run } = setup(fake);

    const result = await run('clear');

    // The fake writes the new transcript a moment before its session file.
    expect(await eventually(() => fake.session()?.sessionId !== before)).toBe(true);
    const after = fake.session()?.sessionId ?? '';
    expect(result).toEqual({
      outcome: 'ok',
      detail: expect.stringMatching(
        new RegExp(
          `^typed "/clear"; taken on the first Enter; new session ${after} \\(was ${before}\\) after \\d+ ms$`,
        ),
      ) as string,
    });
  });

  it('skips, typing nothing, when the agent stays busy (policy skip)', async () => {
    const fake = await harness.start(['--busy-pattern', '1000/1000']);
    const { run, log } = setup(fake, { idleDeadlineMs: 600, busyPolicy: 'skip' });

    const result = await run('compact');

    expect(result.outcome).toBe('skipped');
    expect(result.detail).toMatch(/^agent stayed busy for \d+ ms; skipped to the next tier$/);
    expect(keyLines(fake)).toEqual([]);
    expect(log.records.some((r) => r.message === 'agent busy: rung skipped')).toBe(true);
  });

  it('archives the session (never .credentials.json) incrementally, then SIGTERMs the group', async () => {
    const fake = await harness.start(['--compact-ms', '200']);
    const { run, config } = setup(fake);
    // The compact writes a transcript and makes the checkpoint that tier 3 builds on.
    expect((await run('compact')).outcome).toBe('ok');
    const sid = fake.session()?.sessionId ?? '';
    const envDir = join(fake.configDir, 'session-env', sid);
    mkdirSync(envDir, { recursive: true });
    writeFileSync(join(envDir, 'env.sh'), 'export A=1\n');
    writeFileSync(join(envDir, '.credentials.json'), '{"token":"secret"}');
    writeFileSync(join(fake.configDir, '.credentials.json'), '{"token":"secret"}');

    const result = await run('archive-terminate');

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(
      /^archived \d+ files \(\d+ bytes, \d+ unchanged files linked\) to .*-tier3; SIGTERM \(sent-group\); the agent exited$/,
    );
    expect(await eventually(() => paneExitStatus(tmux, fake.pane), { timeoutMs: 5_000 })).toBe('0');
    const archives = (await listArchives(config.archive.dir))._unsafeUnwrap();
    expect(archives.map((a) => a.reason)).toEqual(['tier3', 'checkpoint']);
    const [tier3, checkpoint] = archives.map((a) => a.dir);
    const manifest = readManifest(tier3 ?? '');
    expect(manifest).toMatchObject({
      reason: 'tier3',
      complete: true,
      profile: 'claude-code',
      sessionId: sid,
      cwd: fake.cwd,
      agentPid: fake.pid,
      agentVersion: '2.0.0-fake',
      tier: 3,
    });
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toEqual(
      [
        fake.transcriptPath(sid),
        join(envDir, 'env.sh'),
        join(fake.configDir, 'sessions', `${fake.pid}.json`),
      ].sort(),
    );
    expect(paths.some((p) => p.endsWith('.credentials.json'))).toBe(false);
    expect(manifest.skipped).toEqual([
      { path: join(envDir, '.credentials.json'), why: 'credentials' },
    ]);
    // The transcript did not change after the checkpoint: the same inode, not a second copy.
    const inode = (dir: string) =>
      statSync(join(dir, 'files', fake.transcriptPath(sid).slice(1))).ino;
    expect(inode(tier3 ?? '')).toBe(inode(checkpoint ?? ''));
    expect((await verifyArchive(tier3 ?? '')).isOk()).toBe(true);
    expect(readdirSync(join(tier3 ?? '', 'files'), { recursive: true }).join('\n')).not.toMatch(
      /credentials/,
    );
  });
});

describe('perform with the aider profile', () => {
  it('has no compact rung: skipped with the reason, and logged', async () => {
    const { run, log } = setup(null, { profile: 'aider' });

    const result = await run('compact');

    expect(result).toEqual({ outcome: 'skipped', detail: AIDER_NO_COMPACT });
    expect(AIDER_NO_COMPACT).toBe('aider has no compact command; skipping to the next rung');
    expect(log.records).toEqual([
      {
        level: 'info',
        message: 'rung skipped',
        fields: { action: 'compact', profile: 'aider', detail: AIDER_NO_COMPACT },
      },
    ]);
  });
});

describe('tmuxLaunchedAgent', () => {
  it('runs the agent in its own tmux session and relaunches it with --resume <sid> after tier 3', async () => {
    const root = mkdtempSync(join(work, 'launch-'));
    const configDir = join(root, 'config');
    const cwd = join(root, 'project.launch');
    mkdirSync(configDir);
    mkdirSync(cwd);
    const debugLog = join(root, 'debug.log');
    const log = memoryLog();
    const base = defaultDaemonConfig(root);
    const profile = profileFor({ ...base.agent, profile: 'claude-code' });
    const session = `memgov-agent-test-${process.pid}`;
    const agent = tmuxLaunchedAgent(
      {
        argv: [
          process.execPath,
          '--import',
          TSX_LOADER,
          FAKE,
          '--debug-log',
          debugLog,
          '--compact-ms',
          '200',
          '--resume-prompt',
        ],
        backoffMs: 100,
        maxBackoffMs: 1_000,
        healthyAfterMs: 60_000,
        relaunchWindowMs: 1_800_000,
        now: Date.now,
        tmux,
        profile,
        env: { CLAUDE_CONFIG_DIR: configDir },
        cwd,
        sessionName: session,
        pollMs: 100,
      },
      log,
    );
    try {
      const sessionFile = (pid: number) => {
        try {
          return JSON.parse(readFileSync(join(configDir, 'sessions', `${pid}.json`), 'utf8')) as {
            sessionId: string;
            status: string;
          };
        } catch {
          return null;
        }
      };
      const first = await eventually(
        () => {
          const id = agent.identity();
          return id !== null && sessionFile(id.pid)?.status === 'idle' ? id : null;
        },
        { timeoutMs: 15_000 },
      );
      expect(first).not.toBeNull();
      launchedPids.push(first?.pid ?? 0);
      expect(agent.pane?.()).toBe(session);
      const { run } = setup({ pane: session, pid: first?.pid ?? 0, configDir }, {}, agent);
      // Wait until the fake has drawn its prompt before typing.
      await eventually(
        async () => (await tmux.capturePane(session)).unwrapOr('').includes('? for shortcuts'),
        { timeoutMs: 10_000 },
      );
      expect((await run('compact')).outcome).toBe('ok');
      const sid = sessionFile(first?.pid ?? 0)?.sessionId ?? '';
      expect(sid).not.toBe('');

      expect((await run('archive-terminate')).outcome).toBe('ok');

      const second = await eventually(
        () => {
          const id = agent.identity();
          return id !== null && id.pid !== first?.pid ? id : null;
        },
        { timeoutMs: 15_000 },
      );
      expect(second).not.toBeNull();
      launchedPids.push(second?.pid ?? 0);
      const cmdline = readFileSync(`/proc/${second?.pid ?? 0}/cmdline`, 'utf8').split('\0');
      expect(cmdline.slice(-3, -1)).toEqual(['--resume', sid]);
      // The resume prompt was answered, and the same session goes on.
      expect(
        await eventually(() => readFileSync(debugLog, 'utf8').includes('resume answer summary'), {
          timeoutMs: 10_000,
        }),
      ).toBe(true);
      // The menu's answer is Enter alone: a typed `y` is no choice in the real select menu.
      expect(readFileSync(debugLog, 'utf8')).not.toContain('swallowed by the resume menu');
      expect(
        await eventually(() => sessionFile(second?.pid ?? 0)?.status === 'idle', {
          timeoutMs: 5_000,
        }),
      ).toBe(true);
      expect(sessionFile(second?.pid ?? 0)?.sessionId).toBe(sid);
      expect(readlinkSync(`/proc/${second?.pid ?? 0}/cwd`)).toBe(cwd);
      // memgov logs the answer once tmux has taken the Enter, which can be after the fake read it.
      expect(
        await eventually(
          () =>
            log.records.some(
              (r) =>
                r.message === 'answered the agent prompt' && r.fields.prompt === 'resume-choice',
            ),
          {
            timeoutMs: 5_000,
          },
        ),
      ).toBe(true);
      expect(
        statSync(join(configDir, 'projects', encodeCwd(cwd), `${sid}.jsonl`)).size,
      ).toBeGreaterThan(0);

      await agent.shutdown(3_000);
      expect((await tmux.run(['has-session', '-t', session])).isErr()).toBe(true);
    } finally {
      await agent.shutdown(1_000);
    }
  });
});

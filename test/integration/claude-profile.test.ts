// The claude-code profile end to end through the shipped bundle: `memgov run --profile claude-code
// --tmux-socket <own server> -- <fake Claude Code>` on a real cgroup v1 child (512 MiB). memgov
// launches test/fakes/fake-claude.ts in a tmux session of its own; the fake joins the cgroup (a
// small wrapper script writes its pid to cgroup.procs, then execs node, keeping the pid) and its
// memory grows. memgov types /compact and then /clear into the pane, archives the session at
// tier 3, SIGTERMs the agent and starts it again with `--resume <sid>`.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { killTmuxServer } from '../support/tmux.ts';
import {
  cgroupParent,
  Cleanup,
  createTestCgroup,
  isGone,
  MIB,
  pollUntil,
  startMemgov,
  tempDir,
  waitForStatus,
  writeConfig,
  type LogRecord,
} from '../support/daemon.ts';

const FAKE = fileURLToPath(new URL('../fakes/fake-claude.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CREDENTIALS = '.credentials.json';

const skipReason = cgroupParent.isErr() ? cgroupParent.error : '';
let tmuxMissing = '';
try {
  execFileSync('tmux', ['-V'], { stdio: 'ignore' });
} catch {
  tmuxMissing = 'tmux is not installed';
}
const why = skipReason !== '' ? skipReason : tmuxMissing;
const title =
  why === ''
    ? 'memgov run --profile claude-code on a real cgroup with the fake Claude Code CLI'
    : `memgov run --profile claude-code (skipped: ${why})`;

/** A POSIX shell single-quoted word. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

function decided(action: string) {
  return (record: LogRecord): boolean => record.message === 'decision' && record.action === action;
}

function resultOf(action: string) {
  return (record: LogRecord): boolean =>
    record.message === 'action result' && record.action === action;
}

describe.skipIf(why !== '')(title, () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('compacts, clears, archives and terminates, then resumes the session holding the compact summary', async () => {
    const dir = tempDir(cleanup, 'memgov-claude-it-');
    const cgroup = createTestCgroup(cleanup, 512 * MIB);
    const socket = `memgov-claude-it-${process.pid}-${randomBytes(4).toString('hex')}`;
    // memgov's environment has no TMUX_TMPDIR: its server's socket is in /tmp/tmux-<uid>.
    cleanup.add(() => killTmuxServer(socket, '/tmp'));

    const configDir = join(dir, 'claude');
    mkdirSync(join(configDir, 'plans'), { recursive: true });
    writeFileSync(join(configDir, CREDENTIALS), '{"secret":"root"}\n');
    writeFileSync(join(configDir, 'plans', CREDENTIALS), '{"secret":"plans"}\n');
    writeFileSync(join(configDir, 'plans', 'plan.md'), '# a plan\n');
    const archiveDir = join(dir, 'archive');
    const stateFile = join(dir, 'state', 'mem_governor_state');
    const debugLog = join(dir, 'fake-claude.log');
    const config = writeConfig(dir, {
      minPollMs: 250,
      urgentPollMs: 250,
      stateFile,
      agent: { terminateGraceMs: 3_000, actionTimeoutMs: 10_000, idleDeadlineMs: 5_000 },
      archive: { dir: archiveDir },
    });
    // The fake joins the cgroup before node starts, so all it holds is charged there; the
    // arguments memgov adds on relaunch (--resume <sid>) reach it through "$@".
    const wrapper = join(dir, 'fake-claude.sh');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        `echo $$ > ${shellQuote(join(cgroup.dir, 'cgroup.procs'))} || exit 1`,
        `exec ${[process.execPath, '--import', TSX_LOADER, FAKE].map(shellQuote).join(' ')} "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
    const firstSession = randomUUID();

    const memgov = startMemgov(
      cleanup,
      [
        'run',
        '--profile',
        'claude-code',
        '--cgroup',
        cgroup.dir,
        '--config',
        config,
        '--tmux-socket',
        socket,
        '--log-format',
        'json',
        '--log-level',
        'debug',
      ],
      [
        wrapper,
        '--session-id',
        firstSession,
        '--start-mib',
        '200',
        '--grow-mib-per-s',
        '25',
        '--compact-ms',
        '500',
        '--compact-frees-pct',
        '5',
        '--clear-frees-pct',
        '0',
        '--debug-log',
        debugLog,
      ],
      { CLAUDE_CONFIG_DIR: configDir },
    );
    // Also cleans up after a failure: the agents memgov launched, by process group.
    const first = await memgov.waitFor(
      'the agent to start',
      (r) => r.message === 'agent started',
      15_000,
    );
    const firstPid = first.pid as number;
    expect(first.pane).toMatch(/^memgov-agent-\d+$/);
    await pollUntil('the fake in the cgroup', 10_000, () =>
      cgroup.pids().includes(firstPid) ? true : undefined,
    );

    // Tier 1: /compact typed into the idle pane, followed to its compact records.
    const compact = await memgov.waitFor('the compact decision', decided('compact'), 25_000);
    expect(compact.ratio).toBeGreaterThanOrEqual(0.7);
    const compactResult = await memgov.waitFor('the compact result', resultOf('compact'), 15_000);
    expect(compactResult.outcome).toBe('ok');
    const transcript = join(configDir, 'projects', process.cwd().replace(/[^A-Za-z0-9]/g, '-'));
    const firstRecords = readFileSync(join(transcript, `${firstSession}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(firstRecords.some((r) => r.subtype === 'compact_boundary')).toBe(true);
    expect(firstRecords.some((r) => r.isCompactSummary === true)).toBe(true);

    // Tier 2: growth goes on, the compact freed little: /clear starts a new session.
    const clear = await memgov.waitFor('the clear decision', decided('clear'), 20_000);
    expect(clear.ratio).toBeGreaterThanOrEqual(0.85);
    const clearResult = await memgov.waitFor('the clear result', resultOf('clear'), 15_000);
    expect(clearResult.outcome).toBe('ok');
    expect(clearResult.detail).toContain(`(was ${firstSession})`);
    const secondSession = /new session (\S+)/.exec(String(clearResult.detail))?.[1] ?? '';
    expect(secondSession).not.toBe('');
    expect(secondSession).not.toBe(firstSession);

    // Typed only when idle: every line reached the fake as a submitted command, none dropped.
    const events = readFileSync(debugLog, 'utf8');
    expect(events).toContain('submit "/compact"');
    expect(events).toContain('submit "/clear"');
    expect(events).not.toContain('dropped while busy');

    // Tier 3: archive, SIGTERM, relaunch with --resume <the session holding the compact summary>:
    // the one after the clear holds nothing of the conversation (agent.resume: conversation).
    await memgov.waitFor('the archive-terminate decision', decided('archive-terminate'), 20_000);
    const exited = await memgov.waitFor(
      'the agent to exit',
      (r) => r.message === 'agent exited',
      15_000,
    );
    expect(exited).toMatchObject({ relaunch: true, sessionId: secondSession });
    const relaunched = await memgov.waitFor(
      'the relaunched agent',
      (r) => r.message === 'agent started' && r.pid !== firstPid,
      15_000,
    );
    const secondPid = relaunched.pid as number;
    expect(isGone(firstPid)).toBe(true);
    // The pane's process is the wrapper script until it execs node (the pid stays).
    const argv = await pollUntil('the relaunched fake to exec node', 10_000, () => {
      const now = cmdline(secondPid);
      return now.includes(FAKE) ? now : undefined;
    });
    expect(argv[0]).toBe(process.execPath);
    expect(argv.slice(-2)).toEqual(['--resume', firstSession]);
    const chosen = await memgov.waitFor(
      'the resume choice',
      (r) => r.message === 'resume chosen',
      5_000,
    );
    expect(chosen).toMatchObject({ resume: 'conversation', sessionId: firstSession });
    await memgov.waitFor('the archive-terminate result', resultOf('archive-terminate'), 10_000);
    const status = await waitForStatus(
      stateFile,
      'archive-terminate recorded with a result',
      (st) => st.actions?.at(-1)?.outcome !== 'pending',
      10_000,
    );
    expect(status.actions?.map((a) => [a.action, a.outcome])).toEqual([
      ['compact', 'ok'],
      ['clear', 'ok'],
      ['archive-terminate', 'ok'],
    ]);

    const tier3 = readdirSync(archiveDir).find((name) => name.endsWith('-tier3'));
    expect(tier3).toBeDefined();
    const archived = filesUnder(join(archiveDir, tier3 as string));
    // The whole lineage: the conversation before the clear and the session after it.
    for (const session of [firstSession, secondSession]) {
      const path = join(transcript, `${session}.jsonl`);
      expect(archived).toContain(join('files', path.slice(1)));
    }
    expect(archived).toContain(join('files', configDir.slice(1), 'plans', 'plan.md'));
    for (const path of filesUnder(archiveDir)) expect(path).not.toContain(CREDENTIALS);

    expect(cgroup.oomKills()).toBe(0);
  }, 60_000);
});

// deploy/entrypoint.sh run for real with the shipped bundle and a stand-in agent: its loop
// restarts a memgov that crashed, backs off (never spins) while another memgov holds the lock,
// takes over when that one dies, and with the postStart path (`memgov start --detach`) also in
// play exactly one memgov governs. SIGTERM reaches the agent and every memgov, and the entrypoint
// exits with the agent's status. memgov observes a temp copy of a cgroup v1 fixture, so no real
// cgroup is needed; with tmux, the agent is the fake Claude Code CLI in the entrypoint's tmux
// pane, and memgov (attached, not launching it) compacts it.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { identify, readProcStat, signalVerified } from '../../adapters/proc.ts';
import { BUNDLE, runBundle } from '../support/cli.ts';
import { Cleanup, isGone, pollUntil, tempDir } from '../support/daemon.ts';
import { killTmuxServer } from '../support/tmux.ts';
import {
  ENTRYPOINT,
  killLater,
  lockOwner,
  logFileRecords,
  memgovRunsUnder,
  startEntrypoint,
  type EntrypointProcess,
} from './entrypoint-process.ts';

const FIXTURE = new URL('../fixtures/cgroup/v1-limited', import.meta.url).pathname;
const FAKE_CLAUDE = fileURLToPath(new URL('../fakes/fake-claude.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const ANOTHER = 'another memgov already governs here; exiting';
/** An agent that runs until SIGTERM, then exits 7: a status no shell or signal would give. */
const AGENT_EXIT_7 = ['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done'];
const EXIT_NOTE = /^memgov exited with status (\d+) after \d+s; restarting in (\d+)ms$/;

let tmuxMissing = '';
try {
  execFileSync('tmux', ['-V'], { stdio: 'ignore' });
} catch {
  tmuxMissing = 'tmux is not installed';
}

/** A POSIX shell single-quoted word. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The foreground process group of a process's terminal (field 8 of /proc/PID/stat, tpgid). */
function foregroundGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid ...
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return Number(fields[5]);
}

/** The pid `memgov start` printed: "memgov started in the background (pid N), logging to L". */
function printedPid(stdout: string): number {
  const match = /\(pid (\d+)\)/.exec(stdout);
  if (match?.[1] === undefined) throw new Error(`no pid in ${JSON.stringify(stdout)}`);
  return Number(match[1]);
}

interface Pod {
  readonly dir: string;
  readonly cgroup: string;
  readonly agentData: string;
  readonly lockPath: string;
  readonly pidfile: string;
  /** Where `memgov start --detach` logs by default. */
  readonly hookLog: string;
  /** The environment both wiring paths see, as the container's env would be. */
  readonly env: Record<string, string>;
}

describe('deploy/entrypoint.sh', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** A temp "pod": a cgroup fixture copy, AGENT_DATA, and memgov's flags for both paths. */
  function pod(): Pod {
    const dir = tempDir(cleanup, 'memgov-deploy-');
    const cgroup = join(dir, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    const agentData = join(dir, 'data');
    return {
      dir,
      cgroup,
      agentData,
      // Both paths find the state file (and the lock beside it) from AGENT_DATA, by default.
      lockPath: join(agentData, 'config', 'mem_governor_state.lock'),
      pidfile: join(agentData, 'agent.pid'),
      hookLog: join(agentData, 'memgov.log'),
      env: {
        AGENT_DATA: agentData,
        MEMGOV_BIN: `${process.execPath} ${BUNDLE}`,
        MEMGOV_ARGS: `--cgroup ${cgroup} --log-format json`,
        MEMGOV_BACKOFF_MIN_MS: '100',
        MEMGOV_BACKOFF_MAX_MS: '400',
        AGENT_TMUX: '0',
      },
    };
  }

  /**
   * The postStart hook: `memgov start --detach` with the loop's flags, as the entrypoint prints
   * them for this environment (the manifest test holds the real hook to the same); killed at
   * cleanup.
   */
  function postStart(p: Pod): { code: number; stdout: string; stderr: string } {
    const printed = spawnSync(ENTRYPOINT, ['--print-memgov-args'], {
      env: { PATH: process.env.PATH ?? '', ...p.env },
      encoding: 'utf8',
    });
    const [command, ...flags] = printed.stdout.split('\n').filter((line) => line !== '');
    expect(command).toBe('run');
    const run = runBundle(['start', '--detach', ...flags], p.env);
    const match = /\(pid (\d+)\)/.exec(run.stdout);
    if (match?.[1] !== undefined) killLater(cleanup, Number(match[1]));
    return run;
  }

  /** The postStart hook run first: waits until its memgov governs; returns its pid. */
  async function postStartGoverning(p: Pod): Promise<number> {
    const hook = postStart(p);
    expect(hook.stderr).toBe('');
    expect(hook.code).toBe(0);
    const detached = printedPid(hook.stdout);
    await pollUntil('the postStart memgov to govern', 10_000, () =>
      lockOwner(p.lockPath) === detached &&
      logFileRecords(p.hookLog).some((r) => r.message === 'memgov started')
        ? true
        : undefined,
    );
    return detached;
  }

  /** The hook's memgov first, governing; then the entrypoint, whose loop finds the lock held. */
  async function postStartThenEntrypoint(): Promise<{
    p: Pod;
    detached: number;
    ep: EntrypointProcess;
  }> {
    const p = pod();
    const detached = await postStartGoverning(p);
    const ep = startEntrypoint(cleanup, AGENT_EXIT_7, p.env);
    await pollUntil(
      "the loop's memgov to find the lock held",
      15_000,
      () => (ep.records().some((r) => r.message === ANOTHER) ? true : undefined),
      ep.output,
    );
    return { p, detached, ep };
  }

  /** Waits for the loop's memgov to log that it governs; returns its pid from the notes. */
  async function governing(ep: EntrypointProcess, p: Pod, timeoutMs = 15_000): Promise<number> {
    await pollUntil(
      "the loop's memgov to govern",
      timeoutMs,
      () => (ep.records().some((r) => r.message === 'memgov started') ? true : undefined),
      ep.output,
    );
    const pid = ep.memgovPids().at(-1) as number;
    await pollUntil(`memgov ${pid} to hold the lock`, 5_000, () =>
      lockOwner(p.lockPath) === pid ? true : undefined,
    );
    return pid;
  }

  async function sigterm(ep: EntrypointProcess): Promise<void> {
    process.kill(ep.pid, 'SIGTERM');
    await ep.exited;
  }

  /** SIGTERM as the kubelet sends it: the agent's status comes out, no memgov is left. */
  async function stopPod(ep: EntrypointProcess, p: Pod): Promise<void> {
    await sigterm(ep);
    expect(ep.exitStatus(), ep.output()).toEqual({ code: 7, signal: null });
    expect(existsSync(p.lockPath)).toBe(false);
    expect(memgovRunsUnder(p.dir)).toEqual([]);
  }

  it('restarts a memgov that crashed; a postStart copy then finds it governing and starts nothing', async () => {
    const p = pod();
    // MEMGOV_BIN: a wrapper that crashes (exit 1) the first time, then runs the real memgov.
    const marker = join(p.dir, 'crashed-once');
    const wrapper = join(p.dir, 'memgov-crashing-once.sh');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        `if [ ! -e ${shellQuote(marker)} ]; then : > ${shellQuote(marker)}; echo 'wrapper: crash' >&2; exit 1; fi`,
        `exec ${shellQuote(process.execPath)} ${shellQuote(BUNDLE)} "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);

    const ep = startEntrypoint(cleanup, AGENT_EXIT_7, { ...p.env, MEMGOV_BIN: wrapper });
    const governor = await governing(ep, p);

    const [crashed, restarted] = ep.memgovPids();
    expect(ep.memgovPids()).toEqual([crashed, governor]);
    expect(restarted).toBe(governor);
    expect(isGone(crashed as number)).toBe(true);
    expect(existsSync(marker)).toBe(true);
    const exits = ep.notes().filter((note) => EXIT_NOTE.test(note));
    expect(exits.map((note) => EXIT_NOTE.exec(note)?.slice(1))).toEqual([['1', '100']]);
    expect(ep.output()).toContain('wrapper: crash');
    // memgov is attached to the agent the entrypoint started, through the pidfile.
    const agentPid = ep.agentPid();
    expect(readFileSync(p.pidfile, 'utf8')).toBe(`${agentPid}\n`);

    // The postStart path, second: it sees the lock held and starts nothing.
    const hook = postStart(p);
    expect(hook).toEqual({
      code: 0,
      stdout: `memgov already governs here (pid ${governor}); nothing started\n`,
      stderr: '',
    });
    expect(memgovRunsUnder(p.dir)).toEqual([governor]);
    expect(ep.records().filter((r) => r.message === 'memgov started')).toHaveLength(1);

    await stopPod(ep, p);
    expect(ep.records().at(-1)).toMatchObject({ message: 'stopping', signal: 'SIGTERM' });
    expect(ep.notes()).toContain('agent exited with status 7');
    expect(existsSync(p.pidfile)).toBe(false);
    for (const pid of [agentPid as number, ...ep.memgovPids()]) expect(isGone(pid)).toBe(true);
  }, 40_000);

  it('backs off while a postStart copy governs (exit 0, no spin), and takes over when it dies', async () => {
    const { p, detached, ep } = await postStartThenEntrypoint();
    await pollUntil(
      'four memgov attempts refused by the lock',
      15_000,
      () => (ep.notes().filter((note) => EXIT_NOTE.test(note)).length >= 4 ? true : undefined),
      ep.output,
    );
    // Each attempt exits 0 at once with the one log line; the delay doubles up to its cap.
    const exits = ep
      .notes()
      .filter((note) => EXIT_NOTE.test(note))
      .slice(0, 4)
      .map((note) => EXIT_NOTE.exec(note)?.slice(1));
    expect(exits).toEqual([
      ['0', '100'],
      ['0', '200'],
      ['0', '400'],
      ['0', '400'],
    ]);
    const refusals = ep.records().filter((r) => r.message === ANOTHER);
    expect(refusals.length).toBeGreaterThanOrEqual(4);
    for (const refusal of refusals) expect(refusal.ownerPid).toBe(detached);
    expect(ep.records().filter((r) => r.message === 'memgov started')).toEqual([]);
    expect(lockOwner(p.lockPath)).toBe(detached);

    // The postStart copy dies as the OOM killer would kill it: the loop's next attempt governs.
    const identity = identify(detached)._unsafeUnwrap();
    expect(signalVerified(identity, 'SIGKILL', { group: false }).isOk()).toBe(true);
    await pollUntil('the postStart memgov to die', 5_000, () =>
      isGone(detached) ? true : undefined,
    );
    const governor = await governing(ep, p, 10_000);
    expect(memgovRunsUnder(p.dir)).toEqual([governor]);

    await stopPod(ep, p);
  }, 40_000);

  it('on SIGTERM also stops the postStart copy that holds the lock', async () => {
    const { p, detached, ep } = await postStartThenEntrypoint();

    // The entrypoint waits for it: once the entrypoint exits, the container's end kills the rest.
    await stopPod(ep, p);
    expect(ep.notes()).toContain(
      `stopping the memgov started by the postStart hook (pid ${detached})`,
    );
    expect(isGone(detached)).toBe(true);
    expect(logFileRecords(p.hookLog).at(-1)).toMatchObject({
      message: 'stopping',
      signal: 'SIGTERM',
    });
  }, 40_000);

  it('kills an agent that ignores SIGTERM once AGENT_STOP_GRACE_MS has passed', async () => {
    const p = pod();
    const stubborn = ['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'];
    const ep = startEntrypoint(cleanup, stubborn, { ...p.env, AGENT_STOP_GRACE_MS: '300' });
    await governing(ep, p);
    const agentPid = ep.agentPid() as number;

    await sigterm(ep);
    expect(ep.exitStatus(), ep.output()).toEqual({ code: 137, signal: null });
    expect(ep.notes()).toContain('the agent ignored SIGTERM for 300ms: SIGKILL');
    expect(isGone(agentPid)).toBe(true);
    expect(memgovRunsUnder(p.dir)).toEqual([]);
  }, 30_000);

  it('prints the memgov arguments it would use, and refuses to start without an agent', () => {
    const env = {
      PATH: process.env.PATH ?? '',
      AGENT_DATA: '/data',
      AGENT_TMUX: '1',
      MEMGOV_CONFIG: '/etc/memgov/memgov.yaml',
      MEMGOV_ARGS: '--metrics=9470  --dry-run',
    };
    const printed = spawnSync(ENTRYPOINT, ['--print-memgov-args'], { env, encoding: 'utf8' });
    expect(printed.status).toBe(0);
    expect(printed.stdout.split('\n')).toEqual([
      'run',
      '--config',
      '/etc/memgov/memgov.yaml',
      '--agent-pidfile',
      '/data/agent.pid',
      '--tmux-socket',
      'agent',
      '--tmux-target',
      'agent:0.0',
      '--metrics=9470',
      '--dry-run',
      '',
    ]);

    const bare = spawnSync(ENTRYPOINT, [], { env, encoding: 'utf8' });
    expect(bare.status).toBe(2);
    expect(bare.stderr).toBe('memgov-entrypoint: usage: entrypoint.sh AGENT COMMAND...\n');
  });

  it('names a bad backoff setting and uses its default instead, never a busy loop', () => {
    const printed = spawnSync(ENTRYPOINT, ['--print-memgov-args'], {
      env: { PATH: process.env.PATH ?? '', AGENT_TMUX: '0', MEMGOV_BACKOFF_MIN_MS: '1s' },
      encoding: 'utf8',
    });
    expect(printed.status).toBe(0);
    expect(printed.stderr).toBe(
      'memgov-entrypoint: ignoring MEMGOV_BACKOFF_MIN_MS=1s (not a whole number); using 1000\n',
    );
  });

  describe.skipIf(tmuxMissing !== '')(
    `with tmux${tmuxMissing === '' ? '' : ` (skipped: ${tmuxMissing})`}`,
    () => {
      it('passes SIGTERM to the agent in the pane and exits with its status', async () => {
        const p = pod();
        const socket = `memgov-deploy-${process.pid}-${randomBytes(4).toString('hex')}`;
        cleanup.add(() => killTmuxServer(socket, '/tmp'));
        const ep = startEntrypoint(cleanup, AGENT_EXIT_7, {
          ...p.env,
          AGENT_TMUX: '1',
          AGENT_TMUX_SOCKET: socket,
          AGENT_POLL_MS: '100',
        });
        await governing(ep, p);
        const agentPid = ep.agentPid() as number;

        await sigterm(ep);
        expect(ep.exitStatus(), ep.output()).toEqual({ code: 7, signal: null });
        expect(ep.records().at(-1)).toMatchObject({ message: 'stopping', signal: 'SIGTERM' });
        expect(isGone(agentPid)).toBe(true);
        expect(existsSync(p.pidfile)).toBe(false);
        expect(() =>
          execFileSync('tmux', ['-L', socket, 'has-session'], { stdio: 'ignore' }),
        ).toThrow();
        expect(memgovRunsUnder(p.dir)).toEqual([]);
      }, 30_000);

      it('runs the agent in a tmux pane memgov attaches to and compacts; exits with its status', async () => {
        const p = pod();
        const socket = `memgov-deploy-${process.pid}-${randomBytes(4).toString('hex')}`;
        // The environment has no TMUX_TMPDIR: the server's socket is in /tmp/tmux-<uid>.
        cleanup.add(() => killTmuxServer(socket, '/tmp'));
        const debugLog = join(p.dir, 'fake-claude.log');
        const ep = startEntrypoint(
          cleanup,
          [process.execPath, '--import', TSX_LOADER, FAKE_CLAUDE, '--debug-log', debugLog],
          {
            ...p.env,
            MEMGOV_ARGS: `${p.env.MEMGOV_ARGS ?? ''} --profile claude-code`,
            CLAUDE_CONFIG_DIR: join(p.dir, 'claude'),
            AGENT_TMUX: '1',
            AGENT_TMUX_SOCKET: socket,
            AGENT_CWD: p.dir,
            AGENT_POLL_MS: '100',
          },
        );
        await pollUntil(
          'the agent to be up and memgov to govern',
          15_000,
          () =>
            existsSync(debugLog) &&
            readFileSync(debugLog, 'utf8').includes('status idle') &&
            ep.records().some((r) => r.message === 'memgov started')
              ? true
              : undefined,
          ep.output,
        );
        // The agent's memory climbs past compactAt (75% of the fixture's 64 MiB limit).
        const limitBytes = Number(readFileSync(join(p.cgroup, 'memory.limit_in_bytes'), 'utf8'));
        writeFileSync(
          join(p.cgroup, 'memory.usage_in_bytes'),
          `${Math.round(limitBytes * 0.75)}\n`,
        );

        const result = await pollUntil(
          'memgov to compact the agent in the pane',
          25_000,
          () => ep.records().find((r) => r.message === 'action result' && r.action === 'compact'),
          ep.output,
        );
        expect(result.outcome).toBe('ok');
        const started = ep.records().find((r) => r.message === 'memgov started');
        expect(started).toMatchObject({ transport: 'tmux', profile: 'claude-code' });
        // The pidfile names the agent: a child of the pane's shell, leading its own process group
        // (which memgov's tier 3 signals) and in the terminal's foreground (it reads the keys).
        const agentPid = ep.agentPid() as number;
        expect(readFileSync(p.pidfile, 'utf8')).toBe(`${agentPid}\n`);
        const panePid = Number(
          execFileSync(
            'tmux',
            ['-L', socket, 'display-message', '-p', '-t', 'agent:0.0', '#{pane_pid}'],
            { encoding: 'utf8' },
          ),
        );
        const stat = readProcStat(agentPid)._unsafeUnwrap();
        expect(stat).toMatchObject({ ppid: panePid, pgrp: agentPid });
        expect(foregroundGroup(agentPid)).toBe(agentPid);
        const fakeLog = readFileSync(debugLog, 'utf8');
        expect(fakeLog).toContain(`start pid=${agentPid} `);
        expect(fakeLog).toContain('submit "/compact"');

        // Killed from outside (the kernel's OOM killer): the entrypoint ends with 128 + 9.
        process.kill(agentPid, 'SIGKILL');
        await ep.exited;
        expect(ep.exitStatus(), ep.output()).toEqual({ code: 137, signal: null });
        expect(ep.records().at(-1)).toMatchObject({ message: 'stopping', signal: 'SIGTERM' });
        expect(() =>
          execFileSync('tmux', ['-L', socket, 'has-session'], { stdio: 'ignore' }),
        ).toThrow();
        expect(memgovRunsUnder(p.dir)).toEqual([]);
      }, 40_000);
    },
  );
});

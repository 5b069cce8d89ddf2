// The proc adapter: the stat parser on real and hostile lines (earlyoom's tests write the same
// kind of fixture strings), then signals to real `sleep` processes this test spawns. Cases about
// refusals and recycled PIDs use a fake /proc tree and a recording `kill`: no real signal ever
// reaches a process this test did not start.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatProcError,
  identify,
  parseProcStat,
  parseVmRssBytes,
  readRssBytes,
  readProcStat,
  signalVerified,
  waitForExit,
  type ProcessIdentity,
  type SignalName,
} from '../../adapters/proc.ts';

// `cat /proc/self/stat` on this project's VM (kernel 6.18): starttime (field 22) is 94731.
const CAT_LINE =
  '15420 (cat) R 15416 15416 14682 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 94731 3133440 412 18446744073709551615 94175337226240 94175337246121 140729479015536 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94175337262128 94175337263744 94176307056640 140729479019224 140729479019244 140729479019244 140729479020523 0\n';

/** A stat line as the kernel writes it: `pid (comm) state ppid pgrp session`, then 46 more. */
function statLine(
  pid: number,
  comm: string,
  fields: { state?: string; ppid?: number; pgrp?: number; session?: number; start?: number } = {},
): string {
  const { state = 'S', ppid = 1, pgrp = pid, session = pid, start = 5000 } = fields;
  const middle = '0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0';
  const tail = '3133440 412 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
  return `${pid} (${comm}) ${state} ${ppid} ${pgrp} ${session} ${middle} ${start} ${tail}\n`;
}

describe('parseProcStat', () => {
  it('reads the fields of a real line', () => {
    expect(parseProcStat(CAT_LINE)._unsafeUnwrap()).toEqual({
      pid: 15420,
      comm: 'cat',
      state: 'R',
      ppid: 15416,
      pgrp: 15416,
      session: 14682,
      startTicks: 94731,
    });
  });

  it("reads this process's own /proc/self/stat", () => {
    const stat = parseProcStat(readFileSync('/proc/self/stat', 'utf8'))._unsafeUnwrap();
    expect(stat.pid).toBe(process.pid);
    expect(stat.ppid).toBe(process.ppid);
    expect(stat.state).toBe('R');
    expect(stat.startTicks).toBeGreaterThan(0);
  });

  it.each([
    ['spaces', 'tmux: server'],
    ['a fake end of the name', 'a) R 1 1 1 (b'],
    ['a lone closing parenthesis', ')'],
    ['parentheses both ways', ') ('],
    ['newlines', 'x\ny\n'],
    ['a fake full line', '1 (x) R 1 1 1 0'],
    ['nothing', ''],
  ])('takes a command name with %s', (_what, comm) => {
    const stat = parseProcStat(statLine(4242, comm, { ppid: 7, pgrp: 4240, start: 123456 }));
    expect(stat._unsafeUnwrap()).toEqual({
      pid: 4242,
      comm,
      state: 'S',
      ppid: 7,
      pgrp: 4240,
      session: 4242,
      startTicks: 123456,
    });
  });

  it.each([
    ['', 'no "PID (" at the start'],
    ['x', 'no "PID (" at the start'],
    ['\0\0\0', 'no "PID (" at the start'],
    [')', 'no "PID (" at the start'],
    ['12x (a) S 1 1 1', 'no "PID (" at the start'],
    ['0 (swapper) S 0 0 0', 'no "PID (" at the start'],
    ['12 (a', 'no ")" closing the command name'],
    ['12 (a)', 'no space after the command name'],
    ['12 (a)S 1 1 1', 'no space after the command name'],
    ['12 (a) S 1 1 1', '6 fields, starttime is field 22'],
    [statLine(12, 'a', { state: '?' }), 'the state is not one letter'],
    [statLine(12, 'a').replace(' S 1 ', ' S -1 '), 'ppid, pgrp or session is not a number'],
    [statLine(12, 'a').replace(' 5000 ', ' 5e3 '), 'starttime (field 22) is not a number'],
    [statLine(12, 'a').replace(' 5000 ', ' 99999999999999999 '), 'starttime (field 22)'],
  ])('calls %j garbled', (text, why) => {
    const e = parseProcStat(text)._unsafeUnwrapErr();
    expect(e.kind).toBe('garbled');
    expect(e.detail).toContain(why);
    expect(e.detail).not.toContain('\n');
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const result = parseProcStat(text);
        expect(result.isOk() || result.error.kind === 'garbled').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on a real line cut and spliced anywhere', () => {
    fc.assert(
      fc.property(
        fc.nat(CAT_LINE.length),
        fc.nat(CAT_LINE.length),
        fc.string({ unit: 'binary', maxLength: 20 }),
        (from, to, insert) => {
          const text = CAT_LINE.slice(0, Math.min(from, to)) + insert + CAT_LINE.slice(to);
          expect(() => parseProcStat(text)).not.toThrow();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('gives back any command name and the numbers around it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4194304 }),
        fc.string({ unit: 'binary', maxLength: 32 }),
        fc.constantFrom('R', 'S', 'D', 'Z', 'T', 't', 'X', 'I'),
        fc.nat(4194304),
        fc.nat(4194304),
        fc.nat(Number.MAX_SAFE_INTEGER),
        (pid, comm, state, ppid, pgrp, start) => {
          const parsed = parseProcStat(statLine(pid, comm, { state, ppid, pgrp, start }));
          expect(parsed._unsafeUnwrap()).toEqual({
            pid,
            comm,
            state,
            ppid,
            pgrp,
            session: pid,
            startTicks: start,
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

/** A fake /proc: `<root>/<pid>/stat` holds whatever the test writes. */
class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), 'memgov-proc-'));

  write(pid: number, text: string): void {
    mkdirSync(join(this.root, String(pid)), { recursive: true });
    writeFileSync(join(this.root, String(pid), 'stat'), text);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe('readProcStat and identify against a fake /proc', () => {
  let proc: FakeProc;
  beforeEach(() => {
    proc = new FakeProc();
  });
  afterEach(() => proc.remove());

  it('identifies a process by pid, start time and group', () => {
    proc.write(4242, statLine(4242, 'claude', { pgrp: 4200, start: 777 }));
    expect(identify(4242, proc.root)._unsafeUnwrap()).toEqual({
      pid: 4242,
      startTicks: 777,
      pgrp: 4200,
    });
  });

  it('calls a missing entry gone', () => {
    expect(readProcStat(4242, proc.root)._unsafeUnwrapErr()).toEqual({
      kind: 'gone',
      pid: 4242,
      detail: `${proc.root}/4242/stat: no such process`,
    });
  });

  it.each([0, -1, 1.5, Number.NaN])('calls pid %d gone without reading anything', (pid) => {
    expect(readProcStat(pid, proc.root)._unsafeUnwrapErr().kind).toBe('gone');
  });

  it('calls garbled text and a stat naming another pid garbled, naming the file', () => {
    proc.write(4242, 'nonsense');
    proc.write(4243, statLine(99, 'x'));
    const garbled = readProcStat(4242, proc.root)._unsafeUnwrapErr();
    expect(garbled.kind).toBe('garbled');
    expect(garbled.detail).toBe(`${proc.root}/4242/stat: no "PID (" at the start: "nonsense"`);
    expect(readProcStat(4243, proc.root)._unsafeUnwrapErr()).toEqual({
      kind: 'garbled',
      pid: 4243,
      detail: `${proc.root}/4243/stat: names pid 99`,
    });
  });

  it('calls a stat it cannot read io', () => {
    mkdirSync(join(proc.root, '4242', 'stat'), { recursive: true });
    const e = readProcStat(4242, proc.root)._unsafeUnwrapErr();
    expect(e).toEqual({
      kind: 'io',
      pid: 4242,
      detail: `${proc.root}/4242/stat: EISDIR: illegal operation on a directory`,
    });
    expect(formatProcError(e)).toBe(
      `pid 4242 io: ${proc.root}/4242/stat: EISDIR: illegal operation on a directory`,
    );
  });
});

describe('signalVerified against a fake /proc (signals are recorded, never sent)', () => {
  let proc: FakeProc;
  let sent: [number, SignalName][];
  const kill = (pid: number, signal: SignalName) => {
    sent.push([pid, signal]);
  };
  const ownPgrp = parseProcStat(readFileSync('/proc/self/stat', 'utf8'))._unsafeUnwrap().pgrp;

  beforeEach(() => {
    proc = new FakeProc();
    sent = [];
  });
  afterEach(() => proc.remove());

  it('refuses a recycled pid: same pid, another start time', () => {
    proc.write(4242, statLine(4242, 'bash', { start: 999 }));
    const adopted: ProcessIdentity = { pid: 4242, startTicks: 1000, pgrp: 4242 };
    const e = signalVerified(adopted, 'SIGTERM', { group: true, procRoot: proc.root, kill });
    expect(e._unsafeUnwrapErr().kind).toBe('recycled');
    expect(formatProcError(e._unsafeUnwrapErr())).toBe(
      'pid 4242 recycled: pid 4242 started at tick 999, the adopted process at 1000: another process owns the pid now',
    );
    expect(sent).toEqual([]);
  });

  it.each([1, 0, -1, -4242])('refuses pid %d', (pid) => {
    const e = signalVerified({ pid, startTicks: 1, pgrp: 1 }, 'SIGKILL', {
      group: false,
      procRoot: proc.root,
      kill,
    });
    expect(e._unsafeUnwrapErr()).toEqual({
      kind: 'refused',
      pid,
      detail: `pid ${pid} is never signalled`,
    });
    expect(sent).toEqual([]);
  });

  it('refuses memgov itself, even with a matching identity', () => {
    const self = identify(process.pid)._unsafeUnwrap();
    const e = signalVerified(self, 'SIGTERM', { group: false, kill });
    expect(e._unsafeUnwrapErr()).toEqual({
      kind: 'refused',
      pid: process.pid,
      detail: 'that is memgov itself',
    });
    expect(sent).toEqual([]);
  });

  it("refuses memgov's own process group", () => {
    // A leader of memgov's own group, as the shell that started memgov would be.
    proc.write(ownPgrp, statLine(ownPgrp, 'bash', { pgrp: ownPgrp }));
    const leader = identify(ownPgrp, proc.root)._unsafeUnwrap();
    const e = signalVerified(leader, 'SIGTERM', { group: true, procRoot: proc.root, kill });
    expect(e._unsafeUnwrapErr()).toEqual({
      kind: 'refused',
      pid: ownPgrp,
      detail:
        ownPgrp === process.pid
          ? 'that is memgov itself'
          : `process group ${ownPgrp} is memgov's own`,
    });
    // A member of memgov's group that leads nothing gets the signal alone.
    proc.write(4243, statLine(4243, 'claude', { pgrp: ownPgrp }));
    const member = identify(4243, proc.root)._unsafeUnwrap();
    const options = { group: true, procRoot: proc.root, kill };
    expect(signalVerified(member, 'SIGTERM', options)._unsafeUnwrap()).toBe('sent-pid');
    expect(sent).toEqual([[4243, 'SIGTERM']]);
  });

  it('signals the group of a leader and the pid of a member', () => {
    proc.write(4242, statLine(4242, 'claude', { pgrp: 4242 }));
    proc.write(4250, statLine(4250, 'node', { pgrp: 4242 }));
    const leader = identify(4242, proc.root)._unsafeUnwrap();
    const member = identify(4250, proc.root)._unsafeUnwrap();
    const options = { group: true, procRoot: proc.root, kill };
    expect(signalVerified(leader, 'SIGTERM', options)._unsafeUnwrap()).toBe('sent-group');
    expect(signalVerified(member, 'SIGINT', options)._unsafeUnwrap()).toBe('sent-pid');
    expect(signalVerified(leader, 'SIGKILL', { ...options, group: false })._unsafeUnwrap()).toBe(
      'sent-pid',
    );
    expect(sent).toEqual([
      [-4242, 'SIGTERM'],
      [4250, 'SIGINT'],
      [4242, 'SIGKILL'],
    ]);
  });

  it('goes by the group the process is in now, not the one recorded', () => {
    proc.write(4250, statLine(4250, 'claude', { pgrp: 4250 }));
    const adoptedAsMember: ProcessIdentity = { pid: 4250, startTicks: 5000, pgrp: 4242 };
    expect(
      signalVerified(adoptedAsMember, 'SIGTERM', { group: true, procRoot: proc.root, kill }),
    ).toEqual(expect.objectContaining({ value: 'sent-group' }));
    expect(sent).toEqual([[-4250, 'SIGTERM']]);
  });

  it('calls a vanished process gone, and a zombie gone unless its group is signalled', () => {
    const options = { group: false, procRoot: proc.root, kill };
    const identity: ProcessIdentity = { pid: 4242, startTicks: 5000, pgrp: 4242 };
    expect(signalVerified(identity, 'SIGTERM', options)._unsafeUnwrapErr().kind).toBe('gone');
    proc.write(4242, statLine(4242, 'claude', { state: 'Z' }));
    expect(signalVerified(identity, 'SIGTERM', options)._unsafeUnwrapErr()).toEqual({
      kind: 'gone',
      pid: 4242,
      detail: 'pid 4242 has exited (a zombie not yet reaped)',
    });
    // The zombie still holds its pgid, so its group (maybe with live members) is safe to signal.
    expect(signalVerified(identity, 'SIGTERM', { ...options, group: true })._unsafeUnwrap()).toBe(
      'sent-group',
    );
    expect(sent).toEqual([[-4242, 'SIGTERM']]);
  });

  it('passes a failing kill back as an error value', () => {
    proc.write(4242, statLine(4242, 'claude'));
    const identity = identify(4242, proc.root)._unsafeUnwrap();
    const failing = (code: string) => () => {
      throw Object.assign(new Error(`${code}: failed, kill`), { code });
    };
    const options = { group: false, procRoot: proc.root };
    expect(
      signalVerified(identity, 'SIGTERM', {
        ...options,
        kill: failing('ESRCH'),
      })._unsafeUnwrapErr(),
    ).toEqual({ kind: 'gone', pid: 4242, detail: 'pid 4242 exited before SIGTERM reached it' });
    expect(
      signalVerified(identity, 'SIGTERM', {
        ...options,
        kill: failing('EPERM'),
      })._unsafeUnwrapErr(),
    ).toEqual({ kind: 'io', pid: 4242, detail: 'kill(4242, SIGTERM): EPERM: failed' });
  });
});

describe('waitForExit against a fake /proc', () => {
  let proc: FakeProc;
  beforeEach(() => {
    proc = new FakeProc();
  });
  afterEach(() => proc.remove());
  const identity: ProcessIdentity = { pid: 4242, startTicks: 5000, pgrp: 4242 };

  it.each([
    ['a zombie', statLine(4242, 'claude', { state: 'Z' })],
    ['a recycled pid', statLine(4242, 'bash', { start: 6000 })],
    ['no entry', undefined],
  ])('calls %s exited at once', async (_what, text) => {
    if (text !== undefined) proc.write(4242, text);
    const result = await waitForExit(identity, { timeoutMs: 10_000, pollMs: 5_000 }, proc.root);
    expect(result).toBe('exited');
  });

  it('times out while the process runs, garbled or not', async () => {
    proc.write(4242, statLine(4242, 'claude'));
    expect(await waitForExit(identity, { timeoutMs: 30, pollMs: 10 }, proc.root)).toBe('timeout');
    proc.write(4242, 'garbled');
    expect(await waitForExit(identity, { timeoutMs: 30, pollMs: 10 }, proc.root)).toBe('timeout');
  });

  it('sees the exit that happens while it polls', async () => {
    proc.write(4242, statLine(4242, 'claude'));
    const waiting = waitForExit(identity, { timeoutMs: 10_000, pollMs: 5 }, proc.root);
    proc.write(4242, statLine(4242, 'claude', { state: 'Z' }));
    expect(await waiting).toBe('exited');
  });
});

describe('signalVerified on real processes this test spawns', () => {
  const children: ChildProcess[] = [];

  afterEach(() => {
    for (const child of children.splice(0)) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      // Each child leads its own group (detached): kill the group, then the child itself.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
  });

  function start(command: string, args: string[]): ChildProcess {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(child);
    return child;
  }

  it('terminates a detached sleep through its process group', async () => {
    const sleeper = start('sleep', ['30']);
    const pid = sleeper.pid ?? 0;
    const identity = identify(pid)._unsafeUnwrap();
    expect(identity.pgrp).toBe(pid);
    const exit = once(sleeper, 'exit');
    expect(signalVerified(identity, 'SIGTERM', { group: true })._unsafeUnwrap()).toBe('sent-group');
    expect(await waitForExit(identity, { timeoutMs: 5_000, pollMs: 20 })).toBe('exited');
    expect(await exit).toEqual([null, 'SIGTERM']);
  });

  it('signals a member of a group alone and leaves its leader running', async () => {
    const shell = start('sh', ['-c', 'sleep 30 & echo $!; wait; sleep 30']);
    const [line] = (await once(shell.stdout!, 'data')) as [Buffer];
    const member = identify(Number(line.toString().trim()))._unsafeUnwrap();
    expect(member.pgrp).toBe(shell.pid);
    expect(signalVerified(member, 'SIGTERM', { group: true })._unsafeUnwrap()).toBe('sent-pid');
    expect(await waitForExit(member, { timeoutMs: 5_000, pollMs: 20 })).toBe('exited');
    const leader = identify(shell.pid ?? 0)._unsafeUnwrap();
    expect(await waitForExit(leader, { timeoutMs: 100, pollMs: 20 })).toBe('timeout');
  });

  it('calls a process that has exited and been reaped gone', async () => {
    const quick = start('true', []);
    const identity = identify(quick.pid ?? 0);
    await once(quick, 'exit');
    // `true` may be gone before identify reads it; then there is nothing to signal either way.
    const result = identity.andThen((id) => signalVerified(id, 'SIGTERM', { group: true }));
    expect(result._unsafeUnwrapErr().kind).toBe('gone');
  });
});

describe('resident memory', () => {
  it('reads VmRSS in bytes from a status text, and null when the line is missing', () => {
    expect(parseVmRssBytes('Name:\tclaude\nVmRSS:\t  204800 kB\nThreads:\t12\n')).toBe(
      204_800 * 1024,
    );
    expect(parseVmRssBytes('Name:\tzombie\nState:\tZ (zombie)\n')).toBeNull();
  });

  it('reads our own RSS, and null for a process that does not exist', () => {
    expect(readRssBytes(process.pid)).toBeGreaterThan(10 * 1024 * 1024);
    expect(readRssBytes(2 ** 22 + 1)).toBeNull();
  });
});

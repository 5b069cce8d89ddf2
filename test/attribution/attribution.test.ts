// Whose memory it is: the /proc readers (Pss from smaps_rollup, the statm fallback, a process that
// vanishes mid-read) over a fake /proc laid out like the real one, and the pure grouping into
// the agent, its child subtrees, memgov and the rest.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  parsePidList,
  parsePssBytes,
  parseStatmRssBytes,
  parseStatRssBytes,
  readCgroupProcesses,
} from '../../adapters/proc-memory.ts';
import { attribute, type ProcessShare } from '../../machines/attribution.ts';
import { attributeReading, largestTool } from '../../actors/attribution.ts';
import { memoryLog } from '../../actors/log.ts';
import { DEFAULT_POLICY } from '../../machines/config.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** A real smaps_rollup head (kernel 5.15), Rss and Pss in kB. */
function smapsRollup(pssKiB: number): string {
  return [
    '55d0c1a00000-7ffc3a7f2000 ---p 00000000 00:00 0                          [rollup]',
    `Rss:              ${pssKiB + 100} kB`,
    `Pss:              ${pssKiB} kB`,
    'Pss_Anon:           1200 kB',
    'Shared_Clean:       1000 kB',
    '',
  ].join('\n');
}

/**
 * A /proc/PID/stat line with the fields memgov reads (ppid, pgrp, starttime, rss) in place;
 * `rssPages` null cuts the line after starttime (no rss field: the statm fallback).
 */
function statLine(
  pid: number,
  comm: string,
  ppid: number,
  pgrp: number,
  rssPages: number | null = 300,
): string {
  const after = ['S', ppid, pgrp, pgrp, 0, -1, 4194560, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0, 1000];
  const tail = rssPages === null ? [] : [10_000, rssPages, '18446744073709551615', 1, 1];
  return `${pid} (${comm}) ${[...after, ...tail].join(' ')}\n`;
}

describe('parsers', () => {
  it('reads Pss in kB as bytes, and statm resident pages times the page size', () => {
    expect(parsePssBytes(smapsRollup(2048))).toBe(2048 * KIB);
    expect(parsePssBytes('Rss: 12 kB\n')).toBeNull();
    expect(parseStatmRssBytes('2000 512 100 10 0 300 0\n')).toBe(512 * 4096);
    expect(parseStatmRssBytes('2000 512 100 10 0 300 0\n', 65536)).toBe(512 * 65536);
    expect(parseStatmRssBytes('garbage\n')).toBeNull();
    expect(parseStatRssBytes(statLine(5, 'a) (b', 1, 5, 77))).toBe(77 * 4096);
    expect(parseStatRssBytes(statLine(5, 'x', 1, 5, null))).toBeNull();
    expect(parsePidList('12\n7\n12\n\nx\n')).toEqual([12, 7]);
  });
});

describe('readCgroupProcesses over a fake /proc', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function fakeProc(
    processes: readonly { pid: number; stat: string; pssKiB?: number; statmPages?: number }[],
  ): { procRoot: string; cgroup: string } {
    root = mkdtempSync(join(tmpdir(), 'memgov-attr-'));
    const procRoot = join(root, 'proc');
    const cgroup = join(root, 'cgroup');
    mkdirSync(cgroup, { recursive: true });
    for (const p of processes) {
      const dir = join(procRoot, String(p.pid));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'stat'), p.stat);
      if (p.pssKiB !== undefined) writeFileSync(join(dir, 'smaps_rollup'), smapsRollup(p.pssKiB));
      if (p.statmPages !== undefined)
        writeFileSync(join(dir, 'statm'), `9000 ${p.statmPages} 10 1 0 20 0\n`);
    }
    return { procRoot, cgroup };
  }

  it('reads Pss, falls back to the Rss of stat, then statm; a process vanished mid-read is left out', () => {
    const { procRoot, cgroup } = fakeProc([
      { pid: 10, stat: statLine(10, 'agent', 1, 10), pssKiB: 4096 },
      { pid: 11, stat: statLine(11, 'old kernel', 10, 11, null), statmPages: 256 },
      { pid: 13, stat: statLine(13, 'no rollup', 10, 13, 300) },
      // 12 is listed in cgroup.procs but has no /proc entry: it exited between the two reads.
    ]);
    writeFileSync(join(cgroup, 'cgroup.procs'), '10\n11\n12\n13\n');
    const read = readCgroupProcesses(cgroup, procRoot)._unsafeUnwrap();
    expect(read).toEqual([
      {
        pid: 10,
        ppid: 1,
        pgrp: 10,
        startTicks: 1000,
        comm: 'agent',
        bytes: 4 * MIB,
        source: 'pss',
      },
      {
        pid: 11,
        ppid: 10,
        pgrp: 11,
        startTicks: 1000,
        comm: 'old kernel',
        bytes: 256 * 4096,
        source: 'rss',
      },
      expect.objectContaining({ pid: 13, bytes: 300 * 4096, source: 'rss' }),
    ]);
    // The cheap pass: no smaps_rollup read, Rss for all.
    const cheap = readCgroupProcesses(cgroup, procRoot, { pss: false })._unsafeUnwrap();
    expect(cheap.map((p) => [p.pid, p.bytes])).toEqual([
      [10, 300 * 4096],
      [11, 256 * 4096],
      [13, 300 * 4096],
    ]);
  });

  it('keeps a hostile comm (spaces, parentheses, a newline) whole', () => {
    const hostile = 'a) (b\nc) 9';
    const { procRoot, cgroup } = fakeProc([
      { pid: 20, stat: statLine(20, hostile, 1, 20), pssKiB: 1 },
    ]);
    writeFileSync(join(cgroup, 'cgroup.procs'), '20\n');
    expect(readCgroupProcesses(cgroup, procRoot)._unsafeUnwrap()[0]?.comm).toBe(hostile);
  });

  it('an unreadable process list is an error value naming the file', () => {
    const { procRoot, cgroup } = fakeProc([]);
    const read = readCgroupProcesses(join(cgroup, 'gone'), procRoot);
    expect(read._unsafeUnwrapErr()).toMatch(/gone\/cgroup\.procs: /);
  });
});

describe('attribute (pure)', () => {
  const p = (pid: number, ppid: number, pgrp: number, mib: number, comm = `p${pid}`) =>
    ({ pid, ppid, pgrp, startTicks: pid * 10, comm, bytes: mib * MIB }) satisfies ProcessShare;

  it('groups the agent, each child subtree (own group or not), memgov and the rest', () => {
    const processes = [
      p(1, 0, 1, 5, 'memgov'),
      p(2, 1, 2, 100, 'agent'),
      p(3, 2, 3, 50, 'npm'), // its own group
      p(4, 3, 3, 300, 'node'), // the build under npm
      p(5, 4, 9, 20, 'esbuild'), // a grandchild in yet another group: still the npm subtree
      p(6, 2, 2, 40, 'bash'), // in the agent's own group
      p(7, 1, 1, 8, 'tmux'), // memgov's other child: the rest
      p(8, 99, 8, 2, 'orphan'), // reparented away: the rest
    ];
    const result = attribute(processes, 2, 1);
    expect(result.agentBytes).toBe(100 * MIB);
    expect(result.memgovBytes).toBe(5 * MIB);
    expect(result.restBytes).toBe(10 * MIB);
    expect(result.tools).toEqual([
      { pid: 3, pgid: 3, startTicks: 30, bytes: 370 * MIB, command: 'npm' },
      { pid: 6, pgid: 2, startTicks: 60, bytes: 40 * MIB, command: 'bash' },
    ]);
  });

  it('no agent known, or the agent not in the cgroup: no tools, all but memgov is the rest', () => {
    const processes = [p(1, 0, 1, 5), p(2, 1, 2, 100), p(3, 2, 3, 50)];
    for (const agentPid of [null, 42]) {
      const result = attribute(processes, agentPid, 1);
      expect(result.tools).toEqual([]);
      expect(result.restBytes).toBe(150 * MIB);
    }
  });

  it('never counts memgov inside a subtree, even if it runs under the agent', () => {
    const result = attribute([p(2, 1, 2, 10), p(3, 2, 3, 10), p(4, 3, 3, 10)], 2, 4);
    expect(result.tools).toEqual([
      { pid: 3, pgid: 3, startTicks: 30, bytes: 10 * MIB, command: 'p3' },
    ]);
    expect(result.memgovBytes).toBe(10 * MIB);
  });
});

describe('attributeReading (the sampler port)', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads nothing below compactAt; at or above it names the largest subtree by Pss', () => {
    root = mkdtempSync(join(tmpdir(), 'memgov-attr-'));
    const procRoot = join(root, 'proc');
    const cgroup = join(root, 'cgroup');
    mkdirSync(cgroup);
    const add = (pid: number, ppid: number, pgrp: number, pssKiB: number, rssPages: number) => {
      mkdirSync(join(procRoot, String(pid)), { recursive: true });
      writeFileSync(
        join(procRoot, String(pid), 'stat'),
        statLine(pid, `c${pid}`, ppid, pgrp, rssPages),
      );
      writeFileSync(join(procRoot, String(pid), 'smaps_rollup'), smapsRollup(pssKiB));
    };
    add(10, 1, 10, 50 * 1024, 12_800); // the agent: 50 MiB
    add(11, 10, 11, 20 * 1024, 51_200); // Rss 200 MiB, but mostly shared: Pss 20 MiB
    add(12, 10, 12, 150 * 1024, 40_000); // Rss 156 MiB, Pss 150 MiB: the real hog
    writeFileSync(join(cgroup, 'cgroup.procs'), '10\n11\n12\n');
    const reading = (ratio: number) => ({
      version: 1 as const,
      dir: cgroup,
      currentBytes: ratio * 1000,
      inactiveFileBytes: 0,
      workingSetBytes: ratio * 1000,
      limitBytes: 1000,
      limitSource: 'max' as const,
      oomKills: 0,
    });
    const log = memoryLog();
    const ports = { policy: DEFAULT_POLICY, agentPid: () => 10, memgovPid: 1, procRoot, log };
    expect(attributeReading(reading(0.69), ports)).toBeNull();
    expect(largestTool(ports)(reading(0.7))).toEqual({
      pid: 12,
      pgid: 12,
      startTicks: 1000,
      bytes: 150 * MIB,
      command: 'c12',
    });
  });
});

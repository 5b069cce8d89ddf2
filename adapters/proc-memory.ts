// Whose memory it is (docs/DESIGN.md#whose-memory-it-is): the processes of a cgroup and what
// each holds, read from /proc. Pss from /proc/PID/smaps_rollup (shared pages split among their
// sharers, so the parts add up to about the whole); where that file is missing (kernels before
// 4.14) or unreadable, Rss in pages times the page size: from /proc/PID/stat (field 24, the count
// statm's second field gives too, so one read per process yields tree, group, start time and
// Rss), else from statm. smaps_rollup walks every mapping of the process and costs ~50x a stat
// read (docs/BENCHMARKS.md), so a pass may read Rss for all and Pss only for the processes that
// decide (`pss: false`, then readPssBytes). A process
// that exits while it is read is normal and simply left out. Parsers are pure; /proc sits behind
// a movable root.
import { readdirSync, readFileSync } from 'node:fs';
import { err, ok, type Result } from 'neverthrow';
import { errnoSummary } from './errno.ts';
import type { ProcessShare } from '../lib/process-share.ts';
import { parseProcStat } from './proc.ts';

/** One process of the cgroup with the bytes it holds. */
export interface ProcessMemory extends ProcessShare {
  /** pss: from smaps_rollup; rss: the stat or statm fallback. */
  readonly source: 'pss' | 'rss';
}

/**
 * Node cannot call sysconf(_SC_PAGESIZE); 4 KiB is the page of x86-64 and of the arm64 kernels
 * the pods we target run. Only the Rss fallbacks use it.
 */
export const PAGE_BYTES = 4096;

const DEFAULT_PROC_ROOT = '/proc';

/** The `Pss:` line of a smaps_rollup text, in bytes; null when absent. */
export function parsePssBytes(smapsRollupText: string): number | null {
  const match = /^Pss:\s+(\d+) kB$/m.exec(smapsRollupText);
  return match?.[1] === undefined ? null : Number(match[1]) * 1024;
}

/** The resident pages (second field) of a statm text, in bytes; null when garbled. */
export function parseStatmRssBytes(statmText: string, pageBytes = PAGE_BYTES): number | null {
  const match = /^\d+ (\d+)(?: \d+)*\s*$/.exec(statmText);
  return match?.[1] === undefined ? null : Number(match[1]) * pageBytes;
}

/** Fields after the comm: state is field 3, so rss (field 24) is the 22nd. */
const RSS_INDEX_AFTER_COMM = 21;

/** Rss (field 24, pages) of a /proc/PID/stat text, in bytes; null when absent or garbled. */
export function parseStatRssBytes(statText: string, pageBytes = PAGE_BYTES): number | null {
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  const pages = fields[RSS_INDEX_AFTER_COMM]?.trim() ?? '';
  return /^\d{1,15}$/.test(pages) ? Number(pages) * pageBytes : null;
}

/** The pids in a cgroup.procs (or tasks) text: one decimal per line, duplicates dropped. */
export function parsePidList(text: string): number[] {
  const pids = new Set<number>();
  for (const line of text.split('\n')) {
    if (/^\d{1,10}$/.test(line.trim())) pids.add(Number(line.trim()));
  }
  return [...pids];
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Whether `pid` leads its thread group (`Tgid:` in its status): v1's tasks lists threads too. */
function leadsThreadGroup(pid: number, procRoot: string): boolean {
  const status = readText(`${procRoot}/${pid}/status`);
  return status !== null && new RegExp(`^Tgid:\\s+${pid}$`, 'm').test(status);
}

/** The process's Pss in bytes (smaps_rollup); null when gone or the file is missing. */
export function readPssBytes(pid: number, procRoot: string = DEFAULT_PROC_ROOT): number | null {
  const rollup = readText(`${procRoot}/${pid}/smaps_rollup`);
  return rollup === null ? null : parsePssBytes(rollup);
}

/** The bytes a process holds: Pss (if asked), else Rss from stat, else statm; null if gone. */
function memoryOf(
  pid: number,
  procRoot: string,
  withPss: boolean,
  statText: string,
): { bytes: number; source: 'pss' | 'rss' } | null {
  const pss = withPss ? readPssBytes(pid, procRoot) : null;
  if (pss !== null) return { bytes: pss, source: 'pss' };
  const fromStat = parseStatRssBytes(statText);
  if (fromStat !== null) return { bytes: fromStat, source: 'rss' };
  const statm = readText(`${procRoot}/${pid}/statm`);
  const rss = statm === null ? null : parseStatmRssBytes(statm);
  return rss === null ? null : { bytes: rss, source: 'rss' };
}

/** One process's stat and memory; null when it exited while being read (or is a zombie). */
export function readProcessMemory(
  pid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
  withPss = true,
): ProcessMemory | null {
  const statText = readText(`${procRoot}/${pid}/stat`);
  const stat = statText === null ? null : parseProcStat(statText);
  if (statText === null || stat === null || stat.isErr()) return null;
  if (stat.value.pid !== pid || stat.value.state === 'Z' || stat.value.state === 'X') return null;
  const memory = memoryOf(pid, procRoot, withPss, statText);
  if (memory === null) return null;
  const { ppid, pgrp, startTicks, comm } = stat.value;
  return { pid, ppid, pgrp, startTicks, comm, ...memory };
}

/**
 * The processes of the cgroup directory `dir` (cgroup.procs, else v1's tasks) with what each
 * holds (Pss, or with `pss: false` Rss only). An unreadable process list is an error; a process
 * that vanishes mid-read is left out.
 */
export function readCgroupProcesses(
  dir: string,
  procRoot: string = DEFAULT_PROC_ROOT,
  options: { readonly pss?: boolean } = {},
): Result<ProcessMemory[], string> {
  let pids: number[];
  try {
    pids = parsePidList(readFileSync(`${dir}/cgroup.procs`, 'utf8'));
  } catch (error) {
    const tasks = readText(`${dir}/tasks`);
    if (tasks === null) return err(`${dir}/cgroup.procs: ${errnoSummary(error)}`);
    pids = parsePidList(tasks).filter((tid) => leadsThreadGroup(tid, procRoot));
  }
  const processes: ProcessMemory[] = [];
  for (const pid of pids) {
    const read = readProcessMemory(pid, procRoot, options.pss ?? true);
    if (read !== null) processes.push(read);
  }
  return ok(processes);
}

/**
 * Every process under `procRoot` (its numeric entries) with its Rss: the table the stop-tool
 * rung walks for a subtree at the moment it acts. Processes that exit meanwhile are left out.
 */
export function readProcessTable(procRoot: string = DEFAULT_PROC_ROOT): ProcessMemory[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    if (!/^\d{1,10}$/.test(name)) return [];
    return readProcessMemory(Number(name), procRoot, false) ?? [];
  });
}

// The processes memgov may signal (docs/DESIGN.md#agents-and-transports): a PID is adopted once with its start time, and
// every signal re-reads /proc/PID/stat first, so a PID the kernel has handed to another process
// is never signalled. Parsing is pure (`parseProcStat`); /proc sits behind a movable root so tests
// use a fake tree. The window between the re-read and kill(2) is microseconds; closing it fully
// needs pidfd_send_signal, which Node does not expose.
import { readFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { err, ok, type Result } from 'neverthrow';
import { quoteValue } from '../lib/quote.ts';
import { errnoCode, errnoSummary } from './errno.ts';

/** The fields of /proc/PID/stat that memgov uses. */
export interface ProcStat {
  readonly pid: number;
  /** The command name as the kernel keeps it: up to 15 bytes, any character but NUL. */
  readonly comm: string;
  /** One letter: R running, S sleeping, D disk wait, Z zombie, T stopped, X dead, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** Field 22: clock ticks after boot at which the process started; with pid, unique. */
  readonly startTicks: number;
}

export interface ProcError {
  /** gone: no such process (or only its zombie); garbled: unparsable stat; io: anything else. */
  readonly kind: 'gone' | 'garbled' | 'io';
  readonly pid: number;
  readonly detail: string;
}

/** What memgov records when it adopts an agent PID. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: number;
  readonly pgrp: number;
}

export type SignalName = 'SIGTERM' | 'SIGKILL' | 'SIGINT';

/** recycled: the PID now names another process; refused: memgov will not signal that target. */
export type SignalError =
  | ProcError
  | { readonly kind: 'recycled'; readonly pid: number; readonly detail: string }
  | { readonly kind: 'refused'; readonly pid: number; readonly detail: string };

/** sent-group: kill(-pgrp), the target led its group; sent-pid: kill(pid) alone. */
export type SignalOutcome = 'sent-group' | 'sent-pid';

export interface SignalOptions {
  /** Signal the target's whole process group when it leads one. */
  readonly group: boolean;
  /** Stands in for /proc (tests point it at a fake tree). Default `/proc`. */
  readonly procRoot?: string;
  /** Delivers the signal; default `process.kill`. Tests pass a recorder. */
  readonly kill?: (pid: number, signal: SignalName) => void;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollMs: number;
}

const DEFAULT_PROC_ROOT = '/proc';
/** Fields after the comm: state is field 3, so starttime (field 22) is the 20th. */
const FIELDS_AFTER_COMM = 20;
const STATE_INDEX = 0;
const PPID_INDEX = 1;
const PGRP_INDEX = 2;
const SESSION_INDEX = 3;
const STARTTIME_INDEX = 19;

function unsignedField(fields: readonly string[], index: number): number | undefined {
  const text = fields[index];
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Parses the text of /proc/PID/stat: `pid (comm) state ppid pgrp session ... starttime ...`.
 * The comm may hold spaces, parentheses and newlines, but nothing after it holds `)`: the comm
 * ends at the last `)`. Never throws; anything else is `garbled`.
 */
export function parseProcStat(text: string): Result<ProcStat, ProcError> {
  const garbled = (pid: number, why: string): Result<ProcStat, ProcError> =>
    err({ kind: 'garbled', pid, detail: `${why}: ${quoteValue(text)}` });
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  const pidText = open === -1 ? '' : text.slice(0, open);
  const pid = /^\d{1,10}$/.test(pidText) ? Number(pidText) : 0;
  if (pid === 0) return garbled(0, 'no "PID (" at the start');
  if (close < open + 2) return garbled(pid, 'no ")" closing the command name');
  const rest = text.slice(close + 1).replace(/\n$/, '');
  if (!rest.startsWith(' ')) return garbled(pid, 'no space after the command name');
  const fields = rest.slice(1).split(' ');
  if (fields.length < FIELDS_AFTER_COMM) {
    return garbled(pid, `${fields.length + 2} fields, starttime is field 22`);
  }
  const state = fields[STATE_INDEX] ?? '';
  if (!/^[A-Za-z]$/.test(state)) return garbled(pid, 'the state is not one letter');
  const ppid = unsignedField(fields, PPID_INDEX);
  const pgrp = unsignedField(fields, PGRP_INDEX);
  const session = unsignedField(fields, SESSION_INDEX);
  const startTicks = unsignedField(fields, STARTTIME_INDEX);
  if (ppid === undefined || pgrp === undefined || session === undefined) {
    return garbled(pid, 'ppid, pgrp or session is not a number');
  }
  if (startTicks === undefined) return garbled(pid, 'starttime (field 22) is not a number');
  return ok({ pid, comm: text.slice(open + 2, close), state, ppid, pgrp, session, startTicks });
}

function isPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 0;
}

/** Reads and parses `<procRoot>/PID/stat`; a missing entry (or an exited process) is `gone`. */
export function readProcStat(
  pid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): Result<ProcStat, ProcError> {
  if (!isPid(pid)) return err({ kind: 'gone', pid, detail: `${pid} is not a process id` });
  const file = `${procRoot}/${pid}/stat`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = errnoCode(error);
    // ESRCH: the process exited between open and read.
    return err(
      code === 'ENOENT' || code === 'ESRCH'
        ? { kind: 'gone', pid, detail: `${file}: no such process` }
        : { kind: 'io', pid, detail: `${file}: ${errnoSummary(error)}` },
    );
  }
  return parseProcStat(text)
    .mapErr((e) => ({ ...e, pid, detail: `${file}: ${e.detail}` }))
    .andThen((stat) =>
      stat.pid === pid
        ? ok(stat)
        : err({ kind: 'garbled' as const, pid, detail: `${file}: names pid ${stat.pid}` }),
    );
}

/** Adopts a PID: its start time and process group, read once from /proc. */
export function identify(
  pid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): Result<ProcessIdentity, ProcError> {
  return readProcStat(pid, procRoot).map((stat) => ({
    pid: stat.pid,
    startTicks: stat.startTicks,
    pgrp: stat.pgrp,
  }));
}

/** memgov's own process group, from the real /proc (Node has no getpgrp); read each time. */
function ownProcessGroup(): number | undefined {
  return readProcStat(process.pid).match(
    (stat) => stat.pgrp,
    () => undefined,
  );
}

function refused(pid: number, detail: string): Result<SignalOutcome, SignalError> {
  return err({ kind: 'refused', pid, detail });
}

/**
 * Sends `signal` to an adopted process after re-reading its /proc entry: refused for pid <= 1,
 * memgov itself and memgov's own process group; `recycled` when the start time differs; `gone`
 * when it exited. With `group`, a group leader gets kill(-pgrp), any other process kill(pid).
 * Never throws.
 */
export function signalVerified(
  identity: ProcessIdentity,
  signal: SignalName,
  options: SignalOptions,
): Result<SignalOutcome, SignalError> {
  const { pid } = identity;
  if (!isPid(pid) || pid <= 1) return refused(pid, `pid ${pid} is never signalled`);
  if (pid === process.pid) return refused(pid, 'that is memgov itself');
  const stat = readProcStat(pid, options.procRoot ?? DEFAULT_PROC_ROOT);
  if (stat.isErr()) return err(stat.error);
  const now = stat.value;
  if (now.startTicks !== identity.startTicks) {
    return err({
      kind: 'recycled',
      pid,
      detail: `pid ${pid} started at tick ${now.startTicks}, the adopted process at ${identity.startTicks}: another process owns the pid now`,
    });
  }
  // Group membership is read now, not at adoption: the process may have called setpgid since.
  const leadsGroup = now.pgrp === pid;
  const toGroup = options.group && leadsGroup;
  // A zombie leader still holds its pgid, so its group cannot be recycled and may hold live
  // members; a zombie signalled alone would ignore the signal.
  if (now.state === 'Z' && !toGroup) {
    return err({ kind: 'gone', pid, detail: `pid ${pid} has exited (a zombie not yet reaped)` });
  }
  if (toGroup) {
    const own = ownProcessGroup();
    if (own === undefined) return refused(pid, 'memgov cannot read its own process group');
    if (own === now.pgrp) return refused(pid, `process group ${now.pgrp} is memgov's own`);
  }
  const target = toGroup ? -now.pgrp : pid;
  try {
    (options.kill ?? ((p: number, s: SignalName) => process.kill(p, s)))(target, signal);
  } catch (error) {
    return err(
      errnoCode(error) === 'ESRCH'
        ? { kind: 'gone', pid, detail: `pid ${pid} exited before ${signal} reached it` }
        : { kind: 'io', pid, detail: `kill(${target}, ${signal}): ${errnoSummary(error)}` },
    );
  }
  return ok(toGroup ? 'sent-group' : 'sent-pid');
}

/**
 * Whether the process is no more: gone, a zombie, dead, or (when its start time is given) its pid
 * now names another process. An unreadable or garbled /proc entry says nothing: false.
 */
export function hasExited(
  identity: { readonly pid: number; readonly startTicks?: number },
  procRoot: string = DEFAULT_PROC_ROOT,
): boolean {
  return readProcStat(identity.pid, procRoot).match(
    (stat) =>
      (identity.startTicks !== undefined && stat.startTicks !== identity.startTicks) ||
      stat.state === 'Z' ||
      stat.state === 'X',
    // io or garbled says nothing about the process: keep waiting.
    (e) => e.kind === 'gone',
  );
}

/**
 * Polls /proc every `pollMs` until the adopted process has exited (a zombie counts: it runs no
 * more) or `timeoutMs` has passed. Resolves, never rejects.
 */
export async function waitForExit(
  identity: ProcessIdentity,
  options: WaitOptions,
  procRoot: string = DEFAULT_PROC_ROOT,
): Promise<'exited' | 'timeout'> {
  const deadline = performance.now() + Math.max(0, options.timeoutMs);
  const pollMs = Math.max(1, options.pollMs);
  for (;;) {
    if (hasExited(identity, procRoot)) return 'exited';
    const leftMs = deadline - performance.now();
    if (leftMs <= 0) return 'timeout';
    await sleep(Math.min(pollMs, leftMs));
  }
}

/** One line: `pid 123 recycled: ...`. */
export function formatProcError(e: SignalError): string {
  return `pid ${e.pid} ${e.kind}: ${e.detail}`;
}

/** Resident memory from a /proc/PID/status text (`VmRSS:  123456 kB`), in bytes; null if absent. */
export function parseVmRssBytes(statusText: string): number | null {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  return match?.[1] === undefined ? null : Number(match[1]) * 1024;
}

/** The process's resident memory now, in bytes; null when it is gone or the file is unreadable. */
export function readRssBytes(pid: number, procRoot: string = DEFAULT_PROC_ROOT): number | null {
  try {
    return parseVmRssBytes(readFileSync(`${procRoot}/${pid}/status`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Clock ticks per second of field 22 of /proc/PID/stat (USER_HZ). Node cannot call sysconf; the
 * kernel fixes USER_HZ at 100 on every architecture Node supports.
 */
const USER_HZ = 100;

/** The boot time (`btime`, seconds since the epoch) from a /proc/stat text; null if absent. */
export function parseBootTimeSec(statText: string): number | null {
  const match = /^btime (\d+)$/m.exec(statText);
  return match?.[1] === undefined ? null : Number(match[1]);
}

/**
 * When the process started, in ms since the epoch, to within a second (btime has whole seconds);
 * null when /proc/stat cannot be read.
 */
export function startedAtMs(
  identity: ProcessIdentity,
  procRoot: string = DEFAULT_PROC_ROOT,
): number | null {
  let bootSec: number | null;
  try {
    bootSec = parseBootTimeSec(readFileSync(`${procRoot}/stat`, 'utf8'));
  } catch {
    return null;
  }
  return bootSec === null ? null : bootSec * 1000 + (identity.startTicks * 1000) / USER_HZ;
}

/** The boot time (`btime`, seconds since the epoch) from `<procRoot>/stat`; null when unreadable. */
export async function readBootTimeSec(
  procRoot: string = DEFAULT_PROC_ROOT,
): Promise<number | null> {
  const text = await readFile(`${procRoot}/stat`, 'utf8').catch(() => null);
  return text === null ? null : parseBootTimeSec(text);
}

/** The working directory of `pid` (the `<procRoot>/PID/cwd` link); gone when there is no such process. */
export async function readProcessCwd(
  pid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): Promise<Result<string, ProcError>> {
  const link = `${procRoot}/${pid}/cwd`;
  try {
    return ok(await readlink(link));
  } catch (error) {
    return err(
      errnoCode(error) === 'ENOENT'
        ? { kind: 'gone', pid, detail: `${link}: no such process` }
        : { kind: 'io', pid, detail: `${link}: ${errnoSummary(error)}` },
    );
  }
}

/** The argv of `pid` (`<procRoot>/PID/cmdline`, NUL-separated); gone when there is no such process. */
export async function readProcessArgv(
  pid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): Promise<Result<string[], ProcError>> {
  const file = `${procRoot}/${pid}/cmdline`;
  try {
    return ok((await readFile(file, 'utf8')).split('\0').filter((arg) => arg !== ''));
  } catch (error) {
    return err(
      errnoCode(error) === 'ENOENT'
        ? { kind: 'gone', pid, detail: `${file}: no such process` }
        : { kind: 'io', pid, detail: `${file}: ${errnoSummary(error)}` },
    );
  }
}

/** How a file written by a process was tied to the live process that now holds its pid. */
export type Ownership =
  | { readonly owned: true; readonly verifiedBy: 'procStart' | 'fileTime' | 'unverified' }
  | { readonly owned: false; readonly detail: string };

/** A file written more than this before its process started is another process's. */
const FILE_TIME_SLACK_MS = 2_000;

/**
 * Whether a file a process wrote about itself belongs to the live process `identity`, so that a
 * pid the kernel has handed to another process never matches: a numeric `procStart` (the start
 * ticks the writer recorded) must equal the identity's; without one the file must not predate the
 * process (boot time from `<procRoot>/stat` + start ticks / `ticksPerSec`, 2 s of slack).
 */
export async function fileOwnership(
  identity: ProcessIdentity,
  file: { readonly procStart: string | null; readonly mtimeMs: number },
  options: { readonly procRoot?: string; readonly ticksPerSec?: number } = {},
): Promise<Ownership> {
  if (file.procStart !== null && /^\d{1,16}$/.test(file.procStart)) {
    const ticks = Number(file.procStart);
    if (ticks === identity.startTicks) return { owned: true, verifiedBy: 'procStart' };
    return {
      owned: false,
      detail: `procStart ${ticks}, the process started at tick ${identity.startTicks}`,
    };
  }
  const bootSec = await readBootTimeSec(options.procRoot ?? DEFAULT_PROC_ROOT);
  if (bootSec === null) return { owned: true, verifiedBy: 'unverified' };
  const startedMs = (bootSec + identity.startTicks / (options.ticksPerSec ?? USER_HZ)) * 1000;
  if (file.mtimeMs + FILE_TIME_SLACK_MS >= startedMs)
    return { owned: true, verifiedBy: 'fileTime' };
  const written = new Date(file.mtimeMs).toISOString();
  return {
    owned: false,
    detail: `written at ${written}, before the process started (${new Date(startedMs).toISOString()})`,
  };
}

/**
 * The paths `pid` holds open (the `<procRoot>/PID/fd/*` links that name files; sockets, pipes and
 * anonymous inodes are left out). Gone when there is no such process; fds closed while read are
 * skipped.
 */
export async function readOpenPaths(
  pid: number,
  procRoot: string = DEFAULT_PROC_ROOT,
): Promise<Result<string[], ProcError>> {
  const dir = `${procRoot}/${pid}/fd`;
  let fds: string[];
  try {
    fds = await readdir(dir);
  } catch (error) {
    return err(
      errnoCode(error) === 'ENOENT'
        ? { kind: 'gone', pid, detail: `${dir}: no such process` }
        : { kind: 'io', pid, detail: `${dir}: ${errnoSummary(error)}` },
    );
  }
  const links = await Promise.all(fds.map((fd) => readlink(`${dir}/${fd}`).catch(() => '')));
  return ok(links.filter((link) => link.startsWith('/')));
}

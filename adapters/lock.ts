// Single instance (docs/DESIGN.md#persistence): a lock file next to the state file. Whoever creates it with
// O_EXCL owns it; it records `{"pid","startedAtMs","procStart"}`, procStart being field 22 of
// /proc/<pid>/stat, so a PID the kernel has handed to another process is not taken for the owner.
//
// A lock whose owner is dead is taken over. Deleting a file "if it still holds what I read" is not
// atomic, so a takeover is serialised by a guard file named after the exact content judged stale
// (`<lock>.takeover-<sha256 prefix>`, created with O_EXCL). The guard's holder re-reads the lock,
// renames it to `<lock>.stale-<pid>-<random>`, checks it moved the file it judged (content and
// inode), deletes it, and then competes with O_EXCL like everyone else. Without the guard, two
// processes that judged the same stale file could each rename "it": the second rename would move
// the first one's fresh lock aside, and a third process could create a lock before it was put
// back, leaving two owners (seen in 2 of 30 races of 8 processes over a stale lock). With it, only
// the guard's holder moves a lock, and only after judging it stale again while holding the guard.
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { sha256Hex } from '../lib/sha256.ts';
import { closeQuietly, errnoCode, errnoSummary, sleepSync, unlinkQuietly } from './errno.ts';
import { randomHex } from './random.ts';
import { readProcStat } from './proc.ts';
import { makePrivateDirectory } from './state-file.ts';

export type LockError =
  | { readonly kind: 'held'; readonly path: string; readonly ownerPid: number }
  | {
      readonly kind: 'io' | 'symlink';
      readonly path: string;
      readonly detail: string;
      /** The errno code behind an io error (EROFS, ENOSPC...), when there was one. */
      readonly code?: string | null;
    };

export interface LockHandle {
  readonly path: string;
  readonly pid: number;
  /** Removes the lock file if it still holds what this handle wrote; never throws; idempotent. */
  release(): void;
}

export interface AcquireLockOptions {
  /** The pid recorded as owner. Default `process.pid`. */
  readonly pid?: number;
  /** Whether a pid is running. Default: `process.kill(pid, 0)` does not fail with ESRCH. */
  readonly isAlive?: (pid: number) => boolean;
  /** Stands in for /proc (tests point it at a fixture tree). Default `/proc`. */
  readonly procRoot?: string;
  /** The wall clock, for `startedAtMs` and the age of an unwritten lock. Default `Date.now`. */
  readonly nowMs?: () => number;
}

export function formatLockError(e: LockError): string {
  if (e.kind !== 'held') return `${e.path}: ${e.detail}`;
  return e.ownerPid > 0
    ? `${e.path}: another memgov (pid ${e.ownerPid}) holds the lock`
    : `${e.path}: another memgov holds the lock (its pid is not written yet)`;
}

/** The default liveness test: signal 0 checks existence; EPERM means alive under another user. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== 'ESRCH';
  }
}

/** An owner may be between creating the file and writing it: an empty file younger than this is
 * held. Writing takes microseconds; 10 s leaves room for a stopped or swapped-out process. */
const UNWRITTEN_GRACE_MS = 10_000;
/** Rounds of create / inspect / take over before giving up with `held`. */
const MAX_ATTEMPTS = 5;
/** How deep to go taking over guards left by processes that died mid-takeover. */
const MAX_GUARD_DEPTH = 2;

interface LockRecord {
  readonly pid: number;
  readonly procStart: number | null;
}

interface Context {
  readonly pid: number;
  readonly isAlive: (pid: number) => boolean;
  readonly procRoot: string;
  readonly nowMs: () => number;
  /** The exact text this process writes into the lock (and into any guard it takes). */
  readonly content: string;
}

/** A file as inspected: what it held and which file it was. */
interface Seen {
  readonly content: string;
  readonly ino: number;
  readonly mtimeMs: number;
}

type Verdict = { readonly live: true; readonly ownerPid: number } | { readonly live: false };

type Removal =
  { readonly kind: 'removed' | 'changed' } | { readonly kind: 'busy'; readonly ownerPid: number };

function ioError(path: string, what: string, error: unknown): LockError {
  return { kind: 'io', path, detail: `${what}: ${errnoSummary(error)}`, code: errnoCode(error) };
}

/** The two fields the lock needs from /proc/<pid>/stat, or undefined when gone or garbled. */
function procStateOf(
  procRoot: string,
  pid: number,
): { state: string; startTime: number } | undefined {
  return readProcStat(pid, procRoot).match(
    (stat) => ({ state: stat.state, startTime: stat.startTicks }),
    () => undefined,
  );
}

function parseLockRecord(text: string): LockRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, procStart } = value as Record<string, unknown>;
  // pid 0 or negative would make kill(pid, 0) probe a process group: never a valid owner.
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, procStart: typeof procStart === 'number' ? procStart : null };
}

/** Live, or stale: the owner is dead, its PID now names another process, or it never wrote. */
function judge(seen: Seen, ctx: Context): Verdict {
  const record = parseLockRecord(seen.content);
  if (record === undefined) {
    return ctx.nowMs() - seen.mtimeMs < UNWRITTEN_GRACE_MS
      ? { live: true, ownerPid: 0 }
      : { live: false };
  }
  if (!ctx.isAlive(record.pid)) return { live: false };
  // Unreadable (no /proc, or the process just exited): trust isAlive; a retry will see it gone.
  const stat = procStateOf(ctx.procRoot, record.pid);
  if (stat !== undefined) {
    // A zombie still answers kill(pid, 0), and under a PID 1 that never reaps it stays one.
    if (stat.state === 'Z' || stat.state === 'X') return { live: false };
    if (record.procStart !== null && stat.startTime !== record.procStart) return { live: false };
  }
  return { live: true, ownerPid: record.pid };
}

const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Creates `path` holding `content` (true), or finds something already there (false). */
function createExclusive(path: string, content: string): Result<boolean, LockError> {
  let fd: number;
  try {
    fd = openSync(path, CREATE_FLAGS, 0o600);
  } catch (error) {
    return errnoCode(error) === 'EEXIST' ? ok(false) : err(ioError(path, 'cannot create', error));
  }
  let closed = false;
  try {
    fchmodSync(fd, 0o600); // exactly 0600, whatever the umask
    writeFileSync(fd, content);
    closed = true; // even a failing close releases the descriptor: never close it twice
    closeSync(fd);
    return ok(true);
  } catch (error) {
    if (!closed) closeQuietly(fd);
    unlinkQuietly(path); // ours: created with O_EXCL a moment ago
    return err(ioError(path, 'cannot write', error));
  }
}

/** What is at `path` (undefined when nothing is). A symbolic link is refused, never followed. */
function inspect(path: string): Result<Seen | undefined, LockError> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return ok(undefined);
    if (code === 'ELOOP') {
      return err({ kind: 'symlink', path, detail: 'is a symbolic link; refusing to follow it' });
    }
    return err(ioError(path, 'cannot open', error));
  }
  try {
    const { ino, mtimeMs } = fstatSync(fd);
    return ok({ content: readFileSync(fd, 'utf8'), ino, mtimeMs });
  } catch (error) {
    return err(ioError(path, 'cannot read', error));
  } finally {
    closeQuietly(fd);
  }
}

/** Removes `path` if it still holds exactly `content`. Only for files this process wrote. */
function removeIfOurs(path: string, content: string): void {
  const seen = inspect(path);
  if (seen.isOk() && seen.value?.content === content) unlinkQuietly(path);
}

function sameFile(a: Seen, b: Seen): boolean {
  return a.content === b.content && a.ino === b.ino;
}

/** Holding the guard for `seen`: re-checks the file, moves it aside, checks what moved, deletes. */
function moveStaleAside(path: string, seen: Seen, ctx: Context): Result<Removal, LockError> {
  const again = inspect(path);
  if (again.isErr()) return err(again.error);
  const current = again.value;
  if (current === undefined || !sameFile(current, seen) || judge(current, ctx).live) {
    return ok({ kind: 'changed' });
  }
  const aside = `${path}.stale-${ctx.pid}-${randomHex(4)}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return ok({ kind: 'changed' });
    return err(ioError(path, 'cannot move the stale lock aside', error));
  }
  const moved = inspect(aside);
  if (moved.isErr()) return err(moved.error);
  if (moved.value === undefined) return ok({ kind: 'changed' });
  if (sameFile(moved.value, seen)) {
    unlinkQuietly(aside);
    return ok({ kind: 'removed' });
  }
  // Not what was judged stale (the guard should make this impossible): put it back, without
  // overwriting a lock created since.
  try {
    linkSync(aside, path);
    unlinkSync(aside);
    return ok({ kind: 'changed' });
  } catch (error) {
    return err(ioError(path, `moved a live lock to ${aside} and cannot put it back`, error));
  }
}

/** Takes over the stale file `seen` at `path` if no one else is doing so right now. */
function removeStale(
  path: string,
  seen: Seen,
  ctx: Context,
  depth: number,
): Result<Removal, LockError> {
  const digest = sha256Hex(seen.content).slice(0, 16);
  const guardPath = `${path}.takeover-${digest}`;
  const created = createExclusive(guardPath, ctx.content);
  if (created.isErr()) return err(created.error);
  if (created.value) {
    try {
      return moveStaleAside(path, seen, ctx);
    } finally {
      removeIfOurs(guardPath, ctx.content);
    }
  }
  // Someone else is taking it over, or died doing so and left the guard behind.
  return inspect(guardPath).andThen((guard): Result<Removal, LockError> => {
    if (guard === undefined) return ok({ kind: 'changed' });
    const verdict = judge(guard, ctx);
    if (verdict.live) return ok({ kind: 'busy', ownerPid: verdict.ownerPid });
    if (depth >= MAX_GUARD_DEPTH) return ok({ kind: 'busy', ownerPid: 0 });
    return removeStale(guardPath, guard, ctx, depth + 1).map((removal) =>
      removal.kind === 'busy' ? removal : { kind: 'changed' },
    );
  });
}

/** Creates the lock's directory and missing parents, 0700 exactly (mkdir's mode meets the umask). */
function ensureDirectory(lockPath: string): Result<void, LockError> {
  const dir = resolve(dirname(lockPath));
  try {
    makePrivateDirectory(dir);
    return ok(undefined);
  } catch (error) {
    // mkdir -p over a file says EEXIST, which reads as if all were well.
    if (errnoCode(error) === 'EEXIST') {
      return err({ kind: 'io', path: lockPath, detail: `${dir} is not a directory` });
    }
    return err(ioError(lockPath, `cannot create its directory ${dir}`, error));
  }
}

function handleFor(path: string, pid: number, content: string): LockHandle {
  let released = false;
  return {
    path,
    pid,
    release: () => {
      if (released) return;
      released = true;
      removeIfOurs(path, content);
    },
  };
}

/**
 * Takes the single-instance lock at `lockPath`, taking over a lock whose owner is dead (or whose
 * PID was recycled). `held` names the live owner (0 while an owner has not written its pid yet).
 * A symbolic link at `lockPath` is refused; a missing directory is created (0700). Of any number
 * of concurrent callers, at most one wins.
 */
export function acquireLock(
  lockPath: string,
  options: AcquireLockOptions = {},
): Result<LockHandle, LockError> {
  const pid = options.pid ?? process.pid;
  const procRoot = options.procRoot ?? '/proc';
  const nowMs = options.nowMs ?? Date.now;
  const content = JSON.stringify({
    pid,
    startedAtMs: nowMs(),
    procStart: procStateOf(procRoot, pid)?.startTime ?? null,
  });
  const ctx: Context = {
    pid,
    isAlive: options.isAlive ?? isProcessAlive,
    procRoot,
    nowMs,
    content,
  };
  const directory = ensureDirectory(lockPath);
  if (directory.isErr()) return err(directory.error);
  let ownerPid = 0;
  for (let attempt = 1; ; attempt++) {
    const created = createExclusive(lockPath, content);
    if (created.isErr()) return err(created.error);
    if (created.value) return ok(handleFor(lockPath, pid, content));
    const seen = inspect(lockPath);
    if (seen.isErr()) return err(seen.error);
    if (seen.value !== undefined) {
      const verdict = judge(seen.value, ctx);
      if (verdict.live) return err({ kind: 'held', path: lockPath, ownerPid: verdict.ownerPid });
    }
    // Stop before a takeover, never after one: whoever removes a stale lock then tries to create.
    if (attempt >= MAX_ATTEMPTS) break;
    if (seen.value === undefined) continue;
    const removal = removeStale(lockPath, seen.value, ctx, 0);
    if (removal.isErr()) return err(removal.error);
    if (removal.value.kind === 'busy') {
      ownerPid = removal.value.ownerPid;
      // Synchronous caller; only a takeover in flight waits.
      sleepSync(2 * attempt);
    }
  }
  return err({ kind: 'held', path: lockPath, ownerPid });
}

/**
 * Where the companion lock of a state file lives: a tmpfs every process of the container shares
 * (the entrypoint loop's memgov and the postStart hook's), named after the state file's path.
 */
export function companionLockPath(stateFile: string, shmDir = '/dev/shm'): string {
  // sha256Hex, not node:crypto: the daemon takes this lock at start-up (lib/sha256.ts says why).
  const key = sha256Hex(resolve(stateFile)).slice(0, 16);
  return `${shmDir}/memgov-${key}.lock`;
}

/** Errors that say the state's storage cannot hold a file now, not that anything is wrong. */
const STORAGE_CODES: ReadonlySet<string> = new Set(['EROFS', 'ENOSPC', 'EDQUOT', 'EACCES']);

export interface InstanceLock extends LockHandle {
  /** Why the lock beside the state file could not be taken, when the companion alone guards. */
  readonly degraded: LockError | null;
}

/**
 * The single-instance lock of a daemon: `<stateFile>.lock` (docs/DESIGN.md#persistence) and a companion in
 * `shmDir`, both held. Every instance takes the companion first, so when the state's directory
 * is read-only or full and cannot hold a lock, or a link was planted at the lock's name, the
 * companion alone still keeps out a second governor, and memgov governs instead of exiting
 * (acting matters more than recording). Without
 * a usable `shmDir` the lock beside the state file alone decides, as before.
 */
export function acquireInstanceLock(
  stateFile: string,
  options: AcquireLockOptions & { readonly shmDir?: string } = {},
): Result<InstanceLock, LockError> {
  const companion = acquireLock(companionLockPath(stateFile, options.shmDir), options);
  if (companion.isErr() && companion.error.kind === 'held') return err(companion.error);
  const extra = companion.isOk() ? companion.value : null;
  const primary = acquireLock(`${stateFile}.lock`, options);
  if (primary.isOk()) {
    return ok({
      path: primary.value.path,
      pid: primary.value.pid,
      degraded: null,
      release: () => {
        primary.value.release();
        extra?.release();
      },
    });
  }
  const failure = primary.error;
  // A link planted at the lock is never followed, and must not switch the governor off either.
  const storage = failure.kind === 'io' && STORAGE_CODES.has(failure.code ?? '');
  if (extra !== null && (storage || failure.kind === 'symlink')) {
    return ok({ ...extra, degraded: failure });
  }
  extra?.release();
  return err(failure);
}

/**
 * The pid of the live memgov holding the lock at `path`, or null: no lock, a stale one (its owner
 * dead or its pid reused), or one not written yet. Reads only; never takes or removes anything.
 */
export function liveLockOwner(path: string, procRoot = '/proc'): number | null {
  let seen: Seen;
  try {
    const content = readFileSync(path, 'utf8');
    seen = { content, ino: 0, mtimeMs: statSync(path).mtimeMs };
  } catch {
    return null;
  }
  const ctx: Context = {
    pid: process.pid,
    isAlive: isProcessAlive,
    procRoot,
    nowMs: Date.now,
    content: '',
  };
  const verdict = judge(seen, ctx);
  return verdict.live && verdict.ownerPid > 0 ? verdict.ownerPid : null;
}

// The cgroup adapter's I/O: locate the memory cgroup once, then read it on every sample.
// Reads are synchronous on purpose: cgroup files are generated in memory by the kernel. Measured
// on this project's VM (Node 20.20, kernel 6.18, cgroup v1, median of 20 000 samples): one
// readFileSync of a cgroup file costs ~9 µs, v1 memory.stat ~15 µs; a whole sample costs 50 µs
// with a finite limit (4 files) and 64 µs when the limit falls back to /proc/meminfo (5 files).
// Parsing is ~7 µs of that. An async read would add more in scheduling than it could save.
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { err, ok, Result } from 'neverthrow';
import {
  locateMemoryCgroup,
  parseByteCount,
  parseMeminfoTotalBytes,
  parseOomControl,
  parseOomGroup,
  parsePressureSomeAvg10,
  parseV1Stat,
  parseV1Limit,
  parseV2InactiveFileBytes,
  parseV2Limit,
  parseV2OomKills,
  type CgroupError,
  type LimitBytes,
} from './parse.ts';
import { errnoCode, errnoSummary } from '../errno.ts';

export interface OpenCgroupOptions {
  /** The cgroup directory to read; when absent it is located from /proc/self. */
  readonly dir?: string;
  /** Stands in for /proc (tests point it at a fixture tree). Default `/proc`. */
  readonly procRoot?: string;
  /** Stands in for /sys when a located mount point lies under /sys. Default `/sys`. */
  readonly sysRoot?: string;
}

interface V2Paths {
  readonly current: string;
  readonly max: string;
  readonly high: string;
  readonly stat: string;
  readonly events: string;
  /** PSI of this cgroup. */
  readonly pressure: string;
  /** memory.max of each ancestor inside the cgroup2 mount, nearest first. */
  readonly ancestorMax: readonly string[];
}

interface V1Paths {
  readonly usage: string;
  readonly limit: string;
  readonly stat: string;
  readonly oomControl: string;
  /** v1 has no PSI per cgroup: the system's /proc/pressure/memory stands in. */
  readonly pressure: string;
}

/** An opened cgroup: every path precomputed so a sample only reads and parses. */
export type CgroupHandle =
  | {
      readonly version: 2;
      readonly dir: string;
      readonly paths: V2Paths;
      readonly meminfoPath: string;
    }
  | {
      readonly version: 1;
      readonly dir: string;
      readonly paths: V1Paths;
      readonly meminfoPath: string;
    };

/** Where the limit came from: the hard limit, v2's throttle limit, or the host's RAM. */
/**
 * Where the limit came from: the hard limit, v2's throttle limit, a tighter limit of an ancestor
 * cgroup (v1 `hierarchical_memory_limit`, v2 an ancestor's memory.max), or the host's RAM.
 */
export type LimitSource = 'max' | 'high' | 'parent' | 'host';

/** One consistent view of the cgroup's memory, all amounts in bytes. */
export interface CgroupReading {
  readonly version: 1 | 2;
  readonly dir: string;
  readonly currentBytes: number;
  readonly inactiveFileBytes: number;
  /** current minus inactive file cache (reclaimable without pain), never negative. */
  readonly workingSetBytes: number;
  readonly limitBytes: number;
  readonly limitSource: LimitSource;
  /** The kernel OOM killer's kill counter for this cgroup (monotonic). */
  readonly oomKills: number;
  /**
   * PSI `some avg10` (percent of the last 10 s in which a task stalled on memory); absent when
   * the kernel has no PSI file (CONFIG_PSI off, or psi=0 on the command line).
   */
  readonly pressureSomeAvg10Pct?: number;
}

interface ResolvedLimit {
  readonly limitBytes: number;
  readonly limitSource: LimitSource;
  /** The file it was read from, where the source alone does not tell (a parent's). */
  readonly file?: string;
}

const DEFAULT_PROC_ROOT = '/proc';
const DEFAULT_SYS_ROOT = '/sys';

function ioError(file: string, error: unknown): CgroupError {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR'
    ? { kind: 'missing-file', file, detail: 'no such file' }
    : { kind: 'unreadable', file, detail: errnoSummary(error) };
}

function readText(file: string): Result<string, CgroupError> {
  try {
    return ok(readFileSync(file, 'utf8'));
  } catch (error) {
    return err(ioError(file, error));
  }
}

/** Where the kernel has no such file (PSI disabled, or an older kernel). */
const ABSENT_FILE_CODES: ReadonlySet<string | undefined> = new Set([
  'ENOENT',
  'ENOTDIR',
  'EOPNOTSUPP',
]);

/** An optional file: absent is undefined, not an error; garbled is still an error. */
function readOptionalParsed<T>(
  file: string,
  parse: (text: string, file: string) => Result<T, CgroupError>,
): Result<T | undefined, CgroupError> {
  try {
    return parse(readFileSync(file, 'utf8'), file);
  } catch (error) {
    return ABSENT_FILE_CODES.has(errnoCode(error))
      ? ok(undefined)
      : err({ kind: 'unreadable', file, detail: errnoSummary(error) });
  }
}

function readParsed<T>(
  file: string,
  parse: (text: string, file: string) => Result<T, CgroupError>,
): Result<T, CgroupError> {
  return readText(file).andThen((text) => parse(text, file));
}

/** Whether a regular file is there; only errors other than "not there" are errors. */
function isFile(path: string): Result<boolean, CgroupError> {
  try {
    return ok(statSync(path, { throwIfNoEntry: false })?.isFile() ?? false);
  } catch (error) {
    return errnoCode(error) === 'ENOTDIR'
      ? ok(false)
      : err({ kind: 'unreadable', file: path, detail: errnoSummary(error) });
  }
}

/** Rebases a located directory under /sys onto sysRoot (a fixture tree in tests). */
function rebaseOnSysRoot(dir: string, sysRoot: string): string {
  if (sysRoot === DEFAULT_SYS_ROOT) return dir;
  return dir === DEFAULT_SYS_ROOT || dir.startsWith(`${DEFAULT_SYS_ROOT}/`)
    ? `${sysRoot}${dir.slice(DEFAULT_SYS_ROOT.length)}`
    : dir;
}

function locateDir(procRoot: string, sysRoot: string): Result<string, CgroupError> {
  const files = { cgroup: `${procRoot}/self/cgroup`, mountinfo: `${procRoot}/self/mountinfo` };
  return readText(files.cgroup).andThen((procCgroupText) =>
    readText(files.mountinfo).andThen((mountinfoText) =>
      locateMemoryCgroup(procCgroupText, mountinfoText, files).map((location) =>
        rebaseOnSysRoot(location.dir, sysRoot),
      ),
    ),
  );
}

/** The directory must exist and be a directory before its files can say anything. */
function checkDirectory(dir: string): Result<void, CgroupError> {
  try {
    return statSync(dir).isDirectory()
      ? ok(undefined)
      : err({ kind: 'no-memory-cgroup', file: dir, detail: 'not a directory' });
  } catch (error) {
    const code = errnoCode(error);
    return err(
      code === 'ENOENT' || code === 'ENOTDIR'
        ? { kind: 'no-memory-cgroup', file: dir, detail: 'no such directory' }
        : { kind: 'unreadable', file: dir, detail: errnoSummary(error) },
    );
  }
}

/** A real hierarchy is a handful deep; the walk stops here whatever the tree. */
const MAX_ANCESTORS = 64;

/**
 * v2: each ancestor's memory.max, nearest first, while the parent is inside the cgroup2 mount:
 * the mount's root cgroup has no memory.max, and nothing outside the mount has one.
 */
function ancestorMaxPaths(dir: string): Result<string[], CgroupError> {
  const paths: string[] = [];
  for (let child = dir, depth = 0; depth < MAX_ANCESTORS; depth++) {
    const parent = dirname(child);
    if (parent === child) break;
    const present = isFile(`${parent}/memory.max`);
    if (present.isErr()) return err(present.error);
    if (!present.value) break;
    paths.push(`${parent}/memory.max`);
    child = parent;
  }
  return ok(paths);
}

function v2Handle(dir: string, procRoot: string, ancestorMax: readonly string[]): CgroupHandle {
  return {
    version: 2,
    dir,
    meminfoPath: `${procRoot}/meminfo`,
    paths: {
      current: `${dir}/memory.current`,
      max: `${dir}/memory.max`,
      high: `${dir}/memory.high`,
      stat: `${dir}/memory.stat`,
      events: `${dir}/memory.events`,
      pressure: `${dir}/memory.pressure`,
      ancestorMax,
    },
  };
}

function v1Handle(dir: string, procRoot: string): CgroupHandle {
  return {
    version: 1,
    dir,
    meminfoPath: `${procRoot}/meminfo`,
    paths: {
      usage: `${dir}/memory.usage_in_bytes`,
      limit: `${dir}/memory.limit_in_bytes`,
      stat: `${dir}/memory.stat`,
      oomControl: `${dir}/memory.oom_control`,
      pressure: `${procRoot}/pressure/memory`,
    },
  };
}

/** The files tell the version, not the mount: a --cgroup DIR comes with no mountinfo. */
function handleFor(dir: string, procRoot: string): Result<CgroupHandle, CgroupError> {
  return isFile(`${dir}/memory.current`).andThen((isV2) =>
    isV2
      ? ancestorMaxPaths(dir).map((ancestors) => v2Handle(dir, procRoot, ancestors))
      : isFile(`${dir}/memory.usage_in_bytes`).andThen((isV1) =>
          isV1
            ? ok(v1Handle(dir, procRoot))
            : err<CgroupHandle, CgroupError>({
                kind: 'no-memory-cgroup',
                file: dir,
                detail:
                  'neither memory.current (cgroup v2) nor memory.usage_in_bytes (cgroup v1) is there',
              }),
        ),
  );
}

/**
 * Opens the memory cgroup: `dir` when given, else the one /proc/self/cgroup and
 * /proc/self/mountinfo point to. The version comes from which files the directory holds.
 */
export function openCgroup(options: OpenCgroupOptions = {}): Result<CgroupHandle, CgroupError> {
  const procRoot = options.procRoot ?? DEFAULT_PROC_ROOT;
  const sysRoot = options.sysRoot ?? DEFAULT_SYS_ROOT;
  const dir = options.dir === undefined ? locateDir(procRoot, sysRoot) : ok(options.dir);
  return dir.andThen((cgroupDir) =>
    checkDirectory(cgroupDir).andThen(() => handleFor(cgroupDir, procRoot)),
  );
}

/** The host's RAM: the last resort when no cgroup limit is set. */
function hostLimit(meminfoPath: string): Result<ResolvedLimit, CgroupError> {
  return readParsed(meminfoPath, parseMeminfoTotalBytes).map((limitBytes) => ({
    limitBytes,
    limitSource: 'host' as const,
  }));
}

/** The tighter of two limits; `b` wins only when strictly smaller. */
function tighter(a: ResolvedLimit | null, b: ResolvedLimit | null): ResolvedLimit | null {
  if (a === null || b === null) return a ?? b;
  return b.limitBytes < a.limitBytes ? b : a;
}

/** The smallest memory.max among the ancestors, as a `parent` limit; null when none is set. */
function tightestAncestor(paths: readonly string[]): Result<ResolvedLimit | null, CgroupError> {
  let tightest: ResolvedLimit | null = null;
  for (const file of paths) {
    const max = readParsed(file, parseV2Limit);
    if (max.isErr()) return err(max.error);
    if (max.value === 'unlimited') continue;
    tightest = tighter(tightest, { limitBytes: max.value, limitSource: 'parent', file });
  }
  return ok(tightest);
}

/**
 * v2: memory.max, else memory.high (the throttle point), else the host's MemTotal; an ancestor's
 * memory.max below the one chosen wins (the kernel enforces the whole chain).
 */
function resolveV2Limit(paths: V2Paths, meminfoPath: string): Result<ResolvedLimit, CgroupError> {
  return Result.combine([
    readParsed(paths.max, parseV2Limit),
    tightestAncestor(paths.ancestorMax),
  ]).andThen(([max, parent]) => {
    if (max !== 'unlimited') {
      return ok(tighter({ limitBytes: max, limitSource: 'max' }, parent) as ResolvedLimit);
    }
    return readParsed(paths.high, parseV2Limit).andThen((high) => {
      const throttle: ResolvedLimit | null =
        high === 'unlimited' ? null : { limitBytes: high, limitSource: 'high' };
      const chosen = tighter(throttle, parent);
      return chosen === null ? hostLimit(meminfoPath) : ok(chosen);
    });
  });
}

/**
 * v1: memory.limit_in_bytes, else the host's MemTotal (the soft limit is no ceiling); memory.stat's
 * `hierarchical_memory_limit` (the smallest limit up the hierarchy) wins when it is tighter.
 */
function resolveV1Limit(
  paths: V1Paths,
  meminfoPath: string,
  hierarchical: LimitBytes | undefined,
): Result<ResolvedLimit, CgroupError> {
  const parent: ResolvedLimit | null =
    hierarchical === undefined || hierarchical === 'unlimited'
      ? null
      : { limitBytes: hierarchical, limitSource: 'parent', file: paths.stat };
  return readParsed(paths.limit, parseV1Limit).andThen((limit) => {
    const own: ResolvedLimit | null =
      limit === 'unlimited' ? null : { limitBytes: limit, limitSource: 'max' };
    const chosen = tighter(own, parent);
    return chosen === null ? hostLimit(meminfoPath) : ok(chosen);
  });
}

/**
 * The kernel keeps a cgroup at its hard limit: v1 refuses the charge, v2 reclaims and then
 * OOM-kills (memory.current overshoots only while a lowered memory.max is being enforced), and no
 * cgroup is charged more RAM than the host has. Usage past twice such a limit is therefore not a
 * value the kernel reports but a corrupted or torn file (or a broken /sys emulation), and acting
 * on it would compact, clear or terminate for nothing. memory.high is only a throttle point, so a
 * cgroup may really run past it: it is not checked.
 */
const IMPLAUSIBLE_LIMIT_MULTIPLE = 2;

function limitFileOf(handle: CgroupHandle, limit: ResolvedLimit): string {
  const source = limit.limitSource;
  if (limit.file !== undefined) return limit.file;
  if (source === 'host') return handle.meminfoPath;
  if (handle.version === 1) return handle.paths.limit;
  return source === 'max' ? handle.paths.max : handle.paths.high;
}

function reading(
  handle: CgroupHandle,
  currentBytes: number,
  inactiveFileBytes: number,
  limit: ResolvedLimit,
  oomKills: number,
  pressureSomeAvg10Pct: number | undefined,
): Result<CgroupReading, CgroupError> {
  if (
    limit.limitSource !== 'high' &&
    currentBytes > IMPLAUSIBLE_LIMIT_MULTIPLE * limit.limitBytes
  ) {
    const usageFile = handle.version === 1 ? handle.paths.usage : handle.paths.current;
    return err({
      kind: 'garbled',
      file: usageFile,
      detail: `usage ${currentBytes} bytes is more than ${IMPLAUSIBLE_LIMIT_MULTIPLE}x the limit ${limit.limitBytes} bytes (${limitFileOf(handle, limit)}): no kernel charges a cgroup that far past its limit`,
    });
  }
  return ok({
    version: handle.version,
    dir: handle.dir,
    currentBytes,
    inactiveFileBytes,
    // The two files are read microseconds apart, so inactive can briefly exceed current.
    workingSetBytes: Math.max(0, currentBytes - inactiveFileBytes),
    limitBytes: limit.limitBytes,
    limitSource: limit.limitSource,
    oomKills,
    ...(pressureSomeAvg10Pct === undefined ? {} : { pressureSomeAvg10Pct }),
  });
}

/**
 * Reads the cgroup once; a missing, unreadable or garbled file is an error naming it. When a
 * file is missing because its whole directory went (the cgroup was removed), the error says so.
 */
export function readCgroup(handle: CgroupHandle): Result<CgroupReading, CgroupError> {
  return readFiles(handle).orElse((error) =>
    error.kind === 'missing-file'
      ? checkDirectory(handle.dir)
          .mapErr((gone): CgroupError =>
            gone.kind === 'no-memory-cgroup'
              ? { ...gone, detail: 'the cgroup directory is gone (removed, or renamed)' }
              : gone,
          )
          .andThen(() => err(error))
      : err(error),
  );
}

function readFiles(handle: CgroupHandle): Result<CgroupReading, CgroupError> {
  // Every file is read back to back even when an earlier one failed: failures are rare, and the
  // error reported is the first in reading order.
  if (handle.version === 2) {
    const { paths } = handle;
    return Result.combine([
      readParsed(paths.current, parseByteCount),
      readParsed(paths.stat, parseV2InactiveFileBytes),
      resolveV2Limit(paths, handle.meminfoPath),
      readParsed(paths.events, parseV2OomKills),
      readOptionalParsed(paths.pressure, parsePressureSomeAvg10),
    ]).andThen(([currentBytes, inactiveFileBytes, limit, oomKills, pressure]) =>
      reading(handle, currentBytes, inactiveFileBytes, limit, oomKills, pressure),
    );
  }
  const { paths } = handle;
  return Result.combine([
    readParsed(paths.usage, parseByteCount),
    readParsed(paths.stat, parseV1Stat),
  ]).andThen(([currentBytes, [inactiveFileBytes, hierarchical]]) =>
    Result.combine([
      resolveV1Limit(paths, handle.meminfoPath, hierarchical),
      readParsed(paths.oomControl, parseOomControl),
      readOptionalParsed(paths.pressure, parsePressureSomeAvg10),
    ]).andThen(([limit, oomControl, pressure]) =>
      reading(handle, currentBytes, inactiveFileBytes, limit, oomControl.oomKills, pressure),
    ),
  );
}

/**
 * v2 `memory.oom.group`: true when a kernel OOM kill takes every process in the cgroup (memgov
 * too, when it runs there). null on v1 (no such setting) or a kernel without the file.
 */
export function readOomGroup(handle: CgroupHandle): Result<boolean | null, CgroupError> {
  if (handle.version !== 2) return ok(null);
  return readOptionalParsed(`${handle.dir}/memory.oom.group`, parseOomGroup).map(
    (group) => group ?? null,
  );
}

/** The daemon's view of its cgroup: reads it, and finds it again when a located one moves. */
export interface CgroupReader {
  /** The cgroup read now; a located cgroup may have been found again elsewhere. */
  readonly handle: () => CgroupHandle;
  /** Reads once; an error names the file at fault (of the cgroup read last). */
  readonly read: () => Result<CgroupReading, CgroupError>;
}

export interface CgroupReaderOptions extends OpenCgroupOptions {
  /** Told when a located cgroup was found again in another directory (for the log). */
  readonly onMoved?: (fromDir: string, toDir: string) => void;
}

/**
 * Opens the cgroup for the daemon. When it was located from /proc/self (no `dir`), a failed read
 * locates it again: a directory that vanished means this process was moved (the kernel refuses to
 * remove a cgroup that holds a process), and the new one is read at once. A healthy cgroup is
 * never abandoned, and a `dir` the user named is never swapped: its failures are reported until
 * it reads again. Locating costs two small /proc reads, and only on a failed read.
 */
export function createCgroupReader(
  options: CgroupReaderOptions = {},
): Result<CgroupReader, CgroupError> {
  return openCgroup(options).map((opened) => {
    let current = opened;
    const relocated = (): boolean => {
      if (options.dir !== undefined) return false;
      const found = openCgroup({ procRoot: options.procRoot, sysRoot: options.sysRoot });
      if (found.isErr() || found.value.dir === current.dir) return false;
      const fromDir = current.dir;
      current = found.value;
      options.onMoved?.(fromDir, current.dir);
      return true;
    };
    return {
      handle: () => current,
      read: () => {
        const first = readCgroup(current);
        return first.isOk() || !relocated() ? first : readCgroup(current);
      },
    };
  });
}

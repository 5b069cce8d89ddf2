// Pure parsers for the kernel files memgov reads (docs/DESIGN.md#memory-signals). Text in, Result out: no I/O
// here, so every kernel quirk is testable from a string. The file name is passed in only so that
// an error can say which file was wrong.
import { err, ok, Result } from 'neverthrow';

export type CgroupErrorKind = 'missing-file' | 'unreadable' | 'garbled' | 'no-memory-cgroup';

/** Why a cgroup read failed, naming the file (or directory) at fault. */
export interface CgroupError {
  readonly kind: CgroupErrorKind;
  readonly file: string;
  readonly detail: string;
}

/** One line of /proc/self/cgroup: `hierarchy-ID:controller-list:cgroup-path`. */
export interface ProcCgroupEntry {
  readonly hierarchyId: number;
  /** Empty for the cgroup v2 line (`0::/path`). */
  readonly controllers: readonly string[];
  readonly path: string;
}

/** The fields of one /proc/self/mountinfo line that locating a cgroup needs. */
export interface MountinfoEntry {
  /** The directory of the mounted filesystem that appears at mountPoint (octal escapes decoded). */
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

/** Where the memory controller of this process lives. */
export interface MemoryCgroupLocation {
  readonly version: 1 | 2;
  readonly dir: string;
}

/** A memory limit as the kernel reports it: a byte count, or no limit at all. */
export type LimitBytes = number | 'unlimited';

/** The counters of a v1 `memory.oom_control` file. */
export interface OomControl {
  readonly oomKillDisable: boolean;
  readonly underOom: boolean;
  /** Processes killed by the OOM killer in this cgroup; 0 on kernels before 4.13 (no line). */
  readonly oomKills: number;
}

/** The proc files locateMemoryCgroup names in its errors, unless told otherwise. */
export const PROC_SELF_FILES = {
  cgroup: '/proc/self/cgroup',
  mountinfo: '/proc/self/mountinfo',
} as const;

/**
 * v1 reports "no limit" as PAGE_COUNTER_MAX pages rounded down to a page multiple
 * (9223372036854771712 on x86_64 with 4 KiB pages). No real machine has 2^62 bytes, so any
 * limit at or above it means unlimited, whatever the page size.
 */
const V1_UNLIMITED_THRESHOLD = 2n ** 62n;
const V1_UNLIMITED_MIN_DIGITS = String(V1_UNLIMITED_THRESHOLD).length;

const QUOTE_MAX_CHARS = 40;

const DIGITS = /^\d+$/;

/** Shows offending text in an error: trimmed, cut to a readable length, JSON-escaped. */
function quote(text: string): string {
  const trimmed = text.trim();
  const shown =
    trimmed.length > QUOTE_MAX_CHARS ? `${trimmed.slice(0, QUOTE_MAX_CHARS)}…` : trimmed;
  return JSON.stringify(shown);
}

function garbled(file: string, expected: string, got: string): CgroupError {
  return { kind: 'garbled', file, detail: `expected ${expected}, got ${quote(got)}` };
}

/** A non-negative decimal integer that a JS number holds exactly, else undefined. */
function parseCount(token: string): number | undefined {
  if (!DIGITS.test(token)) return undefined;
  const value = Number(token);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Splits a file into its non-blank lines, tolerating a missing final newline. */
function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

/** Parses a single-value byte counter (memory.current, memory.usage_in_bytes, memory.failcnt). */
export function parseByteCount(text: string, file: string): Result<number, CgroupError> {
  const value = parseCount(text.trim());
  return value === undefined ? err(garbled(file, 'a byte count', text)) : ok(value);
}

/** Parses v2 `memory.max` / `memory.high`: a byte count, or `max` meaning unlimited. */
export function parseV2Limit(text: string, file: string): Result<LimitBytes, CgroupError> {
  const token = text.trim();
  if (token === 'max') return ok('unlimited');
  const value = parseCount(token);
  return value === undefined ? err(garbled(file, 'a byte count or "max"', text)) : ok(value);
}

/** Parses v1 `memory.limit_in_bytes`: a byte count, where anything >= 2^62 means unlimited. */
export function parseV1Limit(text: string, file: string): Result<LimitBytes, CgroupError> {
  const token = text.trim();
  if (!DIGITS.test(token)) return err(garbled(file, 'a byte count', text));
  // 2^62 has 19 digits: a shorter token is below it without a BigInt (read twice a sample).
  if (token.length >= V1_UNLIMITED_MIN_DIGITS && BigInt(token) >= V1_UNLIMITED_THRESHOLD)
    return ok('unlimited');
  const value = parseCount(token);
  return value === undefined ? err(garbled(file, 'a byte count', text)) : ok(value);
}

/**
 * Parses a flat-keyed file (`memory.stat`, `memory.events`, `memory.oom_control`): one
 * `key value` pair a line. Values stay strings because v1 `memory.stat` carries limits beyond
 * Number.MAX_SAFE_INTEGER that memgov never needs; read the keys you need with flatKeyedCount.
 */
export function parseFlatKeyed(
  text: string,
  file: string,
): Result<ReadonlyMap<string, string>, CgroupError> {
  const entries = new Map<string, string>();
  // indexOf rather than a regex split: v1 memory.stat has ~45 lines and is parsed every sample.
  for (const line of lines(text)) {
    const space = line.indexOf(' ');
    const key = line.slice(0, space);
    const value = line.slice(space + 1).trimEnd();
    if (space <= 0 || value === '' || /\s/.test(value)) {
      return err(garbled(file, 'a "key value" line', line));
    }
    entries.set(key, value);
  }
  return ok(entries);
}

/** Reads one counter from a parsed flat-keyed file: undefined when the key is absent. */
export function flatKeyedCount(
  entries: ReadonlyMap<string, string>,
  key: string,
  file: string,
): Result<number | undefined, CgroupError> {
  const raw = entries.get(key);
  if (raw === undefined) return ok(undefined);
  const value = parseCount(raw);
  return value === undefined ? err(garbled(file, `a count for ${key}`, raw)) : ok(value);
}

/** Reads the first of `keys` present in a flat-keyed file; none present is garbled. */
function requiredCount(
  text: string,
  keys: readonly string[],
  file: string,
): Result<number, CgroupError> {
  return parseFlatKeyed(text, file).andThen((entries) => requiredCountOf(entries, keys, file));
}

/** The first of `keys` present in parsed flat-keyed entries; none present is garbled. */
function requiredCountOf(
  entries: ReadonlyMap<string, string>,
  keys: readonly string[],
  file: string,
): Result<number, CgroupError> {
  for (const key of keys) {
    const value = flatKeyedCount(entries, key, file);
    if (value.isErr()) return err(value.error);
    if (value.value !== undefined) return ok(value.value);
  }
  return err({ kind: 'garbled', file, detail: `expected a line for ${keys.join(' or ')}` });
}

/** Reads a counter from a flat-keyed file where an absent key means the event never happened. */
function optionalCount(text: string, key: string, file: string): Result<number, CgroupError> {
  return parseFlatKeyed(text, file)
    .andThen((entries) => flatKeyedCount(entries, key, file))
    .map((value) => value ?? 0);
}

/** `inactive_file` from a v2 `memory.stat`; a missing line is garbled. */
export function parseV2InactiveFileBytes(text: string, file: string): Result<number, CgroupError> {
  return requiredCount(text, ['inactive_file'], file);
}

/** The v1 memory.stat keys of the inactive file cache, hierarchical total first. */
const V1_INACTIVE_FILE_KEYS = ['total_inactive_file', 'inactive_file'] as const;

/**
 * `total_inactive_file` (hierarchical: includes child cgroups) from a v1 `memory.stat`, falling
 * back to the local `inactive_file` on kernels that omit the total; neither is garbled.
 */
export function parseV1InactiveFileBytes(text: string, file: string): Result<number, CgroupError> {
  return requiredCount(text, V1_INACTIVE_FILE_KEYS, file);
}

/**
 * `hierarchical_memory_limit` from a v1 `memory.stat`: the smallest limit of the cgroup and its
 * ancestors; undefined where the kernel omits it. 2^62 or more means unlimited.
 */
export function parseV1HierarchicalLimit(
  text: string,
  file: string,
): Result<LimitBytes | undefined, CgroupError> {
  return parseFlatKeyed(text, file).andThen((entries) => hierarchicalLimitOf(entries, file));
}

function hierarchicalLimitOf(
  entries: ReadonlyMap<string, string>,
  file: string,
): Result<LimitBytes | undefined, CgroupError> {
  const raw = entries.get('hierarchical_memory_limit');
  return raw === undefined ? ok(undefined) : parseV1Limit(raw, file);
}

/**
 * v1 memory.stat, read every sample: the inactive file cache and the hierarchical limit from one
 * parse of its ~45 lines (parsing it once per field was ~15% of a sample's CPU in a profile of
 * the daemon: docs/BENCHMARKS.md, "Reaction at 500 MiB/s"). Same results and errors as
 * parseV1InactiveFileBytes, then parseV1HierarchicalLimit.
 */
export function parseV1Stat(
  text: string,
  file: string,
): Result<[number, LimitBytes | undefined], CgroupError> {
  return parseFlatKeyed(text, file).andThen((entries) =>
    Result.combine([
      requiredCountOf(entries, V1_INACTIVE_FILE_KEYS, file),
      hierarchicalLimitOf(entries, file),
    ]),
  );
}

/** v2 `memory.oom.group`: `1` (a kernel OOM kill takes every process in the cgroup) or `0`. */
export function parseOomGroup(text: string, file: string): Result<boolean, CgroupError> {
  const token = text.trim();
  return token === '1' || token === '0' ? ok(token === '1') : err(garbled(file, '0 or 1', text));
}

/** `oom_kill` from a v2 `memory.events`; an absent key (older kernels) counts as 0. */
export function parseV2OomKills(text: string, file: string): Result<number, CgroupError> {
  return optionalCount(text, 'oom_kill', file);
}

/** A PSI share: a percentage with up to two decimals, as the kernel prints it. */
const PSI_AVG10 = /(?:^|\s)avg10=(\d{1,3}(?:\.\d{1,2})?)(?:\s|$)/;

/**
 * `some avg10` from a PSI file (cgroup v2 `memory.pressure`, or `/proc/pressure/memory`): the
 * share of the last 10 s, in percent, in which at least one task stalled waiting for memory.
 * The kernel's line: `some avg10=44.14 avg60=12.03 avg300=2.81 total=1234567`.
 */
export function parsePressureSomeAvg10(text: string, file: string): Result<number, CgroupError> {
  const some = lines(text).find((line) => line.startsWith('some '));
  const match = some === undefined ? null : PSI_AVG10.exec(some);
  const percent = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  return percent >= 0 && percent <= 100
    ? ok(percent)
    : err(garbled(file, 'a "some avg10=<percent> ..." line', some ?? text));
}

/** Parses v1 `memory.oom_control`; a missing `oom_kill` line (kernels before 4.13) counts as 0. */
export function parseOomControl(text: string, file: string): Result<OomControl, CgroupError> {
  return parseFlatKeyed(text, file).andThen((entries) => {
    const disable = flatKeyedCount(entries, 'oom_kill_disable', file);
    const under = flatKeyedCount(entries, 'under_oom', file);
    const kills = flatKeyedCount(entries, 'oom_kill', file);
    return Result.combine([disable, under, kills]).andThen(([disableFlag, underFlag, oomKills]) =>
      disableFlag === undefined || underFlag === undefined
        ? err(garbled(file, 'oom_kill_disable and under_oom lines', text))
        : ok({
            oomKillDisable: disableFlag !== 0,
            underOom: underFlag !== 0,
            oomKills: oomKills ?? 0,
          }),
    );
  });
}

/** `MemTotal` from /proc/meminfo, converted from kB (really KiB) to bytes. */
export function parseMeminfoTotalBytes(text: string, file: string): Result<number, CgroupError> {
  const line = lines(text).find((candidate) => candidate.startsWith('MemTotal:'));
  if (line === undefined) return err(garbled(file, 'a MemTotal line', text));
  const match = /^MemTotal:\s+(\d+) kB$/.exec(line.trim());
  const kib = match?.[1] === undefined ? undefined : parseCount(match[1]);
  const bytes = kib === undefined ? undefined : kib * 1024;
  return bytes === undefined || !Number.isSafeInteger(bytes)
    ? err(garbled(file, '"MemTotal: <n> kB"', line))
    : ok(bytes);
}

/** Parses /proc/self/cgroup into one entry per hierarchy. */
export function parseProcCgroup(
  text: string,
  file: string = PROC_SELF_FILES.cgroup,
): Result<ProcCgroupEntry[], CgroupError> {
  const entries: ProcCgroupEntry[] = [];
  for (const line of lines(text)) {
    // The path is everything after the second colon: cgroup names may themselves contain ':',
    // and any character but '/' and NUL ('\r' too, which a plain '.' would not match).
    const match = /^(\d+):([^:]*):(\/.*)$/s.exec(line);
    const hierarchyId = match?.[1] === undefined ? undefined : parseCount(match[1]);
    if (match === null || hierarchyId === undefined) {
      return err(garbled(file, 'an "id:controllers:/path" line', line));
    }
    const controllers = match[2] === undefined || match[2] === '' ? [] : match[2].split(',');
    entries.push({ hierarchyId, controllers, path: match[3] ?? '/' });
  }
  return ok(entries);
}

/** Decodes the octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_escape, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/**
 * Parses /proc/self/mountinfo. Each line is
 * `id parent major:minor root mount-point options [optional fields...] - fstype source super-options`;
 * the optional fields (`shared:N`, `master:N`, ...) vary in number, hence the search for `-`.
 */
export function parseMountinfo(
  text: string,
  file: string = PROC_SELF_FILES.mountinfo,
): Result<MountinfoEntry[], CgroupError> {
  const mounts: MountinfoEntry[] = [];
  for (const line of lines(text)) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    const [mountId, , , root, mountPoint] = fields;
    const fsType = fields[separator + 1];
    const superOptions = fields[separator + 3];
    if (
      separator === -1 ||
      mountId === undefined ||
      !DIGITS.test(mountId) ||
      root === undefined ||
      mountPoint === undefined ||
      !mountPoint.startsWith('/') ||
      fsType === undefined ||
      fsType === '' ||
      superOptions === undefined
    ) {
      return err(garbled(file, 'a mountinfo line with a " - " separator', line));
    }
    mounts.push({
      root: unescapeMountPath(root),
      mountPoint: unescapeMountPath(mountPoint),
      fsType,
      superOptions: superOptions.split(','),
    });
  }
  return ok(mounts);
}

function isPathPrefix(prefix: string, path: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Picks the mount through which `cgroupPath` is visible: the one with the longest root that
 * contains the path (bind mounts of sub-trees), else the first.
 */
function pickMount(
  mounts: readonly MountinfoEntry[],
  cgroupPath: string,
): MountinfoEntry | undefined {
  const containing = mounts
    .filter((mount) => mount.root === '/' || isPathPrefix(mount.root, cgroupPath))
    .sort((a, b) => b.root.length - a.root.length);
  return containing[0] ?? mounts[0];
}

/**
 * Joins a mount point and a cgroup path. In a container without a cgroup namespace the mount's
 * root is the container's own cgroup (`/kubepods/...`) and /proc/self/cgroup repeats that path,
 * so the root is stripped and the directory is the mount point itself.
 */
function cgroupDir(
  mount: MountinfoEntry,
  cgroupPath: string,
  file: string,
): Result<string, CgroupError> {
  const relative =
    mount.root !== '/' && isPathPrefix(mount.root, cgroupPath)
      ? cgroupPath.slice(mount.root.length)
      : cgroupPath;
  // A cgroup namespace shows cgroups outside it as `/../...`: they are not under this mount.
  if (relative.split('/').includes('..')) {
    return err({
      kind: 'no-memory-cgroup',
      file,
      detail: `cgroup path ${cgroupPath} lies outside the cgroup tree mounted at ${mount.mountPoint}`,
    });
  }
  const base = mount.mountPoint.endsWith('/') ? mount.mountPoint.slice(0, -1) : mount.mountPoint;
  return ok(relative === '' || relative === '/' ? mount.mountPoint : `${base}${relative}`);
}

/**
 * Finds the memory cgroup directory from /proc/self/cgroup and /proc/self/mountinfo text.
 * Prefers the v1 memory controller (on hybrid systems the v2 tree has no memory controller),
 * else the v2 unified hierarchy.
 */
export function locateMemoryCgroup(
  procCgroupText: string,
  mountinfoText: string,
  files: { readonly cgroup: string; readonly mountinfo: string } = PROC_SELF_FILES,
): Result<MemoryCgroupLocation, CgroupError> {
  return parseProcCgroup(procCgroupText, files.cgroup).andThen((entries) =>
    parseMountinfo(mountinfoText, files.mountinfo).andThen(
      (mounts): Result<MemoryCgroupLocation, CgroupError> => {
        const v1 = entries.find((entry) => entry.controllers.includes('memory'));
        if (v1 !== undefined) {
          const mount = pickMount(
            mounts.filter((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory')),
            v1.path,
          );
          if (mount === undefined) {
            return err({
              kind: 'no-memory-cgroup',
              file: files.mountinfo,
              detail: `the memory controller is on cgroup v1 hierarchy ${v1.hierarchyId} but no cgroup mount carries the memory option`,
            });
          }
          return cgroupDir(mount, v1.path, files.mountinfo).map((dir) => ({ version: 1, dir }));
        }
        const v2 = entries.find(
          (entry) => entry.hierarchyId === 0 && entry.controllers.length === 0,
        );
        if (v2 === undefined) {
          return err({
            kind: 'no-memory-cgroup',
            file: files.cgroup,
            detail: 'no "N:memory:/path" line (cgroup v1) and no "0::/path" line (cgroup v2)',
          });
        }
        const mount = pickMount(
          mounts.filter((m) => m.fsType === 'cgroup2'),
          v2.path,
        );
        if (mount === undefined) {
          return err({
            kind: 'no-memory-cgroup',
            file: files.mountinfo,
            detail: 'the process is in a cgroup v2 hierarchy but no cgroup2 filesystem is mounted',
          });
        }
        return cgroupDir(mount, v2.path, files.mountinfo).map((dir) => ({ version: 2, dir }));
      },
    ),
  );
}

/** Calls memory.* and cgroup.* files "cgroup file"; anything else (/proc/meminfo) just "file". */
function fileNoun(file: string): string {
  const name = file.slice(file.lastIndexOf('/') + 1);
  return name.startsWith('memory.') || name.startsWith('cgroup.') ? 'cgroup file' : 'file';
}

/** One line, naming the file: `cgroup file /sys/fs/cgroup/memory.max is garbled: expected ...`. */
export function formatCgroupError(error: CgroupError): string {
  const noun = fileNoun(error.file);
  switch (error.kind) {
    case 'missing-file':
      return `${noun} ${error.file} is missing: ${error.detail}`;
    case 'unreadable':
      return `${noun} ${error.file} is unreadable: ${error.detail}`;
    case 'garbled':
      return `${noun} ${error.file} is garbled: ${error.detail}`;
    case 'no-memory-cgroup':
      return `no memory cgroup found (checked ${error.file}): ${error.detail}`;
  }
}

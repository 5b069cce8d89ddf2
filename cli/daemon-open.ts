// The daemon's opening steps, each a leaf call with its failure logged: the cgroup to govern, the
// single-instance lock (docs/DESIGN.md#persistence), and what a crash left in the archive dir.
import { hostname } from 'node:os';
import type { Result } from 'neverthrow';
import { removeCrashedTemps } from '../adapters/archive/list.ts';
import { formatCgroupError } from '../adapters/cgroup/parse.ts';
import {
  createCgroupReader,
  type CgroupReader,
  type CgroupReading,
} from '../adapters/cgroup/reader.ts';
import { acquireInstanceLock, formatLockError, type InstanceLock } from '../adapters/lock.ts';
import type { JournalStartRecord } from '../adapters/journal.ts';
import type { Log } from '../actors/log.ts';
import type { MemgovConfig } from './config.ts';
import { EXIT_FAILURE } from './io.ts';

/** The cgroup reader; when the process's cgroup moves, the events watch follows (`moves`). */
export function openCgroup(
  config: MemgovConfig,
  log: Log,
  moves: { rewatch?: () => void },
): CgroupReader | null {
  const dir = config.daemon.cgroup;
  const cgroup = createCgroupReader({
    ...(dir === null ? {} : { dir }),
    onMoved: (fromDir, toDir) => {
      log.warn('memory cgroup moved: governing the new one', { fromDir, toDir });
      moves.rewatch?.();
    },
  });
  if (cgroup.isOk()) return cgroup.value;
  log.error('no memory cgroup to govern', { detail: formatCgroupError(cgroup.error) });
  return null;
}

/** The single-instance lock, or the exit code: 0 when another memgov governs, 1 when broken. */
export function takeLock(
  config: MemgovConfig,
  log: Log,
  shmDir: string | undefined,
): InstanceLock | number {
  const lock = acquireInstanceLock(config.daemon.stateFile, shmDir === undefined ? {} : { shmDir });
  if (lock.isErr()) {
    if (lock.error.kind === 'held') {
      log.info('another memgov already governs here; exiting', { ownerPid: lock.error.ownerPid });
      return 0;
    }
    log.error('cannot take the instance lock', { detail: formatLockError(lock.error) });
    return EXIT_FAILURE;
  }
  if (lock.value.degraded !== null) {
    log.warn('no lock beside the state file; a lock in shared memory keeps this the only memgov', {
      detail: formatLockError(lock.value.degraded),
    });
  }
  return lock.value;
}

/** What a crash left in the archive directory goes now, not at the next archive. */
export function cleanArchiveLeftovers(archiveDir: string, log: Log): void {
  void removeCrashedTemps(archiveDir).then(
    (removed) => {
      if (removed.length > 0) log.info('removed the temp dirs a crash left', { removed });
    },
    (error: unknown) =>
      log.warn('cleaning the archive directory failed', { detail: String(error) }),
  );
}

const MIB = 1024 * 1024;

/**
 * The start line: what is governed against what limit, and from where the limit came. A limit
 * from the host's MemTotal means the cgroup sets none: the ratio stays tiny and memgov would
 * never act, which an SRE must hear at once rather than find out from an OOM kill.
 */
export function logStarted(
  log: Log,
  reader: CgroupReader,
  facts: Readonly<Record<string, unknown>>,
  journal: { readonly append: (record: JournalStartRecord) => void; readonly now: () => number },
): void {
  const handle = reader.handle();
  const first = readOnce(reader);
  const limit = first === null ? {} : limitFacts(first);
  log.info('memgov started', {
    cgroup: handle.dir,
    cgroupVersion: handle.version,
    ...limit,
    ...facts,
    // Said once here, not on every line.
    pid: process.pid,
    hostname: hostname(),
  });
  // The journal marks each start (a restart on the timeline) with the limit it governs against.
  if (first !== null) {
    const { limitBytes, limitSource } = first;
    journal.append({ kind: 'start', t: journal.now(), pid: process.pid, limitBytes, limitSource });
  }
  if (first?.limitSource === 'host') {
    log.warn(
      'the cgroup sets no memory limit: measuring against the host memory, so memgov will likely never act',
      {
        limitMiB: Math.round(first.limitBytes / MIB),
        hint: 'set resources.limits.memory on the container (or memory.max)',
      },
    );
  }
}

function limitFacts(reading: CgroupReading) {
  const { limitBytes, limitSource, workingSetBytes } = reading;
  const ratio = limitBytes > 0 ? Number((workingSetBytes / limitBytes).toFixed(4)) : null;
  return { limitBytes, limitMiB: Math.round(limitBytes / MIB), limitSource, ratio };
}

type Read = () => Result<CgroupReading, string>;

/**
 * The sampler's read: the cgroup reader's, its errors as text, through the fault injector tests
 * give (`inject`), and each success told to the read-failure log (which then says it recovered).
 */
export function trackedRead(
  reader: CgroupReader,
  succeeded: () => void,
  inject?: (real: Read) => Result<CgroupReading, string>,
): Read {
  return () => {
    const real: Read = () => reader.read().mapErr(formatCgroupError);
    const reading = inject ? inject(real) : real();
    if (reading.isOk()) succeeded();
    return reading;
  };
}

/** One reading for the start line, or null; a failed (or throwing) read is the sampler's to report. */
function readOnce(reader: CgroupReader): CgroupReading | null {
  try {
    return reader.read().match(
      (reading) => reading,
      () => null,
    );
  } catch {
    return null;
  }
}

// What lies under an archive root: final archives (listed newest first, pruned to a retention
// count) and `.tmp-*` directories, the unfinished archives of a run that may have crashed.
// A kill -9 at any moment leaves final archives whole (docs/RELIABILITY.md): an archive is built
// under `.tmp-<host>.<pid>.<start ticks>-*` and published by one rename, and an archive that
// retention removes is first renamed to such a name, so a crash mid-delete never leaves a half
// archive under a final name. Temp dirs of a process that is gone are removed before the next
// archive (and by removeCrashedTemps, for a daemon that starts); ones without that tag after an
// hour.
import type { Dirent } from 'node:fs';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoSummary } from '../errno.ts';
import { hasExited, readProcStat } from '../proc.ts';
import type { ArchiveError } from './errors.ts';
import { readManifest } from './manifest.ts';

/** A final archive found under an archive root. */
export interface ArchiveEntry {
  readonly dir: string;
  readonly createdAtMs: number;
  readonly reason: string;
  readonly complete: boolean;
}

const STALE_TMP_MS = 60 * 60 * 1000;
/** `2026-01-02T03-04-05.678Z-reason`, possibly with a `-N` suffix (part of the reason class). */
const ARCHIVE_NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-[a-z0-9-]+$/;
const TMP_PREFIX = '.tmp-';
/** `.tmp-<host>.<pid>.<start ticks>-`: whose temp dir it is (the host keeps pods on a shared
 * volume apart; the start time tells a recycled pid from the owner). */
const TAGGED_TMP = /^\.tmp-([A-Za-z0-9_-]+)\.(\d+)\.(\d+)-/;
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_') || 'host';
/** Archive roots where an archiveSession of this process runs now (how many): while one does,
 * no temp dir of this process under that root is taken for a crash's. */
const busyRoots = new Map<string, number>();
let ownTmpPrefix: string | undefined;

/** This process's temp-dir tag; start ticks 0 where /proc cannot be read (then the age rule
 * applies). */
export function ownTempPrefix(): string {
  ownTmpPrefix ??= `${TMP_PREFIX}${HOST}.${process.pid}.${readProcStat(process.pid).match(
    (stat) => stat.startTicks,
    () => 0,
  )}-`;
  return ownTmpPrefix;
}

/** Marks `root` as written by this process until the returned release is called. */
export function holdRoot(root: string): () => void {
  busyRoots.set(root, (busyRoots.get(root) ?? 0) + 1);
  return () => {
    const busy = (busyRoots.get(root) ?? 1) - 1;
    if (busy > 0) busyRoots.set(root, busy);
    else busyRoots.delete(root);
  };
}

/**
 * The final archives under `archiveRoot`, newest first: directories named like an archive that
 * hold a memgov manifest. `.tmp-*` directories (unfinished or crashed archives) never count.
 */
export async function listArchives(
  archiveRoot: string,
): Promise<Result<ArchiveEntry[], ArchiveError>> {
  const root = resolve(archiveRoot);
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    return err({ kind: 'io', path: root, detail: errnoSummary(error) });
  }
  const found: ArchiveEntry[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !ARCHIVE_NAME.test(entry.name)) continue;
    const dir = join(root, entry.name);
    const manifest = await readManifest(dir);
    if (manifest.isErr()) continue;
    const { createdAtMs, reason, complete } = manifest.value;
    found.push({ dir, createdAtMs, reason, complete });
  }
  const collator = new Intl.Collator('en', { numeric: true });
  return ok(found.sort((a, b) => b.createdAtMs - a.createdAtMs || collator.compare(b.dir, a.dir)));
}

/** Whether the temp dir `name` under the archive root is a crash's: its owner is gone. */
function isCrashedTemp(root: string, name: string, staleBeforeMs: number, mtimeMs: number) {
  const tag = TAGGED_TMP.exec(name);
  if (tag === null || tag[1] !== HOST) return mtimeMs < staleBeforeMs;
  const [pid, startTicks] = [Number(tag[2]), Number(tag[3])];
  if (`${TMP_PREFIX}${tag[1]}.${pid}.${startTicks}-` === ownTempPrefix()) {
    return (busyRoots.get(root) ?? 0) === 0;
  }
  // Start time 0: its owner could not read /proc, so a pid alone cannot prove it gone.
  return startTicks === 0 ? mtimeMs < staleBeforeMs : hasExited({ pid, startTicks });
}

/**
 * Removes the temp dirs under `archiveRoot` that no running archive owns: those of a process that
 * is gone (killed while archiving or pruning), those of this process that no archive of it is
 * using, and, for any other name, those untouched for an hour. Best effort: returns what it
 * removed.
 */
export async function removeCrashedTemps(archiveRoot: string): Promise<string[]> {
  const root = resolve(archiveRoot);
  const removed: string[] = [];
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const staleBeforeMs = Date.now() - STALE_TMP_MS;
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(TMP_PREFIX)) continue;
    const dir = join(root, entry.name);
    const mtimeMs = await lstat(dir).then(
      (found) => found.mtimeMs,
      () => Number.POSITIVE_INFINITY,
    );
    if (!isCrashedTemp(root, entry.name, staleBeforeMs, mtimeMs)) continue;
    await rm(dir, { recursive: true, force: true }).then(
      () => removed.push(dir),
      () => undefined,
    );
  }
  return removed;
}

/**
 * Removes a final archive: renamed to a temp name of ours first, so a crash in the middle of the
 * delete leaves a temp dir (removed later), never a half archive under its final name.
 */
async function removeArchive(root: string, dir: string): Promise<boolean> {
  const doomed = join(root, `${ownTempPrefix()}pruned-${basename(dir)}`);
  try {
    await rename(dir, doomed);
    await rm(doomed, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Keeps `keep` and the newest `retain - 1` other archives under `root`. Best effort: an archive
 * that cannot be removed stays, and is not reported.
 */
export async function prune(root: string, retain: number, keep: string): Promise<string[]> {
  const removed: string[] = [];
  const archives = await listArchives(root);
  if (archives.isErr()) return removed;
  const others = archives.value.filter((archive) => archive.dir !== keep);
  for (const archive of others.slice(retain - 1)) {
    if (await removeArchive(root, archive.dir)) removed.push(archive.dir);
  }
  return removed;
}

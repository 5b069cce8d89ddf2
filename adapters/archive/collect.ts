// The walk of an archive's sources: what is copied into `files/`, what is skipped and why.
// Files are streamed through sha256 in 1 MiB chunks via one reused buffer (copy.ts), never read
// whole; copies are not fsynced (write.ts says why). Secrets are never copied (secret.ts), and
// no symlink below a source is followed.
import type { Dirent } from 'node:fs';
import { constants } from 'node:fs';
import { link, lstat, open, readdir, realpath, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { errnoCode, errnoSummary } from '../errno.ts';
import { makePrivateDirectory } from '../state-file.ts';
import { CHUNK_BYTES, pumpHashed, type Hashed } from './copy.ts';
import { ArchiveFailure } from './errors.ts';
import {
  archivedCopyPath,
  type ManifestFile,
  type ManifestSkip,
  type SkipReason,
} from './manifest.ts';
import { isSecretName } from './secret.ts';
import { isWithin } from '../../lib/path.ts';

/** What the walk needs of the archive's options (see ArchiveOptions in write.ts). */
export interface WalkOptions {
  readonly deadlineMs: number;
  readonly exclude?: (relPath: string, absPath: string) => boolean;
  readonly incremental?: boolean;
}

/** The newest archive whose manifest records mtimes: incremental archives link from it. */
export interface BaseArchive {
  readonly dir: string;
  readonly files: ReadonlyMap<string, ManifestFile & { readonly mtimeMs: number }>;
}

// O_NONBLOCK: a FIFO swapped in after readdir must not hang the open.
const COPY_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A source file, opened: its handle and what fstat said of it. */
interface Opened {
  readonly handle: FileHandle;
  readonly size: number;
  readonly mtimeMs: number;
}

function openFailureReason(error: unknown): SkipReason {
  const code = errnoCode(error);
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'vanished';
  return code === 'ELOOP' ? 'symlink' : 'unreadable';
}

/** Opens a file to copy without following a link; a skip reason when it is not a readable file. */
async function openSource(path: string): Promise<Opened | SkipReason> {
  let handle: FileHandle;
  try {
    handle = await open(path, COPY_FLAGS);
  } catch (error) {
    return openFailureReason(error);
  }
  try {
    const st = await handle.stat();
    if (st.isFile()) return { handle, size: st.size, mtimeMs: st.mtimeMs };
    await handle.close().catch(() => undefined);
    return 'special';
  } catch {
    await handle.close().catch(() => undefined);
    return 'unreadable';
  }
}

/** Hard-links the previous archive's copy of `path` to `dest`; false (copy instead) on any doubt. */
async function linkFrom(baseDir: string, path: string, size: number, dest: string) {
  const previous = archivedCopyPath(baseDir, path);
  try {
    const st = await lstat(previous);
    if (!st.isFile() || st.size !== size) return false;
    await link(previous, dest);
    return true;
  } catch {
    return false;
  }
}

/** The walk's state: what was copied, what was skipped and why. */
export class Collector {
  readonly files: ManifestFile[] = [];
  readonly skipped: ManifestSkip[] = [];
  bytes = 0;
  linked = 0;
  private readonly seen = new Set<string>();
  /** The one copy buffer: files are copied one after the other. */
  private buffer: Buffer | undefined;

  constructor(
    /** The archive being built: copies go to its `files/`. */
    private readonly archiveDir: string,
    /** The archive root's real path: it is never walked into. */
    private readonly realRoot: string,
    private readonly options: WalkOptions,
    private readonly now: () => number,
    /** Incremental: the previous archive and its files that recorded an mtime. */
    private readonly base: BaseArchive | null,
  ) {}

  private claim(path: string): boolean {
    if (this.seen.has(path)) return false;
    this.seen.add(path);
    return true;
  }

  private skip(path: string, why: SkipReason): void {
    if (this.claim(path)) this.skipped.push({ path, why });
  }

  private pastDeadline(): boolean {
    return this.now() >= this.options.deadlineMs;
  }

  private record(file: ManifestFile): void {
    this.claim(file.path);
    this.files.push(file);
    this.bytes += file.size;
  }

  async addSource(source: string): Promise<void> {
    const path = resolve(source);
    if (isSecretName(basename(path))) return this.skip(path, 'credentials');
    let target: string;
    let isDirectory: boolean;
    let isFile: boolean;
    try {
      // The real path catches a symlinked source, or parent, that leads into the archive root.
      target = await realpath(path);
      const found = await stat(target);
      isDirectory = found.isDirectory();
      isFile = found.isFile();
    } catch (error) {
      const code = errnoCode(error);
      return this.skip(path, code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'unreadable');
    }
    if (isSecretName(basename(target))) return this.skip(path, 'credentials');
    if (isDirectory) return this.walk(path, path, target);
    if (isWithin(target, this.realRoot)) return this.skip(path, 'archive-root');
    if (isFile) return this.copy(path, target);
    return this.skip(path, 'special');
  }

  /** Walks `dir`, whose real path is `realDir` (no symlink is followed below a source). */
  private async walk(dir: string, sourceRoot: string, realDir: string): Promise<void> {
    if (isWithin(realDir, this.realRoot)) return this.skip(dir, 'archive-root');
    if (!this.claim(dir)) return;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      this.seen.delete(dir);
      return this.skip(dir, errnoCode(error) === 'ENOENT' ? 'vanished' : 'unreadable');
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (isSecretName(entry.name)) this.skip(path, 'credentials');
      else if (this.options.exclude?.(relative(sourceRoot, path), path) === true) {
        this.skip(path, 'excluded');
      } else if (entry.isSymbolicLink()) this.skip(path, 'symlink');
      else if (entry.isDirectory()) await this.walk(path, sourceRoot, join(realDir, entry.name));
      else if (entry.isFile()) await this.copy(path, path);
      else this.skip(path, 'special');
    }
  }

  /** Copies `openPath` (the file, or a top-level symlink's target) as `path`. */
  private async copy(path: string, openPath: string): Promise<void> {
    if (this.seen.has(path)) return;
    if (this.pastDeadline()) return this.skip(path, 'deadline');
    const opened = await openSource(openPath);
    if (typeof opened === 'string') return this.skip(path, opened);
    const dest = archivedCopyPath(this.archiveDir, path);
    try {
      makePrivateDirectory(dirname(dest));
    } catch (error) {
      await opened.handle.close().catch(() => undefined);
      throw new ArchiveFailure({ kind: 'io', path: dirname(dest), detail: errnoSummary(error) });
    }
    const stamp = this.options.incremental === true ? { mtimeMs: opened.mtimeMs } : {};
    if (await this.linkUnchanged(path, opened, dest)) {
      await opened.handle.close().catch(() => undefined);
      return;
    }
    const copied = await this.stream(opened.handle, dest);
    if (typeof copied === 'string') return this.skip(path, copied);
    this.record({ path, ...copied, ...stamp });
  }

  /** Incremental: links `path` from the base archive when its size and mtime are unchanged. */
  private async linkUnchanged(path: string, opened: Opened, dest: string): Promise<boolean> {
    const before = this.base?.files.get(path);
    if (this.base === null || before === undefined) return false;
    if (before.size !== opened.size || before.mtimeMs !== opened.mtimeMs) return false;
    if (!(await linkFrom(this.base.dir, path, before.size, dest))) return false;
    this.record({ path, size: before.size, sha256: before.sha256, mtimeMs: opened.mtimeMs });
    this.linked += 1;
    return true;
  }

  /**
   * Streams an open file (closed here) to `dest` (0600) through sha256, checking the deadline
   * before each chunk. A read failure or the deadline drops the partial copy and names the
   * reason; a write failure fails the whole archive.
   */
  private async stream(source: FileHandle, dest: string): Promise<Hashed | SkipReason> {
    let sink: FileHandle;
    try {
      sink = await open(dest, 'wx', 0o600);
      await sink.chmod(0o600); // exactly, whatever the umask
    } catch (error) {
      await source.close().catch(() => undefined);
      throw new ArchiveFailure({ kind: 'io', path: dest, detail: errnoSummary(error) });
    }
    this.buffer ??= Buffer.allocUnsafeSlow(CHUNK_BYTES);
    const pumped = await pumpHashed(source, this.buffer, sink, () => this.pastDeadline());
    await source.close().catch(() => undefined);
    let writeError = pumped.isErr() && pumped.error.kind === 'write' ? pumped.error.error : null;
    await sink.close().catch((error: unknown) => {
      writeError ??= error;
    });
    if (pumped.isOk() && writeError === null) return pumped.value;
    await rm(dest, { force: true }).catch(() => undefined);
    if (writeError !== null) {
      throw new ArchiveFailure({ kind: 'io', path: dest, detail: errnoSummary(writeError) });
    }
    return pumped.isErr() && pumped.error.kind === 'stopped' ? 'deadline' : 'unreadable';
  }
}

// Archives an agent's session before archive-terminate sends SIGTERM (SPEC section 3): a copy with
// a manifest, written atomically (built under `.tmp-*`, renamed only once the manifest is on
// disk) and in bounded time (past the deadline, what is left is listed as skipped, not copied).
// Files are streamed through sha256 in 1 MiB chunks via one reused buffer, never read whole.
// Measured on this project's VM (2 vCPUs, Node 20.20), archiving a 200 MiB file of random data:
// peak RSS +4..11 MiB at 170..265 MiB/s over 13 runs of test/executor/archive.test.ts (the file
// just written, its writeback still under way); the same loop alone on a settled file ran at
// 400..770 MiB/s with +3 MiB. A stream pipeline (fs.ReadStream -> Transform -> WriteStream) cost
// +22 MiB with 64 KiB chunks and +38..40 MiB with 256 KiB..1 MiB chunks: each chunk is a fresh
// Buffer, freed only when V8's external-memory pressure triggers a GC.
// Copied files are not fsynced: the page cache outlives the agent, memgov and an OOM kill of the
// container, which are what the archive has to survive; the manifest and directories are.
// A kill -9 at any moment leaves final archives whole: an archive is built under
// `.tmp-<host>.<pid>.<start ticks>-*` and published by one rename, and an archive that retention
// removes is first renamed to such a name, so a crash mid-delete never leaves a half archive under
// a final name.
// Temp dirs of a process that is gone are removed before the next archive (and by
// removeCrashedTemps, for a daemon that starts); ones without that tag after an hour.
import { createHash } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  mkdtemp,
  open,
  readFile,
  readdir,
  realpath,
  rename,
  rm,
  stat,
  type FileHandle,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary } from './errno.ts';
import { hasExited, readProcStat } from './proc.ts';
import { makePrivateDirectory } from './state-file.ts';
import { isRecord } from '../lib/record.ts';

/**
 * Why a path is not in the archive. Only `deadline` and `unreadable` make it incomplete: the
 * others are policy (credentials, excluded, symlink, special, archive-root) or nothing to copy.
 */
export type SkipReason =
  | 'deadline'
  | 'vanished'
  | 'unreadable'
  | 'missing'
  | 'symlink'
  | 'special'
  | 'credentials'
  | 'excluded'
  | 'archive-root';

export interface ArchiveOptions {
  /**
   * Files or directories, absolute (relative ones resolve against the cwd). A source that is
   * itself a symlink is followed (the configuration named it); symlinks inside are not. Secrets
   * (see isSecretName) are never copied, whether named here, reached through a link, or inside.
   */
  readonly sources: readonly string[];
  /** Created (0700) when missing; refused when it is a symlink. */
  readonly archiveRoot: string;
  /** Why the archive is made; sanitised to [a-z0-9-] in the directory name. */
  readonly reason: string;
  /** The archive's time: its name and `createdAtMs`. */
  readonly nowMs: number;
  /** Absolute time, on the `now` clock, after which no more file data is copied. */
  readonly deadlineMs: number;
  /** The clock `deadlineMs` is compared with; default `Date.now`. */
  readonly now?: () => number;
  /** Leaves out an entry inside a directory source; `relPath` is relative to that source. */
  readonly exclude?: (relPath: string, absPath: string) => boolean;
  /** Keeps at most this many archives, the new one included (at least 1). Default 10. */
  readonly retain?: number;
  /** Merged into manifest.json; keys that the manifest itself defines are ignored. */
  readonly extraManifest?: Readonly<Record<string, unknown>>;
  /**
   * Records each file's `mtimeMs`, and hard-links (instead of copying) a file whose size and
   * mtime equal those recorded by the newest archive under the root that records them: a tier-1
   * checkpoint followed by tier 3 then copies only what changed in between (rsync's quick check;
   * a same-size rewrite within one mtime tick would be missed, as rsync would miss it).
   */
  readonly incremental?: boolean;
}

/** One copied file: `path` is where it was; the copy is at `files/<path without its '/'>`. */
export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** The source's mtime when copied; recorded by incremental archives only. */
  readonly mtimeMs?: number;
}

export interface ManifestSkip {
  readonly path: string;
  readonly why: SkipReason;
}

export interface Manifest {
  readonly memgov: 'archive';
  readonly version: 1;
  readonly reason: string;
  readonly createdAtMs: number;
  readonly sources: readonly string[];
  /** Sorted by path. */
  readonly files: readonly ManifestFile[];
  /** Sorted by path. */
  readonly skipped: readonly ManifestSkip[];
  readonly complete: boolean;
  readonly [extra: string]: unknown;
}

export interface ArchiveResult {
  /** The archive's final directory. */
  readonly dir: string;
  readonly files: number;
  readonly bytes: number;
  readonly skipped: number;
  readonly complete: boolean;
  readonly durationMs: number;
  /** Older archives and stale `.tmp-*` directories removed afterwards. */
  readonly pruned: readonly string[];
  /** Incremental archives only: files hard-linked from `base` instead of copied. */
  readonly linked?: number;
  /** Incremental archives only: the archive unchanged files were linked from, or null. */
  readonly base?: string | null;
}

export interface ArchiveError {
  readonly kind: 'io' | 'symlink';
  readonly path: string;
  readonly detail: string;
}

export interface VerifyError {
  readonly kind: 'mismatch' | 'missing' | 'io' | 'manifest';
  readonly path: string;
  readonly detail: string;
}

/** A final archive found under an archive root. */
export interface ArchiveEntry {
  readonly dir: string;
  readonly createdAtMs: number;
  readonly reason: string;
  readonly complete: boolean;
}

export function formatArchiveError(e: ArchiveError | VerifyError): string {
  return `${e.path}: ${e.detail}`;
}

/** Exact file names that hold credentials: agent CLI logins, tokens, private keys. */
const SECRET_NAMES = new Set([
  '.credentials.json', // Claude Code's OAuth login
  'auth.json', // Codex CLI (~/.codex/auth.json): API key or ChatGPT login tokens
  'oauth_creds.json', // Gemini CLI (~/.gemini/oauth_creds.json)
  'credentials', // AWS CLI (~/.aws/credentials) and others of the same habit
  '.netrc',
  '.git-credentials',
  '.npmrc', // registry auth tokens
  '.pypirc',
  'id_rsa',
  'id_dsa',
  'id_ecdsa',
  'id_ed25519',
  'id_ecdsa_sk',
  'id_ed25519_sk',
]);
/** Directories that hold nothing but keys and their configuration: left out whole. */
const SECRET_DIRS = new Set(['.ssh', '.gnupg']);
/** Dotenv and direnv files (`.env`, `.env.local`, `.envrc`), key and keystore files (`tls.key`,
 * `ca.pem`, `client.p12`...). */
const SECRET_PATTERN = /^\.env(?:rc|\..*)?$|\.(?:pem|key|p12|pfx)$/i;

/**
 * Whether a file or directory named `name` is never archived: a credentials file, a dotenv
 * file, a private key or keystore, or a `.ssh`/`.gnupg` directory. Decided by name only, so a
 * secret under an innocent name (or inside an agent's transcript) is not caught; an innocent file
 * under one of these names is left out and listed as skipped (`credentials`), never silently.
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAMES.has(name) || SECRET_DIRS.has(name) || SECRET_PATTERN.test(name);
}

const MANIFEST = 'manifest.json';
const DEFAULT_RETAIN = 10;
const STALE_TMP_MS = 60 * 60 * 1000;
const CHUNK_BYTES = 1 << 20;
const MAX_NAME_SUFFIX = 1000;
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

/** This process's tag; start ticks 0 where /proc cannot be read (then the age rule applies). */
function ownPrefix(): string {
  ownTmpPrefix ??= `${TMP_PREFIX}${HOST}.${process.pid}.${readProcStat(process.pid).match(
    (stat) => stat.startTicks,
    () => 0,
  )}-`;
  return ownTmpPrefix;
}
const CORE_KEYS = new Set([
  'memgov',
  'version',
  'reason',
  'createdAtMs',
  'sources',
  'files',
  'skipped',
  'complete',
]);
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
// O_NONBLOCK: a FIFO swapped in after readdir must not hang the open.
const COPY_FLAGS = READ_FLAGS | constants.O_NONBLOCK;

/** Carries an ArchiveError from deep in the copy to the one boundary that returns it. */
class ArchiveFailure extends Error {
  constructor(readonly failure: ArchiveError) {
    super(failure.detail);
  }
}

async function io<T>(path: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new ArchiveFailure({ kind: 'io', path, detail: errnoSummary(error) });
  }
}

function byPath(a: { readonly path: string }, b: { readonly path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** `<ISO time, ':' as '-'>-<reason as [a-z0-9-]>`. */
export function archiveName(nowMs: number, reason: string): string {
  const slug =
    reason
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 60)
      .replace(/-$/, '') || 'archive';
  return `${new Date(nowMs).toISOString().replace(/:/g, '-')}-${slug}`;
}

/** The walk's state: what was copied, what was skipped and why. */
class Collector {
  readonly files: ManifestFile[] = [];
  readonly skipped: ManifestSkip[] = [];
  bytes = 0;
  linked = 0;
  private readonly seen = new Set<string>();
  /** The one copy buffer: files are copied one after the other. */
  private buffer: Buffer | undefined;

  constructor(
    private readonly filesDir: string,
    /** The archive root's real path: it is never walked into. */
    private readonly realRoot: string,
    private readonly options: ArchiveOptions,
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
    let handle: FileHandle;
    try {
      handle = await open(openPath, COPY_FLAGS);
    } catch (error) {
      const code = errnoCode(error);
      return this.skip(
        path,
        code === 'ENOENT' || code === 'ENOTDIR'
          ? 'vanished'
          : code === 'ELOOP'
            ? 'symlink'
            : 'unreadable',
      );
    }
    let found: { isFile: boolean; size: number; mtimeMs: number };
    try {
      const st = await handle.stat();
      found = { isFile: st.isFile(), size: st.size, mtimeMs: st.mtimeMs };
    } catch {
      await handle.close().catch(() => undefined);
      return this.skip(path, 'unreadable');
    }
    if (!found.isFile) {
      await handle.close().catch(() => undefined);
      return this.skip(path, 'special');
    }
    const dest = join(this.filesDir, path.slice(1));
    try {
      makePrivateDirectory(dirname(dest));
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw new ArchiveFailure({ kind: 'io', path: dirname(dest), detail: errnoSummary(error) });
    }
    const stamp = this.options.incremental === true ? { mtimeMs: found.mtimeMs } : {};
    const before = this.base?.files.get(path);
    if (
      this.base !== null &&
      before !== undefined &&
      before.size === found.size &&
      before.mtimeMs === found.mtimeMs &&
      (await this.linkFrom(this.base.dir, path, before.size, dest))
    ) {
      await handle.close().catch(() => undefined);
      this.claim(path);
      this.files.push({ path, size: before.size, sha256: before.sha256, ...stamp });
      this.bytes += before.size;
      this.linked += 1;
      return;
    }
    const copied = await this.stream(handle, dest);
    if (copied === 'deadline' || copied === 'unreadable') return this.skip(path, copied);
    this.claim(path);
    this.files.push({ path, ...copied, ...stamp });
    this.bytes += copied.size;
  }

  /** Hard-links the previous archive's copy of `path` to `dest`; false (copy instead) on any doubt. */
  private async linkFrom(baseDir: string, path: string, size: number, dest: string) {
    const previous = join(baseDir, 'files', path.slice(1));
    try {
      const st = await lstat(previous);
      if (!st.isFile() || st.size !== size) return false;
      await link(previous, dest);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Streams an open file (closed here) to `dest` (0600) through sha256 in 1 MiB chunks through
   * one reused buffer, checking the deadline before each chunk. A read failure or the deadline
   * drops the partial copy and names the reason; a write failure fails the whole archive.
   */
  private async stream(
    source: FileHandle,
    dest: string,
  ): Promise<{ size: number; sha256: string } | 'deadline' | 'unreadable'> {
    let sink: FileHandle;
    try {
      sink = await open(dest, 'wx', 0o600);
      await sink.chmod(0o600); // exactly, whatever the umask
    } catch (error) {
      await source.close().catch(() => undefined);
      throw new ArchiveFailure({ kind: 'io', path: dest, detail: errnoSummary(error) });
    }
    this.buffer ??= Buffer.allocUnsafeSlow(CHUNK_BYTES);
    const hash = createHash('sha256');
    let size = 0;
    let stopped: 'deadline' | 'unreadable' | undefined;
    let writeError: unknown;
    try {
      for (;;) {
        if (this.pastDeadline()) {
          stopped = 'deadline';
          break;
        }
        const bytesRead = await source.read(this.buffer, 0, CHUNK_BYTES, null).then(
          (read) => read.bytesRead,
          () => undefined,
        );
        if (bytesRead === undefined) stopped = 'unreadable';
        if (bytesRead === undefined || bytesRead === 0) break;
        const chunk = this.buffer.subarray(0, bytesRead);
        hash.update(chunk);
        for (let offset = 0; offset < bytesRead;) {
          offset += (await sink.write(chunk, offset, bytesRead - offset)).bytesWritten;
        }
        size += bytesRead;
      }
    } catch (error) {
      writeError = error;
    } finally {
      await source.close().catch(() => undefined);
      await sink.close().catch((error: unknown) => {
        writeError ??= error;
      });
    }
    if (stopped === undefined && writeError === undefined) {
      return { size, sha256: hash.digest('hex') };
    }
    await rm(dest, { force: true }).catch(() => undefined);
    if (writeError !== undefined) {
      throw new ArchiveFailure({ kind: 'io', path: dest, detail: errnoSummary(writeError) });
    }
    return stopped ?? 'unreadable';
  }
}

/** The newest archive whose manifest records mtimes: incremental archives link from it. */
interface BaseArchive {
  readonly dir: string;
  readonly files: ReadonlyMap<string, ManifestFile & { readonly mtimeMs: number }>;
}

async function findBase(root: string): Promise<BaseArchive | null> {
  const archives = await listArchives(root);
  if (archives.isErr()) return null;
  for (const archive of archives.value) {
    const manifest = await readManifest(archive.dir);
    if (manifest.isErr()) continue;
    const files = new Map<string, ManifestFile & { readonly mtimeMs: number }>();
    for (const file of manifest.value.files) {
      if (typeof file.mtimeMs === 'number')
        files.set(file.path, { ...file, mtimeMs: file.mtimeMs });
    }
    if (files.size > 0) return { dir: archive.dir, files };
  }
  return null;
}

/** The archive root must be a real directory; a missing one is created 0700. */
async function prepareRoot(root: string): Promise<Result<void, ArchiveError>> {
  try {
    const found = await lstat(root);
    if (found.isSymbolicLink()) {
      return err({ kind: 'symlink', path: root, detail: 'the archive root is a symlink' });
    }
    if (!found.isDirectory()) {
      return err({ kind: 'io', path: root, detail: 'the archive root is not a directory' });
    }
    return ok(undefined);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') {
      return err({ kind: 'io', path: root, detail: errnoSummary(error) });
    }
  }
  try {
    makePrivateDirectory(root);
    return ok(undefined);
  } catch (error) {
    return err({ kind: 'io', path: root, detail: errnoSummary(error) });
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes manifest.json (0600) and fsyncs it and the directory holding it. */
async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const path = join(dir, MANIFEST);
  const handle = await io(path, open(path, 'wx', 0o600));
  try {
    await io(path, handle.chmod(0o600));
    await io(path, handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`));
    await io(path, handle.sync());
  } finally {
    await handle.close().catch(() => undefined);
  }
  await io(dir, fsyncPath(dir));
}

/** Renames the finished temp directory to `name`, or `name-2`, `name-3`... when taken. */
async function publish(tmp: string, root: string, name: string): Promise<string> {
  for (let n = 1; n <= MAX_NAME_SUFFIX; n++) {
    const dir = join(root, n === 1 ? name : `${name}-${n}`);
    const taken = await lstat(dir).then(
      () => true,
      (error: unknown) => {
        if (errnoCode(error) === 'ENOENT') return false;
        throw new ArchiveFailure({ kind: 'io', path: dir, detail: errnoSummary(error) });
      },
    );
    if (taken) continue;
    try {
      await rename(tmp, dir);
    } catch (error) {
      // Another archive took the name between lstat and rename.
      const code = errnoCode(error);
      if (code === 'EEXIST' || code === 'ENOTEMPTY') continue;
      throw new ArchiveFailure({ kind: 'io', path: dir, detail: errnoSummary(error) });
    }
    await fsyncPath(root).catch(() => undefined);
    return dir;
  }
  throw new ArchiveFailure({ kind: 'io', path: join(root, name), detail: 'every name is taken' });
}

function isManifestFile(value: unknown): value is ManifestFile {
  return (
    isRecord(value) &&
    typeof value.path === 'string' &&
    Number.isSafeInteger(value.size) &&
    (value.size as number) >= 0 &&
    typeof value.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(value.sha256) &&
    (value.mtimeMs === undefined || typeof value.mtimeMs === 'number')
  );
}

/** Reads and checks `<dir>/manifest.json`: a memgov archive manifest, version 1. */
async function readManifest(dir: string): Promise<Result<Manifest, VerifyError>> {
  const path = join(dir, MANIFEST);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = errnoCode(error);
    return err(
      code === 'ENOENT' || code === 'ENOTDIR'
        ? { kind: 'missing', path, detail: 'no manifest' }
        : { kind: 'io', path, detail: errnoSummary(error) },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return err({ kind: 'manifest', path, detail: 'not JSON' });
  }
  const bad = (detail: string): Result<Manifest, VerifyError> =>
    err({ kind: 'manifest', path, detail });
  if (!isRecord(parsed) || parsed.memgov !== 'archive') return bad('not a memgov archive manifest');
  if (parsed.version !== 1) return bad(`version ${JSON.stringify(parsed.version)}, expected 1`);
  if (typeof parsed.reason !== 'string' || typeof parsed.createdAtMs !== 'number') {
    return bad('"reason" or "createdAtMs" is missing');
  }
  if (typeof parsed.complete !== 'boolean') return bad('"complete" is missing');
  if (!Array.isArray(parsed.files) || !parsed.files.every(isManifestFile)) {
    return bad('"files" must list {path, size, sha256}');
  }
  if (!Array.isArray(parsed.skipped) || !Array.isArray(parsed.sources)) {
    return bad('"skipped" or "sources" is missing');
  }
  return ok(parsed as unknown as Manifest);
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
  if (`${TMP_PREFIX}${tag[1]}.${pid}.${startTicks}-` === ownPrefix()) {
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
  const doomed = join(root, `${ownPrefix()}pruned-${basename(dir)}`);
  try {
    await rename(dir, doomed);
    await rm(doomed, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Keeps `keep` and the newest `retain - 1` other archives. Best effort: an archive that cannot
 * be removed stays, and is not reported.
 */
async function prune(root: string, retain: number, keep: string): Promise<string[]> {
  const removed: string[] = [];
  const archives = await listArchives(root);
  if (archives.isErr()) return removed;
  const others = archives.value.filter((archive) => archive.dir !== keep);
  for (const archive of others.slice(retain - 1)) {
    if (await removeArchive(root, archive.dir)) removed.push(archive.dir);
  }
  return removed;
}

/**
 * Copies the sources into a new archive under `archiveRoot` and returns its final directory.
 * Past `deadlineMs` the rest is listed as skipped and the archive, marked incomplete, is still
 * published. Fails only when the archive itself cannot be written; then nothing is left behind.
 */
export async function archiveSession(
  options: ArchiveOptions,
): Promise<Result<ArchiveResult, ArchiveError>> {
  const now = options.now ?? Date.now;
  const startedMs = now();
  const root = resolve(options.archiveRoot);
  if (!Number.isFinite(options.nowMs)) {
    return err({ kind: 'io', path: root, detail: `nowMs ${options.nowMs} is not a time` });
  }
  const prepared = await prepareRoot(root);
  if (prepared.isErr()) return err(prepared.error);
  const name = archiveName(options.nowMs, options.reason);
  // First, so that what a crash left takes no room from this archive.
  const cleaned = await removeCrashedTemps(root);
  busyRoots.set(root, (busyRoots.get(root) ?? 0) + 1);
  let tmp: string | undefined;
  try {
    const realRoot = await io(root, realpath(root));
    tmp = await io(root, mkdtemp(join(root, `${ownPrefix()}${name}-`)));
    await io(tmp, chmod(tmp, 0o700));
    const base = options.incremental === true ? await findBase(root) : null;
    const collector = new Collector(join(tmp, 'files'), realRoot, options, now, base);
    for (const source of options.sources) await collector.addSource(source);
    const skipped = collector.skipped.sort(byPath);
    const complete = !skipped.some((s) => s.why === 'deadline' || s.why === 'unreadable');
    const extra = Object.entries(options.extraManifest ?? {}).filter(([k]) => !CORE_KEYS.has(k));
    const manifest: Manifest = {
      memgov: 'archive',
      version: 1,
      reason: options.reason,
      createdAtMs: options.nowMs,
      sources: options.sources.map((source) => resolve(source)),
      files: collector.files.sort(byPath),
      skipped,
      complete,
      ...Object.fromEntries(extra),
    };
    await writeManifest(tmp, manifest);
    const dir = await publish(tmp, root, name);
    tmp = undefined;
    const retain = Math.max(1, Math.floor(options.retain ?? DEFAULT_RETAIN));
    const pruned = [...cleaned, ...(await prune(root, retain, dir))];
    return ok({
      dir,
      files: manifest.files.length,
      bytes: collector.bytes,
      skipped: skipped.length,
      complete,
      durationMs: now() - startedMs,
      pruned,
      ...(options.incremental === true
        ? { linked: collector.linked, base: base?.dir ?? null }
        : {}),
    });
  } catch (error) {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    return err(
      error instanceof ArchiveFailure
        ? error.failure
        : { kind: 'io', path: root, detail: errnoSummary(error) },
    );
  } finally {
    const busy = (busyRoots.get(root) ?? 1) - 1;
    if (busy > 0) busyRoots.set(root, busy);
    else busyRoots.delete(root);
  }
}

/** Streams an open file through sha256 in the caller's buffer (never the whole file at once). */
export async function hashOpenFile(
  handle: FileHandle,
  buffer: Buffer,
): Promise<Result<{ size: number; sha256: string }, unknown>> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
  } catch (error) {
    return err(error);
  }
  return ok({ size, sha256: hash.digest('hex') });
}

/** Hashes one archived file and compares it with its manifest entry. */
async function verifyFile(
  dir: string,
  file: ManifestFile,
  buffer: Buffer,
): Promise<Result<void, VerifyError>> {
  if (!isAbsolute(file.path) || normalize(file.path) !== file.path || file.path.includes('\0')) {
    return err({ kind: 'manifest', path: join(dir, MANIFEST), detail: `unsafe path ${file.path}` });
  }
  const path = join(dir, 'files', file.path.slice(1));
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    return err(
      code === 'ENOENT' || code === 'ENOTDIR'
        ? { kind: 'missing', path, detail: 'listed in the manifest but not archived' }
        : code === 'ELOOP'
          ? { kind: 'mismatch', path, detail: 'a symlink, not the archived file' }
          : { kind: 'io', path, detail: errnoSummary(error) },
    );
  }
  const regular = await handle.stat().then(
    (stats) => stats.isFile(),
    (error: unknown) => error,
  );
  const hashed = regular === true ? await hashOpenFile(handle, buffer) : null;
  await handle.close().catch(() => undefined);
  if (regular === false) return err({ kind: 'mismatch', path, detail: 'not a regular file' });
  if (hashed === null) return err({ kind: 'io', path, detail: errnoSummary(regular) });
  if (hashed.isErr()) return err({ kind: 'io', path, detail: errnoSummary(hashed.error) });
  const { size, sha256 } = hashed.value;
  if (size !== file.size) {
    return err({ kind: 'mismatch', path, detail: `${size} bytes, manifest says ${file.size}` });
  }
  return sha256 === file.sha256
    ? ok(undefined)
    : err({ kind: 'mismatch', path, detail: `sha256 ${sha256}, manifest says ${file.sha256}` });
}

/** Re-hashes every file the manifest lists; the first difference is the error. */
export async function verifyArchive(
  dir: string,
): Promise<Result<{ ok: true; files: number }, VerifyError>> {
  const manifest = await readManifest(dir);
  if (manifest.isErr()) return err(manifest.error);
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  for (const file of manifest.value.files) {
    const checked = await verifyFile(dir, file, buffer);
    if (checked.isErr()) return err(checked.error);
  }
  return ok({ ok: true, files: manifest.value.files.length });
}

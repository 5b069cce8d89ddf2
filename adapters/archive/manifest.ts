// The one archive manifest: `<archive>/manifest.json`, what write.ts records and what verify,
// list and restore read back. Its on-disk format is version 1 (docs/DESIGN.md); `parseManifest`
// is pure (text in, Result out), so every malformed manifest is testable from a string, and
// `readManifest` adds only the read. Every error names the manifest file and the field at fault.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary } from '../errno.ts';
import { isRecord } from '../../lib/record.ts';

export const MANIFEST_NAME = 'manifest.json';

const SKIP_REASONS = [
  'deadline',
  'vanished',
  'unreadable',
  'missing',
  'symlink',
  'special',
  'credentials',
  'excluded',
  'archive-root',
] as const;

/**
 * Why a path is not in the archive. Only `deadline` and `unreadable` make it incomplete: the
 * others are policy (credentials, excluded, symlink, special, archive-root) or nothing to copy.
 */
export type SkipReason = (typeof SKIP_REASONS)[number];

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
  /** What the caller merged in (`extraManifest`: an agent's session id, its config dir...). */
  readonly [extra: string]: unknown;
}

/** Why a manifest cannot be used; `path` is the manifest file. */
export interface ManifestError {
  readonly kind: 'missing' | 'io' | 'manifest';
  readonly path: string;
  readonly detail: string;
}

/** The keys the manifest itself defines: extra fields never override them. */
export const CORE_KEYS: ReadonlySet<string> = new Set([
  'memgov',
  'version',
  'reason',
  'createdAtMs',
  'sources',
  'files',
  'skipped',
  'complete',
]);

/** Where the archive under `dir` holds its copy of the file that was at `path`. */
export function archivedCopyPath(dir: string, path: string): string {
  return join(dir, 'files', path.slice(1));
}

/**
 * Whether a manifest path may be read from the archive or written back: absolute, normalised (no
 * `..` climbing out of the archive's `files/`), no NUL, and not the root itself.
 */
export function isSafeArchivedPath(path: string): boolean {
  return isAbsolute(path) && normalize(path) === path && !path.includes('\0') && path !== '/';
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

function isManifestSkip(value: unknown): value is ManifestSkip {
  return (
    isRecord(value) &&
    typeof value.path === 'string' &&
    (SKIP_REASONS as readonly unknown[]).includes(value.why)
  );
}

/** The first rule of version 1 that `parsed` breaks, or null when it is a whole manifest. */
function whatIsWrong(parsed: unknown): string | null {
  if (!isRecord(parsed) || parsed.memgov !== 'archive') return 'not a memgov archive manifest';
  if (parsed.version !== 1) return `version ${JSON.stringify(parsed.version)}, expected 1`;
  if (typeof parsed.reason !== 'string' || typeof parsed.createdAtMs !== 'number') {
    return '"reason" or "createdAtMs" is missing';
  }
  if (typeof parsed.complete !== 'boolean') return '"complete" is missing';
  if (!Array.isArray(parsed.files) || !parsed.files.every(isManifestFile)) {
    return '"files" must list {path, size, sha256}';
  }
  if (!Array.isArray(parsed.skipped) || !Array.isArray(parsed.sources)) {
    return '"skipped" or "sources" is missing';
  }
  if (!parsed.sources.every((source) => typeof source === 'string')) {
    return '"sources" must list paths';
  }
  if (!parsed.skipped.every(isManifestSkip)) return '"skipped" must list {path, why}';
  return null;
}

/** Parses the text of the manifest file at `path` (named in the error): version 1 only. */
export function parseManifest(text: string, path: string): Result<Manifest, ManifestError> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return err({ kind: 'manifest', path, detail: 'not JSON' });
  }
  const wrong = whatIsWrong(parsed);
  return wrong === null ? ok(parsed as Manifest) : err({ kind: 'manifest', path, detail: wrong });
}

/** Reads and checks `<dir>/manifest.json`. */
export async function readManifest(dir: string): Promise<Result<Manifest, ManifestError>> {
  const path = join(dir, MANIFEST_NAME);
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
  return parseManifest(text, path);
}

/** Whether a skip makes the archive incomplete: a file that should be there and is not. */
export function isLoss(skip: ManifestSkip): boolean {
  return skip.why === 'deadline' || skip.why === 'unreadable';
}

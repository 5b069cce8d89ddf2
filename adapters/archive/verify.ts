// Re-hashes an archive against its manifest: what the crash bench checks after every kill and
// what restore does before it writes anything. The first difference is the error, naming the
// archived copy at fault.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { errnoCode, errnoSummary } from '../errno.ts';
import { CHUNK_BYTES, hashOpenFile } from './copy.ts';
import type { VerifyError } from './errors.ts';
import {
  MANIFEST_NAME,
  archivedCopyPath,
  isSafeArchivedPath,
  readManifest,
  type Manifest,
  type ManifestFile,
} from './manifest.ts';

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

function openFailure(path: string, error: unknown): VerifyError {
  const code = errnoCode(error);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return { kind: 'missing', path, detail: 'listed in the manifest but not archived' };
  }
  return code === 'ELOOP'
    ? { kind: 'mismatch', path, detail: 'a symlink, not the archived file' }
    : { kind: 'io', path, detail: errnoSummary(error) };
}

/** Hashes one archived file and compares it with its manifest entry. */
async function verifyFile(
  dir: string,
  file: ManifestFile,
  buffer: Buffer,
): Promise<Result<void, VerifyError>> {
  if (!isSafeArchivedPath(file.path)) {
    const detail = `unsafe path ${file.path}`;
    return err({ kind: 'manifest', path: join(dir, MANIFEST_NAME), detail });
  }
  const path = archivedCopyPath(dir, file.path);
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    return err(openFailure(path, error));
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

/** Re-hashes every file that `manifest`, already read from `dir`, lists. */
export async function verifyFiles(
  dir: string,
  manifest: Manifest,
): Promise<Result<{ ok: true; files: number }, VerifyError>> {
  const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  for (const file of manifest.files) {
    const checked = await verifyFile(dir, file, buffer);
    if (checked.isErr()) return err(checked.error);
  }
  return ok({ ok: true, files: manifest.files.length });
}

/** Reads the manifest under `dir` and re-hashes every file it lists. */
export async function verifyArchive(
  dir: string,
): Promise<Result<{ ok: true; files: number }, VerifyError>> {
  const manifest = await readManifest(dir);
  return manifest.isErr() ? err(manifest.error) : verifyFiles(dir, manifest.value);
}

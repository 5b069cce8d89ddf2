// The errors of the archive room, and the one way they are printed. Writing reports an
// ArchiveError; verifying (and so listing and restoring) a VerifyError, of which the manifest's
// own errors are a part.
import { errnoSummary } from '../errno.ts';
import type { ManifestError } from './manifest.ts';

/** Why an archive could not be written; `path` is the file or directory at fault. */
export interface ArchiveError {
  readonly kind: 'io' | 'symlink';
  readonly path: string;
  readonly detail: string;
}

/** Why an archive does not hold what its manifest says; `path` is the file at fault. */
export type VerifyError =
  ManifestError | { readonly kind: 'mismatch'; readonly path: string; readonly detail: string };

export function formatArchiveError(e: ArchiveError | VerifyError): string {
  return `${e.path}: ${e.detail}`;
}

/** Carries an ArchiveError from deep in the copy to the one boundary that returns it. */
export class ArchiveFailure extends Error {
  constructor(readonly failure: ArchiveError) {
    super(failure.detail);
  }
}

/** Awaits `work`, turning its rejection into an ArchiveFailure that names `path`. */
export async function io<T>(path: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new ArchiveFailure({ kind: 'io', path, detail: errnoSummary(error) });
  }
}

/** The error an archive run returns for whatever it caught. */
export function archiveErrorOf(error: unknown, path: string): ArchiveError {
  return error instanceof ArchiveFailure
    ? error.failure
    : { kind: 'io', path, detail: errnoSummary(error) };
}

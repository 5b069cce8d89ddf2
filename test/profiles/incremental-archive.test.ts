// Incremental archives (the tier-1 checkpoint, then tier 3's top-up): a file whose size and mtime
// match the previous archive's manifest is hard-linked from it, a changed one is copied, and both
// archives still verify.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../adapters/archive/manifest.ts';
import { verifyArchive } from '../../adapters/archive/verify.ts';
import { archiveSession } from '../../adapters/archive/write.ts';

const MIB = 1024 * 1024;
const NOW_MS = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
let work: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-incremental-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const copyOf = (dir: string, path: string): string => join(dir, 'files', path.slice(1));
const manifestOf = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

describe('archiveSession with incremental', () => {
  it('hard-links an unchanged 5 MiB file from the checkpoint and copies a changed one', async () => {
    const unchanged = join(work, 'unchanged.jsonl');
    const changed = join(work, 'changed.jsonl');
    writeFileSync(unchanged, randomBytes(5 * MIB));
    writeFileSync(changed, randomBytes(5 * MIB));
    const archiveRoot = join(work, 'archive');
    const options = { sources: [unchanged, changed], archiveRoot, incremental: true };

    const checkpoint = (
      await archiveSession({
        ...options,
        reason: 'checkpoint',
        nowMs: NOW_MS,
        deadlineMs: Number.POSITIVE_INFINITY,
      })
    )._unsafeUnwrap();
    expect(checkpoint).toMatchObject({ files: 2, linked: 0, base: null });
    expect(manifestOf(checkpoint.dir).files.map((f) => f.mtimeMs)).toEqual([
      statSync(changed).mtimeMs,
      statSync(unchanged).mtimeMs,
    ]);

    // Same size, new content and mtime: must be copied again.
    writeFileSync(changed, randomBytes(5 * MIB));
    utimesSync(changed, new Date(NOW_MS + 60_000), new Date(NOW_MS + 60_000));
    const tier3 = (
      await archiveSession({
        ...options,
        reason: 'tier3',
        nowMs: NOW_MS + 1_000,
        deadlineMs: Number.POSITIVE_INFINITY,
      })
    )._unsafeUnwrap();

    expect(tier3).toMatchObject({ files: 2, linked: 1, base: checkpoint.dir, bytes: 10 * MIB });
    const linked = statSync(copyOf(tier3.dir, unchanged));
    expect(linked.ino).toBe(statSync(copyOf(checkpoint.dir, unchanged)).ino);
    expect(linked.nlink).toBe(2);
    expect(statSync(copyOf(tier3.dir, changed)).ino).not.toBe(
      statSync(copyOf(checkpoint.dir, changed)).ino,
    );
    expect(readFileSync(copyOf(tier3.dir, changed)).equals(readFileSync(changed))).toBe(true);
    expect((await verifyArchive(tier3.dir))._unsafeUnwrap()).toEqual({ ok: true, files: 2 });
    expect((await verifyArchive(checkpoint.dir))._unsafeUnwrap()).toEqual({ ok: true, files: 2 });
  });

  it('copies everything when the previous archive recorded no mtimes', async () => {
    const file = join(work, 'a.jsonl');
    writeFileSync(file, 'x'.repeat(1000));
    const archiveRoot = join(work, 'archive');
    const plain = (
      await archiveSession({
        sources: [file],
        archiveRoot,
        reason: 'tier3',
        nowMs: NOW_MS,
        deadlineMs: Number.POSITIVE_INFINITY,
      })
    )._unsafeUnwrap();
    expect(plain).not.toHaveProperty('linked');
    expect(manifestOf(plain.dir).files[0]).not.toHaveProperty('mtimeMs');

    const next = (
      await archiveSession({
        sources: [file],
        archiveRoot,
        reason: 'checkpoint',
        nowMs: NOW_MS + 1,
        deadlineMs: Number.POSITIVE_INFINITY,
        incremental: true,
      })
    )._unsafeUnwrap();
    expect(next).toMatchObject({ linked: 0, base: null });
  });
});

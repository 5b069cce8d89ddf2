// The one archive manifest parser, from strings: what write.ts records parses back whole, and
// each way a manifest can be wrong is an error naming the manifest file and the field at fault.
// Verify, list and restore all read manifests through it (test/executor/archive.test.ts and
// test/profiles/restore.test.ts cover those on real archives).
import { describe, expect, it } from 'vitest';
import {
  isLoss,
  isSafeArchivedPath,
  parseManifest,
  type Manifest,
} from '../../adapters/archive/manifest.ts';

const PATH = '/data/archives/2026-01-02T03-04-05.678Z-tier3/manifest.json';
const SHA = 'ab'.repeat(32);

const WHOLE: Manifest = {
  memgov: 'archive',
  version: 1,
  reason: 'tier3',
  createdAtMs: 1_767_323_045_678,
  sources: ['/home/a/.claude'],
  files: [
    { path: '/home/a/.claude/projects/-w/s1.jsonl', size: 40, sha256: SHA },
    { path: '/home/a/.claude/todos/s1.json', size: 2, sha256: SHA, mtimeMs: 1_767_323_000_000 },
  ],
  skipped: [
    { path: '/home/a/.claude/.credentials.json', why: 'credentials' },
    { path: '/home/a/.claude/big.jsonl', why: 'deadline' },
  ],
  complete: false,
  sessionId: 's1',
  claudeConfigDir: '/home/a/.claude',
};

function rejection(manifest: unknown): unknown {
  return parseManifest(JSON.stringify(manifest), PATH)._unsafeUnwrapErr();
}

describe('parseManifest', () => {
  it('reads back what the archive writes, extra fields included', () => {
    const text = `${JSON.stringify(WHOLE, null, 2)}\n`;
    expect(parseManifest(text, PATH)._unsafeUnwrap()).toEqual(WHOLE);
  });

  it.each([
    ['a list', [], 'not a memgov archive manifest'],
    ['version 2', { ...WHOLE, version: 2 }, 'version 2, expected 1'],
    ['no version', { ...WHOLE, version: undefined }, 'version undefined, expected 1'],
    ['no reason', { ...WHOLE, reason: 7 }, '"reason" or "createdAtMs" is missing'],
    ['a text time', { ...WHOLE, createdAtMs: '2026' }, '"reason" or "createdAtMs" is missing'],
    ['no complete', { ...WHOLE, complete: 'yes' }, '"complete" is missing'],
    ['no files', { ...WHOLE, files: null }, '"files" must list {path, size, sha256}'],
    [
      'a short sha256',
      { ...WHOLE, files: [{ path: '/a', size: 1, sha256: 'abc' }] },
      '"files" must list {path, size, sha256}',
    ],
    [
      'a negative size',
      { ...WHOLE, files: [{ path: '/a', size: -1, sha256: SHA }] },
      '"files" must list {path, size, sha256}',
    ],
    [
      'a text mtime',
      { ...WHOLE, files: [{ path: '/a', size: 1, sha256: SHA, mtimeMs: 'now' }] },
      '"files" must list {path, size, sha256}',
    ],
    ['no skipped', { ...WHOLE, skipped: undefined }, '"skipped" or "sources" is missing'],
    ['no sources', { ...WHOLE, sources: {} }, '"skipped" or "sources" is missing'],
    ['a number as source', { ...WHOLE, sources: ['/a', 1] }, '"sources" must list paths'],
    [
      'an unknown skip reason',
      { ...WHOLE, skipped: [{ path: '/a', why: 'bored' }] },
      '"skipped" must list {path, why}',
    ],
  ])('rejects a manifest with %s, naming the file', (_what, manifest, detail) => {
    expect(rejection(manifest)).toEqual({ kind: 'manifest', path: PATH, detail });
  });

  it('rejects text that is not JSON, or not a memgov archive', () => {
    for (const [text, detail] of [
      ['{"memgov":"archive",', 'not JSON'],
      ['"archive"', 'not a memgov archive manifest'],
      ['{"memgov":"state","version":1}', 'not a memgov archive manifest'],
    ] as const) {
      expect(parseManifest(text, PATH)._unsafeUnwrapErr()).toEqual({
        kind: 'manifest',
        path: PATH,
        detail,
      });
    }
  });
});

describe('manifest paths and skips', () => {
  it('accepts only absolute, normalised paths below the root', () => {
    expect(isSafeArchivedPath('/home/a/.claude/s1.jsonl')).toBe(true);
    for (const path of ['/', 'home/a', '/home/../etc/passwd', '/home//a', '/a/./b', '/a\0b']) {
      expect([path, isSafeArchivedPath(path)]).toEqual([path, false]);
    }
  });

  it('counts only a deadline or an unreadable file as a loss', () => {
    expect(WHOLE.skipped.map(isLoss)).toEqual([false, true]);
    expect(isLoss({ path: '/a', why: 'unreadable' })).toBe(true);
    expect(isLoss({ path: '/a', why: 'vanished' })).toBe(false);
  });
});

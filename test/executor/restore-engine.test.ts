// The restore engine (adapters/archive/restore.ts) on real files, without the CLI: it knows no
// agent (every archived file comes back unless the caller leaves it out, and the manifest's extra
// fields are handed back untouched), reads the manifest once through the one parser, and
// refuses a bad manifest before it looks at any destination.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { restoreArchive } from '../../adapters/archive/restore.ts';
import { archiveSession } from '../../adapters/archive/write.ts';

let work: string;
let data: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-restore-engine-'));
  data = join(work, 'data');
  mkdirSync(join(data, 'sessions'), { recursive: true });
  writeFileSync(join(data, 'notes.md'), 'notes\n');
  writeFileSync(join(data, 'sessions', '42.json'), '{"pid":42}\n');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

async function archived(): Promise<string> {
  const made = await archiveSession({
    sources: [data],
    archiveRoot: join(work, 'archives'),
    reason: 'test',
    nowMs: Date.now(),
    deadlineMs: Number.MAX_SAFE_INTEGER,
    extraManifest: { agent: 'any', seq: 3 },
  });
  return made._unsafeUnwrap().dir;
}

function editManifest(dir: string, edit: (manifest: Record<string, unknown>) => object): void {
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  writeFileSync(path, JSON.stringify(edit(manifest)));
}

describe('restoreArchive', () => {
  it('restores every file when nothing is left out, and hands back the extra fields', async () => {
    const archive = await archived();
    rmSync(data, { recursive: true });
    const done = (await restoreArchive({ archive, force: false, dryRun: false }))._unsafeUnwrap();
    expect(done.restored).toBe(2);
    expect(done.leftOut).toEqual([]);
    expect(done.files.map((f) => [f.path, f.action])).toEqual([
      [join(data, 'notes.md'), 'create'],
      [join(data, 'sessions', '42.json'), 'create'],
    ]);
    expect(done.manifest).toMatchObject({ agent: 'any', seq: 3, complete: true });
    expect(readFileSync(join(data, 'sessions', '42.json'), 'utf8')).toBe('{"pid":42}\n');
  });

  it('keeps out what the caller leaves out, and writes nothing on a dry run', async () => {
    const archive = await archived();
    rmSync(data, { recursive: true });
    const entry = join(data, 'sessions', '42.json');
    const leaveOut = (path: string) => path === entry;
    const dry = await restoreArchive({ archive, force: false, dryRun: true, leaveOut });
    expect(dry._unsafeUnwrap()).toMatchObject({ restored: 0, leftOut: [entry] });
    expect(dry._unsafeUnwrap().files.map((f) => f.path)).toEqual([join(data, 'notes.md')]);
    expect(() => readFileSync(join(data, 'notes.md'))).toThrow(/ENOENT/);

    const done = await restoreArchive({ archive, force: false, dryRun: false, leaveOut });
    expect(done._unsafeUnwrap()).toMatchObject({ restored: 1, leftOut: [entry] });
    expect(readFileSync(join(data, 'notes.md'), 'utf8')).toBe('notes\n');
    expect(() => readFileSync(entry)).toThrow(/ENOENT/);
  });

  it('refuses a manifest that breaks a rule, naming the manifest and the field', async () => {
    const archive = await archived();
    editManifest(archive, (manifest) => ({ ...manifest, sources: [7] }));
    rmSync(data, { recursive: true });
    const refused = await restoreArchive({ archive, force: true, dryRun: false });
    expect(refused._unsafeUnwrapErr()).toEqual({
      kind: 'verify',
      error: {
        kind: 'manifest',
        path: join(archive, 'manifest.json'),
        detail: '"sources" must list paths',
      },
    });
    expect(() => readFileSync(join(data, 'notes.md'))).toThrow(/ENOENT/);
  });

  it('refuses a manifest that names the root itself as a file', async () => {
    const archive = await archived();
    editManifest(archive, (manifest) => ({
      ...manifest,
      files: [{ path: '/', size: 0, sha256: '0'.repeat(64) }],
    }));
    expect(
      (await restoreArchive({ archive, force: true, dryRun: true }))._unsafeUnwrapErr(),
    ).toEqual({
      kind: 'verify',
      error: { kind: 'manifest', path: join(archive, 'manifest.json'), detail: 'unsafe path /' },
    });
  });
});

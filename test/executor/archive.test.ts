// The archive adapter on real files in a temp directory: the exact manifest, modes, what is never
// copied, the deadline, atomic publication, retention, verification, and (in a child process)
// the memory it costs and the speed it reaches on a 200 MiB file.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatArchiveError } from '../../adapters/archive/errors.ts';
import { listArchives } from '../../adapters/archive/list.ts';
import type { Manifest } from '../../adapters/archive/manifest.ts';
import { verifyArchive } from '../../adapters/archive/verify.ts';
import { archiveName, archiveSession, type ArchiveOptions } from '../../adapters/archive/write.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const ARCHIVE_MODULE = fileURLToPath(new URL('../../adapters/archive/write.ts', import.meta.url));
const NOW_MS = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const FAR_MS = Number.MAX_SAFE_INTEGER;
const MiB = 1024 * 1024;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let work: string;
let archives: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-archive-'));
  archives = join(work, 'archives');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function put(path: string, content: string | Buffer): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

function archived(dir: string, path: string): string {
  return join(dir, 'files', path.slice(1));
}

async function archive(options: Partial<ArchiveOptions> & Pick<ArchiveOptions, 'sources'>) {
  return archiveSession({
    archiveRoot: archives,
    reason: 'test',
    nowMs: NOW_MS,
    deadlineMs: FAR_MS,
    ...options,
  });
}

/** Every entry under dir with its permission bits, relative to dir. */
function modes(dir: string, prefix = ''): [string, number][] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    const rel = `${prefix}${entry.name}`;
    const mode = lstatSync(path).mode & 0o777;
    return entry.isDirectory() ? [[`${rel}/`, mode], ...modes(path, `${rel}/`)] : [[rel, mode]];
  });
}

/** A Claude Code config dir with a session, credentials and a symlink out of the tree. */
function claudeHome() {
  const home = join(work, 'home', 'a', '.claude');
  const project = join(home, 'projects', '-work-x');
  const secret = put(join(work, 'secret.txt'), 'not for the archive');
  const files = {
    transcript: put(join(project, 's1.jsonl'), '{"type":"user"}\n{"type":"assistant"}\n'),
    toolResult: put(join(project, 's1', 'tool-results', 'r1.txt'), randomBytes(3000)),
    empty: put(join(project, 'empty.txt'), ''),
    todo: put(join(home, 'todos', 's1-agent-s1.json'), '[]'),
  };
  const credentials = put(join(project, '.credentials.json'), '{"token":"x"}');
  const link = join(project, 'link.jsonl');
  symlinkSync(secret, link);
  return { home, project, files, credentials, link, secret };
}

describe('archiveSession', () => {
  it('writes the exact manifest, the copies, modes 0600/0700, and no temp dir', async () => {
    const { project, files, credentials, link } = claudeHome();
    const missing = join(work, 'nope');
    const result = await archive({
      sources: [project, files.todo, missing],
      reason: 'Tier 3: archive+terminate',
      extraManifest: { sessionId: 's1', reason: 'cannot override', files: [] },
    });
    const dir = join(archives, '2026-01-02T03-04-05.678Z-tier-3-archive-terminate');
    const copied = [files.transcript, files.toolResult, files.empty, files.todo];
    const bytes = copied.reduce((sum, path) => sum + statSync(path).size, 0);
    expect(result._unsafeUnwrap()).toEqual({
      dir,
      files: 4,
      bytes,
      skipped: 3,
      complete: true,
      durationMs: expect.any(Number) as number,
      pruned: [],
    });
    expect(readManifest(dir)).toEqual({
      memgov: 'archive',
      version: 1,
      reason: 'Tier 3: archive+terminate',
      createdAtMs: NOW_MS,
      sources: [project, files.todo, missing],
      files: copied
        .map((path) => ({ path, size: statSync(path).size, sha256: sha256(readFileSync(path)) }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
      skipped: [
        { path: credentials, why: 'credentials' },
        { path: link, why: 'symlink' },
        { path: missing, why: 'missing' },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
      complete: true,
      sessionId: 's1',
    });
    for (const path of copied) {
      expect(readFileSync(archived(dir, path))).toEqual(readFileSync(path));
    }
    expect(existsSync(archived(dir, credentials))).toBe(false);
    expect(existsSync(archived(dir, link))).toBe(false);
    expect(readdirSync(archives)).toEqual(['2026-01-02T03-04-05.678Z-tier-3-archive-terminate']);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    for (const [path, mode] of modes(dir)) {
      expect([path, mode]).toEqual([path, path.endsWith('/') ? 0o700 : 0o600]);
    }
    expect(await verifyArchive(dir)).toEqual(
      expect.objectContaining({ value: { ok: true, files: 4 } }),
    );
  });

  it('names the archive after the time and the sanitised reason', () => {
    expect(archiveName(NOW_MS, 'Memory at 93%: ARCHIVE / terminate!')).toBe(
      '2026-01-02T03-04-05.678Z-memory-at-93-archive-terminate',
    );
    expect(archiveName(NOW_MS, '../../../')).toBe('2026-01-02T03-04-05.678Z-archive');
    expect(archiveName(NOW_MS, 'x'.repeat(500))).toBe(`2026-01-02T03-04-05.678Z-${'x'.repeat(60)}`);
  });

  it('adds -2, -3 when the name is taken', async () => {
    const file = put(join(work, 'a.txt'), 'a');
    const dirs = [];
    for (let i = 0; i < 3; i++) dirs.push((await archive({ sources: [file] }))._unsafeUnwrap().dir);
    const name = '2026-01-02T03-04-05.678Z-test';
    expect(dirs).toEqual([name, `${name}-2`, `${name}-3`].map((n) => join(archives, n)));
  });

  it('passes exclude the path relative to its source and records what it left out', async () => {
    const { project, files } = claudeHome();
    const seen: string[] = [];
    const result = await archive({
      sources: [project],
      exclude: (rel, abs) => {
        seen.push(rel);
        expect(abs).toBe(join(project, rel));
        return rel === 's1/tool-results';
      },
    });
    const manifest = readManifest(result._unsafeUnwrap().dir);
    expect(seen).toEqual(['empty.txt', 'link.jsonl', 's1', 's1/tool-results', 's1.jsonl']);
    expect(manifest.skipped).toContainEqual({
      path: join(project, 's1', 'tool-results'),
      why: 'excluded',
    });
    expect(manifest.files.map((f) => f.path)).toEqual([files.empty, files.transcript]);
    expect(manifest.complete).toBe(true);
  });

  it('follows a source that is a symlink, never one inside a source', async () => {
    const { home, files, link } = claudeHome();
    const alias = join(work, 'claude-link');
    symlinkSync(home, alias);
    const credentialsAlias = join(work, 'innocent.json');
    symlinkSync(join(home, 'projects', '-work-x', '.credentials.json'), credentialsAlias);
    const result = await archive({ sources: [alias, credentialsAlias] });
    const manifest = readManifest(result._unsafeUnwrap().dir);
    const viaAlias = (path: string) => path.replace(home, alias);
    expect(manifest.files.map((f) => f.path)).toEqual(
      [files.empty, files.transcript, files.toolResult, files.todo].map(viaAlias),
    );
    expect(manifest.skipped).toEqual([
      {
        path: viaAlias(join(home, 'projects', '-work-x', '.credentials.json')),
        why: 'credentials',
      },
      { path: viaAlias(link), why: 'symlink' },
      { path: credentialsAlias, why: 'credentials' },
    ]);
  });

  it('publishes an incomplete archive when the deadline has already passed', async () => {
    const { project, files, credentials, link } = claudeHome();
    const result = (
      await archive({ sources: [project, files.todo], deadlineMs: 0 })
    )._unsafeUnwrap();
    expect(result).toEqual(expect.objectContaining({ files: 0, bytes: 0, complete: false }));
    expect(result.dir).toBe(join(archives, '2026-01-02T03-04-05.678Z-test'));
    const manifest = readManifest(result.dir);
    expect(manifest.complete).toBe(false);
    expect(manifest.files).toEqual([]);
    expect(manifest.skipped).toEqual(
      [
        ...[files.transcript, files.toolResult, files.empty, files.todo].map((path) => ({
          path,
          why: 'deadline',
        })),
        { path: credentials, why: 'credentials' },
        { path: link, why: 'symlink' },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
    expect(readdirSync(archives)).toEqual(['2026-01-02T03-04-05.678Z-test']);
    expect(existsSync(join(result.dir, 'files'))).toBe(false);
  });

  it('stops in the middle of a large file when the deadline passes and drops the part', async () => {
    const src = join(work, 'src');
    const first = put(join(src, 'a.txt'), 'first');
    const big = put(join(src, 'b.bin'), randomBytes(8 * MiB));
    const last = put(join(src, 'c.txt'), 'last');
    let started = false;
    let readsOfB = 0;
    // The clock passes the deadline after two 1 MiB chunks of b.bin.
    const now = () => (started && ++readsOfB > 3 ? 2 : 0);
    const result = await archive({
      sources: [src],
      deadlineMs: 1,
      now,
      exclude: (rel) => {
        started ||= rel === 'b.bin';
        return false;
      },
    });
    const { dir, complete } = result._unsafeUnwrap();
    expect(complete).toBe(false);
    const manifest = readManifest(dir);
    expect(manifest.files).toEqual([{ path: first, size: 5, sha256: sha256('first') }]);
    expect(manifest.skipped).toEqual([
      { path: big, why: 'deadline' },
      { path: last, why: 'deadline' },
    ]);
    expect(existsSync(archived(dir, big))).toBe(false);
    expect((await verifyArchive(dir))._unsafeUnwrap()).toEqual({ ok: true, files: 1 });
  });

  it('records a file that vanishes before its copy, and a FIFO without opening it', async () => {
    const src = join(work, 'src');
    const kept = put(join(src, 'kept.txt'), 'kept');
    const doomed = put(join(src, 'doomed.txt'), 'doomed');
    const fifo = join(src, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const result = await archive({
      sources: [src],
      exclude: (_rel, abs) => {
        if (abs === doomed) rmSync(doomed);
        return false;
      },
    });
    const manifest = readManifest(result._unsafeUnwrap().dir);
    expect(manifest.files.map((f) => f.path)).toEqual([kept]);
    expect(manifest.skipped).toEqual([
      { path: doomed, why: 'vanished' },
      { path: fifo, why: 'special' },
    ]);
    expect(manifest.complete).toBe(true);
  });

  // Root reads a chmod-000 file anyway, so the archive runs in a child as user nobody.
  it('records an unreadable file and calls it incomplete (archiving as user nobody)', () => {
    const NOBODY = 65534;
    const src = join(work, 'src');
    const locked = put(join(src, 'locked.txt'), 'locked');
    put(join(src, 'open.txt'), 'open');
    chmodSync(locked, 0o000);
    chmodSync(work, 0o755);
    chmodSync(src, 0o755);
    chmodSync(join(src, 'open.txt'), 0o644);
    mkdirSync(archives, { recursive: true });
    chownSync(archives, NOBODY, NOBODY);
    const script = `
      const { archiveSession } = await import(${JSON.stringify(ARCHIVE_MODULE)});
      const result = await archiveSession({
        sources: [${JSON.stringify(src)}], archiveRoot: ${JSON.stringify(archives)},
        reason: 'unreadable', nowMs: ${NOW_MS}, deadlineMs: ${FAR_MS},
      });
      console.log(JSON.stringify(result.isOk() ? result.value : result.error));
    `;
    const output = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: REPO,
        uid: NOBODY,
        gid: NOBODY,
        env: { ...process.env, HOME: '/tmp', TSX_TSCONFIG_PATH: join(REPO, 'tsconfig.json') },
      },
    ).toString();
    const manifest = readManifest((JSON.parse(output) as { dir: string }).dir);
    expect(manifest.skipped).toEqual([{ path: locked, why: 'unreadable' }]);
    expect(manifest.files.map((f) => f.path)).toEqual([join(src, 'open.txt')]);
    expect(manifest.complete).toBe(false);
  });

  it('never archives the archive root when a source contains it', async () => {
    const home = join(work, 'home');
    const file = put(join(home, 'a.txt'), 'a');
    const root = join(home, 'archives');
    const first = (await archive({ sources: [home], archiveRoot: root }))._unsafeUnwrap();
    const second = (await archive({ sources: [home], archiveRoot: root }))._unsafeUnwrap();
    for (const { dir } of [first, second]) {
      const manifest = readManifest(dir);
      expect(manifest.files.map((f) => f.path)).toEqual([file]);
      expect(manifest.skipped).toEqual([{ path: root, why: 'archive-root' }]);
    }
    // Nor when a symlinked source leads into it.
    const alias = join(work, 'alias');
    symlinkSync(home, alias);
    const third = (await archive({ sources: [alias], archiveRoot: root }))._unsafeUnwrap();
    expect(readManifest(third.dir).skipped).toEqual([
      { path: join(alias, 'archives'), why: 'archive-root' },
    ]);
  });

  it('refuses an archive root that is a symlink or a file', async () => {
    const real = join(work, 'real');
    mkdirSync(real);
    symlinkSync(real, archives);
    const file = put(join(work, 'a.txt'), 'a');
    const e = (await archive({ sources: [file] }))._unsafeUnwrapErr();
    expect(e).toEqual({ kind: 'symlink', path: archives, detail: 'the archive root is a symlink' });
    expect(formatArchiveError(e)).toBe(`${archives}: the archive root is a symlink`);
    expect(readdirSync(real)).toEqual([]);
    const notDir = (await archive({ sources: [file], archiveRoot: file }))._unsafeUnwrapErr();
    expect(notDir).toEqual({
      kind: 'io',
      path: file,
      detail: 'the archive root is not a directory',
    });
  });

  it('fails with an io error and leaves no temp dir when the archive cannot be written', async () => {
    // The source path fits in PATH_MAX (4096); its copy under the archive does not.
    let deep = work;
    while (deep.length < 3900) deep = join(deep, 'd'.repeat(200));
    const file = put(join(deep, 'a.txt'), 'a');
    const e = (await archive({ sources: [file] }))._unsafeUnwrapErr();
    expect(e.kind).toBe('io');
    expect(e.detail).toBe('ENAMETOOLONG: name too long');
    expect(formatArchiveError(e)).toMatch(/\/files\/.*: ENAMETOOLONG: name too long$/);
    expect(readdirSync(archives)).toEqual([]);
  });

  it('creates a missing archive root 0700', async () => {
    const root = join(work, 'deep', 'archives');
    const file = put(join(work, 'a.txt'), 'a');
    expect((await archive({ sources: [file], archiveRoot: root })).isOk()).toBe(true);
    expect(statSync(root).mode & 0o777).toBe(0o700);
  });
});

describe('retention and crashed archives', () => {
  it('keeps the newest N and touches nothing that is not a finished archive', async () => {
    const file = put(join(work, 'a.txt'), 'a');
    mkdirSync(archives);
    const foreign = {
      notes: join(archives, 'notes'),
      lookalike: join(archives, '2020-01-01T00-00-00.000Z-lookalike'),
      other: join(archives, '2020-01-01T00-00-00.000Z-other-tool'),
      readme: join(archives, 'README'),
      crashed: join(archives, '.tmp-2020-01-01T00-00-00.000Z-crash-abc123'),
    };
    mkdirSync(foreign.notes);
    mkdirSync(foreign.lookalike);
    put(join(foreign.other, 'manifest.json'), '{"memgov":"something-else","version":1}');
    put(foreign.readme, 'hello');
    // A crash between the manifest and the rename: complete on disk, still not an archive.
    put(join(foreign.crashed, 'files', 'x'), 'x');
    put(
      join(foreign.crashed, 'manifest.json'),
      JSON.stringify({
        memgov: 'archive',
        version: 1,
        reason: 'crash',
        createdAtMs: 0,
        sources: [],
        files: [],
        skipped: [],
        complete: true,
      }),
    );
    const stale = join(archives, '.tmp-stale');
    put(join(stale, 'files', 'y'), 'y');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);

    const made: string[] = [];
    const pruned: string[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await archive({ sources: [file], nowMs: NOW_MS + i * 1000, retain: 3 });
      made.push(result._unsafeUnwrap().dir);
      pruned.push(...result._unsafeUnwrap().pruned);
    }
    expect(pruned).toEqual([stale, made[0], made[1]]);
    const listed = (await listArchives(archives))._unsafeUnwrap();
    expect(listed.map((a) => a.dir)).toEqual([made[4], made[3], made[2]]);
    expect(listed[0]).toEqual({
      dir: made[4],
      createdAtMs: NOW_MS + 4000,
      reason: 'test',
      complete: true,
    });
    for (const path of Object.values(foreign)) expect(existsSync(path)).toBe(true);
    expect(existsSync(join(foreign.crashed, 'files', 'x'))).toBe(true);
  });

  it('never deletes the archive it just made, even when its clock is the oldest', async () => {
    const file = put(join(work, 'a.txt'), 'a');
    const newer = (await archive({ sources: [file], nowMs: NOW_MS }))._unsafeUnwrap().dir;
    const older = await archive({ sources: [file], nowMs: NOW_MS - 1000, retain: 1 });
    expect(older._unsafeUnwrap().pruned).toEqual([newer]);
    expect(existsSync(older._unsafeUnwrap().dir)).toBe(true);
  });

  it('lists nothing under a root holding only a crashed archive', async () => {
    const crashed = join(archives, '.tmp-2026-01-02T03-04-05.678Z-test-a1b2c3');
    put(join(crashed, 'files', 'x'), 'x');
    expect((await listArchives(archives))._unsafeUnwrap()).toEqual([]);
    expect((await verifyArchive(crashed))._unsafeUnwrapErr()).toEqual({
      kind: 'missing',
      path: join(crashed, 'manifest.json'),
      detail: 'no manifest',
    });
  });
});

describe('verifyArchive', () => {
  async function fresh() {
    const { project, files } = claudeHome();
    const dir = (await archive({ sources: [project] }))._unsafeUnwrap().dir;
    return { dir, files };
  }

  it('accepts an untouched archive', async () => {
    const { dir } = await fresh();
    expect((await verifyArchive(dir))._unsafeUnwrap()).toEqual({ ok: true, files: 3 });
  });

  it('detects a modified byte, a changed size, a missing file and a symlink', async () => {
    const { dir, files } = await fresh();
    const copy = archived(dir, files.toolResult);
    const original = readFileSync(copy);
    const flipped = Buffer.from(original);
    flipped[100] = (flipped[100] ?? 0) ^ 1;
    writeFileSync(copy, flipped);
    const modified = (await verifyArchive(dir))._unsafeUnwrapErr();
    expect(modified.kind).toBe('mismatch');
    expect(modified.path).toBe(copy);
    expect(modified.detail).toBe(`sha256 ${sha256(flipped)}, manifest says ${sha256(original)}`);

    writeFileSync(copy, Buffer.concat([original, Buffer.from('x')]));
    expect((await verifyArchive(dir))._unsafeUnwrapErr()).toEqual({
      kind: 'mismatch',
      path: copy,
      detail: '3001 bytes, manifest says 3000',
    });

    rmSync(copy);
    symlinkSync(files.toolResult, copy);
    expect((await verifyArchive(dir))._unsafeUnwrapErr()).toEqual({
      kind: 'mismatch',
      path: copy,
      detail: 'a symlink, not the archived file',
    });

    rmSync(copy);
    expect((await verifyArchive(dir))._unsafeUnwrapErr()).toEqual({
      kind: 'missing',
      path: copy,
      detail: 'listed in the manifest but not archived',
    });
  });

  it.each([
    ['not JSON', '{', 'not JSON'],
    ['another tool', '{"memgov":"other"}', 'not a memgov archive manifest'],
    ['another version', '{"memgov":"archive","version":2}', 'version 2, expected 1'],
  ])('rejects a manifest that is %s', async (_what, text, detail) => {
    const { dir } = await fresh();
    writeFileSync(join(dir, 'manifest.json'), text);
    expect((await verifyArchive(dir))._unsafeUnwrapErr()).toEqual({
      kind: 'manifest',
      path: join(dir, 'manifest.json'),
      detail,
    });
  });

  it('refuses a manifest path that climbs out of the archive', async () => {
    const { dir } = await fresh();
    const manifest = readManifest(dir);
    const escaping = { path: '/../../../etc/hostname', size: 1, sha256: '0'.repeat(64) };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, files: [escaping] }));
    expect((await verifyArchive(dir))._unsafeUnwrapErr()).toEqual({
      kind: 'manifest',
      path: join(dir, 'manifest.json'),
      detail: 'unsafe path /../../../etc/hostname',
    });
  });
});

describe('memory and speed', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  // Measured on this project's VM (2 vCPUs, ext4, Node 20.20), 13 runs: archiving one 200 MiB
  // file of random data raised the child's peak RSS by 4.1..10.5 MiB (maxRSS agreed within
  // 0.5 MiB) at 172..266 MiB/s, the file having just been written (its writeback competes).
  // The same copy through an fs stream pipeline cost +38 MiB (see adapters/archive/write.ts).
  it('archives a 200 MiB file with under 40 MiB of extra RSS', async () => {
    const big = join(work, 'big.bin');
    const fd = openSync(big, 'w');
    for (let i = 0; i < 200; i++) writeSync(fd, randomBytes(MiB));
    closeSync(fd);
    const script = `
      const { archiveSession } = await import(${JSON.stringify(ARCHIVE_MODULE)});
      const before = process.memoryUsage().rss;
      let peak = before;
      const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
      const startedMs = performance.now();
      const result = await archiveSession({
        sources: [${JSON.stringify(big)}], archiveRoot: ${JSON.stringify(archives)},
        reason: 'rss', nowMs: Date.now(), deadlineMs: Date.now() + 600000,
      });
      const ms = performance.now() - startedMs;
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      const maxRss = process.resourceUsage().maxRSS * 1024;
      console.log(JSON.stringify({ ok: result.isOk(), bytes: result.isOk() ? result.value.bytes : 0, before, peak, maxRss, ms }));
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    const report = JSON.parse(output) as {
      ok: boolean;
      bytes: number;
      before: number;
      peak: number;
      maxRss: number;
      ms: number;
    };
    expect(report).toEqual(expect.objectContaining({ ok: true, bytes: 200 * MiB }));
    const sampledGrowthMiB = (report.peak - report.before) / MiB;
    // maxRSS covers the child's whole life, so its growth over `before` can only overstate.
    const worstGrowthMiB = (Math.max(report.peak, report.maxRss) - report.before) / MiB;
    const speedMiBs = 200 / (report.ms / 1000);
    console.log(
      `archive of 200 MiB: RSS +${sampledGrowthMiB.toFixed(1)} MiB sampled, +${worstGrowthMiB.toFixed(1)} MiB by maxRSS; ${speedMiBs.toFixed(0)} MiB/s`,
    );
    expect(worstGrowthMiB).toBeLessThan(40);
    expect(
      (await verifyArchive(join(archives, readdirSync(archives)[0] ?? '')))._unsafeUnwrap(),
    ).toEqual({
      ok: true,
      files: 1,
    });
  }, 60_000);
});

// `memgov restore` end to end on real files: the fixture session (copied to a temp directory) is
// archived with archiveSession, the originals are changed or deleted, and restoreCommand runs with
// a captured CliIo. Bytes, modes and the printed resume command are checked exactly, and so are
// the refusals: a newer file (until --force), a tampered archive, a symlink at a destination.
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../adapters/archive/manifest.ts';
import { archiveSession } from '../../adapters/archive/write.ts';
import { readSessionFor, sessionArchiveSet } from '../../agents/claude-code.ts';
import type { ClaudeSession } from '../../agents/claude-code-parse.ts';
import { escapeRegExp } from '../../lib/text.ts';
import type { CliIo } from '../../cli/io.ts';
import { RESTORE_HELP, restoreCommand } from '../../cli/commands/restore.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/claude/config', import.meta.url));
const SID = '3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f';
const RESUME = `resume the session with:\ncd '/work/app' && claude --resume ${SID}\n`;

let work: string;
let config: string;
let env: Record<string, string>;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'memgov-restore-'));
  config = join(work, 'config');
  cpSync(FIXTURE, config, { recursive: true });
  env = { CLAUDE_CONFIG_DIR: config, HOME: join(work, 'home') };
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const mode = (path: string) => statSync(path).mode & 0o777;
const sec = (ms: number) => ms / 1000;

async function restore(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    env,
    cwd: work,
  };
  const code = await restoreCommand(args, io);
  return { code, stdout, stderr };
}

interface Archived {
  readonly dir: string;
  readonly manifest: Manifest;
  /** Paths of the session, relative to the config dir. */
  readonly at: (relPath: string) => string;
}

/** Archives the fixture session 48213 the way tier 3 would. */
async function archiveFixture(): Promise<Archived> {
  const session = (await readSessionFor(48213, env))._unsafeUnwrap() as ClaudeSession;
  const set = (await sessionArchiveSet(env, session))._unsafeUnwrap();
  const result = await archiveSession({
    sources: set.sources,
    exclude: set.exclude,
    extraManifest: set.extraManifest,
    archiveRoot: join(work, 'archives'),
    reason: 'tier3',
    nowMs: Date.now(),
    deadlineMs: Number.MAX_SAFE_INTEGER,
  });
  const dir = result._unsafeUnwrap().dir;
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  return { dir, manifest, at: (relPath) => join(config, relPath) };
}

const TRANSCRIPT = `projects/-work-app/${SID}.jsonl`;
const TODO = `todos/${SID}-agent-${SID}.json`;
const PLAN = 'plans/zany-strolling-eich.md';

/** Every regular file under `dir` whose name says it is a restore's temp file. */
function leftovers(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) =>
    p.split('/').some((part) => part.startsWith('.memgov-restore-')),
  );
}

describe('memgov restore: round trip', () => {
  it('puts deleted and stale files back byte for byte, 0600, and prints the resume command', async () => {
    const a = await archiveFixture();
    expect(a.manifest.files).toHaveLength(12);
    rmSync(a.at(TRANSCRIPT));
    rmSync(a.at(`projects/-work-app/${SID}`), { recursive: true });
    rmSync(a.at(`file-history/${SID}`), { recursive: true });
    rmSync(a.at(`session-env/${SID}`), { recursive: true });
    rmSync(a.at(TODO));
    // Changed, but last written before the archive was made: overwritten without --force.
    writeFileSync(a.at(PLAN), '# a plan from before\n');
    utimesSync(
      a.at(PLAN),
      sec(a.manifest.createdAtMs - 60_000),
      sec(a.manifest.createdAtMs - 60_000),
    );

    const run = await restore([a.dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const file of a.manifest.files) expect(sha256(file.path)).toBe(file.sha256);

    const written = [
      TRANSCRIPT,
      `projects/-work-app/${SID}/subagents/agent-a1b2c3d4e5f6a7b8c.jsonl`,
      `projects/-work-app/${SID}/tool-results/toolu_01AbCdEfGhIjKlMnOpQrStUv.txt`,
      `file-history/${SID}/0139c4a6fe65b636@v1`,
      `file-history/${SID}/0139c4a6fe65b636@v2`,
      `file-history/${SID}/9695a786865ccd5c@v1`,
      TODO,
      `session-env/${SID}/sessionstart-hook-0.sh`,
      PLAN,
    ].map(a.at);
    for (const path of written) expect(mode(path)).toBe(0o600);
    for (const dir of [
      `file-history/${SID}`,
      `session-env/${SID}`,
      `projects/-work-app/${SID}/subagents`,
    ]) {
      expect(mode(a.at(dir))).toBe(0o700);
    }
    // The archived process's registry entry is never restored: still the original's mode.
    expect(mode(a.at('sessions/48213.json'))).toBe(0o644);

    const lines = run.stdout.split('\n');
    expect(lines).toContain(`restored  ${a.at(TRANSCRIPT)}`);
    expect(lines).toContain(`overwrote  ${a.at(PLAN)}`);
    expect(lines).toContain(
      `left out  ${a.at('sessions/48213.json')} (the archived process's registry entry)`,
    );
    expect(run.stdout).toContain(`restored 9 files from ${a.dir} (2 identical, left alone)\n`);
    expect(run.stdout.endsWith(RESUME)).toBe(true);
    expect(leftovers(config)).toEqual([]);
  });

  it('prints a machine-readable summary with --json, and has nothing to do the second time', async () => {
    const a = await archiveFixture();
    rmSync(a.at(TODO));
    const first = await restore(['--json', a.dir]);
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      ok: true,
      archive: a.dir,
      dryRun: false,
      createdAtMs: a.manifest.createdAtMs,
      complete: true,
      restored: 1,
      identical: 10,
      leftOut: [a.at('sessions/48213.json')],
      conflicts: [],
      error: null,
      resume: {
        profile: 'claude-code',
        cwd: '/work/app',
        argv: ['claude', '--resume', SID],
        command: `cd '/work/app' && claude --resume ${SID}`,
      },
    });
    expect(summary.files).toContainEqual({ path: a.at(TODO), action: 'create' });
    expect(first.stdout.trim().split('\n')).toHaveLength(1);

    const second = await restore([a.dir]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('restored 0 files');
    expect(second.stdout).toContain('(11 identical, left alone)');
  });

  it('checks and reports with --dry-run, writing nothing', async () => {
    const a = await archiveFixture();
    rmSync(a.at(TODO));
    const run = await restore([a.dir, '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`would create  ${a.at(TODO)}`);
    expect(run.stdout).toContain('dry run: would restore 1 file (10 identical), nothing written');
    expect(run.stdout.endsWith(RESUME)).toBe(true);
    expect(existsSync(a.at(TODO))).toBe(false);
  });
});

describe('memgov restore: refusals', () => {
  it('refuses files changed after the archive, lists every one, copies nothing; --force overwrites', async () => {
    const a = await archiveFixture();
    const later = sec(a.manifest.createdAtMs + 60_000);
    appendFileSync(a.at(TRANSCRIPT), '{"type":"user","message":{"content":"after the archive"}}\n');
    utimesSync(a.at(TRANSCRIPT), later, later);
    writeFileSync(a.at(TODO), '[]\n');
    utimesSync(a.at(TODO), later, later);
    rmSync(a.at(PLAN));
    const changed = sha256(a.at(TRANSCRIPT));

    const refused = await restore([a.dir]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^memgov restore: refused, nothing was copied: 2 conflicts/);
    expect(refused.stderr).toContain(`newer  ${a.at(TRANSCRIPT)}: modified `);
    expect(refused.stderr).toContain(`newer  ${a.at(TODO)}: modified `);
    expect(refused.stderr).toContain('--force');
    expect(existsSync(a.at(PLAN))).toBe(false);
    expect(sha256(a.at(TRANSCRIPT))).toBe(changed);

    const json = await restore([a.dir, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      conflicts: [
        { path: a.at(TRANSCRIPT), why: 'newer' },
        { path: a.at(TODO), why: 'newer' },
      ],
    });

    const forced = await restore([a.dir, '--force']);
    expect(forced.code).toBe(0);
    for (const file of a.manifest.files) expect(sha256(file.path)).toBe(file.sha256);
    expect(forced.stdout).toContain(`overwrote  ${a.at(TRANSCRIPT)}`);
    expect(mode(a.at(TRANSCRIPT))).toBe(0o600);
  });

  it('refuses a tampered archive, naming the file, and touches nothing', async () => {
    const a = await archiveFixture();
    rmSync(a.at(TODO));
    const copy = join(a.dir, 'files', a.at(TRANSCRIPT).slice(1));
    const bytes = readFileSync(copy);
    bytes[100] = (bytes[100] ?? 0) ^ 1;
    writeFileSync(copy, bytes);

    const run = await restore([a.dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `memgov restore: verification failed, nothing was copied: ${copy}: sha256 ${sha256(copy)}, manifest says ${a.manifest.files.find((f) => f.path === a.at(TRANSCRIPT))?.sha256} (the archived copy of ${a.at(TRANSCRIPT)})\n`,
    );
    expect(existsSync(a.at(TODO))).toBe(false);
    const json = await restore([a.dir, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { path: copy } });
  });

  it('never writes through a symlink at a destination, even with --force', async () => {
    const a = await archiveFixture();
    const outside = join(work, 'outside.txt');
    writeFileSync(outside, 'not yours\n');
    rmSync(a.at(TODO));
    symlinkSync(outside, a.at(TODO));
    rmSync(a.at(PLAN));

    for (const args of [[a.dir], [a.dir, '--force']]) {
      const run = await restore(args);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `symlink  ${a.at(TODO)}: a symlink; restore never writes through one`,
      );
    }
    expect(readFileSync(outside, 'utf8')).toBe('not yours\n');
    expect(lstatSync(a.at(TODO)).isSymbolicLink()).toBe(true);
    expect(existsSync(a.at(PLAN))).toBe(false);
  });

  it('refuses a symlink where the archive had a directory', async () => {
    const a = await archiveFixture();
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(a.at(`projects/-work-app/${SID}`), { recursive: true });
    symlinkSync(elsewhere, a.at(`projects/-work-app/${SID}`));

    const run = await restore([a.dir, '--force']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `symlink  ${a.at(`projects/-work-app/${SID}`)}: a symlink where the archive had a directory`,
    );
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('leaves the destinations untouched when writing fails part way', async () => {
    const a = await archiveFixture();
    rmSync(a.at(TRANSCRIPT));
    rmSync(a.at(`file-history/${SID}`), { recursive: true });
    // The todos are staged last (paths sort): by then earlier files sit staged beside theirs.
    rmSync(a.at('todos'), { recursive: true });
    writeFileSync(a.at('todos'), 'a file where a directory was\n');

    const run = await restore([a.dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`^memgov restore: ${a.at('todos')}: E[A-Z]+: .* \\(nothing was restored\\)\n$`),
    );
    expect(existsSync(a.at(TRANSCRIPT))).toBe(false);
    expect(existsSync(a.at(`file-history/${SID}`))).toBe(false);
    expect(leftovers(config)).toEqual([]);
  });

  it('follows a symlink above the archived paths: .claude on a volume', async () => {
    const volume = join(work, 'volume');
    cpSync(config, volume, { recursive: true });
    rmSync(config, { recursive: true });
    symlinkSync(volume, config);
    const a = await archiveFixture();
    expect(a.manifest.files[0]?.path.startsWith(`${config}/`)).toBe(true);
    rmSync(a.at(TODO));
    const run = await restore([a.dir]);
    expect(run.code).toBe(0);
    expect(sha256(join(volume, TODO))).toBe(
      a.manifest.files.find((f) => f.path === a.at(TODO))?.sha256,
    );
  });

  it('refuses a directory where a file was', async () => {
    const a = await archiveFixture();
    rmSync(a.at(TODO));
    mkdirSync(a.at(TODO));
    const run = await restore([a.dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`not-a-file  ${a.at(TODO)}: exists and is not a regular file`);
  });
});

describe('memgov restore: usage and other archives', () => {
  it.each([
    [[], 'which archive?'],
    [['a', 'b'], 'one archive at a time (got 2)'],
    [['--bogus', 'a'], 'unknown option --bogus'],
    [['-f', 'a'], 'unknown option -f'],
  ])('%j is a usage error', async (args, why) => {
    const run = await restore(args);
    expect(run.code).toBe(2);
    // One line, so the error does not scroll away behind the help.
    expect(run.stderr).toMatch(
      new RegExp(`^memgov restore: ${escapeRegExp(why)}.* \\(see memgov restore --help\\)\\n$`),
    );
  });

  it('prints its help', async () => {
    expect(await restore(['--help'])).toEqual({ code: 0, stdout: RESTORE_HELP, stderr: '' });
  });

  it('names the manifest it cannot find, the archive resolved against the cwd', async () => {
    const run = await restore(['no-such-archive']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `memgov restore: verification failed, nothing was copied: ${join(work, 'no-such-archive', 'manifest.json')}: no manifest\n`,
    );
  });

  it('restores an archive that names no session without a resume line, and notes an incomplete one', async () => {
    const data = join(work, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'notes.md'), 'hello\n');
    const made = await archiveSession({
      sources: [data],
      archiveRoot: join(work, 'archives'),
      reason: 'manual',
      nowMs: Date.now(),
      deadlineMs: Number.MAX_SAFE_INTEGER,
      extraManifest: { seq: 3 },
    });
    rmSync(data, { recursive: true });
    const run = await restore([made._unsafeUnwrap().dir]);
    expect(run.code).toBe(0);
    expect(readFileSync(join(data, 'notes.md'), 'utf8')).toBe('hello\n');
    expect(run.stdout).not.toContain('resume');

    writeFileSync(join(work, 'late.md'), 'late\n');
    const late = await archiveSession({
      sources: [join(work, 'late.md')],
      archiveRoot: join(work, 'archives'),
      reason: 'late',
      nowMs: Date.now(),
      deadlineMs: 0,
    });
    const incomplete = await restore([late._unsafeUnwrap().dir]);
    expect(incomplete.code).toBe(0);
    expect(incomplete.stdout).toContain(
      'note: the archive is incomplete: 1 file not archived (deadline or unreadable)',
    );
  });
});

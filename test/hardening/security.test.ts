// Security of what memgov writes and runs (issue 6, point 6), against an attacker inside the pod
// who can plant files and links where memgov writes and can influence the text it sends:
// - symbolic links are never followed at the state file, its temp files, the lock, the archive
//   root or inside archive sources; the refusal names the path, and the daemon keeps governing
//   where it safely can (a link planted while it runs costs the state write, not the compact, nor
//   the SIGTERM when the archive root is the link);
// - the state file, lock, journal and archives are 0600 and the directories memgov creates 0700,
//   whatever the umask;
// - archives never hold credentials (the rule: adapters/archive/secret.ts isSecretName);
// - no shell ever sees an argument: hostile strings reach the command transport's program and
//   tmux as data.
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../adapters/archive/manifest.ts';
import { isSecretName } from '../../adapters/archive/secret.ts';
import { archiveSession } from '../../adapters/archive/write.ts';
import { acquireLock } from '../../adapters/lock.ts';
import { hasExited } from '../../adapters/proc.ts';
import { readStateFile, writeStateFile } from '../../adapters/state-file.ts';
import { createTmux } from '../../adapters/tmux.ts';
import { runArgv } from '../../transports/command.ts';
import { checkStateFile, Scene } from '../../bench/crash-consistency.support.ts';
import { pollUntil } from '../support/daemon.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const PRECIOUS = 'precious bytes: never to be overwritten or archived\n';

let scene: Scene;
let work: string;

beforeEach(() => {
  scene = new Scene('memgov-security-');
  work = scene.work;
});

afterEach(() => scene.cleanup());

function precious(name = 'precious'): string {
  const path = join(work, name);
  writeFileSync(path, PRECIOUS);
  return path;
}

/** Every file and directory under `dir` with its permission bits (links as 'link'). */
function modesUnder(dir: string): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      const rel = relative(dir, path);
      if (entry.isSymbolicLink()) found[rel] = 'link';
      else if (entry.isDirectory()) {
        found[`${rel}/`] = (statSync(path).mode & 0o777).toString(8);
        walk(path);
      } else found[rel] = (statSync(path).mode & 0o777).toString(8);
    }
  };
  walk(dir);
  return found;
}

describe('symbolic links where memgov writes', () => {
  it('a link at the state file: moved aside (never followed), memgov starts fresh and governs', async () => {
    const stateFile = join(work, 'state', 'mem_governor_state');
    mkdirSync(join(work, 'state'));
    const target = precious();
    symlinkSync(target, stateFile);
    const daemon = scene.govern({ stateFile, agent: scene.commandAgent() });
    const moved = await daemon.first('state file is a symbolic link: moved aside, starting fresh');
    expect(moved.path).toBe(stateFile);
    // The link itself was moved, pointing where it did; the target was never read nor written.
    expect(readlinkSync(String(moved.movedTo))).toBe(target);
    scene.setRatio(0.75);
    await scene.ran('compact');
    await pollUntil('the compact on disk', 10_000, () =>
      checkStateFile(stateFile).actions.some((a) => a.action === 'compact') ? true : undefined,
    );
    expect(lstatSync(stateFile).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
    expect(await daemon.stop()).toBe(0);
  });

  it('a link planted at the state file while governing: the write is refused, the compact still runs', async () => {
    const stateFile = join(work, 'state', 'mem_governor_state');
    const daemon = scene.govern({ stateFile, agent: scene.commandAgent() });
    await pollUntil('the first state file', 10_000, () =>
      readStateFile(stateFile).isOk() && existsSync(stateFile) ? true : undefined,
    );
    const target = precious();
    // Swapped in atomically, as an attacker would: rename a link over the file.
    symlinkSync(target, `${stateFile}.planted`);
    renameSync(`${stateFile}.planted`, stateFile);
    scene.setRatio(0.75);
    await scene.ran('compact');
    const refused = await daemon.first('state file not written');
    expect(refused).toEqual({
      detail: `${stateFile}: is a symbolic link; refusing to follow or replace it`,
    });
    expect(await daemon.stop()).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
    expect(readlinkSync(stateFile)).toBe(target);
  });

  it('links at names beside the state file (its temp files) are never written through', () => {
    const dir = join(work, 'state');
    mkdirSync(dir);
    const path = join(dir, 'mem_governor_state');
    const target = precious();
    // Every name of the old counter scheme and a spread of plausible ones: none is followed.
    const planted = Array.from({ length: 200 }, (_, n) => `${path}.tmp-${process.pid}-${n}`);
    for (const link of planted) symlinkSync(target, link);
    for (let i = 0; i < 20; i++) writeStateFile(path, { i }, i)._unsafeUnwrap();
    expect(readStateFile(path)._unsafeUnwrap()).toMatchObject({ kind: 'ok', snapshot: { i: 19 } });
    expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
    for (const link of planted) expect(lstatSync(link).isSymbolicLink()).toBe(true);
    // Only the links and the state file: every temp file of ours was renamed or removed.
    expect(readdirSync(dir)).toHaveLength(planted.length + 1);
  });

  it('a link at the lock: never followed; the shared-memory lock guards and memgov governs', async () => {
    const stateFile = join(work, 'state', 'mem_governor_state');
    mkdirSync(join(work, 'state'));
    const target = precious();
    symlinkSync(target, `${stateFile}.lock`);
    const daemon = scene.govern({ stateFile, agent: scene.commandAgent() });
    expect(
      await daemon.first(
        'no lock beside the state file; a lock in shared memory keeps this the only memgov',
      ),
    ).toEqual({ detail: `${stateFile}.lock: is a symbolic link; refusing to follow it` });
    scene.setRatio(0.75);
    await scene.ran('compact');
    // A second memgov on the same state file finds the shared-memory lock held and exits 0.
    const second = scene.govern({ stateFile, agent: scene.commandAgent() });
    expect(await second.done).toBe(0);
    expect(second.named('another memgov already governs here; exiting')).toHaveLength(1);
    expect(await daemon.stop()).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
    expect(readlinkSync(`${stateFile}.lock`)).toBe(target);
  });

  it("a link as the state file's directory is the operator's path: followed, documented", () => {
    // Operators point AGENT_DATA at a volume through links (/data -> /mnt/pv); only the last
    // component, which memgov itself creates and replaces, is checked.
    const real = join(work, 'volume');
    mkdirSync(real);
    symlinkSync(real, join(work, 'data'));
    writeStateFile(join(work, 'data', 'mem_governor_state'), { ok: true }, 1)._unsafeUnwrap();
    expect(statSync(join(real, 'mem_governor_state')).mode & 0o777).toBe(0o600);
  });

  it('a link as the archive root: the archive is refused, naming it, and tier 3 still SIGTERMs the agent', async () => {
    const stateFile = join(work, 'state', 'mem_governor_state');
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere);
    const archiveDir = join(work, 'archive');
    symlinkSync(elsewhere, archiveDir);
    const session = join(work, 'session');
    mkdirSync(session);
    writeFileSync(join(session, 'transcript.jsonl'), '{"turn":1}\n');
    const agent = scene.startAgent();
    const daemon = scene.govern({
      stateFile,
      agent: { ...scene.commandAgent(), pid: agent.pid, terminateGraceMs: 3_000 },
      archive: { dir: archiveDir, paths: [session] },
    });
    const tier3 = await scene.climbToTier3(daemon);
    expect(tier3.outcome).toBe('ok');
    expect(tier3.detail).toMatch(/^archive failed: .*: the archive root is a symlink; SIGTERM/);
    expect(daemon.named('archive failed').map((r) => r.detail)).toContain(
      `${archiveDir}: the archive root is a symlink`,
    );
    expect(hasExited(agent)).toBe(true);
    expect(readdirSync(elsewhere)).toEqual([]);
  }, 30_000);

  it('links inside archive sources are recorded and skipped, never followed', async () => {
    const session = join(work, 'session');
    mkdirSync(session);
    writeFileSync(join(session, 'transcript.jsonl'), '{"turn":1}\n');
    symlinkSync(precious(), join(session, 'innocent.jsonl'));
    const result = await archiveSession({
      sources: [session],
      archiveRoot: join(work, 'archive'),
      reason: 'tier3',
      nowMs: Date.now(),
      deadlineMs: Number.MAX_SAFE_INTEGER,
    });
    const manifest = JSON.parse(
      readFileSync(join(result._unsafeUnwrap().dir, 'manifest.json'), 'utf8'),
    ) as Manifest;
    expect(manifest.files.map((f) => f.path)).toEqual([join(session, 'transcript.jsonl')]);
    expect(manifest.skipped).toEqual([{ path: join(session, 'innocent.jsonl'), why: 'symlink' }]);
  });
});

describe('modes: 0600 files, 0700 directories, whatever the umask', () => {
  let umaskBefore: number;
  beforeEach(() => {
    umaskBefore = process.umask();
  });
  afterEach(() => {
    process.umask(umaskBefore);
  });

  it.each([
    ['000', 0o000],
    ['277 (no write for the owner)', 0o277],
  ])('umask %s: state file, lock and archive', async (_name, umask) => {
    process.umask(umask);
    const stateFile = join(work, 'agent-data', 'config', 'mem_governor_state');
    writeStateFile(stateFile, { tier: 1 }, 1)._unsafeUnwrap();
    const lock = acquireLock(join(work, 'agent-data', 'locks', 'x.lock'))._unsafeUnwrap();
    const session = join(work, 'session');
    mkdirSync(join(session, 'nested'), { recursive: true });
    writeFileSync(join(session, 'nested', 'a.jsonl'), 'a');
    const archived = await archiveSession({
      sources: [session],
      archiveRoot: join(work, 'agent-data', 'archive', 'deep'),
      reason: 'tier3',
      nowMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
      deadlineMs: Number.MAX_SAFE_INTEGER,
    });
    const dir = relative(join(work, 'agent-data'), archived._unsafeUnwrap().dir);
    const copy = `${dir}/files${session}/nested/a.jsonl`;
    const modes = modesUnder(join(work, 'agent-data'));
    lock.release();
    expect(modes).toMatchObject({
      'config/': '700',
      'config/mem_governor_state': '600',
      'locks/': '700',
      'locks/x.lock': '600',
      'archive/': '700',
      'archive/deep/': '700',
      [`${dir}/`]: '700',
      [`${dir}/manifest.json`]: '600',
      [copy]: '600',
    });
    // Every directory memgov made inside the archive is 0700, every file 0600.
    for (const [path, mode] of Object.entries(modes)) {
      expect([path, mode]).toEqual([path, path.endsWith('/') ? '700' : '600']);
    }
  });

  it('umask 000: everything the daemon writes (state, lock, journal, archives) is 0600 / 0700', async () => {
    process.umask(0);
    const agentData = join(work, 'agent-data');
    const stateFile = join(agentData, 'config', 'mem_governor_state');
    const session = join(work, 'session');
    mkdirSync(session);
    writeFileSync(join(session, 'transcript.jsonl'), '{"turn":1}\n');
    const daemon = scene.govern({
      stateFile,
      agent: scene.commandAgent(),
      archive: { dir: join(agentData, 'archive'), paths: [session] },
    });
    scene.setRatio(0.75);
    await daemon.first('session checkpointed');
    // Stopped from inside: the lock is still there while the modes are read.
    const modes = modesUnder(agentData);
    expect(await daemon.stop()).toBe(0);
    expect(Object.keys(modes)).toEqual(
      expect.arrayContaining([
        'config/mem_governor_state',
        'config/mem_governor_state.lock',
        'config/mem_governor_journal.jsonl',
        'archive/',
      ]),
    );
    expect(Object.keys(modes).filter((p) => p.endsWith('/manifest.json'))).toHaveLength(1);
    for (const [path, mode] of Object.entries(modes)) {
      expect([path, mode]).toEqual([path, path.endsWith('/') ? '700' : '600']);
    }
  });
});

describe('archives never hold credentials', () => {
  const TOKEN = 'sk-ant-SECRET-0123456789';
  const secrets = [
    '.credentials.json',
    'auth.json',
    'oauth_creds.json',
    '.env',
    '.env.local',
    '.envrc',
    'server.pem',
    'tls.key',
    'client.p12',
    '.npmrc',
    '.netrc',
    '.git-credentials',
    '.pypirc',
    'id_rsa',
    'id_ed25519',
    '.aws/credentials',
    '.ssh/config',
    '.gnupg/pubring.kbx',
  ];
  const innocent = ['transcript.jsonl', 'environment.md', 'key.txt', 'keys/notes.md', 'auth.md'];

  it('leaves out every secret by name, lists it as skipped, and no archived byte holds the token', async () => {
    const workspace = join(work, 'workspace');
    for (const name of [...secrets, ...innocent]) {
      const path = join(workspace, name);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, secrets.includes(name) ? `TOKEN=${TOKEN}\n` : 'nothing secret\n');
    }
    // A source that is a link with an innocent name, to a secret: caught by the target's name.
    const alias = join(work, 'notes.txt');
    symlinkSync(join(workspace, '.env'), alias);
    const result = await archiveSession({
      sources: [workspace, alias, join(workspace, 'id_rsa')],
      archiveRoot: join(work, 'archive'),
      reason: 'tier3',
      nowMs: Date.now(),
      deadlineMs: Number.MAX_SAFE_INTEGER,
    });
    const dir = result._unsafeUnwrap().dir;
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.files.map((f) => relative(workspace, f.path)).sort()).toEqual(
      [...innocent].sort(),
    );
    const skippedAsSecret = manifest.skipped
      .filter((s) => s.why === 'credentials')
      .map((s) => relative(work, s.path))
      .sort();
    // Whole directories (.ssh, .gnupg) are left out as one entry; files inside are never read.
    const expected = [
      ...secrets.filter((s) => !s.startsWith('.ssh/') && !s.startsWith('.gnupg/')),
      '.ssh',
      '.gnupg',
    ].map((s) => `workspace/${s}`);
    expect(skippedAsSecret).toEqual([...expected, 'notes.txt'].sort());
    expect(manifest.complete).toBe(true);
    const everyByte = Object.keys(modesUnder(dir))
      .filter((p) => !p.endsWith('/'))
      .map((p) => readFileSync(join(dir, p), 'utf8'))
      .join('\n');
    expect(everyByte).not.toContain(TOKEN);
    expect(everyByte).toContain('nothing secret');
  });

  it('the rule, name by name', () => {
    for (const name of ['.credentials.json', '.env', '.env.production', 'ca.PEM', 'id_ecdsa_sk']) {
      expect([name, isSecretName(name)]).toEqual([name, true]);
    }
    for (const name of ['credentials.json', 'env', '.environment', 'keys', 'pem.md', 'auth.js']) {
      expect([name, isSecretName(name)]).toEqual([name, false]);
    }
  });
});

describe('no shell ever sees an argument', () => {
  const hostile = (canary: string): string[] => [
    `$(touch ${canary}-dollar)`,
    `\`touch ${canary}-backtick\``,
    `x; touch ${canary}-semicolon`,
    `x\ntouch ${canary}-newline`,
    `x && touch ${canary}-and | cat > ${canary}-pipe`,
    '\'"\\',
  ];
  const echoArgv = (out: string): string[] => [
    process.execPath,
    '-e',
    "require('fs').writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)))",
    out,
  ];

  function canariesUnder(dir: string): string[] {
    return readdirSync(dir).filter((name) => name.startsWith('pwned'));
  }

  it('the command transport passes hostile arguments to the program as they are, running nothing else', async () => {
    const out = join(work, 'argv.json');
    const args = hostile(join(work, 'pwned'));
    const result = await runArgv([...echoArgv(out), ...args], {
      timeoutMs: 10_000,
      signal: new AbortController().signal,
    });
    expect(result).toEqual({ outcome: 'ok' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(args);
    expect(canariesUnder(work)).toEqual([]);
  });

  it('a program name with shell syntax is a program that does not exist, not a command line', async () => {
    const program = `touch ${join(work, 'pwned-program')}; true`;
    const result = await runArgv([program], {
      timeoutMs: 10_000,
      signal: new AbortController().signal,
    });
    expect(result.outcome).toBe('failed');
    expect(result.detail).toContain('ENOENT');
    expect(canariesUnder(work)).toEqual([]);
  });

  it('the daemon runs a configured argv with hostile arguments exactly, at the compact', async () => {
    const out = join(work, 'argv.json');
    const args = hostile(join(work, 'pwned'));
    const daemon = scene.govern({
      stateFile: join(work, 'state', 'mem_governor_state'),
      agent: { transport: 'command', commandArgv: { compact: [...echoArgv(out), ...args] } },
    });
    scene.setRatio(0.75);
    const result = await daemon.first('action result');
    expect(result).toMatchObject({ action: 'compact', outcome: 'ok' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(args);
    expect(canariesUnder(work)).toEqual([]);
  });

  it('tmux gets hostile text and targets as single arguments; text with a newline never reaches it', async () => {
    // A stand-in tmux that records its argv: what execFile hands the real one.
    const calls = join(work, 'tmux-calls.jsonl');
    const fakeTmux = join(work, 'fake-tmux');
    writeFileSync(
      fakeTmux,
      `#!${process.execPath}\nrequire('fs').appendFileSync(${JSON.stringify(calls)}, JSON.stringify(process.argv.slice(2)) + '\\n');\n`,
    );
    chmodSync(fakeTmux, 0o700);
    const tmux = createTmux({ binary: fakeTmux, socketName: 'memgov-security' });
    const canary = join(work, 'pwned');
    const text = `/compact $(touch ${canary}-1) \`touch ${canary}-2\`; touch ${canary}-3 | x`;
    const target = `agent:0.0; touch ${canary}-target`;
    expect((await tmux.sendLiteral(target, text)).isOk()).toBe(true);
    expect((await tmux.sendLiteral(target, `/compact\ntouch ${canary}-nl`)).isErr()).toBe(true);
    const recorded = readFileSync(calls, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as string[]);
    expect(recorded).toEqual([
      ['-u', '-L', 'memgov-security', 'send-keys', '-l', '-t', target, '--', text],
    ]);
    expect(canariesUnder(work)).toEqual([]);
  });

  it('no module that runs programs asks for a shell (source check of actors/, adapters/, cli/)', () => {
    const offenders: string[] = [];
    for (const dir of ['actors', 'adapters', 'cli', 'cli/commands']) {
      for (const name of readdirSync(join(REPO, dir))) {
        if (!name.endsWith('.ts')) continue;
        const text = readFileSync(join(REPO, dir, name), 'utf8');
        if (!text.includes('node:child_process')) continue;
        const imports = /import\s*\{([^}]*)\}\s*from\s*'node:child_process'/.exec(text)?.[1] ?? '';
        for (const fn of ['exec', 'execSync']) {
          if (new RegExp(`\\b${fn}\\b(?!File)`).test(imports))
            offenders.push(`${dir}/${name}: ${fn}`);
        }
        if (/shell:\s*true/.test(text)) offenders.push(`${dir}/${name}: shell: true`);
        if (/['"](?:\/bin\/)?(?:ba)?sh['"]\s*,\s*\[?\s*['"]-c['"]/.test(text)) {
          offenders.push(`${dir}/${name}: sh -c`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});

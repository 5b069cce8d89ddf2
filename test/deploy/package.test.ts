// Both ways to ship memgov (docs/DEPLOY.md): the `npm pack` tarball, installed offline into a
// clean directory, gives a working `memgov` bin; and dist/memgov.mjs copied alone into an empty
// directory (no node_modules anywhere above it) runs every command with nothing but node.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  readFileSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identify, signalVerified } from '../../adapters/proc.ts';
import { BUNDLE } from '../support/cli.ts';
import { Cleanup, isGone, pollUntil, tempDir } from '../support/daemon.ts';
import { killLater, logFileRecords } from './entrypoint-process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/fixtures/cgroup/v1-limited');
const TRACE = join(ROOT, 'examples/traces/burst.jsonl');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with PATH and HOME only (HOME: npm finds its cache there). */
function run(command: string, args: readonly string[], cwd: string): Run {
  const child = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    timeout: 60_000,
  });
  return { code: child.status, stdout: child.stdout, stderr: child.stderr };
}

/** Whether a node_modules directory exists in `dir` or any directory above it. */
function nodeModulesAbove(dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'node_modules'))) return join(at, 'node_modules');
    if (dirname(at) === at) return undefined;
  }
}

function expectSampleJson(result: Run, cgroup: string): void {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({
    version: 1,
    cgroup,
    limit: 67_108_864,
    limitSource: 'max',
  });
}

function expectReplayJson(result: Run): void {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const lines = result.stdout.trim().split('\n');
  expect(lines.length).toBeGreaterThan(10);
  const actions = lines.map((line) => (JSON.parse(line) as { action: string | null }).action);
  expect(actions).toContain('compact');
}

function expectDiagram(result: Run): void {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toContain('stateDiagram-v2');
}

describe('shipping memgov', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('npm pack: a small package whose memgov bin works installed offline into a clean directory', () => {
    const packDir = tempDir(cleanup, 'memgov-pack-');
    // --silent keeps the prepack script's banner out of the JSON on stdout.
    const packed = run('npm', ['pack', '--json', '--silent', '--pack-destination', packDir], ROOT);
    expect(packed.code, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: { path: string }[];
    }[];
    if (info === undefined) throw new Error(`npm pack printed no package: ${packed.stdout}`);
    const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const docs = readdirSync(join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`);
    const expectedFiles = [
      'LICENSE',
      'README.md',
      'dist/memgov.mjs',
      'dist/memgov.mjs.map',
      'package.json',
      ...docs,
    ];
    const shipped = info.files.map((f) => f.path);
    expect(shipped.sort()).toEqual(expectedFiles.sort());
    // Every relative link of the shipped README resolves inside the package.
    const links = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\(([^)#:]+)[)#]/g)];
    const targets = [...new Set(links.map((m) => m[1] as string))];
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((target) => !shipped.includes(target))).toEqual([]);
    // Executable, so ./dist/memgov.mjs runs after `npm start` in a checkout.
    expect(statSync(BUNDLE).mode & 0o111).toBe(0o111);
    expect(packageJson.bin).toEqual({ memgov: 'dist/memgov.mjs' });
    expect(readFileSync(BUNDLE, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);

    // A clean directory under /tmp, nothing installed above it: only the tarball and the npm
    // cache (filled by `npm ci`) are there to install from.
    const installDir = tempDir(cleanup, 'memgov-install-');
    expect(nodeModulesAbove(installDir)).toBeUndefined();
    const tarball = join(packDir, info.filename);
    const installed = run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', tarball],
      installDir,
    );
    expect(installed.code, installed.stderr).toBe(0);
    // The bundle carries every dependency: the install is memgov alone.
    expect(readdirSync(join(installDir, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(
      ['memgov'],
    );
    const bin = join(installDir, 'node_modules/.bin/memgov');

    const version = run(bin, ['--version'], installDir);
    const { version: expected } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version).toEqual({ code: 0, stdout: `${expected}\n`, stderr: '' });
    expectSampleJson(run(bin, ['sample', '--cgroup', FIXTURE, '--json'], installDir), FIXTURE);
    expectReplayJson(run(bin, ['replay', TRACE, '--json'], installDir));
    expectDiagram(run(bin, ['diagram'], installDir));
  }, 120_000);

  it('dist/memgov.mjs alone, with node, runs every command', async () => {
    const dir = tempDir(cleanup, 'memgov-single-file-');
    expect(nodeModulesAbove(dir)).toBeUndefined();
    const single = join(dir, 'memgov.mjs');
    copyFileSync(BUNDLE, single);
    const cgroup = join(dir, 'cgroup');
    cpSync(FIXTURE, cgroup, { recursive: true });
    const trace = join(dir, 'trace.jsonl');
    copyFileSync(TRACE, trace);
    const memgov = (...args: string[]): Run => run(process.execPath, [single, ...args], dir);

    const help = memgov('--help');
    expect(help.code).toBe(0);
    // Every command the help lists (one per line under "Commands:", the name first).
    const listed = help.stdout.slice(help.stdout.indexOf('Commands:\n'));
    const commands = [...listed.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1] as string);
    expect(commands).toEqual(
      expect.arrayContaining(['run', 'start', 'status', 'sample', 'replay']),
    );
    for (const command of commands) {
      const shown = memgov(command, '--help');
      expect(shown.stdout, command).toContain(`Usage: memgov ${command}`);
      expect(shown.code, command).toBe(0);
    }
    // Through its shebang, as the bin of the package or a symlink on PATH runs it.
    chmodSync(single, 0o755);
    expect(run(single, ['--version'], dir).code).toBe(0);

    expectSampleJson(memgov('sample', '--cgroup', cgroup, '--json'), cgroup);
    expectReplayJson(memgov('replay', trace, '--json'));
    expectDiagram(memgov('diagram'));

    // The daemon, detached as a postStart hook starts it, then `status` from its state file.
    const stateFile = join(dir, 'state', 'mem_governor_state');
    const logFile = join(dir, 'memgov.log');
    const started = memgov(
      'start',
      '--detach',
      '--cgroup',
      cgroup,
      '--state-file',
      stateFile,
      '--log-file',
      logFile,
      // The bundled prom-client: an ephemeral port, named in the log.
      '--metrics=0',
    );
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    const pid = Number(/\(pid (\d+)\)/.exec(started.stdout)?.[1]);
    killLater(cleanup, pid);
    const status = await pollUntil(
      'the detached daemon to write its state file',
      15_000,
      () => {
        const shown = memgov('status', '--json', '--state-file', stateFile);
        return shown.code === 0 ? (JSON.parse(shown.stdout) as { tier?: number }) : undefined;
      },
      () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : 'no log file'),
    );
    expect(status.tier).toBe(0);
    expect(logFileRecords(logFile).some((r) => r.message === 'memgov started')).toBe(true);
    const listening = await pollUntil('the metrics endpoint', 5_000, () =>
      logFileRecords(logFile).find((r) => r.message === 'metrics listening'),
    );
    const scraped = await fetch(String(listening.url));
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^memgov_/m);
    expect(signalVerified(identify(pid)._unsafeUnwrap(), 'SIGTERM', { group: false }).isOk()).toBe(
      true,
    );
    await pollUntil('the daemon to stop', 8_000, () => (isGone(pid) ? true : undefined));
    expect(logFileRecords(logFile).at(-1)).toMatchObject({ message: 'stopping' });
  }, 60_000);
});

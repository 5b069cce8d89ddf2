// The observability settings: the optional-value flag kind (`--inspect`, `--inspect=9465`), the
// flags and config keys of the metrics, the inspector and the journal, their defaults, and a
// clear exit 2 naming the flag or key for each bad value. No daemon starts here.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { parseArgs } from '../../cli/args.ts';
import {
  DEFAULT_INSPECT_PORT,
  DEFAULT_METRICS_PORT,
  journalPathOf,
} from '../../machines/daemon-config.ts';
import { runMain, tempFiles } from '../support/cli.ts';

const SPEC = {
  inspect: { kind: 'optional' },
  'dry-run': { kind: 'boolean' },
  config: { kind: 'string' },
} as const;

describe('optional-value flags', () => {
  it('stand alone as true, or take a value after =', () => {
    expect(parseArgs(['--inspect'], SPEC)._unsafeUnwrap().flags).toEqual({ inspect: true });
    expect(parseArgs(['--inspect=9465'], SPEC)._unsafeUnwrap().flags).toEqual({
      inspect: '9465',
    });
  });

  it('never take the next argument as their value', () => {
    const parsed = parseArgs(['--inspect', '--dry-run', 'extra', '--', 'agent', '-x'], SPEC);
    expect(parsed._unsafeUnwrap()).toEqual({
      flags: { inspect: true, 'dry-run': true },
      positionals: ['extra'],
      rest: ['agent', '-x'],
    });
  });

  it('reject an empty value after =', () => {
    expect(parseArgs(['--inspect='], SPEC)._unsafeUnwrapErr()).toBe(
      'option --inspect= needs a value after the =',
    );
  });
});

function config(daemonFlags: Record<string, unknown>, file?: string) {
  return loadConfig({ env: { AGENT_DATA: '/data' }, file, daemonFlags });
}

describe('observability settings', () => {
  it('are off (metrics, inspector) or beside the state file (journal) by default', () => {
    const { daemon } = config({})._unsafeUnwrap();
    expect(daemon.metrics).toEqual({
      enabled: false,
      host: '127.0.0.1',
      port: DEFAULT_METRICS_PORT,
    });
    expect(daemon.inspect).toEqual({
      enabled: false,
      host: '127.0.0.1',
      port: DEFAULT_INSPECT_PORT,
    });
    expect(journalPathOf(daemon)).toBe('/data/config/mem_governor_journal.jsonl');
    expect(daemon.journal).toMatchObject({ maxBytes: 10 * 1024 * 1024, keep: 3 });
    const moved = config({ stateFile: '/var/memgov/state' })._unsafeUnwrap();
    expect(journalPathOf(moved.daemon)).toBe('/var/memgov/mem_governor_journal.jsonl');
  });

  it('come from a config file, shorthand included; journal.path: off turns the journal off', () => {
    const dir = tempFiles({
      'memgov.yaml': [
        'metrics: true',
        'inspect: {enabled: true, port: 9500, host: 0.0.0.0}',
        'journal: {path: off}',
      ].join('\n'),
    });
    const { daemon } = config({}, `${dir}/memgov.yaml`)._unsafeUnwrap();
    expect(daemon.metrics).toMatchObject({ enabled: true, port: DEFAULT_METRICS_PORT });
    expect(daemon.inspect).toEqual({ enabled: true, port: 9500, host: '0.0.0.0' });
    expect(journalPathOf(daemon)).toBeNull();
  });

  it('name the key and the file for each bad value', () => {
    const dir = tempFiles({
      'memgov.json': JSON.stringify({
        metrics: { port: 70_000, host: 'a b', scrape: true },
        journal: { keep: -1 },
      }),
    });
    const problems = config({}, `${dir}/memgov.json`)._unsafeUnwrapErr();
    expect(problems).toEqual([
      expect.stringMatching(
        /memgov\.json: metrics\.scrape: unknown setting \(known: enabled, host, port\)/,
      ),
      expect.stringMatching(
        /memgov\.json: metrics\.host: must be an address or host name .*\(got "a b"\)/,
      ),
      expect.stringMatching(
        /memgov\.json: metrics\.port: must be a whole number from 0 to 65535 \(got 70000\)/,
      ),
      expect.stringMatching(
        /memgov\.json: journal\.keep: must be a whole number from 0 to 100 \(got -1\)/,
      ),
    ]);
  });
});

describe('memgov run observability flags', () => {
  it('a bad port exits 2 naming the flag', async () => {
    for (const [flag, key] of [
      ['--inspect=abc', 'inspect.port'],
      ['--metrics=99999', 'metrics.port'],
    ] as const) {
      const run = await runMain(['run', flag]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        new RegExp(`^memgov run: flag ${flag.split('=')[0] ?? ''}: ${key}: must be a whole number`),
      );
    }
  });

  it('a bad --inspect-host exits 2 naming the flag', async () => {
    const run = await runMain(['run', '--inspect-host', 'http://x/']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^memgov run: flag --inspect-host: inspect\.host: must be/);
  });

  it('--journal and --no-journal together are a usage error', async () => {
    const run = await runMain(['run', '--journal', '/tmp/j.jsonl', '--no-journal']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('memgov run: --journal and --no-journal contradict each other\n');
  });

  it('--inspect alone leaves the next option be (here --help), and help lists the flags', async () => {
    const run = await runMain(['run', '--inspect', '--metrics=1', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--inspect[=PORT]');
  });
});

// `memgov replay` against docs/DESIGN.md#command-line contract, through the shipped bundle.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBundle, runMain, tempFiles, traceOf } from '../support/cli.ts';

const T0 = 1_000_000;

describe('memgov replay --json (the bundle)', () => {
  it('prints exactly the documented line for each seen sample and nothing else', () => {
    const dir = tempFiles({
      'trace.jsonl': traceOf([
        [T0, 0.5],
        [T0 + 100, 0.55], // not seen: the governor asked to come back much later
        [T0 + 60_000, 0.72],
        [T0 + 60_100, 0.95], // seen: nextPollMs 0 after the compact means the next line
        [T0 + 60_200, 0.95],
      ]),
    });
    const run = runBundle(['replay', join(dir, 'trace.jsonl'), '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        // 477 MiB free fill in 953 ms at the assumed 500 MiB/s: less 150 ms for tier 3's samples.
        '{"t":1000000,"ratio":0.5,"action":null,"nextPollMs":803,"state":"ladder.idle,tier3.armed,polling.relaxed"}',
        '{"t":1060000,"ratio":0.72,"action":"compact","nextPollMs":0,"state":"ladder.compacted,tier3.armed,polling.relaxed"}',
        // +23% in 100 ms projects the limit at once: urgent.
        '{"t":1060100,"ratio":0.95,"action":"archive-terminate","nextPollMs":0,"state":"ladder.compacted,tier3.disarmed,polling.urgent"}',
        // Tier 3 is disarmed, but tier 2 still holds: above clearAt, above the compact's 0.72, no clear yet.
        '{"t":1060200,"ratio":0.95,"action":"clear","nextPollMs":0,"state":"ladder.cleared,tier3.disarmed,polling.fast"}',
        '',
      ].join('\n'),
    );
  });

  it('sees a sample at most once and the first sample at or after the time asked for', () => {
    // 64 GiB limit at 10%: the headroom is large, so the relaxed ceiling of 60 s applies.
    const limit = 64 * 1024 ** 3;
    const points = Array.from({ length: 25 }, (_, i) => [T0 + i * 10_000, 0.1] as const);
    const dir = tempFiles({ 'trace.jsonl': traceOf(points, limit) });
    const run = runBundle(['replay', join(dir, 'trace.jsonl'), '--json']);
    const seen = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { t: number; nextPollMs: number });
    expect(seen.map((s) => s.t)).toEqual([
      T0,
      T0 + 60_000,
      T0 + 120_000,
      T0 + 180_000,
      T0 + 240_000,
    ]);
    expect(seen.every((s) => s.nextPollMs === 60_000)).toBe(true);
  });

  it('is deterministic: the example trace gives byte-identical output twice', () => {
    const trace = new URL('../../examples/traces/burst.jsonl', import.meta.url).pathname;
    const first = runBundle(['replay', trace, '--json']);
    const second = runBundle(['replay', trace, '--json']);
    expect(first.code).toBe(0);
    expect(first.stdout.length).toBeGreaterThan(1000);
    expect(second.stdout).toBe(first.stdout);
    const actions = first.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { action: string | null }).action)
      .filter((action) => action !== null);
    expect(actions).toEqual(['compact', 'clear', 'archive-terminate']);
  });

  it('reads "usage" as current with no page cache, and applies --config', () => {
    const dir = tempFiles({
      'trace.jsonl': `{"t":0,"usage":600,"limit":1000}\n`,
      'low.yaml': 'compactAt: 0.6\nclearAt: 0.65\nterminateAt: 0.7\n',
    });
    const run = runBundle([
      'replay',
      join(dir, 'trace.jsonl'),
      '--json',
      '--config',
      join(dir, 'low.yaml'),
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ t: 0, ratio: 0.6, action: 'compact' });
  });
});

describe('memgov replay errors', () => {
  it('names the file and line of a garbled sample and exits 1', async () => {
    const dir = tempFiles({
      'trace.jsonl': `${traceOf([[T0, 0.5]])}{"t":5,"current":"lots","limit":9}\n`,
    });
    const run = await runMain(['replay', join(dir, 'trace.jsonl'), '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `memgov replay: ${join(dir, 'trace.jsonl')}:2: "current" must be a number (got "lots")\n`,
    );
  });

  it.each([
    ['not JSON', 'hello', 'not a JSON object: "hello"'],
    ['no usage', '{"t":1,"limit":5}', 'needs "current" (or "usage") in bytes'],
    ['zero limit', '{"t":1,"current":1,"limit":0}', '"limit" must be above 0'],
    ['negative', '{"t":1,"current":-4,"limit":10}', '"current" must not be negative (got -4)'],
  ])('rejects %s with a precise message', async (_name, line, message) => {
    const dir = tempFiles({ 't.jsonl': `${line}\n` });
    const run = await runMain(['replay', join(dir, 't.jsonl')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`t.jsonl:1: ${message}`);
  });

  it('quotes a bad line: no raw control character reaches the terminal, no escape cut in half', async () => {
    const dir = tempFiles({
      'colour.jsonl': `\x1b[31mred\r\x00\x9b2J\n`,
      // The first 77 characters of its JSON end inside the escape of the ESC.
      'long.jsonl': `${'a'.repeat(74)}\x1b[0m${'b'.repeat(40)}\n`,
    });
    const colour = await runMain(['replay', join(dir, 'colour.jsonl')]);
    expect(colour.code).toBe(1);
    expect(colour.stderr).toBe(
      `memgov replay: ${join(dir, 'colour.jsonl')}:1: not a JSON object: "\\u001b[31mred\\r\\u0000\\u009b2J"\n`,
    );
    const long = await runMain(['replay', join(dir, 'long.jsonl')]);
    expect(long.stderr).toBe(
      `memgov replay: ${join(dir, 'long.jsonl')}:1: not a JSON object: "${'a'.repeat(74)}...\n`,
    );
    for (const text of [colour.stderr, long.stderr]) {
      const controls = [...text.slice(0, -1)].filter(
        (c) => c < ' ' || (c >= '\x7f' && c <= '\x9f'),
      );
      expect(controls).toEqual([]);
    }
  });

  it('rejects lines out of time order', async () => {
    const dir = tempFiles({
      't.jsonl': traceOf([
        [T0, 0.5],
        [T0 - 1, 0.5],
      ]),
    });
    const run = await runMain(['replay', join(dir, 't.jsonl')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('t.jsonl:2: "t" 999999 is earlier than the line before (1000000)');
  });

  it('exits 1 on a missing trace and on an empty one', async () => {
    expect((await runMain(['replay', '/nonexistent/trace.jsonl'])).stderr).toContain('cannot open');
    const dir = tempFiles({ 'empty.jsonl': '\n\n' });
    const run = await runMain(['replay', join(dir, 'empty.jsonl')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the trace has no samples');
  });

  it('exits 2 naming the setting for a bad config, from the file and from the environment', async () => {
    const dir = tempFiles({
      't.jsonl': traceOf([[T0, 0.5]]),
      'c.json': '{"clearAt": 0.5, "compactAtt": 1}',
    });
    const run = await runMain(['replay', join(dir, 't.jsonl'), '--config', join(dir, 'c.json')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${join(dir, 'c.json')}: compactAtt: unknown setting`);
    const fromEnv = await runMain(['replay', join(dir, 't.jsonl')], {
      MEMGOV_FAST_POLL_MS: 'soon',
    });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain(
      'environment MEMGOV_FAST_POLL_MS: fastPollMs: must be milliseconds (got "soon")',
    );
  });

  it('exits 2 on usage errors', async () => {
    expect((await runMain(['replay'])).code).toBe(2);
    expect((await runMain(['replay', 'a', 'b'])).code).toBe(2);
    expect((await runMain(['replay', 'a', '--bogus'])).stderr).toContain('unknown option --bogus');
    expect((await runMain(['nonsense'])).code).toBe(2);
  });

  it('prints a readable summary without --json', async () => {
    const dir = tempFiles({
      't.jsonl': readFileSync(
        new URL('../../examples/traces/burst.jsonl', import.meta.url),
      ).toString(),
    });
    const run = await runMain(['replay', join(dir, 't.jsonl')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /replayed 1801 samples, governor saw \d+; actions: compact=1 clear=1 archive-terminate=1\n$/,
    );
  });
});

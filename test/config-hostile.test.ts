// Config files built to trip the error messages up: values that cannot be turned into text the
// usual way (a toString that is not a function, cycles made with YAML aliases), control
// characters in values and keys, very long values. Each gets a message naming the file and the
// key, on one line, with nothing a terminal would act on; nothing throws.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.ts';
import { quoteValue } from '../lib/quote.ts';
import { Cleanup, tempDir } from './support/daemon.ts';

const cleanup = new Cleanup();
const dir = tempDir(cleanup, 'memgov-config-hostile-');
afterAll(() => cleanup.run());

/** Characters a terminal may act on: C0 controls (a newline too, messages are one line), DEL, C1. */
function controlsIn(text: string): string[] {
  return [...text].filter((c) => c < ' ' || (c >= '\x7f' && c <= '\x9f'));
}

function problemsOf(name: string, text: string): { path: string; problems: string[] } {
  const path = join(dir, name);
  writeFileSync(path, text);
  const result = loadConfig({ file: path, env: {} });
  return { path, problems: result.isErr() ? result.error : [] };
}

describe('loadConfig on hostile files: the file, the key and the value, never a throw', () => {
  it.each([
    [
      'a policy value whose toString is a number (JSON)',
      'a.json',
      '{"compactAt": {"toString": 1}}',
      ['compactAt: must be a ratio (got {"toString":1})'],
    ],
    [
      'a daemon value whose toString and valueOf are not functions (JSON)',
      'b.json',
      '{"agent": {"commands": {"compact": {"toString": 1, "valueOf": []}}}, "dryRun": {"toString": null}}',
      [
        'dryRun: must be true or false (got {"toString":null})',
        'agent.commands.compact: must be a non-empty string (got {"toString":1,"valueOf":[]})',
      ],
    ],
    [
      'a list that holds itself (a YAML alias cycle)',
      'c.yaml',
      'stateFile: &x [*x]\n',
      ['stateFile: must be a non-empty string (got a list)'],
    ],
    [
      'mappings that hold themselves, policy and daemon keys (YAML)',
      'd.yaml',
      'compactAt: &a {self: *a}\narchive: &b {paths: *b}\n',
      [
        'compactAt: must be a ratio (got a mapping)',
        'archive.paths: must be a list of paths (got a mapping)',
      ],
    ],
    [
      'colour escapes, a carriage return and a NUL in values (YAML)',
      'e.yaml',
      'logLevel: "\\e[31mred\\r"\ncompactAt: "\\0"\n',
      [
        'compactAt: must be a ratio (got "\\u0000")',
        'logLevel: must be one of debug, info, warn, error (got "\\u001b[31mred\\r")',
      ],
    ],
  ])('%s', (_what, name, text, expected) => {
    const { path, problems } = problemsOf(name, text);
    expect([...problems].sort()).toEqual(expected.map((problem) => `${path}: ${problem}`).sort());
    for (const problem of problems) {
      expect(problem.startsWith(`${path}: `)).toBe(true);
      expect(controlsIn(problem)).toEqual([]);
    }
  });

  it('a key holding a colour escape and a carriage return is quoted (JSON)', () => {
    const { path, problems } = problemsOf('f.json', '{"\\u001b[2Jevil\\r": 1}');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^[^\n]*: "\\u001b\[2Jevil\\r": unknown setting \(known: metric, /);
    expect(problems[0]?.startsWith(`${path}: `)).toBe(true);
    expect(controlsIn(problems[0] ?? '')).toEqual([]);
  });

  it('a very long value is cut to a readable length, not repeated whole', () => {
    const { path, problems } = problemsOf(
      'g.json',
      JSON.stringify({ cgroup: { x: 'y'.repeat(100_000) } }),
    );
    expect(problems).toEqual([
      `${path}: cgroup: must be a non-empty string (got {"x":"${'y'.repeat(71)}...)`,
    ]);
  });
});

describe('quoteValue', () => {
  it.each([
    ['a string', 'low', '"low"'],
    ['NaN (JSON would say null)', Number.NaN, 'NaN'],
    ['Infinity', -Infinity, '-Infinity'],
    ['a BigInt (JSON throws)', 10n, '10'],
    ['nothing', undefined, 'nothing'],
    ['a function', () => 1, 'a function'],
    [
      'an object whose toJSON throws',
      {
        toJSON: () => {
          throw new Error('no');
        },
      },
      'a mapping',
    ],
    [
      'C1 controls and line separators, which JSON leaves raw',
      '\x9b2J\u2028',
      '"\\u009b2J\\u2028"',
    ],
  ])('%s', (_what, value, shown) => {
    expect(quoteValue(value)).toBe(shown);
  });

  it('cuts between escapes and between the halves of a surrogate pair, never inside', () => {
    // Unquoted, 74 characters then an escape: the cut at 77 falls inside "\u001b".
    expect(quoteValue(`${'a'.repeat(74)}\x1b[0m`)).toBe(`"${'a'.repeat(74)}...`);
    expect(quoteValue(`${'a'.repeat(75)}\\xyz`)).toBe(`"${'a'.repeat(75)}...`);
    // 75 characters, then a pair that would end at 78.
    expect(quoteValue(`${'a'.repeat(75)}😀😀`)).toBe(`"${'a'.repeat(75)}...`);
  });

  it('any value: never throws, at most 80 characters, no control character', () => {
    const cyclic = fc.anything().map((inner) => {
      const box: Record<string, unknown> = { inner };
      box.self = box;
      return box;
    });
    fc.assert(
      fc.property(
        fc.oneof(fc.anything({ withBigInt: true }), fc.string({ unit: 'binary' }), cyclic),
        (value) => {
          const shown = quoteValue(value);
          expect(shown.length).toBeLessThanOrEqual(80);
          expect(controlsIn(shown)).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });
});

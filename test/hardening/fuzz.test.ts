// Every parser of outside input, fuzzed with fast-check: the kernel's cgroup and /proc files, trace
// lines, config files, the state file, /proc/PID/stat and Claude Code's session files. For each:
// (1) arbitrary text (any code points, and text built from the parser's own alphabet, which gets
// much closer to valid input) never throws and gives a value or a typed error naming the input;
// (2) valid input generated from a value parses back to that value.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { quoteValue } from '../../lib/quote.ts';
import { stringify as toYaml } from 'yaml';
import {
  formatCgroupError,
  locateMemoryCgroup,
  parseByteCount,
  parseFlatKeyed,
  parseMeminfoTotalBytes,
  parseMountinfo,
  parseOomControl,
  parseProcCgroup,
  parseV1InactiveFileBytes,
  parseV1Limit,
  parseV2InactiveFileBytes,
  parseV2Limit,
  parseV2OomKills,
  type CgroupError,
} from '../../adapters/cgroup/parse.ts';
import { parseSessionFile } from '../../agents/claude-code-parse.ts';
import { parseTranscriptText } from '../../adapters/session-files.ts';
import { loadConfig } from '../../cli/config.ts';
import { parseProcStat } from '../../adapters/proc.ts';
import { readStateFile, writeStateFile } from '../../adapters/state-file.ts';
import { formatTraceError, parseTraceLine } from '../../adapters/trace.ts';
import { DEFAULT_POLICY } from '../../machines/config.ts';

// Pure parsers take ~1-20 us a run: 2000 runs each. File-backed ones (config, state file) cost
// ~0.2 ms a run: 300. The whole file stays near 10 s. FUZZ_RUNS=N multiplies both by N (a long
// hunt: FUZZ_RUNS=10 takes about a minute and a half).
const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const RUNS = 2_000 * SCALE;
const FILE_RUNS = 300 * SCALE;

const FILE = '/sys/fs/cgroup/memory/x/memory.fuzz';
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Any code points, lone surrogates and control characters included. */
const anyText = fc.string({ unit: 'binary', maxLength: 300 });

/** Text drawn from the characters a parser branches on: far likelier to get near valid input. */
function textOf(alphabet: string, maxLength = 120): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...alphabet), maxLength });
}

const counterText = textOf('0123456789 \n\t-+.emaxMAXunlimited9');
const flatKeyedText = textOf('abcinactive_filetotaloom_killunder_oomdisable 0123456789\n\t-');
const procCgroupText = textOf('0123456789:,/memorycpuname=systemd.-_ \n');
const mountinfoText = textOf('0123456789 -/:,\\cgroup2memoryrwsharedmaster:fs\n');

function withoutNewlines(text: string): string {
  return text.replace(/\n/g, ' ');
}

/** Runs `parse` and fails the property with the input when it throws. */
function neverThrows<T>(parse: () => T): T {
  return parse();
}

/** A cgroup parser's error is garbled (or no-memory-cgroup), names the file, and is one line. */
function isNamedCgroupError(error: CgroupError, file: string): boolean {
  const line = formatCgroupError(error);
  return error.file === file && line.includes(file) && !line.includes('\n');
}

function isSafeCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

describe('cgroup single-value files', () => {
  it('memory.current / usage_in_bytes: any text is a safe count or a garbled error naming the file', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, counterText), (text) => {
        const result = neverThrows(() => parseByteCount(text, FILE));
        if (result.isOk()) {
          expect(isSafeCount(result.value)).toBe(true);
          expect(String(result.value)).toBe(text.trim().replace(/^0+(?=\d)/, ''));
        } else expect(isNamedCgroupError(result.error, FILE)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('every safe count round-trips, with the kernel newline or without', () => {
    fc.assert(
      fc.property(fc.nat({ max: MAX_SAFE }), fc.constantFrom('', '\n', ' \n'), (n, end) => {
        expect(parseByteCount(`${n}${end}`, FILE)._unsafeUnwrap()).toBe(n);
      }),
      { numRuns: RUNS },
    );
  });

  it('v2 memory.max / memory.high: a safe count, "max" as unlimited, else garbled', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, counterText), (text) => {
        const result = neverThrows(() => parseV2Limit(text, FILE));
        if (result.isErr()) expect(isNamedCgroupError(result.error, FILE)).toBe(true);
        else if (result.value === 'unlimited') expect(text.trim()).toBe('max');
        else expect(isSafeCount(result.value)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.nat({ max: MAX_SAFE }), (n) => {
        expect(parseV2Limit(`${n}\n`, FILE)._unsafeUnwrap()).toBe(n);
        expect(parseV2Limit('max\n', FILE)._unsafeUnwrap()).toBe('unlimited');
      }),
      { numRuns: RUNS },
    );
  });

  it('v1 limit_in_bytes: any count at or above 2^62 (up to 2^64-1 and past it) is unlimited', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, counterText), (text) => {
        const result = neverThrows(() => parseV1Limit(text, FILE));
        if (result.isErr()) expect(isNamedCgroupError(result.error, FILE)).toBe(true);
        else if (result.value === 'unlimited') expect(BigInt(text.trim()) >= 2n ** 62n).toBe(true);
        else expect(isSafeCount(result.value)).toBe(true);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.bigInt({ min: 2n ** 62n, max: 2n ** 80n }),
        fc.nat({ max: MAX_SAFE }),
        (big, n) => {
          expect(parseV1Limit(`${big}\n`, FILE)._unsafeUnwrap()).toBe('unlimited');
          expect(parseV1Limit(`${n}\n`, FILE)._unsafeUnwrap()).toBe(n);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('/proc/meminfo MemTotal: any text is bytes (a multiple of 1024) or a garbled error', () => {
    const meminfo = textOf('MemTotal:MemFree 0123456789kB \n');
    fc.assert(
      fc.property(fc.oneof(anyText, meminfo), (text) => {
        const result = neverThrows(() => parseMeminfoTotalBytes(text, '/proc/meminfo'));
        if (result.isOk())
          expect(isSafeCount(result.value) && result.value % 1024 === 0).toBe(true);
        else expect(isNamedCgroupError(result.error, '/proc/meminfo')).toBe(true);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 40 }), (kib, free) => {
        const text = `MemTotal:       ${kib} kB\nMemFree:        ${free} kB\n`;
        expect(parseMeminfoTotalBytes(text, '/proc/meminfo')._unsafeUnwrap()).toBe(kib * 1024);
      }),
      { numRuns: RUNS },
    );
  });
});

const keyArb = fc.stringMatching(/^[a-z][a-z_]{0,23}$/);
const flatFileArb = fc.uniqueArray(fc.tuple(keyArb, fc.nat({ max: MAX_SAFE })), {
  selector: ([key]) => key,
  maxLength: 50,
});

describe('flat-keyed cgroup files (memory.stat, memory.events, memory.oom_control)', () => {
  const flatParsers = {
    parseV1InactiveFileBytes,
    parseV2InactiveFileBytes,
    parseV2OomKills,
    parseOomControl,
  };

  it('any text: a value or a garbled error naming the file, from every flat-keyed parser', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, flatKeyedText), (text) => {
        const entries = neverThrows(() => parseFlatKeyed(text, FILE));
        if (entries.isErr()) expect(isNamedCgroupError(entries.error, FILE)).toBe(true);
        for (const parse of Object.values(flatParsers)) {
          const result = neverThrows(() => parse(text, FILE));
          if (result.isErr()) expect(isNamedCgroupError(result.error, FILE)).toBe(true);
          // A file the generic parser refuses is refused by every specific one too.
          if (entries.isErr()) expect(result.isErr()).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('generated files give back every key, and the counters memgov reads', () => {
    fc.assert(
      fc.property(flatFileArb, fc.boolean(), (pairs, finalNewline) => {
        const text = pairs.map(([key, value]) => `${key} ${value}`).join('\n');
        const file = finalNewline ? `${text}\n` : text;
        const entries = parseFlatKeyed(file, FILE)._unsafeUnwrap();
        expect([...entries]).toEqual(pairs.map(([key, value]) => [key, String(value)]));
        const value = (key: string) => pairs.find(([k]) => k === key)?.[1];
        expect(parseV2OomKills(file, FILE)._unsafeUnwrap()).toBe(value('oom_kill') ?? 0);
        const v2Inactive = parseV2InactiveFileBytes(file, FILE);
        if (value('inactive_file') === undefined) expect(v2Inactive.isErr()).toBe(true);
        else expect(v2Inactive._unsafeUnwrap()).toBe(value('inactive_file'));
        const v1Inactive = parseV1InactiveFileBytes(file, FILE);
        const expected = value('total_inactive_file') ?? value('inactive_file');
        if (expected === undefined) expect(v1Inactive.isErr()).toBe(true);
        else expect(v1Inactive._unsafeUnwrap()).toBe(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('memory.oom_control round-trips its flags and kill count (no oom_kill line: 0)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 1 }),
        fc.nat({ max: 1 }),
        fc.option(fc.nat({ max: MAX_SAFE }), { nil: undefined }),
        (disable, under, kills) => {
          const text =
            `oom_kill_disable ${disable}\nunder_oom ${under}\n` +
            (kills === undefined ? '' : `oom_kill ${kills}\n`);
          expect(parseOomControl(text, FILE)._unsafeUnwrap()).toEqual({
            oomKillDisable: disable === 1,
            underOom: under === 1,
            oomKills: kills ?? 0,
          });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

/** A cgroup path segment as the kernel allows it: anything but '/' and NUL (colons included). */
const segmentArb = fc
  .string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 })
  .filter(
    (s) => !s.includes('/') && !s.includes('\0') && !s.includes('\n') && s !== '.' && s !== '..',
  );
const cgroupPathArb = fc.array(segmentArb, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`);

/** Escapes a mountinfo path field the way the kernel does (space, tab, newline, backslash). */
function escapeMountPath(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

describe('/proc/self/cgroup and /proc/self/mountinfo', () => {
  it('any text: entries or a garbled error naming the file; locate never throws', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, procCgroupText), fc.oneof(anyText, mountinfoText), (cg, mi) => {
        const entries = neverThrows(() => parseProcCgroup(cg, '/proc/self/cgroup'));
        if (entries.isErr())
          expect(isNamedCgroupError(entries.error, '/proc/self/cgroup')).toBe(true);
        const mounts = neverThrows(() => parseMountinfo(mi, '/proc/self/mountinfo'));
        if (mounts.isErr())
          expect(isNamedCgroupError(mounts.error, '/proc/self/mountinfo')).toBe(true);
        const located = neverThrows(() => locateMemoryCgroup(cg, mi));
        if (located.isErr()) expect(formatCgroupError(located.error)).not.toContain('\n');
        else expect(located.value.dir.startsWith('/')).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('generated /proc/self/cgroup lines round-trip, colons in paths included', () => {
    const lineArb = fc.record({
      hierarchyId: fc.nat({ max: 64 }),
      controllers: fc.array(fc.stringMatching(/^[a-z][a-z_=]{0,10}$/), { maxLength: 3 }),
      path: cgroupPathArb,
    });
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 12 }), (lines) => {
        const text = lines.map((l) => `${l.hierarchyId}:${l.controllers.join(',')}:${l.path}\n`);
        expect(parseProcCgroup(text.join(''))._unsafeUnwrap()).toEqual(lines);
      }),
      { numRuns: RUNS },
    );
  });

  it('generated mountinfo lines round-trip, with escaped paths and optional fields', () => {
    const mountArb = fc.record({
      root: cgroupPathArb,
      mountPoint: cgroupPathArb,
      fsType: fc.constantFrom('cgroup', 'cgroup2', 'ext4', 'proc'),
      superOptions: fc.array(fc.stringMatching(/^[a-z][a-z_=0-9]{0,8}$/), {
        minLength: 1,
        maxLength: 4,
      }),
      optional: fc.array(fc.constantFrom('shared:1', 'master:7', 'propagate_from:2'), {
        maxLength: 3,
      }),
    });
    fc.assert(
      fc.property(fc.array(mountArb, { maxLength: 8 }), (mounts) => {
        const text = mounts
          .map(
            (m, i) =>
              `${20 + i} 1 0:${i} ${escapeMountPath(m.root)} ${escapeMountPath(m.mountPoint)} rw,nosuid ${[...m.optional, '-'].join(' ')} ${m.fsType} ${m.fsType} ${m.superOptions.join(',')}\n`,
          )
          .join('');
        expect(parseMountinfo(text)._unsafeUnwrap()).toEqual(
          mounts.map(({ root, mountPoint, fsType, superOptions }) => ({
            root,
            mountPoint,
            fsType,
            superOptions,
          })),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('trace lines (adapters/trace.ts parseTraceLine)', () => {
  const traceText = textOf('{}[]":,tcurrentusageinactiveFilelimit0123456789-.eE ntrufals');
  it('any text or JSON value: a sample or an error carrying the line number', () => {
    const jsonish = fc.oneof(
      anyText,
      traceText,
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .dictionary(
          fc.constantFrom('t', 'current', 'usage', 'inactiveFile', 'limit', 'x'),
          fc.oneof(fc.jsonValue(), fc.double(), fc.constant(-0)),
        )
        .map((record) => JSON.stringify(record)),
    );
    fc.assert(
      // readLines hands over lines without their '\n': a line never holds one.
      fc.property(
        jsonish.map(withoutNewlines),
        fc.integer({ min: 1, max: 6_048_000 }),
        (text, line) => {
          const result = neverThrows(() => parseTraceLine(text, line));
          if (result.isErr()) {
            expect(result.error.line).toBe(line);
            expect(formatTraceError('trace.jsonl', result.error)).toMatch(
              new RegExp(`^trace\\.jsonl:${line}: \\S`),
            );
            expect(formatTraceError('trace.jsonl', result.error)).not.toContain('\n');
          } else {
            const s = result.value;
            for (const value of [s.t, s.current, s.inactiveFile, s.limit])
              expect(Number.isFinite(value) && value >= 0).toBe(true);
            expect(s.limit).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('generated samples round-trip, and "usage" stands for current with no inactive file', () => {
    const sampleArb = fc.record({
      t: fc.nat({ max: MAX_SAFE }),
      current: fc.nat({ max: MAX_SAFE }),
      inactiveFile: fc.nat({ max: MAX_SAFE }),
      limit: fc.integer({ min: 1, max: MAX_SAFE }),
    });
    fc.assert(
      fc.property(sampleArb, (sample) => {
        expect(parseTraceLine(JSON.stringify(sample), 1)._unsafeUnwrap()).toEqual(sample);
        const { t, current, limit } = sample;
        expect(
          parseTraceLine(JSON.stringify({ t, usage: current, limit }), 1)._unsafeUnwrap(),
        ).toEqual({
          t,
          current,
          inactiveFile: 0,
          limit,
        });
      }),
      { numRuns: RUNS },
    );
  });
});

const work = mkdtempSync(join(tmpdir(), 'memgov-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let fileCounter = 0;
function tempFile(name: string, content: string | Uint8Array): string {
  const path = join(work, `${fileCounter++}-${name}`);
  writeFileSync(path, content);
  return path;
}

describe('config files (loadConfig on arbitrary JSON and YAML text)', () => {
  const yamlish = textOf('abc:{}[]-\n "\'#&*!|>%@`,?0123456789.compactAt', 200);
  it('any text: a config or problems, each naming the file', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          yamlish,
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        fc.constantFrom('yaml', 'yml', 'json'),
        (text, ext) => {
          const path = tempFile(`memgov.${ext}`, text);
          const result = neverThrows(() => loadConfig({ file: path, env: {} }));
          if (result.isErr()) {
            expect(result.error.length).toBeGreaterThan(0);
            for (const problem of result.error) expect(problem.startsWith(`${path}`)).toBe(true);
          }
        },
      ),
      { numRuns: FILE_RUNS },
    );
  });

  it.each([
    ['an alias to no anchor', 'x.yaml', '*a\n', /not valid YAML: Unresolved alias/],
    [
      'a billion laughs',
      'x.yaml',
      `a: &a [${'"lol",'.repeat(9)}]\n${['b', 'c', 'd', 'e', 'f']
        .map((k, i) => `${k}: &${k} [${`*${'abcde'[i] ?? ''},`.repeat(9)}]`)
        .join('\n')}\n`,
      /not valid YAML: Excessive alias count/,
    ],
    [
      'a cycle made with an alias',
      'x.yaml',
      'stateFile: &x [*x]\n',
      /: stateFile: must be a non-empty string \(got a list\)$/,
    ],
    [
      'an object whose toString is not a function',
      'x.json',
      '{"compactAt":{"toString":[]}}',
      /: compactAt: must be a ratio \(got \{"toString":\[\]\}\)$/,
    ],
  ])(
    '%s: refused with a message naming the file (and the key: these threw before)',
    (_what, name, text, why) => {
      const path = tempFile(name, text);
      const problems = loadConfig({ file: path, env: {} })._unsafeUnwrapErr();
      expect(problems).toHaveLength(1);
      expect(problems[0]?.startsWith(`${path}: `)).toBe(true);
      expect(problems[0]).toMatch(why);
      expect(problems[0]).not.toContain('\n');
    },
  );

  it('a config whose settings have the wrong types: one problem per key, naming file and key', () => {
    const wrongArb = fc.dictionary(
      fc.constantFrom('compactAt', 'clearAt', 'relaxedPollMs', 'metric', 'minPollMs'),
      fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.nat()), fc.object()),
      { minKeys: 1 },
    );
    fc.assert(
      fc.property(wrongArb, fc.boolean(), (raw, asYaml) => {
        const path = tempFile(
          asYaml ? 'c.yaml' : 'c.json',
          asYaml ? toYaml(raw) : JSON.stringify(raw),
        );
        const result = loadConfig({ file: path, env: {} });
        // A numeric string is a number (env and flags arrive as strings): such a draw may pass.
        if (result.isOk()) return;
        // Any value is shown in the message, an object whose toString is not callable too.
        for (const problem of result.error) {
          expect(problem).toMatch(new RegExp(`^${path.replace(/[.]/g, '\\.')}: \\w+: `));
        }
      }),
      { numRuns: FILE_RUNS },
    );
  });

  it('valid policies written as YAML or JSON load back exactly', () => {
    const policyArb = fc
      .record({
        thresholds: fc.tuple(
          fc.double({ min: 0.01, max: 1, noNaN: true }),
          fc.double({ min: 0.01, max: 1, noNaN: true }),
          fc.double({ min: 0.01, max: 1, noNaN: true }),
        ),
        intervals: fc.tuple(
          fc.integer({ min: 1, max: 120_000 }),
          fc.integer({ min: 1, max: 120_000 }),
          fc.integer({ min: 1, max: 120_000 }),
          fc.integer({ min: 1, max: 120_000 }),
        ),
        compactWindowMs: fc.integer({ min: 1, max: 600_000 }),
        metric: fc.constantFrom('workingSet', 'current'),
      })
      .map(({ thresholds, intervals, compactWindowMs, metric }) => {
        const [compactAt, clearAt, terminateAt] = [...thresholds].sort((a, b) => a - b);
        const [urgentPollMs, minPollMs, fastPollMs, relaxedPollMs] = [...intervals].sort(
          (a, b) => a - b,
        );
        return {
          metric,
          compactAt,
          clearAt,
          terminateAt,
          compactWindowMs,
          relaxedPollMs,
          fastPollMs,
          minPollMs,
          urgentPollMs,
        };
      });
    fc.assert(
      fc.property(policyArb, fc.boolean(), (policy, asYaml) => {
        const path = tempFile(
          asYaml ? 'p.yaml' : 'p.json',
          asYaml ? toYaml(policy) : JSON.stringify(policy),
        );
        const loaded = loadConfig({ file: path, env: {} });
        // fastPollAt is not written: the inherited 0.8 follows terminateAt down (a config rule).
        const fastPollAt = Math.min(DEFAULT_POLICY.fastPollAt, policy.terminateAt as number);
        expect(loaded._unsafeUnwrap().policy).toEqual({ ...DEFAULT_POLICY, fastPollAt, ...policy });
      }),
      { numRuns: FILE_RUNS },
    );
  });
});

describe('the state file (readStateFile on arbitrary bytes)', () => {
  const envelopeish = textOf('{}[]":,memgovstateversionsavedAtMssnapshot0123456789-.tfn ', 160);
  it('any bytes: missing, a snapshot, or unusable with a reason; never an error, never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          anyText,
          envelopeish,
          fc
            .record(
              {
                memgov: fc.oneof(fc.constant('state'), fc.jsonValue()),
                version: fc.oneof(fc.constant(1), fc.jsonValue()),
                savedAtMs: fc.oneof(fc.double(), fc.jsonValue()),
                snapshot: fc.jsonValue(),
              },
              { requiredKeys: [] },
            )
            .map((envelope) => JSON.stringify(envelope)),
        ),
        (content) => {
          const path = tempFile('state', content);
          const read = neverThrows(() => readStateFile(path))._unsafeUnwrap();
          expect(['ok', 'unusable']).toContain(read.kind);
          if (read.kind === 'unusable') {
            expect(read.reason.length).toBeGreaterThan(0);
            expect(read.reason).not.toContain('\n');
          }
        },
      ),
      { numRuns: FILE_RUNS },
    );
  });

  it('any JSON snapshot written by writeStateFile reads back equal', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat({ max: 2 ** 45 }), (snapshot, savedAtMs) => {
        const path = join(work, `w-${fileCounter++}`);
        writeStateFile(path, snapshot, savedAtMs)._unsafeUnwrap();
        expect(readStateFile(path)._unsafeUnwrap()).toEqual({
          kind: 'ok',
          snapshot: JSON.parse(JSON.stringify(snapshot)) as unknown,
          savedAtMs,
        });
      }),
      { numRuns: FILE_RUNS },
    );
  });
});

describe('/proc/PID/stat (adapters/proc.ts parseProcStat)', () => {
  const statText = textOf('0123456789 ()SRZDTX-abc\n', 200);
  it('any text: the fields or a garbled error quoting the text', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, statText), (text) => {
        const result = neverThrows(() => parseProcStat(text));
        if (result.isErr()) {
          expect(result.error.kind).toBe('garbled');
          // Quoted as quoteValue quotes (controls and DEL escaped), so compare with that.
          expect(result.error.detail).toContain(quoteValue(text).slice(0, 60));
        } else expect(result.value.pid).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('generated stat lines round-trip, whatever the command name holds', () => {
    // The kernel keeps up to 15 bytes of comm, any byte but NUL: ')', ' (', spaces, newlines.
    const commArb = fc.string({
      unit: fc.oneof(
        fc.constantFrom(')', '(', ' ', '\n', ') S 1 (', 'x'),
        fc.string({ maxLength: 1 }),
      ),
      maxLength: 15,
    });
    const numArb = fc.nat({ max: 2 ** 31 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4_194_304 }),
        commArb.filter((c) => !c.includes('\0')),
        fc.constantFrom('R', 'S', 'D', 'Z', 'T', 't', 'X', 'I'),
        fc.tuple(numArb, numArb, numArb),
        fc.nat({ max: MAX_SAFE }),
        (pid, comm, state, [ppid, pgrp, session], startTicks) => {
          const fields = [state, ppid, pgrp, session, 34816, pgrp, 4194304];
          while (fields.length < 19) fields.push(0);
          fields.push(startTicks, 123456, 789);
          const text = `${pid} (${comm}) ${fields.join(' ')}\n`;
          expect(parseProcStat(text)._unsafeUnwrap()).toEqual({
            pid,
            comm,
            state,
            ppid,
            pgrp,
            session,
            startTicks,
          });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("Claude Code's session files (agents/claude-code-parse.ts)", () => {
  it('parseSessionFile: any text is a session or an error message, never a throw', () => {
    const sessionish = fc
      .record(
        {
          sessionId: fc.oneof(fc.uuid(), fc.string(), fc.constant('../x'), fc.jsonValue()),
          session_id: fc.oneof(fc.uuid(), fc.jsonValue()),
          cwd: fc.oneof(fc.constant('/work'), fc.string(), fc.constant('rel/dir'), fc.jsonValue()),
          pid: fc.oneof(fc.nat(), fc.string(), fc.double(), fc.jsonValue()),
          status: fc.oneof(fc.constantFrom('idle', 'busy', 'waiting', 'shell'), fc.jsonValue()),
          procStart: fc.oneof(fc.nat(), fc.string(), fc.double(), fc.jsonValue()),
          startedAt: fc.oneof(fc.nat(), fc.string(), fc.double(), fc.jsonValue()),
        },
        { requiredKeys: [] },
      )
      .map((record) => JSON.stringify(record));
    fc.assert(
      fc.property(
        fc.oneof(anyText, sessionish),
        fc.option(fc.nat(), { nil: undefined }),
        (text, pid) => {
          const result = neverThrows(() => parseSessionFile(text, pid));
          if (result.isErr()) expect(result.error.length).toBeGreaterThan(0);
          else {
            expect(result.value.pid).toBeGreaterThan(0);
            expect(result.value.cwd.startsWith('/')).toBe(true);
            expect(result.value.sessionId).not.toContain('/');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseSessionFile: generated session files round-trip', () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        cgroupPathArb,
        fc.integer({ min: 1, max: 4_194_304 }),
        fc.constantFrom('idle', 'busy', 'waiting', 'shell'),
        fc.nat({ max: 2 ** 45 }),
        (sessionId, cwd, pid, status, startedAt) => {
          const text = JSON.stringify({ pid, sessionId, cwd, status, startedAt, extra: [1] });
          expect(parseSessionFile(text)._unsafeUnwrap()).toMatchObject({
            pid,
            sessionId,
            cwd,
            status,
            startedAtMs: startedAt,
            format: 'current',
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseTranscriptText: any text never throws; records, garbage lines and a partial last line are told apart', () => {
    fc.assert(
      fc.property(anyText, fc.boolean(), (text, midLine) => {
        const parsed = neverThrows(() => parseTranscriptText(text, midLine));
        expect(parsed.garbledLines).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: RUNS },
    );
    const recordArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue(), {
      maxKeys: 4,
    });
    fc.assert(
      fc.property(
        fc.array(fc.oneof(recordArb, fc.constant('# garbage')), { maxLength: 20 }),
        fc.option(fc.constant('{"type":"assist'), { nil: undefined }),
        (lines, partial) => {
          const body = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
          const text = `${body.join('\n')}${body.length > 0 ? '\n' : ''}${partial ?? ''}`;
          const parsed = parseTranscriptText(text);
          const records = lines.filter(
            (l): l is Record<string, fc.JsonValue> => typeof l !== 'string',
          );
          expect(parsed.records).toEqual(
            records.map((r) => JSON.parse(JSON.stringify(r)) as unknown),
          );
          expect(parsed.garbledLines).toBe(lines.length - records.length);
          expect(parsed.partialLastLine).toBe(partial !== undefined);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

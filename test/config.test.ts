// Configuration: defaults, validation messages that name key, value and source, and layering.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.ts';
import { DEFAULT_POLICY, envNameOf, formatConfigIssue, resolvePolicy } from '../machines/config.ts';
import { tempFiles } from './support/cli.ts';

const messages = (raw: Record<string, unknown>): string[] =>
  resolvePolicy(raw, 'cfg.yaml').match(
    () => [],
    (issues) => issues.map(formatConfigIssue),
  );

describe('resolvePolicy', () => {
  it('keeps the documented defaults', () => {
    expect(resolvePolicy({}, 'x')._unsafeUnwrap()).toEqual(DEFAULT_POLICY);
    expect(DEFAULT_POLICY).toMatchObject({
      compactAt: 0.7,
      fastPollAt: 0.8,
      clearAt: 0.85,
      terminateAt: 0.9,
      compactWindowMs: 300_000,
      relaxedPollMs: 60_000,
      fastPollMs: 15_000,
    });
    expect(DEFAULT_POLICY.urgentPollMs).toBeLessThanOrEqual(1_000);
  });

  it.each([
    [{ compactAt: 'high' }, 'cfg.yaml: compactAt: must be a ratio (got "high")'],
    [{ compactAt: 1.5 }, 'cfg.yaml: compactAt: must be between 0 and 1 (got 1.5)'],
    [{ compactWindowMs: 1.5 }, 'cfg.yaml: compactWindowMs: must be whole milliseconds (got 1.5)'],
    [{ metric: 'rss' }, 'cfg.yaml: metric: must be "workingSet" or "current" (got "rss")'],
    [{ clearAt: 0.6 }, 'cfg.yaml: clearAt: (0.6) must be >= compactAt (0.7)'],
    [{ terminateAt: 0.8 }, 'cfg.yaml: terminateAt: (0.8) must be >= clearAt (0.85)'],
    [{ fastPollMs: 90_000 }, 'cfg.yaml: fastPollMs: (90000) must be <= relaxedPollMs (60000)'],
    [{ urgentPollMs: 5_000 }, 'cfg.yaml: urgentPollMs: (5000) must be <= minPollMs (1000)'],
    [{ compactAt: 0 }, 'cfg.yaml: compactAt: must be above 0 (got 0)'],
  ])('rejects %j: %s', (raw, message) => {
    expect(messages(raw)).toEqual([message]);
  });

  it('reports an unknown key by name rather than ignoring a typo', () => {
    expect(messages({ compactat: 0.5 })[0]).toMatch(
      /^cfg\.yaml: compactat: unknown setting \(known: metric, compactAt/,
    );
  });

  it('accepts numeric strings (env and flags) and underscores', () => {
    expect(
      resolvePolicy({ compactWindowMs: '600_000', compactAt: '0.6' }, 'env')._unsafeUnwrap(),
    ).toMatchObject({
      compactWindowMs: 600_000,
      compactAt: 0.6,
    });
  });

  it('names each key in the environment as MEMGOV_SNAKE_CASE', () => {
    expect(envNameOf('compactAt')).toBe('MEMGOV_COMPACT_AT');
    expect(envNameOf('compactWindowMs')).toBe('MEMGOV_COMPACT_WINDOW_MS');
  });
});

describe('loadConfig', () => {
  it('layers file, then environment, then flags', () => {
    const dir = tempFiles({ 'c.yaml': 'compactAt: 0.5\nclearAt: 0.6\nterminateAt: 0.95\n' });
    const config = loadConfig({
      file: join(dir, 'c.yaml'),
      env: { MEMGOV_CLEAR_AT: '0.65' },
      flags: { terminateAt: '0.9' },
    })._unsafeUnwrap();
    expect(config.policy).toMatchObject({ compactAt: 0.5, clearAt: 0.65, terminateAt: 0.9 });
  });

  it('lets one layer set two keys that are only valid together', () => {
    const config = loadConfig({ env: { MEMGOV_COMPACT_AT: '0.4', MEMGOV_CLEAR_AT: '0.5' } });
    expect(config._unsafeUnwrap().policy).toMatchObject({ compactAt: 0.4, clearAt: 0.5 });
  });

  it('reads JSON and YAML, and points at the line of a YAML syntax error', () => {
    const dir = tempFiles({
      'c.json': '{"compactAt": 0.6}',
      'bad.yaml': 'compactAt: 0.6\n  clearAt: [\n',
    });
    expect(
      loadConfig({ file: join(dir, 'c.json'), env: {} })._unsafeUnwrap().policy.compactAt,
    ).toBe(0.6);
    const bad = loadConfig({ file: join(dir, 'bad.yaml'), env: {} })._unsafeUnwrapErr();
    expect(bad[0]).toMatch(
      new RegExp(`^${join(dir, 'bad.yaml')}:\\d+:\\d+: not valid YAML or JSON`),
    );
  });

  it('rejects a config that is not a mapping and a file that cannot be read', () => {
    const dir = tempFiles({ 'list.yaml': '- 1\n- 2\n', 'broken.json': '{"compactAt": }' });
    expect(loadConfig({ file: join(dir, 'list.yaml'), env: {} })._unsafeUnwrapErr()[0]).toContain(
      'the config must be a mapping of settings (got a list)',
    );
    expect(loadConfig({ file: join(dir, 'broken.json'), env: {} })._unsafeUnwrapErr()[0]).toContain(
      'not valid JSON',
    );
    expect(
      loadConfig({ file: join(dir, 'missing.yaml'), env: {} })._unsafeUnwrapErr()[0],
    ).toContain('cannot read config file');
  });

  it('treats an empty file as no settings', () => {
    const dir = tempFiles({ 'empty.yaml': '' });
    expect(loadConfig({ file: join(dir, 'empty.yaml'), env: {} })._unsafeUnwrap().policy).toEqual(
      DEFAULT_POLICY,
    );
  });
});

describe('typos and contradictions are bad config, never silently ignored', () => {
  it('an unknown MEMGOV_* variable is named, with the nearest known name', () => {
    const result = loadConfig({ env: { MEMGOV_COMPAT_AT: '0.1' } });
    expect(result._unsafeUnwrapErr()).toEqual([
      'environment MEMGOV_COMPAT_AT: unknown setting (did you mean MEMGOV_COMPACT_AT?)',
    ]);
  });

  it('a far-off name lists the known ones; the entrypoint and script variables are fine', () => {
    const far = loadConfig({ env: { MEMGOV_XYZZY_PLUGH_FROB: '1' } })._unsafeUnwrapErr();
    expect(far).toHaveLength(1);
    expect(far[0]).toMatch(
      /^environment MEMGOV_XYZZY_PLUGH_FROB: unknown setting \(known: .*MEMGOV_COMPACT_AT/,
    );
    const entrypoint = {
      MEMGOV_ARGS: '--dry-run',
      MEMGOV_BACKOFF_MIN_MS: '1000',
      MEMGOV_AGENT_CLIS: '/x',
    };
    expect(loadConfig({ env: entrypoint }).isOk()).toBe(true);
  });

  it('fastPollAt above terminateAt is refused', () => {
    const result = loadConfig({ env: {}, flags: { fastPollAt: '0.95' } });
    expect(result._unsafeUnwrapErr().join('\n')).toContain(
      'flag --fastPollAt: fastPollAt: (0.95) must be <= terminateAt (0.9)',
    );
  });
});

describe('lowered thresholds', () => {
  it('carry the inherited fastPollAt down to terminateAt rather than refuse the file', () => {
    const config = loadConfig({
      env: {},
      flags: { compactAt: '0.6', clearAt: '0.65', terminateAt: '0.7' },
    })._unsafeUnwrap();
    expect(config.policy.fastPollAt).toBe(0.7);
  });
});

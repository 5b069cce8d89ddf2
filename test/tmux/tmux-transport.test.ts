// The tmux transport against test/fakes/fake-claude.ts in real tmux panes, on a tmux server of
// this file's own (`-L memgov-test-<pid>`), killed in afterAll whatever happened. What the fake
// received and when is read back from its debug log, transcript and sessions/<pid>.json.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killTmuxServer } from '../support/tmux.ts';
import type { PerformResult } from '../../actors/executor.ts';
import {
  clearFinished,
  commandTaken,
  compactFinishedAfter,
  findCompaction,
  parseSessionFile,
} from '../../agents/claude-code-parse.ts';
import { readProcStat } from '../../adapters/proc.ts';
import { createTmux, paneLacks, paneShows } from '../../adapters/tmux.ts';
import { typeCommand, type TypeCommandOptions } from '../../transports/tmux.ts';
import {
  createFakeClaudeHarness,
  eventually,
  paneExitStatus,
  userText,
  type FakeClaude,
  type TranscriptRecord,
} from '../fakes/fake-claude-harness.ts';

const SERVER = `memgov-test-${process.pid}`;
const DOOMED_SERVER = `${SERVER}-doomed`;
const tmux = createTmux({ socketName: SERVER, callTimeoutMs: 5_000 });
const doomedTmux = createTmux({ socketName: DOOMED_SERVER, callTimeoutMs: 5_000 });
const harness = createFakeClaudeHarness(tmux);
const doomedHarness = createFakeClaudeHarness(doomedTmux);

afterAll(() => {
  killTmuxServer(SERVER);
  killTmuxServer(DOOMED_SERVER);
  harness.cleanup();
  doomedHarness.cleanup();
});

const COMPACT_RECORD =
  '<command-name>/compact</command-name>\n            <command-message>compact</command-message>\n            <command-args></command-args>';

const isCompactCommand = (r: TranscriptRecord): boolean =>
  userText(r)?.startsWith('<command-name>/compact</command-name>') === true;

/** The profile's idle check: the session file says idle. */
const idleBySessionFile = (fake: FakeClaude) => (): boolean => fake.session()?.status === 'idle';

/** The profile's "taken" check for /compact: a new `<command-name>/compact` record. */
function compactTaken(fake: FakeClaude): () => boolean {
  const before = fake.records().filter(isCompactCommand).length;
  return () => fake.records().filter(isCompactCommand).length > before;
}

/** A user record with exactly `text` arrived. */
const promptTaken = (fake: FakeClaude, text: string) => (): boolean =>
  fake.records().some((r) => userText(r) === text);

/** The profile's completion check: after the last /compact, a boundary and a summary. */
function compactFinished(fake: FakeClaude): boolean {
  const records = fake.records();
  const start = records.findLastIndex(isCompactCommand);
  if (start === -1) return false;
  const after = records.slice(start + 1);
  return (
    after.some((r) => r.type === 'system' && r.subtype === 'compact_boundary') &&
    after.some((r) => r.isCompactSummary === true)
  );
}

function options(fake: FakeClaude, overrides: Partial<TypeCommandOptions> = {}) {
  return {
    isIdle: idleBySessionFile(fake),
    taken: compactTaken(fake),
    idleDeadlineMs: 5_000,
    busyPolicy: 'skip',
    pollMs: 50,
    enterDelayMs: 200,
    verifyDeadlineMs: 2_000,
    ...overrides,
  } satisfies TypeCommandOptions;
}

/** Debug-log lines that record keys arriving, with the fake's status at that moment. */
const keyLines = (fake: FakeClaude): string[] => fake.debugLog().filter((l) => / keys /.test(l));

/** Every byte the fake read from its terminal, in order (reads may split or merge key presses). */
const typedKeys = (fake: FakeClaude): string =>
  keyLines(fake)
    .map((l) => JSON.parse(l.replace(/^.* keys status=\S+ mode=\S+ /, '')) as string)
    .join('');

describe('typeCommand: only into an idle agent', () => {
  it('waits out a busy spell and sends /compact only once the agent is idle', async () => {
    // Idle for 1 s, then busy for 1.5 s, over and over.
    const fake = await harness.start(['--busy-pattern', '1500/2500', '--compact-ms', '300']);
    expect(await eventually(() => fake.session()?.status === 'busy', { timeoutMs: 4_000 })).toBe(
      true,
    );

    const result = await typeCommand(tmux, fake.pane, '/compact', options(fake));

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(
      /^waited \d+ ms for the agent to be idle; typed "\/compact"; taken on the first Enter$/,
    );
    const log = fake.debugLog();
    expect(log.filter((l) => / keys status=busy /.test(l))).toEqual([]);
    expect(log.filter((l) => /dropped while busy/.test(l))).toEqual([]);
    const submitAt = log.findIndex((l) => l.endsWith('submit "/compact"'));
    expect(submitAt).toBeGreaterThan(-1);
    const statusBefore = log.slice(0, submitAt).filter((l) => / status /.test(l));
    expect(statusBefore.at(-1)).toMatch(/ status idle$/);
    expect(statusBefore.some((l) => / status busy$/.test(l))).toBe(true);
    expect(fake.records().filter(isCompactCommand)).toHaveLength(1);
  });

  it('skips, typing nothing, when the agent stays busy past the deadline (policy skip)', async () => {
    const fake = await harness.start(['--busy-pattern', '1000/1000']);

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/compact',
      options(fake, { idleDeadlineMs: 600, busyPolicy: 'skip' }),
    );

    expect(result.outcome).toBe('skipped');
    expect(result.detail).toMatch(/^agent stayed busy for \d+ ms; skipped to the next tier$/);
    expect(Number(/for (\d+) ms/.exec(result.detail)?.[1])).toBeGreaterThanOrEqual(600);
    expect(keyLines(fake)).toEqual([]);
    expect(fake.records()).toEqual([]);
    expect((await tmux.capturePane(fake.pane))._unsafeUnwrap()).toMatch(/^>\s*$/m);
  });

  it('interrupts a long turn with Escape, then compacts (policy interrupt, pane-based idle)', async () => {
    const fake = await harness.start(['--busy-ms', '60000', '--compact-ms', '300']);
    const prompt = 'refactor the whole repository';
    const first = await typeCommand(
      tmux,
      fake.pane,
      prompt,
      options(fake, { taken: promptTaken(fake, prompt) }),
    );
    expect(first.outcome).toBe('ok');
    const busyOnScreen = paneShows(tmux, fake.pane, 'esc to interrupt');
    expect(await eventually(busyOnScreen)).toBe(true);

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/compact',
      options(fake, {
        isIdle: paneLacks(tmux, fake.pane, 'esc to interrupt'),
        idleDeadlineMs: 400,
        busyPolicy: 'interrupt',
      }),
    );

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(
      /^agent stayed busy for \d+ ms; sent Escape to interrupt it; idle \d+ ms later; typed "\/compact"; taken on the first Enter$/,
    );
    const texts = fake.records().map(userText);
    expect(texts.indexOf('[Request interrupted by user]')).toBeGreaterThan(texts.indexOf(prompt));
    expect(texts.indexOf(COMPACT_RECORD)).toBeGreaterThan(
      texts.indexOf('[Request interrupted by user]'),
    );
    expect(fake.debugLog().filter((l) => /dialog opened|dropped/.test(l))).toEqual([]);
  });

  it('skips after one interrupt that does not make the agent idle', async () => {
    const fake = await harness.start(['--busy-pattern', '1000/1000']);

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/compact',
      options(fake, { idleDeadlineMs: 300, busyPolicy: 'interrupt', interruptIdleDeadlineMs: 300 }),
    );

    expect(result.outcome).toBe('skipped');
    expect(result.detail).toMatch(
      /^agent stayed busy for \d+ ms; sent Escape to interrupt it, but it was still busy \d+ ms later; skipped to the next tier$/,
    );
    expect(keyLines(fake)).toEqual([
      expect.stringMatching(/ keys status=busy mode=normal "\\u001b"$/),
    ]);
    expect(fake.records()).toEqual([]);
  });

  it('stops waiting when its AbortSignal fires: failed, with the reason', async () => {
    const fake = await harness.start(['--busy-pattern', '1000/1000']);
    const abort = new AbortController();
    setTimeout(() => abort.abort('superseded'), 200);
    const startMs = performance.now();

    const result: PerformResult = await typeCommand(
      tmux,
      fake.pane,
      '/compact',
      options(fake, { idleDeadlineMs: 10_000, signal: abort.signal }),
    );

    expect(result).toEqual({
      outcome: 'failed',
      detail: 'stopped while waiting for the agent to be idle: superseded',
    });
    expect(performance.now() - startMs).toBeLessThan(2_000);
    expect(keyLines(fake)).toEqual([]);
  });
});

describe('typeCommand: typing and verifying', () => {
  it('retries an Enter that was lost once; the command arrives once', async () => {
    const fake = await harness.start(['--lose-first-enter', '--compact-ms', '300']);

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/compact',
      options(fake, { verifyDeadlineMs: 800 }),
    );

    expect(result.outcome).toBe('ok');
    expect(result.detail).toMatch(
      /^typed "\/compact"; not taken \d+ ms after Enter; taken after one Enter retry$/,
    );
    expect(await eventually(() => compactFinished(fake))).toBe(true);
    expect(fake.records().filter(isCompactCommand)).toHaveLength(1);
    const log = fake.debugLog();
    expect(log.filter((l) => l.endsWith('enter lost'))).toHaveLength(1);
    expect(log.filter((l) => l.endsWith('submit "/compact"'))).toHaveLength(1);
  });

  it('pauses before Enter so it is not taken as part of a paste', async () => {
    const fake = await harness.start(['--paste-window-ms', '100', '--busy-ms', '50']);

    const paused = await typeCommand(
      tmux,
      fake.pane,
      'first',
      options(fake, { taken: promptTaken(fake, 'first'), enterDelayMs: 150 }),
    );
    expect(await eventually(idleBySessionFile(fake))).toBe(true);
    const hurried = await typeCommand(
      tmux,
      fake.pane,
      'second',
      options(fake, { taken: promptTaken(fake, 'second'), enterDelayMs: 0, verifyDeadlineMs: 400 }),
    );

    expect(paused.detail).toBe('typed "first"; taken on the first Enter');
    expect(hurried.outcome).toBe('ok');
    expect(hurried.detail).toMatch(/taken after one Enter retry$/);
    expect(
      fake.debugLog().filter((l) => l.endsWith('enter taken as part of a paste')),
    ).toHaveLength(1);
  });

  it('clears the line and waits again when the agent turns busy between typing and Enter', async () => {
    const fake = await harness.start(['--compact-ms', '300']);
    // A scripted idle check: idle, then busy at the look before Enter, then idle for good.
    const answers = [true, false];
    const isIdle = (): boolean => answers.shift() ?? true;

    const result = await typeCommand(tmux, fake.pane, '/compact', options(fake, { isIdle }));

    expect(result).toEqual({
      outcome: 'ok',
      detail:
        'agent turned busy before Enter: cleared the line and waited again; typed "/compact"; taken on the first Enter',
    });
    expect(typedKeys(fake)).toBe('\x15/compact\x15\x15/compact\r');
    expect(fake.records().filter(isCompactCommand)).toHaveLength(1);
  });

  it('never retries Enter into a busy agent: failed, with one Enter sent', async () => {
    const fake = await harness.start(['--lose-first-enter']);
    // Idle until Enter was pressed, busy from then on (as if working on something else).
    let enterSent = false;
    const isIdle = (): boolean => !enterSent;
    const taken = (): boolean => {
      enterSent = true;
      return false;
    };

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/compact',
      options(fake, { isIdle, taken, verifyDeadlineMs: 300 }),
    );

    expect(result.outcome).toBe('failed');
    expect(result.detail).toMatch(
      /^typed "\/compact"; not taken \d+ ms after Enter; the agent turned busy, so Enter was not retried; not taken$/,
    );
    expect(typedKeys(fake)).toBe('\x15/compact\r');
    expect(fake.records()).toEqual([]);
  });

  it('sees a compaction finish: command, compact_boundary, isCompactSummary, Compacted', async () => {
    const fake = await harness.start(['--compact-ms', '1000', '--start-mib', '32']);
    const sinceMs = Date.now();
    // The claude-code profile's own detectors (agents/claude-code-parse.ts) read the fake's records.
    const taken = (): boolean => commandTaken(fake.records(), '/compact', sinceMs);
    const finished = (): boolean => compactFinishedAfter(fake.records(), sinceMs);

    const result = await typeCommand(tmux, fake.pane, '/compact', options(fake, { taken }));

    expect(result).toEqual({ outcome: 'ok', detail: 'typed "/compact"; taken on the first Enter' });
    expect(finished()).toBe(false);
    expect(compactFinished(fake)).toBe(false);
    expect(await eventually(paneShows(tmux, fake.pane, 'Compacting conversation…'))).toBe(true);
    expect(await eventually(finished)).toBe(true);
    expect(findCompaction(fake.records(), sinceMs)).toMatchObject({
      form: 'boundary',
      trigger: 'manual',
    });
    expect(compactFinished(fake)).toBe(true);
    const records = fake.records();
    const start = records.findIndex(isCompactCommand);
    const [boundary, summary, stdout] = records.slice(start + 1);
    expect(boundary).toMatchObject({
      type: 'system',
      subtype: 'compact_boundary',
      parentUuid: null,
      compactMetadata: { trigger: 'manual', preTokens: expect.any(Number) as number },
    });
    expect(summary).toMatchObject({ type: 'user', isCompactSummary: true });
    expect(summary?.parentUuid).toBe(boundary?.uuid);
    expect(stdout && userText(stdout)).toBe(
      '<local-command-stdout>Compacted</local-command-stdout>',
    );
    expect(await eventually(paneShows(tmux, fake.pane, /Compacted \(ctrl\+o/))).toBe(true);
    expect(await eventually(() => fake.session()?.status === 'idle')).toBe(true);
    expect(fake.debugLog().some((l) => l.endsWith('freed 16 MiB; holding 16 MiB'))).toBe(true);
  });

  it('/clear starts a new session id and transcript; sessions/<pid>.json follows', async () => {
    const fake = await harness.start(['--busy-ms', '100']);
    const before = fake.session();
    expect(before).toMatchObject({ pid: fake.pid, cwd: fake.cwd, status: 'idle' });
    expect(before?.procStart).toBe(String(readProcStat(fake.pid)._unsafeUnwrap().startTicks));
    const sessionPath = join(fake.configDir, 'sessions', `${fake.pid}.json`);
    const parsed = () => parseSessionFile(readFileSync(sessionPath, 'utf8'))._unsafeUnwrap();
    expect(parsed()).toMatchObject({ pid: fake.pid, status: 'idle', format: 'current' });
    const hello = await typeCommand(
      tmux,
      fake.pane,
      'hello',
      options(fake, { taken: promptTaken(fake, 'hello') }),
    );
    expect(hello.outcome).toBe('ok');
    const oldId = before?.sessionId ?? '';

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/clear',
      options(fake, { taken: () => clearFinished(oldId, parsed()) }),
    );

    expect(result.outcome).toBe('ok');
    const after = fake.session();
    expect(after?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(after?.sessionId).not.toBe(oldId);
    expect(after?.pid).toBe(fake.pid);
    expect(existsSync(fake.transcriptPath(after?.sessionId ?? ''))).toBe(true);
    expect(userText(fake.records()[0] as TranscriptRecord)).toMatch(
      /^<command-name>\/clear<\/command-name>/,
    );
    expect(fake.records(oldId).map(userText)).toContain('hello');
  });

  it('clears a draft with C-u first: the command arrives as /compact, not hello/compact', async () => {
    const fake = await harness.start([]);
    (await tmux.sendLiteral(fake.pane, 'hello'))._unsafeUnwrap();
    expect(await eventually(paneShows(tmux, fake.pane, /^> hello$/m))).toBe(true);

    const result = await typeCommand(tmux, fake.pane, '/compact', options(fake));

    expect(result.outcome).toBe('ok');
    const texts = fake.records().map(userText);
    expect(texts[0]).toBe(COMPACT_RECORD);
    expect(texts.filter((t) => t?.includes('hello'))).toEqual([]);
    expect(typedKeys(fake)).toBe('hello\x15/compact\r');
    expect(fake.debugLog().filter((l) => / submit /.test(l))).toEqual([
      expect.stringMatching(/ submit "\/compact"$/),
    ]);
  });

  it('types shell metacharacters, tmux key names, formats and a trailing ; literally', async () => {
    const fake = await harness.start(['--busy-ms', '50']);
    const texts = [
      'echo ; C-c Enter $(id) `id` "dq" \'sq\' \\ #{pane_pid} ~ * -t %0 && exit',
      'ends with a semicolon;',
      'ends with \\;',
      ';',
      '-l Escape ✻ … é',
    ];
    for (const text of texts) {
      const result = await typeCommand(
        tmux,
        fake.pane,
        text,
        options(fake, { taken: promptTaken(fake, text), enterDelayMs: 150 }),
      );
      expect(result.outcome, result.detail).toBe('ok');
    }
    expect(
      fake
        .records()
        .filter((r) => r.type === 'user')
        .map(userText),
    ).toEqual(texts);
    expect(await tmux.paneAlive(fake.pane)).toEqual(expect.objectContaining({ value: true }));
  });

  it('refuses what cannot be typed literally, before tmux sees it', async () => {
    const fake = await harness.start([]);
    const refused = await typeCommand(tmux, fake.pane, '/compact\rrm -rf /', options(fake));
    expect(refused).toEqual({
      outcome: 'failed',
      detail:
        'not typed: the text holds control character U+000D: it would act as a key, not be typed',
    });
    expect((await tmux.sendLiteral(fake.pane, 'a\x03b'))._unsafeUnwrapErr().kind).toBe('bad-input');
    expect((await tmux.sendLiteral(fake.pane, ''))._unsafeUnwrapErr().kind).toBe('bad-input');
    expect((await tmux.sendKey(fake.pane, 'Enter ; kill-server'))._unsafeUnwrapErr().kind).toBe(
      'bad-input',
    );
    expect((await tmux.sendKey(fake.pane, ';'))._unsafeUnwrapErr().kind).toBe('bad-input');
    expect((await tmux.capturePane(''))._unsafeUnwrapErr().kind).toBe('bad-input');
    expect(keyLines(fake)).toEqual([]);
  });
});

describe('tmux failures are values', () => {
  it('a killed pane: paneAlive false, panePid no-pane, typeCommand failed', async () => {
    const fake = await harness.start([]);
    expect((await tmux.panePid(fake.pane))._unsafeUnwrap()).toBe(fake.pid);
    (await tmux.run(['kill-pane', '-t', fake.pane]))._unsafeUnwrap();

    expect((await tmux.paneAlive(fake.pane))._unsafeUnwrap()).toBe(false);
    const pid = (await tmux.panePid(fake.pane))._unsafeUnwrapErr();
    expect(pid).toEqual({
      kind: 'no-pane',
      detail: `the tmux pane is gone (no pane ${fake.pane})`,
    });
    expect((await tmux.capturePane(fake.pane))._unsafeUnwrapErr()).toMatchObject({
      kind: 'no-pane',
      detail: expect.stringMatching(/can't find pane/) as string,
    });
    const result = await typeCommand(tmux, fake.pane, '/compact', options(fake));
    expect(result).toEqual({
      outcome: 'failed',
      detail: `the tmux pane is gone (no pane ${fake.pane})`,
    });
  });

  it('a killed server: failed with a clear detail, never a throw', async () => {
    const fake = await doomedHarness.start([]);
    (await doomedTmux.run(['kill-server']))._unsafeUnwrap();

    const result = await typeCommand(doomedTmux, fake.pane, '/compact', options(fake));
    expect(result.outcome).toBe('failed');
    expect(result.detail).toMatch(/^the tmux server is gone \(/);
    expect((await doomedTmux.capturePane(fake.pane))._unsafeUnwrapErr().kind).toBe('no-server');
    expect((await doomedTmux.paneAlive(fake.pane))._unsafeUnwrap()).toBe(false);
    // The pty closes under it (stdin ends) or SIGHUP arrives first: either way it exits.
    expect(await eventually(() => / exit 0 \(/.test(fake.debugLog().at(-1) ?? ''))).toBe(true);
  });

  it('a missing tmux, and a tmux call that hangs, are errors with a kind', async () => {
    const missing = createTmux({ binary: '/nonexistent/tmux' });
    expect((await missing.capturePane('%0'))._unsafeUnwrapErr().kind).toBe('no-tmux');
    // sh standing in for a tmux client that never answers (`sh -u -c ...`: -u is tmux's UTF-8
    // flag, and sh's nounset).
    const hanging = createTmux({ binary: 'sh', callTimeoutMs: 200 });
    const slow = await hanging.run(['-c', 'exec sleep 10']);
    expect(slow._unsafeUnwrapErr()).toEqual({
      kind: 'timeout',
      detail: 'tmux -c did not answer within 200 ms',
    });
  });
});

describe('the fake agent process', () => {
  it('ends with exit 0 on SIGTERM to its process group, transcript whole, status idle', async () => {
    const fake = await harness.start(['--busy-ms', '60000']);
    const prompt = 'a long task';
    const typed = await typeCommand(
      tmux,
      fake.pane,
      prompt,
      options(fake, { taken: promptTaken(fake, prompt) }),
    );
    expect(typed.outcome).toBe('ok');
    // The fake appends the prompt's record before it rewrites its session file as busy.
    expect(await eventually(() => fake.session()?.status === 'busy')).toBe(true);

    process.kill(-fake.pid, 'SIGTERM');

    expect(await eventually(async () => (await paneExitStatus(tmux, fake.pane)) === '0')).toBe(
      true,
    );
    expect(fake.session()?.status).toBe('idle');
    expect(fake.records().map(userText)).toEqual([prompt]);
    expect(fake.debugLog().at(-1)).toMatch(/ exit 0 \(SIGTERM\)$/);
    expect((await tmux.paneAlive(fake.pane))._unsafeUnwrap()).toBe(false);
    const result = await typeCommand(tmux, fake.pane, '/compact', options(fake));
    expect(result).toEqual({
      outcome: 'failed',
      detail: `the process in tmux pane ${fake.pane} has exited with status 0`,
    });
  });

  it('holds real memory that grows, and /clear gives most of it back', async () => {
    const fake = await harness.start([
      '--start-mib',
      '96',
      '--grow-mib-per-s',
      '20',
      '--max-mib',
      '112',
      '--clear-frees-pct',
      '80',
    ]);
    const rssMib = (): number =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${fake.pid}/status`, 'utf8'))?.[1]) /
      1024;
    expect(await eventually(paneShows(tmux, fake.pane, '· 112 MiB'), { timeoutMs: 5_000 })).toBe(
      true,
    );
    const fullMib = rssMib();
    expect(fullMib).toBeGreaterThan(112);
    const sessionId = fake.session()?.sessionId ?? '';

    const result = await typeCommand(
      tmux,
      fake.pane,
      '/clear',
      options(fake, { taken: () => fake.session()?.sessionId !== sessionId }),
    );

    expect(result.outcome).toBe('ok');
    expect(fake.debugLog().some((l) => l.endsWith('freed 90 MiB; holding 22 MiB'))).toBe(true);
    expect(await eventually(() => rssMib() < fullMib - 50)).toBe(true);
  });

  it('--resume continues the transcript after answering the resume-from-summary prompt', async () => {
    const sessionId = '11111111-2222-4333-8444-555555555555';
    const first = await harness.start(['--session-id', sessionId, '--busy-ms', '50']);
    const typed = await typeCommand(
      tmux,
      first.pane,
      'first prompt',
      options(first, { taken: promptTaken(first, 'first prompt') }),
    );
    expect(typed.outcome).toBe('ok');
    expect(await eventually(() => first.session()?.status === 'idle')).toBe(true);
    process.kill(-first.pid, 'SIGTERM');
    expect(await eventually(async () => (await paneExitStatus(tmux, first.pane)) === '0')).toBe(
      true,
    );
    const lastBefore = first.records(sessionId).at(-1);

    const resumed = await harness.start(['--resume', sessionId, '--resume-prompt'], {
      configDir: first.configDir,
      cwd: first.cwd,
    });
    expect(resumed.session()).toMatchObject({ sessionId, status: 'waiting' });
    expect(
      await eventually(paneShows(tmux, resumed.pane, 'Resume from summary (recommended)')),
    ).toBe(true);
    // The real CLI's select menu: a typed `y` is no answer, Enter takes the highlighted default.
    (await tmux.sendLiteral(resumed.pane, 'y'))._unsafeUnwrap();
    expect(resumed.session()?.status).toBe('waiting');
    (await tmux.sendKey(resumed.pane, 'Enter'))._unsafeUnwrap();
    expect(await eventually(() => resumed.session()?.status === 'idle')).toBe(true);

    const result = await typeCommand(tmux, resumed.pane, '/compact', options(resumed));

    expect(result.outcome).toBe('ok');
    const records = resumed.records(sessionId);
    expect(records.map(userText).slice(0, 1)).toEqual(['first prompt']);
    const command = records.find(isCompactCommand);
    expect(command?.parentUuid).toBe(lastBefore?.uuid);
    expect(command?.sessionId).toBe(sessionId);
  });
});

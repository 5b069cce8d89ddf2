// `memgov timeline JOURNAL --html OUT` and `memgov replay TRACE --html OUT` through the shipped
// bundle (and main() for the error paths): the files they write, torn lines tolerated and
// reported, rotated journals read oldest first, and the exact errors and exit codes.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal, type JournalSampleRecord } from '../../adapters/journal.ts';
import { runBundle, runMain, tempFiles, traceOf } from '../support/cli.ts';
import { journalSample } from './journal-records.ts';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(files: Record<string, string> = {}): string {
  const dir = tempFiles(files);
  dirs.push(dir);
  return dir;
}

function sample(
  t: number,
  ratio: number,
  action: JournalSampleRecord['action'] = null,
): JournalSampleRecord {
  return action === null
    ? journalSample(t, ratio)
    : journalSample(t, ratio, { action, tier: 1, reason: 'tier1-compact' });
}

/** A journal written through the real adapter: 60 decisions a second apart, one compact. */
function writeJournal(path: string, maxBytes = 1 << 20, keep = 3): void {
  const journal = openJournal({ path, maxBytes, keep })._unsafeUnwrap();
  for (let i = 0; i < 60; i++) {
    journal.append(sample(T0 + i * 1000, 0.5 + i * 0.005, i === 40 ? 'compact' : null));
  }
  journal.append({
    kind: 'result',
    t: T0 + 41_500,
    seq: 1,
    action: 'compact',
    outcome: 'timed-out',
    durationMs: 1500,
    detail: 'no compaction seen',
  });
  journal.close();
}

const markerCount = (html: string): number => html.match(/<g class="marker" /g)?.length ?? 0;

describe('memgov timeline (the bundle)', () => {
  it('draws a journal into one HTML file with its action and result', () => {
    const dir = scratch();
    const journal = join(dir, 'journal.jsonl');
    writeJournal(journal);
    const out = join(dir, 'timeline.html');
    const run = runBundle(['timeline', journal, '--html', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`wrote ${out}: 60 decisions, 1 action results from 1 file(s)\n`);
    const html = readFileSync(out, 'utf8');
    expect(markerCount(html)).toBe(1);
    expect(html).toContain('<g class="marker" data-action="compact" data-count="1">');
    expect(html).toContain('<g class="result" data-outcome="timed-out">');
    expect(html).toContain('no compaction seen');
    expect(html).toContain('>compact (70.0%-85.0%)</text>');
  });

  it('names the tool a journaled stop-tool stopped on its marker', async () => {
    const dir = scratch();
    const journal = join(dir, 'journal.jsonl');
    const writer = openJournal({ path: journal, maxBytes: 1 << 20, keep: 1 })._unsafeUnwrap();
    const tool = { pid: 4242, pgid: 4242, bytes: 700 * 1024 ** 2, command: 'npm run build' };
    writer.append(journalSample(T0, 0.5));
    writer.append(journalSample(T0 + 1000, 0.8, { action: 'stop-tool', tier: 1, tool }));
    writer.close();
    const out = join(dir, 'timeline.html');
    expect((await runMain(['timeline', journal, '--html', out])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('tool: npm run build (pid 4242), 700 MiB');
  });

  it('skips a torn line, says where it was, and still draws the rest', () => {
    const dir = scratch();
    const journal = join(dir, 'journal.jsonl');
    writeJournal(journal);
    // A crash mid-write, then the daemon's next run starting a fresh line after it.
    writeFileSync(journal, `${readFileSync(journal, 'utf8')}{"kind":"sample","t":99`, {
      flag: 'w',
    });
    const reopened = openJournal({ path: journal, maxBytes: 1 << 20, keep: 3 })._unsafeUnwrap();
    reopened.append(sample(T0 + 90_000, 0.6));
    reopened.close();
    const out = join(dir, 'timeline.html');
    const run = runBundle(['timeline', journal, '--html', out]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      `memgov timeline: Skipped 1 torn line(s), cut short by a crash: ${journal}:62.\n`,
    );
    expect(run.stdout).toContain('61 decisions');
    expect(readFileSync(out, 'utf8')).toContain(`Skipped 1 torn line(s), cut short by a crash`);
  });

  it('reads the rotated files oldest first with --rotated, and only JOURNAL without', () => {
    const dir = scratch();
    const journal = join(dir, 'journal.jsonl');
    // 17 lines per file: journal.jsonl.3 (oldest) to .1 full, then 9 decisions and the result.
    writeJournal(journal, 15 * 260, 5);
    expect(existsSync(`${journal}.3`)).toBe(true);
    const out = join(dir, 'all.html');
    const all = runBundle(['timeline', journal, '--rotated', '--html', out]);
    expect(all.stderr).toBe('');
    // Read in any other order, the decisions would go back in time: an error.
    expect(all.stdout).toBe(`wrote ${out}: 60 decisions, 1 action results from 4 file(s)\n`);
    expect(markerCount(readFileSync(out, 'utf8'))).toBe(1);
    const live = runBundle(['timeline', journal, '--html', join(dir, 'live.html')]);
    expect(live.code).toBe(0);
    expect(live.stdout).toContain(': 9 decisions, 1 action results from 1 file(s)');
  });

  it('accepts a journal as a replay trace and draws the replay too', () => {
    const dir = scratch();
    const journal = join(dir, 'journal.jsonl');
    writeJournal(journal);
    const out = join(dir, 'replay.html');
    const run = runBundle(['replay', journal, '--html', out]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /\nreplayed 60 samples, governor saw \d+; actions: [^\n]*\nwrote [^\n]*\n$/,
    );
    expect(readFileSync(out, 'utf8')).toContain('<h1>memgov replay</h1>');
  });
});

describe('memgov replay --html (the bundle)', () => {
  const burst = new URL('../../examples/traces/burst.jsonl', import.meta.url).pathname;

  it('keeps the --json output byte for byte and writes the three actions into the file', () => {
    const dir = scratch();
    const out = join(dir, 'burst.html');
    const plain = runBundle(['replay', burst, '--json']);
    const withHtml = runBundle(['replay', burst, '--json', '--html', out]);
    expect(withHtml.code).toBe(0);
    expect(withHtml.stderr).toBe('');
    expect(withHtml.stdout).toBe(plain.stdout);
    const html = readFileSync(out, 'utf8');
    const actions = [...html.matchAll(/<g class="marker" data-action="([^"]+)"/g)].map((m) => m[1]);
    expect(actions).toEqual(['compact', 'clear', 'archive-terminate']);
    expect(html).toContain(`${burst}</p>`);
  });

  it('applies --config to the bands', () => {
    const dir = scratch({ 'low.yaml': 'compactAt: 0.6\nclearAt: 0.65\nterminateAt: 0.7\n' });
    const out = join(dir, 'low.html');
    const run = runBundle(['replay', burst, '--config', join(dir, 'low.yaml'), '--html', out]);
    expect(run.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('>clear (65.0%-70.0%)</text>');
  });

  it('writes no file when the trace is bad', async () => {
    const dir = scratch({ 't.jsonl': `${traceOf([[T0, 0.5]])}nonsense\n` });
    const out = join(dir, 'bad.html');
    const run = await runMain(['replay', join(dir, 't.jsonl'), '--html', out]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `memgov replay: ${join(dir, 't.jsonl')}:2: not a JSON object: "nonsense"\n`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('exits 1 naming OUT when it cannot be written', async () => {
    const dir = scratch({ 't.jsonl': traceOf([[T0, 0.5]]) });
    const out = join(dir, 'missing-dir', 'x.html');
    const run = await runMain(['replay', join(dir, 't.jsonl'), '--html', out]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `memgov replay: ${out}: cannot write the timeline: ENOENT: no such file or directory\n`,
    );
  });
});

describe('memgov timeline errors', () => {
  it('names the file and line of a garbled record and exits 1', async () => {
    const dir = scratch({
      'j.jsonl': `${JSON.stringify(sample(T0, 0.5))}\n${JSON.stringify({ ...sample(T0 + 1, 0.5), tier: 9 })}\n`,
    });
    const run = await runMain(['timeline', join(dir, 'j.jsonl'), '--html', join(dir, 'o.html')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `memgov timeline: ${join(dir, 'j.jsonl')}:2: "tier" must be 0, 1, 2 or 3 (got 9)\n`,
    );
    expect(existsSync(join(dir, 'o.html'))).toBe(false);
  });

  it('points a plain trace to replay', async () => {
    const dir = scratch({ 't.jsonl': traceOf([[T0, 0.5]]) });
    const run = await runMain(['timeline', join(dir, 't.jsonl'), '--html', join(dir, 'o.html')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('t.jsonl:1: not a journal line: no "kind"');
    expect(run.stderr).toContain('memgov replay TRACE --html OUT');
  });

  it('rejects decisions out of time order', async () => {
    const dir = scratch({
      'j.jsonl': [sample(T0, 0.5), sample(T0 - 5, 0.5)].map((r) => JSON.stringify(r)).join('\n'),
    });
    const run = await runMain(['timeline', join(dir, 'j.jsonl'), '--html', join(dir, 'o.html')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`j.jsonl:2: "t" ${T0 - 5} is earlier than the decision before`);
  });

  it('exits 1 on a missing journal and on one with no decisions', async () => {
    const missing = await runMain(['timeline', '/nonexistent/j.jsonl', '--html', '/tmp/x.html']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('/nonexistent/j.jsonl: cannot open');
    const dir = scratch({
      'j.jsonl': `${JSON.stringify({ kind: 'result', t: 1, seq: 1, action: 'compact', outcome: 'ok', durationMs: 1, detail: null })}\n`,
    });
    const empty = await runMain(['timeline', join(dir, 'j.jsonl'), '--html', join(dir, 'o.html')]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('the journal has no decisions');
  });

  it('exits 2 on usage errors and a bad config', async () => {
    const dir = scratch({
      'j.jsonl': `${JSON.stringify(sample(T0, 0.5))}\n`,
      'c.json': '{"compactAt": 2}',
    });
    const j = join(dir, 'j.jsonl');
    const noHtml = await runMain(['timeline', j]);
    expect(noHtml.code).toBe(2);
    expect(noHtml.stderr).toContain('--html OUT is required');
    expect((await runMain(['timeline', '--html', 'o.html'])).code).toBe(2);
    expect((await runMain(['timeline', j, j, '--html', 'o.html'])).code).toBe(2);
    expect((await runMain(['timeline', j, '--bogus'])).stderr).toContain('unknown option --bogus');
    const badConfig = await runMain([
      'timeline',
      j,
      '--html',
      'o',
      '--config',
      join(dir, 'c.json'),
    ]);
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('compactAt: must be between 0 and 1 (got 2)');
    const help = await runMain(['--help']);
    expect(help.stdout).toContain('timeline JOURNAL --html OUT');
    expect((await runMain(['timeline', '--help'])).stdout).toContain('--rotated');
  });
});

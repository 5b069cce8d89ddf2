// The HTML timeline as a pure function: self-contained (no URL at all), every action marked with
// its shape, time and ratio, bands labelled, hostile text escaped, and a week of 100 ms samples
// drawn in a bounded document that still shows every action and every spike.
import { describe, expect, it } from 'vitest';
import {
  createTimelineBuilder,
  formatDuration,
  renderTimeline,
  type TimelineAction,
  type TimelineMeta,
  type TimelinePoint,
  type TimelineResult,
} from '../../visualizations/timeline.ts';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const META: TimelineMeta = {
  title: 'memgov timeline',
  source: 'journal.jsonl',
  thresholds: { compactAt: 0.7, clearAt: 0.85, terminateAt: 0.9 },
};
const STATE = 'ladder.idle,tier3.armed,polling.relaxed';

function point(
  t: number,
  ratio: number,
  action: TimelineAction | null = null,
  nextPollMs = 1000,
): TimelinePoint {
  return { t, ratio, nextPollMs, state: STATE, action, reason: 'below-threshold' };
}

/** One point a second for `seconds`, ratio rising from 0.4 to 0.95, with the three actions. */
function ladder(seconds = 600): TimelinePoint[] {
  return Array.from({ length: seconds }, (_, i) => {
    const ratio = 0.4 + (0.55 * i) / seconds;
    const action =
      i === Math.floor(seconds * 0.6)
        ? 'compact'
        : i === Math.floor(seconds * 0.85)
          ? 'clear'
          : i === seconds - 2
            ? 'archive-terminate'
            : null;
    return point(T0 + i * 1000, ratio, action);
  });
}

function result(t: number, outcome: string, detail: string | null = null): TimelineResult {
  return { t, seq: 1, action: 'compact', outcome, durationMs: 1500, detail };
}

/** The `<g class="marker" ...>` elements, with their attributes and tooltip text. */
function markers(html: string): { action: string; count: number; title: string; shape: string }[] {
  const pattern =
    /<g class="marker" data-action="([^"]+)" data-count="(\d+)"><title>([^<]*)<\/title><(\w+)/g;
  return [...html.matchAll(pattern)].map((m) => ({
    action: m[1] as string,
    count: Number(m[2]),
    title: m[3] as string,
    shape: m[4] as string,
  }));
}

function pathOf(html: string, className: string): string {
  return new RegExp(`<path class="${className}" d="([^"]*)"`).exec(html)?.[1] ?? '';
}

/** The y of each threshold line, top to bottom: terminate, clear, compact. */
function thresholdYs(html: string): number[] {
  return [...html.matchAll(/<line class="threshold" [^>]*y1="([\d.]+)"/g)]
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

describe('renderTimeline', () => {
  it('is one self-contained document: no URL, no external reference, a CSP that fetches nothing', () => {
    const html = renderTimeline(ladder(), [result(T0 + 400_000, 'ok')], META);
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/\b(?:src|href)\s*=/i);
    expect(html).not.toMatch(/\/\/[a-z0-9]/i);
    expect(html).not.toMatch(/url\(|@import|<link|<iframe|<img/i);
    expect(html).toContain(`content="default-src 'none';`);
  });

  it('marks each action with its own shape, a data-action attribute and a time and ratio tooltip', () => {
    const html = renderTimeline(ladder(), [], META);
    const found = markers(html);
    expect(found.map((m) => [m.action, m.shape])).toEqual([
      ['compact', 'circle'],
      ['clear', 'rect'],
      ['archive-terminate', 'path'],
    ]);
    // i = 360: 0.4 + 0.55 * 0.6 = 0.73.
    expect(found[0]?.title).toContain('compact at 2026-11-27T12:06:00.000Z (+6m), ratio 73.0%');
    expect(found[0]?.title).toContain(`state: ${STATE}`);
    expect(html).toMatch(/<div class="legend" id="legend">/);
    for (const action of ['compact', 'clear', 'archive-terminate']) {
      expect(html).toContain(`data-toggle='[data-action="${action}"]'`);
    }
  });

  it('a stop-tool marker names its tool (command, pid, bytes) and what it freed', () => {
    const GiB = 1024 ** 3;
    const tool = { command: 'npm run <build>', pid: 4242, bytes: 600 * 1024 ** 2 };
    const stop = (t: number, ratio: number, action: TimelineAction | null = null) => ({
      ...point(t, ratio, action),
      limit: GiB,
      ...(action === 'stop-tool' ? { tool } : {}),
    });
    const builder = createTimelineBuilder();
    builder.addPoint(stop(T0, 0.6));
    builder.addPoint(stop(T0 + 1_000, 0.75, 'stop-tool'));
    // Not the measure: this sample came before the result.
    builder.addPoint(stop(T0 + 1_100, 0.76));
    builder.addResult({ ...result(T0 + 1_500, 'ok'), action: 'stop-tool' });
    builder.addPoint(stop(T0 + 1_600, 0.25));
    builder.addPoint(stop(T0 + 2_600, 0.2));
    const [marker] = markers(builder.render(META));
    expect(marker?.action).toBe('stop-tool');
    expect(marker?.title).toContain('tool: npm run &lt;build&gt; (pid 4242), 600 MiB');
    // 0.75 - 0.25 of 1 GiB: 512 MiB.
    expect(marker?.title).toContain('freed: 512 MiB');
  });

  it('a stop-tool whose result never came, or without a limit, says its freed bytes are not measured', () => {
    const tool = { command: 'make', pid: 7, bytes: 1024 ** 2 };
    const noResult = createTimelineBuilder();
    noResult.addPoint({ ...point(T0, 0.75, 'stop-tool'), tool, limit: 1024 ** 3 });
    noResult.addPoint({ ...point(T0 + 1_000, 0.3), limit: 1024 ** 3 });
    expect(markers(noResult.render(META))[0]?.title).toContain('freed: not measured');
    const noLimit = createTimelineBuilder();
    noLimit.addPoint({ ...point(T0, 0.75, 'stop-tool'), tool });
    noLimit.addResult({ ...result(T0 + 500, 'ok'), action: 'stop-tool' });
    noLimit.addPoint(point(T0 + 1_000, 0.3));
    expect(markers(noLimit.render(META))[0]?.title).toContain('freed: not measured');
    // A marker of another action has no tool line.
    expect(markers(renderTimeline(ladder(), [], META))[0]?.title).not.toContain('tool:');
  });

  it('shades and labels the four threshold bands from the configuration', () => {
    const html = renderTimeline(ladder(), [], {
      ...META,
      thresholds: { compactAt: 0.6, clearAt: 0.75, terminateAt: 0.8 },
    });
    expect(html.match(/<rect class="band"/g)).toHaveLength(4);
    for (const label of [
      'below compact (&lt; 60.0%)',
      'compact (60.0%-75.0%)',
      'clear (75.0%-80.0%)',
      'terminate (&gt;= 80.0%)',
    ]) {
      expect(html).toContain(`>${label}</text>`);
    }
    const [terminate, clear, compact] = thresholdYs(html) as [number, number, number];
    // The lines sit where the ratio axis puts 80%, 75% and 60%: 5 and 15 points apart.
    expect((compact - clear) / (clear - terminate)).toBeCloseTo(3, 1);
  });

  it('draws the polling interval as a second panel on a log scale', () => {
    const points = [point(T0, 0.5, null, 60_000), point(T0 + 60_000, 0.85, null, 250)];
    const html = renderTimeline(points, [], META);
    const ys = [...pathOf(html, 'poll').matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
    expect(new Set(ys).size).toBe(2);
    expect(html).toContain('>1m</text>');
    expect(html).toContain('>250ms</text>');
  });

  it('shows action results by outcome, the worst colour winning in a shared column', () => {
    const html = renderTimeline(
      ladder(),
      [
        result(T0 + 100_000, 'ok', 'compacted'),
        result(T0 + 100_010, 'failed'),
        result(T0 + 500_000, 'timed-out'),
      ],
      META,
    );
    const outcomes = [
      ...html.matchAll(/<g class="result" data-outcome="([^"]+)"><title>([^<]*)</g),
    ];
    expect(outcomes.map((m) => m[1])).toEqual(['failed', 'timed-out']);
    expect(outcomes[0]?.[2]).toContain('1 ok, 1 failed; the first: compact #1 ok after 1.5s');
    expect(outcomes[0]?.[2]).toContain('compacted');
    expect(html).toContain('<td>compact: failed</td><td>1</td>');
  });

  it('draws each kernel OOM kill as a red line that gives the tier, and counts them', () => {
    const builder = createTimelineBuilder();
    for (const p of ladder()) builder.addPoint(p);
    builder.addOom({ t: T0 + 590_000, kills: 1, tier: 1, state: 'ladder.compacted' });
    builder.addOom({ t: T0 + 590_050, kills: 1, tier: 1, state: 'ladder.compacted' });
    builder.addOom({ t: Number.NaN, kills: 1, tier: 0, state: '' });
    const html = builder.render(META);
    const ooms = [
      ...html.matchAll(/<g class="oom" data-count="(\d+)" data-tier="(\d)"><title>([^<]*)</g),
    ];
    expect(ooms.map((m) => [m[1], m[2]])).toEqual([['2', '1']]);
    expect(ooms[0]?.[3]).toContain('2 kernel OOM kill(s); the first at');
    expect(ooms[0]?.[3]).toContain('governor at tier 1');
    expect(html).toContain('2 kernel OOM kill(s): the kernel won the race.');
    expect(renderTimeline(ladder(), [], META)).not.toContain('class="oom"');
  });

  it('merges same-kind actions a few pixels apart into one marker that gives the count', () => {
    const points = ladder();
    const dense = [
      ...points.slice(0, 10),
      ...Array.from({ length: 5 }, (_, i) => point(T0 + 10_000 + i * 10, 0.75, 'compact')),
      ...points.slice(11),
    ];
    const found = markers(renderTimeline(dense, [], META)).filter((m) => m.action === 'compact');
    expect(found.map((m) => m.count)).toEqual([5, 1]);
    expect(found[0]?.title).toMatch(/^5 × compact, the first at /);
  });

  it('breaks the line where the data stops for longer than the governor said it would', () => {
    const points = [
      point(T0, 0.5),
      point(T0 + 1000, 0.5),
      // The daemon was down for an hour.
      point(T0 + 3_601_000, 0.6),
      point(T0 + 3_602_000, 0.6),
    ];
    expect(pathOf(renderTimeline(points, [], META), 'ratio').match(/M/g)).toHaveLength(2);
    const steady = points.map((p, i) => ({ ...p, t: T0 + i * 1000 }));
    expect(pathOf(renderTimeline(steady, [], META), 'ratio').match(/M/g)).toHaveLength(1);
  });

  it('a stop-tool whose tool it cannot read is drawn without one, never a failure', () => {
    const garbled = {
      ...point(T0 + 60_000, 0.8, 'stop-tool'),
      tool: { pid: 'x', bytes: null, command: null } as unknown as TimelinePoint['tool'],
    };
    const found = markers(renderTimeline([point(T0, 0.5), garbled], [], META));
    expect(found.map((m) => [m.action, m.title.split('\n').at(-1)])).toEqual([
      ['stop-tool', `state: ${STATE}`],
    ]);
  });

  it('escapes every string that comes from the input', () => {
    const hostile = `</script><img src=x onerror=alert(1)>"'&`;
    const html = renderTimeline(
      [{ ...point(T0, 0.75, 'compact'), state: hostile, reason: hostile }],
      [{ t: T0 + 1, seq: 1, action: hostile, outcome: hostile, durationMs: 1, detail: hostile }],
      { ...META, title: hostile, source: hostile, notes: [hostile] },
    );
    expect(html).not.toContain('<img');
    // Only the timeline's own script element, closed once.
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html).toContain('&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
    expect(html).not.toContain('data-outcome="</script>');
  });

  it('renders an empty series as a valid document that says so', () => {
    const html = createTimelineBuilder().render(META);
    expect(html).toContain('0 decisions, 0 action results, no samples.');
    expect(html).toContain('<div class="legend"');
    expect(markers(html)).toEqual([]);
  });

  it('leaves out points it cannot place rather than fail', () => {
    const builder = createTimelineBuilder();
    builder.addPoint(point(Number.NaN, 0.5));
    builder.addPoint(point(T0, Number.POSITIVE_INFINITY));
    builder.addPoint(point(T0, 0.5));
    expect(builder.pointCount).toBe(1);
    expect(builder.render(META)).toContain('1 decisions');
  });
});

describe('long inputs', () => {
  const WEEK_MS = 7 * 24 * 3_600_000;

  it('draws a week at 100 ms (6 million points) in under 2 MB, keeping every action and spike', () => {
    const builder = createTimelineBuilder();
    const count = WEEK_MS / 100;
    const spikeAt = 4_321_987;
    const actionsAt = new Map<number, TimelineAction>([
      [1_000_000, 'compact'],
      [1_000_001, 'clear'],
      [5_999_999, 'archive-terminate'],
    ]);
    for (let i = 0; i < count; i++) {
      builder.addPoint({
        t: T0 + i * 100,
        ratio: i === spikeAt ? 0.95 : 0.3,
        nextPollMs: 100,
        state: STATE,
        action: actionsAt.get(i) ?? null,
      });
    }
    expect(builder.pointCount).toBe(6_048_000);
    const html = builder.render(META);
    expect(Buffer.byteLength(html)).toBeLessThan(2_000_000);
    expect(markers(html).map((m) => m.action)).toEqual(['compact', 'clear', 'archive-terminate']);
    // The one-sample spike survives downsampling: the line reaches 95% (and nothing else does).
    const [terminate, , compact] = thresholdYs(html) as [number, number, number];
    const yOf = (ratio: number): number =>
      compact + ((ratio - 0.7) / (0.9 - 0.7)) * (terminate - compact);
    const ys = new Set(
      [...pathOf(html, 'ratio').matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1])),
    );
    expect([...ys].sort((a, b) => a - b)).toEqual(
      [yOf(0.95), yOf(0.3)].map((y) => Math.round(y * 10) / 10),
    );
  });

  it('stays under 2 MB in the worst case: every point an action with a long result', () => {
    const builder = createTimelineBuilder();
    const actions: TimelineAction[] = ['compact', 'clear', 'archive-terminate'];
    const outcomes = ['ok', 'failed', 'timed-out', 'skipped', 'interrupted', 'superseded', 'odd'];
    // Three bytes each in UTF-8: the bound is on the file's bytes, not its characters.
    const long = '€'.repeat(10_000);
    const longActions = Array.from({ length: 50 }, (_, i) => `${i}${long}`);
    // One a second for a week: every pixel column holds all three actions and all outcomes.
    for (let i = 0; i < WEEK_MS / 1000; i++) {
      const t = T0 + i * 1000;
      builder.addPoint({ ...point(t, 0.8, actions[i % 3] ?? null), state: long, reason: long });
      builder.addResult({
        ...result(t + 1, outcomes[i % outcomes.length] ?? 'ok', long),
        action: longActions[i % 50] ?? long,
      });
    }
    const html = builder.render(META);
    expect(Buffer.byteLength(html)).toBeLessThan(2_000_000);
    const found = markers(html);
    // Nothing dropped: the per-column counts add up to every action.
    expect(found.reduce((sum, m) => sum + m.count, 0)).toBe(WEEK_MS / 1000);
    // 24 action/outcome rows, then one "other" row.
    expect(html.match(/<tr><td>/g)).toHaveLength(25);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [1500, '1.5s'],
    [45_000, '45s'],
    [60_000, '1m'],
    [125_000, '2m05s'],
    [3_720_000, '1h02m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d04h'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('restarts, gaps and the limit', () => {
  it('marks each restart, shades a gap in the samples, and names the limit in the header', () => {
    const builder = createTimelineBuilder();
    const MiB = 1024 ** 2;
    builder.addStart({ t: 0, pid: 10, limitBytes: 256 * MiB, limitSource: 'max' });
    for (let t = 0; t <= 10_000; t += 1_000)
      builder.addPoint({ t, ratio: 0.3, nextPollMs: 1_000, action: null, state: 'idle' });
    // memgov was down for 50 s, then restarted.
    builder.addStart({ t: 60_000, pid: 11, limitBytes: 512 * MiB, limitSource: 'parent' });
    for (let t = 60_000; t <= 70_000; t += 1_000)
      builder.addPoint({ t, ratio: 0.3, nextPollMs: 1_000, action: null, state: 'idle' });
    const html = builder.render({
      title: 't',
      source: 's',
      thresholds: { compactAt: 0.7, clearAt: 0.85, terminateAt: 0.9 },
    });
    expect(html.match(/<g class="restart">/g)).toHaveLength(1);
    expect(html).toContain('pid 11');
    expect(html.match(/<g class="gap">/g)).toHaveLength(1);
    expect(html).toContain('no samples for 50');
    expect(html).toContain('Limit 512 MiB (parent); memgov restarted 1 time(s)');
  });
});

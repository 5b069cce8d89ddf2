// The HTML timeline of a replay or a decision journal (docs/DESIGN.md#observability): memory ratio over time
// over the threshold bands, the polling interval below it, action markers and action results.
// Pure: points in, one self-contained HTML document out (inline SVG, CSS and a few lines of
// script; no URL of any kind, and a Content-Security-Policy that forbids fetching anything).
//
// Any length of input draws in bounded space: points go into at most 2 × PLOT_WIDTH_PX time
// buckets (each keeps its first, last, lowest and highest point, so every spike and dip is
// drawn), and when a point falls past the last bucket, neighbouring buckets merge pairwise and
// the bucket width doubles. Actions and results are never dropped: markers of one kind within
// MARKER_COLUMN_PX merge into one marker that gives the count. Input text is cut to TEXT_CHARS
// per field. The document stays well under 2 MB whatever the input: the tests' worst case (a
// week of decisions, each an action with a result, every text field 10,000 three-byte
// characters) makes 0.98 MB.
export type TimelineAction = 'compact' | 'clear' | 'archive-terminate' | 'stop-tool';

/** One governor decision: the sample it saw and what it decided. */
export interface TimelinePoint {
  /** ms; since the epoch for a journal, whatever the trace used for a replay. */
  readonly t: number;
  readonly ratio: number;
  readonly nextPollMs: number;
  readonly state: string;
  readonly action: TimelineAction | null;
  readonly reason?: string;
  /** The agent's largest child subtree at this sample (the tool a stop-tool stops). */
  readonly tool?: TimelineTool;
  /** The limit in bytes (a journal's sample lines carry it): turns a ratio drop into bytes. */
  readonly limit?: number;
}

/** A tool as the journal records it. */
export interface TimelineTool {
  readonly command: string;
  readonly pid: number;
  readonly bytes: number;
}

/** One finished action, as the journal records it (cli/commands/timeline.ts passes its records). */
export interface TimelineResult {
  readonly t: number;
  readonly seq: number;
  readonly action: string;
  /** ok | failed | timed-out | skipped | interrupted | superseded */
  readonly outcome: string;
  readonly durationMs: number;
  readonly detail: string | null;
}

/** A kernel OOM kill the journal recorded: the kernel won a race (drawn as a red line). */
export interface TimelineOom {
  readonly t: number;
  readonly kills: number;
  /** The tier the governor stood at when the kill was seen. */
  readonly tier: number;
  readonly state: string;
}

/** A memgov start the journal recorded: a restart when it is not the first (drawn as a grey line). */
export interface TimelineStart {
  readonly t: number;
  readonly pid: number;
  readonly limitBytes: number;
  /** Where the limit came from: max, high, parent or host. */
  readonly limitSource: string;
}

export interface TimelineThresholds {
  readonly compactAt: number;
  readonly clearAt: number;
  readonly terminateAt: number;
}

export interface TimelineMeta {
  readonly title: string;
  /** Where the data came from (file names), shown under the title. */
  readonly source: string;
  readonly thresholds: TimelineThresholds;
  /** Lines shown under the summary (skipped torn lines, and so on). */
  readonly notes?: readonly string[];
}

export interface TimelineBuilder {
  /**
   * Adds the next decision. Points come in time order (one earlier than the first joins the first
   * bucket); a point with a non-finite time, ratio or interval is left out.
   */
  addPoint(point: TimelinePoint): void;
  addResult(result: TimelineResult): void;
  /** Adds a kernel OOM kill; one with a non-finite time is left out. */
  addOom(oom: TimelineOom): void;
  /** Adds a memgov start (its limit goes into the header); a non-finite time is left out. */
  addStart(start: TimelineStart): void;
  readonly pointCount: number;
  readonly resultCount: number;
  /** The whole HTML document. The builder can go on taking points afterwards. */
  render(meta: TimelineMeta): string;
}

const PLOT_WIDTH_PX = 960;
/**
 * Markers of one kind this close together merge into one (which gives the count): a marker is
 * about 11 px wide, so separate ones closer than this would only hide each other, and the merge
 * bounds the document: at most 240 columns × 3 actions, and 240 result ticks.
 */
const MARKER_COLUMN_PX = 4;
const MAX_BUCKETS = 2 * PLOT_WIDTH_PX;
const LEFT_PX = 64;
const RIGHT_PX = 170;
const RATIO_TOP_PX = 16;
const RATIO_HEIGHT_PX = 300;
const RESULTS_TOP_PX = RATIO_TOP_PX + RATIO_HEIGHT_PX + 14;
const RESULTS_HEIGHT_PX = 16;
const POLL_TOP_PX = RESULTS_TOP_PX + RESULTS_HEIGHT_PX + 26;
const POLL_HEIGHT_PX = 120;
const AXIS_TOP_PX = POLL_TOP_PX + POLL_HEIGHT_PX;
const SVG_WIDTH_PX = LEFT_PX + PLOT_WIDTH_PX + RIGHT_PX;
const SVG_HEIGHT_PX = AXIS_TOP_PX + 34;
/** The polling axis is logarithmic; intervals below this (0 = "at once") sit on its floor. */
const POLL_FLOOR_MS = 100;
/** Longest text taken from the input into one label or tooltip. */
const TEXT_CHARS = 120;
/** Longest title, source or note line. */
const HEADER_CHARS = 2000;
/** Distinct action/outcome pairs in the summary table; further pairs count as "other". */
const MAX_OUTCOME_ROWS = 24;

const ACTIONS: readonly TimelineAction[] = ['compact', 'clear', 'archive-terminate', 'stop-tool'];
const ACTION_COLOURS: Readonly<Record<TimelineAction, string>> = {
  compact: '#1f6fd1',
  clear: '#e07b00',
  'archive-terminate': '#c4161c',
  'stop-tool': '#6a3d9a',
};
const OUTCOME_COLOURS: Readonly<Record<string, string>> = {
  ok: '#2a9d3a',
  failed: '#c4161c',
  'timed-out': '#8e44ad',
  skipped: '#8a8a8a',
  interrupted: '#8b5a2b',
  superseded: '#d45d9f',
};
const OTHER_OUTCOME_COLOUR = '#333333';
/** When one pixel column holds several outcomes, its marker takes the colour of the worst. */
const OUTCOME_SEVERITY: Readonly<Record<string, number>> = {
  failed: 6,
  'timed-out': 5,
  interrupted: 4,
  superseded: 3,
  skipped: 2,
  ok: 1,
};

/** First, last, lowest and highest value of a bucket, with their times (M4 downsampling). */
interface Extremes {
  firstT: number;
  first: number;
  lastT: number;
  last: number;
  minT: number;
  min: number;
  maxT: number;
  max: number;
}

interface ActionMark {
  count: number;
  readonly t: number;
  readonly ratio: number;
  readonly state: string;
  readonly reason: string;
  /** A stop-tool's tool; shared (not copied) when buckets merge, so its measurement lands. */
  readonly stop?: StopMark;
}

/**
 * What a stop-tool marker tells: the tool it stopped and what that freed, measured as the
 * governor does: the sample before it against the first sample after its result.
 */
interface StopMark {
  readonly tool: TimelineTool;
  readonly ratio: number;
  resultSeen: boolean;
  freedBytes: number | null;
}

interface ResultMark {
  readonly byOutcome: Map<string, number>;
  readonly first: TimelineResult;
}

interface OomMark {
  count: number;
  readonly first: TimelineOom;
}

interface Bucket {
  ratio: Extremes | null;
  poll: Extremes | null;
  /** nextPollMs of the bucket's last point: a longer silence after it is a gap in the data. */
  lastNextPollMs: number;
  readonly actions: Map<TimelineAction, ActionMark>;
  results: ResultMark | null;
  ooms: OomMark | null;
}

function extremesOf(t: number, value: number): Extremes {
  return {
    firstT: t,
    first: value,
    lastT: t,
    last: value,
    minT: t,
    min: value,
    maxT: t,
    max: value,
  };
}

function extend(e: Extremes, t: number, value: number): void {
  e.lastT = t;
  e.last = value;
  if (value < e.min) {
    e.min = value;
    e.minT = t;
  }
  if (value > e.max) {
    e.max = value;
    e.maxT = t;
  }
}

function mergeExtremes(a: Extremes | null, b: Extremes | null): Extremes | null {
  if (a === null || b === null) return a ?? b;
  return {
    firstT: a.firstT,
    first: a.first,
    lastT: b.lastT,
    last: b.last,
    ...(b.min < a.min ? { minT: b.minT, min: b.min } : { minT: a.minT, min: a.min }),
    ...(b.max > a.max ? { maxT: b.maxT, max: b.max } : { maxT: a.maxT, max: a.max }),
  };
}

function mergeResultMarks(a: ResultMark | null, b: ResultMark | null): ResultMark | null {
  if (a === null || b === null) return a ?? b;
  for (const [outcome, count] of b.byOutcome) {
    a.byOutcome.set(outcome, (a.byOutcome.get(outcome) ?? 0) + count);
  }
  return a;
}

function mergeOomMarks(a: OomMark | null, b: OomMark | null): OomMark | null {
  if (a === null || b === null) return a ?? b;
  a.count += b.count;
  return a;
}

function mergeActionMarks(
  into: Map<TimelineAction, ActionMark>,
  from: ReadonlyMap<TimelineAction, ActionMark>,
): void {
  for (const [action, mark] of from) {
    const existing = into.get(action);
    if (existing === undefined) into.set(action, { ...mark });
    else existing.count += mark.count;
  }
}

function emptyBucket(): Bucket {
  return {
    ratio: null,
    poll: null,
    lastNextPollMs: 0,
    actions: new Map(),
    results: null,
    ooms: null,
  };
}

function mergeBuckets(a: Bucket | null, b: Bucket | null): Bucket | null {
  if (a === null || b === null) return a ?? b;
  mergeActionMarks(a.actions, b.actions);
  return {
    ratio: mergeExtremes(a.ratio, b.ratio),
    poll: mergeExtremes(a.poll, b.poll),
    lastNextPollMs: b.ratio !== null ? b.lastNextPollMs : a.lastNextPollMs,
    actions: a.actions,
    results: mergeResultMarks(a.results, b.results),
    ooms: mergeOomMarks(a.ooms, b.ooms),
  };
}

// ---- text -------------------------------------------------------------------------------------

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** Input text cut to a length that keeps tooltips readable and the document bounded. */
function clip(text: string, maxChars = TEXT_CHARS): string {
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
}

/** Text safe in element content and in quoted attribute values. */
function escapeHtml(text: string): string {
  return text
    .replace(CONTROL_CHARS, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

const DURATION_UNITS: readonly (readonly [string, number])[] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** `250ms`, `1.5s`, `2m05s`, `1h02m`, `3d04h`: from a minute on, the two largest units. */
export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  if (whole < 1000) return `${whole}ms`;
  if (whole < 60_000) return `${Number((whole / 1000).toFixed(3))}s`;
  for (let i = 0; i < DURATION_UNITS.length; i++) {
    const [unit, size] = DURATION_UNITS[i] as readonly [string, number];
    if (whole < size) continue;
    const major = Math.floor(whole / size);
    const next = DURATION_UNITS[i + 1];
    if (next === undefined) return `${major}${unit}`;
    const minor = Math.floor((whole % size) / next[1]);
    return minor === 0
      ? `${major}${unit}`
      : `${major}${unit}${String(minor).padStart(2, '0')}${next[0]}`;
  }
  return `${whole}ms`;
}

/** Epoch times (2000 onwards) as ISO text; smaller values are a trace's own clock, shown in ms. */
function formatTime(t: number): string {
  return t >= 946_684_800_000 && t < 8.64e15 ? new Date(t).toISOString() : `t=${t} ms`;
}

// ---- geometry ---------------------------------------------------------------------------------

function fixed(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

const NICE_STEPS_MS = [
  1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000,
  300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
  86_400_000, 172_800_000, 604_800_000,
];

function timeStepMs(spanMs: number): number {
  return NICE_STEPS_MS.find((step) => spanMs / step <= 10) ?? Math.ceil(spanMs / 10);
}

interface Frame {
  readonly startT: number;
  readonly spanMs: number;
  readonly ratioTop: number;
  readonly pollTopMs: number;
}

function xOf(frame: Frame, t: number): number {
  return LEFT_PX + ((t - frame.startT) / frame.spanMs) * PLOT_WIDTH_PX;
}

function yOfRatio(frame: Frame, ratio: number): number {
  const clamped = Math.min(Math.max(ratio, 0), frame.ratioTop);
  return RATIO_TOP_PX + RATIO_HEIGHT_PX * (1 - clamped / frame.ratioTop);
}

function yOfPoll(frame: Frame, pollMs: number): number {
  const low = Math.log10(POLL_FLOOR_MS);
  const span = Math.log10(frame.pollTopMs) - low;
  const value = Math.log10(Math.min(Math.max(pollMs, POLL_FLOOR_MS), frame.pollTopMs));
  return POLL_TOP_PX + POLL_HEIGHT_PX * (1 - (value - low) / span);
}

/** The governor said when it would look again: silence well past that is missing data. */
function isGap(previous: Bucket, previousEnd: Extremes, next: Extremes): boolean {
  return next.firstT - previousEnd.lastT > Math.max(2 * previous.lastNextPollMs, 5000);
}

/** A grey band over each stretch without samples (memgov down, or the host stalled it). */
function gapBands(frame: Frame, buckets: readonly Bucket[]): string {
  const out: string[] = [];
  let previous: Bucket | null = null;
  for (const bucket of buckets) {
    const e = bucket.ratio;
    if (e === null) continue;
    const end = previous?.ratio ?? null;
    if (previous !== null && end !== null && isGap(previous, end, e)) {
      const x1 = xOf(frame, end.lastT);
      const width = Math.max(1, xOf(frame, e.firstT) - x1);
      const title = `no samples for ${formatDuration(e.firstT - end.lastT)} (${formatTime(end.lastT)} to ${formatTime(e.firstT)})`;
      out.push(
        `<g class="gap"><title>${escapeHtml(title)}</title><rect x="${fixed(x1)}" y="${RATIO_TOP_PX}" width="${fixed(width)}" height="${RATIO_HEIGHT_PX}" fill="#e6e6e6" fill-opacity="0.7"/></g>`,
      );
    }
    previous = bucket;
  }
  return out.join('\n');
}

/** A grey line at each memgov start after the first: a restart (the title gives pid and limit). */
function startMarkers(frame: Frame, starts: readonly TimelineStart[]): string {
  return starts
    .slice(1)
    .map((start) => {
      const x = fixed(xOf(frame, start.t));
      const title = `memgov restarted at ${formatTime(start.t)} (pid ${start.pid}); limit ${mibText(start.limitBytes)} (${start.limitSource})`;
      return `<g class="restart"><title>${escapeHtml(title)}</title><line x1="${x}" y1="${RATIO_TOP_PX}" x2="${x}" y2="${RATIO_TOP_PX + RATIO_HEIGHT_PX}" stroke="#777777" stroke-width="1.5"/></g>`;
    })
    .join('\n');
}

function mibText(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/** An SVG path through the buckets' extremes in time order, broken where the data has a gap. */
function curvePath(
  buckets: readonly Bucket[],
  pick: (bucket: Bucket) => Extremes | null,
  x: (t: number) => number,
  y: (value: number) => number,
): string {
  const parts: string[] = [];
  let previous: Bucket | null = null;
  let lastXY = '';
  for (const bucket of buckets) {
    const e = pick(bucket);
    if (e === null) continue;
    const previousEnd: Extremes | null = previous === null ? null : pick(previous);
    const gap = previous === null || previousEnd === null || isGap(previous, previousEnd, e);
    const ordered: [number, number][] = [[e.firstT, e.first]];
    if (e.minT <= e.maxT) ordered.push([e.minT, e.min], [e.maxT, e.max]);
    else ordered.push([e.maxT, e.max], [e.minT, e.min]);
    ordered.push([e.lastT, e.last]);
    let command = gap ? 'M' : 'L';
    for (const [t, value] of ordered) {
      const xy = `${fixed(x(t))},${fixed(y(value))}`;
      if (xy === lastXY && command === 'L') continue;
      parts.push(command + xy);
      lastXY = xy;
      command = 'L';
    }
    previous = bucket;
  }
  return parts.join('');
}

// ---- markers ----------------------------------------------------------------------------------

function actionShape(action: TimelineAction, x: number, y: number): string {
  const fill = ACTION_COLOURS[action];
  const common = `fill="${fill}" stroke="#ffffff" stroke-width="1.2"`;
  if (action === 'compact') return `<circle cx="${fixed(x)}" cy="${fixed(y)}" r="5.5" ${common}/>`;
  if (action === 'clear') {
    return `<rect x="${fixed(x - 5)}" y="${fixed(y - 5)}" width="10" height="10" ${common}/>`;
  }
  if (action === 'stop-tool') {
    const d = `M${fixed(x)},${fixed(y - 6.5)}L${fixed(x + 6.5)},${fixed(y)}L${fixed(x)},${fixed(y + 6.5)}L${fixed(x - 6.5)},${fixed(y)}Z`;
    return `<path d="${d}" ${common}/>`;
  }
  const d = `M${fixed(x)},${fixed(y - 7)}L${fixed(x + 6.5)},${fixed(y + 5)}L${fixed(x - 6.5)},${fixed(y + 5)}Z`;
  return `<path d="${d}" ${common}/>`;
}

function elapsed(frame: Frame, t: number): string {
  return `+${formatDuration(t - frame.startT)}`;
}

function markerColumn(frame: Frame, t: number): number {
  return Math.floor((xOf(frame, t) - LEFT_PX) / MARKER_COLUMN_PX);
}

function actionMarkers(frame: Frame, buckets: readonly Bucket[]): string {
  const columns = new Map<string, { action: TimelineAction; mark: ActionMark }>();
  for (const bucket of buckets) {
    for (const [action, mark] of bucket.actions) {
      const key = `${action}@${markerColumn(frame, mark.t)}`;
      const existing = columns.get(key);
      if (existing === undefined) columns.set(key, { action, mark: { ...mark } });
      else existing.mark.count += mark.count;
    }
  }
  const out: string[] = [];
  for (const { action, mark } of columns.values()) {
    const times = mark.count > 1 ? `${mark.count} × ${action}, the first` : action;
    const title =
      `${times} at ${formatTime(mark.t)} (${elapsed(frame, mark.t)}), ratio ${percent(mark.ratio)}` +
      `\nreason: ${mark.reason}\nstate: ${mark.state}` +
      (mark.stop === undefined ? '' : stopText(mark.stop));
    out.push(
      `<g class="marker" data-action="${action}" data-count="${mark.count}"><title>${escapeHtml(title)}</title>` +
        `${actionShape(action, xOf(frame, mark.t), yOfRatio(frame, mark.ratio))}</g>`,
    );
  }
  return out.join('\n');
}

function outcomeColour(outcome: string): string {
  return OUTCOME_COLOURS[outcome] ?? OTHER_OUTCOME_COLOUR;
}

function worstOutcome(byOutcome: ReadonlyMap<string, number>): string {
  let worst = '';
  let worstSeverity = -1;
  for (const outcome of byOutcome.keys()) {
    const severity = OUTCOME_SEVERITY[outcome] ?? 7;
    if (severity > worstSeverity) {
      worst = outcome;
      worstSeverity = severity;
    }
  }
  return worst;
}

function resultMarkers(frame: Frame, buckets: readonly Bucket[]): string {
  const columns = new Map<number, ResultMark>();
  for (const bucket of buckets) {
    const mark = bucket.results;
    if (mark === null) continue;
    const column = markerColumn(frame, mark.first.t);
    const existing = columns.get(column);
    if (existing === undefined) {
      columns.set(column, { byOutcome: new Map(mark.byOutcome), first: mark.first });
    } else mergeResultMarks(existing, mark);
  }
  const out: string[] = [];
  for (const mark of columns.values()) {
    const outcome = worstOutcome(mark.byOutcome);
    const first = mark.first;
    const counts = [...mark.byOutcome].map(([name, count]) => `${count} ${name}`).join(', ');
    const detail = first.detail === null ? '' : `\n${first.detail}`;
    const title =
      `${counts}; the first: ${first.action} #${first.seq} ${first.outcome} after ` +
      `${formatDuration(first.durationMs)}, at ${formatTime(first.t)} (${elapsed(frame, first.t)})${detail}`;
    out.push(
      `<g class="result" data-outcome="${escapeHtml(outcome)}"><title>${escapeHtml(title)}</title>` +
        `<rect x="${fixed(xOf(frame, first.t) - 2)}" y="${RESULTS_TOP_PX}" width="4" height="${RESULTS_HEIGHT_PX}" fill="${outcomeColour(outcome)}"/></g>`,
    );
  }
  return out.join('\n');
}

const OOM_COLOUR = '#b00020';

/** A dashed red line across the ratio panel for each pixel column with kernel OOM kills. */
function oomMarkers(frame: Frame, buckets: readonly Bucket[]): string {
  const columns = new Map<number, OomMark>();
  for (const bucket of buckets) {
    const mark = bucket.ooms;
    if (mark === null) continue;
    const column = markerColumn(frame, mark.first.t);
    const existing = columns.get(column);
    if (existing === undefined) columns.set(column, { ...mark });
    else existing.count += mark.count;
  }
  const out: string[] = [];
  for (const { count, first } of columns.values()) {
    const x = fixed(xOf(frame, first.t));
    const title =
      `${count} kernel OOM kill(s); the first at ${formatTime(first.t)} (${elapsed(frame, first.t)}), ` +
      `governor at tier ${first.tier}\nstate: ${first.state}`;
    out.push(
      `<g class="oom" data-count="${count}" data-tier="${first.tier}"><title>${escapeHtml(title)}</title>` +
        `<line x1="${x}" y1="${RATIO_TOP_PX}" x2="${x}" y2="${RATIO_TOP_PX + RATIO_HEIGHT_PX}" stroke="${OOM_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/></g>`,
    );
  }
  return out.join('\n');
}

// ---- panels -----------------------------------------------------------------------------------

function bands(frame: Frame, thresholds: TimelineThresholds): string {
  const { compactAt, clearAt, terminateAt } = thresholds;
  const rows: [number, number, string, string][] = [
    [0, compactAt, '#e9f6ea', `below compact (< ${percent(compactAt)})`],
    [compactAt, clearAt, '#fdf3d6', `compact (${percent(compactAt)}-${percent(clearAt)})`],
    [clearAt, terminateAt, '#fde2c8', `clear (${percent(clearAt)}-${percent(terminateAt)})`],
    [terminateAt, frame.ratioTop, '#f8d0d0', `terminate (>= ${percent(terminateAt)})`],
  ];
  const out: string[] = [];
  for (const [low, high, fill, label] of rows) {
    if (high <= low) continue;
    const top = yOfRatio(frame, high);
    const bottom = yOfRatio(frame, low);
    out.push(
      `<rect class="band" x="${LEFT_PX}" y="${fixed(top)}" width="${PLOT_WIDTH_PX}" height="${fixed(bottom - top)}" fill="${fill}"/>`,
      `<text class="band-label" x="${LEFT_PX + PLOT_WIDTH_PX + 8}" y="${fixed((top + bottom) / 2 + 4)}">${escapeHtml(label)}</text>`,
    );
  }
  for (const level of [compactAt, clearAt, terminateAt]) {
    const y = fixed(yOfRatio(frame, level));
    out.push(
      `<line class="threshold" x1="${LEFT_PX}" x2="${LEFT_PX + PLOT_WIDTH_PX}" y1="${y}" y2="${y}"/>`,
    );
  }
  return out.join('\n');
}

/** A 1, 2 or 5 times a power of ten that divides `range` into at most `maxSteps` steps. */
function niceStep(range: number, maxSteps: number): number {
  const power = 10 ** Math.floor(Math.log10(range / maxSteps));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => range / step <= maxSteps) ?? range;
}

function ratioAxis(frame: Frame): string {
  const out: string[] = [];
  const step = niceStep(frame.ratioTop, 10);
  for (let i = 0; i * step <= frame.ratioTop + 1e-9; i++) {
    const ratio = i * step;
    const y = fixed(yOfRatio(frame, ratio));
    out.push(
      `<line class="grid" x1="${LEFT_PX}" x2="${LEFT_PX + PLOT_WIDTH_PX}" y1="${y}" y2="${y}"/>`,
      `<text class="tick" x="${LEFT_PX - 6}" y="${fixed(Number(y) + 4)}" text-anchor="end">${Math.round(ratio * 100)}%</text>`,
    );
  }
  return out.join('\n');
}

const POLL_TICKS_MS = [100, 250, 1000, 5000, 15_000, 60_000, 300_000, 3_600_000];

function pollAxis(frame: Frame): string {
  const out = [
    `<rect class="panel" x="${LEFT_PX}" y="${POLL_TOP_PX}" width="${PLOT_WIDTH_PX}" height="${POLL_HEIGHT_PX}"/>`,
  ];
  for (const tick of POLL_TICKS_MS.filter((ms) => ms <= frame.pollTopMs)) {
    const y = fixed(yOfPoll(frame, tick));
    const label = tick === POLL_FLOOR_MS ? '<=100ms' : formatDuration(tick);
    out.push(
      `<line class="grid" x1="${LEFT_PX}" x2="${LEFT_PX + PLOT_WIDTH_PX}" y1="${y}" y2="${y}"/>`,
      `<text class="tick" x="${LEFT_PX - 6}" y="${fixed(Number(y) + 4)}" text-anchor="end">${label}</text>`,
    );
  }
  return out.join('\n');
}

function timeAxis(frame: Frame): string {
  const step = timeStepMs(frame.spanMs);
  const out: string[] = [];
  for (let offset = 0; offset <= frame.spanMs; offset += step) {
    const x = fixed(xOf(frame, frame.startT + offset));
    out.push(
      `<line class="grid" x1="${x}" x2="${x}" y1="${RATIO_TOP_PX}" y2="${AXIS_TOP_PX}"/>`,
      `<text class="tick" x="${x}" y="${AXIS_TOP_PX + 16}" text-anchor="middle">${offset === 0 ? 'start' : `+${formatDuration(offset)}`}</text>`,
    );
  }
  return out.join('\n');
}

// ---- the document -----------------------------------------------------------------------------

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; }
.source, .notes { color: #555; margin: 0 0 8px; }
.summary { border-collapse: collapse; margin: 8px 0; }
.summary td, .summary th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
.grid { stroke: #000; stroke-opacity: 0.08; }
.threshold { stroke: #555; stroke-dasharray: 4 3; stroke-opacity: 0.6; }
.panel { fill: #f6f8fb; }
.ratio { fill: none; stroke: #1b2a49; stroke-width: 1.4; }
.poll { fill: none; stroke: #2a7f8f; stroke-width: 1.2; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 8px 0; }
.legend .key { cursor: pointer; user-select: none; }
.legend .key.off { opacity: 0.35; }
.legend svg { vertical-align: middle; }
`;

// Clicking a legend key hides or shows what its data-toggle selector names.
const SCRIPT = `
for (const key of document.querySelectorAll('.legend [data-toggle]')) {
  key.addEventListener('click', () => {
    const off = key.classList.toggle('off');
    for (const element of document.querySelectorAll(key.dataset.toggle)) {
      element.style.display = off ? 'none' : '';
    }
  });
}
`;

function swatch(inner: string): string {
  return `<svg width="18" height="14" viewBox="0 0 18 14">${inner}</svg>`;
}

function legend(thresholds: TimelineThresholds): string {
  const keys: string[] = [
    `<span class="key" data-toggle=".ratio">${swatch('<line x1="1" y1="7" x2="17" y2="7" stroke="#1b2a49" stroke-width="2"/>')} memory ratio (working set / limit)</span>`,
    `<span class="key" data-toggle=".poll">${swatch('<line x1="1" y1="7" x2="17" y2="7" stroke="#2a7f8f" stroke-width="2"/>')} next poll interval (log scale)</span>`,
  ];
  const names: Readonly<Record<TimelineAction, string>> = {
    compact: 'compact (tier 1)',
    clear: 'clear (tier 2)',
    'archive-terminate': 'archive and terminate (tier 3)',
    'stop-tool': 'stop the tool (counts as the tier it replaced)',
  };
  for (const action of ACTIONS) {
    keys.push(
      `<span class="key" data-toggle='[data-action="${action}"]'>${swatch(actionShape(action, 9, 7.5))} ${names[action]}</span>`,
    );
  }
  keys.push(
    `<span class="key" data-toggle=".result">${swatch(`<rect x="7" y="1" width="4" height="12" fill="${OUTCOME_COLOURS.ok}"/>`)} action result (ok; ${Object.keys(
      OUTCOME_COLOURS,
    )
      .filter((name) => name !== 'ok')
      .map((name) => `<span style="color:${outcomeColour(name)}">${name}</span>`)
      .join(', ')})</span>`,
    `<span class="key" data-toggle=".oom">${swatch(`<line x1="9" y1="1" x2="9" y2="13" stroke="${OOM_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/>`)} kernel OOM kill (the kernel won the race)</span>`,
    `<span class="key">${swatch('<rect x="1" y="1" width="16" height="12" fill="#fde2c8"/>')} threshold bands: compact ${percent(thresholds.compactAt)}, clear ${percent(thresholds.clearAt)}, terminate ${percent(thresholds.terminateAt)}</span>`,
  );
  return `<div class="legend" id="legend">${keys.join('\n')}</div>`;
}

interface Tally {
  readonly actions: Map<TimelineAction, number>;
  readonly outcomes: Map<string, number>;
  lastState: string;
  maxRatio: number;
  maxPollMs: number;
  endT: number;
}

function summaryTable(tally: Tally): string {
  const actionRow = ACTIONS.map(
    (action) => `<td>${action}: ${tally.actions.get(action) ?? 0}</td>`,
  ).join('');
  const outcomeRows = [...tally.outcomes]
    .map(([key, count]) => `<tr><td>${escapeHtml(key)}</td><td>${count}</td></tr>`)
    .join('');
  const results =
    outcomeRows === ''
      ? '<p class="notes">No action results in the input.</p>'
      : `<table class="summary results-table"><tr><th>result</th><th>count</th></tr>${outcomeRows}</table>`;
  return `<table class="summary"><tr><th>decisions</th>${actionRow}</tr></table>\n${results}`;
}

/** The buckets so far: a fixed number at most, each twice as wide whenever time outgrows them. */
interface Series {
  buckets: (Bucket | null)[];
  startT: number;
  bucketMs: number;
  pointCount: number;
  resultCount: number;
  oomKills: number;
  /** The starts the journal recorded, the first MAX_STARTS of them. */
  readonly starts: TimelineStart[];
  readonly tally: Tally;
  /** The latest stop-tool, until the first sample after its result has measured it. */
  pendingStop: StopMark | null;
}

const MAX_STARTS = 200;

/** The bucket for time t, widening the buckets until t fits. */
function bucketAt(series: Series, t: number): Bucket {
  if (Number.isNaN(series.startT)) series.startT = t;
  let index = Math.max(0, Math.floor((t - series.startT) / series.bucketMs));
  while (index >= MAX_BUCKETS) {
    const merged: (Bucket | null)[] = [];
    for (let i = 0; i < series.buckets.length; i += 2) {
      merged.push(mergeBuckets(series.buckets[i] ?? null, series.buckets[i + 1] ?? null));
    }
    series.buckets = merged;
    series.bucketMs *= 2;
    index = Math.floor((t - series.startT) / series.bucketMs);
  }
  let bucket = series.buckets[index];
  if (bucket === undefined || bucket === null) {
    while (series.buckets.length < index) series.buckets.push(null);
    bucket = emptyBucket();
    series.buckets[index] = bucket;
  }
  return bucket;
}

function addPoint(series: Series, point: TimelinePoint): void {
  const { t, ratio, nextPollMs, action } = point;
  // The CLI validates its input; a point the plot cannot place is left out, never a crash.
  if (!Number.isFinite(t) || !Number.isFinite(ratio) || !Number.isFinite(nextPollMs)) return;
  const { tally } = series;
  const bucket = bucketAt(series, t);
  if (bucket.ratio === null) bucket.ratio = extremesOf(t, ratio);
  else extend(bucket.ratio, t, ratio);
  if (bucket.poll === null) bucket.poll = extremesOf(t, nextPollMs);
  else extend(bucket.poll, t, nextPollMs);
  bucket.lastNextPollMs = nextPollMs;
  measureStop(series, point);
  if (action !== null) {
    const stop = stopMarkOf(point);
    if (stop !== undefined) series.pendingStop = stop;
    const mark = bucket.actions.get(action);
    if (mark !== undefined) mark.count++;
    else {
      const state = clip(point.state);
      const reason = clip(point.reason ?? '');
      bucket.actions.set(action, { count: 1, t, ratio, state, reason, ...(stop && { stop }) });
    }
    tally.actions.set(action, (tally.actions.get(action) ?? 0) + 1);
  }
  series.pointCount++;
  tally.lastState = clip(point.state);
  if (ratio > tally.maxRatio) tally.maxRatio = ratio;
  if (nextPollMs > tally.maxPollMs) tally.maxPollMs = nextPollMs;
  if (t > tally.endT) tally.endT = t;
}

/** A tool the plot can show; the builder takes any input without failing (the CLI checks it). */
function isTool(tool: TimelineTool | undefined): tool is TimelineTool {
  if (typeof tool !== 'object' || tool === null) return false;
  const { command, pid, bytes } = tool as Partial<Record<keyof TimelineTool, unknown>>;
  return typeof command === 'string' && Number.isFinite(pid) && Number.isFinite(bytes);
}

/** A stop-tool point's mark of its tool, or undefined for any other point. */
function stopMarkOf(point: TimelinePoint): StopMark | undefined {
  const { tool } = point;
  if (point.action !== 'stop-tool' || !isTool(tool)) return undefined;
  const shown = { command: clip(tool.command), pid: tool.pid, bytes: tool.bytes };
  return { tool: shown, ratio: point.ratio, resultSeen: false, freedBytes: null };
}

/** The first sample after a stop-tool's result measures what it freed (with a known limit). */
function measureStop(series: Series, point: TimelinePoint): void {
  const pending = series.pendingStop;
  if (pending === null || !pending.resultSeen) return;
  series.pendingStop = null;
  const limit = point.limit;
  if (limit === undefined || !Number.isFinite(limit)) return;
  pending.freedBytes = (pending.ratio - point.ratio) * limit;
}

/** The tooltip lines of a stop-tool marker. */
function stopText(stop: StopMark): string {
  const { command, pid, bytes } = stop.tool;
  const freed = stop.freedBytes === null ? 'not measured' : mibText(stop.freedBytes);
  return `\ntool: ${command} (pid ${pid}), ${mibText(bytes)}\nfreed: ${freed}`;
}

function addResult(series: Series, input: TimelineResult): void {
  if (!Number.isFinite(input.t)) return;
  if (input.action === 'stop-tool' && series.pendingStop !== null)
    series.pendingStop.resultSeen = true;
  const { tally } = series;
  const result: TimelineResult = {
    ...input,
    action: clip(input.action),
    outcome: clip(input.outcome),
    detail: input.detail === null ? null : clip(input.detail),
  };
  const bucket = bucketAt(series, result.t);
  if (bucket.results === null) {
    bucket.results = { byOutcome: new Map([[result.outcome, 1]]), first: result };
  } else {
    const counts = bucket.results.byOutcome;
    counts.set(result.outcome, (counts.get(result.outcome) ?? 0) + 1);
  }
  let key = `${result.action}: ${result.outcome}`;
  if (!tally.outcomes.has(key) && tally.outcomes.size >= MAX_OUTCOME_ROWS) key = 'other';
  tally.outcomes.set(key, (tally.outcomes.get(key) ?? 0) + 1);
  series.resultCount++;
  if (result.t > tally.endT) tally.endT = result.t;
}

function addOom(series: Series, input: TimelineOom): void {
  if (!Number.isFinite(input.t)) return;
  const oom: TimelineOom = { ...input, state: clip(input.state) };
  const bucket = bucketAt(series, oom.t);
  if (bucket.ooms === null) bucket.ooms = { count: oom.kills, first: oom };
  else bucket.ooms.count += oom.kills;
  series.oomKills += oom.kills;
  if (oom.t > series.tally.endT) series.tally.endT = oom.t;
}

function addStart(series: Series, start: TimelineStart): void {
  if (!Number.isFinite(start.t) || series.starts.length >= MAX_STARTS) return;
  series.starts.push({ ...start, limitSource: clip(start.limitSource) });
  if (start.t > series.tally.endT) series.tally.endT = start.t;
}

/** The plot's scales: time from the first sample, ratio up to the highest seen, poll on a log scale. */
function frameOf(series: Series): Frame {
  const { startT, tally } = series;
  return {
    startT: Number.isNaN(startT) ? 0 : startT,
    spanMs: Number.isNaN(startT) ? 1000 : Math.max(tally.endT - startT, 1000),
    ratioTop: Math.max(1, Math.ceil(tally.maxRatio * 10) / 10),
    pollTopMs: Math.max(
      1000,
      POLL_TICKS_MS.find((tick) => tick >= tally.maxPollMs) ?? tally.maxPollMs,
    ),
  };
}

function plotSvg(series: Series, frame: Frame, thresholds: TimelineThresholds): string {
  const present = series.buckets.filter((bucket): bucket is Bucket => bucket !== null);
  const x = (t: number): number => xOf(frame, t);
  const ratioPath = curvePath(
    present,
    (b) => b.ratio,
    x,
    (r) => yOfRatio(frame, r),
  );
  const pollPath = curvePath(
    present,
    (b) => b.poll,
    x,
    (ms) => yOfPoll(frame, ms),
  );
  return [
    `<svg class="timeline" width="${SVG_WIDTH_PX}" height="${SVG_HEIGHT_PX}" viewBox="0 0 ${SVG_WIDTH_PX} ${SVG_HEIGHT_PX}" role="img" aria-label="memory ratio, polling interval and actions over time">`,
    bands(frame, thresholds),
    ratioAxis(frame),
    pollAxis(frame),
    timeAxis(frame),
    `<text x="${LEFT_PX + PLOT_WIDTH_PX + 8}" y="${RESULTS_TOP_PX + 12}">action results</text>`,
    `<text x="${LEFT_PX + PLOT_WIDTH_PX + 8}" y="${POLL_TOP_PX + 12}">next poll in</text>`,
    `<path class="ratio" d="${ratioPath}"/>`,
    `<path class="poll" d="${pollPath}"/>`,
    resultMarkers(frame, present),
    actionMarkers(frame, present),
    oomMarkers(frame, present),
    gapBands(frame, present),
    startMarkers(frame, series.starts),
    '</svg>',
  ].join('\n');
}

/** The limit memgov governed against (from its last start) and how often it restarted. */
function limitFacts(starts: readonly TimelineStart[]): string[] {
  const last = starts.at(-1);
  if (last === undefined) return [];
  const restarts = starts.length - 1;
  return [
    `Limit ${mibText(last.limitBytes)} (${last.limitSource})${restarts > 0 ? `; memgov restarted ${restarts} time(s) (grey lines)` : ''}.`,
  ];
}

function renderPage(series: Series, meta: TimelineMeta): string {
  const { tally } = series;
  const frame = frameOf(series);
  const range = Number.isNaN(series.startT)
    ? 'no samples'
    : `${formatTime(frame.startT)} to ${formatTime(tally.endT)} (${formatDuration(tally.endT - frame.startT)})`;
  const facts = [
    `${series.pointCount} decisions, ${series.resultCount} action results, ${range}.`,
    `Highest ratio ${percent(tally.maxRatio)}; last state: ${tally.lastState || 'none'}.`,
    ...limitFacts(series.starts),
    ...(series.oomKills > 0
      ? [`${series.oomKills} kernel OOM kill(s): the kernel won the race.`]
      : []),
    ...(meta.notes ?? []),
  ];
  const title = escapeHtml(clip(meta.title, HEADER_CHARS));
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may be fetched: the file must open the same offline, in a pod, years later.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">`,
    `<title>${title}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${title}</h1>`,
    `<p class="source">${escapeHtml(clip(meta.source, HEADER_CHARS))}</p>`,
    ...facts.map((fact) => `<p class="notes">${escapeHtml(clip(fact, HEADER_CHARS))}</p>`),
    legend(meta.thresholds),
    plotSvg(series, frame, meta.thresholds),
    summaryTable(tally),
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export function createTimelineBuilder(): TimelineBuilder {
  const series: Series = {
    buckets: [],
    startT: Number.NaN,
    bucketMs: 1,
    pointCount: 0,
    resultCount: 0,
    oomKills: 0,
    starts: [],
    tally: {
      actions: new Map(),
      outcomes: new Map(),
      lastState: '',
      maxRatio: 0,
      maxPollMs: 0,
      endT: Number.NEGATIVE_INFINITY,
    },
    pendingStop: null,
  };
  return {
    get pointCount() {
      return series.pointCount;
    },
    get resultCount() {
      return series.resultCount;
    },
    addPoint: (point) => addPoint(series, point),
    addResult: (result) => addResult(series, result),
    addOom: (oom) => addOom(series, oom),
    addStart: (start) => addStart(series, start),
    render: (meta) => renderPage(series, meta),
  };
}

/** The timeline of a whole series in one call. */
export function renderTimeline(
  points: Iterable<TimelinePoint>,
  results: Iterable<TimelineResult>,
  meta: TimelineMeta,
): string {
  const builder = createTimelineBuilder();
  for (const point of points) builder.addPoint(point);
  for (const result of results) builder.addResult(result);
  return builder.render(meta);
}

// Load (issue 6, point 5): memgov under long and rapid oscillation around every threshold.
//
// (a) replay: a 7-day trace at 100 ms (6,048,000 lines, BENCH_LOAD_DAYS / BENCH_LOAD_STEP_MS)
//     through `node dist/memgov.mjs replay --json`, timed and measured by /usr/bin/time (peak
//     RSS), twice: stdout to a file, then to a pipe. Its output is checked, action by action, against an independent reading of docs/DESIGN.md#the-policy
//     section 3 rules (cooldowns: one compact per compact window, one clear per compact, tier 3
//     only when re-armed), and the action counts are set against what those rules allow.
// (b) daemon: `node dist/memgov.mjs run --cgroup DIR` for 20 minutes (BENCH_LOAD_DAEMON_MS) on a
//     cgroup v1 fixture tree the bench rewrites every 100 ms (by rename, as the kernel's files are
//     never seen half-written) with the same oscillating curve, time-compressed. memgov's own
//     VmRSS / RssAnon is read every 10 s: start vs end and the least-squares slope (a leak shows
//     as a steady climb after warm-up); every decision (debug log) is checked by the same rules.
//
// Run: npm run build && node --import tsx bench/load.bench.ts
//   BENCH_LOAD_PART=replay|daemon|both (default both), BENCH_QUICK=1 (1 day, 2 minutes).
// Prints Markdown for docs/RELIABILITY.md (Load); raw figures go to .bench-tmp/load-*.json.
import { spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  createReadStream,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { DEFAULT_POLICY, type PolicyConfig } from '../machines/config.ts';
import {
  benchTmpDir,
  buildLine,
  bundlePath,
  busyness,
  installCleanup,
  machineLine,
  memgovEnv,
  quick,
  removeScratchDir,
  scratchDir,
  sleep,
  startTracked,
  stopTracked,
} from './support.ts';

const DAY_MS = 24 * 3_600_000;
const DAYS = Number(process.env.BENCH_LOAD_DAYS ?? (quick ? 1 : 7));
const STEP_MS = Number(process.env.BENCH_LOAD_STEP_MS ?? 100);
const DAEMON_MS = Number(process.env.BENCH_LOAD_DAEMON_MS ?? (quick ? 120_000 : 1_200_000));
const PART = process.env.BENCH_LOAD_PART ?? 'both';
/** Polls every N ms instead of the DEFAULT policy's (more decisions a minute: a leak shows sooner). */
const POLL_MS =
  process.env.BENCH_LOAD_POLL_MS === undefined ? null : Number(process.env.BENCH_LOAD_POLL_MS);
/** BENCH_LOAD_HEAP=1: heap snapshots after warm-up and at the end; live heap and what grew. */
const HEAP_SNAPSHOTS = process.env.BENCH_LOAD_HEAP === '1';
const REWRITE_MS = 100;
const RSS_EVERY_MS = 10_000;
/** RSS before this is start-up and JIT warm-up, not a leak: the slope is fitted after it. */
const WARMUP_MS = Math.min(120_000, DAEMON_MS / 4);
const LIMIT_BYTES = 4 * 1024 ** 3;
const T0_MS = 1_764_000_000_000;
const FIXTURE = new URL('../test/fixtures/cgroup/v1-limited/', import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// The curve: a cycle of bands, each a fast sine (2 s period, +-3%) around one threshold, plus a
// "wild" band swinging 0.60 <-> 0.95 (every swing re-arms tier 3) and a calm band at 0.50.

interface Band {
  readonly name: string;
  readonly centre: number;
  readonly amplitude: number;
  readonly periodMs: number;
  /** Share of the cycle. */
  readonly share: number;
}

const BANDS: readonly Band[] = [
  { name: 'compactAt 0.70', centre: 0.7, amplitude: 0.03, periodMs: 2_000, share: 0.25 },
  { name: 'fastPollAt 0.80', centre: 0.8, amplitude: 0.03, periodMs: 2_000, share: 0.125 },
  { name: 'clearAt 0.85', centre: 0.85, amplitude: 0.03, periodMs: 2_000, share: 0.1875 },
  { name: 'terminateAt 0.90', centre: 0.9, amplitude: 0.03, periodMs: 2_000, share: 0.1875 },
  { name: 'wild 0.60-0.95', centre: 0.775, amplitude: 0.175, periodMs: 10_000, share: 0.125 },
  { name: 'calm 0.50', centre: 0.5, amplitude: 0.02, periodMs: 2_000, share: 0.125 },
];

/** The working-set ratio at `elapsedMs` into a curve whose cycle lasts `cycleMs`. */
function ratioAt(elapsedMs: number, cycleMs: number, noise: number): number {
  let phase = (elapsedMs % cycleMs) / cycleMs;
  let band = BANDS[BANDS.length - 1] as Band;
  for (const candidate of BANDS) {
    if (phase < candidate.share) {
      band = candidate;
      break;
    }
    phase -= candidate.share;
  }
  const wave = Math.sin((2 * Math.PI * elapsedMs) / band.periodMs);
  return Math.max(0.01, band.centre + band.amplitude * wave + noise);
}

/** Deterministic noise (an LCG), so a trace is the same file every run. */
function noiseSource(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return (state / 2_147_483_648 - 0.5) * 0.01;
  };
}

// ---------------------------------------------------------------------------------------------
// The rules, read independently of machines/policy.ts: every action must be one they allow.

interface Seen {
  readonly t: number;
  readonly ratio: number;
  readonly action: string | null;
}

interface Verdict {
  samples: number;
  readonly actions: Record<string, number>;
  readonly violations: string[];
  /** Times tier 3 was re-armed (a ratio below compactAt after it fired). */
  rearms: number;
  /** Most actions of any kind decided within one compact window. */
  maxActionsPerWindow: number;
  firstT: number;
  lastT: number;
}

function createChecker(policy: PolicyConfig) {
  const verdict: Verdict = {
    samples: 0,
    actions: { compact: 0, clear: 0, 'archive-terminate': 0 },
    violations: [],
    rearms: 0,
    maxActionsPerWindow: 0,
    firstT: Number.NaN,
    lastT: Number.NaN,
  };
  let lastCompact: { t: number; ratio: number } | null = null;
  let clearedSinceCompact = false;
  let armed = true;
  const recent: number[] = [];
  const violation = (seen: Seen, why: string): void => {
    if (verdict.violations.length < 20)
      verdict.violations.push(`t=${seen.t} ratio=${seen.ratio.toFixed(4)} ${seen.action}: ${why}`);
  };
  return {
    verdict,
    see(seen: Seen): void {
      verdict.samples++;
      if (Number.isNaN(verdict.firstT)) verdict.firstT = seen.t;
      verdict.lastT = seen.t;
      const inWindow = lastCompact !== null && seen.t - lastCompact.t < policy.compactWindowMs;
      if (seen.action !== null) {
        verdict.actions[seen.action] = (verdict.actions[seen.action] ?? 0) + 1;
        recent.push(seen.t);
        while ((recent[0] as number) <= seen.t - policy.compactWindowMs) recent.shift();
        verdict.maxActionsPerWindow = Math.max(verdict.maxActionsPerWindow, recent.length);
      }
      if (seen.action === 'compact') {
        if (seen.ratio < policy.compactAt) violation(seen, 'below compactAt');
        if (inWindow) violation(seen, `a compact ${seen.t - (lastCompact?.t ?? 0)} ms earlier`);
        lastCompact = { t: seen.t, ratio: seen.ratio };
        clearedSinceCompact = false;
      } else if (seen.action === 'clear') {
        if (seen.ratio < policy.clearAt) violation(seen, 'below clearAt');
        if (!inWindow) violation(seen, 'no compact within the window');
        if (clearedSinceCompact) violation(seen, 'a second clear since the compact');
        if (lastCompact !== null && seen.ratio <= lastCompact.ratio)
          violation(seen, 'not climbing since the compact');
        clearedSinceCompact = true;
      } else if (seen.action === 'archive-terminate') {
        if (seen.ratio < policy.terminateAt) violation(seen, 'below terminateAt');
        if (!inWindow) violation(seen, 'no compact within the window');
        if (!armed) violation(seen, 'tier 3 not re-armed since it last fired');
        armed = false;
      }
      if (seen.ratio < policy.compactAt && !armed) {
        armed = true;
        verdict.rearms++;
      }
    },
  };
}

/** What the rules allow at most over `durationMs`, whatever the curve. */
function allowedBounds(verdict: Verdict, policy: PolicyConfig) {
  const durationMs = verdict.lastT - verdict.firstT;
  const compacts = Math.floor(durationMs / policy.compactWindowMs) + 1;
  return { compacts, clears: compacts, terminates: verdict.rearms + 1 };
}

function verdictRows(label: string, verdict: Verdict, policy: PolicyConfig): string[] {
  const bound = allowedBounds(verdict, policy);
  const a = verdict.actions;
  return [
    `| ${label} | ${verdict.samples.toLocaleString('en-US')} | ${a.compact} (<= ${bound.compacts}) | ${a.clear} (<= ${bound.clears}) | ${a['archive-terminate']} (<= ${bound.terminates}) | ${verdict.rearms} | ${verdict.maxActionsPerWindow} | ${verdict.violations.length === 0 ? 'none' : verdict.violations.join('; ')} |`,
  ];
}

const VERDICT_HEADER = [
  '| run | samples decided | compacts (allowed) | clears (allowed) | archive-terminates (allowed: re-arms + 1) | tier-3 re-arms | most actions in one compact window | rule violations |',
  '|---|---:|---:|---:|---:|---:|---:|---|',
];

// ---------------------------------------------------------------------------------------------
// (a) replay of a week

function writeTrace(path: string): number {
  const lines = Math.round((DAYS * DAY_MS) / STEP_MS);
  const noise = noiseSource(7);
  const fd = openSync(path, 'w');
  const batch: string[] = [];
  // A cycle of 40 minutes: each band lasts 5-10 minutes, longer than the compact window.
  const cycleMs = 40 * 60_000;
  try {
    for (let i = 0; i < lines; i++) {
      const elapsedMs = i * STEP_MS;
      const inactiveFile = Math.round((0.02 + noise()) * LIMIT_BYTES);
      const used = Math.round(ratioAt(elapsedMs, cycleMs, noise()) * LIMIT_BYTES);
      batch.push(
        `{"t":${T0_MS + elapsedMs},"current":${used + inactiveFile},"inactiveFile":${inactiveFile},"limit":${LIMIT_BYTES}}`,
      );
      if (batch.length === 10_000) {
        writeSync(fd, `${batch.join('\n')}\n`);
        batch.length = 0;
      }
    }
    if (batch.length > 0) writeSync(fd, `${batch.join('\n')}\n`);
  } finally {
    closeSync(fd);
  }
  return lines;
}

interface Timed {
  readonly wallMs: number;
  readonly peakKiB: number;
}

/**
 * `memgov replay TRACE --json` under /usr/bin/time, its stdout to `stdout`: a file descriptor, or
 * 'pipe' to hand each line to `onLine` as it comes.
 */
async function timedReplay(
  trace: string,
  stdout: number | 'pipe',
  onLine: (line: string) => void,
): Promise<Timed> {
  const started = process.hrtime.bigint();
  const timeFormat = 'memgov-time maxrss_kib=%M elapsed_s=%e';
  const child = spawn(
    '/usr/bin/time',
    ['-f', timeFormat, process.execPath, bundlePath, 'replay', trace, '--json'],
    { stdio: ['ignore', stdout, 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (child.stdout !== null)
    for await (const line of createInterface({ input: child.stdout })) onLine(line);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`replay exited ${code}: ${stderr.slice(-2000)}`);
  return {
    wallMs: Number(process.hrtime.bigint() - started) / 1e6,
    peakKiB: Number(/maxrss_kib=(\d+)/.exec(stderr)?.[1] ?? Number.NaN),
  };
}

async function replayWeek(): Promise<Record<string, unknown>> {
  const scratch = scratchDir('load-replay');
  const trace = `${scratch}/trace.jsonl`;
  const writeStart = Date.now();
  const lines = writeTrace(trace);
  const traceBytes = statSync(trace).size;
  console.error(
    `trace: ${lines} lines, ${(traceBytes / 1024 ** 2).toFixed(0)} MiB, written in ${Date.now() - writeStart} ms`,
  );
  // To a file first, then to a pipe (| jq, | grep): the replay writes stdout synchronously and
  // waits for a slow pipe, so both should peak alike (a queue in memory once reached 680 MiB).
  const outPath = `${scratch}/out.jsonl`;
  const outFd = openSync(outPath, 'w');
  const toFile = await timedReplay(trace, outFd, () => undefined).finally(() => closeSync(outFd));
  let pipedLines = 0;
  const toPipe = await timedReplay(trace, 'pipe', () => pipedLines++);
  const checker = createChecker(DEFAULT_POLICY);
  let badLines = 0;
  for await (const line of createInterface({ input: createReadStream(outPath) })) {
    try {
      const row = JSON.parse(line) as { t: number; ratio: number; action: string | null };
      checker.see({ t: row.t, ratio: row.ratio, action: row.action });
    } catch {
      badLines++;
    }
  }
  removeScratchDir(scratch);
  const verdict = checker.verdict;
  const result = {
    days: DAYS,
    stepMs: STEP_MS,
    traceLines: lines,
    traceBytes,
    toFile,
    toPipe,
    pipedLines,
    linesPerSec: lines / (toFile.wallMs / 1000),
    seenPerSec: verdict.samples / (toFile.wallMs / 1000),
    badLines,
    verdict,
    bounds: allowedBounds(verdict, DEFAULT_POLICY),
  };
  const count = (n: number): string => Math.round(n).toLocaleString('en-US');
  const row = (label: string, timed: Timed, seen: number): string =>
    `| ${label} | ${count(lines)} | ${count(seen)} | ${(timed.wallMs / 1000).toFixed(1)} | ${count(lines / (timed.wallMs / 1000))} | ${count(seen / (timed.wallMs / 1000))} | ${(timed.peakKiB / 1024).toFixed(1)} |`;
  console.log(
    [
      `### (a) replay: ${DAYS} day(s) at ${STEP_MS} ms`,
      '',
      `\`node dist/memgov.mjs replay TRACE --json\` (DEFAULT policy) on ${count(lines)} lines (${(traceBytes / 1024 ** 2).toFixed(0)} MiB), under /usr/bin/time`,
      '',
      '| stdout | trace lines | samples seen | wall s | trace lines/s | seen samples/s | peak RSS (maxrss) MiB |',
      '|---|---:|---:|---:|---:|---:|---:|',
      row('a file', toFile, verdict.samples),
      row('a pipe', toPipe, pipedLines),
      '',
      `Output lines that were not JSON: ${badLines}.`,
      '',
      ...VERDICT_HEADER,
      ...verdictRows('replay', verdict, DEFAULT_POLICY),
      '',
    ].join('\n'),
  );
  return result;
}

// ---------------------------------------------------------------------------------------------
// (b) the daemon for 20 minutes

interface RssPoint {
  readonly atMs: number;
  readonly rssKiB: number;
  readonly anonKiB: number;
}

function statusKiB(pid: number): RssPoint | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const fields = new Map(
    text.split('\n').map((line) => {
      const [key = '', value = ''] = line.split(':');
      return [key, Number.parseInt(value.trim(), 10)] as const;
    }),
  );
  const rssKiB = fields.get('VmRSS');
  const anonKiB = fields.get('RssAnon');
  return rssKiB === undefined || anonKiB === undefined
    ? null
    : { atMs: Date.now(), rssKiB, anonKiB };
}

/** Least-squares slope in KiB per minute. */
function slopeKiBPerMin(points: readonly RssPoint[], pick: (p: RssPoint) => number): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const xs = points.map((p) => p.atMs / 60_000);
  const ys = points.map(pick);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return num / den;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** DEFAULT thresholds and window, every interval `pollMs`. */
function fastPolicy(pollMs: number): PolicyConfig {
  return {
    ...DEFAULT_POLICY,
    relaxedPollMs: pollMs,
    fastPollMs: pollMs,
    minPollMs: pollMs,
    urgentPollMs: pollMs,
  };
}

interface HeapSummary {
  readonly atMs: number;
  readonly liveBytes: number;
  /** Live bytes per `type:constructor`, the largest first. */
  readonly byKind: Record<string, number>;
}

/** SIGUSR2 makes the daemon write a snapshot (a full GC first): its live heap, by kind. */
async function heapSnapshot(pid: number, dir: string, atMs: number): Promise<HeapSummary> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let file = '';
  for (let waited = 0; waited < 60_000 && file === ''; waited += 200) {
    await sleep(200);
    file =
      readdirSync(dir).find((name) => !before.has(name) && name.endsWith('.heapsnapshot')) ?? '';
  }
  // The file is complete once its size stops changing.
  for (let size = -1; ; await sleep(500)) {
    const now = statSync(`${dir}/${file}`).size;
    if (now === size) break;
    size = now;
  }
  const snapshot = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  rmSync(`${dir}/${file}`);
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const byKind: Record<string, number> = {};
  let liveBytes = 0;
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const size = snapshot.nodes[i + sizeAt] as number;
    const type = types[snapshot.nodes[i + typeAt] as number] ?? '?';
    const name =
      type === 'object' ? (snapshot.strings[snapshot.nodes[i + nameAt] as number] ?? '?') : '';
    const kind = `${type}:${name}`;
    byKind[kind] = (byKind[kind] ?? 0) + size;
    liveBytes += size;
  }
  return { atMs, liveBytes, byKind };
}

function heapLines(heaps: readonly HeapSummary[]): string[] {
  const [first, last] = [heaps[0], heaps[heaps.length - 1]];
  if (first === undefined || last === undefined || first === last) return [];
  const grew = Object.entries(last.byKind)
    .map(([kind, bytes]) => [kind, bytes - (first.byKind[kind] ?? 0)] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8);
  const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
  return [
    '',
    `Live heap (heap snapshot, after a full GC): ${kib(first.liveBytes)} KiB at ${(first.atMs / 60_000).toFixed(1)} min, ${kib(last.liveBytes)} KiB at ${(last.atMs / 60_000).toFixed(1)} min. Grew most: ${grew.map(([kind, bytes]) => `${kind} +${kib(bytes)} KiB`).join(', ')}`,
  ];
}

/** Replaces a file whole (temp + rename): a reader sees the old or the new text, never half. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function daemonRun(): Promise<Record<string, unknown>> {
  const scratch = scratchDir('load-daemon');
  const cgroup = `${scratch}/cgroup`;
  cpSync(FIXTURE, cgroup, { recursive: true });
  replaceFile(`${cgroup}/memory.limit_in_bytes`, `${LIMIT_BYTES}\n`);
  const usageFile = `${cgroup}/memory.usage_in_bytes`;
  // Five cycles in 20 minutes (each band 30-60 s, several compact windows over the run).
  const cycleMs = Math.max(60_000, DAEMON_MS / 5);
  const noise = noiseSource(11);
  const started = Date.now();
  const writeUsage = (): void =>
    replaceFile(
      usageFile,
      `${Math.round(ratioAt(Date.now() - started, cycleMs, noise()) * LIMIT_BYTES)}\n`,
    );
  writeUsage();
  // Every decision is logged (debug), so the checker sees each ratio, re-arms included.
  const logFlags = ['--log-format', 'json', '--log-level', 'debug'];
  const runArgs = ['run', '--cgroup', cgroup, '--state-file', `${scratch}/state`, ...logFlags];
  const policy = POLL_MS === null ? DEFAULT_POLICY : fastPolicy(POLL_MS);
  if (POLL_MS !== null) {
    writeFileSync(`${scratch}/memgov.json`, JSON.stringify(fastPolicy(POLL_MS)));
    runArgs.push('--config', `${scratch}/memgov.json`);
  }
  const heapDir = `${scratch}/heap`;
  mkdirSync(heapDir);
  const nodeFlags = HEAP_SNAPSHOTS
    ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`]
    : [];
  const daemon = startTracked(process.execPath, [...nodeFlags, bundlePath, ...runArgs], {
    env: memgovEnv(scratch),
  });
  const rewriter = setInterval(writeUsage, REWRITE_MS);
  // RSS is counted from the daemon's first log line on, not from the bare exec.
  await daemon.waitFor(
    (line) => (line.includes('"memgov started"') ? true : null),
    Date.now() + 10_000,
  );
  const rss: RssPoint[] = [];
  const startTicks = cpuTicks(daemon.pid);
  const sampleRss = (): void => {
    const point = statusKiB(daemon.pid);
    if (point !== null) rss.push({ ...point, atMs: point.atMs - started });
  };
  const rssTimer = setInterval(sampleRss, RSS_EVERY_MS);
  sampleRss();
  let exitedEarly = false;
  void daemon.exited.then(() => (exitedEarly = true));
  const heaps: HeapSummary[] = [];
  while (Date.now() - started < DAEMON_MS && !exitedEarly) {
    await sleep(1_000);
    const elapsedMs = Date.now() - started;
    if (HEAP_SNAPSHOTS && heaps.length === 0 && elapsedMs >= WARMUP_MS)
      heaps.push(await heapSnapshot(daemon.pid, heapDir, elapsedMs));
    if ((Date.now() - started) % 60_000 < 1_000)
      console.error(`daemon load: ${Math.round((Date.now() - started) / 60_000)} min`);
  }
  if (HEAP_SNAPSHOTS && !exitedEarly)
    heaps.push(await heapSnapshot(daemon.pid, heapDir, Date.now() - started));
  clearInterval(rewriter);
  clearInterval(rssTimer);
  sampleRss();
  const diedEarly = exitedEarly;
  const endTicks = diedEarly ? Number.NaN : cpuTicks(daemon.pid);
  await stopTracked(daemon);
  removeScratchDir(scratch);
  if (diedEarly) {
    const tail = daemon.lines.slice(-5).map((l) => l.text);
    throw new Error(`the daemon exited early: ${daemon.stderr.slice(-2000)}\n${tail.join('\n')}`);
  }

  const checker = createChecker(policy);
  const levels: Record<string, number> = {};
  const messages: Record<string, number> = {};
  for (const { text } of daemon.lines) {
    if (!text.startsWith('{')) continue;
    const record = JSON.parse(text) as Record<string, unknown>;
    const level = String(record.level);
    levels[level] = (levels[level] ?? 0) + 1;
    const message = String(record.message);
    messages[message] = (messages[message] ?? 0) + 1;
    if (message !== 'decision') continue;
    const usedBytes = Number(record.usedBytes);
    const limitBytes = Number(record.limitBytes);
    checker.see({
      t: Number(record.t),
      ratio: usedBytes / limitBytes,
      action: typeof record.action === 'string' ? record.action : null,
    });
  }
  const afterWarmup = rss.filter((p) => p.atMs >= WARMUP_MS);
  const first = afterWarmup[0];
  const last = rss[rss.length - 1];
  const result = {
    durationMs: DAEMON_MS,
    cycleMs,
    rss,
    firstAfterWarmup: first,
    last,
    slopeRssKiBPerMin: slopeKiBPerMin(afterWarmup, (p) => p.rssKiB),
    slopeAnonKiBPerMin: slopeKiBPerMin(afterWarmup, (p) => p.anonKiB),
    cpuPct: ((endTicks - startTicks) / 100 / (DAEMON_MS / 1000)) * 100,
    levels,
    messages,
    verdict: checker.verdict,
    bounds: allowedBounds(checker.verdict, policy),
    pollMs: POLL_MS,
    heaps,
  };
  const mib = (kib: number | undefined): string =>
    kib === undefined ? '-' : (kib / 1024).toFixed(1);
  console.log(
    [
      `### (b) daemon: ${(DAEMON_MS / 60_000).toFixed(1)} minutes of oscillation, fixture rewritten every ${REWRITE_MS} ms`,
      '',
      `\`node dist/memgov.mjs run --cgroup DIR --log-format json --log-level debug\` (${POLL_MS === null ? 'DEFAULT policy' : `every poll ${POLL_MS} ms`}, no agent); cycle ${cycleMs / 1000} s over bands ${BANDS.map((b) => b.name).join(', ')}`,
      '',
      '| RSS MiB at start / after warm-up / end | RssAnon MiB at start / after warm-up / end | RSS slope after warm-up KiB/min | RssAnon slope after warm-up KiB/min | CPU % of a core | log records by level | read failures |',
      '|---|---|---:|---:|---:|---|---:|',
      `| ${mib(rss[0]?.rssKiB)} / ${mib(first?.rssKiB)} / ${mib(last?.rssKiB)} | ${mib(rss[0]?.anonKiB)} / ${mib(first?.anonKiB)} / ${mib(last?.anonKiB)} | ${result.slopeRssKiBPerMin.toFixed(1)} | ${result.slopeAnonKiBPerMin.toFixed(1)} | ${result.cpuPct.toFixed(3)} | ${JSON.stringify(levels)} | ${messages['cgroup read failed'] ?? 0} |`,
      '',
      ...VERDICT_HEADER,
      ...verdictRows('daemon', checker.verdict, policy),
      ...heapLines(heaps),
      '',
      `RssAnon every ${RSS_EVERY_MS / 1000} s (MiB): ${rss.map((p) => mib(p.anonKiB)).join(' ')}`,
      '',
    ].join('\n'),
  );
  return result;
}

async function main(): Promise<void> {
  installCleanup();
  console.log(`load benchmark${quick ? ' (BENCH_QUICK=1)' : ''}: ${machineLine()}`);
  console.log(`${buildLine()}`);
  console.log(`busy before: ${busyness()}\n`);
  const results: Record<string, unknown> = {};
  if (PART !== 'daemon') results.replay = await replayWeek();
  if (PART !== 'replay') results.daemon = await daemonRun();
  console.log(`busy after: ${busyness()}`);
  mkdirSync(benchTmpDir, { recursive: true });
  const out = `${benchTmpDir}load-${new Date().toISOString().replace(/:/g, '-')}.json`;
  writeFileSync(out, JSON.stringify(results, null, 1));
  console.log(`raw figures: ${out}`);
  const failed = Object.values(results).some(
    (r) => ((r as { verdict: Verdict }).verdict.violations.length ?? 0) > 0,
  );
  if (failed) process.exitCode = 1;
}

await main();

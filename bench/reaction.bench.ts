// Reaction time (docs/DESIGN.md#targets: an action dispatched within 1 s of the threshold crossing for
// growth up to 200 MiB/s), memgov side by side with the seed's 60 s / 15 s loop, in the same run.
//
// One trial: a fresh child cgroup (1 GiB limit, so compactAt 0.70 is 716.8 MiB) holding a
// synthetic agent that sits still at its start size; the bundled daemon (DEFAULT policy, fresh
// state file) and, in the first trials of each rate, the bash baseline both watch that cgroup.
// Once each has taken its first sample the bench waits a random phase (uniform over the baseline's
// 60 s interval when it takes part, else over memgov's current interval), then types /clear to the
// agent, which makes it grow at the rate under test. The bench polls the cgroup itself every
// 10 ms and takes the crossing of 70% (interpolated between the last poll below and the first at
// or above it). Reaction = the governor's compact decision time (memgov's log record `t`, the
// baseline's printed t_ms: both are the wall-clock time of the sample that decided) minus the
// crossing. The agent is capped below the limit so nothing OOMs; "before the limit" says whether
// the dispatch came before the moment the limit would have been reached at that rate.
//
// The three rates run as parallel lanes (each lane's trials in sequence) so the baseline's 60 s
// polls fit in about 10 minutes. Run: npm run bench (after the build), or
// node --import tsx bench/reaction.bench.ts; BENCH_QUICK=1 for a ~2 minute version.
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  MiB,
  baseline as previousBundle,
  benchTmpDir,
  buildLine,
  bundlePath,
  busyness,
  createBenchCgroup,
  installCleanup,
  machineLine,
  memgovEnv,
  quick,
  random,
  readWorkingSet,
  removeBenchCgroup,
  removeScratchDir,
  scratchDir,
  seedGovernorPath,
  sleep,
  startTracked,
  stopTracked,
  summarize,
  type Tracked,
  type WorkingSet,
} from './support.ts';
import {
  SEED_RELAXED_MS,
  compactBy,
  crossingOf,
  memgovDecision,
  reactionMs,
  seedDecision,
  CAP_MIB,
  COMPACT_AT,
  LIMIT_BYTES,
  POLL_MS,
  type Crossing,
  type Decision,
} from './reaction-measure.ts';

/** memgov gets this long after the crossing before a trial counts it as missed. */
const MEMGOV_DEADLINE_MS = 30_000;

interface Lane {
  readonly rateMiBPerSec: number;
  /**
   * Held before growth starts. 128 MiB puts memgov in its headroom-shortened relaxed interval
   * (~2.7 s) when the burst starts; the 10 MiB/s lane starts at 560 MiB so a trial takes ~12 s
   * instead of a minute (near the threshold memgov polls at its 1 s floor either way).
   */
  readonly startMiB: number;
}

const ALL_LANES: readonly Lane[] = [
  { rateMiBPerSec: 10, startMiB: 560 },
  { rateMiBPerSec: 50, startMiB: 128 },
  { rateMiBPerSec: 200, startMiB: 128 },
  // 70% to the limit in 0.61 s: the live case that the kernel won (docs/BENCHMARKS.md).
  { rateMiBPerSec: 500, startMiB: 128 },
];
/** BENCH_REACTION_RATES=200,500 runs only those lanes; default all. */
const RATES = process.env.BENCH_REACTION_RATES?.split(',').map(Number) ?? null;
const LANES = ALL_LANES.filter((lane) => RATES === null || RATES.includes(lane.rateMiBPerSec));
const MEMGOV_TRIALS = Number(process.env.BENCH_REACTION_TRIALS ?? (quick ? 2 : 5));
const BASELINE_TRIALS = Number(process.env.BENCH_BASELINE_TRIALS ?? (quick ? 1 : 3));

function latestNextPollMs(tracked: Tracked): number {
  for (let i = tracked.lines.length - 1; i >= 0; i--) {
    const decision = memgovDecision(tracked.lines[i]?.text ?? '');
    if (decision !== null) return decision.nextPollMs;
  }
  return 1_000;
}

// ---------------------------------------------------------------------------------------------
// The bench's own 10 ms poll of each cgroup under test.

interface CrossingWatch {
  readonly dir: string;
  readonly history: WorkingSet[];
  readonly resolve: (crossing: Crossing) => void;
}

const watches = new Set<CrossingWatch>();
let pollTimer: NodeJS.Timeout | undefined;

function pollAll(): void {
  for (const watch of watches) {
    let reading: WorkingSet;
    try {
      reading = readWorkingSet(watch.dir);
    } catch {
      continue;
    }
    watch.history.push(reading);
    while ((watch.history[0]?.atMs ?? Infinity) < reading.atMs - 2_000) watch.history.shift();
    const crossing = crossingOf(watch.history, COMPACT_AT);
    if (crossing === null) continue;
    watches.delete(watch);
    watch.resolve(crossing);
  }
  if (watches.size === 0 && pollTimer !== undefined) {
    clearInterval(pollTimer);
    pollTimer = undefined;
  }
}

function watchCrossing(dir: string, deadlineMs: number): Promise<Crossing | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      watches.delete(watch);
      resolve(null);
    }, deadlineMs - Date.now());
    const watch: CrossingWatch = {
      dir,
      history: [],
      resolve: (crossing) => {
        clearTimeout(timer);
        resolve(crossing);
      },
    };
    watches.add(watch);
    pollTimer ??= setInterval(pollAll, POLL_MS);
    pollAll();
  });
}

// ---------------------------------------------------------------------------------------------
// Trials.

interface Dispatch {
  readonly atMs: number;
  readonly ratio: number;
  readonly reactionMs: number;
  /** Dispatched before the limit would have been reached at the nominal rate (cap aside). */
  readonly beforeLimit: boolean;
  /** The ratio at dispatch had the agent not been capped: 0.70 + rate x reaction / limit. */
  readonly uncappedRatio: number;
  /** The decision before the dispatching one: its speed and the delay it chose. */
  readonly previousPoll: string;
}

interface TrialResult {
  readonly rateMiBPerSec: number;
  readonly trial: number;
  readonly phaseMs: number;
  readonly startRatio: number;
  readonly crossing: Crossing;
  /** Crossing to limit at the nominal rate: 0.30 of 1 GiB / rate. */
  readonly limitAfterCrossingMs: number;
  readonly memgov: Dispatch | null;
  /** undefined: the baseline did not take part in this trial; null: it never dispatched. */
  readonly baseline: Dispatch | null | undefined;
  /** The earlier memgov build (BENCH_BASELINE_BUNDLE) on the same cgroup; undefined: none given. */
  readonly previous: Dispatch | null | undefined;
}

function toDispatch(
  decision: Decision | null,
  crossing: Crossing,
  limitAtMs: number,
  rateMiBPerSec: number,
  decisions: readonly Decision[],
): Dispatch | null {
  if (decision === null) return null;
  const reaction = reactionMs(decision, crossing);
  const previous = decisions.filter((d) => d.t < decision.t).at(-1);
  return {
    atMs: decision.t,
    ratio: decision.ratio,
    reactionMs: reaction,
    beforeLimit: decision.t < limitAtMs,
    uncappedRatio: COMPACT_AT + (rateMiBPerSec * MiB * Math.max(0, reaction)) / 1000 / LIMIT_BYTES,
    previousPoll:
      previous === undefined
        ? '-'
        : `${previous.speed} ${previous.nextPollMs} ms @${previous.ratio.toFixed(3)}`,
  };
}

function decisionsOf(tracked: Tracked, parse: (line: string) => Decision | null): Decision[] {
  return tracked.lines.map((l) => parse(l.text)).filter((d): d is Decision => d !== null);
}

function progress(text: string): void {
  process.stderr.write(`[reaction] ${text}\n`);
}

function startMemgov(bundle: string, dir: string, scratch: string): Tracked {
  mkdirSync(scratch, { recursive: true });
  return startTracked(
    process.execPath,
    [bundle, 'run', '--cgroup', dir, '--state-file', `${scratch}/state`].concat([
      '--log-format',
      'json',
      '--log-level',
      'debug',
    ]),
    { env: memgovEnv(scratch) },
  );
}

async function runTrial(lane: Lane, trial: number, withBaseline: boolean): Promise<TrialResult> {
  const rate = lane.rateMiBPerSec;
  const dir = createBenchCgroup(`memgov-bench-${process.pid}-r${rate}-t${trial}`, LIMIT_BYTES);
  const scratch = scratchDir(`reaction-${rate}-${trial}`);
  const started: Tracked[] = [];
  try {
    const agent = startTracked(
      process.execPath,
      [
        bundlePath,
        'synthetic-agent',
        '--join-cgroup',
        dir,
        '--start-mib',
        String(lane.startMiB),
        '--grow-mib-per-s',
        '0',
        // Growth starts when the bench types /clear (which frees nothing here).
        '--burst-mib-per-s',
        String(rate),
        '--compact-frees-pct',
        '0',
        '--clear-frees-pct',
        '0',
        '--max-mib',
        String(CAP_MIB),
      ],
      { stdin: 'pipe' },
    );
    started.push(agent);
    const ready = await agent.waitFor(
      (l) => (l.includes('holding') ? l : null),
      Date.now() + 30_000,
    );
    if (ready === null) throw new Error(`the synthetic agent did not start: ${agent.stderr}`);

    const memgov = startMemgov(bundlePath, dir, scratch);
    started.push(memgov);
    // An earlier build watching the same cgroup with its own state (and so its own lock).
    const previous =
      previousBundle === null ? null : startMemgov(previousBundle.path, dir, `${scratch}/previous`);
    if (previous !== null) started.push(previous);
    const baseline = withBaseline
      ? startTracked('bash', [seedGovernorPath], {
          env: { ...process.env, CGROUP_DIR: dir, STATE_FILE: `${scratch}/seed-state` },
        })
      : null;
    if (baseline !== null) started.push(baseline);

    const firstDeadline = Date.now() + 30_000;
    if ((await memgov.waitFor(memgovDecision, firstDeadline)) === null)
      throw new Error(`memgov took no first sample: ${memgov.stderr}`);
    if (baseline !== null && (await baseline.waitFor(seedDecision, firstDeadline)) === null)
      throw new Error(`the baseline took no first sample: ${baseline.stderr}`);
    if (previous !== null && (await previous.waitFor(memgovDecision, firstDeadline)) === null)
      throw new Error(`the previous build took no first sample: ${previous.stderr}`);

    const phaseMs = Math.round(
      withBaseline ? random(0, SEED_RELAXED_MS) : random(0, latestNextPollMs(memgov)),
    );
    await sleep(phaseMs);
    const before = readWorkingSet(dir);
    if (before.ratio >= COMPACT_AT) throw new Error(`already at ${before.ratio} before growth`);

    const crossingSeen = watchCrossing(dir, Date.now() + 120_000);
    agent.child.stdin?.write('/clear\n');
    const crossing = await crossingSeen;
    if (crossing === null) throw new Error('the working set never reached 70%');
    const limitAfterCrossingMs = Math.round((((1 - COMPACT_AT) * LIMIT_BYTES) / MiB / rate) * 1000);
    const limitAtMs = crossing.atMs + limitAfterCrossingMs;

    const [memgovCompact, baselineCompact, previousCompact] = await Promise.all([
      memgov.waitFor(compactBy(memgovDecision), crossing.atMs + MEMGOV_DEADLINE_MS),
      baseline === null
        ? Promise.resolve(null)
        : baseline.waitFor(compactBy(seedDecision), crossing.atMs + SEED_RELAXED_MS + 15_000),
      previous === null
        ? Promise.resolve(null)
        : previous.waitFor(compactBy(memgovDecision), crossing.atMs + MEMGOV_DEADLINE_MS),
    ]);
    const result: TrialResult = {
      rateMiBPerSec: rate,
      trial,
      phaseMs,
      startRatio: Number(before.ratio.toFixed(4)),
      crossing,
      limitAfterCrossingMs,
      memgov: toDispatch(
        memgovCompact,
        crossing,
        limitAtMs,
        rate,
        decisionsOf(memgov, memgovDecision),
      ),
      baseline:
        baseline === null
          ? undefined
          : toDispatch(
              baselineCompact,
              crossing,
              limitAtMs,
              rate,
              decisionsOf(baseline, seedDecision),
            ),
      previous:
        previous === null
          ? undefined
          : toDispatch(
              previousCompact,
              crossing,
              limitAtMs,
              rate,
              decisionsOf(previous, memgovDecision),
            ),
    };
    const show = (d: Dispatch | null | undefined): string =>
      d === undefined ? '-' : d === null ? 'missed' : `${d.reactionMs} ms @${d.ratio.toFixed(3)}`;
    progress(
      `${rate} MiB/s trial ${trial}: phase ${phaseMs} ms, crossing ±${crossing.bracketMs} ms at ` +
        `${crossing.measuredMiBPerSec.toFixed(0)} MiB/s; memgov ${show(result.memgov)}; ` +
        `baseline ${show(result.baseline)}; previous build ${show(result.previous)}`,
    );
    return result;
  } finally {
    await Promise.all(started.map((tracked) => stopTracked(tracked)));
    removeBenchCgroup(dir);
    removeScratchDir(scratch);
  }
}

async function runLane(lane: Lane): Promise<TrialResult[]> {
  const results: TrialResult[] = [];
  for (let trial = 1; trial <= MEMGOV_TRIALS; trial++)
    results.push(await runTrial(lane, trial, trial <= BASELINE_TRIALS));
  return results;
}

// ---------------------------------------------------------------------------------------------
// Report.

/** Above 1.0 the limit would have been reached first: say so rather than print a ratio. */
function fmtUncapped(s: { median: number; max: number }): string {
  if (Number.isNaN(s.median)) return '-';
  const show = (r: number): string => (r >= 1 ? 'limit' : r.toFixed(3));
  return `${show(s.median)} (max ${show(s.max)})`;
}

function cellRow(rate: number, governor: string, dispatches: (Dispatch | null)[]): string {
  const got = dispatches.filter((d): d is Dispatch => d !== null);
  const reaction = summarize(got.map((d) => d.reactionMs));
  const ratio = summarize(got.map((d) => d.ratio));
  const uncapped = summarize(got.map((d) => d.uncappedRatio));
  const beforeLimit = got.filter((d) => d.beforeLimit).length;
  const within1s = got.filter((d) => d.reactionMs <= 1_000).length;
  const missed = dispatches.length - got.length;
  const ms = (n: number): string => (Number.isNaN(n) ? '-' : n.toFixed(0));
  return (
    `| ${rate} | ${governor} | ${dispatches.length} | ${ms(reaction.median)} | ${ms(reaction.min)} | ` +
    `${ms(reaction.max)} | ${within1s}/${dispatches.length} | ${ratio.median.toFixed(3)} ` +
    `(${ratio.min.toFixed(3)}-${ratio.max.toFixed(3)}) | ${fmtUncapped(uncapped)} | ${beforeLimit}/${dispatches.length}` +
    `${missed > 0 ? ` (${missed} never dispatched)` : ''} |`
  );
}

async function main(): Promise<void> {
  installCleanup();
  const startedAt = machineLine();
  const busyBefore = busyness();
  progress(
    `${quick ? 'QUICK ' : ''}${MEMGOV_TRIALS} trials per rate (baseline in the first ${BASELINE_TRIALS}), lanes in parallel`,
  );
  const lanes = await Promise.all(LANES.map(runLane));
  const busyAfter = busyness();
  const all = lanes.flat();

  console.log(`reaction benchmark${quick ? ' (BENCH_QUICK=1)' : ''}: ${startedAt}`);
  console.log(buildLine());
  console.log(`busy before: ${busyBefore}`);
  console.log(`busy after:  ${busyAfter}`);
  console.log(
    `1 GiB limit (compactAt 0.70 = 716.8 MiB), agent capped at ${CAP_MIB} MiB; memgov bundled, DEFAULT policy; ` +
      `baseline bench/seed-governor.sh (60 s / 15 s); crossing measured by a ${POLL_MS} ms poll`,
  );
  console.log('');
  console.log(
    '| rate MiB/s | governor | trials | reaction median ms | min ms | max ms | within 1 s | ratio at dispatch median (min-max) | uncapped ratio at dispatch | before the limit |',
  );
  console.log('|---:|---|---:|---:|---:|---:|---:|---|---|---:|');
  for (const lane of LANES) {
    const trials = all.filter((r) => r.rateMiBPerSec === lane.rateMiBPerSec);
    console.log(
      cellRow(
        lane.rateMiBPerSec,
        'memgov',
        trials.map((r) => r.memgov),
      ),
    );
    if (previousBundle !== null) {
      console.log(
        cellRow(
          lane.rateMiBPerSec,
          `memgov, previous build ${previousBundle.sha256}`,
          trials.map((r) => r.previous ?? null),
        ),
      );
    }
    const withBaseline = trials.filter((r) => r.baseline !== undefined);
    console.log(
      cellRow(
        lane.rateMiBPerSec,
        'seed loop (bash)',
        withBaseline.map((r) => r.baseline ?? null),
      ),
    );
  }
  console.log('');
  console.log(
    '| rate | trial | phase ms | start ratio | crossing ± ms | measured MiB/s | limit after crossing ms | memgov ms (ratio) | memgov poll before | baseline ms (ratio) | baseline poll before |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|');
  for (const r of all) {
    const show = (d: Dispatch | null | undefined): string =>
      d === undefined
        ? '-'
        : d === null
          ? 'never'
          : `${d.reactionMs} (${d.ratio.toFixed(3)})${d.beforeLimit ? '' : ' after the limit'}`;
    console.log(
      `| ${r.rateMiBPerSec} | ${r.trial} | ${r.phaseMs} | ${r.startRatio.toFixed(3)} | ${r.crossing.bracketMs} | ` +
        `${r.crossing.measuredMiBPerSec.toFixed(0)} | ${r.limitAfterCrossingMs} | ${show(r.memgov)} | ${r.memgov?.previousPoll ?? '-'} | ${show(r.baseline)} | ${r.baseline?.previousPoll ?? '-'} |`,
    );
  }
  const outDir = benchTmpDir;
  const outFile = `${outDir}reaction-${Date.now()}.json`;
  writeFileSync(
    outFile,
    JSON.stringify({ startedAt, busyBefore, busyAfter, results: all }, null, 2),
  );
  console.log('');
  console.log(`raw results: ${outFile}`);
}

await main();

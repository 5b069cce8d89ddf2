// Tier 3 against the kernel at 500 MiB/s (docs/BENCHMARKS.md, "Tier 3 before the kernel"): in a
// real v1 child cgroup a synthetic agent grows from 1/8 of the limit at 500 MiB/s with nothing to
// stop it, so the kernel OOM-kills it at the limit. memgov watches with --dry-run (it decides as
// it would live, and touches nothing), and the question is whether its archive-terminate decision
// comes before the kill. BENCH_BASELINE_BUNDLE=FILE runs an earlier build beside it on the same
// cgroup. The bench reads the cgroup's oom_kill counter every 10 ms: the kill lies between the
// last reading before the counter rose and the first one after; "before the kill" means the
// decision's sample was taken before that last reading.
//
// node --import tsx bench/tier3-race.bench.ts (BENCH_TIER3_TRIALS, default 10 per limit)
import { mkdirSync, readFileSync } from 'node:fs';
import { memgovDecision, POLL_MS, type Decision } from './reaction-measure.ts';
import {
  MiB,
  baseline as previousBundle,
  buildLine,
  bundlePath,
  createBenchCgroup,
  installCleanup,
  machineLine,
  memgovEnv,
  random,
  removeBenchCgroup,
  removeScratchDir,
  scratchDir,
  sleep,
  startTracked,
  stopTracked,
  summarize,
  type Tracked,
} from './support.ts';

const RATE_MIB_PER_S = 500;
/** 1 GiB: 70% to the limit in 0.61 s; 320 MiB: the live case of docs/BENCHMARKS.md, 0.19 s. */
const LIMITS_MIB = [1024, 320] as const;
const TRIALS = Number(process.env.BENCH_TIER3_TRIALS ?? 10);

interface Watch {
  /** Bench time of the last reading before oom_kill rose, and of the first after. */
  lastBeforeMs: number;
  firstAfterMs: number | null;
}

function oomKills(dir: string): number {
  const text = readFileSync(`${dir}/memory.oom_control`, 'utf8');
  return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
}

/** Polls oom_kill every POLL_MS until it rises above `before` or the deadline passes. */
async function watchKill(dir: string, before: number, deadlineMs: number): Promise<Watch> {
  const watch: Watch = { lastBeforeMs: Date.now(), firstAfterMs: null };
  while (Date.now() < deadlineMs) {
    const atMs = Date.now();
    if (oomKills(dir) > before) {
      watch.firstAfterMs = atMs;
      return watch;
    }
    watch.lastBeforeMs = atMs;
    await sleep(POLL_MS);
  }
  return watch;
}

function startDryRun(bundle: string, dir: string, scratch: string): Tracked {
  mkdirSync(scratch, { recursive: true });
  const args = [bundle, 'run', '--cgroup', dir, '--state-file', `${scratch}/state`, '--dry-run'];
  const logging = ['--log-format', 'json', '--log-level', 'debug'];
  return startTracked(process.execPath, [...args, ...logging], { env: memgovEnv(scratch) });
}

interface Outcome {
  /** Kill time (first reading after) minus the tier-3 sample's time; null: no tier 3 decided. */
  readonly marginMs: number | null;
  readonly beforeKill: boolean;
}

/** BENCH_TIER3_TRACE=1: the governor's last decisions before the kill, relative to it (ms). */
function traceDecisions(governor: Tracked, watch: Watch): void {
  const killAtMs = watch.firstAfterMs ?? Date.now();
  const recent = governor.lines
    .map((l) => memgovDecision(l.text))
    .filter((d): d is Decision => d !== null && d.t > killAtMs - 1_500)
    .map(
      (d) =>
        `${d.t - killAtMs}:${d.ratio.toFixed(2)}:${d.action ?? '-'}:${d.speed}:${d.nextPollMs}`,
    );
  process.stderr.write(`[tier3] ${governor.pid} ${recent.join(' ')}\n`);
}

function archiveTerminate(line: string): Decision | null {
  const decision = memgovDecision(line);
  return decision?.action === 'archive-terminate' ? decision : null;
}

async function outcomeOf(governor: Tracked, watch: Watch): Promise<Outcome> {
  const tier3 = await governor.waitFor(archiveTerminate, Date.now() + 2_000);
  if (process.env.BENCH_TIER3_TRACE === '1') traceDecisions(governor, watch);
  if (tier3 === null || watch.firstAfterMs === null) return { marginMs: null, beforeKill: false };
  return { marginMs: watch.firstAfterMs - tier3.t, beforeKill: tier3.t <= watch.lastBeforeMs };
}

async function runTrial(limitMiB: number, trial: number) {
  const dir = createBenchCgroup(`memgov-tier3-${process.pid}-${limitMiB}-${trial}`, limitMiB * MiB);
  const scratch = scratchDir(`tier3-${limitMiB}-${trial}`);
  const started: Tracked[] = [];
  try {
    const agentArgs = ['synthetic-agent', '--join-cgroup', dir, '--grow-mib-per-s', '0'];
    const sizes = ['--start-mib', String(limitMiB / 8), '--max-mib', String(limitMiB * 2)];
    const burst = ['--burst-mib-per-s', String(RATE_MIB_PER_S)];
    const agent = startTracked(process.execPath, [bundlePath, ...agentArgs, ...sizes, ...burst], {
      stdin: 'pipe',
    });
    started.push(agent);
    if (
      (await agent.waitFor((l) => (l.includes('holding') ? l : null), Date.now() + 30_000)) === null
    )
      throw new Error(`the synthetic agent did not start: ${agent.stderr}`);
    const memgov = startDryRun(bundlePath, dir, `${scratch}/memgov`);
    started.push(memgov);
    const previous =
      previousBundle === null ? null : startDryRun(previousBundle.path, dir, `${scratch}/previous`);
    if (previous !== null) started.push(previous);
    for (const governor of [memgov, previous]) {
      if (
        governor !== null &&
        (await governor.waitFor(memgovDecision, Date.now() + 30_000)) === null
      )
        throw new Error(`a governor took no first sample: ${governor.stderr}`);
    }
    // Start the burst anywhere in memgov's relaxed interval (~1.2 s here at 1/8 of the limit).
    await sleep(Math.round(random(0, 1_500)));
    const before = oomKills(dir);
    agent.child.stdin?.write('/clear\n');
    const watch = await watchKill(dir, before, Date.now() + 20_000);
    if (watch.firstAfterMs === null) throw new Error('the kernel never OOM-killed the agent');
    return {
      memgov: await outcomeOf(memgov, watch),
      previous: previous === null ? null : await outcomeOf(previous, watch),
    };
  } finally {
    await Promise.all(started.map((t) => stopTracked(t, 2_000)));
    removeBenchCgroup(dir);
    removeScratchDir(scratch);
  }
}

function row(limitMiB: number, name: string, outcomes: readonly Outcome[]): string {
  const before = outcomes.filter((o) => o.beforeKill).length;
  const margins = outcomes.flatMap((o) => (o.marginMs === null ? [] : [o.marginMs]));
  const m = margins.length === 0 ? null : summarize(margins);
  const figures = m === null ? '- | - | -' : `${m.median} | ${m.min} | ${m.max}`;
  return `| ${limitMiB} | ${name} | ${outcomes.length} | ${before}/${outcomes.length} | ${figures} |`;
}

async function main(): Promise<void> {
  installCleanup();
  console.log(`tier 3 race benchmark: ${new Date().toISOString()}, ${buildLine()}`);
  console.log(machineLine());
  console.log('');
  console.log(
    '| limit MiB | governor | trials | tier 3 before the kill | margin median ms | min ms | max ms |',
  );
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const limitMiB of LIMITS_MIB) {
    const mine: Outcome[] = [];
    const theirs: Outcome[] = [];
    for (let trial = 1; trial <= TRIALS; trial++) {
      const result = await runTrial(limitMiB, trial);
      mine.push(result.memgov);
      if (result.previous !== null) theirs.push(result.previous);
      process.stderr.write(`[tier3] ${limitMiB} MiB trial ${trial}: ${JSON.stringify(result)}\n`);
    }
    console.log(row(limitMiB, 'memgov', mine));
    if (theirs.length > 0) console.log(row(limitMiB, `baseline ${previousBundle?.sha256}`, theirs));
  }
}

await main();

// Reaction on a real cgroup v2 kernel (docs/BENCHMARKS.md, "Reaction in the cgroup v2 guest"):
// memgov and the seed loop (bench/seed-governor.sh) watch the same cgroup2 child in the QEMU
// guest, one trial at a time per rate, the 50 and 200 MiB/s lanes in parallel. Same trial shape
// as bench/reaction.bench.ts: a synthetic agent holds 128 MiB, both governors take a first
// sample, a random phase over the seed's 60 s interval, then /clear makes the agent grow at the
// rate; the bench polls memory.current - inactive_file every 10 ms for the 70% crossing.
// 1 GiB limit as on the host (the guest gets 2 GiB, MEMGOV_GUEST_MEMORY: the agent's 850 MiB
// cap, two node governors and the bench fit beside it, figures comparable with the host's).
//
// Run: npm run bench:guest (host: read cost, then the guest). Inside the guest only; on the host
// `--host-read-cost` prints the plain-read cost the guest's is compared with.
import { mkdirSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import {
  benchParentCgroup,
  bundlePath,
  busyness,
  installCleanup,
  machineLine,
  memgovEnv,
  random,
  readWorkingSet,
  readWorkingSetV2,
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
} from './reaction-measure.ts';

const START_MIB = 128;
const RATES = [50, 200] as const;
const TRIALS = Number(process.env.BENCH_GUEST_TRIALS ?? 4);
const CGROUP2_SUPER_MAGIC = 0x63677270;
const READ_COST_READS = 300;

function progress(text: string): void {
  process.stderr.write(`[guest-reaction] ${text}\n`);
}

/** Median µs of one working-set reading (3 file reads), READ_COST_READS times in a row. */
function readCostUs(read: () => WorkingSet): number {
  const costs: number[] = [];
  for (let i = 0; i < READ_COST_READS; i++) {
    const started = process.hrtime.bigint();
    read();
    costs.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  return Math.round(summarize(costs).median);
}

const created = new Set<string>();
process.on('exit', () => {
  for (const dir of created) removeV2Cgroup(dir);
});

function createV2Cgroup(name: string): string {
  const dir = `/sys/fs/cgroup/${name}`;
  mkdirSync(dir);
  created.add(dir);
  writeFileSync(`${dir}/memory.max`, String(LIMIT_BYTES));
  return dir;
}

function removeV2Cgroup(dir: string): void {
  try {
    writeFileSync(`${dir}/cgroup.kill`, '1');
  } catch {
    // Gone already.
  }
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      rmdirSync(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
      const until = Date.now() + 10;
      while (Date.now() < until); // synchronous: this also runs on the exit path
    }
  }
  created.delete(dir);
}

/** Polls `dir` every POLL_MS until its working set crosses COMPACT_AT; null at the deadline. */
async function pollCrossing(dir: string, deadlineMs: number): Promise<Crossing | null> {
  const history: WorkingSet[] = [];
  while (Date.now() < deadlineMs) {
    history.push(readWorkingSetV2(dir));
    while ((history[0]?.atMs ?? Infinity) < Date.now() - 2_000) history.shift();
    const crossing = crossingOf(history, COMPACT_AT);
    if (crossing !== null) return crossing;
    await sleep(POLL_MS);
  }
  return null;
}

interface Trial {
  readonly rate: number;
  readonly trial: number;
  readonly phaseMs: number;
  readonly crossing: Crossing;
  readonly memgovMs: number | null;
  readonly seedMs: number | null;
}

function startAgent(dir: string, rate: number): Tracked {
  const flags = { 'start-mib': START_MIB, 'grow-mib-per-s': 0, 'burst-mib-per-s': rate };
  const rest = { 'compact-frees-pct': 0, 'clear-frees-pct': 0, 'max-mib': CAP_MIB };
  const args = Object.entries({ ...flags, ...rest }).flatMap(([k, v]) => [`--${k}`, String(v)]);
  return startTracked(
    process.execPath,
    [bundlePath, 'synthetic-agent', '--join-cgroup', dir, ...args],
    { stdin: 'pipe' },
  );
}

function startGovernors(dir: string, scratch: string): [Tracked, Tracked] {
  const memgov = startTracked(
    process.execPath,
    [
      bundlePath,
      'run',
      '--cgroup',
      dir,
      '--state-file',
      `${scratch}/state`,
      '--log-format',
      'json',
      '--log-level',
      'debug',
    ],
    { env: memgovEnv(scratch) },
  );
  const seed = startTracked('bash', [seedGovernorPath], {
    env: { ...process.env, CGROUP_DIR: dir, STATE_FILE: `${scratch}/seed-state` },
  });
  return [memgov, seed];
}

async function runTrial(rate: number, trial: number): Promise<Trial> {
  const dir = createV2Cgroup(`memgov-bench-r${rate}-t${trial}`);
  const scratch = scratchDir(`guest-${rate}-${trial}`);
  const started: Tracked[] = [];
  try {
    const agent = startAgent(dir, rate);
    started.push(agent);
    const holding = (l: string): string | null => (l.includes('holding') ? l : null);
    if ((await agent.waitFor(holding, Date.now() + 60_000)) === null)
      throw new Error(`the synthetic agent did not start: ${agent.stderr}`);
    const [memgov, seed] = startGovernors(dir, scratch);
    started.push(memgov, seed);
    const firstBy = Date.now() + 60_000;
    if ((await memgov.waitFor(memgovDecision, firstBy)) === null)
      throw new Error(`memgov took no first sample: ${memgov.stderr}`);
    if ((await seed.waitFor(seedDecision, firstBy)) === null)
      throw new Error(`the seed loop took no first sample: ${seed.stderr}`);
    const phaseMs = Math.round(random(0, SEED_RELAXED_MS));
    await sleep(phaseMs);
    agent.child.stdin?.write('/clear\n');
    const crossing = await pollCrossing(dir, Date.now() + 120_000);
    if (crossing === null) throw new Error('the working set never reached 70%');
    const [memgovCompact, seedCompact] = await Promise.all([
      memgov.waitFor(compactBy(memgovDecision), crossing.atMs + 30_000),
      seed.waitFor(compactBy(seedDecision), crossing.atMs + SEED_RELAXED_MS + 15_000),
    ]);
    const result: Trial = {
      rate,
      trial,
      phaseMs,
      crossing,
      memgovMs: memgovCompact === null ? null : reactionMs(memgovCompact, crossing),
      seedMs: seedCompact === null ? null : reactionMs(seedCompact, crossing),
    };
    progress(
      `${rate} MiB/s trial ${trial}: phase ${phaseMs} ms, crossing ±${crossing.bracketMs} ms at ` +
        `${crossing.measuredMiBPerSec.toFixed(0)} MiB/s; memgov ${result.memgovMs} ms; seed ${result.seedMs} ms`,
    );
    return result;
  } finally {
    await Promise.all(started.map((tracked) => stopTracked(tracked)));
    removeV2Cgroup(dir);
    removeScratchDir(scratch);
  }
}

async function runLane(rate: number): Promise<Trial[]> {
  const trials: Trial[] = [];
  for (let trial = 1; trial <= TRIALS; trial++) trials.push(await runTrial(rate, trial));
  return trials;
}

function row(rate: number, governor: string, reactions: readonly (number | null)[]): string {
  const got = reactions.filter((r): r is number => r !== null);
  const s = summarize(got);
  const within = got.filter((r) => r <= 1_000).length;
  const missed = reactions.length - got.length;
  return (
    `| ${rate} | ${governor} | ${reactions.length} | ${s.median} | ${s.min} | ${s.max} | ` +
    `${within}/${reactions.length}${missed > 0 ? ` (${missed} never)` : ''} |`
  );
}

function report(trials: readonly Trial[], readUs: number, startedAt: string, busy: string): void {
  console.log(`guest reaction benchmark: ${startedAt}`);
  console.log(`busy before (guest view): ${busy}; after: ${busyness()}`);
  console.log(`plain cgroup v2 read in the guest: ${readUs} µs median (${READ_COST_READS} reads)`);
  console.log('');
  console.log('| rate MiB/s | governor | trials | median ms | min ms | max ms | within 1 s |');
  console.log('|---:|---|---:|---:|---:|---:|---:|');
  for (const rate of RATES) {
    const lane = trials.filter((t) => t.rate === rate);
    console.log(
      row(
        rate,
        'memgov',
        lane.map((t) => t.memgovMs),
      ),
    );
    console.log(
      row(
        rate,
        'seed loop (bash)',
        lane.map((t) => t.seedMs),
      ),
    );
  }
  console.log('');
  console.log('| rate | trial | phase ms | crossing ± ms | measured MiB/s | memgov ms | seed ms |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of trials) {
    const c = t.crossing;
    console.log(
      `| ${t.rate} | ${t.trial} | ${t.phaseMs} | ${c.bracketMs} | ${c.measuredMiBPerSec.toFixed(0)} | ${t.memgovMs} | ${t.seedMs} |`,
    );
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--host-read-cost')) {
    const dir = benchParentCgroup();
    console.log(
      `plain cgroup v1 read on the host: ${readCostUs(() => readWorkingSet(dir))} µs median (${READ_COST_READS} reads of ${dir})`,
    );
    return;
  }
  if (
    process.env.MEMGOV_GUEST !== '1' ||
    statfsSync('/sys/fs/cgroup').type !== CGROUP2_SUPER_MAGIC
  ) {
    console.error('this bench runs only inside the cgroup v2 guest: use `npm run bench:guest`');
    process.exit(2);
  }
  installCleanup();
  const startedAt = machineLine();
  const busy = busyness();
  const probe = createV2Cgroup('memgov-bench-read-cost');
  const readUs = readCostUs(() => readWorkingSetV2(probe));
  removeV2Cgroup(probe);
  progress(
    `${TRIALS} trials per rate, memgov and the seed loop in each, lanes ${RATES.join(', ')} MiB/s in parallel`,
  );
  const trials = (await Promise.all(RATES.map(runLane))).flat();
  report(trials, readUs, startedAt, busy);
  console.log(`raw: ${JSON.stringify(trials)}`);
}

await main();

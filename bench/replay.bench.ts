// Replay throughput (docs/DESIGN.md#targets: >= 100,000 samples/s through the real governor machine),
// side by side with merely reading and JSON-parsing the same file, in the same run.
// Run: npm run bench. Prints a Markdown table for docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { replayCommand } from '../cli/commands/replay.ts';
import type { CliIo } from '../cli/io.ts';
import { readLines } from '../adapters/trace.ts';
import { baseline, buildLine, bundlePath as bundle } from './support.ts';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 7);
const dir = new URL('../.bench-tmp/', import.meta.url).pathname;
const tracePath = `${dir}replay-${SAMPLES}.jsonl`;

/**
 * A deterministic agent-like curve on a 4 GiB limit: slow growth with noise, bursts, compacts
 * that free a little, restarts. One sample a minute (the relaxed ceiling), so the governor sees
 * every line and the benchmark measures the machine, not skipping.
 */
function writeTrace(): void {
  const limit = 4 * 1024 ** 3;
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  let used = 0.3 * limit;
  const lines: string[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    used += (random() - 0.35) * 0.01 * limit;
    if (random() < 0.002) used += 0.2 * limit; // a burst
    if (used > 0.97 * limit || used < 0.05 * limit) used = 0.25 * limit; // restart
    const inactiveFile = Math.round(random() * 0.05 * limit);
    lines.push(
      `{"t":${1_764_000_000_000 + i * 60_000},"current":${Math.round(used) + inactiveFile},"inactiveFile":${inactiveFile},"limit":${limit}}`,
    );
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(tracePath, `${lines.join('\n')}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function timeMs(run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

let sink = 0;
const nullIo: CliIo = {
  out: (text) => void (sink += text.length),
  err: (text) => {
    throw new Error(text);
  },
  env: {},
  cwd: process.cwd(),
};

const cases: Record<string, () => void> = {
  'bare: readFileSync + split + JSON.parse': () => {
    for (const line of readFileSync(tracePath, 'utf8').split('\n')) {
      if (line !== '') sink += (JSON.parse(line) as { t: number }).t;
    }
  },
  'bare: streamed reader + JSON.parse': () => {
    const result = readLines(tracePath, (line) => {
      if (line !== '') sink += (JSON.parse(line) as { t: number }).t;
      return true;
    });
    if (result.isErr()) throw new Error(result.error.detail);
  },
  'replay --json in process (governor machine)': () => {
    if (replayCommand([tracePath, '--json'], nullIo) !== 0) throw new Error('replay failed');
  },
};

writeTrace();
const seenLines = execFileSync(process.execPath, [bundle, 'replay', tracePath, '--json'], {
  maxBuffer: 1 << 30,
}).toString();
const seen = seenLines.split('\n').filter((l) => l !== '').length;
if (seen !== SAMPLES) throw new Error(`expected every sample seen, saw ${seen} of ${SAMPLES}`);

const results: { name: string; ms: number }[] = [];
for (const [name, run] of Object.entries(cases)) {
  run(); // warm-up
  const times = Array.from({ length: REPEATS }, () => timeMs(run));
  results.push({ name, ms: median(times) });
}
/**
 * CPU time of the waited-for children so far (cutime + cstime of /proc/self/stat), ms. On a busy
 * shared machine a run's wall time grows with the waiting for a core; its CPU time much less.
 * USER_HZ is 100 on Linux x86-64.
 */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) * 10;
}

const replayProcess = (path: string, cpuMs: number[]) => () => {
  const before = childCpuMs();
  execFileSync(process.execPath, [path, 'replay', tracePath, '--json'], { maxBuffer: 1 << 30 });
  cpuMs.push(childCpuMs() - before);
};
// With a baseline the two bundles take turns (A B A B ...), so a busy spell hits both alike.
const cliTimes: number[] = [];
const baseTimes: number[] = [];
const cliCpu: number[] = [];
const baseCpu: number[] = [];
for (let i = 0; i < Math.min(REPEATS, 5); i++) {
  cliTimes.push(timeMs(replayProcess(bundle, cliCpu)));
  if (baseline !== null) baseTimes.push(timeMs(replayProcess(baseline.path, baseCpu)));
}
results.push({
  name: 'node dist/memgov.mjs replay --json (process, incl. start-up)',
  ms: median(cliTimes),
});
if (baseline !== null) {
  results.push({
    name: `baseline ${baseline.sha256} replay --json (process, incl. start-up)`,
    ms: median(baseTimes),
  });
}

const bare = results[0]?.ms ?? 1;
console.log(`replay benchmark: ${SAMPLES} samples (all seen), median of ${REPEATS} runs`);
console.log(buildLine());
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
);
console.log('');
console.log('| case | ms | samples/s | x bare parse |');
console.log('|---|---:|---:|---:|');
for (const { name, ms } of results) {
  const perSecond = Math.round(SAMPLES / (ms / 1000));
  console.log(
    `| ${name} | ${ms.toFixed(1)} | ${perSecond.toLocaleString('en-US')} | ${(ms / bare).toFixed(2)} |`,
  );
}
console.log('');
console.log('| process runs (alternating) | wall ms median | CPU ms median (user + system) |');
console.log('|---|---:|---:|');
console.log(`| this build | ${median(cliTimes).toFixed(0)} | ${median(cliCpu).toFixed(0)} |`);
if (baseline !== null) {
  console.log(
    `| baseline ${baseline.sha256} | ${median(baseTimes).toFixed(0)} | ${median(baseCpu).toFixed(0)} |`,
  );
}
if (sink === -1) console.log('');

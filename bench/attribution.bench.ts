// The cost of one attribution pass (docs/DESIGN.md#whose-memory-it-is), side by side with the
// bare cgroup read every sample makes. A fresh v1 child cgroup holds 500 processes: one shell
// standing in for the agent and 499 `sleep` children of it (each its own child subtree, the worst
// case for the grouping). Timed, each PASSES times: the bare cgroup read; the pass memgov makes
// (actors/attribution.ts: cgroup.procs, /proc/PID/stat and statm of every process, smaps_rollup for
// at most 32 of them, grouped twice); and, for comparison, smaps_rollup for every process. The
// bench itself is outside the cgroup.
// Run: node --import tsx bench/attribution.bench.ts (BENCH_QUICK=1: fewer passes).
import { createCgroupReader } from '../adapters/cgroup/reader.ts';
import { moveInto, tasksOf } from '../adapters/cgroup/v1-admin.ts';
import { readCgroupProcesses } from '../adapters/proc-memory.ts';
import { attributeReading } from '../actors/attribution.ts';
import { memoryLog } from '../actors/log.ts';
import { DEFAULT_POLICY } from '../machines/config.ts';
import { attribute } from '../machines/attribution.ts';
import {
  MiB,
  createBenchCgroup,
  installCleanup,
  machineLine,
  quick,
  removeBenchCgroup,
  sleep,
  startTracked,
  stopTracked,
} from './support.ts';

const PROCESSES = 500;
const PASSES = quick ? 50 : 400;

/** The value below which `fraction` of the sorted values lie (nearest rank). */
function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

function timeEach(passes: number, run: () => void): { medianMs: number; p95Ms: number } {
  const durationsMs: number[] = [];
  for (let i = 0; i < passes; i++) {
    const startMs = performance.now();
    run();
    durationsMs.push(performance.now() - startMs);
  }
  durationsMs.sort((a, b) => a - b);
  return { medianMs: percentile(durationsMs, 0.5), p95Ms: percentile(durationsMs, 0.95) };
}

async function main(): Promise<void> {
  installCleanup();
  const dir = createBenchCgroup(`memgov-bench-attr-${process.pid}`, 1024 * MiB);
  // The shell waits for a line on stdin, so it is in the cgroup before it forks: children inherit.
  const script = `read go; i=1; while [ $i -lt ${PROCESSES} ]; do sleep 600 & i=$((i+1)); done; wait`;
  const agent = startTracked('sh', ['-c', script], { stdin: 'pipe' });
  try {
    moveInto(dir, agent.pid)._unsafeUnwrap();
    agent.child.stdin?.write('go\n');
    const deadline = Date.now() + 30_000;
    while (tasksOf(dir).length < PROCESSES && Date.now() < deadline) await sleep(50);
    const count = tasksOf(dir).length;
    if (count < PROCESSES) throw new Error(`only ${count} processes in ${dir} after 30 s`);
    const reader = createCgroupReader({ dir })._unsafeUnwrap();
    let tools = 0;
    const bare = timeEach(PASSES, () => void reader.read()._unsafeUnwrap());
    // The reading as the sampler sees it at 80%: attribution runs at or above compactAt.
    const reading = { ...reader.read()._unsafeUnwrap(), limitBytes: 1, workingSetBytes: 0.8 };
    const ports = {
      policy: { ...DEFAULT_POLICY, metric: 'workingSet' as const },
      agentPid: () => agent.pid,
      memgovPid: process.pid,
      log: memoryLog(),
    };
    const pass = timeEach(PASSES, () => {
      tools = attributeReading(reading, ports)?.tools.length ?? 0;
    });
    const allPss = timeEach(PASSES, () => {
      const processes = readCgroupProcesses(dir)._unsafeUnwrap();
      void attribute(processes, agent.pid, process.pid);
    });
    console.log(machineLine());
    console.log(`${count} processes in the cgroup, ${tools} child subtrees, ${PASSES} passes each`);
    const fmt = (t: { medianMs: number; p95Ms: number }): string =>
      `median ${t.medianMs.toFixed(3)} ms, p95 ${t.p95Ms.toFixed(3)} ms`;
    console.log(`bare cgroup read:  ${fmt(bare)}`);
    console.log(`attribution pass:  ${fmt(pass)}`);
    console.log(`Pss for all 500:   ${fmt(allPss)}`);
  } finally {
    await stopTracked(agent);
    removeBenchCgroup(dir);
  }
}

await main();

// Attribution in the sampler (docs/DESIGN.md#whose-memory-it-is): at or above compactAt, before
// the governor decides, the cgroup's processes are read and grouped, and the sample carries the
// largest child subtree of the agent. Below compactAt nothing is read: no rung can fire there, and
// the pass costs a /proc read per process (measured in docs/BENCHMARKS.md). Rss (statm) is read
// for every process and Pss (smaps_rollup, ~50x dearer) only for the agent and the members of the
// largest few subtrees, at most PSS_BUDGET processes: 500 processes cost a few ms, not ~80 ms.

/** Subtrees (largest by Rss) whose members get their Pss read. */
const PSS_TOP_SUBTREES = 3;
/** At most this many smaps_rollup reads per pass. */
const PSS_BUDGET = 32;
import type { CgroupReading } from '../adapters/cgroup/reader.ts';
import { readCgroupProcesses, readPssBytes } from '../adapters/proc-memory.ts';
import {
  attribute,
  pssCandidates,
  withPss,
  type Attribution,
  type ToolUse,
} from '../machines/attribution.ts';
import type { PolicyConfig } from '../machines/config.ts';
import type { Log } from './log.ts';

export interface AttributionPorts {
  readonly policy: Pick<PolicyConfig, 'compactAt' | 'metric'>;
  /** The governed agent's pid now, or null when none is known. */
  readonly agentPid: () => number | null;
  /** memgov's own pid (process.pid; tests give another). */
  readonly memgovPid: number;
  readonly procRoot?: string;
  readonly log: Log;
}

/** The attribution of one reading: null below compactAt or when the process list is unreadable. */
export function attributeReading(
  reading: CgroupReading,
  ports: AttributionPorts,
): Attribution | null {
  const { compactAt, metric } = ports.policy;
  const usedBytes = metric === 'current' ? reading.currentBytes : reading.workingSetBytes;
  if (reading.limitBytes <= 0 || usedBytes / reading.limitBytes < compactAt) return null;
  const processes = readCgroupProcesses(reading.dir, ports.procRoot, { pss: false });
  if (processes.isErr()) {
    ports.log.debug('attribution skipped', { detail: processes.error });
    return null;
  }
  return attributeWithPss(processes.value, ports);
}

/** The Rss pass, then Pss for the processes that decide, grouped again. */
function attributeWithPss(
  processes: Parameters<typeof attribute>[0],
  ports: AttributionPorts,
): Attribution {
  const agentPid = ports.agentPid();
  const byRss = attribute(processes, agentPid, ports.memgovPid);
  const candidates = pssCandidates(processes, byRss, agentPid, {
    topSubtrees: PSS_TOP_SUBTREES,
    budget: PSS_BUDGET,
  });
  const pssOf = new Map<number, number>();
  for (const pid of candidates) {
    const pss = readPssBytes(pid, ports.procRoot);
    if (pss !== null) pssOf.set(pid, pss);
  }
  return attribute(withPss(processes, pssOf), agentPid, ports.memgovPid);
}

/** The sampler's `attribute` port: the largest child subtree of the agent, or null. */
export function largestTool(ports: AttributionPorts) {
  return (reading: CgroupReading): ToolUse | null =>
    attributeReading(reading, ports)?.tools[0] ?? null;
}

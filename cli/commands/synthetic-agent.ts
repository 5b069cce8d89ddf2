// `memgov synthetic-agent`: a stand-in for an AI coding agent, for the demo, the tests and the
// benchmarks. Its memory grows at a set rate (real, touched pages); it obeys `/compact` and
// `/clear` typed on stdin by freeing a share of what it holds; it saves a session file and exits
// 0 on SIGTERM, like an agent that shuts down cleanly. Hidden from the main help.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { moveInto } from '../../adapters/cgroup/v1-admin.ts';
import { parseArgs, stringFlag } from '../args.ts';
import { EXIT_USAGE, type CliIo } from '../io.ts';

const MiB = 1024 * 1024;
const TICK_MS = 50;

export const SYNTHETIC_AGENT_HELP = `Usage: memgov synthetic-agent [options]

A synthetic agent whose memory grows; it obeys /compact and /clear on stdin.
  --join-cgroup DIR          move itself into this cgroup v1 directory first
  --start-mib N              memory held at start (default 16)
  --grow-mib-per-s N         steady growth (default 8)
  --compact-frees-pct N      share of held memory freed by /compact (default 10)
  --clear-frees-pct N        share freed by /clear (default 20)
  --burst-mib-per-s N        growth after the first /clear (default: the steady rate)
  --max-mib N                never hold more than this (default 4096)
  --session-dir DIR          write session.json here (and on SIGTERM, a final save)
  --simulate-cgroup DIR      allocate nothing: write the memory it would hold into DIR's
                             memory.usage_in_bytes (a simulated cgroup v1 directory)
`;

/** What a node process charges to its cgroup before the agent holds anything (measured ~40 MiB). */
const SIMULATED_BASE_MIB = 40;

interface AgentOptions {
  startMiB: number;
  growMiBPerSec: number;
  compactFreesPct: number;
  clearFreesPct: number;
  burstMiBPerSec: number | null;
  maxMiB: number;
  sessionDir: string | null;
  simulateCgroup: string | null;
}

function numberFlag(value: string | undefined, fallback: number): number | null {
  if (value === undefined) return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

export function syntheticAgentCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const names = [
    'join-cgroup',
    'start-mib',
    'grow-mib-per-s',
    'compact-frees-pct',
    'clear-frees-pct',
    'burst-mib-per-s',
    'max-mib',
    'session-dir',
    'simulate-cgroup',
  ];
  const parsed = parseArgs(
    argv,
    Object.fromEntries(names.map((n) => [n, { kind: 'string' as const }])),
  );
  if (parsed.isErr()) {
    io.err(`memgov synthetic-agent: ${parsed.error}\n${SYNTHETIC_AGENT_HELP}`);
    return Promise.resolve(EXIT_USAGE);
  }
  const args = parsed.value;
  const read = (name: string, fallback: number): number => {
    const value = numberFlag(stringFlag(args, name), fallback);
    if (value === null) throw new Error(`--${name} must be a non-negative number`);
    return value;
  };
  let options: AgentOptions;
  try {
    options = {
      startMiB: read('start-mib', 16),
      growMiBPerSec: read('grow-mib-per-s', 8),
      compactFreesPct: read('compact-frees-pct', 10),
      clearFreesPct: read('clear-frees-pct', 20),
      burstMiBPerSec:
        stringFlag(args, 'burst-mib-per-s') === undefined ? null : read('burst-mib-per-s', 0),
      maxMiB: read('max-mib', 4096),
      sessionDir: stringFlag(args, 'session-dir') ?? null,
      simulateCgroup: stringFlag(args, 'simulate-cgroup') ?? null,
    };
  } catch (error) {
    io.err(`memgov synthetic-agent: ${(error as Error).message}\n`);
    return Promise.resolve(EXIT_USAGE);
  }
  const cgroup = stringFlag(args, 'join-cgroup');
  if (cgroup !== undefined) {
    const moved = moveInto(cgroup, process.pid);
    if (moved.isErr()) {
      io.err(`memgov synthetic-agent: ${moved.error}\n`);
      return Promise.resolve(1);
    }
  }
  return runAgent(options, io);
}

function runAgent(options: AgentOptions, io: CliIo): Promise<number> {
  // Simulated memory is a count of MiB written to a file; real memory is touched buffers.
  const held: (Buffer | null)[] = [];
  const simulated = options.simulateCgroup;
  const publish = (): void => {
    if (simulated === null) return;
    writeFileSync(
      `${simulated}/memory.usage_in_bytes`,
      String((held.length + SIMULATED_BASE_MIB) * MiB),
    );
  };
  let rate = options.growMiBPerSec;
  let owedMiB = 0;
  let generation = 0;
  const allocate = (mib: number): void => {
    for (let i = 0; i < mib && held.length < options.maxMiB; i++) {
      held.push(simulated === null ? Buffer.alloc(MiB, 0xa5) : null);
    }
    publish();
  };
  const free = (pct: number): number => {
    const count = Math.floor((held.length * pct) / 100);
    held.splice(held.length - count, count);
    publish();
    return count;
  };
  const save = (why: string): void => {
    if (options.sessionDir === null) return;
    mkdirSync(options.sessionDir, { recursive: true });
    writeFileSync(
      `${options.sessionDir}/session.json`,
      JSON.stringify({
        pid: process.pid,
        heldMiB: held.length,
        generation,
        why,
        savedAtMs: Date.now(),
      }),
    );
  };
  allocate(options.startMiB);
  save('start');
  io.out(`synthetic agent ${process.pid}: holding ${held.length} MiB, growing ${rate} MiB/s\n`);

  return new Promise((resolve) => {
    const timer = setInterval(() => {
      owedMiB += (rate * TICK_MS) / 1000;
      const whole = Math.floor(owedMiB);
      owedMiB -= whole;
      allocate(whole);
    }, TICK_MS);
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const command = line.trim();
      if (command === '/compact') {
        const freed = free(options.compactFreesPct);
        generation++;
        io.out(`Compacted (freed ${freed} MiB, holding ${held.length} MiB)\n`);
      } else if (command === '/clear') {
        const freed = free(options.clearFreesPct);
        generation++;
        if (options.burstMiBPerSec !== null) rate = options.burstMiBPerSec;
        io.out(
          `Cleared (freed ${freed} MiB, holding ${held.length} MiB, now growing ${rate} MiB/s)\n`,
        );
      } else if (command !== '') {
        io.out(`(the agent ignores "${command}")\n`);
      }
    });
    process.once('SIGTERM', () => {
      clearInterval(timer);
      lines.close();
      process.stdin.destroy();
      save('sigterm');
      held.length = 0;
      publish();
      io.out(`synthetic agent ${process.pid}: SIGTERM, session saved, exiting\n`);
      resolve(0);
    });
  });
}

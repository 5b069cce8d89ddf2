// Footprint of the bundled daemon (docs/DESIGN.md#targets: RssAnon <= 12 MiB, RSS <= 48 MiB, idle CPU <=
// 0.1% of a core), side by side in the same window with the seed loop (bench/seed-governor.sh)
// and with a bare Node process that only keeps a timer (the floor any Node daemon starts from).
//
// Every row is a separate process started at the same time; after a 5 s warm-up the bench reads
// /proc/<pid>/status (VmRSS, RssAnon, RssFile, VmHWM) every second for 2 minutes (BENCH_QUICK=1:
// 30 s) and the CPU used over the window, two ways: utime+stime(+cutime+cstime) ticks from
// /proc/<pid>/stat (what the brief names; 1 tick = 10 ms, coarse at 0.1%), and the sum over the
// process's threads of /proc/<pid>/task/*/schedstat run time (nanoseconds). The window is cut into
// four slices so each CPU figure comes with its spread; the first slice still carries the tail of
// start-up, so the CPU is also given without it ("after the first slice").
//
// Cgroups watched (children of our own memory cgroup, no process inside unless said):
//   idle-4g     4 GiB limit, empty: DEFAULT policy polls every 0.70 * 4 GiB / 500 MiB/s = 5.7 s
//               (assumedGrowthBytesPerSec; builds before 142fed1 assumed 200 MiB/s: 14.3 s)
//   unlimited   no limit (memgov falls back to the host's RAM): the 60 s relaxed ceiling
//   half-1g     1 GiB limit, a synthetic agent holding ~512 MiB: headroom interval ~1 s
// Extra rows try Node flags on the same daemon (product code unchanged) to show what dominates.
// Run: npm run bench (after the build), or node --import tsx bench/footprint.bench.ts.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { DEFAULT_POLICY } from '../machines/config.ts';
import {
  MiB,
  baseline,
  benchTmpDir,
  buildLine,
  bundlePath,
  busyness,
  createBenchCgroup,
  installCleanup,
  machineLine,
  memgovEnv,
  quick,
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
} from './support.ts';

const WINDOW_MS = Number(process.env.BENCH_FOOTPRINT_MS ?? (quick ? 30_000 : 120_000));
const WARMUP_MS = 5_000;
const SLICES = 4;
const CLK_TCK = 100;
const TARGET = { rssAnonMiB: 12, rssMiB: 48, cpuPct: 0.1 };

type CgroupName = 'idle-4g' | 'unlimited' | 'half-1g';

interface RowSpec {
  readonly name: string;
  readonly kind: 'memgov' | 'seed' | 'bare-node';
  readonly cgroup: CgroupName | null;
  readonly nodeFlags: readonly string[];
  readonly debugLog?: boolean;
  /** The baseline build (BENCH_BASELINE_BUNDLE) instead of the bundle under test. */
  readonly baseline?: boolean;
}

const LEAN = ['--max-semi-space-size=1', '--max-old-space-size=16', '--lite-mode'];
const ROWS: readonly RowSpec[] = [
  { name: 'memgov', kind: 'memgov', cgroup: 'idle-4g', nodeFlags: [] },
  { name: 'memgov', kind: 'memgov', cgroup: 'unlimited', nodeFlags: [] },
  { name: 'memgov', kind: 'memgov', cgroup: 'half-1g', nodeFlags: [] },
  { name: 'memgov, debug log', kind: 'memgov', cgroup: 'half-1g', nodeFlags: [], debugLog: true },
  { name: 'memgov', kind: 'memgov', cgroup: 'idle-4g', nodeFlags: ['--max-semi-space-size=1'] },
  { name: 'memgov', kind: 'memgov', cgroup: 'idle-4g', nodeFlags: ['--max-old-space-size=16'] },
  { name: 'memgov', kind: 'memgov', cgroup: 'idle-4g', nodeFlags: ['--lite-mode'] },
  { name: 'memgov', kind: 'memgov', cgroup: 'idle-4g', nodeFlags: ['--jitless'] },
  { name: 'memgov', kind: 'memgov', cgroup: 'idle-4g', nodeFlags: LEAN },
  { name: 'memgov', kind: 'memgov', cgroup: 'half-1g', nodeFlags: LEAN },
  { name: 'bare node (one timer)', kind: 'bare-node', cgroup: null, nodeFlags: [] },
  { name: 'bare node (one timer)', kind: 'bare-node', cgroup: null, nodeFlags: LEAN },
  { name: 'seed loop (bash)', kind: 'seed', cgroup: 'idle-4g', nodeFlags: [] },
  ...(baseline === null
    ? []
    : (['idle-4g', 'unlimited', 'half-1g'] as const).map((cgroup): RowSpec => ({
        name: `baseline ${baseline?.sha256 ?? ''}`,
        kind: 'memgov',
        cgroup,
        nodeFlags: [],
        baseline: true,
      }))),
];

// ---------------------------------------------------------------------------------------------
// /proc readings.

interface Memory {
  readonly rssKiB: number;
  readonly anonKiB: number;
  readonly fileKiB: number;
  readonly hwmKiB: number;
}

function readMemory(pid: number): Memory | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return {
      rssKiB: kib('VmRSS'),
      anonKiB: kib('RssAnon'),
      fileKiB: kib('RssFile'),
      hwmKiB: kib('VmHWM'),
    };
  } catch {
    return null;
  }
}

interface Cpu {
  /** utime + stime + cutime + cstime (waited-for children: the seed loop's sleeps). */
  readonly ticks: number;
  /** Run time summed over the process's live threads, nanoseconds. */
  readonly schedNs: number;
}

function readCpu(pid: number): Cpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime is field 14 overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(fields[n - 3]);
  const ticks = field(14) + field(15) + field(16) + field(17);
  let schedNs = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      schedNs += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return { ticks, schedNs };
}

// ---------------------------------------------------------------------------------------------

interface Row {
  readonly spec: RowSpec;
  readonly tracked: Tracked;
  readonly memory: Memory[];
  readonly cpu: Cpu[];
  /** CPU used from spawn to the window's start (start-up plus the warm-up). */
  startupCpu: Cpu | null;
  windowStartMs?: number;
  windowEndMs?: number;
}

function intervalNote(spec: RowSpec, dirs: Map<CgroupName, string>): string {
  const name = spec.cgroup;
  if (name === null) return '-';
  if (spec.kind === 'seed') return `${name} (seed loop: 60 s)`;
  const dir = dirs.get(name) as string;
  const reading = readWorkingSet(dir);
  const unlimited = reading.limitBytes > 2 ** 60;
  const limitBytes = unlimited ? hostMemTotalBytes() : reading.limitBytes;
  const ratio = reading.usedBytes / limitBytes;
  const next = [0.7, 0.85, 0.9, 1].find((t) => ratio < t) ?? 1;
  // This tree's DEFAULT policy; a baseline build polls by its own (it may assume another rate).
  const { assumedGrowthBytesPerSec, minPollMs, relaxedPollMs } = DEFAULT_POLICY;
  const headroomMs = (((next - ratio) * limitBytes) / assumedGrowthBytesPerSec) * 1000;
  const intervalS = Math.min(relaxedPollMs, Math.max(minPollMs, headroomMs)) / 1000;
  const own = spec.baseline === true ? ', by its own policy' : '';
  return `${name} (${(ratio * 100).toFixed(0)}%${own === '' ? `, ~${intervalS.toFixed(1)} s` : own})`;
}

function hostMemTotalBytes(): number {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0) * 1024;
}

function startRow(spec: RowSpec, dirs: Map<CgroupName, string>, scratch: string, i: number): Row {
  const dir = spec.cgroup === null ? '' : (dirs.get(spec.cgroup) as string);
  let tracked: Tracked;
  if (spec.kind === 'memgov') {
    const own = `${scratch}/row${i}`;
    mkdirSync(own);
    tracked = startTracked(
      process.execPath,
      [
        ...spec.nodeFlags,
        spec.baseline === true && baseline !== null ? baseline.path : bundlePath,
        'run',
        '--cgroup',
        dir,
        '--state-file',
        `${own}/state`,
        '--log-format',
        'json',
        '--log-level',
        spec.debugLog === true ? 'debug' : 'info',
      ],
      { env: memgovEnv(own) },
    );
  } else if (spec.kind === 'seed') {
    tracked = startTracked('bash', [seedGovernorPath], {
      env: { ...process.env, CGROUP_DIR: dir, STATE_FILE: `${scratch}/seed-state-${i}` },
    });
  } else {
    tracked = startTracked(process.execPath, [
      ...spec.nodeFlags,
      '-e',
      'setInterval(() => {}, 60_000);',
    ]);
  }
  return { spec, tracked, memory: [], cpu: [], startupCpu: null };
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);
const pct = (ns: number, ms: number): number => (ns / 1e6 / ms) * 100;

function report(rows: Row[], dirs: Map<CgroupName, string>, windowMs: number): void {
  console.log(
    '| process | cgroup (used, interval) | node flags | RSS max (VmHWM) MiB | RSS steady median (min-max) MiB | RssAnon max (median) MiB | RssFile median MiB | CPU % of a core (schedstat) [slice min-max] | CPU % after the first slice | CPU ticks | start-up CPU ms | samples in window | targets |',
  );
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const row of rows) {
    const rss = summarize(row.memory.map((m) => m.rssKiB));
    const anon = summarize(row.memory.map((m) => m.anonKiB));
    const anonMax = anon.max;
    const file = summarize(row.memory.map((m) => m.fileKiB));
    const hwm = Math.max(...row.memory.map((m) => m.hwmKiB));
    const first = row.cpu[0] as Cpu;
    const last = row.cpu[row.cpu.length - 1] as Cpu;
    const cpuPct = pct(last.schedNs - first.schedNs, windowMs);
    const slicePcts: number[] = [];
    for (let s = 1; s < row.cpu.length; s++)
      slicePcts.push(
        pct(
          (row.cpu[s] as Cpu).schedNs - (row.cpu[s - 1] as Cpu).schedNs,
          windowMs / (row.cpu.length - 1),
        ),
      );
    const slices = summarize(slicePcts);
    // The first slice still holds the tail of start-up (lazy compilation, V8's memory reducer);
    // the rest is what the process costs once settled.
    const afterFirst = row.cpu[1] as Cpu;
    const settledPct = pct(
      last.schedNs - afterFirst.schedNs,
      (windowMs * (row.cpu.length - 2)) / (row.cpu.length - 1),
    );
    const ticks = last.ticks - first.ticks;
    const samples =
      row.spec.debugLog === true
        ? String(
            row.tracked.lines.filter(
              (l) =>
                l.text.includes('"message":"decision"') &&
                l.atMs >= (row.windowStartMs ?? 0) &&
                l.atMs <= (row.windowEndMs ?? Infinity),
            ).length,
          )
        : '-';
    const misses: string[] = [];
    if (anonMax / 1024 > TARGET.rssAnonMiB) misses.push('RssAnon');
    if (hwm / 1024 > TARGET.rssMiB) misses.push('RSS max');
    if (rss.median / 1024 > TARGET.rssMiB) misses.push('RSS steady');
    // The CPU target is for an idle daemon; at 1 s polling the figure shows what speed costs.
    if (cpuPct > TARGET.cpuPct)
      misses.push(row.spec.cgroup === 'half-1g' ? 'CPU (at 1 s polling)' : 'CPU');
    const targets =
      row.spec.kind === 'memgov'
        ? misses.length === 0
          ? 'met'
          : `missed: ${misses.join(', ')}`
        : 'n/a';
    console.log(
      `| ${row.spec.name} | ${intervalNote(row.spec, dirs)} | ${row.spec.nodeFlags.join(' ') || '-'} | ` +
        `${mib(hwm)} | ${mib(rss.median)} (${mib(rss.min)}-${mib(rss.max)}) | ${mib(anonMax)} (${mib(anon.median)}) | ${mib(file.median)} | ` +
        `${cpuPct.toFixed(3)} [${slices.min.toFixed(3)}-${slices.max.toFixed(3)}] | ${settledPct.toFixed(3)} | ${ticks} (${((ticks / CLK_TCK / (windowMs / 1000)) * 100).toFixed(3)}%) | ` +
        `${row.startupCpu === null ? '-' : (row.startupCpu.schedNs / 1e6).toFixed(0)} | ${samples} | ${targets} |`,
    );
  }
}

async function main(): Promise<void> {
  installCleanup();
  const startedAt = machineLine();
  const busyBefore = busyness();
  const scratch = scratchDir('footprint');
  const dirs = new Map<CgroupName, string>();
  const rows: Row[] = [];
  let agent: Tracked | null = null;
  try {
    dirs.set('idle-4g', createBenchCgroup(`memgov-bench-${process.pid}-idle-4g`, 4 * 1024 * MiB));
    dirs.set('unlimited', createBenchCgroup(`memgov-bench-${process.pid}-unlimited`, -1));
    const half = createBenchCgroup(`memgov-bench-${process.pid}-half-1g`, 1024 * MiB);
    dirs.set('half-1g', half);
    agent = startTracked(
      process.execPath,
      [
        bundlePath,
        'synthetic-agent',
        '--join-cgroup',
        half,
        '--start-mib',
        '510',
        '--grow-mib-per-s',
        '0',
      ],
      { stdin: 'pipe' },
    );
    if (
      (await agent.waitFor((l) => (l.includes('holding') ? l : null), Date.now() + 30_000)) === null
    )
      throw new Error(`the synthetic agent did not start: ${agent.stderr}`);

    ROWS.forEach((spec, i) => rows.push(startRow(spec, dirs, scratch, i)));
    const readyBy = Date.now() + 30_000;
    for (const row of rows) {
      const ready =
        row.spec.kind === 'memgov'
          ? await row.tracked.waitFor((l) => (l.includes('"memgov started"') ? l : null), readyBy)
          : row.spec.kind === 'seed'
            ? await row.tracked.waitFor((l) => (l.startsWith('t_ms=') ? l : null), readyBy)
            : 'bare';
      if (ready === null)
        throw new Error(`${row.spec.name} did not start: ${row.tracked.stderr.slice(0, 2000)}`);
    }
    await sleep(WARMUP_MS);
    process.stderr.write(
      `[footprint] ${rows.length} processes, sampling for ${WINDOW_MS / 1000} s\n`,
    );

    const windowStartMs = Date.now();
    for (const row of rows) {
      row.startupCpu = readCpu(row.tracked.pid);
      row.cpu.push(row.startupCpu);
      row.windowStartMs = windowStartMs;
    }
    const sliceMs = WINDOW_MS / SLICES;
    for (let second = 1; second <= WINDOW_MS / 1000; second++) {
      await sleep(windowStartMs + second * 1000 - Date.now());
      for (const row of rows) {
        const memory = readMemory(row.tracked.pid);
        if (memory === null) throw new Error(`${row.spec.name} exited: ${row.tracked.stderr}`);
        row.memory.push(memory);
        if ((second * 1000) % sliceMs === 0) row.cpu.push(readCpu(row.tracked.pid));
      }
    }
    const windowEndMs = Date.now();
    for (const row of rows) row.windowEndMs = windowEndMs;
    const busyAfter = busyness();

    console.log(
      `footprint benchmark${quick ? ' (BENCH_QUICK=1)' : ''}: ${startedAt}; window ${WINDOW_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up, ${rows.length} processes side by side`,
    );
    console.log(buildLine());
    console.log(`busy before: ${busyBefore}`);
    console.log(`busy after:  ${busyAfter}`);
    console.log(
      `targets (docs/DESIGN.md#targets): RssAnon <= ${TARGET.rssAnonMiB} MiB, RSS <= ${TARGET.rssMiB} MiB, idle CPU <= ${TARGET.cpuPct}% of a core`,
    );
    console.log('');
    report(rows, dirs, windowEndMs - windowStartMs);
    const outDir = benchTmpDir;
    const outFile = `${outDir}footprint-${Date.now()}.json`;
    writeFileSync(
      outFile,
      JSON.stringify(
        {
          startedAt,
          busyBefore,
          busyAfter,
          rows: rows.map((r) => ({ spec: r.spec, memory: r.memory, cpu: r.cpu })),
        },
        null,
        2,
      ),
    );
    console.log('');
    console.log(`raw samples: ${outFile}`);
  } finally {
    await Promise.all([...rows.map((r) => stopTracked(r.tracked)), agent && stopTracked(agent)]);
    for (const dir of dirs.values()) removeBenchCgroup(dir);
    removeScratchDir(scratch);
  }
}

await main();

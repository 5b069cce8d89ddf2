// Shared plumbing for the live benchmarks (reaction, footprint): child cgroups and processes that
// are always cleaned up (normal end, error, Ctrl-C), line-oriented child output, a direct cgroup v1
// reader independent of memgov's, small statistics, and a description of the machine and of how
// busy it was while the figures were taken.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import type { WorkingSet } from './reaction-measure.ts';
import {
  createChildCgroup,
  removeChildCgroup,
  writableV1Parent,
} from '../adapters/cgroup/v1-admin.ts';

export const MiB = 1024 * 1024;
/** BENCH_TMP_DIR: another folder (the guest's root is read-only: bench/guest-reaction.bench.ts). */
export const benchTmpDir =
  process.env.BENCH_TMP_DIR ?? new URL('../.bench-tmp/', import.meta.url).pathname;
export const seedGovernorPath = new URL('./seed-governor.sh', import.meta.url).pathname;
/** BENCH_QUICK=1: a shorter run with fewer trials, for a smoke check. */
export const quick = process.env.BENCH_QUICK === '1';

/**
 * The bundle under test, copied once under .bench-tmp/ and named by its hash: the test setup
 * rebuilds dist/memgov.mjs, and a rebuild in the middle of a run must not change what is measured.
 * BENCH_BUNDLE=FILE measures another build.
 */
function pinBundle(source: string): { path: string; sha256: string; source: string } {
  const bytes = readFileSync(source);
  const sha256 = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  mkdirSync(benchTmpDir, { recursive: true });
  const path = `${benchTmpDir}memgov-${sha256}.mjs`;
  writeFileSync(path, bytes);
  return { path, sha256, source };
}

const pinned = pinBundle(
  process.env.BENCH_BUNDLE ?? new URL('../dist/memgov.mjs', import.meta.url).pathname,
);
export const bundlePath = pinned.path;

/**
 * BENCH_BASELINE_BUNDLE=FILE: an earlier build measured side by side with the bundle under test in
 * the same run (replay, footprint and reaction add its rows); null when not set.
 */
export const baseline =
  process.env.BENCH_BASELINE_BUNDLE === undefined
    ? null
    : pinBundle(process.env.BENCH_BASELINE_BUNDLE);

/** Which build was measured: the bundle's hash and the work tree it was (probably) built from. */
export function buildLine(): string {
  let tree = 'unknown';
  try {
    tree = execFileSync('git', ['describe', '--always', '--dirty'], {
      cwd: new URL('..', import.meta.url).pathname,
      encoding: 'utf8',
    }).trim();
  } catch {
    // Not a git checkout.
  }
  const base = baseline === null ? '' : `; baseline ${baseline.source} sha256 ${baseline.sha256}…`;
  return `bundle ${pinned.source} sha256 ${pinned.sha256}… (pinned copy ${pinned.path}); git ${tree}${base}`;
}
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// ---------------------------------------------------------------------------------------------
// Everything a benchmark creates is registered here and undone on every exit path.

const cgroups = new Set<string>();
const children = new Set<ChildProcess>();
const scratchDirs = new Set<string>();
let parentDir: string | null = null;

/** Our own v1 memory cgroup (children are created only under it); exits when there is none. */
export function benchParentCgroup(): string {
  if (parentDir !== null) return parentDir;
  const parent = writableV1Parent();
  if (parent.isErr()) {
    console.error(`cannot run this benchmark here: ${parent.error}`);
    process.exit(1);
  }
  parentDir = parent.value;
  return parentDir;
}

export function createBenchCgroup(name: string, limitBytes: number): string {
  const created = createChildCgroup(benchParentCgroup(), name, limitBytes);
  if (created.isErr()) throw new Error(created.error);
  cgroups.add(created.value);
  return created.value;
}

export function removeBenchCgroup(dir: string): void {
  const removed = removeChildCgroup(dir, benchParentCgroup());
  if (removed.isErr()) console.error(`warning: ${removed.error}`);
  cgroups.delete(dir);
}

export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(`${tmpdir()}/memgov-bench-${prefix}-`);
  scratchDirs.add(dir);
  return dir;
}

export function removeScratchDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  scratchDirs.delete(dir);
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Each child leads its own process group (spawned detached): signal exactly that group.
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Synchronous last-resort cleanup: SIGKILL every child we started, remove cgroups and scratch. */
function cleanUpNow(): void {
  for (const child of children) signalGroup(child, 'SIGKILL');
  for (const dir of cgroups) removeBenchCgroup(dir);
  for (const dir of scratchDirs) removeScratchDir(dir);
}

let cleanupInstalled = false;
export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping children and removing benchmark cgroups`);
      cleanUpNow();
      process.exit(130);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes whose stdout is read line by line.

export interface Tracked {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far, each with the bench's clock when it arrived. */
  readonly lines: { readonly atMs: number; readonly text: string }[];
  stderr: string;
  readonly exited: Promise<number | null>;
  /** Resolves with the first line (already seen or future) that `parse` accepts; null at deadline. */
  waitFor<T>(parse: (line: string) => T | null, deadlineMs: number): Promise<T | null>;
}

export function startTracked(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {},
): Tracked {
  const spawnOptions: SpawnOptions = {
    detached: true,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  };
  const child = spawn(command, args, spawnOptions);
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  children.add(child);
  const listeners = new Set<(text: string) => void>();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const tracked: Tracked = {
    child,
    pid: child.pid,
    lines: [],
    stderr: '',
    exited,
    waitFor<T>(parse: (line: string) => T | null, deadlineMs: number): Promise<T | null> {
      for (const line of tracked.lines) {
        const found = parse(line.text);
        if (found !== null) return Promise.resolve(found);
      }
      return new Promise((resolve) => {
        const finish = (value: T | null): void => {
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(value);
        };
        const listener = (text: string): void => {
          const found = parse(text);
          if (found !== null) finish(found);
        };
        const timer = setTimeout(() => finish(null), Math.max(0, deadlineMs - Date.now()));
        listeners.add(listener);
        void exited.then(() => setTimeout(() => finish(null), 50));
      });
    },
  };
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (text) => {
      tracked.lines.push({ atMs: Date.now(), text });
      for (const listener of [...listeners]) listener(text);
    });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (tracked.stderr.length < 20_000) tracked.stderr += chunk.toString();
  });
  return tracked;
}

/** SIGTERM to the child's process group, SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopTracked(tracked: Tracked, graceMs = 3_000): Promise<void> {
  signalGroup(tracked.child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(tracked.child, 'SIGKILL'), graceMs);
  await tracked.exited;
  clearTimeout(timer);
}

/** The environment for a memgov child: no MEMGOV_* overrides (DEFAULT policy), its own AGENT_DATA. */
export function memgovEnv(agentData: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('MEMGOV_')) env[key] = value;
  env.AGENT_DATA = agentData;
  return env;
}

// ---------------------------------------------------------------------------------------------
// A cgroup v1 reading done by the bench itself (not through memgov's adapter): the same formula
// as docs/DESIGN.md#the-policy, working set = usage - total_inactive_file.

export type { WorkingSet } from './reaction-measure.ts';

export function readWorkingSet(dir: string): WorkingSet {
  const atMs = Date.now();
  const usage = Number(readFileSync(`${dir}/memory.usage_in_bytes`, 'utf8'));
  const limitBytes = Number(readFileSync(`${dir}/memory.limit_in_bytes`, 'utf8'));
  const stat = readFileSync(`${dir}/memory.stat`, 'utf8');
  const inactive = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
  const usedBytes = Math.max(0, usage - inactive);
  return { atMs, usedBytes, limitBytes, ratio: usedBytes / limitBytes };
}

/** The same reading of a cgroup v2 directory: memory.current - inactive_file against memory.max. */
export function readWorkingSetV2(dir: string): WorkingSet {
  const atMs = Date.now();
  const current = Number(readFileSync(`${dir}/memory.current`, 'utf8'));
  const limitBytes = Number(readFileSync(`${dir}/memory.max`, 'utf8'));
  const stat = readFileSync(`${dir}/memory.stat`, 'utf8');
  const inactive = Number(/^inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
  const usedBytes = Math.max(0, current - inactive);
  return { atMs, usedBytes, limitBytes, ratio: usedBytes / limitBytes };
}

// ---------------------------------------------------------------------------------------------
// Statistics and reporting.

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { n, median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = Math.floor(n / 2);
  const median =
    n % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { n, median, min: sorted[0] as number, max: sorted[n - 1] as number };
}

export function random(minInclusive: number, maxExclusive: number): number {
  return minInclusive + Math.random() * (maxExclusive - minInclusive);
}

/** CPU pressure (PSI) "some" averages: the share of time runnable tasks waited for a CPU. */
export function cpuPressure(): string {
  try {
    const some = readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0] ?? '';
    const avg = (name: string): string => new RegExp(`${name}=([\\d.]+)`).exec(some)?.[1] ?? '?';
    return `cpu PSI some avg10=${avg('avg10')}% avg60=${avg('avg60')}% avg300=${avg('avg300')}%`;
  } catch {
    return 'cpu PSI unavailable';
  }
}

export function busyness(): string {
  const [one, five] = loadavg();
  return `load average ${(one ?? 0).toFixed(2)} (1 min) ${(five ?? 0).toFixed(2)} (5 min) on ${cpus().length} cores; ${cpuPressure()}`;
}

export function machineLine(): string {
  return `${new Date().toISOString()} (UTC); ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}; node ${process.version}; kernel ${release()}`;
}

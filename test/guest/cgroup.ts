// Child cgroups of the guest's own cgroup2 root for the guest tests, and the processes that fill
// them. Only ever runs inside the guest (test/guest/global-setup.ts checks): /sys/fs/cgroup is the
// guest kernel's hierarchy, never the host's. Everything a test creates is killed and removed at
// cleanup, pass or fail.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tasksOf } from '../../adapters/cgroup/v1-admin.ts';
import { isGone, pollUntil, removeCgroupDir, type Cleanup } from '../support/daemon.ts';

export const GUEST_CGROUP_ROOT = '/sys/fs/cgroup';
export const MIB = 1024 * 1024;

export interface V2Limits {
  /** memory.max in bytes, or 'max' for none. */
  readonly maxBytes: number | 'max';
  /** memory.high in bytes, or 'max' for none. */
  readonly highBytes?: number | 'max';
}

export interface V2Cgroup {
  readonly dir: string;
  /** Reads one of its files as the kernel reports it. */
  file(name: string): string;
  /** One counter of a flat keyed file (`memory.events`, `memory.stat`). */
  counter(fileName: string, key: string): number;
  /** Moves a process in: its later allocations are charged here. */
  adopt(pid: number): void;
}

function keyedValue(text: string, key: string, file: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  if (match?.[1] === undefined) throw new Error(`${file} has no ${key} line:\n${text}`);
  return Number(match[1]);
}

/**
 * Creates `/sys/fs/cgroup/<parent>/memgov-guest-<random>` with the limits. At cleanup every
 * process still inside is killed (`cgroup.kill`) and the cgroup removed.
 */
export function createV2Cgroup(cleanup: Cleanup, limits: V2Limits, parentDir = GUEST_CGROUP_ROOT) {
  const dir = `${parentDir}/memgov-guest-${randomBytes(4).toString('hex')}`;
  mkdirSync(dir);
  cleanup.add(async () => {
    writeFileSync(`${dir}/cgroup.kill`, '1');
    await pollUntil(`the processes in ${dir} to exit`, 5_000, () =>
      tasksOf(dir).every(isGone) ? true : undefined,
    );
    await removeCgroupDir(dir);
  });
  writeFileSync(`${dir}/memory.max`, String(limits.maxBytes));
  writeFileSync(`${dir}/memory.high`, String(limits.highBytes ?? 'max'));
  const file = (name: string): string => readFileSync(`${dir}/${name}`, 'utf8');
  const cgroup: V2Cgroup = {
    dir,
    file,
    counter: (fileName, key) => keyedValue(file(fileName), key, `${dir}/${fileName}`),
    adopt: (pid) => writeFileSync(`${dir}/cgroup.procs`, String(pid)),
  };
  return cgroup;
}

/** Lets children of `dir` use the memory controller (a parent of nested test cgroups). */
export function delegateMemory(dir: string): void {
  writeFileSync(`${dir}/cgroup.subtree_control`, '+memory');
}

// An allocator for the guest tests. Waits for commands on stdin, one per line:
//   "grow MIB STEP_MIB PAUSE_MS": allocate MIB more in STEP_MIB buffers (every page touched),
//     pausing PAUSE_MS between steps, then print "grown <total MiB>";
//   "free": drop every buffer and collect them (munmap: the cgroup is uncharged), print "freed".
const ALLOCATOR_SCRIPT = `
const MIB = 1024 * 1024;
let kept = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function grow(mib, stepMib, pauseMs) {
  for (let done = 0; done < mib; done += stepMib) {
    kept.push(Buffer.alloc(stepMib * MIB, 0xa5));
    if (pauseMs > 0) await sleep(pauseMs);
  }
  process.stdout.write('grown ' + kept.length * stepMib + '\\n');
}
let queue = Promise.resolve();
let partial = '';
process.stdin.on('data', (chunk) => {
  const lines = (partial + chunk).split('\\n');
  partial = lines.pop();
  for (const line of lines) {
    const [verb, ...args] = line.trim().split(' ');
    queue = queue.then(async () => {
      if (verb === 'grow') await grow(...args.map(Number));
      if (verb === 'free') { kept = []; globalThis.gc(); process.stdout.write('freed\\n'); }
    });
  }
});
process.stdout.write('waiting\\n');
`;

export interface Allocator {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves with exit code and signal when it exits (SIGKILL when the kernel OOM-kills it). */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Sends a command and waits for the line it answers with (fails if it exits first). */
  command(line: string, answer: string, timeoutMs: number): Promise<void>;
  /** Sends a command without waiting (it may never answer: the kernel may kill it). */
  send(line: string): void;
}

/** Starts the allocator and moves it into `cgroup` before it allocates anything. */
export async function startAllocator(cleanup: Cleanup, cgroup: V2Cgroup): Promise<Allocator> {
  const child = spawn(process.execPath, ['--expose-gc', '-e', ALLOCATOR_SCRIPT], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  cleanup.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  const pid = child.pid;
  if (pid === undefined) throw new Error('the allocator did not start');
  cgroup.adopt(pid);
  const waitLine = async (answer: string, timeoutMs: number, from: number): Promise<void> => {
    await pollUntil(`the allocator to print "${answer}"`, timeoutMs, () => {
      if (output.indexOf(answer, from) >= 0) return true;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the allocator exited (${child.signalCode ?? child.exitCode}) first`);
      }
      return undefined;
    });
  };
  await waitLine('waiting', 30_000, 0);
  return {
    pid,
    process: child,
    exited,
    send: (line) => void child.stdin.write(`${line}\n`),
    command: async (line, answer, timeoutMs) => {
      const from = output.length;
      child.stdin.write(`${line}\n`);
      await waitLine(answer, timeoutMs, from);
    },
  };
}

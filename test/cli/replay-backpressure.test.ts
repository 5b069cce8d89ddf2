// `memgov replay --json` into a pipe whose reader is slow or gone: memory stays bounded (the
// replay waits for the reader instead of queueing its output), the output is whole, and a reader
// that leaves (`| head -1`) ends the replay quietly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readProcStat } from '../../adapters/proc.ts';
import { BUNDLE } from '../support/cli.ts';
import { Cleanup, MIB, pollUntil, tempDir } from '../support/daemon.ts';

const T0 = 1_764_000_000_000;
const LIMIT_BYTES = 4 * 1024 ** 3;
/** 60 s apart: the relaxed ceiling, so the governor sees (and prints) every sample. */
const STEP_MS = 60_000;
const TRACE_LINES = 500_000;
/**
 * Peak RSS allowed while the reader lags. Measured on this trace (2 cores, Node 20.20): 71-73 MiB
 * while the reader is stopped and 134-136 MiB over the whole run (as when stdout is a file) with
 * writes that wait; 528-550 and 654-676 MiB when the output (65 MB) waited in memory instead.
 */
const PEAK_BOUND_BYTES = 256 * MIB;
/** The child counts as blocked once it used under this much CPU over the last SETTLE_POLLS. */
const SETTLE_CPU_NS = 10_000_000;
const SETTLE_POLLS = 10;

/** A calm trace (no action), `lines` samples 60 s apart; the last `tail` text appended as is. */
function writeTrace(path: string, lines: number, tail = ''): void {
  const fd = openSync(path, 'w');
  try {
    let batch = '';
    for (let i = 0; i < lines; i++) {
      const current = Math.round((0.3 + 0.1 * Math.sin(i / 50)) * LIMIT_BYTES);
      batch += `{"t":${T0 + i * STEP_MS},"current":${current},"inactiveFile":0,"limit":${LIMIT_BYTES}}\n`;
      if (batch.length > 1 << 20) {
        writeSync(fd, batch);
        batch = '';
      }
    }
    writeSync(fd, batch + tail);
  } finally {
    closeSync(fd);
  }
}

function statusKib(pid: number, field: string): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1];
    return kib === undefined ? undefined : Number(kib);
  } catch {
    return undefined; // exited
  }
}

/** Nanoseconds the process has run on a CPU (first field of /proc/PID/schedstat). */
function cpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

const cleanup = new Cleanup();
const children: ChildProcess[] = [];
let dir = '';
let trace = '';

beforeAll(() => {
  dir = tempDir(cleanup, 'memgov-backpressure-');
  trace = join(dir, 'trace.jsonl');
  writeTrace(trace, TRACE_LINES);
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(() => cleanup.run());

interface SlowRead {
  /** VmHWM (bytes) once the replay stopped making progress with the reader stopped. */
  readonly peakWhileStoppedBytes: number;
  /** VmHWM (bytes) at the last chunk of output: the peak over the whole run. */
  readonly peakBytes: number;
  /** The file status flags of the child's stdout while it waited. */
  readonly stdoutFlags: number;
  readonly code: number | null;
  readonly stderr: string;
  readonly lines: string[];
}

/**
 * Runs the replay with its stdout pipe unread until the child stops using CPU (blocked on the
 * pipe, or done and holding everything it printed), then reads it all, sampling the peak RSS.
 */
async function replaySlowlyRead(nodeFlags: readonly string[]): Promise<SlowRead> {
  const child = spawn(process.execPath, [...nodeFlags, BUNDLE, 'replay', trace, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const pid = child.pid as number;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // No 'data' listener yet: the stream stays paused, so the pipe fills and then nobody reads it.
  const window: number[] = [];
  await pollUntil('the replay to block on its unread stdout', 60_000, () => {
    window.push(cpuNs(pid));
    if (window.length > SETTLE_POLLS) window.shift();
    const idle =
      window.length === SETTLE_POLLS &&
      (window.at(-1) as number) - (window[0] as number) < SETTLE_CPU_NS;
    return idle &&
      readProcStat(pid).match(
        (s) => s.state === 'S',
        () => false,
      )
      ? true
      : undefined;
  });
  const peakWhileStoppedBytes = (statusKib(pid, 'VmHWM') ?? Number.NaN) * 1024;
  const flagsText = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/1`, 'utf8'))?.[1];
  const stdoutFlags = parseInt(flagsText ?? 'NaN', 8);
  let peakBytes = peakWhileStoppedBytes;
  const chunks: Buffer[] = [];
  const stdout = child.stdout;
  stdout.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    const hwmKib = statusKib(pid, 'VmHWM');
    if (hwmKib !== undefined) peakBytes = Math.max(peakBytes, hwmKib * 1024);
  });
  await new Promise((resolve) => stdout.once('end', resolve));
  const code = await exited;
  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  return { peakWhileStoppedBytes, peakBytes, stdoutFlags, code, stderr, lines };
}

function expectWholeOutput(run: SlowRead): void {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.lines.pop()).toBe('');
  expect(run.lines).toHaveLength(TRACE_LINES);
  // Every sample, in order, once: nothing lost or repeated while the writer waited.
  run.lines.forEach((line, i) => {
    const step = JSON.parse(line) as { t: number; action: string | null };
    if (step.t !== T0 + i * STEP_MS) expect(`line ${i + 1}: ${line}`).toBe(`t ${T0 + i * STEP_MS}`);
  });
}

const O_NONBLOCK = 0o4000;

describe('memgov replay --json into a pipe read slowly (the bundle)', () => {
  it('waits for the reader: the peak RSS stays bounded and the output is whole', async () => {
    const run = await replaySlowlyRead([]);
    expect(run.peakWhileStoppedBytes).toBeLessThan(PEAK_BOUND_BYTES);
    expect(run.peakBytes).toBeLessThan(PEAK_BOUND_BYTES);
    expect(run.stdoutFlags & O_NONBLOCK).toBe(0);
    expectWholeOutput(run);
  }, 120_000);

  it('also on a non-blocking pipe (process.stdout opened first makes it so): it retries', async () => {
    // Opening process.stdout puts the pipe in non-blocking mode, as sharing it with stderr does.
    const run = await replaySlowlyRead(['--import', 'data:text/javascript,void process.stdout']);
    expect(run.peakWhileStoppedBytes).toBeLessThan(PEAK_BOUND_BYTES);
    expect(run.peakBytes).toBeLessThan(PEAK_BOUND_BYTES);
    expect(run.stdoutFlags & O_NONBLOCK).toBe(O_NONBLOCK);
    expectWholeOutput(run);
  }, 120_000);
});

describe('memgov replay into a stdout that stops taking output', () => {
  const headOne = (args: readonly string[]): { code: string; first: string; stderr: string } => {
    const errFile = join(dir, 'stderr.txt');
    const shell = spawnSync(
      'bash',
      ['-c', '"$@" 2>"$ERR_FILE" | head -1; echo "exit=${PIPESTATUS[0]}"', 'bash', ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ERR_FILE: errFile } },
    );
    const [first = '', code = ''] = shell.stdout.split('\n');
    return { code, first, stderr: readFileSync(errFile, 'utf8') };
  };
  let torn = '';
  beforeAll(() => {
    // A torn last line: replayed to the end, it would be an error (exit 1). Stopping at the
    // reader's leaving never reaches it.
    torn = join(dir, 'torn.jsonl');
    writeTrace(torn, 50_000, '{"t":');
  });

  it('a reader that goes away (`| head -1`), --json: stops quietly, exit 0, no stack trace', () => {
    const run = headOne([process.execPath, BUNDLE, 'replay', torn, '--json']);
    expect(run.first).toMatch(/^\{"t":1764000000000,"ratio":0\.3\d*,"action":null,/);
    expect(run.stderr).toBe('');
    expect(run.code).toBe('exit=0');
  });

  it('the human format too', () => {
    const run = headOne([process.execPath, BUNDLE, 'replay', torn]);
    expect(run.first).toMatch(/^t=1764000000000ms ratio=30\.00% action=- /);
    expect(run.stderr).toBe('');
    expect(run.code).toBe('exit=0');
  });

  it('with --html: the replay goes on to the end for the HTML file, its errors still reported', () => {
    const html = join(dir, 'torn.html');
    const run = headOne([process.execPath, BUNDLE, 'replay', torn, '--json', '--html', html]);
    expect(run.stderr).toBe(`memgov replay: ${torn}:50001: not a JSON object: "{\\"t\\":"\n`);
    expect(run.code).toBe('exit=1');

    const whole = join(dir, 'whole.jsonl');
    writeTrace(whole, 50_000);
    const ok = headOne([process.execPath, BUNDLE, 'replay', whole, '--html', html]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe('exit=0');
    expect(existsSync(html)).toBe(true);
    expect(readFileSync(html, 'utf8')).toContain('Replayed 50000 samples; the governor saw 50000.');
  });

  it('a stdout that fails otherwise (a full disk): exit 1 naming the error, no stack trace', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const run = spawnSync(process.execPath, [BUNDLE, 'replay', trace, '--json'], {
        stdio: ['ignore', full, 'pipe'],
        encoding: 'utf8',
      });
      expect(run.stderr).toBe(
        'memgov replay: cannot write the output: ENOSPC: no space left on device\n',
      );
      expect(run.status).toBe(1);
    } finally {
      closeSync(full);
    }
  });
});

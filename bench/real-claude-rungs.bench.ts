// What each rung of the ladder frees on the real Claude Code CLI (docs/BENCHMARKS.md, "Rung
// effect on the real claude"): memgov's runDaemon launches the real claude in tmux, inside a child
// cgroup v1 of our own, offline against the fake Anthropic API of test/support/fake-anthropic.ts.
// The bench grows claude with N turns of 300 KB answers, then brings each rung on by lowering the
// cgroup's limit under the working set it has (limit = working set / 0.75, / 0.88, / 0.95: the
// real memory, a smaller room) until memgov decides the rung, and reads claude's RSS SETTLE_MS after each rung (the hand
// measurement read it 30 s after). memgov's own `freedBytes` is its "action effect" record: the
// first sample after the rung finished. Tier 3 archives, terminates and relaunches claude with
// `--resume` of the compacted session; the limit is raised back first, so the relaunch has room.
//
// Run: npm run bench:claude (BENCH_TURNS=20 by default; BENCH_SETTLE_MS=30000). About 4 minutes.
import { readFileSync, writeFileSync } from 'node:fs';
import { openCgroup, readCgroup } from '../adapters/cgroup/reader.ts';
import { Cleanup, createTestCgroup, MIB, pollUntil } from '../test/support/daemon.ts';
import { startFakeAnthropic, type FakeAnthropic } from '../test/support/fake-anthropic.ts';
import { startFixtureDaemon, type FixtureDaemon } from '../test/support/fixture-daemon.ts';
import {
  claudeBinaryPath,
  claudeSocketName,
  prepareRealClaude,
  realClaudeIn,
  requireClaudeBinary,
  type RealClaude,
} from '../test/support/real-claude.ts';
import { resultOf, sendTurn } from '../test/support/real-claude-memgov.ts';
import { isRecord } from '../lib/record.ts';
import { pause } from '../lib/time.ts';

const TURNS = Number(process.env.BENCH_TURNS ?? 20);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 30_000);
const ROOMY_BYTES = 4096 * MIB;

interface Row {
  step: string;
  rssMiB: number;
  workingSetMiB: number;
  freedMiB?: number;
}

function rssMiBOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

function workingSetBytes(dir: string): number {
  return openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrap().workingSetBytes;
}

function setLimit(dir: string, bytes: number): void {
  // v1 refuses a limit under the usage it cannot reclaim; the page cache above it is reclaimed.
  writeFileSync(`${dir}/memory.limit_in_bytes`, String(Math.round(bytes)));
}

/** A turn, waited for to its end: answered by the fake, then claude idle again. */
async function bigTurn(claude: RealClaude, fake: FakeAnthropic, prompt: string): Promise<void> {
  const request = await sendTurn(claude, fake, prompt);
  await pollUntil(`the answer to ${prompt}`, 60_000, () =>
    request.answeredAtMs === null ? undefined : true,
  );
  await claude.waitForIdle(60_000);
}

async function measure(claude: RealClaude, dir: string, step: string): Promise<Row> {
  await pause(SETTLE_MS);
  const pid = claude.findClaudePid() ?? -1;
  const row = { step, rssMiB: rssMiBOf(pid), workingSetMiB: workingSetBytes(dir) / MIB };
  console.error(`${step}: ${JSON.stringify(row)}`);
  return row;
}

/**
 * Lowers the limit so the ratio reads `ratio` until memgov decides `action`, then raises it back
 * at once: a limit left 5-25% over a claude whose working set swings by 100 MiB between GCs was
 * OOM-killed (6 kills in a trial run). The rung runs to its end on the decision alone.
 */
async function provoke(daemon: FixtureDaemon, dir: string, action: string, ratio: number) {
  const seen = daemon.named('decision').length;
  const decided = () =>
    daemon
      .named('decision')
      .slice(seen)
      .some((f) => f.action === action);
  try {
    // Set again each 300 ms: the working set moves between GCs, and the ratio with it.
    for (let tries = 0; !decided(); tries += 1) {
      if (tries === 100)
        throw new Error(`no ${action}: ${JSON.stringify(daemon.named('decision').at(-1))}`);
      setLimit(dir, workingSetBytes(dir) / ratio);
      await pause(300);
    }
  } finally {
    setLimit(dir, ROOMY_BYTES);
  }
}

/** Provokes the rung, waits for its result and memgov's measure of its effect. */
async function rung(daemon: FixtureDaemon, dir: string, action: string, ratio: number) {
  await provoke(daemon, dir, action, ratio);
  const result = await daemon.waitFor('action result', resultOf(action), 180_000);
  const effect = await daemon.waitFor('action effect', resultOf(action), 60_000);
  console.error(`${action}: ${String(result.outcome)} freed ${String(effect.freedBytes)} bytes`);
  if (result.outcome !== 'ok') throw new Error(`${action}: ${JSON.stringify(result)}`);
  return { freedMiB: Number(effect.freedBytes) / MIB };
}

function launch(cleanup: Cleanup, fake: FakeAnthropic, dir: string) {
  const setup = prepareRealClaude({ baseUrl: fake.baseUrl });
  const socket = claudeSocketName();
  const claude = realClaudeIn({ ...setup, socket, target: `memgov-agent-${process.pid}` });
  cleanup.add(() => claude.stop());
  // The pane's shell joins the cgroup, then execs claude (the relaunch appends --resume <sid>).
  const enter = ['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec "$@"`, 'enter'];
  const daemon = startFixtureDaemon({
    initialRatio: 0,
    realCgroup: dir,
    env: { HOME: setup.home },
    agentCommand: [...enter, ...setup.argv],
    cwd: setup.cwd,
    daemon: { agent: { profile: 'claude-code', transport: 'tmux', tmuxSocket: socket } },
  });
  cleanup.add(async () => void (await daemon.stop()));
  return { claude, daemon };
}

async function ladder(cleanup: Cleanup): Promise<Row[]> {
  const cgroup = createTestCgroup(cleanup, ROOMY_BYTES);
  const fake = await startFakeAnthropic();
  cleanup.add(() => fake.close());
  const { claude, daemon } = launch(cleanup, fake, cgroup.dir);
  await daemon.waitFor('agent started', () => true, 20_000);
  await claude.waitForIdle(60_000);
  const rows = [await measure(claude, cgroup.dir, 'fresh')];
  fake.mode.bigReplyKb = 300;
  for (let turn = 1; turn <= TURNS; turn += 1) await bigTurn(claude, fake, `BIG-${turn} please`);
  fake.mode.bigReplyKb = 0;
  rows.push(await measure(claude, cgroup.dir, `after ${TURNS} turns of 300 KB`));
  for (const [action, ratio] of [
    ['compact', 0.75],
    ['clear', 0.88],
  ] as const) {
    const done = await rung(daemon, cgroup.dir, action, ratio);
    rows.push({ ...(await measure(claude, cgroup.dir, `after ${action}`)), ...done });
  }
  rows.push(await tier3(claude, daemon, cgroup.dir));
  if (cgroup.oomKills() !== 0) throw new Error(`the kernel OOM-killed ${cgroup.oomKills()}`);
  return rows;
}

async function tier3(claude: RealClaude, daemon: FixtureDaemon, dir: string): Promise<Row> {
  await provoke(daemon, dir, 'archive-terminate', 0.95);
  const result = await daemon.waitFor('action result', resultOf('archive-terminate'), 60_000);
  if (result.outcome !== 'ok') throw new Error(`archive-terminate: ${JSON.stringify(result)}`);
  const effect = await daemon.waitFor('action effect', resultOf('archive-terminate'), 60_000);
  await daemon.waitFor('agent started', (f) => String(f.command).includes('--resume'), 60_000);
  await claude.waitForIdle(60_000);
  const row = await measure(claude, dir, 'resumed relaunch (tier 3)');
  return { ...row, freedMiB: Number(effect.freedBytes) / MIB };
}

function table(rows: Row[]): string {
  const lines = ['| step | claude RSS MiB | cgroup working set MiB | memgov freedBytes MiB |'];
  lines.push('| --- | --- | --- | --- |');
  for (const r of rows) {
    const freed = r.freedMiB === undefined ? '' : r.freedMiB.toFixed(0);
    lines.push(`| ${r.step} | ${r.rssMiB.toFixed(0)} | ${r.workingSetMiB.toFixed(0)} | ${freed} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  requireClaudeBinary();
  const manifest: unknown = JSON.parse(
    readFileSync(claudeBinaryPath().replace(/claude$/, 'package.json'), 'utf8'),
  );
  const version = isRecord(manifest) ? String(manifest.version) : 'unknown';
  const cleanup = new Cleanup();
  try {
    const started = new Date().toISOString();
    const rows = await ladder(cleanup);
    console.log(`started ${started}; claude ${version}`);
    console.log(`${TURNS} turns, RSS read ${SETTLE_MS} ms after each step\n`);
    console.log(table(rows));
  } finally {
    await cleanup.run();
  }
}

await main();

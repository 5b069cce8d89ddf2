// The memory.events watch on a real cgroup v2 kernel: a process growing in 256 KiB steps just past
// memory.high makes the kernel raise the `high` counter at each step, ~20 ms apart (its
// notifications come at most one per ~10 ms per file, and always once after the last change).
// The sampler, with no timed read due, must sample the final state of every burst within 100 ms
// of the kernel's last notification. Listening to chokidar's `change` event instead fails this:
// it is throttled to one per 50 ms per path and drops the rest (docs/RELIABILITY.md, "Guest
// tests"). The overshoot stays under 1 MiB on purpose: the kernel throttles a process held above
// memory.high by the square of the overshoot (there is no swap to reclaim into), and at 2 MiB its
// ~70 ms sleeps spaced the notifications past 50 ms, so an earlier form of this test let `change`
// pass.
import { watch, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { formatCgroupError } from '../../adapters/cgroup/parse.ts';
import { createCgroupReader } from '../../adapters/cgroup/reader.ts';
import { memoryLog } from '../../actors/log.ts';
import { createSamplerLogic, watchEventsFile } from '../../actors/sampler.ts';
import { Cleanup } from '../support/daemon.ts';
import { createV2Cgroup, MIB, startAllocator, type V2Cgroup } from './cgroup.ts';

const BURSTS = 16;
/** Each burst grows to 0.75 MiB past memory.high in 256 KiB steps, 15 ms apart. */
const HIGH_HEADROOM_MIB = 12;
const BURST_COMMAND = `grow ${HIGH_HEADROOM_MIB + 0.75} 0.25 15`;
/** One notification is no burst: `change` would see it whole. */
const MIN_NOTIFICATIONS_PER_BURST = 2;
/** After a burst, long past the kernel's trailing notification (~10 ms): the file holds still. */
const QUIET_MS = 300;
const SAMPLED_WITHIN_MS = 100;
const HOUR_MS = 3_600_000;

interface Seen {
  readonly atMs: number;
  readonly eventsText: string;
}

/** The real sampler with the real watch, reading the real cgroup; no timed read comes due. */
function startSampler(cleanup: Cleanup, cgroup: V2Cgroup, samples: Seen[]) {
  const reader = createCgroupReader({ dir: cgroup.dir })._unsafeUnwrap();
  const log = memoryLog();
  const sampler = createSamplerLogic({
    read: () => {
      const reading = reader.read().mapErr(formatCgroupError);
      samples.push({ atMs: Date.now(), eventsText: cgroup.file('memory.events') });
      return reading;
    },
    now: Date.now,
    watchEvents: watchEventsFile(reader, log, {}),
  });
  const parent = createMachine({
    invoke: { src: sampler, input: { firstSampleAtMs: Date.now() + HOUR_MS } },
  });
  const actor = createActor(parent).start();
  cleanup.add(() => void actor.stop());
  return log;
}

/** The kernel's own notifications of memory.events, as inotify delivers them (the truth). */
function recordNotifications(cleanup: Cleanup, cgroup: V2Cgroup): number[] {
  const atMs: number[] = [];
  const watcher = watch(`${cgroup.dir}/memory.events`, () => atMs.push(Date.now()));
  cleanup.add(() => watcher.close());
  return atMs;
}

interface Burst {
  readonly lastNotificationAtMs: number;
  readonly finalText: string;
}

describe('the memory.events watch on a real cgroup v2 kernel', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('samples the last change of every burst of memory.high events within 100 ms', async () => {
    const cgroup = createV2Cgroup(cleanup, { maxBytes: 512 * MIB });
    const allocator = await startAllocator(cleanup, cgroup);
    const notifications = recordNotifications(cleanup, cgroup);
    const samples: Seen[] = [];
    const log = startSampler(cleanup, cgroup, samples);
    await delay(QUIET_MS); // chokidar arms its watch asynchronously
    const bursts: Burst[] = [];
    for (let i = 0; i < BURSTS; i++) {
      // From what the idle allocator holds now: its own heap drifts between bursts.
      writeHigh(cgroup, Number(cgroup.file('memory.current')) + HIGH_HEADROOM_MIB * MIB);
      const from = notifications.length;
      await allocator.command(BURST_COMMAND, 'grown', 30_000);
      await allocator.command('free', 'freed', 30_000);
      await delay(QUIET_MS);
      const burst = notifications.slice(from);
      const last = burst.at(-1);
      if (last !== undefined && burst.length >= MIN_NOTIFICATIONS_PER_BURST) {
        bursts.push({ lastNotificationAtMs: last, finalText: cgroup.file('memory.events') });
      }
    }
    expect(log.records.filter((r) => r.level !== 'debug')).toEqual([]);
    expect(bursts.length).toBeGreaterThanOrEqual(BURSTS / 2);
    const lateBursts = bursts
      .map((burst, index) => {
        const seen = samples.find((s) => s.eventsText === burst.finalText);
        const delayMs = seen === undefined ? null : seen.atMs - burst.lastNotificationAtMs;
        return { index, delayMs, high: /^high (\d+)$/m.exec(burst.finalText)?.[1] };
      })
      .filter((b) => b.delayMs === null || b.delayMs > SAMPLED_WITHIN_MS);
    expect(lateBursts).toEqual([]);
  });
});

function writeHigh(cgroup: V2Cgroup, bytes: number): void {
  writeFileSync(`${cgroup.dir}/memory.high`, String(bytes));
}

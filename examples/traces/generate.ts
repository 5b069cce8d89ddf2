// Writes the example traces beside this file. Run: npx tsx examples/traces/generate.ts
// burst.jsonl: a 1 GiB agent that grows slowly, is compacted (which frees little), keeps
// climbing, is cleared, then bursts at ~150 MiB/s and is archived and stopped; it restarts small.
import { writeFileSync } from 'node:fs';

const MiB = 1024 * 1024;
const LIMIT_BYTES = 1024 * MiB;
const STEP_MS = 500;

function usedMiBAt(seconds: number): number {
  if (seconds < 600) return 300 + seconds * 0.75; // slow growth: 0.75 MiB/s to ~750 MiB
  if (seconds < 610) return 750 - (seconds - 600) * 2; // the compact frees ~20 MiB
  if (seconds < 800) return 730 + (seconds - 610) * 0.8; // keeps climbing past clearAt
  if (seconds < 803) return 882 + (seconds - 800) * 150; // a burst toward the limit
  return 200 + (seconds - 803) * 0.5; // restarted by its supervisor, resumed small
}

const lines: string[] = [];
for (let ms = 0; ms <= 900_000; ms += STEP_MS) {
  const usedBytes = Math.round(Math.min(usedMiBAt(ms / 1000), 1020) * MiB);
  const inactiveFile = 40 * MiB;
  lines.push(
    JSON.stringify({
      t: 1_764_000_000_000 + ms,
      current: usedBytes + inactiveFile,
      inactiveFile,
      limit: LIMIT_BYTES,
    }),
  );
}
writeFileSync(new URL('./burst.jsonl', import.meta.url), `${lines.join('\n')}\n`);

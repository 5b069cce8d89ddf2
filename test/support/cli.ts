// Runs memgov two ways: the real bundle as a child process (the shipped artifact), and main()
// in-process with captured output (fast, for the many error paths).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import type { CliIo } from '../../cli/io.ts';

export const BUNDLE = new URL('../../dist/memgov.mjs', import.meta.url).pathname;

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runBundle(args: readonly string[], env: Record<string, string> = {}): CliRun {
  const child = spawnSync(process.execPath, [BUNDLE, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { code: child.status ?? -1, stdout: child.stdout, stderr: child.stderr };
}

export async function runMain(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    env,
    cwd: process.cwd(),
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** Writes files into a fresh temporary directory; returns the directory. */
export function tempFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'memgov-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** JSONL trace text from [t, ratio] pairs over a 1e9-byte limit. */
export function traceOf(
  points: readonly (readonly [number, number])[],
  limit = 1_000_000_000,
): string {
  return points
    .map(([t, ratio]) =>
      JSON.stringify({ t, current: Math.round(ratio * limit), inactiveFile: 0, limit }),
    )
    .join('\n')
    .concat('\n');
}

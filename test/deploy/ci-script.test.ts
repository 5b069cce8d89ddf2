// CI's script (.ci/run) is the one command a fresh Debian 12 machine runs: it must run the unit
// suite and then the cgroup v2 guest tests (docs/RELIABILITY.md, "Guest tests"), with the guest
// bounded in time, and be valid bash.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const CI_SCRIPT = new URL('../../.ci/run', import.meta.url).pathname;

/** The script's commands: lines that are neither blank nor comments. */
function commands(): string[] {
  return readFileSync(CI_SCRIPT, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

describe('.ci/run', () => {
  it('is valid bash', () => {
    const check = spawnSync('bash', ['-n', CI_SCRIPT], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('runs the guest tests after npm test, bounded in time', () => {
    const lines = commands();
    const unit = lines.indexOf('npm test');
    const guest = lines.findIndex((line) => /(^|\s)npm run test:guest$/.test(line));
    expect(unit).toBeGreaterThan(-1);
    expect(guest).toBeGreaterThan(unit);
    const timeoutS = Number(/MEMGOV_GUEST_TIMEOUT_S=(\d+)/.exec(lines[guest] ?? '')?.[1]);
    expect(timeoutS).toBeGreaterThan(0);
    expect(timeoutS).toBeLessThanOrEqual(360);
  });
});

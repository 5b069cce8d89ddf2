// `memgov status` notes the cgroup's memory.oom.group (cgroup v2): when it is 1, a kernel OOM kill
// takes every process in the cgroup, memgov too, so the operator sees that memgov cannot outlive
// the kill it records. v1 has no such setting: the field is null and no line is printed.
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runMain } from '../support/cli.ts';
import { Cleanup, pollUntil, tempDir } from '../support/daemon.ts';
import { startFixtureDaemon } from '../support/fixture-daemon.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cgroup', import.meta.url));
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A state file written by a real (fixture) daemon. */
async function stateFile(): Promise<string> {
  const daemon = startFixtureDaemon({ initialRatio: 0.3 });
  cleanup.add(async () => void (await daemon.stop()));
  await daemon.waitFor('decision');
  await pollUntil('the state file', 10_000, () =>
    existsSync(daemon.stateFile) ? true : undefined,
  );
  return daemon.stateFile;
}

function v2Cgroup(oomGroup: string | null): string {
  const dir = join(tempDir(cleanup), 'pod');
  cpSync(`${FIXTURES}/v2/fs/cgroup${POD}`, dir, { recursive: true });
  rmSync(join(dir, 'memory.oom.group'), { force: true });
  if (oomGroup !== null) writeFileSync(join(dir, 'memory.oom.group'), oomGroup);
  return dir;
}

async function status(state: string, cgroup: string, json: boolean) {
  const run = await runMain([
    'status',
    ...(json ? ['--json'] : []),
    '--state-file',
    state,
    '--cgroup',
    cgroup,
  ]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout;
}

describe('memgov status and memory.oom.group', () => {
  it('says that a kernel OOM kill takes memgov too when memory.oom.group is 1', async () => {
    const state = await stateFile();
    const grouped = v2Cgroup('1\n');
    expect(JSON.parse(await status(state, grouped, true))).toMatchObject({
      oomGroup: true,
      oomGroupNote: `a kernel OOM kill in ${grouped} kills every process there, memgov too`,
    });
    expect(await status(state, grouped, false)).toContain(
      `oom group     1: a kernel OOM kill in ${grouped} kills every process there, memgov too`,
    );
    const single = v2Cgroup('0\n');
    expect(JSON.parse(await status(state, single, true))).toMatchObject({ oomGroup: false });
  });

  it('has no oom group on v1 or without the file, and names a garbled one', async () => {
    const state = await stateFile();
    const v1 = JSON.parse(await status(state, `${FIXTURES}/v1-limited`, true)) as object;
    expect(v1).toMatchObject({ oomGroup: null });
    expect(await status(state, `${FIXTURES}/v1-limited`, false)).not.toContain('oom group');
    expect(JSON.parse(await status(state, v2Cgroup(null), true))).toMatchObject({ oomGroup: null });
    const garbled = v2Cgroup('yes\n');
    expect(JSON.parse(await status(state, garbled, true))).toMatchObject({
      oomGroup: null,
      oomGroupNote: expect.stringContaining(`${garbled}/memory.oom.group`) as string,
    });
  });
});

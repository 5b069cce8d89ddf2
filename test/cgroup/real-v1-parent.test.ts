// The effective limit from a limited parent on the real cgroup v1 controller of this machine: a
// child of this process's own memory cgroup with a 48 MiB limit and a grandchild without one.
// `memgov sample` on the grandchild reads the child's limit from hierarchical_memory_limit.
// Only these two cgroups are ever written; both are removed after the test, pass or fail.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createChildCgroup, removeChildCgroup } from '../../adapters/cgroup/v1-admin.ts';
import { runMain } from '../support/cli.ts';
import { cgroupParent, Cleanup, MIB } from '../support/daemon.ts';

const LIMIT_BYTES = 48 * MIB;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const title = cgroupParent.match(
  (dir) => `real cgroup v1: a grandchild of ${dir} under a 48 MiB child`,
  (reason) => `real cgroup v1 parent limit (skipped: ${reason})`,
);

describe.skipIf(cgroupParent.isErr())(title, () => {
  it('samples the grandchild against the limited child: limitSource "parent"', async () => {
    const own = cgroupParent._unsafeUnwrap();
    const name = `memgov-it-${process.pid}-${randomBytes(4).toString('hex')}`;
    const child = createChildCgroup(own, name, LIMIT_BYTES)._unsafeUnwrap();
    cleanup.add(() => removeChildCgroup(child, own)._unsafeUnwrap());
    const grandchild = `${child}/unlimited`;
    mkdirSync(grandchild);
    cleanup.add(() => removeChildCgroup(grandchild, child)._unsafeUnwrap());

    const run = await runMain(['sample', '--json', '--cgroup', grandchild]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      version: 1,
      cgroup: grandchild,
      limit: LIMIT_BYTES,
      limitSource: 'parent',
    });
    const table = await runMain(['sample', '--cgroup', grandchild]);
    expect(table.stdout).toContain("(a parent cgroup's limit, tighter than this one's)");
  });
});

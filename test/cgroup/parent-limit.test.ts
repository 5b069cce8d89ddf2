// The effective limit from a limited parent (docs/DESIGN.md, "Memory signals"): the smallest
// among the cgroup and its visible ancestors. v2 walks up while the parent is inside the cgroup2
// mount (fixture trees here; the real kernel in test/guest/sample.guest.test.ts); v1 reads
// memory.stat's `hierarchical_memory_limit` (fixtures here, and a real child and grandchild of
// this process's own memory cgroup in test/cgroup/real-v1-parent.test.ts).
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openCgroup, readCgroup } from '../../adapters/cgroup/reader.ts';
import { Cleanup, tempDir } from '../support/daemon.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/cgroup', import.meta.url));
const POD =
  '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7f3c2a1e_5b9d_4c8e_a2f1_0d6e4b3c9a87.slice/cri-containerd-3f9a1c2b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a.scope';
const MIB = 1024 * 1024;
/** The pod fixture's usage: 1184 MiB, working set 928 MiB. */
const V1_UNLIMITED = '9223372036854771712';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** grandparent/parent/child, the child a copy of the v2 pod fixture; limits per level. */
function v2Tree(limits: { grandparent?: string; parent?: string; max: string; high?: string }) {
  const root = tempDir(cleanup);
  const grandparent = join(root, 'grandparent');
  const parent = join(grandparent, 'parent');
  const child = join(parent, 'child');
  mkdirSync(parent, { recursive: true });
  cpSync(`${FIXTURES}/v2/fs/cgroup${POD}`, child, { recursive: true });
  if (limits.grandparent !== undefined) {
    writeFileSync(join(grandparent, 'memory.max'), `${limits.grandparent}\n`);
  }
  if (limits.parent !== undefined) writeFileSync(join(parent, 'memory.max'), `${limits.parent}\n`);
  writeFileSync(join(child, 'memory.max'), `${limits.max}\n`);
  writeFileSync(join(child, 'memory.high'), `${limits.high ?? 'max'}\n`);
  return { grandparent, parent, child };
}

const limitOf = (dir: string) => {
  const r = openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrap();
  return { limitBytes: r.limitBytes, limitSource: r.limitSource };
};

describe('v2: the effective limit walks up the ancestors inside the mount', () => {
  it('takes a limited parent when the cgroup has no limit of its own', () => {
    const { child } = v2Tree({ parent: String(2048 * MIB), max: 'max' });
    expect(limitOf(child)).toEqual({ limitBytes: 2048 * MIB, limitSource: 'parent' });
  });

  it('takes the tightest of several ancestors, however far up', () => {
    const { child } = v2Tree({ grandparent: String(1536 * MIB), parent: 'max', max: 'max' });
    expect(limitOf(child)).toEqual({ limitBytes: 1536 * MIB, limitSource: 'parent' });
  });

  it("keeps the cgroup's own memory.max, or its memory.high, when that is tighter", () => {
    const own = v2Tree({ parent: String(4096 * MIB), max: String(2048 * MIB) });
    expect(limitOf(own.child)).toEqual({ limitBytes: 2048 * MIB, limitSource: 'max' });
    const high = v2Tree({ parent: String(4096 * MIB), max: 'max', high: String(1600 * MIB) });
    expect(limitOf(high.child)).toEqual({ limitBytes: 1600 * MIB, limitSource: 'high' });
    const tighterParent = v2Tree({ parent: String(1400 * MIB), max: String(2048 * MIB) });
    expect(limitOf(tighterParent.child)).toEqual({ limitBytes: 1400 * MIB, limitSource: 'parent' });
  });

  it('stops at the first ancestor without memory.max (the mount root, or outside the mount)', () => {
    // The grandparent's limit sits above a parent with no memory.max: it is not seen.
    const { child } = v2Tree({ grandparent: String(1024 * MIB), max: 'max' });
    expect(limitOf(child).limitSource).not.toBe('parent');
    const handle = openCgroup({ dir: child })._unsafeUnwrap();
    expect(handle.version === 2 && handle.paths.ancestorMax).toEqual([]);
  });

  it("names a parent's garbled memory.max", () => {
    const { parent, child } = v2Tree({ parent: 'lots', max: 'max' });
    expect(openCgroup({ dir: child }).andThen(readCgroup)._unsafeUnwrapErr()).toMatchObject({
      kind: 'garbled',
      file: join(parent, 'memory.max'),
    });
  });
});

describe('v1: hierarchical_memory_limit in memory.stat', () => {
  /** A copy of the real v1-limited capture with its own limit and hierarchical limit set. */
  function v1Copy(ownLimit: string, hierarchical: string): string {
    const dir = join(tempDir(cleanup), 'cgroup');
    cpSync(`${FIXTURES}/v1-limited`, dir, { recursive: true });
    writeFileSync(join(dir, 'memory.limit_in_bytes'), `${ownLimit}\n`);
    const stat = join(dir, 'memory.stat');
    const text = readText(stat).replace(
      /^hierarchical_memory_limit \S+$/m,
      `hierarchical_memory_limit ${hierarchical}`,
    );
    writeFileSync(stat, text);
    return dir;
  }

  it('takes the hierarchical limit when the cgroup has none of its own', () => {
    const dir = v1Copy(V1_UNLIMITED, String(48 * MIB));
    expect(limitOf(dir)).toEqual({ limitBytes: 48 * MIB, limitSource: 'parent' });
  });

  it('keeps its own limit when the hierarchy is no tighter (the real capture)', () => {
    expect(limitOf(`${FIXTURES}/v1-limited`)).toEqual({ limitBytes: 64 * MIB, limitSource: 'max' });
    const dir = v1Copy(String(64 * MIB), String(40 * MIB));
    expect(limitOf(dir)).toEqual({ limitBytes: 40 * MIB, limitSource: 'parent' });
  });

  it('names memory.stat when the hierarchical limit is garbled', () => {
    const dir = v1Copy(V1_UNLIMITED, '-5');
    expect(openCgroup({ dir }).andThen(readCgroup)._unsafeUnwrapErr()).toMatchObject({
      kind: 'garbled',
      file: join(dir, 'memory.stat'),
    });
  });
});

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

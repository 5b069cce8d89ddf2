// processTree over a fake /proc laid out like the real one: a pane's shell, the claude it started
// (in a group of its own), claude's tool child, and an unrelated process.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processTree } from '../../adapters/proc-tree.ts';

function statLine(pid: number, comm: string, ppid: number, pgrp: number): string {
  const middle = '0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0';
  const tail = '3133440 412 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
  return `${pid} (${comm}) S ${ppid} ${pgrp} ${pgrp} ${middle} ${pid * 10} ${tail}\n`;
}

let procRoot = '';
function write(pid: number, comm: string, ppid: number, pgrp = pid): void {
  mkdirSync(join(procRoot, String(pid)), { recursive: true });
  writeFileSync(join(procRoot, String(pid), 'stat'), statLine(pid, comm, ppid, pgrp));
}

beforeEach(() => {
  procRoot = mkdtempSync(join(tmpdir(), 'memgov-proc-tree-'));
  mkdirSync(join(procRoot, 'self'));
  write(100, 'bash', 1);
  write(250, 'claude', 100);
  write(300, 'rg', 250, 250);
  write(120, 'node', 100, 100);
  write(999, 'other', 1);
});
afterEach(() => rmSync(procRoot, { recursive: true, force: true }));

describe('processTree', () => {
  it('lists the root, then its descendants breadth first, with their stats', () => {
    const tree = processTree(100, procRoot)._unsafeUnwrap();
    expect(tree.map((s) => [s.pid, s.comm, s.pgrp])).toEqual([
      [100, 'bash', 100],
      [120, 'node', 100],
      [250, 'claude', 250],
      [300, 'rg', 250],
    ]);
    expect(tree[2]?.startTicks).toBe(2500);
  });

  it('skips an entry that cannot be parsed, and calls a missing root gone', () => {
    writeFileSync(join(procRoot, '300', 'stat'), 'garbage');
    expect(
      processTree(250, procRoot)
        ._unsafeUnwrap()
        .map((s) => s.pid),
    ).toEqual([250]);
    expect(processTree(4242, procRoot)._unsafeUnwrapErr().kind).toBe('gone');
  });
});
